//! FITS images: reading a header, copying a pixel box of the data, writing the cutout's header.
//!
//! Only what a cutout needs (FITS 4.0 §3–4, §7.1): the 2880-byte blocks, 80-character cards, the
//! primary HDU or the first IMAGE extension, and raw big-endian data copied as it is, so any
//! BITPIX, BSCALE and BZERO survive unchanged. A file may be gzip-compressed as a whole
//! (`NAME.fits.gz`): it is read forward as it is decompressed, never held in memory.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Mutex;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The FITS block size.
pub const BLOCK: usize = 2880;
/// The length of a header card.
pub const CARD: usize = 80;

/// A header: its cards, in order, without the `END` card.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    cards: Vec<String>,
}

/// A header value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `T` or `F`.
    Logical(bool),
    /// A number (integers included).
    Number(f64),
    /// A quoted string, trailing blanks removed.
    Text(String),
}

impl Header {
    /// Builds a header from `KEYWORD = value / comment` cards (each padded to 80 characters).
    pub fn from_cards(cards: impl IntoIterator<Item = String>) -> Header {
        Header { cards: cards.into_iter().map(|c| pad_card(&c)).collect() }
    }

    /// The cards, each 80 characters.
    pub fn cards(&self) -> &[String] {
        &self.cards
    }

    /// The value of `keyword`, if the header has it and its value parses.
    pub fn get(&self, keyword: &str) -> Option<Value> {
        self.cards.iter().find(|c| card_keyword(c) == keyword).and_then(|c| parse_value(c))
    }

    /// A numeric value.
    pub fn number(&self, keyword: &str) -> Option<f64> {
        match self.get(keyword)? {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A string value.
    pub fn text(&self, keyword: &str) -> Option<String> {
        match self.get(keyword)? {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Replaces the value of `keyword` (keeping its comment), or appends a card.
    pub fn set_number(&mut self, keyword: &str, value: f64) {
        let formatted = format_number(value);
        match self.cards.iter_mut().find(|c| card_keyword(c) == keyword) {
            Some(card) => {
                let comment = card_comment(card).map(str::to_owned);
                *card = value_card(keyword, &formatted, comment.as_deref());
            }
            None => self.cards.push(value_card(keyword, &formatted, None)),
        }
    }

    /// Removes every card of `keyword`.
    pub fn remove(&mut self, keyword: &str) {
        self.cards.retain(|c| card_keyword(c) != keyword);
    }

    /// The header as it is written: cards, `END`, blank padding to a whole block.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(padded(self.cards.len() * CARD + CARD));
        for card in &self.cards {
            bytes.extend_from_slice(card.as_bytes());
        }
        bytes.extend_from_slice(pad_card("END").as_bytes());
        bytes.resize(padded(bytes.len()), b' ');
        bytes
    }
}

/// `n` rounded up to whole blocks.
pub fn padded(n: usize) -> usize {
    n.div_ceil(BLOCK) * BLOCK
}

fn pad_card(card: &str) -> String {
    let mut card: String = card.chars().filter(|c| (' '..='~').contains(c)).take(CARD).collect();
    while card.len() < CARD {
        card.push(' ');
    }
    card
}

fn card_keyword(card: &str) -> &str {
    card.get(..8).unwrap_or(card).trim_end()
}

fn value_part(card: &str) -> Option<&str> {
    (card.get(8..10) == Some("= ")).then(|| &card[10..])
}

/// Splits a value field into the value and the comment, minding slashes inside quotes.
fn split_comment(field: &str) -> (&str, Option<&str>) {
    let mut in_quote = false;
    for (i, c) in field.char_indices() {
        match c {
            '\'' => in_quote = !in_quote,
            '/' if !in_quote => return (&field[..i], Some(field[i + 1..].trim())),
            _ => {}
        }
    }
    (field, None)
}

fn card_comment(card: &str) -> Option<&str> {
    value_part(card).and_then(|v| split_comment(v).1).filter(|c| !c.is_empty())
}

fn parse_value(card: &str) -> Option<Value> {
    let (value, _) = split_comment(value_part(card)?);
    let value = value.trim();
    if let Some(quoted) = value.strip_prefix('\'') {
        let end = quoted.rfind('\'')?;
        return Some(Value::Text(quoted[..end].replace("''", "'").trim_end().to_owned()));
    }
    match value {
        "T" => Some(Value::Logical(true)),
        "F" => Some(Value::Logical(false)),
        _ => value.replace(['D', 'd'], "E").parse().ok().map(Value::Number),
    }
}

/// A number as FITS writes it: integers without a point, others with enough digits to round-trip.
pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let s = format!("{value:E}");
        if s.contains('.') { s } else { s.replacen('E', ".0E", 1) }
    }
}

/// `KEYWORD = value / comment`, the value right-aligned in columns 11–30 as the standard's fixed
/// format asks.
pub fn value_card(keyword: &str, value: &str, comment: Option<&str>) -> String {
    let mut card = format!("{keyword:<8}= {value:>20}");
    if let Some(comment) = comment {
        card.push_str(" / ");
        card.push_str(comment);
    }
    pad_card(&card)
}

/// A quoted string value.
pub fn quoted(value: &str) -> String {
    format!("'{:<8}'", value.replace('\'', "''"))
}

/// An image HDU of a file: its header and where its data lies.
#[derive(Debug, Clone)]
pub struct Image {
    /// The header.
    pub header: Header,
    /// Bytes per pixel (`|BITPIX| / 8`).
    pub pixel_size: usize,
    /// The length of each axis, `NAXIS1` first.
    pub axes: Vec<usize>,
    /// Where the data starts in the file (for a tile-compressed image, in its uncompressed data).
    pub data_offset: u64,
    /// A tile-compressed image: how its tiles are read.
    pub tiled: Option<std::sync::Arc<crate::service::tiles::Tiled>>,
}

/// The HDUs of a file a cutout may read: its primary header and its images with data.
#[derive(Debug)]
pub struct Hdus {
    /// The primary HDU's header.
    pub primary: Header,
    /// Each image HDU with data, in file order.
    pub images: Vec<Image>,
}

/// Why a file cannot be served.
#[derive(Debug)]
pub enum FitsError {
    /// The file could not be read.
    Io(io::Error),
    /// The file is not a FITS image this server can cut.
    Format(String),
    /// The file is a FITS image in a form this server does not read yet.
    Unsupported(String),
}

impl std::fmt::Display for FitsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FitsError::Io(e) => write!(f, "{e}"),
            FitsError::Format(m) | FitsError::Unsupported(m) => f.write_str(m),
        }
    }
}

