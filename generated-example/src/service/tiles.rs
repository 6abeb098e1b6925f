//! Tile-compressed images (the FITS tiled image compression convention, FITS 4.0 §10.1), as
//! `fpack` writes them: an image stored as a BINTABLE with `ZIMAGE = T`, one row per tile, each
//! tile's pixels compressed into a variable-length array of the heap.
//!
//! Tiles compressed with `RICE_1`, `GZIP_1`, `GZIP_2` or `HCOMPRESS_1` are read: integer images
//! (`ZBITPIX` 8, 16, 32), floating-point ones (`ZBITPIX` -32, -64) quantized to integers with
//! `ZSCALE` and `ZZERO` per tile, restored with the subtractive dither of `ZQUANTIZ` and `ZDITHER0`
//! exactly as CFITSIO restores them (its random sequence, its arithmetic), `ZBLANK` becoming NaN;
//! floating-point pixels gzipped whole (`ZQUANTIZ = 'NONE'`, 4 or 8 bytes), or a tile kept
//! uncompressed, are read too. `HCOMPRESS_1` ([`hcompress`]) is lossless or not as its scale says,
//! and smoothed when `SMOOTH` asks, its pixels CFITSIO's bit for bit. `PLIO_1` (IRAF's line lists,
//! for masks) is read too. A cutout decompresses only the tiles its box meets.

use crate::service::fits::{FitsError, Header, Image, Source, Value, value_card};
use crate::service::hcompress;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::Mutex;

/// How the tiles are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    /// Rice coding of pixel differences in blocks of `block` pixels, each value `bytes` wide.
    Rice { block: usize, bytes: usize },
    /// gzip of the big-endian pixels.
    Gzip1,
    /// gzip of the big-endian pixels with their bytes shuffled (all first bytes, then all second…).
    Gzip2,
    /// IRAF's PLIO line lists: runs of zeros or of a value, and single values, for non-negative
    /// integers (masks).
    Plio,
    /// The H-transform, its coefficients coded by bit planes as quadtrees ([`hcompress`]);
    /// `smooth` when `SMOOTH` asks for the lost coefficients to be interpolated.
    Hcompress { smooth: bool },
}

impl Algorithm {
    /// Its `ZCMPTYPE`.
    fn name(self) -> &'static str {
        match self {
            Algorithm::Rice { .. } => "RICE_1",
            Algorithm::Gzip1 => "GZIP_1",
            Algorithm::Gzip2 => "GZIP_2",
            Algorithm::Plio => "PLIO_1",
            Algorithm::Hcompress { .. } => "HCOMPRESS_1",
        }
    }
}

/// A variable-length array column of the table: where its descriptor lies in a row, and whether
/// the descriptor is 64-bit (`Q`) rather than 32-bit (`P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Column {
    offset: u64,
    wide: bool,
    /// The size of one element (`B` 1, `I` 2, `J` 4).
    element: usize,
}

/// A number per tile: a column of the table (its place in a row and its form) or a keyword.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PerTile {
    Column { offset: u64, code: char },
    Keyword(f64),
}

/// How quantized floating-point pixels are restored (`ZQUANTIZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dither {
    /// `NO_DITHER`: `value × ZSCALE + ZZERO`.
    None,
    /// `SUBTRACTIVE_DITHER_1`: the random offset each pixel was quantized with is taken back.
    Subtractive,
    /// `SUBTRACTIVE_DITHER_2`: as 1, and a pixel quantized to the zero code is exactly 0.
    SubtractiveZero,
}

/// The quantization of a floating-point image's tiles.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Quantized {
    dither: Dither,
    /// `ZDITHER0`: where the random sequence starts for the first tile.
    seed: i64,
    scale: PerTile,
    zero: PerTile,
    /// `ZBLANK`: the code of a null (NaN) pixel.
    blank: Option<PerTile>,
}

/// The most pixels a tile may have (2²⁶, 256 MiB of float32): a tile is decoded whole in memory.
const MAX_TILE: usize = 1 << 26;

/// The code a pixel quantized to exactly 0 is stored as under `SUBTRACTIVE_DITHER_2`.
const ZERO_CODE: i32 = -2147483646;

/// The random numbers the subtractive dither uses: the Park–Miller sequence (a = 16807,
/// m = 2³¹ − 1, seed 1) as single-precision values, 10,000 of them, as the convention defines
/// them and CFITSIO computes them.
fn randoms() -> &'static [f32] {
    static RANDOMS: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    RANDOMS.get_or_init(|| {
        let (a, m) = (16807.0f64, 2147483647.0f64);
        let mut seed = 1.0f64;
        (0..10_000)
            .map(|_| {
                let t = a * seed;
                seed = t - m * (t / m).trunc();
                (seed / m) as f32
            })
            .collect()
    })
}

