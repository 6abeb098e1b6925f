//! Data rights: the datasets that the data directory's `proprietary.txt` lists are served only to
//! members of their groups — cutouts, sync or async, and DataLink links alike.
//!
//! The file has one dataset a line, its name (as `ID` gives it: `NAME` for `NAME.fits`,
//! `NAME.fits.fz` or `NAME.fits.gz`) and then the groups whose members may have it:
//!
//! ```text
//! # dataset        groups
//! m31-deep         survey-team  calibration
//! ```
//!
//! `#` starts a comment. A dataset not listed is public. The file is read again whenever it
//! changes (its length or modification time), so rights can be granted or withdrawn while the
//! server runs. A file that cannot be read or has a line that is not a dataset and its groups
//! stops the server at start; if it becomes so later, every dataset is refused (503) until it is
//! fixed: proprietary data is never served because its policy could not be read.

use crate::service::archive::is_dataset_name;
use ivoagen_runtime::codegen::auth::Caller;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The name of the policy file in the data directory.
pub const POLICY_FILE: &str = "proprietary.txt";

/// The largest policy file read: a line a dataset, this is far more than an archive needs.
const MOST_BYTES: u64 = 16 << 20;

/// The groups of each proprietary dataset.
#[derive(Debug, Default, PartialEq)]
pub struct Policy {
    groups: HashMap<String, Vec<String>>,
}

impl Policy {
    /// Reads a policy file's text; an error names the line and says what is wrong with it.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let mut groups: HashMap<String, Vec<String>> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split_once('#').map_or(line, |(before, _)| before);
            let mut words = line.split_whitespace();
            let Some(name) = words.next() else { continue };
            let at = n + 1;
            if !is_dataset_name(name) {
                return Err(format!("line {at}: `{name}` is not a dataset name"));
            }
            let listed: Vec<String> = words.map(str::to_owned).collect();
            if listed.is_empty() {
                return Err(format!("line {at}: dataset `{name}` has no groups (list the groups whose members may have it)"));
            }
            groups.entry(name.to_owned()).or_default().extend(listed);
        }
        Ok(Policy { groups })
    }

    /// The groups whose members may have dataset `name`; `None` if it is public.
    pub fn groups_of(&self, name: &str) -> Option<&[String]> {
        self.groups.get(name).map(Vec::as_slice)
    }
}

/// Why a caller may have a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granted {
    /// The policy does not list it: anyone may have it, authenticated or not.
    Public,
    /// It is proprietary, and the caller is a member of one of its groups.
    Member,
}

/// Why a caller may not have a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// An anonymous caller asked for a proprietary dataset: authenticating may help (401).
    Anonymous(String),
    /// The caller is in none of the dataset's groups (403).
    NotMember(String),
    /// The policy cannot be read now: nothing is served (503).
    Unreadable(String),
}

impl Denied {
    /// The message, for the client.
    pub fn message(&self) -> &str {
        match self {
            Denied::Anonymous(m) | Denied::NotMember(m) | Denied::Unreadable(m) => m,
        }
    }
}

/// The rights of the data directory: its policy, read again when the file changes.
#[derive(Debug)]
pub struct Rights {
    path: PathBuf,
    read: Mutex<Read>,
}

/// A policy file's length and modification time; `None` when there is no file.
type Stamp = Result<Option<(u64, Option<SystemTime>)>, std::io::ErrorKind>;

/// The policy as last read, and the file's stamp then.
#[derive(Debug)]
struct Read {
    stamp: Stamp,
    policy: Result<Arc<Policy>, String>,
}

impl Rights {
    /// The rights of data directory `dir`; a policy file that cannot be read, or is wrong, is
    /// an error.
    pub fn open(dir: &Path) -> Result<Rights, String> {
        let path = dir.join(POLICY_FILE);
        let read = read(&path, stamp(&path));
        if let Err(e) = &read.policy {
            return Err(format!("{}: {e}", path.display()));
        }
        Ok(Rights { path, read: Mutex::new(read) })
    }

    /// The policy now: read again if the file changed since it was last read.
    fn policy(&self) -> Result<Arc<Policy>, String> {
        let now = stamp(&self.path);
        let mut read = self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now != read.stamp {
            *read = self::read(&self.path, now);
        }
        read.policy.clone()
    }

