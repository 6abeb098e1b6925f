//! `compare-fits ROOT DATA PYTHON`: ivoagen's own FITS and WCS code (generated-example's
//! `service::{fits, tiles, hcompress, wcs}`, tiles read through `fits::write_cutout` as a cutout
//! reads them) against the maintained crates that could replace it, on the same inputs, in one run
//! (`cargo xtask bench fits-crates`; not part of CI):
//!
//! - CDS's `fitsrs` (pure Rust; tile-compressed images) and `wcs` (pure Rust; projections, SIP),
//!   both behind Aladin Lite;
//! - `fitsio`, bindings to CFITSIO (the system's libcfitsio).
//!
//! It measures (i) reading a whole uncompressed 4096² image (float32, int16) into memory, (ii)
//! reading a 512² section of a tile-compressed 4096² float32 image, (iii) the pixels of that
//! section against CFITSIO's `imcopy` of it, bit for bit, for each compression (HCOMPRESS_1 lossy
//! and with `SMOOTH = 1` too), (iv) world → pixel on real SIP headers against astropy's
//! `all_world2pix`, and probes what each one cannot do. Every time is the median of interleaved
//! runs, the files in the page cache; ratios are against ours.
//!
//! DATA receives the test images (made once, kept until xtask removes the folder); PYTHON is an
//! interpreter with astropy (`tests/pyvo/world2pix.py` is run with it).

use fitsrs::hdu::data::bintable::data::BinaryTableData;
use fitsrs::hdu::data::bintable::tile_compressed::pixels::Pixels as TilePixels;
use soda_cutout_server::service::fits::{self, Header, Image};
use soda_cutout_server::service::wcs as ours_wcs;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// The test images' side.
const N: usize = 4096;
/// The section read from them: 512², centred, 1-based inclusive as in FITS.
const SECTION: [(usize, usize); 2] = [(1793, 2304), (1793, 2304)];

/// The pixel type of an image.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    F32,
    I16,
}

impl Kind {
    fn size(self) -> usize {
        match self {
            Kind::F32 => 4,
            Kind::I16 => 2,
        }
    }
}

/// The tile-compressed test files: name, the image it compresses, fpack's arguments, what it is.
const COMPRESSED: &[(&str, &str, &[&str], &str)] = &[
    ("float-rice", "float", &[], "float32, RICE_1, row tiles (fpack's default: q = 4, SUBTRACTIVE_DITHER_1)"),
    ("float-rice-256", "float", &["-t", "256,256"], "float32, RICE_1, 256 × 256 tiles"),
    ("float-rice-100", "float", &["-t", "100,100"], "float32, RICE_1, 100 × 100 tiles (short tiles at the edges)"),
    ("float-dither2", "float", &["-qz", "4"], "float32, RICE_1, SUBTRACTIVE_DITHER_2"),
    ("float-nodither", "float", &["-q0", "4"], "float32, RICE_1, NO_DITHER"),
    ("float-gzip1", "float", &["-g"], "float32, GZIP_1 (quantized)"),
    ("float-gzip2", "float", &["-g2"], "float32, GZIP_2 (quantized)"),
    ("float-lossless", "float", &["-g", "-q", "0"], "float32, GZIP_1 lossless (ZQUANTIZ = NONE)"),
    ("float-hcompress", "float", &["-h"], "float32, HCOMPRESS_1"),
    ("int16-rice", "int16", &["-r"], "int16, RICE_1 (BYTEPIX = 2)"),
    ("int16-gzip1", "int16", &["-g"], "int16, GZIP_1"),
    ("int16-gzip2", "int16", &["-g2"], "int16, GZIP_2"),
    ("int16-plio", "mask", &["-p"], "int16 mask, PLIO_1"),
    ("int16-hcompress", "int16", &["-h"], "int16, HCOMPRESS_1"),
    ("int16-hcompress-lossy", "int16", &["-h", "-s", "4"], "int16, HCOMPRESS_1 lossy (scale 4 × the noise)"),
    ("int16-hcompress-smooth", "int16", &["-h", "-s", "4"], "int16, HCOMPRESS_1 lossy (scale 4 × the noise), `SMOOTH = 1`"),
    ("float-hcompress-smooth", "float", &["-h", "-s", "4"], "float32, HCOMPRESS_1 lossy (scale 4 × the noise), `SMOOTH = 1`"),
];

/// The files of [`COMPRESSED`] whose `SMOOTH` is then set to 1 (`ZVAL2`, after `ZNAME2 =
/// 'SMOOTH'`): fpack never sets it, but CFITSIO smooths as it decodes when a file asks.
const SMOOTHED: &[&str] = &["int16-hcompress-smooth", "float-hcompress-smooth"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, data, python] = match <[String; 3]>::try_from(args) {
        Ok(a) => a.map(PathBuf::from),
        Err(_) => {
            eprintln!("usage: compare-fits ROOT DATA PYTHON");
            return ExitCode::FAILURE;
        }
    };
    // A crate that panics on an input is recorded as such, not printed as a crash.
    std::panic::set_hook(Box::new(|_| {}));
    match run(&root, &data, &python) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare-fits: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(root: &Path, data: &Path, python: &Path) -> Result<(), String> {
    make_data(data)?;
    let cfitsio = Command::new("pkg-config").args(["--modversion", "cfitsio"]).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_default();
    println!("# fits-crates: ours (generated-example/src/service) against fitsrs 0.4.1, wcs 0.4.2, fitsio 0.21.10 (CFITSIO {cfitsio})");
    println!();
    println!("load average at the start: {}", load());
    println!();
    whole_images(data)?;
    sections(data)?;
    correctness(data)?;
    world_to_pixel(root, python)?;
    capabilities(root)?;
    println!("load average at the end: {}", load());
    Ok(())
}

