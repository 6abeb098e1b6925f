//! Job stores: where jobs live, durably. [`JobStore`] is the interface the engine uses, so a
//! store shared by several replicas (PostgreSQL) can replace the embedded SQLite one without
//! changing callers.

use super::{Job, JobError, JobResult, Phase};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A store that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// Durable storage of jobs. Every method has committed when it returns.
pub trait JobStore: Send + Sync + 'static {
    /// Adds a new job.
    fn insert(&self, job: &Job) -> Result<(), StoreError>;
    /// Adds a new job unless its owner already has `limit` jobs (0: no limit); whether it was
    /// added. Counting and adding are one atomic step, so that creations racing each other (on
    /// several threads, or several processes sharing the store) cannot pass the quota together.
    fn insert_within(&self, job: &Job, limit: usize) -> Result<bool, StoreError>;
    /// The job with this id.
    fn get(&self, id: &str) -> Result<Option<Job>, StoreError>;
    /// Replaces a job's record.
    fn update(&self, job: &Job) -> Result<(), StoreError>;
    /// Removes a job; whether it existed.
    fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Every job, oldest first.
    fn all(&self) -> Result<Vec<Job>, StoreError>;

    /// The jobs of `owner` as UWS 1.1 §2.2.2.1 filters them: in any of `phases` (every phase but
    /// ARCHIVED when empty), created after `after`, the `last` most recent (newest first; else
    /// oldest first). A store should find them without reading other owners' jobs.
    fn list(&self, owner: Option<&str>, phases: &[Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> Result<Vec<Job>, StoreError> {
        let mut jobs: Vec<Job> = self
            .all()?
            .into_iter()
            .filter(|j| j.owner.as_deref() == owner)
            .filter(|j| if phases.is_empty() { j.phase != Phase::Archived } else { phases.contains(&j.phase) })
            .filter(|j| after.is_none_or(|a| j.creation_time > a))
            .collect();
        if let Some(n) = last {
            jobs.reverse();
            jobs.truncate(n);
        }
        Ok(jobs)
    }

    /// The ids of the jobs whose destruction time is at or before `now`.
    fn expired(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        Ok(self.all()?.into_iter().filter(|j| j.destruction.is_some_and(|d| d <= now)).map(|j| j.id).collect())
    }

    /// How many jobs `owner` has.
    fn count(&self, owner: Option<&str>) -> Result<usize, StoreError> {
        Ok(self.all()?.iter().filter(|j| j.owner.as_deref() == owner).count())
    }
}

/// The schema version this code writes (`PRAGMA user_version`). 0: the table alone; 1: the
/// creation and destruction instants as columns, indexes by owner and by destruction.
const SCHEMA: i64 = 1;

/// The embedded store: one SQLite database file in WAL mode.
pub struct SqliteStore {
    connection: Mutex<Connection>,
    decoded: AtomicU64,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError(format!("{}: {e}", parent.display())))?;
        }
        let connection = Connection::open(path)?;
        // WAL: readers do not block the writer. NORMAL synchronisation keeps every committed job
        // across a crash of the process (kill -9); only a power loss can lose the last commits.
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "busy_timeout", 5000)?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                 seq INTEGER PRIMARY KEY AUTOINCREMENT,
                 id TEXT NOT NULL UNIQUE,
                 owner TEXT,
                 phase TEXT NOT NULL,
                 record TEXT NOT NULL
             );",
        )?;
        migrate(&connection)?;
        Ok(SqliteStore { connection: Mutex::new(connection), decoded: AtomicU64::new(0) })
    }

    /// How many job records this store has decoded since it was opened (for tests and
    /// benchmarks: a listing should decode only the caller's jobs).
    pub fn decoded(&self) -> u64 {
        self.decoded.load(Ordering::Relaxed)
    }

    fn decode_all(&self, records: &[String]) -> Result<Vec<Job>, StoreError> {
        self.decoded.fetch_add(records.len() as u64, Ordering::Relaxed);
        records.iter().map(|r| decode(r)).collect()
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>) -> Result<T, StoreError> {
        let connection = self.connection.lock().map_err(|_| StoreError("a previous operation panicked".into()))?;
        f(&connection).map_err(StoreError::from)
    }
}