/// A tile-compressed image: where its table and heap lie in the file, and how its tiles are cut
/// and compressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Tiled {
    algorithm: Algorithm,
    /// The image's axes, `ZNAXIS1` first.
    axes: Vec<usize>,
    /// The tile's size on each axis (`ZTILEn`); tiles at the far edges are cut short.
    tile: Vec<usize>,
    /// Bytes per pixel (`|ZBITPIX| / 8`).
    pixel_size: usize,
    /// Where the table's rows start, and the length of a row.
    rows_at: u64,
    row_len: u64,
    /// Where the heap starts.
    heap_at: u64,
    compressed: Column,
    /// `UNCOMPRESSED_DATA`, where a tile that would not compress is kept as it is.
    uncompressed: Option<Column>,
    /// `GZIP_COMPRESSED_DATA`, where a floating-point tile that would not quantize is kept gzipped.
    gzipped: Option<Column>,
    /// The quantization of a floating-point image.
    quantized: Option<Quantized>,
}

/// The keywords of the table that describe the compression, not the image.
fn table_keyword(keyword: &str) -> bool {
    const EXACT: &[&str] = &[
        "XTENSION", "BITPIX", "PCOUNT", "GCOUNT", "TFIELDS", "THEAP", "ZIMAGE", "ZCMPTYPE", "ZBITPIX", "ZNAXIS", "ZQUANTIZ",
        "ZDITHER0", "ZSCALE", "ZZERO", "ZBLANK", "ZSIMPLE", "ZEXTEND", "ZTENSION", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZBLOCKED", "CHECKSUM",
        "DATASUM",
    ];
    const NUMBERED: &[&str] = &["NAXIS", "TTYPE", "TFORM", "TUNIT", "TDIM", "TNULL", "TSCAL", "TZERO", "TDISP", "ZNAXIS", "ZTILE", "ZNAME", "ZVAL"];
    EXACT.contains(&keyword) || NUMBERED.iter().any(|p| keyword.strip_prefix(p).is_some_and(|n| n.is_empty() || n.bytes().all(|b| b.is_ascii_digit())))
}

