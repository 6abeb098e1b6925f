//! The datasets: `DIR/NAME.fits` answers to `ID=NAME` and to the publisher DID
//! `AUTHORITY?NAME`. Headers are read once and kept while the file is unchanged.

use crate::service::fits::{self, FitsError, Image};
use crate::service::wcs::Wcs;
use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// An open dataset.
#[derive(Debug)]
pub struct Dataset {
    /// The open file; cutouts read it with positioned reads, so it is shared.
    pub file: File,
    /// Its image HDU: the only one, or of a multi-extension file the first with celestial axes
    /// (else the first), which DataLink describes.
    pub image: Image,
    /// Its world coordinates.
    pub wcs: Wcs,
    /// A multi-extension file (a primary HDU without data, then several images): every image
    /// extension with its world coordinates, in file order; empty for a single image.
    pub extensions: Vec<Extension>,
    /// The primary HDU's header.
    pub primary: fits::Header,
    /// The file mapped in memory, when the system allows: small cutouts copy from it without a
    /// system call per row.
    pub map: Option<memmap2::Mmap>,
    /// Whether the file is gzip-compressed as a whole (`NAME.fits.gz`): read forward only.
    pub gzip: bool,
    stamp: (u64, Option<SystemTime>),
}

/// An image extension of a multi-extension file.
#[derive(Debug)]
pub struct Extension {
    /// The extension.
    pub image: Image,
    /// Its world coordinates (with the primary's keywords when it says `INHERIT = T`).
    pub wcs: Wcs,
}

/// Why an ID names no dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    /// Not a name this archive could have (a path, a DID of another authority): `UsageError`.
    Invalid(String),
    /// A well-formed name with no file: `Error`, 404.
    NotFound(String),
    /// A file whose header cannot be read, or that is not a FITS image: the archive's data is
    /// damaged, not the client's request: `Error`, 500.
    Damaged(String),
    /// The data directory itself cannot be read (storage unmounted or failing):
    /// `ServiceUnavailable`, 503.
    Unavailable(String),
    /// A FITS image in a form this server does not read yet (tile compression): the service's
    /// limit, not the client's request nor damaged data: `Error`, 501.
    Unsupported(String),
    /// The caller may not have the dataset (see [`crate::service::rights`]).
    Denied(crate::service::rights::Denied),
}

/// How many datasets stay open by default (env `SODA_OPEN_DATASETS`): each holds a file
/// descriptor, and the process has only so many (often 1024, shared with connections).
pub const OPEN_DATASETS: usize = 128;

/// The datasets of a directory.
#[derive(Debug)]
pub struct Archive {
    dir: PathBuf,
    authority: Option<String>,
    open: Mutex<Open>,
}

/// The open datasets: at most `cap`, the least recently used closed first (a dataset in use by a
/// cutout stays open until that cutout ends).
#[derive(Debug)]
struct Open {
    cap: usize,
    clock: u64,
    datasets: HashMap<String, (Arc<Dataset>, u64)>,
}

impl Open {
    fn get(&mut self, name: &str) -> Option<Arc<Dataset>> {
        self.clock += 1;
        let (dataset, used) = self.datasets.get_mut(name)?;
        *used = self.clock;
        Some(dataset.clone())
    }

    fn insert(&mut self, name: &str, dataset: Arc<Dataset>) {
        self.clock += 1;
        if !self.datasets.contains_key(name) {
            // A scan on a miss, which opens and reads a file anyway.
            while self.datasets.len() >= self.cap.max(1) {
                let Some(oldest) = self.datasets.iter().min_by_key(|(_, (_, used))| *used).map(|(name, _)| name.clone()) else { break };
                self.datasets.remove(&oldest);
            }
        }
        self.datasets.insert(name.to_owned(), (dataset, self.clock));
    }
}

/// Whether `name` can be a file name in the directory: letters, digits, `-`, `_`, `.`, `+`, not
/// starting with a dot. No separators, no `..`, no percent-escapes: nothing leaves the directory.
pub fn is_dataset_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
}

impl Archive {
    /// The archive of `dir`; publisher DIDs are accepted under `authority` (`ivo://…`).
    pub fn new(dir: PathBuf, authority: Option<String>) -> Archive {
        Self::with_cap(dir, authority, OPEN_DATASETS)
    }

    /// [`Archive::new`] keeping at most `cap` datasets open.
    pub fn with_cap(dir: PathBuf, authority: Option<String>, cap: usize) -> Archive {
        Archive { dir, authority, open: Mutex::new(Open { cap, clock: 0, datasets: HashMap::new() }) }
    }