impl From<io::Error> for FitsError {
    fn from(e: io::Error) -> Self {
        FitsError::Io(e)
    }
}

impl Image {
    /// Reads the header of the primary HDU, or of the first IMAGE extension when the primary HDU
    /// has no data.
    pub fn open(file: &File) -> Result<Image, FitsError> {
        let length = file.metadata()?.len();
        Image::scan(&mut Positioned(file), Some(length), true).map(|mut hdus| hdus.images.swap_remove(0))
    }

    /// Every HDU of a file: its primary header, and each image HDU with data, in file order.
    pub fn open_all(file: &File) -> Result<Hdus, FitsError> {
        let length = file.metadata()?.len();
        Image::scan(&mut Positioned(file), Some(length), false)
    }

    /// The primary header and the first image of a gzip-compressed file, read forward as it is
    /// decompressed (only as far as the image's header). A tile-compressed image inside gzip is
    /// refused: its tiles are read at random.
    pub fn open_gzip(file: &File) -> Result<Hdus, FitsError> {
        let hdus = Image::scan(&mut Forward::new(gzip(file)), None, true)?;
        if hdus.images[0].tiled.is_some() {
            return Err(FitsError::Unsupported("its image is tile-compressed inside a gzip file, whose bytes are read forward only: serve it as `.fits.fz`".into()));
        }
        Ok(hdus)
    }

    /// Whether the image is the primary HDU's (not an extension's).
    pub fn is_primary(&self) -> bool {
        self.header.cards.first().is_some_and(|c| card_keyword(c) == "SIMPLE")
    }