impl Tiled {
    /// The compressed image a BINTABLE header at `data_offset` describes: `None` when it is not
    /// one (`ZIMAGE` absent), an error saying why when it is one this module does not read.
    pub fn from_header(header: &Header, data_offset: u64) -> Result<Option<(Tiled, Image)>, FitsError> {
        if !matches!(header.get("ZIMAGE"), Some(Value::Logical(true))) {
            return Ok(None);
        }
        let unsupported = |why: String| FitsError::Unsupported(format!("its image is tile-compressed ({why}), which this server does not read yet: serve it uncompressed (funpack)"));
        let format = |why: &str| FitsError::Format(format!("a tile-compressed image with {why}"));
        let algorithm_name = header.text("ZCMPTYPE").unwrap_or_default();
        let zbitpix = header.number("ZBITPIX").ok_or_else(|| format("no ZBITPIX"))? as i64;
        let pixel_size = match zbitpix {
            8 => 1,
            16 => 2,
            32 | -32 => 4,
            -64 => 8,
            other => return Err(format(&format!("ZBITPIX {other}"))),
        };
        // ZNAMEi/ZVALi: the algorithm's parameters.
        let parameter = |name: &str| (1..=99).find_map(|i| (header.text(&format!("ZNAME{i}"))?.eq_ignore_ascii_case(name)).then(|| header.number(&format!("ZVAL{i}")))?);
        let algorithm = match algorithm_name.as_str() {
            "RICE_1" | "RICE_ONE" => {
                let bytes = parameter("BYTEPIX").map_or(4, |b| b as usize);
                if ![1, 2, 4].contains(&bytes) {
                    return Err(format(&format!("BYTEPIX {bytes}")));
                }
                Algorithm::Rice { block: parameter("BLOCKSIZE").map_or(32, |b| b as usize).max(1), bytes }
            }
            "GZIP_1" => Algorithm::Gzip1,
            "GZIP_2" => Algorithm::Gzip2,
            "PLIO_1" => Algorithm::Plio,
            "HCOMPRESS_1" => Algorithm::Hcompress { smooth: parameter("SMOOTH").is_some_and(|s| s as i64 != 0) },
            other => return Err(unsupported(format!("ZCMPTYPE = '{other}'"))),
        };
        let naxis = header.number("ZNAXIS").ok_or_else(|| format("no ZNAXIS"))? as usize;
        if !(1..=999).contains(&naxis) {
            return Err(format("ZNAXIS out of range"));
        }
        let mut axes = Vec::with_capacity(naxis);
        let mut tile = Vec::with_capacity(naxis);
        for i in 1..=naxis {
            let n = header.number(&format!("ZNAXIS{i}")).filter(|n| (1.0..=1e12).contains(n)).ok_or_else(|| format(&format!("no valid ZNAXIS{i}")))? as usize;
            let default = if i == 1 { n } else { 1 };
            axes.push(n);
            tile.push((header.number(&format!("ZTILE{i}")).map_or(default, |t| t as usize)).clamp(1, n));
        }
        // The columns: their descriptors' places in a row, and the numbers per tile.
        let fields = header.number("TFIELDS").unwrap_or(0.0) as usize;
        let mut at = 0u64;
        let (mut compressed, mut uncompressed, mut gzipped) = (None, None, None);
        let mut per_tile: HashMap<String, PerTile> = HashMap::new();
        for i in 1..=fields.min(999) {
            let tform = header.text(&format!("TFORM{i}")).ok_or_else(|| format(&format!("no TFORM{i}")))?;
            let (width, column) = column_of(&tform).ok_or_else(|| format(&format!("TFORM{i} = '{tform}'")))?;
            let name = header.text(&format!("TTYPE{i}")).unwrap_or_default().to_uppercase();
            match name.as_str() {
                "COMPRESSED_DATA" => compressed = column.map(|c| Column { offset: at, ..c }),
                "UNCOMPRESSED_DATA" => uncompressed = column.map(|c| Column { offset: at, ..c }),
                "GZIP_COMPRESSED_DATA" => gzipped = column.map(|c| Column { offset: at, ..c }),
                "ZSCALE" | "ZZERO" | "ZBLANK" => {
                    let code = tform.trim().trim_start_matches(|c: char| c.is_ascii_digit()).chars().next().unwrap_or(' ');
                    if !matches!(code, 'D' | 'E' | 'J' | 'I') {
                        return Err(format(&format!("{name} of form '{tform}'")));
                    }
                    per_tile.insert(name, PerTile::Column { offset: at, code });
                }
                _ => {}
            }
            at += width;
        }
        let compressed = compressed.ok_or_else(|| format("no COMPRESSED_DATA column"))?;
        let number = |name: &str| per_tile.get(name).copied().or_else(|| header.number(name).map(PerTile::Keyword));
        let quantized = if zbitpix < 0 {
            let dither = match header.text("ZQUANTIZ").unwrap_or_else(|| "NO_DITHER".into()).as_str() {
                // Not quantized: the floats themselves, compressed losslessly.
                "NONE" => None,
                "NO_DITHER" => Some(Dither::None),
                "SUBTRACTIVE_DITHER_1" => Some(Dither::Subtractive),
                "SUBTRACTIVE_DITHER_2" => Some(Dither::SubtractiveZero),
                other => return Err(unsupported(format!("ZQUANTIZ = '{other}'"))),
            };
            match (dither, number("ZSCALE"), number("ZZERO")) {
                (Some(dither), Some(scale), Some(zero)) => Some(Quantized { dither, seed: header.number("ZDITHER0").map_or(1, |s| s as i64), scale, zero, blank: number("ZBLANK") }),
                // Floats without a scale are kept whole (gzipped or uncompressed).
                _ => None,
            }
        } else {
            None
        };
        let row_len = header.number("NAXIS1").ok_or_else(|| format("no NAXIS1"))? as u64;
        let rows = header.number("NAXIS2").ok_or_else(|| format("no NAXIS2"))? as u64;
        // A tile is decoded whole in memory: one larger than MAX_TILE pixels is refused.
        let tile_pixels = tile.iter().try_fold(1usize, |all, &t| all.checked_mul(t));
        if tile_pixels.is_none_or(|p| p > MAX_TILE) {
            return Err(format(&format!("tiles of {tile:?} pixels (at most {MAX_TILE} are read)")));
        }
        let tiles: u64 = axes.iter().zip(&tile).map(|(&n, &t)| n.div_ceil(t) as u64).product();
        if rows < tiles {
            return Err(format(&format!("{rows} rows for {tiles} tiles")));
        }
        let heap_at = data_offset + header.number("THEAP").map_or(row_len * rows, |t| t as u64);
        let tiled = Tiled { algorithm, axes: axes.clone(), tile, pixel_size, rows_at: data_offset, row_len, heap_at, compressed, uncompressed, gzipped, quantized };
        // The image's own header: the table's, without what describes the table and the compression.
        let mut cards = vec![value_card("XTENSION", "'IMAGE   '", Some("an image, tile-compressed in the file")), value_card("BITPIX", &zbitpix.to_string(), None), value_card("NAXIS", &naxis.to_string(), None)];
        cards.extend(axes.iter().enumerate().map(|(i, n)| value_card(&format!("NAXIS{}", i + 1), &n.to_string(), None)));
        cards.push(value_card("PCOUNT", "0", None));
        cards.push(value_card("GCOUNT", "1", None));
        cards.extend(header.cards().iter().filter(|c| !table_keyword(c.get(..8).unwrap_or(c).trim_end())).cloned());
        let image = Image { header: Header::from_cards(cards), pixel_size, axes, data_offset: 0, tiled: None };
        Ok(Some((tiled, image)))
    }

    /// The number of pixels of the tile whose first pixel is at `corner`, and its size on each axis.
    fn tile_shape(&self, corner: &[usize]) -> Vec<usize> {
        corner.iter().zip(&self.tile).zip(&self.axes).map(|((&c, &t), &n)| t.min(n - c)).collect()
    }