/// The machine's load averages (1, 5, 15 minutes): other work running beside the measures.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Test data

/// A small deterministic generator (xorshift64*), so that every run compresses the same images.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal, unit variance (the sum of four uniforms).
    fn gauss(&mut self) -> f64 {
        (self.next() + self.next() + self.next() + self.next() - 2.0) * 3f64.sqrt()
    }
}

fn card(k: &str, v: &str) -> String {
    fits::value_card(k, v, None)
}

/// A 4096² image's header: BITPIX, a TAN WCS of 1″ pixels.
fn image_header(bitpix: i32) -> Header {
    let centre = fits::format_number((N as f64 + 1.0) / 2.0);
    Header::from_cards([
        card("SIMPLE", "T"),
        card("BITPIX", &bitpix.to_string()),
        card("NAXIS", "2"),
        card("NAXIS1", &N.to_string()),
        card("NAXIS2", &N.to_string()),
        card("CTYPE1", "'RA---TAN'"),
        card("CTYPE2", "'DEC--TAN'"),
        card("CRPIX1", &centre),
        card("CRPIX2", &centre),
        card("CRVAL1", "150"),
        card("CRVAL2", "2.2"),
        card("CD1_1", &fits::format_number(-1.0 / 3600.0)),
        card("CD2_2", &fits::format_number(1.0 / 3600.0)),
        card("RADESYS", "'ICRS'"),
    ])
}

/// Writes the uncompressed images (a float32 one, an int16 one, an int16 mask) and their
/// tile-compressed copies, when missing.
fn make_data(data: &Path) -> Result<(), String> {
    std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
    let smooth = |x: usize, y: usize| {
        let (fx, fy) = (x as f64 / N as f64, y as f64 / N as f64);
        let (dx, dy) = (fx - 0.5, fy - 0.5);
        100.0 * fx + 50.0 * fy + 10.0 * (20.0 * fx).sin() * (20.0 * fy).cos() + 1000.0 * (-(dx * dx + dy * dy) * 200.0).exp()
    };
    let write = |name: &str, bitpix: i32, pixel: &mut dyn FnMut(usize, usize, &mut Vec<u8>)| -> Result<(), String> {
        let path = data.join(format!("{name}.fits"));
        if path.exists() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(N * N * 4);
        for y in 0..N {
            for x in 0..N {
                pixel(x, y, &mut bytes);
            }
        }
        fits::write_image(&path, &image_header(bitpix), &bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    // Sky-like floats: the smooth sample image plus noise of σ = 5 (what fpack's q = 4 quantizes to
    // a quarter of σ).
    write("float", -32, &mut |x, y, out| out.extend_from_slice(&((smooth(x, y) + 5.0 * random.gauss()) as f32).to_be_bytes()))?;
    // Counts: the same shape in int16, noise of σ = 20.
    write("int16", 16, &mut |x, y, out| out.extend_from_slice(&((10.0 * smooth(x, y) + 20.0 * random.gauss()).round() as i16).to_be_bytes()))?;
    // A mask (what PLIO is for): runs of small flag values over zeros.
    write("mask", 16, &mut |x, y, out| {
        let flag = if ((x / 37) + (y / 53)) % 5 == 0 { ((x / 97 + y / 89) % 7 + 1) as i16 } else { 0 };
        out.extend_from_slice(&flag.to_be_bytes())
    })?;
    for (name, source, args, _) in COMPRESSED {
        let out = data.join(format!("{name}.fits.fz"));
        if out.exists() {
            continue;
        }
        let status = Command::new("fpack").args(*args).arg("-O").arg(&out).arg(data.join(format!("{source}.fits"))).status().map_err(|e| format!("fpack: {e}"))?;
        if !status.success() {
            return Err(format!("fpack {args:?} {source}.fits failed"));
        }
        // A file left without its SMOOTH would be taken as made by the next run.
        if SMOOTHED.contains(name)
            && let Err(e) = set_smooth(&out)
        {
            let _ = std::fs::remove_file(&out);
            return Err(e);
        }
    }
    Ok(())
}

/// Sets `SMOOTH = 1` in the header of the tile-compressed image of `path` (its second HDU): the
/// value of the `ZVALn` card whose `ZNAMEn` is `'SMOOTH'`, rewritten in place.
fn set_smooth(path: &Path) -> Result<(), String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (header, at) = headers(path)?.into_iter().nth(1).ok_or_else(|| format!("{}: no extension", path.display()))?;
    let n = (1..10).find(|i| matches!(header.get(&format!("ZNAME{i}")), Some(fits::Value::Text(t)) if t.trim() == "SMOOTH")).ok_or_else(|| format!("{}: no ZNAMEn = 'SMOOTH'", path.display()))?;
    let card = fits::value_card(&format!("ZVAL{n}"), "1", Some("HCOMPRESS smooth option"));
    // The extension's header: from its XTENSION card (the last one before its data) to its data.
    let keyword = format!("{:<8}", format!("ZVAL{n}"));
    let start = bytes[..at as usize].chunks(fits::CARD).rposition(|c| c.starts_with(b"XTENSION")).ok_or("no XTENSION card")? * fits::CARD;
    let index = bytes[start..at as usize].chunks(fits::CARD).position(|c| c.starts_with(keyword.as_bytes())).ok_or_else(|| format!("{}: no {keyword}", path.display()))?;
    let place = start + index * fits::CARD;
    bytes[place..place + fits::CARD].copy_from_slice(card.as_bytes());
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Reading, each crate its own way

/// The headers of every HDU of a file (cards read as they are; the data skipped).
fn headers(path: &Path) -> Result<Vec<(Header, u64)>, String> {
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let length = file.metadata().map_err(|e| e.to_string())?.len();
    let mut at = 0u64;
    let mut out = Vec::new();
    while at + fits::BLOCK as u64 <= length {
        file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
        let mut cards = Vec::new();
        let mut block = [0u8; fits::BLOCK];
        'blocks: loop {
            file.read_exact(&mut block).map_err(|e| format!("{}: {e}", path.display()))?;
            at += fits::BLOCK as u64;
            for raw in block.chunks(fits::CARD) {
                let card = String::from_utf8_lossy(raw).into_owned();
                if card.trim_end() == "END" {
                    break 'blocks;
                }
                cards.push(card);
            }
        }
        let header = Header::from_cards(cards);
        let number = |k: &str| header.number(k).unwrap_or(0.0) as u64;
        let naxis = number("NAXIS");
        let data = if naxis == 0 { 0 } else { (1..=naxis).map(|i| number(&format!("NAXIS{i}"))).product::<u64>() * (header.number("BITPIX").unwrap_or(8.0).abs() as u64 / 8) };
        let data = (data + number("PCOUNT")) * header.number("GCOUNT").unwrap_or(1.0) as u64;
        out.push((header, at));
        at += (data as usize).div_ceil(fits::BLOCK) as u64 * fits::BLOCK as u64;
    }
    Ok(out)
}

/// Ours: the box of the first image as a cutout writes it (header, then the big-endian pixels,
/// only the tiles the box meets decompressed). Returns the bytes and where the pixels start.
fn ours(path: &Path, pixels: &fits::PixelBox) -> Result<(Vec<u8>, usize), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let image = Image::open(&file).map_err(|e| e.to_string())?;
    let header = fits::cutout_header(&image, pixels);
    let mut out = Vec::with_capacity(fits::cutout_len(&header, &image, pixels) as usize);
    fits::write_cutout(&file, &image, pixels, &header, &mut out).map_err(|e| e.to_string())?;
    Ok((out, header.to_bytes().len()))
}