    /// The HDUs `blocks` reads, from the start: the primary header and each image with data (only
    /// the first with `first_only`); `length`, the file's length when known.
    fn scan(blocks: &mut dyn Blocks, length: Option<u64>, first_only: bool) -> Result<Hdus, FitsError> {
        let mut offset = 0u64;
        let mut primary = None;
        let mut images = Vec::new();
        // A tile-compressed image (a BINTABLE with ZIMAGE = T) that is refused: why.
        let mut compressed = None;
        while length.is_none_or(|length| offset < length) {
            // After an image, what does not read as an HDU (trailing bytes) ends the file.
            let read = read_header(blocks, offset).and_then(|(header, header_len)| {
                let data_offset = offset + header_len as u64;
                if primary.is_none() {
                    primary = Some(header.clone());
                }
                // A tile-compressed image: read through its tiles, or refused saying why.
                match crate::service::tiles::Tiled::from_header(&header, data_offset) {
                    Ok(Some((tiled, mut image))) => {
                        image.tiled = Some(std::sync::Arc::new(tiled));
                        let (_, data_len) = Image::from_header(header, data_offset)?;
                        return Ok(((Some(image), data_len), data_offset));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        compressed.get_or_insert(e);
                    }
                }
                Ok((Image::from_header(header, data_offset)?, data_offset))
            });
            let ((image, data_len), data_offset) = match read {
                Ok(read) => read,
                Err(_) if !images.is_empty() => break,
                Err(e) => return Err(e),
            };
            if let Some(image) = image.filter(|i| !i.axes.is_empty() && i.axes.iter().all(|&n| n > 0)) {
                if image.tiled.is_none() && length.is_some_and(|length| image.data_offset + image.data_len() > length) {
                    return Err(FitsError::Format("the file is shorter than its header says".into()));
                }
                images.push(image);
                if first_only {
                    break;
                }
            }
            offset = data_offset + padded(data_len as usize) as u64;
        }
        let primary = primary.ok_or_else(|| FitsError::Format("the file is empty".into()))?;
        match (images.is_empty(), compressed) {
            (true, Some(refused)) => Err(refused),
            (true, None) => Err(FitsError::Format("the file holds no image".into())),
            (false, _) => Ok(Hdus { primary, images }),
        }
    }

    /// The image an HDU holds (none for a table), and the length of the HDU's data.
    fn from_header(header: Header, data_offset: u64) -> Result<(Option<Image>, u64), FitsError> {
        let first = header.cards.first().map(|c| card_keyword(c)).unwrap_or_default();
        let is_image = match first {
            "SIMPLE" => true,
            "XTENSION" => header.text("XTENSION").as_deref() == Some("IMAGE"),
            _ => return Err(FitsError::Format("not a FITS file (no SIMPLE card)".into())),
        };
        let bitpix = header.number("BITPIX").ok_or_else(|| FitsError::Format("no BITPIX".into()))?;
        let pixel_size = match bitpix as i64 {
            8 => 1,
            16 => 2,
            32 | -32 => 4,
            64 | -64 => 8,
            other => return Err(FitsError::Format(format!("BITPIX {other} is not valid"))),
        };
        let naxis = header.number("NAXIS").ok_or_else(|| FitsError::Format("no NAXIS".into()))? as usize;
        if naxis > 999 {
            return Err(FitsError::Format("NAXIS is out of range".into()));
        }
        let mut axes = Vec::with_capacity(naxis);
        for i in 1..=naxis {
            let n = header.number(&format!("NAXIS{i}")).ok_or_else(|| FitsError::Format(format!("no NAXIS{i}")))?;
            if !(0.0..=1e12).contains(&n) {
                return Err(FitsError::Format(format!("NAXIS{i} is out of range")));
            }
            axes.push(n as usize);
        }
        let pcount = header.number("PCOUNT").unwrap_or(0.0).max(0.0) as u64;
        let gcount = header.number("GCOUNT").unwrap_or(1.0).max(0.0) as u64;
        let data_len = if axes.is_empty() { 0 } else { axes.iter().map(|&n| n as u64).product::<u64>() * pixel_size as u64 * gcount.max(1) + pcount };
        if !is_image {
            return Ok((None, data_len));
        }
        Ok((Some(Image { header, pixel_size, axes, data_offset, tiled: None }), data_len))
    }

    /// The length of the data in bytes, without padding.
    pub fn data_len(&self) -> u64 {
        if self.axes.is_empty() {
            return 0;
        }
        self.axes.iter().map(|&n| n as u64).product::<u64>() * self.pixel_size as u64
    }
}

/// Reads blocks at increasing offsets: a file anywhere, a decompressed stream forward only.
trait Blocks {
    fn read_exact_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()>;
}

/// A file read at any offset.
struct Positioned<'a>(&'a File);

impl Blocks for Positioned<'_> {
    fn read_exact_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
        FileExt::read_exact_at(self.0, buf, at)
    }
}