    /// Reads the descriptor of `column` in row `row`: the number of elements and their offset in
    /// the heap.
    fn descriptor(&self, source: &(impl Source + ?Sized), column: Column, row: u64) -> io::Result<(u64, u64)> {
        let width = if column.wide { 16 } else { 8 };
        let bytes = read(source, self.rows_at + row * self.row_len + column.offset, width)?;
        Ok(if column.wide {
            (u64::from_be_bytes(bytes[..8].try_into().unwrap_or_default()), u64::from_be_bytes(bytes[8..].try_into().unwrap_or_default()))
        } else {
            (u32::from_be_bytes(bytes[..4].try_into().unwrap_or_default()) as u64, u32::from_be_bytes(bytes[4..].try_into().unwrap_or_default()) as u64)
        })
    }

    /// The number per tile `value` for tile `row`.
    fn per_tile(&self, source: &(impl Source + ?Sized), value: PerTile, row: u64) -> io::Result<f64> {
        let (offset, code) = match value {
            PerTile::Keyword(v) => return Ok(v),
            PerTile::Column { offset, code } => (offset, code),
        };
        let at = self.rows_at + row * self.row_len + offset;
        Ok(match code {
            'D' => f64::from_be_bytes(read(source, at, 8)?.try_into().unwrap_or_default()),
            'E' => f32::from_be_bytes(read(source, at, 4)?.try_into().unwrap_or_default()) as f64,
            'J' => i32::from_be_bytes(read(source, at, 4)?.try_into().unwrap_or_default()) as f64,
            _ => i16::from_be_bytes(read(source, at, 2)?.try_into().unwrap_or_default()) as f64,
        })
    }

    /// The pixels of tile `index` (big-endian, first axis fastest), read and decompressed.
    fn decode(&self, source: &(impl Source + ?Sized), index: u64, pixels: usize) -> io::Result<Vec<u8>> {
        let damaged = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("tile {} {why}", index + 1));
        let length = pixels * self.pixel_size;
        let (count, offset) = self.descriptor(source, self.compressed, index)?;
        if count == 0 {
            // A tile kept as it is, or (floating-point) gzipped whole.
            if let Some(column) = self.gzipped {
                let (count, offset) = self.descriptor(source, column, index)?;
                if count > 0 {
                    if count > 2 * length as u64 + 4096 {
                        return Err(damaged(format!("claims {count} gzipped bytes for {pixels} pixels")));
                    }
                    return gunzip(&read(source, self.heap_at + offset, count as usize)?, length).map_err(|e| damaged(format!("does not decompress (gzip): {e}")));
                }
            }
            let column = self.uncompressed.ok_or_else(|| damaged("has no data".into()))?;
            let (count, offset) = self.descriptor(source, column, index)?;
            if column.element != self.pixel_size || count as usize != pixels {
                return Err(damaged("is kept uncompressed in another type".into()));
            }
            return read(source, self.heap_at + offset, length);
        }
        // Compressed data four times larger than the pixels it holds (PLIO's worst case is three
        // words a pixel), with room to spare, is not a tile.
        let compressed = count.checked_mul(self.compressed.element as u64).filter(|&n| n <= 4 * length as u64 + 4096).ok_or_else(|| damaged(format!("claims {count} compressed elements for {pixels} pixels")))?;
        let bytes = read(source, self.heap_at + offset, compressed as usize)?;
        // Quantized floats are stored as 32-bit codes.
        let width = if self.quantized.is_some() { 4 } else { self.pixel_size };
        // Unquantized doubles are only ever gzipped: the other algorithms code 32-bit integers.
        if width > 4 && !matches!(self.algorithm, Algorithm::Gzip1 | Algorithm::Gzip2) {
            return Err(damaged(format!("has unquantized 64-bit pixels in {}, which codes integers", self.algorithm.name())));
        }
        let codes: Vec<u32> = match self.algorithm {
            Algorithm::Rice { block, bytes: rice_width } => {
                let mut values = rice(&bytes, pixels, block, rice_width).ok_or_else(|| damaged("does not decompress (RICE_1)".into()))?;
                // Values narrower than the pixels are signed: extended to the pixel's width.
                if width > rice_width {
                    let shift = 32 - 8 * rice_width as u32;
                    values.iter_mut().for_each(|v| *v = (((*v << shift) as i32) >> shift) as u32);
                }
                values
            }
            Algorithm::Plio => {
                let words: Vec<i16> = bytes.chunks_exact(2).map(|w| i16::from_be_bytes([w[0], w[1]])).collect();
                plio(&words, pixels).ok_or_else(|| damaged("does not decompress (PLIO_1)".into()))?
            }
            Algorithm::Gzip1 | Algorithm::Gzip2 => {
                let mut raw = gunzip(&bytes, pixels * width).map_err(|e| damaged(format!("does not decompress (gzip): {e}")))?;
                if self.algorithm == Algorithm::Gzip2 && pixels > 0 {
                    // GZIP_2 shuffled the bytes: byte b of pixel i is at b × pixels + i.
                    // One pass per byte plane, each read in order: no division per byte.
                    let shuffled = raw;
                    raw = vec![0; pixels * width];
                    for (b, plane) in shuffled.chunks_exact(pixels).take(width).enumerate() {
                        for (pixel, &byte) in raw.chunks_exact_mut(width).zip(plane) {
                            pixel[b] = byte;
                        }
                    }
                }
                if self.quantized.is_none() {
                    // The pixels themselves, big-endian, whatever their width (doubles too).
                    return Ok(raw);
                }
                raw.chunks_exact(4).map(|code| u32::from_be_bytes([code[0], code[1], code[2], code[3]])).collect()
            }
            Algorithm::Hcompress { smooth } => {
                let failed = |e: String| damaged(format!("does not decompress (HCOMPRESS_1): {e}"));
                // CFITSIO decodes 8- and 16-bit pixels in 32-bit integers, and stores each
                // clipped to its type's range; anything else in 64-bit integers, cut to 32 bits.
                match (width, self.quantized) {
                    (1, None) => hcompress::decode::<i32>(&bytes, pixels, smooth).map_err(failed)?.into_iter().map(|v| v.clamp(0, 255) as u32).collect(),
                    (2, None) => hcompress::decode::<i32>(&bytes, pixels, smooth).map_err(failed)?.into_iter().map(|v| v.clamp(-32768, 32767) as u32).collect(),
                    _ => hcompress::decode::<i64>(&bytes, pixels, smooth).map_err(failed)?.into_iter().map(|v| v as i32 as u32).collect(),
                }
            }
        };
        let Some(q) = self.quantized else {
            let mut out = vec![0u8; pixels * width];
            for (code, pixel) in codes.iter().zip(out.chunks_exact_mut(width)) {
                pixel.copy_from_slice(&code.to_be_bytes()[4 - width..]);
            }
            return Ok(out);
        };
        let (scale, zero) = (self.per_tile(source, q.scale, index)?, self.per_tile(source, q.zero, index)?);
        let blank = q.blank.map(|b| self.per_tile(source, b, index)).transpose()?.map(|b| b as i32);
        Ok(unquantize(&codes, q.dither, (index as i64 + q.seed - 1).rem_euclid(10_000) as usize, scale, zero, blank, self.pixel_size))
    }
}

