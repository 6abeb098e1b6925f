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
use std::sync::atomic::{AtomicU64, Ordering};

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
#[derive(Debug)]
pub struct OnDisk {
    path: PathBuf,
    len: u64,
    /// Removed when dropped: a request's temporary file.
    temporary: bool,
    /// The budget its bytes are counted against, and how many are, given back when dropped.
    counted: Option<(&'static DiskBudget, u64)>,
}

impl PartialEq for OnDisk {
    fn eq(&self, other: &Self) -> bool {
        (&self.path, self.len, self.temporary) == (&other.path, other.len, other.temporary)
    }
}

impl Eq for OnDisk {}

impl OnDisk {
    /// A temporary file of `len` bytes at `path`, removed when dropped.
    #[cfg(test)]
    fn temporary(path: PathBuf, len: u64) -> Self {
        OnDisk { path, len, temporary: true, counted: None }
    }

    /// An empty temporary file at `path`, whose bytes are counted against `budget` as they are
    /// written ([`OnDisk::count`]).
    pub(crate) fn counted(path: PathBuf, budget: &'static DiskBudget) -> Self {
        OnDisk { path, len: 0, temporary: true, counted: Some((budget, 0)) }
    }

    /// Counts `n` bytes more, about to be written, against its budget: false, counting nothing,
    /// if they do not fit.
    pub(crate) fn count(&mut self, n: u64) -> bool {
        let Some((budget, counted)) = &mut self.counted else { return true };
        let limit = budget.limit.load(Ordering::SeqCst);
        let fits = budget.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| used.checked_add(n).filter(|total| *total <= limit)).is_ok();
        if fits {
            *counted += n;
        }
        fits
    }

    /// The same file, now `len` bytes long.
    pub(crate) fn with_len(self, len: u64) -> Self {
        let mut file = self;
        file.len = len;
        file
    }
}

/// What the temporary files of all requests may hold at once.
#[derive(Debug)]
pub(crate) struct DiskBudget {
    used: AtomicU64,
    limit: AtomicU64,
}

impl DiskBudget {
    pub(crate) const fn new(limit: u64) -> Self {
        DiskBudget { used: AtomicU64::new(0), limit: AtomicU64::new(limit) }
    }

    /// Holds files up to `limit` bytes from now on (what is held already stays).
    pub(crate) fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::SeqCst);
    }

    /// The bytes counted now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }
}

impl Drop for OnDisk {
    fn drop(&mut self) {
        if let Some((budget, counted)) = self.counted {
            budget.used.fetch_sub(counted, Ordering::SeqCst);
        }
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
                Some(File { name, content_type, content: Content::File(Arc::new(OnDisk { path: entry.path(), len, temporary: false, counted: None })) })
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

/// The folder, in the system's temporary folder (`TMPDIR`), holding every process's folder of
/// temporary files for large file parts.
const SPILL_FOLDER: &str = "ivoagen-uploads";

/// What [`sweep_spill_folders`] removed: the folders left by processes that ended without
/// removing them (killed while receiving files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Folders removed.
    pub folders: usize,
    /// Bytes of the files in them.
    pub bytes: u64,
}

/// This process's folder for the temporary files of large file parts, in `ivoagen-uploads/` of
/// the system's temporary folder, named by the process's ID, start time, PID namespace and host
/// (`PID.START.NAMESPACE@HOST`; on Linux, where `/proc` tells them): made at first use, for its
/// user only. Blocking.
pub fn spill_folder() -> std::io::Result<&'static Path> {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(folder) = FOLDER.get() {
        return Ok(folder);
    }
    let _making = MAKING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(folder) = FOLDER.get() {
        return Ok(folder);
    }
    let base = std::env::temp_dir().join(SPILL_FOLDER);
    let folder = base.join(match this_process() {
        Some(owner) => owner.to_string(),
        // Nothing tells a running process from an ended one: a name no sweep removes.
        None => std::process::id().to_string(),
    });
    make_folders(&base, &folder)?;
    Ok(FOLDER.get_or_init(|| folder))
}

/// Makes `base`, the folder every process's folder is in (on Unix open to all, as the system's
/// temporary folder is, so that servers of several users can share it), and this process's
/// `folder` in it, which only its user may enter. A `base` that is not a folder (a link) is
/// refused; a `folder` that is already there is not this process's.
fn make_folders(base: &Path, folder: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        match std::fs::DirBuilder::new().mode(0o700).create(base) {
            // The mode is masked by the umask: set it as made.
            Ok(()) => std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o1777))?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        if !std::fs::symlink_metadata(base)?.is_dir() {
            return Err(std::io::Error::other(format!("{} is not a folder", base.display())));
        }
        std::fs::DirBuilder::new().mode(0o700).create(folder)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(base)?;
        std::fs::create_dir(folder)
    }
}

/// This process's folder for temporary files, once made.
static FOLDER: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Removes the folders of temporary files of this host's processes that are no longer running,
/// left by servers killed while receiving large files (a server does so as it starts); what it
/// removed. Blocking.
pub fn sweep_spill_folders() -> Swept {
    match this_process() {
        Some(own) => sweep(&std::env::temp_dir().join(SPILL_FOLDER), &own, started),
        None => Swept::default(),
    }
}