impl JobStore for SqliteStore {
    fn insert(&self, job: &Job) -> Result<(), StoreError> {
        let record = encode(job);
        self.with(|c| {
            c.execute(
                "INSERT INTO jobs (id, owner, phase, record, created, destruction) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![job.id, job.owner, job.phase.as_str(), record, job.creation_time.timestamp_micros(), job.destruction.map(|d| d.timestamp_micros())],
            )
            .map(drop)
        })
    }

    fn insert_within(&self, job: &Job, limit: usize) -> Result<bool, StoreError> {
        if limit == 0 {
            return self.insert(job).map(|()| true);
        }
        let record = encode(job);
        // One statement: SQLite takes the write lock before it runs, so the count it reads is
        // still true when the row is added, whoever else (thread or process) is inserting.
        self.with(|c| {
            c.execute(
                "INSERT INTO jobs (id, owner, phase, record, created, destruction)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE (SELECT count(*) FROM jobs WHERE owner IS ?2) < ?7",
                params![
                    job.id,
                    job.owner,
                    job.phase.as_str(),
                    record,
                    job.creation_time.timestamp_micros(),
                    job.destruction.map(|d| d.timestamp_micros()),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
            )
            .map(|added| added == 1)
        })
    }

    fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let record: Option<String> = self.with(|c| c.query_row("SELECT record FROM jobs WHERE id = ?1", [id], |r| r.get(0)).optional())?;
        self.decoded.fetch_add(u64::from(record.is_some()), Ordering::Relaxed);
        record.map(|r| decode(&r)).transpose()
    }

    fn update(&self, job: &Job) -> Result<(), StoreError> {
        let record = encode(job);
        let changed = self.with(|c| c.execute("UPDATE jobs SET owner = ?2, phase = ?3, record = ?4, destruction = ?5 WHERE id = ?1", params![job.id, job.owner, job.phase.as_str(), record, job.destruction.map(|d| d.timestamp_micros())]))?;
        if changed == 0 { Err(StoreError(format!("no job `{}`", job.id))) } else { Ok(()) }
    }

    fn delete(&self, id: &str) -> Result<bool, StoreError> {
        self.with(|c| c.execute("DELETE FROM jobs WHERE id = ?1", [id]).map(|n| n > 0))
    }

    fn all(&self) -> Result<Vec<Job>, StoreError> {
        let records: Vec<String> = self.with(|c| {
            let mut statement = c.prepare("SELECT record FROM jobs ORDER BY seq")?;
            let rows = statement.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        self.decode_all(&records)
    }

    fn list(&self, owner: Option<&str>, phases: &[Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> Result<Vec<Job>, StoreError> {
        // `owner IS ?` matches NULL (anonymous) too and still uses the (owner, seq) index.
        let mut sql = String::from("SELECT record FROM jobs WHERE owner IS ?1");
        let mut values: Vec<rusqlite::types::Value> = vec![owner.map(str::to_owned).into()];
        if phases.is_empty() {
            sql.push_str(" AND phase <> 'ARCHIVED'");
        } else {
            let marks: Vec<&str> = phases.iter().map(|p| p.as_str()).collect();
            // Phase words are a closed set of upper-case ASCII: safe to inline.
            sql.push_str(&format!(" AND phase IN ('{}')", marks.join("','")));
        }
        if let Some(after) = after {
            values.push(after.timestamp_micros().into());
            sql.push_str(&format!(" AND created > ?{}", values.len()));
        }
        match last {
            Some(n) => {
                values.push(i64::try_from(n).unwrap_or(i64::MAX).into());
                sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", values.len()));
            }
            None => sql.push_str(" ORDER BY seq"),
        }
        let records: Vec<String> = self.with(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(rusqlite::params_from_iter(values), |r| r.get(0))?;
            rows.collect()
        })?;
        self.decode_all(&records)
    }

    fn expired(&self, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare("SELECT id FROM jobs WHERE destruction <= ?1")?;
            let rows = statement.query_map([now.timestamp_micros()], |r| r.get(0))?;
            rows.collect()
        })
    }

    fn count(&self, owner: Option<&str>) -> Result<usize, StoreError> {
        self.with(|c| c.query_row("SELECT count(*) FROM jobs WHERE owner IS ?1", [owner], |r| r.get::<_, i64>(0))).map(|n| usize::try_from(n).unwrap_or(0))
    }
}

impl SqliteStore {
    /// SQLite's plan for the listing of `owner` (`EXPLAIN QUERY PLAN`), for tests.
    pub fn list_plan(&self) -> Result<String, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare("EXPLAIN QUERY PLAN SELECT record FROM jobs WHERE owner IS ?1 AND phase <> 'ARCHIVED' ORDER BY seq")?;
            let rows = statement.query_map(["x"], |r| r.get::<_, String>(3))?;
            rows.collect::<Result<Vec<_>, _>>().map(|lines| lines.join("\n"))
        })
    }
}