/// A stream read forward: bytes before the offset asked for are skipped, and an offset already
/// passed cannot be read again.
pub struct Forward<R> {
    inner: R,
    position: u64,
}

impl<R: Read> Forward<R> {
    /// `inner`, from its start.
    pub fn new(inner: R) -> Self {
        Forward { inner, position: 0 }
    }

    /// Skips to `at`.
    fn seek(&mut self, at: u64) -> io::Result<()> {
        if at < self.position {
            return Err(io::Error::other(format!("a compressed file is read forward: offset {at} is behind {}", self.position)));
        }
        let skip = at - self.position;
        let skipped = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())?;
        self.position += skipped;
        if skipped < skip {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file is shorter than its header says"));
        }
        Ok(())
    }
}

impl<R: Read> Blocks for Forward<R> {
    fn read_exact_at(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
        self.seek(at)?;
        self.inner.read_exact(buf)?;
        self.position += buf.len() as u64;
        Ok(())
    }
}

/// A file read from its start with positioned reads, so that readers of one shared file never
/// move each other's position.
pub struct FromStart<'a> {
    file: &'a File,
    position: u64,
}

impl Read for FromStart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.position)?;
        self.position += n as u64;
        Ok(n)
    }
}

/// The decompressed bytes of a gzip file (of every member, as `gzip -d` gives them), read from
/// its start through a 64 KiB buffer.
pub fn gzip(file: &File) -> flate2::read::MultiGzDecoder<io::BufReader<FromStart<'_>>> {
    flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(64 * 1024, FromStart { file, position: 0 }))
}

/// A cutout's source in a gzip-compressed file: decompressed from the start as the cutout reads
/// forward, so a cutout costs the decompression of the file up to its box's last byte, and its
/// memory the decoder's window and buffers (about 100 KiB) and the copy buffer.
pub struct Gzipped<'a>(Mutex<Forward<flate2::read::MultiGzDecoder<io::BufReader<FromStart<'a>>>>>);

impl<'a> Gzipped<'a> {
    /// The decompressed bytes of `file`, for one cutout.
    pub fn new(file: &'a File) -> Self {
        Gzipped(Mutex::new(Forward::new(gzip(file))))
    }
}

impl Source for Gzipped<'_> {
    fn copy(&self, at: u64, len: usize, buffer: &mut Vec<u8>, out: &mut dyn Write) -> io::Result<()> {
        let mut stream = self.0.lock().map_err(|_| io::Error::other("a cutout's reader was poisoned"))?;
        copy_through(at, len, buffer, out, |chunk, at| stream.read_exact_at(chunk, at))
    }
}

fn read_header(blocks: &mut dyn Blocks, offset: u64) -> Result<(Header, usize), FitsError> {
    let mut cards = Vec::new();
    let mut block = [0u8; BLOCK];
    let mut at = offset;
    loop {
        blocks.read_exact_at(&mut block, at).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => FitsError::Format("the header has no END card".into()),
            _ => FitsError::Io(e),
        })?;
        at += BLOCK as u64;
        for raw in block.chunks(CARD) {
            let card = std::str::from_utf8(raw).map_err(|_| FitsError::Format("a header card is not ASCII".into()))?;
            if card_keyword(card) == "END" {
                return Ok((Header { cards }, (at - offset) as usize));
            }
            cards.push(card.to_owned());
        }
        if cards.len() > 100_000 {
            return Err(FitsError::Format("the header has no END card".into()));
        }
    }
}

/// A box of pixels: for each axis, the first and last pixel, 1-based and inclusive as in FITS.
pub type PixelBox = Vec<(usize, usize)>;

/// The header of a cutout of `image` over `pixels`: NAXISn set to the box, CRPIXn shifted; a
/// checksum no longer true is dropped; an extension becomes a primary HDU.
pub fn cutout_header(image: &Image, pixels: &PixelBox) -> Header {
    let mut header = extension_header(image, pixels);
    if card_keyword(&header.cards[0]) == "XTENSION" {
        header.cards[0] = value_card("SIMPLE", "T", Some("conforms to FITS standard"));
        header.remove("PCOUNT");
        header.remove("GCOUNT");
    }
    header
}