    /// Whether `caller` may have dataset `name`.
    pub fn check(&self, name: &str, caller: &Caller) -> Result<Granted, Denied> {
        let policy = self.policy().map_err(|e| Denied::Unreadable(format!("the data-rights policy cannot be read: {e}")))?;
        let Some(groups) = policy.groups_of(name) else { return Ok(Granted::Public) };
        if caller.in_any(groups) {
            return Ok(Granted::Member);
        }
        let list = groups.join(", ");
        Err(match &caller.identity {
            None => Denied::Anonymous(format!("dataset `{name}` is proprietary: authenticate as a member of {list}")),
            Some(who) => Denied::NotMember(format!("dataset `{name}` is proprietary to {list}, and `{who}` is a member of none")),
        })
    }
}

/// The file's length and modification time; none when there is no file. Any other failure to
/// look at it is an error, never taken for "no file": that would make proprietary data public.
fn stamp(path: &Path) -> Stamp {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((m.len(), m.modified().ok()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.kind()),
    }
}

/// Reads the policy whose file has `stamp` (no file: no proprietary data).
fn read(path: &Path, stamp: Stamp) -> Read {
    let len = match stamp {
        Ok(Some((len, _))) => len,
        Ok(None) => return Read { stamp, policy: Ok(Arc::new(Policy::default())) },
        Err(kind) => return Read { stamp, policy: Err(format!("it cannot be looked at: {}", std::io::Error::from(kind))) },
    };
    if len > MOST_BYTES {
        return Read { stamp, policy: Err(format!("{len} bytes: a policy file has at most {MOST_BYTES}")) };
    }
    let policy = match std::fs::read(path) {
        Err(e) => Err(e.to_string()),
        Ok(bytes) => match String::from_utf8(bytes) {
            Err(_) => Err("not UTF-8 text".to_owned()),
            Ok(text) => Policy::parse(&text).map(Arc::new),
        },
    };
    Read { stamp, policy }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_names_datasets_and_their_groups() {
        let policy = Policy::parse("# dataset groups\nm31  survey calib # two\n\nm33 survey\nm31 extra\n").unwrap();
        assert_eq!(policy.groups_of("m31"), Some(&["survey".to_owned(), "calib".to_owned(), "extra".to_owned()][..]));
        assert_eq!(policy.groups_of("m33"), Some(&["survey".to_owned()][..]));
        assert_eq!(policy.groups_of("m51"), None);
        assert_eq!(Policy::parse("m31\n"), Err("line 1: dataset `m31` has no groups (list the groups whose members may have it)".into()));
        assert_eq!(Policy::parse("ok g\n../etc g\n"), Err("line 2: `../etc` is not a dataset name".into()));
    }

    #[test]
    fn members_pass_others_are_told_why_and_changes_are_read() {
        let dir = std::env::temp_dir().join(format!("soda-rights-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let rights = Rights::open(&dir).unwrap();
        let (alice, bob) = (Caller::member("alice", &["survey"]), Caller::member("bob", &["other"]));
        assert_eq!(rights.check("m31", &Caller::default()), Ok(Granted::Public), "no file: everything is public");

        std::fs::write(dir.join(POLICY_FILE), "m31 survey\n").unwrap();
        assert_eq!(rights.check("m31", &alice), Ok(Granted::Member));
        assert_eq!(rights.check("m33", &bob), Ok(Granted::Public));
        assert!(matches!(rights.check("m31", &bob), Err(Denied::NotMember(m)) if m.contains("`bob`") && m.contains("survey")));
        assert!(matches!(rights.check("m31", &Caller::default()), Err(Denied::Anonymous(_))));

        // Withdrawn from alice's group (a different length, so seen whatever the clock's grain).
        std::fs::write(dir.join(POLICY_FILE), "m31 calibration\n").unwrap();
        assert!(matches!(rights.check("m31", &alice), Err(Denied::NotMember(_))));
        // A broken file refuses everything, public data too, until it is fixed.
        std::fs::write(dir.join(POLICY_FILE), "m31\n").unwrap();
        assert!(matches!(rights.check("m33", &alice), Err(Denied::Unreadable(m)) if m.contains("line 1")));
        std::fs::remove_file(dir.join(POLICY_FILE)).unwrap();
        assert_eq!(rights.check("m31", &bob), Ok(Granted::Public));
        // A file that is there but cannot be looked at (a link to itself) is not "no file".
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(POLICY_FILE, dir.join(POLICY_FILE)).unwrap();
            assert!(matches!(rights.check("m31", &bob), Err(Denied::Unreadable(m)) if m.contains("cannot be looked at")));
            std::fs::remove_file(dir.join(POLICY_FILE)).unwrap();
            assert_eq!(rights.check("m31", &bob), Ok(Granted::Public));
        }
        std::fs::write(dir.join(POLICY_FILE), "m31\n").unwrap();
        drop(rights);
        assert!(Rights::open(&dir).unwrap_err().contains("line 1"), "a broken file stops the server at start");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