/// Brings a database of an older schema to [`SCHEMA`], in one transaction.
fn migrate(connection: &Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version >= SCHEMA {
        return Ok(());
    }
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let migrated = (|| {
        // Another process may have migrated while this one waited for the lock.
        let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version >= 1 {
            return Ok(());
        }
        let columns: Vec<String> = {
            let mut statement = connection.prepare("PRAGMA table_info(jobs)")?;
            statement.query_map([], |r| r.get(1))?.collect::<Result<_, _>>()?
        };
        for column in ["created", "destruction"] {
            if !columns.iter().any(|c| c == column) {
                connection.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {column} INTEGER"))?;
            }
        }
        let rows: Vec<(i64, String)> = {
            let mut statement = connection.prepare("SELECT seq, record FROM jobs")?;
            statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
        };
        for (seq, record) in rows {
            // A record that does not decode keeps NULL instants: listed by owner, never expired.
            if let Ok(job) = decode(&record) {
                connection.execute(
                    "UPDATE jobs SET created = ?2, destruction = ?3 WHERE seq = ?1",
                    params![seq, job.creation_time.timestamp_micros(), job.destruction.map(|d| d.timestamp_micros())],
                )?;
            }
        }
        connection.execute_batch(
            "CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, seq);
             CREATE INDEX IF NOT EXISTS jobs_by_destruction ON jobs (destruction);
             PRAGMA user_version = 1;",
        )
    })();
    match migrated {
        Ok(()) => connection.execute_batch("COMMIT"),
        Err(e) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn time(t: &Option<chrono::DateTime<chrono::Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| serde_json::Value::String(t.to_rfc3339()))
}

fn encode(job: &Job) -> String {
    serde_json::json!({
        "id": job.id,
        "run_id": job.run_id,
        "owner": job.owner,
        "phase": job.phase.as_str(),
        "creation_time": job.creation_time.to_rfc3339(),
        "start_time": time(&job.start_time),
        "end_time": time(&job.end_time),
        "execution_duration": job.execution_duration,
        "destruction": time(&job.destruction),
        "parameters": job.parameters,
        "results": job.results.iter().map(|r| serde_json::json!({"id": r.id, "mime_type": r.mime_type, "size": r.size})).collect::<Vec<_>>(),
        "error": job.error.as_ref().map(|e| serde_json::json!({"fatal": e.fatal, "message": e.message})),
    })
    .to_string()
}

fn decode(record: &str) -> Result<Job, StoreError> {
    let bad = |what: &str| StoreError(format!("corrupt job record ({what})"));
    let v: serde_json::Value = serde_json::from_str(record).map_err(|_| bad("not JSON"))?;
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    let instant = |k: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        match v[k].as_str() {
            None => Ok(None),
            Some(s) => chrono::DateTime::parse_from_rfc3339(s).map(|t| Some(t.with_timezone(&chrono::Utc))).map_err(|_| bad(k)),
        }
    };
    Ok(Job {
        id: text("id").ok_or_else(|| bad("id"))?,
        run_id: text("run_id"),
        owner: text("owner"),
        phase: text("phase").and_then(|p| p.parse::<Phase>().ok()).ok_or_else(|| bad("phase"))?,
        creation_time: instant("creation_time")?.ok_or_else(|| bad("creation_time"))?,
        start_time: instant("start_time")?,
        end_time: instant("end_time")?,
        execution_duration: v["execution_duration"].as_u64().unwrap_or(0),
        destruction: instant("destruction")?,
        parameters: serde_json::from_value(v["parameters"].clone()).map_err(|_| bad("parameters"))?,
        results: v["results"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|r| JobResult {
                        id: r["id"].as_str().unwrap_or_default().to_owned(),
                        mime_type: r["mime_type"].as_str().unwrap_or_default().to_owned(),
                        size: r["size"].as_u64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        error: v["error"].as_object().map(|e| JobError {
            fatal: e.get("fatal").and_then(serde_json::Value::as_bool).unwrap_or(true),
            message: e.get("message").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn job(id: &str, owner: Option<&str>) -> Job {
        Job {
            id: id.into(),
            run_id: Some("run".into()),
            owner: owner.map(str::to_owned),
            phase: Phase::Pending,
            creation_time: chrono::Utc::now(),
            start_time: None,
            end_time: None,
            execution_duration: 60,
            destruction: Some(chrono::Utc::now()),
            parameters: vec![("ID".into(), "m31".into()), ("ID".into(), "m33".into())],
            results: vec![JobResult { id: "r1".into(), mime_type: "application/fits".into(), size: 3 }],
            error: Some(JobError { fatal: false, message: "x".into() }),
        }
    }

    #[test]
    fn jobs_survive_reopening_the_database() {
        let dir = std::env::temp_dir().join(format!("ivoagen-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("jobs.sqlite");
        let a = job("a", Some("alice"));
        {
            let store = SqliteStore::open(&path).unwrap();
            store.insert(&a).unwrap();
            store.insert(&job("b", None)).unwrap();
            assert!(store.insert(&a).is_err(), "ids are unique");
            let mut changed = a.clone();
            changed.phase = Phase::Executing;
            store.update(&changed).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let mut expected = a.clone();
        expected.phase = Phase::Executing;
        // Instants go through RFC 3339 text; compare them at that precision.
        let got = store.get("a").unwrap().unwrap();
        assert_eq!(got.phase, Phase::Executing);
        assert_eq!(got.parameters, expected.parameters);
        assert_eq!(got.results, expected.results);
        assert_eq!(got.error, expected.error);
        assert_eq!(got.creation_time.timestamp_micros(), expected.creation_time.timestamp_micros());
        assert_eq!(store.all().unwrap().iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(store.delete("a").unwrap());
        assert!(!store.delete("a").unwrap());
        assert_eq!(store.get("a").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_quota_is_checked_as_the_job_is_inserted() {
        let dir = std::env::temp_dir().join(format!("ivoagen-quota-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = std::sync::Arc::new(SqliteStore::open(&dir.join("jobs.sqlite")).unwrap());
        // Eight threads racing for three places of one owner.
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || store.insert_within(&job(&format!("a{i}"), Some("alice")), 3).unwrap())
            })
            .collect();
        let added = threads.into_iter().map(|t| t.join().unwrap()).filter(|&added| added).count();
        assert_eq!((added, store.count(Some("alice")).unwrap()), (3, 3));
        // Owners count apart, anonymous ones too; 0 is no limit.
        assert!(store.insert_within(&job("b", Some("bob")), 3).unwrap());
        assert!(store.insert_within(&job("n1", None), 1).unwrap());
        assert!(!store.insert_within(&job("n2", None), 1).unwrap());
        assert!(store.insert_within(&job("a9", Some("alice")), 0).unwrap());
        assert_eq!(store.count(Some("alice")).unwrap(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