    /// Whether the data directory can be listed: what VOSI availability reports.
    pub fn readable(&self) -> Result<(), String> {
        std::fs::read_dir(&self.dir).map(drop).map_err(|e| format!("the data directory cannot be read: {e}"))
    }

    /// The name in the directory an ID stands for.
    pub fn name_of<'a>(&self, id: &'a str) -> Result<&'a str, Missing> {
        let name = match id.split_once('?') {
            Some((did, name)) if did.get(..6).is_some_and(|scheme| scheme.eq_ignore_ascii_case("ivo://")) => {
                let ours = self.authority.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(did.trim_end_matches('/')));
                if !ours {
                    return Err(Missing::NotFound(match &self.authority {
                        Some(a) => format!("`{id}` is not a dataset of {a}"),
                        None => format!("`{id}`: this service has no publisher DIDs (start it with --authority)"),
                    }));
                }
                name
            }
            _ => id,
        };
        if is_dataset_name(name) { Ok(name) } else { Err(Missing::Invalid(format!("ID `{id}` is not a dataset name"))) }
    }

    /// The dataset an ID names.
    pub fn get(&self, id: &str) -> Result<Arc<Dataset>, Missing> {
        let name = self.name_of(id)?;
        let not_found = || Missing::NotFound(format!("no dataset has ID `{id}`"));
        // `NAME.fits`, else `NAME.fits.fz` (tile-compressed, as `fpack` names it), else `NAME.fits.gz`.
        let plain = self.dir.join(format!("{name}.fits"));
        let (path, meta) = match std::fs::metadata(&plain) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ["fits.fz", "fits.gz"]
                .iter()
                .map(|extension| self.dir.join(format!("{name}.{extension}")))
                .find_map(|path| std::fs::metadata(&path).ok().map(|meta| (path, Ok(meta))))
                .unwrap_or((plain, Err(e))),
            found => (plain, found),
        };
        let gzip = path.extension().is_some_and(|e| e == "gz");
        let meta = meta.map_err(|e| match std::fs::metadata(&self.dir) {
            Ok(dir) if dir.is_dir() && e.kind() == std::io::ErrorKind::NotFound => not_found(),
            _ => Missing::Unavailable(format!("the data cannot be read: {e}")),
        })?;
        if !meta.is_file() {
            return Err(not_found());
        }
        let stamp = (meta.len(), meta.modified().ok());
        if let Some(dataset) = self.open.lock().ok().and_then(|mut open| open.get(name))
            && dataset.stamp == stamp
        {
            return Ok(dataset);
        }
        let file = match File::open(&path) {
            // Out of descriptors (EMFILE, ENFILE): close the datasets no cutout uses, once.
            Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) => {
                if let Ok(mut open) = self.open.lock() {
                    open.datasets.clear();
                }
                File::open(&path)
            }
            opened => opened,
        }
        .map_err(|e| Missing::Unavailable(format!("dataset `{id}` cannot be opened: {e}")))?;
        // A gzip stream is read forward: only its first image, whose header comes first.
        let hdus = if gzip { Image::open_gzip(&file) } else { Image::open_all(&file) };
        let hdus = hdus.map_err(|e| match e {
            FitsError::Io(e) if e.kind() == std::io::ErrorKind::InvalidInput || e.kind() == std::io::ErrorKind::InvalidData => Missing::Damaged(format!("dataset `{id}` is damaged: {e}")),
            FitsError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Missing::Damaged(format!("dataset `{id}` is damaged: {e}")),
            FitsError::Io(e) => Missing::Unavailable(format!("dataset `{id}` cannot be read: {e}")),
            FitsError::Format(m) => Missing::Damaged(format!("dataset `{id}` is damaged: {m}")),
            FitsError::Unsupported(m) => Missing::Unsupported(format!("dataset `{id}` cannot be cut: {m}")),
        })?;
        let fits::Hdus { primary, mut images } = hdus;
        let wcs_of = |image: &Image| Wcs::from_header(&fits::inherited(&primary, image), image.axes.len());
        let multi = images.len() > 1 && !images[0].is_primary();
        let (image, wcs, extensions) = if multi {
            let extensions: Vec<Extension> = images.into_iter().map(|image| Extension { wcs: wcs_of(&image), image }).collect();
            let described = extensions.iter().position(|e| e.wcs.celestial.is_some()).unwrap_or(0);
            (extensions[described].image.clone(), extensions[described].wcs.clone(), extensions)
        } else {
            let image = images.swap_remove(0);
            let wcs = wcs_of(&image);
            (image, wcs, Vec::new())
        };
        let map = if gzip { None } else { map(&file) };
        let dataset = Arc::new(Dataset { file, image, wcs, extensions, primary, map, gzip, stamp });
        if let Ok(mut open) = self.open.lock() {
            open.insert(name, dataset.clone());
        }
        Ok(dataset)
    }
}