/// The header an extension's keywords are read from: its own, and with `INHERIT = T` the primary
/// header's keywords it lacks (not those describing the primary's own data).
pub fn inherited(primary: &Header, image: &Image) -> Header {
    if image.is_primary() || !matches!(image.header.get("INHERIT"), Some(Value::Logical(true))) {
        return image.header.clone();
    }
    let structural = |k: &str| ["SIMPLE", "BITPIX", "EXTEND", "COMMENT", "HISTORY", "", "CHECKSUM", "DATASUM"].contains(&k) || k.starts_with("NAXIS");
    let mut header = image.header.clone();
    for card in &primary.cards {
        let keyword = card_keyword(card);
        if !structural(keyword) && image.header.get(keyword).is_none() {
            header.cards.push(card.clone());
        }
    }
    header
}

/// The header of the cut extension `image` over `pixels` in a multi-extension cutout: as
/// [`cutout_header`], but it stays an extension (EXTNAME, EXTVER and INHERIT kept).
pub fn extension_header(image: &Image, pixels: &PixelBox) -> Header {
    let mut header = image.header.clone();
    for (i, &(first, last)) in pixels.iter().enumerate() {
        let axis = i + 1;
        header.set_number(&format!("NAXIS{axis}"), (last - first + 1) as f64);
        if let Some(crpix) = header.number(&format!("CRPIX{axis}")) {
            header.set_number(&format!("CRPIX{axis}"), crpix - (first as f64 - 1.0));
        }
    }
    header.remove("CHECKSUM");
    header.remove("DATASUM");
    header
}

/// The primary header of a multi-extension cutout: the file's own, without a checksum no longer
/// true, saying that extensions follow.
pub fn multi_extension_primary(primary: &Header) -> Header {
    let mut header = primary.clone();
    header.remove("CHECKSUM");
    header.remove("DATASUM");
    if header.get("EXTEND").is_none() {
        let after = header.cards.iter().rposition(|c| card_keyword(c).starts_with("NAXIS")).map_or(header.cards.len(), |i| i + 1);
        header.cards.insert(after, value_card("EXTEND", "T", Some("extensions follow")));
    }
    header
}

/// The primary header of a file made of other files' cutouts: no data, extensions follow.
pub fn combined_primary() -> Header {
    Header::from_cards([
        value_card("SIMPLE", "T", Some("conforms to FITS standard")),
        value_card("BITPIX", "8", None),
        value_card("NAXIS", "0", None),
        value_card("EXTEND", "T", Some("the cutouts follow, one extension each")),
    ])
}

/// `header` as an IMAGE extension's: a primary header's SIMPLE becomes XTENSION (with PCOUNT and
/// GCOUNT after the axes, and no EXTEND); an extension's stays one. `INHERIT` is dropped: the
/// keywords it would take from its own file's primary header are in it already (see [`inherited`]).
pub fn as_extension(header: &Header) -> Header {
    let mut header = header.clone();
    header.remove("INHERIT");
    if header.cards.first().is_some_and(|c| card_keyword(c) == "SIMPLE") {
        header.cards[0] = value_card("XTENSION", "'IMAGE   '", Some("a cutout"));
        header.remove("EXTEND");
        let after = header.cards.iter().rposition(|c| card_keyword(c).starts_with("NAXIS")).map_or(header.cards.len(), |i| i + 1);
        header.cards.insert(after, value_card("GCOUNT", "1", None));
        header.cards.insert(after, value_card("PCOUNT", "0", None));
    }
    header
}

/// The size in bytes of the cutout file [`write_cutout`] writes.
pub fn cutout_len(header: &Header, image: &Image, pixels: &PixelBox) -> u64 {
    let data: u64 = pixels.iter().map(|&(a, b)| (b - a + 1) as u64).product::<u64>() * image.pixel_size as u64;
    // The header's length without writing it: its cards, END, padding.
    padded((header.cards().len() + 1) * CARD) as u64 + padded(data as usize) as u64
}

/// Where pixels are read from: an open file (positioned reads through a buffer of at most 1 MiB)
/// or the file's bytes mapped in memory (copied straight to the output).
pub trait Source {
    /// Writes `len` bytes from offset `at` to `out`, using `buffer` if it needs one.
    fn copy(&self, at: u64, len: usize, buffer: &mut Vec<u8>, out: &mut dyn Write) -> io::Result<()>;
}

impl Source for File {
    fn copy(&self, at: u64, len: usize, buffer: &mut Vec<u8>, out: &mut dyn Write) -> io::Result<()> {
        copy_through(at, len, buffer, out, |chunk, at| FileExt::read_exact_at(self, chunk, at))
    }
}