/// Removes this process's folder of temporary files, if made (a server does so as it exits).
pub fn remove_spill_folder() {
    if let Some(folder) = FOLDER.get() {
        let _ = std::fs::remove_dir_all(folder);
    }
}

/// This process, as its folder's name says it; `None` where the system does not tell.
fn this_process() -> Option<Owner> {
    let pid = std::process::id();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?.trim().to_owned();
    let host = Some(host).filter(|h| !h.is_empty() && !h.contains(['/', '@']))?;
    // `pid:[4026531836]`: the PID namespace, within which PIDs and start times mean something.
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let namespace = namespace.to_str()?.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()?;
    Some(Owner { pid, start: started(pid)?, namespace, host })
}

/// The process a folder of temporary files belongs to, as its name says:
/// `PID.START.NAMESPACE@HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    pid: u32,
    /// When it started, in clock ticks since boot.
    start: u64,
    /// Its PID namespace's inode: processes of other namespaces (containers sharing a temporary
    /// folder, even under one host name) are not seen in this one's `/proc`.
    namespace: u64,
    host: String,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}@{}", self.pid, self.start, self.namespace, self.host)
    }
}

impl Owner {
    fn parse(name: &str) -> Option<Owner> {
        let (process, host) = name.split_once('@')?;
        let mut numbers = process.split('.');
        let (pid, start, namespace) = (numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?);
        numbers.next().is_none().then(|| Owner { pid, start, namespace, host: host.to_owned() })
    }

    /// Whether `self`'s `/proc` tells whether `other` runs: the same host and PID namespace.
    fn sees(&self, other: &Owner) -> bool {
        (&self.host, self.namespace) == (&other.host, other.namespace)
    }
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat`'s 22nd field); `None`
/// if it is not running or the system has no `/proc`.
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces and parentheses: count after the last.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Removes the folders under `base` of the processes of `own`'s host and PID namespace that are
/// no longer running: `started(PID)` is not their `START`. Folders of other hosts or namespaces
/// (a temporary folder shared by containers), of other names, and `own`'s stay.
fn sweep(base: &Path, own: &Owner, started: impl Fn(u32) -> Option<u64>) -> Swept {
    let mut swept = Swept::default();
    let Ok(entries) = std::fs::read_dir(base) else { return swept };
    for entry in entries.flatten() {
        let Some(owner) = entry.file_name().to_str().and_then(Owner::parse) else { continue };
        if !own.sees(&owner) || owner == *own || started(owner.pid) == Some(owner.start) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let bytes: u64 = std::fs::read_dir(entry.path()).into_iter().flatten().flatten().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            swept.folders += 1;
            swept.bytes += bytes;
        }
    }
    swept
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
    fn the_folders_of_ended_processes_on_this_host_are_swept_and_no_other() {
        let base = std::env::temp_dir().join(format!("ivoagen-sweep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let own = Owner { pid: 1, start: 100, namespace: 7, host: "node-a.example".into() };
        // Running: 1 (this one) and 2 since 200; 4's ID now names a process started later.
        let running = |pid: u32| match pid {
            1 => Some(100),
            2 => Some(200),
            4 => Some(999),
            _ => None,
        };
        // 3.300 of another host, and of another PID namespace of this host, are not for this
        // process's /proc to judge.
        for folder in ["1.100.7@node-a.example", "2.200.7@node-a.example", "3.300.7@node-a.example", "4.400.7@node-a.example", "3.300.7@node-b", "3.300.8@node-a.example", "3.300@node-a.example", "junk", "7"] {
            std::fs::create_dir_all(base.join(folder)).unwrap();
        }
        std::fs::write(base.join("3.300.7@node-a.example/part"), b"12345").unwrap();
        std::fs::write(base.join("4.400.7@node-a.example/part"), b"678").unwrap();
        std::fs::write(base.join("5.500.7@node-a.example"), b"a file, not a folder").unwrap();
        assert_eq!(sweep(&base, &own, running), Swept { folders: 2, bytes: 8 });
        let mut left: Vec<String> = std::fs::read_dir(&base).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["1.100.7@node-a.example", "2.200.7@node-a.example", "3.300.7@node-b", "3.300.8@node-a.example", "3.300@node-a.example", "5.500.7@node-a.example", "7", "junk"]);
        assert_eq!(sweep(&base.join("none"), &own, running), Swept::default(), "no folder yet");
        let _ = std::fs::remove_dir_all(&base);

        // This process, as the system tells it, names its folder so that it parses back.
        if cfg!(target_os = "linux") {
            let me = this_process().expect("/proc tells this process's start");
            assert_eq!(Owner::parse(&me.to_string()), Some(me.clone()));
            assert_eq!(started(me.pid), Some(me.start));
            let folder = spill_folder().unwrap();
            assert!(folder.ends_with(me.to_string()));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(std::fs::metadata(folder).unwrap().permissions().mode() & 0o777, 0o700, "its user's only");
            }
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