/// `data` gunzipped, which must give `length` bytes.
fn gunzip(data: &[u8], length: usize) -> io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(length);
    flate2::read::GzDecoder::new(data).take(length as u64 + 1).read_to_end(&mut raw)?;
    if raw.len() != length {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{} bytes, not {length}", raw.len())));
    }
    Ok(raw)
}

/// The floating-point pixels (`size` 4 or 8 bytes, big-endian) of the 32-bit `codes` of one
/// tile: `(code − random + 0.5) × scale + zero`, the randoms from `first` on (none without
/// dither), a `blank` code NaN — CFITSIO's arithmetic, so the values are its values bit for bit.
fn unquantize(codes: &[u32], dither: Dither, first: usize, scale: f64, zero: f64, blank: Option<i32>, size: usize) -> Vec<u8> {
    let randoms = randoms();
    let mut out = vec![0u8; codes.len() * size];
    let write = |pixel: &mut [u8], value: f64| {
        if size == 4 {
            pixel.copy_from_slice(&(value as f32).to_be_bytes());
        } else {
            pixel.copy_from_slice(&value.to_be_bytes());
        }
    };
    if dither == Dither::None {
        for (&code, pixel) in codes.iter().zip(out.chunks_exact_mut(size)) {
            let code = code as i32;
            write(pixel, if Some(code) == blank { f64::NAN } else { code as f64 * scale + zero });
        }
        return out;
    }
    // The randoms run on from `first`'s offset; at the end of the sequence they start again from
    // the next seed. Each stretch between two such starts is one tight loop.
    let (mut seed, mut next) = (first, (randoms[first] * 500.0) as usize);
    let mut done = 0;
    while done < codes.len() {
        let span = (codes.len() - done).min(randoms.len() - next);
        let stretch = codes[done..done + span].iter().zip(&randoms[next..next + span]).zip(out[done * size..(done + span) * size].chunks_exact_mut(size));
        for ((&code, &random), pixel) in stretch {
            let code = code as i32;
            let value = if Some(code) == blank {
                f64::NAN
            } else if dither == Dither::SubtractiveZero && code == ZERO_CODE {
                0.0
            } else {
                (code as f64 - random as f64 + 0.5) * scale + zero
            };
            write(pixel, value);
        }
        done += span;
        next += span;
        if next == randoms.len() {
            seed = (seed + 1) % randoms.len();
            next = (randoms[seed] * 500.0) as usize;
        }
    }
    out
}