/// Copies `len` bytes from offset `at` to `out` through `buffer` (at most 1 MiB), each chunk read
/// by `read` at its offset.
fn copy_through(mut at: u64, mut len: usize, buffer: &mut Vec<u8>, out: &mut dyn Write, mut read: impl FnMut(&mut [u8], u64) -> io::Result<()>) -> io::Result<()> {
    buffer.resize(len.min(1 << 20), 0);
    while len > 0 {
        let n = len.min(buffer.len());
        read(&mut buffer[..n], at)?;
        out.write_all(&buffer[..n])?;
        at += n as u64;
        len -= n;
    }
    Ok(())
}

impl Source for [u8] {
    fn copy(&self, at: u64, len: usize, _: &mut Vec<u8>, out: &mut dyn Write) -> io::Result<()> {
        let bytes = usize::try_from(at).ok().and_then(|at| self.get(at..at.checked_add(len)?));
        out.write_all(bytes.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the file is shorter than its header says"))?)
    }
}

/// Writes the cutout of `image` (read from `source`) over `pixels` as a FITS file: `header`, then
/// the box's data copied run by run (a run is the longest stretch contiguous on disk), then zero
/// padding. Memory stays at one buffer of at most 1 MiB whatever the box.
pub fn write_cutout(source: &(impl Source + ?Sized), image: &Image, pixels: &PixelBox, header: &Header, out: &mut dyn Write) -> io::Result<()> {
    if let Some(tiled) = &image.tiled {
        // The box's pixels from the tiles they fall in.
        return write_cutout_from(&crate::service::tiles::TiledSource::new(tiled, source), image, pixels, header, out);
    }
    write_cutout_from(source, image, pixels, header, out)
}

fn write_cutout_from(source: &(impl Source + ?Sized), image: &Image, pixels: &PixelBox, header: &Header, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(&header.to_bytes())?;
    let size = image.pixel_size as u64;
    // Axes the box covers whole, from the first, merge into one run with the next axis.
    let mut run_axes = 0;
    let mut run = (pixels[0].1 - pixels[0].0 + 1) as u64;
    while run_axes + 1 < pixels.len() && pixels[run_axes] == (1, image.axes[run_axes]) {
        run_axes += 1;
        run *= (pixels[run_axes].1 - pixels[run_axes].0 + 1) as u64;
    }
    let strides: Vec<u64> = image.axes.iter().scan(1u64, |s, &n| {
        let stride = *s;
        *s *= n as u64;
        Some(stride)
    }).collect();
    let run_bytes = run * size;
    let mut buffer = Vec::new();
    // Counter over the axes above the run, each from its first to its last pixel.
    let mut index: Vec<usize> = pixels.iter().map(|p| p.0).collect();
    let mut written = 0u64;
    loop {
        let start: u64 = index.iter().zip(&strides).map(|(&i, &s)| (i as u64 - 1) * s).sum();
        source.copy(image.data_offset + start * size, run_bytes as usize, &mut buffer, out)?;
        written += run_bytes;
        // Next run: step the first axis above the run, carrying upwards.
        let mut axis = run_axes + 1;
        loop {
            if axis >= index.len() {
                let padding = padded(written as usize) as u64 - written;
                out.write_all(&vec![0u8; padding as usize])?;
                return out.flush();
            }
            if index[axis] < pixels[axis].1 {
                index[axis] += 1;
                break;
            }
            index[axis] = pixels[axis].0;
            axis += 1;
        }
    }
}

/// Writes a whole image file: `header` (with SIMPLE, BITPIX, NAXIS… first) and big-endian `data`.
pub fn write_image(path: &Path, header: &Header, data: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("fits.part");
    let mut file = io::BufWriter::new(File::create(&tmp)?);
    file.write_all(&header.to_bytes())?;
    file.write_all(data)?;
    file.write_all(&vec![0u8; padded(data.len()) - data.len()])?;
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_format() {
        let h = Header::from_cards([
            value_card("NAXIS1", "100", Some("x")),
            "CTYPE1  = 'RA---TAN'           / a / b".to_owned(),
            "OBJECT  = 'it''s / here'".to_owned(),
            "CDELT1  = -2.7777777777778D-04".to_owned(),
            "SIMPLE  =                    T".to_owned(),
        ]);
        assert_eq!(h.number("NAXIS1"), Some(100.0));
        assert_eq!(h.text("CTYPE1").as_deref(), Some("RA---TAN"));
        assert_eq!(h.text("OBJECT").as_deref(), Some("it's / here"));
        assert_eq!(h.number("CDELT1"), Some(-2.7777777777778e-4));
        assert_eq!(h.get("SIMPLE"), Some(Value::Logical(true)));
        assert_eq!(format_number(12.0), "12");
        assert_eq!(format_number(0.5), "5.0E-1");
        assert_eq!(format_number(256.5).parse::<f64>().unwrap(), 256.5);
    }

    #[test]
    fn set_keeps_the_comment_and_the_header_pads_to_a_block() {
        let mut h = Header::from_cards([value_card("CRPIX1", "10.5", Some("reference pixel"))]);
        h.set_number("CRPIX1", -3.25);
        assert_eq!(h.number("CRPIX1"), Some(-3.25));
        let card = "CRPIX1  =              -3.25E0 / reference pixel";
        assert_eq!(h.cards()[0], format!("{card:<80}"), "the value right-aligned in columns 11-30, the comment kept");
        let bytes = h.to_bytes();
        assert_eq!(bytes.len(), BLOCK);
        assert_eq!(&bytes[CARD..CARD + 3], b"END");
    }

    #[test]
    fn a_box_is_copied_run_by_run() {
        let dir = std::env::temp_dir().join(format!("fits-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cube.fits");
        let (nx, ny, nz) = (7usize, 5usize, 3usize);
        let header = Header::from_cards([
            value_card("SIMPLE", "T", None),
            value_card("BITPIX", "16", None),
            value_card("NAXIS", "3", None),
            value_card("NAXIS1", &nx.to_string(), None),
            value_card("NAXIS2", &ny.to_string(), None),
            value_card("NAXIS3", &nz.to_string(), None),
            value_card("CRPIX1", "4", None),
        ]);
        let data: Vec<u8> = (0..nx * ny * nz).flat_map(|i| (i as i16).to_be_bytes()).collect();
        write_image(&path, &header, &data).unwrap();
        let file = File::open(&path).unwrap();
        let image = Image::open(&file).unwrap();
        assert_eq!(image.axes, vec![7, 5, 3]);
        for pixels in [vec![(2, 4), (3, 5), (2, 3)], vec![(1, 7), (2, 3), (1, 3)], vec![(1, 7), (1, 5), (3, 3)]] {
            let out_header = cutout_header(&image, &pixels);
            let mut out = Vec::new();
            write_cutout(&file, &image, &pixels, &out_header, &mut out).unwrap();
            assert_eq!(out.len() as u64, cutout_len(&out_header, &image, &pixels));
            let mut expected = Vec::new();
            for z in pixels[2].0..=pixels[2].1 {
                for y in pixels[1].0..=pixels[1].1 {
                    for x in pixels[0].0..=pixels[0].1 {
                        expected.push((((z - 1) * ny + (y - 1)) * nx + (x - 1)) as i16);
                    }
                }
            }
            let got: Vec<i16> = out[BLOCK..BLOCK + expected.len() * 2].chunks(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect();
            assert_eq!(got, expected, "{pixels:?}");
            let cut = Header::from_cards(out[..BLOCK].chunks(CARD).map(|c| String::from_utf8(c.to_vec()).unwrap()).take_while(|c| !c.starts_with("END ")));
            assert_eq!(cut.number("NAXIS1"), Some((pixels[0].1 - pixels[0].0 + 1) as f64));
            assert_eq!(cut.number("CRPIX1"), Some(4.0 - (pixels[0].0 as f64 - 1.0)));
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let dir = std::env::temp_dir().join(format!("fits-broken-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in [
            ("empty", Vec::new()),
            ("text", b"hello".repeat(1000)),
            ("no-end", Header::from_cards([value_card("SIMPLE", "T", None)]).to_bytes()[..BLOCK - 80].iter().copied().chain(std::iter::repeat_n(b' ', 80)).collect()),
            ("short", {
                let mut h = Header::from_cards(["SIMPLE  =                    T".into(), value_card("BITPIX", "8", None), value_card("NAXIS", "1", None), value_card("NAXIS1", "100000", None)]).to_bytes();
                h.extend([0u8; 10]);
                h
            }),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            assert!(Image::open(&File::open(&path).unwrap()).is_err(), "{name}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