/// A pixel type: its big-endian bytes.
trait Be: Copy {
    const SIZE: usize;
    fn put(self, out: &mut [u8]);
}

macro_rules! be {
    ($($t:ty),*) => {$(
        impl Be for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn put(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_be_bytes());
            }
        }
    )*};
}
be!(u8, i16, i32, f32, f64);

/// fitsrs' tile-compressed pixels come tile after tile, each tile's first axis fastest: the box's
/// pixels are picked out as they pass, and reading stops after the last row of tiles the box meets
/// (fitsrs reads tiles in order only, from the first). Tiles are walked with the shapes the
/// convention gives them (short at the far edges).
fn place<T: Be>(mut pixels: impl Iterator<Item = T>, axes: [usize; 2], tile: [usize; 2], bx: &[(usize, usize)]) -> Result<Vec<u8>, String> {
    let (x0, x1, y0, y1) = (bx[0].0 - 1, bx[0].1 - 1, bx[1].0 - 1, bx[1].1 - 1);
    let width = x1 - x0 + 1;
    let mut out = vec![0u8; width * (y1 - y0 + 1) * T::SIZE];
    let mut read = 0usize;
    for ty in 0..axes[1].div_ceil(tile[1]) {
        let (cy, h) = (ty * tile[1], tile[1].min(axes[1] - ty * tile[1]));
        if cy > y1 {
            break;
        }
        for tx in 0..axes[0].div_ceil(tile[0]) {
            let (cx, w) = (tx * tile[0], tile[0].min(axes[0] - tx * tile[0]));
            for y in cy..cy + h {
                for x in cx..cx + w {
                    let value = pixels.next().ok_or_else(|| format!("its pixels end after {read}"))?;
                    read += 1;
                    if (x0..=x1).contains(&x) && (y0..=y1).contains(&y) {
                        let at = ((y - y0) * width + x - x0) * T::SIZE;
                        value.put(&mut out[at..at + T::SIZE]);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// fitsrs: the box of the file's first tile-compressed image, big-endian.
fn fitsrs_section(path: &Path, bx: &[(usize, usize)]) -> Result<Vec<u8>, String> {
    let reader = BufReader::new(File::open(path).map_err(|e| e.to_string())?);
    let mut hdus = fitsrs::Fits::from_reader(reader);
    loop {
        match hdus.next() {
            Some(Ok(fitsrs::HDU::XBinaryTable(hdu))) => {
                let header = hdu.get_header();
                let number = |k: &str| header.get_parsed::<i64>(k).map(|v| v as usize);
                let axes = [number("ZNAXIS1").map_err(|e| e.to_string())?, number("ZNAXIS2").map_err(|e| e.to_string())?];
                let tile = [number("ZTILE1").unwrap_or(axes[0]), number("ZTILE2").unwrap_or(1)];
                return match hdus.get_data(&hdu) {
                    BinaryTableData::TileCompressed(pixels) => match pixels {
                        TilePixels::U8(p) => place(p, axes, tile, bx),
                        TilePixels::I16(p) => place(p, axes, tile, bx),
                        TilePixels::I32(p) => place(p, axes, tile, bx),
                        TilePixels::F32(p) => place(p, axes, tile, bx),
                        TilePixels::F64(p) => place(p, axes, tile, bx),
                    },
                    BinaryTableData::Table(_) => Err("not read as an image (a plain table)".into()),
                };
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("no tile-compressed image".into()),
        }
    }
}

/// Pixels as the crates return them: native numbers.
enum Numbers {
    F32(Vec<f32>),
    I16(Vec<i16>),
}

impl Numbers {
    fn len(&self) -> usize {
        match self {
            Numbers::F32(v) => v.len(),
            Numbers::I16(v) => v.len(),
        }
    }

    /// Big-endian bytes, for comparisons.
    fn be(&self) -> Vec<u8> {
        fn be<T: Be>(values: &[T]) -> Vec<u8> {
            let mut out = vec![0u8; values.len() * T::SIZE];
            for (v, o) in values.iter().zip(out.chunks_exact_mut(T::SIZE)) {
                v.put(o);
            }
            out
        }
        match self {
            Numbers::F32(v) => be(v),
            Numbers::I16(v) => be(v),
        }
    }
}

/// fitsrs: the whole primary image, as native numbers (its pixel iterator over a `BufReader`).
fn fitsrs_whole(path: &Path) -> Result<Numbers, String> {
    let reader = BufReader::new(File::open(path).map_err(|e| e.to_string())?);
    let mut hdus = fitsrs::Fits::from_reader(reader);
    match hdus.next() {
        Some(Ok(fitsrs::HDU::Primary(hdu))) => Ok(match hdus.get_data(&hdu).pixels() {
            fitsrs::Pixels::F32(p) => Numbers::F32(p.collect()),
            fitsrs::Pixels::I16(p) => Numbers::I16(p.collect()),
            _ => return Err("an unexpected BITPIX".into()),
        }),
        Some(Ok(_)) => Err("no primary image".into()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("empty".into()),
    }
}

/// fitsrs' fastest way to an uncompressed image: the whole file read into memory, the primary
/// image's big-endian bytes borrowed from it (`raw_bytes`).
fn fitsrs_raw(path: &Path) -> Result<usize, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut hdus = fitsrs::Fits::from_reader(std::io::Cursor::new(bytes));
    match hdus.next() {
        Some(Ok(fitsrs::HDU::Primary(hdu))) => {
            let raw = hdus.get_data(&hdu).raw_bytes();
            Ok(black_box(raw).len())
        }
        Some(Ok(_)) => Err("no primary image".into()),
        Some(Err(e)) => Err(e.to_string()),
        None => Err("empty".into()),
    }
}

/// The same, the bytes copied out, for comparisons.
fn fitsrs_raw_bytes(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut hdus = fitsrs::Fits::from_reader(std::io::Cursor::new(bytes));
    match hdus.next() {
        Some(Ok(fitsrs::HDU::Primary(hdu))) => Ok(hdus.get_data(&hdu).raw_bytes().to_vec()),
        _ => Err("no primary image".into()),
    }
}

/// Ours, as native numbers: the cutout's big-endian bytes converted (what the crates return).
fn ours_native(bytes: &[u8], kind: Kind) -> Numbers {
    match kind {
        Kind::F32 => Numbers::F32(bytes.chunks_exact(4).map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect()),
        Kind::I16 => Numbers::I16(bytes.chunks_exact(2).map(|b| i16::from_be_bytes([b[0], b[1]])).collect()),
    }
}

/// fitsio (CFITSIO): the box of HDU `hdu` (0-based), as native numbers.
fn fitsio_section(path: &Path, hdu: usize, kind: Kind, bx: &[(usize, usize)]) -> Result<Numbers, String> {
    let mut file = fitsio::FitsFile::open(path).map_err(|e| e.to_string())?;
    let h = file.hdu(hdu).map_err(|e| e.to_string())?;
    let (xs, ys) = (bx[0].0 - 1..bx[0].1, bx[1].0 - 1..bx[1].1);
    Ok(match kind {
        Kind::F32 => Numbers::F32(h.read_region(&mut file, &[&xs, &ys]).map_err(|e| e.to_string())?),
        Kind::I16 => Numbers::I16(h.read_region(&mut file, &[&xs, &ys]).map_err(|e| e.to_string())?),
    })
}

/// fitsio (CFITSIO): the whole primary image.
fn fitsio_whole(path: &Path, kind: Kind) -> Result<Numbers, String> {
    let mut file = fitsio::FitsFile::open(path).map_err(|e| e.to_string())?;
    let h = file.primary_hdu().map_err(|e| e.to_string())?;
    Ok(match kind {
        Kind::F32 => Numbers::F32(h.read_image(&mut file).map_err(|e| e.to_string())?),
        Kind::I16 => Numbers::I16(h.read_image(&mut file).map_err(|e| e.to_string())?),
    })
}

/// Runs `f`, a panic becoming an error that says so.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let message = payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_default();
        Err(format!("panics ({})", message.lines().next().unwrap_or_default()))
    })
}

// ---------------------------------------------------------------------------------------------
// Timing

/// Median of `values`.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// Each of `candidates` run `rounds` times, interleaved (one warm-up round first): the median
/// milliseconds of each, or its error.
fn race(rounds: usize, candidates: &mut [&mut dyn FnMut() -> Result<usize, String>]) -> Vec<Result<f64, String>> {
    let mut times: Vec<Result<Vec<f64>, String>> = candidates.iter().map(|_| Ok(Vec::new())).collect();
    for round in 0..=rounds {
        for (candidate, times) in candidates.iter_mut().zip(times.iter_mut()) {
            let Ok(list) = times else { continue };
            let start = Instant::now();
            match guarded(&mut **candidate) {
                Ok(n) => {
                    black_box(n);
                    if round > 0 {
                        list.push(start.elapsed().as_secs_f64() * 1e3);
                    }
                }
                Err(e) => *times = Err(e),
            }
        }
    }
    times.into_iter().map(|t| t.map(median)).collect()
}

fn ms(t: &Result<f64, String>) -> String {
    match t {
        Ok(t) => format!("{t:.1} ms"),
        Err(e) => format!("fails: {e}"),
    }
}

fn ratio(t: &Result<f64, String>, ours: &Result<f64, String>) -> String {
    match (t, ours) {
        (Ok(t), Ok(o)) => format!("{:.2}×", t / o),
        _ => "–".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// (i) whole uncompressed images

fn whole_images(data: &Path) -> Result<(), String> {
    println!("## (i) a whole uncompressed 4096² image into memory (median of 7 interleaved runs, page cache warm)");
    println!();
    println!("ours: `fits::write_cutout` of the whole box through the file (positioned reads, 1 MiB at a time), the big-endian bytes as the server sends them, and the same then converted to native numbers; fitsrs: its pixel iterator over a `BufReader<File>` collected into a `Vec` of native numbers, and its fastest way, the whole file read into memory and the image's big-endian bytes borrowed from it (`raw_bytes`); fitsio: `read_image` into a `Vec` of native numbers. Ratios: native numbers against ours converted; fitsrs `raw_bytes` against ours' bytes.");
    println!();
    println!("| image | ours: bytes | ours: numbers | fitsrs: numbers | fitsrs: `raw_bytes` | fitsio: numbers | fitsrs numbers / ours | fitsrs `raw_bytes` / ours | fitsio / ours |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, kind) in [("float", Kind::F32), ("int16", Kind::I16)] {
        let path = data.join(format!("{name}.fits"));
        let whole: fits::PixelBox = vec![(1, N), (1, N)];
        let length = N * N * kind.size();
        // The same pixels from each, first.
        let (bytes, at) = ours(&path, &whole)?;
        let reference = &bytes[at..at + length];
        let same = |r: Result<Vec<u8>, String>| match r {
            Ok(v) if v == reference => "same pixels".to_owned(),
            Ok(_) => "DIFFERENT pixels".to_owned(),
            Err(e) => format!("fails: {e}"),
        };
        let checks = [
            same(guarded(|| fitsrs_whole(&path).map(|n| n.be()))),
            same(guarded(|| fitsrs_raw_bytes(&path))),
            same(guarded(|| fitsio_whole(&path, kind).map(|n| n.be()))),
        ];
        let times = race(
            7,
            &mut [
                &mut || ours(&path, &whole).map(|(b, _)| b.len()),
                &mut || ours(&path, &whole).map(|(b, at)| ours_native(&b[at..at + length], kind).len()),
                &mut || fitsrs_whole(&path).map(|n| n.len()),
                &mut || fitsrs_raw(&path),
                &mut || fitsio_whole(&path, kind).map(|n| n.len()),
            ],
        );
        println!(
            "| {name} ({} MiB) | {} | {} | {} ({}) | {} ({}) | {} ({}) | {} | {} | {} |",
            length >> 20,
            ms(&times[0]),
            ms(&times[1]),
            ms(&times[2]),
            checks[0],
            ms(&times[3]),
            checks[1],
            ms(&times[4]),
            checks[2],
            ratio(&times[2], &times[1]),
            ratio(&times[3], &times[0]),
            ratio(&times[4], &times[1])
        );
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (ii) a section of a tile-compressed image

fn sections(data: &Path) -> Result<(), String> {
    println!("## (ii) the 512² section [1793:2304,1793:2304] of a tile-compressed 4096² float32 image (median of 7 interleaved runs)");
    println!();
    println!("Each opens the file and reads the section's pixels (ours as a cutout writes them; fitsrs stops after the last row of tiles the box meets, but reads every tile before it; fitsio `read_region`).");
    println!();
    println!("| file | tiles the box meets | ours | fitsrs | fitsio | fitsrs / ours | fitsio / ours |");
    println!("|---|---|---|---|---|---|---|");
    let bx: fits::PixelBox = SECTION.to_vec();
    for (name, tiles) in [("float-rice", "512 of 4096 rows"), ("float-rice-256", "4 of 256 tiles"), ("float-gzip2", "512 of 4096 rows"), ("float-hcompress", "32 of 256 rows of 16")] {
        let path = data.join(format!("{name}.fits.fz"));
        let times = race(
            7,
            &mut [
                &mut || ours(&path, &bx).map(|(b, _)| b.len()),
                &mut || fitsrs_section(&path, &bx).map(|v| v.len()),
                &mut || fitsio_section(&path, 1, Kind::F32, &bx).map(|n| n.len()),
            ],
        );
        let what = COMPRESSED.iter().find(|c| c.0 == name).map_or("", |c| c.3);
        println!("| {name}.fits.fz ({what}) | {tiles} | {} | {} | {} | {} | {} |", ms(&times[0]), ms(&times[1]), ms(&times[2]), ratio(&times[1], &times[0]), ratio(&times[2], &times[0]));
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (iii) correctness against imcopy

/// How `got` compares with `reference` (big-endian pixels of `kind`).
fn verdict(got: Result<Vec<u8>, String>, reference: &[u8], kind: Kind) -> String {
    let got = match got {
        Ok(g) => g,
        Err(e) => return format!("fails: {e}"),
    };
    if got == reference {
        return "**identical**".into();
    }
    if got.len() != reference.len() {
        return format!("wrong length ({} bytes, not {})", got.len(), reference.len());
    }
    let (mut differ, mut worst) = (0usize, 0f64);
    for (a, b) in got.chunks_exact(kind.size()).zip(reference.chunks_exact(kind.size())) {
        if a != b {
            differ += 1;
            let value = |p: &[u8]| match kind {
                Kind::F32 => f32::from_be_bytes([p[0], p[1], p[2], p[3]]) as f64,
                Kind::I16 => i16::from_be_bytes([p[0], p[1]]) as f64,
            };
            worst = worst.max((value(a) - value(b)).abs());
        }
    }
    let pixels = reference.len() / kind.size();
    format!("{differ} of {pixels} pixels differ (worst \\|Δ\\| {worst:.1e})")
}

fn correctness(data: &Path) -> Result<(), String> {
    println!("## (iii) pixels against CFITSIO's `imcopy FILE[1][1793:2304,1793:2304]`, bit for bit");
    println!();
    println!("| file | what | ours | fitsrs | fitsio |");
    println!("|---|---|---|---|---|");
    let bx: fits::PixelBox = SECTION.to_vec();
    let section = format!("{}:{},{}:{}", bx[0].0, bx[0].1, bx[1].0, bx[1].1);
    for (name, source, _, what) in COMPRESSED {
        let kind = if *source == "float" { Kind::F32 } else { Kind::I16 };
        let path = data.join(format!("{name}.fits.fz"));
        let out = data.join(format!("{name}.section.fits"));
        let status = Command::new("imcopy").arg(format!("{}[1][{section}]", path.display())).arg(format!("!{}", out.display())).stdout(Stdio::null()).status().map_err(|e| format!("imcopy: {e}"))?;
        if !status.success() {
            return Err(format!("imcopy {name} failed"));
        }
        let (header, at) = headers(&out)?.into_iter().next().ok_or("imcopy wrote nothing")?;
        let bytes = std::fs::read(&out).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&out);
        let length = 512 * 512 * kind.size();
        if header.number("BITPIX") != Some(if kind == Kind::F32 { -32.0 } else { 16.0 }) {
            return Err(format!("imcopy {name}: BITPIX {:?}", header.number("BITPIX")));
        }
        let reference = bytes.get(at as usize..at as usize + length).ok_or("imcopy's file is short")?;
        let ours = guarded(|| ours(&path, &bx).map(|(b, at)| b[at..at + length].to_vec()));
        let fitsrs = guarded(|| fitsrs_section(&path, &bx));
        let fitsio = guarded(|| fitsio_section(&path, 1, kind, &bx).map(|n| n.be()));
        println!("| {name} | {what} | {} | {} | {} |", verdict(ours, reference, kind), verdict(fitsrs, reference, kind), verdict(fitsio, reference, kind));
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// (iv) WCS

/// The `wcs` crate's parameters from a header (its documented way: the keywords as JSON), the
/// image's size given when the header has none.
fn wcs_params(header: &Header, size: (f64, f64)) -> Result<wcs::WCSParams, String> {
    let mut map = serde_json::Map::new();
    let integers = |k: &str| k.starts_with("NAXIS") || k.starts_with("ZNAXIS") || k.ends_with("_ORDER");
    for c in header.cards() {
        let keyword = c.get(..8).unwrap_or(c).trim_end();
        let value = match header.get(keyword) {
            Some(fits::Value::Number(n)) if integers(keyword) => serde_json::json!(n as i64),
            Some(fits::Value::Number(n)) => serde_json::json!(n),
            Some(fits::Value::Text(t)) => serde_json::json!(t),
            _ => continue,
        };
        map.entry(keyword.to_owned()).or_insert(value);
    }
    map.insert("NAXIS".into(), serde_json::json!(2));
    map.insert("NAXIS1".into(), serde_json::json!(size.0 as i64));
    map.insert("NAXIS2".into(), serde_json::json!(size.1 as i64));
    serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
}

fn world_to_pixel(root: &Path, python: &Path) -> Result<(), String> {
    println!("## (iv) world → pixel against astropy's `all_world2pix` (tolerance 1e-12), 21 × 21 points over each image");
    println!();
    println!("For the TAN and SIP headers the world points are the detector's pixels through ours pixel → world (the forward polynomials: no solving); for the projections ours does not read, a grid of ±2° around the reference point. The time is for 100,000 conversions (median of 5 interleaved runs).");
    println!();
    // The test images' TAN header (CD diagonal), each SIP header of tests/fits/sip, and IRAC's
    // without its distortion (plain TAN, CD rotated).
    let mut cases: Vec<(String, Header)> = vec![("the test images' header (TAN, CD diagonal)".into(), image_header(-32))];
    for file in ["irac_sip.hdr", "j94f05bgq_flt.fits", "sip.fits", "sip2.fits"] {
        let path = root.join("tests/fits/sip").join(file);
        let found: Vec<Header> = if file.ends_with(".hdr") {
            let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
            let cards: Vec<String> = bytes.chunks(fits::CARD).map(|c| String::from_utf8_lossy(c).into_owned()).take_while(|c| c.trim_end() != "END").collect();
            vec![Header::from_cards(cards)]
        } else {
            headers(&path)?.into_iter().map(|(h, _)| h).collect()
        };
        for (i, header) in found.into_iter().filter(|h| h.number("A_ORDER").is_some()).enumerate() {
            let inverse = if header.number("AP_ORDER").is_some() { "AP/BP" } else { "none" };
            let label = if file.starts_with("j94") { format!("{file} SCI {} (ACS/WFC, SIP order 4, inverse: {inverse})", i + 1) } else { format!("{file} (SIP order {}, inverse: {inverse})", header.number("A_ORDER").unwrap_or(0.0)) };
            if file == "irac_sip.hdr" {
                let plain: Vec<String> = header.cards().iter().filter(|c| !["A_", "B_", "AP_", "BP_"].iter().any(|k| c.starts_with(k))).map(|c| c.replace("-SIP'", "'    ")).collect();
                cases.push(("irac_sip.hdr without SIP (plain TAN, CD rotated)".into(), Header::from_cards(plain)));
            }
            cases.push((label, header));
        }
    }
    // Projections beyond the zenithal ones ours reads: 0.01° pixels, CD diagonal.
    for code in ["CAR", "AIT", "MOL", "SFL"] {
        let mut cards: Vec<String> = image_header(-32).cards().iter().filter(|c| !c.starts_with("CTYPE") && !c.starts_with("CD") && !c.starts_with("CRPIX") && !c.starts_with("NAXIS")).cloned().collect();
        cards.extend([
            card("NAXIS1", "1000"),
            card("NAXIS2", "1000"),
            card("CTYPE1", &fits::quoted(&format!("RA---{code}"))),
            card("CTYPE2", &fits::quoted(&format!("DEC--{code}"))),
            card("CRPIX1", "500.5"),
            card("CRPIX2", "500.5"),
            card("CD1_1", "-0.01"),
            card("CD2_2", "0.01"),
        ]);
        cases.push((format!("{code} (CD diagonal)"), Header::from_cards(cards)));
    }
    // The points and astropy's answers.
    let mut worlds = Vec::new();
    let mut input = Vec::new();
    for (label, header) in &cases {
        let mut world = Vec::new();
        match ours_wcs::Wcs::from_header(header, 2).celestial {
            Some(celestial) => {
                let (cx, cy) = (header.number("CRPIX1").unwrap_or(0.0), header.number("CRPIX2").unwrap_or(0.0));
                for i in 0..=20 {
                    for j in 0..=20 {
                        let (px, py) = (0.5 + 2.0 * cx * i as f64 / 20.0, 0.5 + 2.0 * cy * j as f64 / 20.0);
                        world.push(celestial.pixel_to_world(px, py).ok_or_else(|| format!("{label}: pixel {px} {py}"))?);
                    }
                }
            }
            None => {
                let (l0, b0) = (header.number("CRVAL1").unwrap_or(0.0), header.number("CRVAL2").unwrap_or(0.0));
                for i in 0..=20 {
                    for j in 0..=20 {
                        world.push((l0 - 2.0 + 0.2 * i as f64, b0 - 2.0 + 0.2 * j as f64));
                    }
                }
            }
        }
        input.push(serde_json::json!({ "cards": header.cards(), "world": world.iter().map(|&(l, b)| [l, b]).collect::<Vec<_>>() }));
        worlds.push(world);
    }
    let mut child = Command::new(python).arg(root.join("tests/pyvo/world2pix.py")).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| format!("{}: {e}", python.display()))?;
    child.stdin.take().ok_or("no stdin")?.write_all(&serde_json::to_vec(&input).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("world2pix.py: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let astropy: Vec<Vec<(f64, f64)>> = serde_json::from_slice(&out.stdout).map_err(|e| format!("world2pix.py: {e}"))?;

    println!("| header | ours: worst error | `wcs`: worst error | ours: 10⁵ conversions | `wcs`: 10⁵ conversions | `wcs` / ours |");
    println!("|---|---|---|---|---|---|");
    for (((label, header), world), expected) in cases.iter().zip(&worlds).zip(&astropy) {
        let ours = ours_wcs::Wcs::from_header(header, 2);
        let size = |k: &str, crpix: &str| header.number(k).filter(|&n| n > 1.0).unwrap_or(2.0 * header.number(crpix).unwrap_or(0.0));
        let theirs = guarded(|| wcs::WCS::new(&wcs_params(header, (size("NAXIS1", "CRPIX1"), size("NAXIS2", "CRPIX2")))?).map_err(|e| e.to_string()));
        let error = |f: &dyn Fn(f64, f64) -> Option<(f64, f64)>| {
            let (mut worst, mut none) = (0f64, 0usize);
            for (&(lon, lat), &(x, y)) in world.iter().zip(expected) {
                match f(lon, lat) {
                    Some((px, py)) => worst = worst.max((px - x).hypot(py - y)),
                    None => none += 1,
                }
            }
            match none {
                0 => format!("{worst:.1e} px"),
                n if n == world.len() => format!("no answer for any of {n} points"),
                n => format!("{worst:.1e} px; no answer for {n} of {} points", world.len()),
            }
        };
        let ours_error = match (&ours.celestial, &ours.celestial_problem) {
            (Some(c), _) => error(&|lon, lat| c.world_to_pixel(lon, lat)),
            (None, problem) => format!("not read: {}", problem.as_deref().unwrap_or("no celestial axes")),
        };
        let theirs_error = match &theirs {
            Ok(w) => error(&|lon: f64, lat: f64| w.proj(&wcs::LonLat::new(lon.to_radians(), lat.to_radians())).map(|p| (p.x(), p.y()))),
            Err(e) => format!("fails: {e}"),
        };
        let times = race(
            5,
            &mut [
                &mut || {
                    let c = ours.celestial.as_ref().ok_or("not read")?;
                    let mut n = 0;
                    for k in 0..100_000 {
                        let (lon, lat) = world[k % world.len()];
                        n += usize::from(black_box(c.world_to_pixel(black_box(lon), black_box(lat))).is_some());
                    }
                    Ok(n)
                },
                &mut || {
                    let w = theirs.as_ref().map_err(|e| e.clone())?;
                    let mut n = 0;
                    for k in 0..100_000 {
                        let (lon, lat) = world[k % world.len()];
                        n += usize::from(black_box(w.proj(&wcs::LonLat::new(black_box(lon).to_radians(), black_box(lat).to_radians()))).is_some());
                    }
                    Ok(n)
                },
            ],
        );
        let time = |t: &Result<f64, String>| if t.as_ref().is_err_and(|e| e == "not read") { "–".to_owned() } else { ms(t) };
        println!("| {label} | {ours_error} | {theirs_error} | {} | {} | {} |", time(&times[0]), time(&times[1]), ratio(&times[1], &times[0]));
    }
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Capabilities, probed where a probe is cheap

fn capabilities(root: &Path) -> Result<(), String> {
    println!("## What each can do, probed");
    println!();
    // INHERIT = T: a keyword of the primary header only, asked of the first extension.
    let mef = root.join("tests/fits/test0.fits");
    let all = headers(&mef)?;
    let (primary, extension) = (&all[0].0, &all[1].0);
    let key = primary
        .cards()
        .iter()
        .map(|c| c.get(..8).unwrap_or(c).trim_end().to_owned())
        .find(|k| matches!(primary.get(k), Some(fits::Value::Text(_))) && extension.get(k).is_none())
        .ok_or("test0.fits: no keyword of the primary header alone")?;
    let ours_inherit = {
        let file = File::open(&mef).map_err(|e| e.to_string())?;
        let hdus = Image::open_all(&file).map_err(|e| e.to_string())?;
        fits::inherited(&hdus.primary, &hdus.images[0]).get(&key).is_some()
    };
    let fitsrs_inherit = guarded(|| {
        let hdus = fitsrs::Fits::from_reader(BufReader::new(File::open(&mef).map_err(|e| e.to_string())?));
        for hdu in hdus {
            if let fitsrs::HDU::XImage(hdu) = hdu.map_err(|e| e.to_string())? {
                return Ok(hdu.get_header().get(&key).is_some());
            }
        }
        Err("no extension".into())
    });
    let fitsio_inherit = guarded(|| {
        let mut file = fitsio::FitsFile::open(&mef).map_err(|e| e.to_string())?;
        let hdu = file.hdu(1).map_err(|e| e.to_string())?;
        Ok(hdu.read_key::<String>(&mut file, &key).is_ok())
    });
    let yes = |b: Result<bool, String>| match b {
        Ok(true) => "yes".to_owned(),
        Ok(false) => "no".to_owned(),
        Err(e) => format!("fails: {e}"),
    };
    println!("| | ours | fitsrs | fitsio |");
    println!("|---|---|---|---|");
    println!("| MEF `INHERIT = T`: the primary's `{key}` read from test0.fits extension 1 | {} | {} | {} |", yes(Ok(ours_inherit)), yes(fitsrs_inherit), yes(fitsio_inherit));
    println!();
    Ok(())
}
