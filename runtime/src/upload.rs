//! DALI UPLOAD (DALI 1.1 §3.2.4, TAP 1.1 §2.7.5): the tables a request uploads, each
//! `name,URI`, where the URI is an `http(s)` URL the service reads or `param:PART`, a file part
//! of the same multipart request — or, for an asynchronous job, of the request that created it.
//!
//! A file part is read as it arrives: up to [`crate::body::SPILL`] in memory, larger ones into
//! a temporary file (removed when the request is done with it), at most
//! [`crate::body::MAX_UPLOAD`] in files per request. A job's files are kept in the job's folder
//! when it is created, removed with it, and read back when it runs.

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file part of a multipart request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// The part's name (`t1` for `UPLOAD=t1,param:t1`).
    pub name: String,
    /// The part's declared content type, if any.
    pub content_type: Option<String>,
    /// Its bytes, in memory or in a file.
    pub content: Content,
}

/// The bytes of a file part: in memory when small, in a file when large (a temporary one for a
/// request, removed once nothing holds it; the job's own for a job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Held in memory.
    Memory(Bytes),
    /// In a file.
    File(Arc<OnDisk>),
}

/// A file holding a part's bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct OnDisk {
    path: PathBuf,
    len: u64,
    /// Removed when dropped: a request's temporary file.
    temporary: bool,
}

impl OnDisk {
    /// A temporary file of `len` bytes at `path`, removed when dropped.
    pub(crate) fn temporary(path: PathBuf, len: u64) -> Self {
        OnDisk { path, len, temporary: true }
    }

    /// The same file, now `len` bytes long.
    pub(crate) fn with_len(self, len: u64) -> Self {
        let mut file = self;
        file.len = len;
        file
    }
}

impl Drop for OnDisk {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Content {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Memory(bytes) => bytes.len() as u64,
            Content::File(file) => file.len,
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file holding it, when it is not in memory: read it from there to keep memory small.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Content::Memory(_) => None,
            Content::File(file) => Some(&file.path),
        }
    }

    /// The bytes, read into memory when they are in a file. Blocking for a file.
    pub fn bytes(&self) -> std::io::Result<Bytes> {
        match self {
            Content::Memory(bytes) => Ok(bytes.clone()),
            Content::File(file) => std::fs::read(&file.path).map(Bytes::from),
        }
    }

    /// Writes the bytes to `to` (a hard link for a file, when the file system allows).
    fn save(&self, to: &Path) -> std::io::Result<()> {
        match self {
            Content::Memory(bytes) => std::fs::write(to, bytes),
            Content::File(file) => {
                let _ = std::fs::remove_file(to);
                std::fs::hard_link(&file.path, to).or_else(|_| std::fs::copy(&file.path, to).map(drop))
            }
        }
    }
}

/// The file parts of a request, which UPLOAD's `param:PART` references name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uploads {
    files: Vec<File>,
}

/// Where the table of one UPLOAD comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// `param:PART`: a file of the request.
    Inline(&'a File),
    /// An `http` or `https` URL, for the service to read.
    Url(&'a str),
}

/// One UPLOAD value, resolved: the table's name (`TAP_UPLOAD.name` in TAP) and its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upload<'a> {
    /// The name the table is uploaded as.
    pub table: &'a str,
    /// Where its content comes from.
    pub source: Source<'a>,
}

impl Uploads {
    /// The uploads of `files`.
    pub fn new(files: Vec<File>) -> Self {
        Uploads { files }
    }

    /// Every file, in the order the request sent them.
    pub fn files(&self) -> &[File] {
        &self.files
    }

    /// Whether the request sent no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The file part `name` (its exact name first, then ignoring ASCII case, as DALI compares
    /// parameter names).
    pub fn file(&self, name: &str) -> Option<&File> {
        self.files.iter().find(|f| f.name == name).or_else(|| self.files.iter().find(|f| f.name.eq_ignore_ascii_case(name)))
    }

    /// The UPLOAD value `value` (`name,URI`) resolved: a `param:` URI to the file it names.
    /// A value that is not `name,URI`, a `param:` naming no file of the request, and a URI that
    /// is neither `http(s)` nor `param:` are `UsageError`s saying which.
    pub fn resolve<'a>(&'a self, value: &'a str) -> Result<Upload<'a>, crate::Error> {
        let (table, uri) = value.split_once(',').ok_or_else(|| crate::Error::usage(format!("UPLOAD `{value}` is not `name,URI`")))?;
        let named = table.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !named {
            return Err(crate::Error::usage(format!("UPLOAD `{value}`: `{table}` is not a table name (a letter, then letters, digits or `_`)")));
        }
        let scheme = uri.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
        let source = match scheme.as_deref() {
            Some("param") => {
                let part = &uri["param:".len()..];
                Source::Inline(self.file(part).ok_or_else(|| crate::Error::usage(format!("UPLOAD `{value}`: the request has no file part `{part}`")))?)
            }
            Some("http" | "https") => Source::Url(uri),
            _ => return Err(crate::Error::usage(format!("UPLOAD `{value}`: `{uri}` is neither an http(s) URL nor `param:PART`"))),
        };
        Ok(Upload { table, source })
    }