/// The width in a row of a column of form `tform` (`1PB(2880)`, `1QB`, `1J`…), and for a
/// variable-length array column its descriptor.
fn column_of(tform: &str) -> Option<(u64, Option<Column>)> {
    let tform = tform.trim();
    let digits = tform.bytes().take_while(u8::is_ascii_digit).count();
    let repeat: u64 = if digits == 0 { 1 } else { tform[..digits].parse().ok()? };
    let mut code = tform[digits..].chars();
    let kind = code.next()?;
    let size = |c: char| -> Option<usize> {
        Some(match c {
            'L' | 'X' | 'B' | 'A' => 1,
            'I' => 2,
            'J' | 'E' => 4,
            'K' | 'D' | 'C' => 8,
            'M' => 16,
            _ => return None,
        })
    };
    match kind {
        'P' | 'Q' => {
            let element = size(code.next()?)?;
            let wide = kind == 'Q';
            Some((repeat * if wide { 16 } else { 8 }, Some(Column { offset: 0, wide, element })))
        }
        'X' => Some((repeat.div_ceil(8), None)),
        other => Some((repeat * size(other)? as u64, None)),
    }
}

/// `len` raw bytes of the file at `at`, through `source`.
fn read(source: &(impl Source + ?Sized), at: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(len);
    source.copy(at, len, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// Decodes `pixels` values Rice-coded in `data` (blocks of `block` values, each value `width`
/// bytes): the first value as it is, then for each block a code (fs + 1) of 3, 4 or 5 bits
/// saying how its differences are written — all zero (fs < 0), each in `8 × width` plain bits (fs
/// at its maximum), or each as a unary high part and `fs` low bits — each difference mapped from
/// its sign to an even (positive) or odd (negative) number. `None` when `data` ends too soon.
fn rice(data: &[u8], pixels: usize, block: usize, width: usize) -> Option<Vec<u32>> {
    let (fs_bits, fs_max, bits) = match width {
        1 => (3, 6, 8),
        2 => (4, 14, 16),
        _ => (5, 25, 32),
    };
    let mask: u32 = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
    let mut reader = Bits { data, at: 8 * width };
    let mut last = data.get(..width)?.iter().fold(0u32, |v, &b| (v << 8) | b as u32);
    let mut out = Vec::with_capacity(pixels);
    while out.len() < pixels {
        let fs = reader.take(fs_bits)? as i32 - 1;
        let end = (out.len() + block).min(pixels);
        while out.len() < end {
            let diff = if fs < 0 {
                0
            } else if fs == fs_max {
                reader.take(bits)?
            } else {
                reader.split(fs as u32)?
            };
            // Even: a positive difference; odd: a negative one.
            let signed = if diff & 1 == 0 { diff >> 1 } else { !(diff >> 1) };
            last = last.wrapping_add(signed) & mask;
            out.push(last);
        }
    }
    Some(out)
}

/// Decodes `pixels` values from a PLIO line list (IRAF's pixel-list encoding): a header, whose
/// length and the list's length it gives (old lists: three words, the length third), then 16-bit
/// instructions, each a 4-bit code over 12 bits of data: a run of `data` zeros (0), of the current
/// value (4), or of zeros ending with the value (5); set the value from this and the next word (1);
/// raise (2) or lower (3) it by `data`; raise (6) or lower (7) it and write it once. Pixels the list
/// does not reach are 0. `None` when the list is shorter than its header says.
fn plio(words: &[i16], pixels: usize) -> Option<Vec<u32>> {
    let (length, first) = if *words.get(2)? > 0 {
        (words[2] as usize, 3)
    } else {
        ((*words.get(4)? as usize) << 15 | *words.get(3)? as u16 as usize, *words.get(1)? as usize)
    };
    let mut out: Vec<u32> = Vec::with_capacity(pixels);
    let mut value: i64 = 1;
    let mut at = first;
    while at < length.min(words.len()) && out.len() < pixels {
        let word = words[at] as u16;
        let (code, data) = (word >> 12, (word & 0xfff) as usize);
        let room = pixels - out.len();
        match code {
            0 => out.resize(out.len() + data.min(room), 0),
            4 => out.resize(out.len() + data.min(room), value as u32),
            5 if data > 0 => {
                out.resize(out.len() + (data - 1).min(room), 0);
                if data <= room {
                    out.push(value as u32);
                }
            }
            1 => {
                at += 1;
                value = ((*words.get(at)? as i64) << 12) + data as i64;
            }
            2 => value += data as i64,
            3 => value -= data as i64,
            6 | 7 => {
                value += if code == 6 { data as i64 } else { -(data as i64) };
                out.push(value as u32);
            }
            _ => {}
        }
        at += 1;
    }
    out.resize(pixels, 0);
    Some(out)
}

/// A reader of bits, most significant first, eight bytes at a time.
pub(crate) struct Bits<'a> {
    pub(crate) data: &'a [u8],
    /// Bits read so far.
    pub(crate) at: usize,
}

impl Bits<'_> {
    /// The next 64 bits from `at` (zeros past the end), first bit highest.
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        let byte = self.at / 8;
        let word = match self.data.get(byte..byte + 8) {
            Some(eight) => u64::from_be_bytes(eight.try_into().unwrap_or_default()),
            None => {
                let mut word = [0u8; 8];
                let available = self.data.len().saturating_sub(byte);
                word[..available].copy_from_slice(&self.data[byte..]);
                u64::from_be_bytes(word)
            }
        };
        word << (self.at % 8)
    }

    /// The next `n` bits (at most 32) as a number.
    #[inline]
    pub(crate) fn take(&mut self, n: u32) -> Option<u32> {
        if n == 0 {
            return Some(0);
        }
        if self.at + n as usize > self.data.len() * 8 {
            return None;
        }
        let value = (self.word() >> (64 - n)) as u32;
        self.at += n as usize;
        Some(value)
    }

    /// A Rice-coded value with `fs` low bits: its unary high part (0 bits ended by a 1 bit), then
    /// `fs` plain bits, as `high << fs | low`. Read from one 64-bit word when it holds both, the
    /// usual case.
    #[inline]
    fn split(&mut self, fs: u32) -> Option<u32> {
        let word = self.word();
        let high = word.leading_zeros();
        let used = high + 1 + fs;
        if used <= 64 - (self.at % 8) as u32 && self.at + used as usize <= self.data.len() * 8 {
            let low = if fs == 0 { 0 } else { ((word << (high + 1)) >> (64 - fs)) as u32 };
            self.at += used as usize;
            return Some((high << fs) | low);
        }
        let high = self.zeros()?;
        let low = self.take(fs)?;
        Some((high << fs) | low)
    }

    /// The number of 0 bits before the next 1 bit, which is read too.
    #[inline]
    fn zeros(&mut self) -> Option<u32> {
        let total = self.data.len() * 8;
        let mut count = 0;
        while self.at < total {
            let valid = (64 - self.at % 8).min(total - self.at) as u32;
            let leading = self.word().leading_zeros();
            if leading < valid {
                self.at += leading as usize + 1;
                return Some(count + leading);
            }
            count += valid;
            self.at += valid as usize;
        }
        None
    }
}