/// Maps a dataset's file read-only.
#[allow(unsafe_code, reason = "memory-mapping a file is unsafe: see the SAFETY note")]
fn map(file: &File) -> Option<memmap2::Mmap> {
    // SAFETY: the mapping is read-only, and the archive's files are not modified in place: a
    // dataset is replaced by writing a new file and renaming it over the old one, which leaves
    // this mapping on the old file (and the new one is mapped on its next use, its length or time
    // having changed). Truncating a served file in place would make reads of the lost pages fault;
    // the README says not to.
    unsafe { memmap2::Mmap::map(file) }.ok()
}

impl fits::Source for memmap2::Mmap {
    fn copy(&self, at: u64, len: usize, buffer: &mut Vec<u8>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self[..].copy(at, len, buffer, out)
    }
}

/// Where one cutout reads its pixels.
pub enum Reader<'a> {
    /// The file mapped in memory.
    Mapped(&'a memmap2::Mmap),
    /// The file, with positioned reads.
    File(&'a File),
    /// A gzip file, decompressed forward for this cutout alone.
    Gzip(Box<fits::Gzipped<'a>>),
}

impl fits::Source for Reader<'_> {
    fn copy(&self, at: u64, len: usize, buffer: &mut Vec<u8>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            Reader::Mapped(map) => map.copy(at, len, buffer, out),
            Reader::File(file) => file.copy(at, len, buffer, out),
            Reader::Gzip(stream) => stream.copy(at, len, buffer, out),
        }
    }
}

impl Dataset {
    /// The length of the whole dataset as a cutout without filters sends it (DataLink's `#this`):
    /// its image, or the primary header and every image extension.
    pub fn whole_len(&self) -> u64 {
        let whole = |image: &Image| -> fits::PixelBox { image.axes.iter().map(|&n| (1, n)).collect() };
        if self.extensions.is_empty() {
            let pixels = whole(&self.image);
            return fits::cutout_len(&fits::cutout_header(&self.image, &pixels), &self.image, &pixels);
        }
        let primary = fits::multi_extension_primary(&self.primary).to_bytes().len() as u64;
        primary + self.extensions.iter().map(|e| (e, whole(&e.image))).map(|(e, pixels)| fits::cutout_len(&fits::extension_header(&e.image, &pixels), &e.image, &pixels)).sum::<u64>()
    }

    /// Where one cutout reads its pixels: a gzip file's own decompressing stream; otherwise the
    /// memory map when `mapped` asks for it and there is one (small cutouts), else the file.
    pub fn reader(&self, mapped: bool) -> Reader<'_> {
        match (&self.map, self.gzip) {
            (_, true) => Reader::Gzip(Box::new(fits::Gzipped::new(&self.file))),
            (Some(map), false) if mapped => Reader::Mapped(map),
            _ => Reader::File(&self.file),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_leave_the_directory_are_refused() {
        let archive = Archive::new("/tmp".into(), Some("ivo://example.org/data".into()));
        for id in ["../etc/passwd", "/etc/passwd", "..", ".hidden", "a/b", "a\\b", "%2e%2e%2fx", "a\0b", ""] {
            assert!(matches!(archive.name_of(id), Err(Missing::Invalid(_))), "{id:?}");
        }
        assert_eq!(archive.name_of("sample-image"), Ok("sample-image"));
        assert_eq!(archive.name_of("IVO://Example.org/data?m31.v2"), Ok("m31.v2"));
        assert!(matches!(archive.name_of("ivo://elsewhere.org/data?m31"), Err(Missing::NotFound(_))));
        assert!(matches!(archive.name_of("ivo://example.org/data?../x"), Err(Missing::Invalid(_))));
        // A multi-byte character across the scheme's end is not sliced through.
        assert!(matches!(archive.name_of("abcdeé?x"), Err(Missing::Invalid(_))));
        assert!(matches!(archive.name_of("ivo:/é?x"), Err(Missing::Invalid(_))));
    }
}