    /// The files of a request as generated code reads it: the multipart body's file parts, and
    /// those stored with a job when the request is a job's parameters.
    #[doc(hidden)]
    pub fn received(raw: &crate::params::RawRequest, parts: &http::request::Parts) -> Uploads {
        let mut files: Vec<File> = raw.files().iter().map(|f| File { name: f.name.clone(), content_type: f.content_type.clone(), content: f.content.clone() }).collect();
        if let Some(stored) = parts.extensions.get::<Uploads>() {
            files.extend(stored.files.iter().cloned());
        }
        Uploads { files }
    }

    /// Whether a job can keep these files: each part name is `[A-Za-z0-9_.-]{1,64}`, not
    /// starting with `.`, so that no name leaves the job's folder; otherwise the sentence for a
    /// `UsageError`.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self.files.iter().find(|f| !part_name(&f.name)) {
            Some(file) => Err(format!("the file part `{}` has a name a job cannot keep: use letters, digits, `_`, `.` and `-` (at most 64, not starting with `.`)", file.name)),
            None => Ok(()),
        }
    }

    /// Writes the files into `dir` (a job's), each under its part name, with its content type
    /// beside it; refused as [`Uploads::check`] says.
    pub(crate) fn store(&self, dir: &Path) -> Result<(), String> {
        self.check()?;
        let (data, types) = (dir.join("data"), dir.join("type"));
        let written = std::fs::create_dir_all(&data).and_then(|()| std::fs::create_dir_all(&types)).and_then(|()| {
            self.files.iter().try_for_each(|file| {
                file.content.save(&data.join(&file.name))?;
                std::fs::write(types.join(&file.name), file.content_type.as_deref().unwrap_or_default())
            })
        });
        written.map_err(|e| format!("the job's files could not be written: {e}"))
    }

    /// The files [`Uploads::store`] wrote into `dir`, left there (not read into memory); none
    /// when there is no such folder.
    pub(crate) fn load(dir: &Path) -> Uploads {
        let Ok(entries) = std::fs::read_dir(dir.join("data")) else { return Uploads::default() };
        let mut files: Vec<File> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let len = entry.metadata().ok()?.len();
                let content_type = std::fs::read_to_string(dir.join("type").join(&name)).ok().filter(|t| !t.is_empty());
                Some(File { name, content_type, content: Content::File(Arc::new(OnDisk { path: entry.path(), len, temporary: false })) })
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Uploads { files }
    }
}

/// Whether a part name can be a file name in a job's folder.
fn part_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, data: &'static [u8]) -> File {
        File { name: name.to_owned(), content_type: Some("application/x-votable+xml".to_owned()), content: Content::Memory(Bytes::from_static(data)) }
    }

    #[test]
    fn upload_values_resolve_to_files_or_urls() {
        let uploads = Uploads::new(vec![file("t1", b"<VOTABLE/>")]);
        let inline = uploads.resolve("mine,param:t1").unwrap();
        assert_eq!(inline.table, "mine");
        assert!(matches!(inline.source, Source::Inline(f) if f.content.bytes().unwrap() == "<VOTABLE/>"));
        assert!(matches!(uploads.resolve("x,param:T1").unwrap().source, Source::Inline(_)), "part names ignore case");
        assert_eq!(uploads.resolve("t,https://example.org/t.vot").unwrap().source, Source::Url("https://example.org/t.vot"));
        for (bad, says) in [("t1", "is not `name,URI`"), ("1t,param:t1", "is not a table name"), ("t,param:t2", "has no file part `t2`"), ("t,ftp://x/y", "neither an http(s) URL")] {
            let error = uploads.resolve(bad).unwrap_err();
            assert_eq!(error.fault, crate::ivoa::Fault::Usage);
            assert!(error.message.contains(says), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn a_jobs_files_are_stored_and_read_back_and_no_name_leaves_the_folder() {
        let dir = std::env::temp_dir().join(format!("ivoagen-uploads-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let spilled = dir.join("spilled");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&spilled, b"two").unwrap();
        let on_disk = Content::File(Arc::new(OnDisk::temporary(spilled.clone(), 3)));
        let uploads = Uploads::new(vec![file("t1", b"one"), File { name: "t2.csv".into(), content_type: None, content: on_disk }]);
        let job = dir.join("job");
        uploads.store(&job).unwrap();
        let loaded = Uploads::load(&job);
        let read: Vec<(&str, Option<&str>, Bytes)> = loaded.files().iter().map(|f| (f.name.as_str(), f.content_type.as_deref(), f.content.bytes().unwrap())).collect();
        assert_eq!(read, [("t1", Some("application/x-votable+xml"), Bytes::from_static(b"one")), ("t2.csv", None, Bytes::from_static(b"two"))]);
        assert!(loaded.files()[1].content.path().is_some(), "a job's file is read where it is");
        drop(uploads);
        assert!(!spilled.exists(), "a request's temporary file goes with it");
        drop(loaded);
        assert!(job.join("data/t2.csv").exists(), "a job's files stay");
        for bad in ["../x", ".hidden", "a/b", ""] {
            assert!(Uploads::new(vec![file(bad, b"x")]).store(&dir).is_err(), "{bad:?}");
        }
        assert_eq!(Uploads::load(&dir.join("nothing")), Uploads::default());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