/// A cutout's source for a tile-compressed image: offsets in the image's uncompressed data (as
/// [`Image`] lays it out) are answered from the tiles they fall in, each tile decompressed once
/// and kept while the cutout goes through its row of tiles (at most [`KEPT`] bytes of tiles).
pub struct TiledSource<'a, S: Source + ?Sized> {
    tiled: &'a Tiled,
    file: &'a S,
    tiles: Mutex<HashMap<u64, Vec<u8>>>,
}

/// The most bytes of decompressed tiles one cutout keeps (64 MiB): a cutout's rows go through the
/// same row of tiles until the box leaves it, and never come back to it.
const KEPT: usize = 64 << 20;

impl<'a, S: Source + ?Sized> TiledSource<'a, S> {
    /// The image `tiled` of the file read through `file`.
    pub fn new(tiled: &'a Tiled, file: &'a S) -> Self {
        TiledSource { tiled, file, tiles: Mutex::new(HashMap::new()) }
    }
}

impl<S: Source + ?Sized> Source for TiledSource<'_, S> {
    fn copy(&self, at: u64, len: usize, _: &mut Vec<u8>, out: &mut dyn Write) -> io::Result<()> {
        let t = self.tiled;
        let size = t.pixel_size as u64;
        let mut tiles = self.tiles.lock().map_err(|_| io::Error::other("a cutout's tiles were poisoned"))?;
        let (mut pixel, mut left) = (at / size, len as u64 / size);
        while left > 0 {
            // The pixel's coordinates, its tile's corner and index, and its place in the tile.
            let mut coordinates = Vec::with_capacity(t.axes.len());
            let mut rest = pixel;
            for &n in &t.axes {
                coordinates.push((rest % n as u64) as usize);
                rest /= n as u64;
            }
            let corner: Vec<usize> = coordinates.iter().zip(&t.tile).map(|(&c, &s)| c - c % s).collect();
            let shape = t.tile_shape(&corner);
            let (mut index, mut stride) = (0u64, 1u64);
            for ((&c, &s), &n) in corner.iter().zip(&t.tile).zip(&t.axes) {
                index += (c / s) as u64 * stride;
                stride *= n.div_ceil(s) as u64;
            }
            let (mut within, mut step) = (0usize, 1usize);
            for ((&c, &k), &w) in coordinates.iter().zip(&corner).zip(&shape) {
                within += (c - k) * step;
                step *= w;
            }
            // As many pixels as stay in this tile's row.
            let run = left.min((shape[0] - (coordinates[0] - corner[0])) as u64) as usize;
            if !tiles.contains_key(&index) {
                // A cutout reads forward: the tiles of earlier rows of tiles are done with.
                let tiles_per_row = t.axes[0].div_ceil(t.tile[0]) as u64;
                tiles.retain(|&kept, _| kept / tiles_per_row == index / tiles_per_row);
                if tiles.values().map(Vec::len).sum::<usize>() > KEPT {
                    tiles.clear();
                }
                let decoded = t.decode(self.file, index, shape.iter().product())?;
                tiles.insert(index, decoded);
            }
            let tile = &tiles[&index];
            let from = within * t.pixel_size;
            out.write_all(tile.get(from..from + run * t.pixel_size).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a tile is shorter than its shape"))?)?;
            pixel += run as u64;
            left -= run as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_read_most_significant_first_and_count_zeros() {
        let mut bits = Bits { data: &[0b1010_0000, 0b0000_0001, 0b1000_0000], at: 0 };
        assert_eq!(bits.take(3), Some(0b101));
        assert_eq!(bits.zeros(), Some(12), "five zeros left in the first byte, seven in the second, then its 1");
        assert_eq!(bits.take(1), Some(1));
        assert_eq!(bits.zeros(), None, "the data ends first");
    }

    #[test]
    fn the_random_sequence_is_the_conventions() {
        let randoms = randoms();
        assert_eq!(randoms.len(), 10_000);
        // The 10,000th seed is 1043618065, as the convention checks it.
        assert_eq!(randoms[9999], (1043618065.0f64 / 2147483647.0) as f32);
        assert_eq!(randoms[0], (16807.0f64 / 2147483647.0) as f32);
    }

    #[test]
    fn a_damaged_table_header_is_refused_before_anything_is_allocated() {
        let header = |ztile: &str| {
            Header::from_cards(
                [
                    ("XTENSION", "'BINTABLE'"),
                    ("BITPIX", "8"),
                    ("NAXIS", "2"),
                    ("NAXIS1", "8"),
                    ("NAXIS2", "1"),
                    ("TFIELDS", "1"),
                    ("TTYPE1", "'COMPRESSED_DATA'"),
                    ("TFORM1", "'1PB(10)'"),
                    ("ZIMAGE", "T"),
                    ("ZCMPTYPE", "'RICE_1'"),
                    ("ZBITPIX", "16"),
                    ("ZNAXIS", "1"),
                    ("ZNAXIS1", "1000000000000"),
                    ("ZTILE1", ztile),
                ]
                .iter()
                .map(|(k, v)| value_card(k, v, None)),
            )
        };
        let refused = Tiled::from_header(&header("1000000000000"), 2880).unwrap_err();
        assert!(matches!(&refused, FitsError::Format(m) if m.contains("at most 67108864 are read")), "{refused}");
        // Rows enough for the tiles: one row cannot hold 10¹² / 1000 tiles.
        let refused = Tiled::from_header(&header("1000"), 2880).unwrap_err();
        assert!(matches!(&refused, FitsError::Format(m) if m.contains("1 rows for 1000000000 tiles")), "{refused}");
    }

    #[test]
    fn unquantized_doubles_are_read_gzipped_and_refused_otherwise() {
        let table = |algorithm: &str, heap: &[u8]| {
            let header = Header::from_cards(
                [
                    ("XTENSION", "'BINTABLE'".to_owned()),
                    ("BITPIX", "8".into()),
                    ("NAXIS", "2".into()),
                    ("NAXIS1", "8".into()),
                    ("NAXIS2", "1".into()),
                    ("TFIELDS", "1".into()),
                    ("TTYPE1", "'COMPRESSED_DATA'".into()),
                    ("TFORM1", format!("'1PB({})'", heap.len())),
                    ("ZIMAGE", "T".into()),
                    ("ZCMPTYPE", format!("'{algorithm}'")),
                    ("ZBITPIX", "-64".into()),
                    ("ZNAXIS", "1".into()),
                    ("ZNAXIS1", "3".into()),
                    ("ZQUANTIZ", "'NONE'".into()),
                ]
                .iter()
                .map(|(k, v)| value_card(k, v, None)),
            );
            let mut data = (heap.len() as u32).to_be_bytes().to_vec();
            data.extend([0; 4]);
            data.extend(heap);
            (Tiled::from_header(&header, 0).unwrap().unwrap().0, data)
        };
        let pixels = [1.5f64, -0.25, 1e300];
        let big_endian: Vec<u8> = pixels.iter().flat_map(|p| p.to_be_bytes()).collect();
        // GZIP_2: byte b of pixel i at b × 3 + i.
        let shuffled: Vec<u8> = (0..24).map(|k| big_endian[(k % 3) * 8 + k / 3]).collect();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&shuffled).unwrap();
        let (tiled, data) = table("GZIP_2", &gzip.finish().unwrap());
        assert_eq!(tiled.decode(&data[..], 0, 3).unwrap(), big_endian);
        let (tiled, data) = table("RICE_1", &[0; 16]);
        let refused = tiled.decode(&data[..], 0, 3).unwrap_err();
        assert!(refused.to_string().contains("unquantized 64-bit pixels in RICE_1"), "{refused}");
    }

    #[test]
    fn table_forms_give_widths_and_descriptors() {
        assert_eq!(column_of("1PB(2880)"), Some((8, Some(Column { offset: 0, wide: false, element: 1 }))));
        assert_eq!(column_of("1QI"), Some((16, Some(Column { offset: 0, wide: true, element: 2 }))));
        assert_eq!(column_of("1D"), Some((8, None)));
        assert_eq!(column_of("12X"), Some((2, None)));
        assert_eq!(column_of("1Z"), None);
    }
}
