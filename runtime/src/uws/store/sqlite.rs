//! The embedded store: one SQLite database file in WAL mode, used by one server process. Its
//! calls run on Tokio's blocking threads, one at a time on one connection.

use super::{Charge, Decision, Edit, Edited, Inserted, JobStore, Quota, StoreError, StoreFuture, charged, decode, encode, owner_key, phase_counts, recovered, starts_counting};
use crate::uws::{Job, JobError, Phase};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::new(e.to_string())
    }
}

/// The schema version this code writes (`PRAGMA user_version`). 0: the table alone; 1: the
/// creation and destruction instants as columns, indexes by owner and by destruction; 2: the
/// owner key, and the lease of an executing job (holder, end); 3: the account a job was queued
/// by, indexed among queued and executing jobs (`--uws-max-active`).
const SCHEMA: i64 = 3;

/// The embedded store.
pub struct SqliteStore {
    shared: Arc<Shared>,
}

struct Shared {
    connection: Mutex<Connection>,
    decoded: AtomicU64,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut connection = self.connection.lock().map_err(|_| StoreError::new("a previous operation panicked"))?;
        f(&mut connection)
    }

    fn decode_all(&self, records: &[String]) -> Result<Vec<Job>, StoreError> {
        self.decoded.fetch_add(records.len() as u64, Ordering::Relaxed);
        records.iter().map(|r| decode(r)).collect()
    }
}

/// Microseconds since the epoch: how instants are kept.
fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrating an older schema; a database
    /// of a newer schema than this code knows is refused.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::new(format!("{}: {e}", parent.display())))?;
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
        Ok(SqliteStore { shared: Arc::new(Shared { connection: Mutex::new(connection), decoded: AtomicU64::new(0) }) })
    }

    /// How many job records this store has decoded since it was opened (for tests and
    /// benchmarks: a listing should decode only the caller's jobs).
    pub fn decoded(&self) -> u64 {
        self.shared.decoded.load(Ordering::Relaxed)
    }

    /// Runs `f` on the connection, on a blocking thread.
    fn call<T: Send + 'static>(&self, f: impl FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static) -> StoreFuture<'static, T> {
        let shared = self.shared.clone();
        Box::pin(async move { tokio::task::spawn_blocking(move || f(&shared)).await.map_err(|e| StoreError::new(e.to_string()))? })
    }

    /// SQLite's plan for the listing of `owner` (`EXPLAIN QUERY PLAN`), for tests.
    pub fn list_plan(&self) -> Result<String, StoreError> {
        self.shared.with(|c| {
            let mut statement = c.prepare("EXPLAIN QUERY PLAN SELECT record FROM jobs WHERE owner_key = ?1 AND phase <> 'ARCHIVED' ORDER BY seq")?;
            let rows = statement.query_map(["x"], |r| r.get::<_, String>(3))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
        })
    }

    /// Every job, oldest first (for tests).
    pub fn all(&self) -> Result<Vec<Job>, StoreError> {
        let records: Vec<String> = self.shared.with(|c| {
            let mut statement = c.prepare("SELECT record FROM jobs ORDER BY seq")?;
            let rows = statement.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        self.shared.decode_all(&records)
    }
}

/// Writes `job` over its row, charged to `account` if given (else to whom it was); an executing
/// job keeps its lease, any other has none.
fn write(c: &Connection, job: &Job, account: Option<&str>) -> Result<(), StoreError> {
    c.execute(
        "UPDATE jobs SET owner = ?2, owner_key = ?3, phase = ?4, record = ?5, destruction = ?6,
             holder = CASE WHEN ?4 = 'EXECUTING' THEN holder END,
             lease_until = CASE WHEN ?4 = 'EXECUTING' THEN lease_until END,
             account = coalesce(?7, account)
         WHERE id = ?1",
        params![job.id, job.owner, owner_key(job.owner.as_deref()), job.phase.as_str(), encode(job), job.destruction.map(micros), account],
    )?;
    Ok(())
}

/// Counts the jobs an account has queued or executing, in the index of those jobs
/// (`jobs_active_by_account`, whose condition this repeats word for word, as SQLite needs to use
/// a partial index).
const ACTIVE: &str = "SELECT count(*) FROM jobs WHERE account = ?1 AND phase IN ('QUEUED', 'EXECUTING')";

/// How many jobs `account` has queued or executing.
fn active(c: &Connection, account: &str) -> Result<usize, StoreError> {
    let n: i64 = c.query_row(ACTIVE, [account], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Whether `account` may have one more job queued or executing under `limit` (0: no limit).
fn room(c: &Connection, account: &str, limit: usize) -> Result<bool, StoreError> {
    Ok(limit == 0 || active(c, account)? < limit)
}

/// The edit of [`JobStore::edit`] and [`JobStore::queue`], in one transaction that holds the
/// write lock from its start: the count of the account's active jobs is still true when the
/// job is written.
fn change(c: &mut Connection, id: &str, holder: Option<&str>, charge: Option<Charge<'_>>, edit: Edit) -> Result<Edited, StoreError> {
    immediate(c, |t| {
        let row: Option<(String, Option<String>)> = t.query_row("SELECT record, holder FROM jobs WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        let Some((record, held_by)) = row else { return Ok(Edited::Missing) };
        let mut job = decode(&record)?;
        if holder.is_some() && (job.phase != Phase::Executing || held_by.as_deref() != holder) {
            return Ok(Edited::Kept(job));
        }
        let before = job.phase;
        Ok(match edit(&mut job) {
            Decision::Write => {
                let charged_to = charge.filter(|_| starts_counting(before, job.phase));
                if let Some(charge) = charged_to
                    && !room(t, charge.account, charge.limit)?
                {
                    return Ok(Edited::TooManyActive);
                }
                write(t, &job, charged_to.map(|c| c.account))?;
                Edited::Written(job)
            }
            Decision::Keep => Edited::Kept(job),
            Decision::Refuse(why) => Edited::Refused(why),
        })
    })
}

/// Runs `f` in a transaction that holds SQLite's write lock from its start.
fn immediate<T>(c: &mut Connection, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
    let transaction = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let value = f(&transaction)?;
    transaction.commit()?;
    Ok(value)
}

impl JobStore for SqliteStore {
    fn insert(&self, job: &Job, quota: Quota<'_>) -> StoreFuture<'_, Inserted> {
        let job = job.clone();
        let (jobs, charge) = (quota.jobs, quota.charge.map(|c| (c.account.to_owned(), c.limit)));
        self.call(move |s| {
            s.with(|c| {
                // One transaction holding the write lock from its start: the counts it reads are
                // still true when the row is added, whoever else is inserting.
                immediate(c, |t| {
                    let key = owner_key(job.owner.as_deref());
                    if jobs > 0 {
                        let kept: i64 = t.query_row("SELECT count(*) FROM jobs WHERE owner_key = ?1", [&key], |r| r.get(0))?;
                        if usize::try_from(kept).unwrap_or(usize::MAX) >= jobs {
                            return Ok(Inserted::TooManyJobs);
                        }
                    }
                    if let Some((account, limit)) = &charge
                        && charged(job.phase)
                        && !room(t, account, *limit)?
                    {
                        return Ok(Inserted::TooManyActive);
                    }
                    t.execute(
                        "INSERT INTO jobs (id, owner, owner_key, phase, record, created, destruction, account) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            job.id,
                            job.owner,
                            key,
                            job.phase.as_str(),
                            encode(&job),
                            micros(job.creation_time),
                            job.destruction.map(micros),
                            charge.as_ref().map(|(account, _)| account)
                        ],
                    )?;
                    Ok(Inserted::Added)
                })
            })
        })
    }

    fn get(&self, id: &str) -> StoreFuture<'_, Option<Job>> {
        let id = id.to_owned();
        self.call(move |s| {
            let record: Option<String> = s.with(|c| Ok(c.query_row("SELECT record FROM jobs WHERE id = ?1", [&id], |r| r.get(0)).optional()?))?;
            Ok(s.decode_all(record.as_slice())?.pop())
        })
    }

    fn edit(&self, id: &str, holder: Option<&str>, edit: Edit) -> StoreFuture<'_, Edited> {
        let (id, holder) = (id.to_owned(), holder.map(str::to_owned));
        self.call(move |s| s.with(|c| change(c, &id, holder.as_deref(), None, edit)))
    }

    fn queue(&self, id: &str, charge: Charge<'_>, edit: Edit) -> StoreFuture<'_, Edited> {
        let (id, account, limit) = (id.to_owned(), charge.account.to_owned(), charge.limit);
        self.call(move |s| s.with(|c| change(c, &id, None, Some(Charge { account: &account, limit }), edit)))
    }

    fn delete(&self, id: &str) -> StoreFuture<'_, bool> {
        let id = id.to_owned();
        self.call(move |s| s.with(|c| Ok(c.execute("DELETE FROM jobs WHERE id = ?1", [&id])? > 0)))
    }

    fn list<'a>(&'a self, owner: Option<&'a str>, phases: &'a [Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> StoreFuture<'a, Vec<Job>> {
        let mut sql = String::from("SELECT record FROM jobs WHERE owner_key = ?1");
        let mut values: Vec<rusqlite::types::Value> = vec![owner_key(owner).into()];
        if phases.is_empty() {
            sql.push_str(" AND phase <> 'ARCHIVED'");
        } else {
            let marks: Vec<&str> = phases.iter().map(|p| p.as_str()).collect();
            // Phase words are a closed set of upper-case ASCII: safe to inline.
            sql.push_str(&format!(" AND phase IN ('{}')", marks.join("','")));
        }
        if let Some(after) = after {
            values.push(micros(after).into());
            sql.push_str(&format!(" AND created > ?{}", values.len()));
        }
        match last {
            Some(n) => {
                values.push(i64::try_from(n).unwrap_or(i64::MAX).into());
                sql.push_str(&format!(" ORDER BY seq DESC LIMIT ?{}", values.len()));
            }
            None => sql.push_str(" ORDER BY seq"),
        }
        self.call(move |s| {
            let records: Vec<String> = s.with(|c| {
                let mut statement = c.prepare(&sql)?;
                let rows = statement.query_map(rusqlite::params_from_iter(values), |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })?;
            s.decode_all(&records)
        })
    }

    fn count<'a>(&'a self, owner: Option<&'a str>) -> StoreFuture<'a, usize> {
        let key = owner_key(owner);
        self.call(move |s| s.with(|c| Ok(c.query_row("SELECT count(*) FROM jobs WHERE owner_key = ?1", [&key], |r| r.get::<_, i64>(0)).map(|n| usize::try_from(n).unwrap_or(0))?)))
    }

    fn reap(&self, now: DateTime<Utc>) -> StoreFuture<'_, Vec<String>> {
        self.call(move |s| {
            s.with(|c| {
                let mut statement = c.prepare("DELETE FROM jobs WHERE destruction <= ?1 RETURNING id")?;
                let rows = statement.query_map([micros(now)], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
        })
    }

    fn claim<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Option<Job>> {
        let replica = replica.to_owned();
        self.call(move |s| {
            s.with(|c| {
                immediate(c, |t| {
                    let row: Option<String> = t.query_row("SELECT record FROM jobs WHERE phase = 'QUEUED' ORDER BY seq LIMIT 1", [], |r| r.get(0)).optional()?;
                    let Some(record) = row else { return Ok(None) };
                    let mut job = decode(&record)?;
                    job.phase = Phase::Executing;
                    job.start_time = Some(Utc::now());
                    write(t, &job, None)?;
                    let until = micros(Utc::now()) + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
                    t.execute("UPDATE jobs SET holder = ?2, lease_until = ?3 WHERE id = ?1", params![job.id, replica, until])?;
                    Ok(Some(job))
                })
            })
        })
    }

    fn renew<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Vec<String>> {
        let replica = replica.to_owned();
        self.call(move |s| {
            s.with(|c| {
                let until = micros(Utc::now()) + i64::try_from(lease.as_micros()).unwrap_or(i64::MAX / 2);
                let mut statement = c.prepare("UPDATE jobs SET lease_until = ?2 WHERE holder = ?1 AND phase = 'EXECUTING' RETURNING id")?;
                let rows = statement.query_map(params![replica, until], |r| r.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
        })
    }

    fn recover<'a>(&'a self, requeue: bool, error: &'a JobError) -> StoreFuture<'a, Vec<Job>> {
        let error = error.clone();
        // One process uses this store: at start, no job can be executing.
        self.call(move |s| {
            s.with(|c| {
                immediate(c, |t| {
                    let records: Vec<String> = {
                        let mut statement = t.prepare("SELECT record FROM jobs WHERE phase = 'EXECUTING' ORDER BY seq")?;
                        let rows = statement.query_map([], |r| r.get(0))?;
                        rows.collect::<Result<_, _>>()?
                    };
                    let mut jobs = Vec::with_capacity(records.len());
                    for record in records {
                        let mut job = decode(&record)?;
                        recovered(&mut job, requeue, &error);
                        write(t, &job, None)?;
                        jobs.push(job);
                    }
                    Ok(jobs)
                })
            })
        })
    }

    fn counts(&self) -> StoreFuture<'_, Vec<(Phase, usize)>> {
        self.call(|s| {
            s.with(|c| {
                let mut statement = c.prepare("SELECT phase, count(*) FROM jobs GROUP BY phase")?;
                let rows = statement.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                Ok(phase_counts(rows.collect::<Result<Vec<_>, _>>()?))
            })
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        self.call(|s| s.with(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?)))
    }
}

/// Brings a database of an older schema to [`SCHEMA`], in one transaction; refuses a newer one.
fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA {
        return Err(StoreError::new(format!("the database's schema is version {version}, newer than this server's ({SCHEMA}): run a newer server")));
    }
    if version == SCHEMA {
        return Ok(());
    }
    connection.execute_batch("BEGIN IMMEDIATE")?;
    let migrated = (|| -> Result<(), rusqlite::Error> {
        // Another process may have migrated while this one waited for the lock.
        let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let columns: Vec<String> = {
            let mut statement = connection.prepare("PRAGMA table_info(jobs)")?;
            statement.query_map([], |r| r.get(1))?.collect::<Result<_, _>>()?
        };
        for (column, kind) in [("created", "INTEGER"), ("destruction", "INTEGER"), ("owner_key", "TEXT"), ("holder", "TEXT"), ("lease_until", "INTEGER"), ("account", "TEXT")] {
            if !columns.iter().any(|c| c == column) {
                connection.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {column} {kind}"))?;
            }
        }
        if version < 1 {
            let rows: Vec<(i64, String)> = {
                let mut statement = connection.prepare("SELECT seq, record FROM jobs")?;
                statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
            };
            for (seq, record) in rows {
                // A record that does not decode keeps NULL instants: listed by owner, never expired.
                if let Ok(job) = decode(&record) {
                    connection.execute(
                        "UPDATE jobs SET created = ?2, destruction = ?3 WHERE seq = ?1",
                        params![seq, micros(job.creation_time), job.destruction.map(micros)],
                    )?;
                }
            }
        }
        // Version 2: owners are found by their key (anonymous apart from every name). Version 3:
        // the jobs an account has queued or executing are counted in an index of those jobs
        // alone; jobs queued before keep no account and count against nobody.
        connection.execute_batch(
            "UPDATE jobs SET owner_key = CASE WHEN owner IS NULL THEN '' ELSE '@' || owner END WHERE owner_key IS NULL;
             DROP INDEX IF EXISTS jobs_by_owner;
             CREATE INDEX IF NOT EXISTS jobs_by_owner_key ON jobs (owner_key, seq);
             CREATE INDEX IF NOT EXISTS jobs_by_destruction ON jobs (destruction);
             CREATE INDEX IF NOT EXISTS jobs_by_phase ON jobs (phase, seq);
             CREATE INDEX IF NOT EXISTS jobs_active_by_account ON jobs (account) WHERE phase IN ('QUEUED', 'EXECUTING');
             PRAGMA user_version = 3;",
        )
    })();
    match migrated {
        Ok(()) => Ok(connection.execute_batch("COMMIT")?),
        Err(e) => {
            let _ = connection.execute_batch("ROLLBACK");
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uws::store::tests::job;

    /// At most `n` jobs an owner, no account charged.
    fn jobs(n: usize) -> Quota<'static> {
        Quota { jobs: n, charge: None }
    }

    #[tokio::test]
    async fn jobs_survive_reopening_the_database() {
        let dir = std::env::temp_dir().join(format!("ivoagen-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("jobs.sqlite");
        let a = job("a", Some("alice"));
        {
            let store = SqliteStore::open(&path).unwrap();
            assert_eq!(store.insert(&a, Quota::default()).await.unwrap(), Inserted::Added);
            assert_eq!(store.insert(&job("b", None), Quota::default()).await.unwrap(), Inserted::Added);
            assert!(store.insert(&a, Quota::default()).await.is_err(), "ids are unique");
            let edited = store.edit("a", None, Box::new(|j| {
                j.phase = Phase::Executing;
                Decision::Write
            }));
            assert!(matches!(edited.await.unwrap(), Edited::Written(j) if j.phase == Phase::Executing));
        }
        let store = SqliteStore::open(&path).unwrap();
        // Instants go through RFC 3339 text; compare them at that precision.
        let got = store.get("a").await.unwrap().unwrap();
        assert_eq!(got.phase, Phase::Executing);
        assert_eq!((&got.parameters, &got.results, &got.error), (&a.parameters, &a.results, &a.error));
        assert_eq!(got.creation_time.timestamp_micros(), a.creation_time.timestamp_micros());
        assert_eq!(store.all().unwrap().iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let refused = store.edit("a", None, Box::new(|_| Decision::Refuse("no".into())));
        assert_eq!(refused.await.unwrap(), Edited::Refused("no".into()));
        assert!(store.delete("a").await.unwrap());
        assert!(!store.delete("a").await.unwrap());
        assert_eq!(store.get("a").await.unwrap(), None);
        assert_eq!(store.edit("a", None, Box::new(|_| Decision::Write)).await.unwrap(), Edited::Missing);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_quota_is_checked_as_the_job_is_inserted() {
        let dir = std::env::temp_dir().join(format!("ivoagen-quota-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(SqliteStore::open(&dir.join("jobs.sqlite")).unwrap());
        // Eight tasks racing for three places of one owner.
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.insert(&job(&format!("a{i}"), Some("alice")), jobs(3)).await.unwrap() })
            })
            .collect();
        let mut added = 0;
        for t in tasks {
            added += usize::from(t.await.unwrap() == Inserted::Added);
        }
        assert_eq!((added, store.count(Some("alice")).await.unwrap()), (3, 3));
        // Owners count apart, anonymous ones too; 0 is no limit.
        assert_eq!(store.insert(&job("b", Some("bob")), jobs(3)).await.unwrap(), Inserted::Added);
        assert_eq!(store.insert(&job("n1", None), jobs(1)).await.unwrap(), Inserted::Added);
        assert_eq!(store.insert(&job("n2", None), jobs(1)).await.unwrap(), Inserted::TooManyJobs);
        assert_eq!(store.insert(&job("a9", Some("alice")), jobs(0)).await.unwrap(), Inserted::Added);
        assert_eq!(store.count(Some("alice")).await.unwrap(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn claims_take_queued_jobs_oldest_first_under_a_lease() {
        let dir = std::env::temp_dir().join(format!("ivoagen-claim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir.join("jobs.sqlite")).unwrap();
        for id in ["q1", "p", "q2"] {
            let mut j = job(id, None);
            j.phase = if id == "p" { Phase::Pending } else { Phase::Queued };
            store.insert(&j, Quota::default()).await.unwrap();
        }
        let lease = Duration::from_secs(30);
        let first = store.claim("r1", lease).await.unwrap().unwrap();
        assert_eq!((first.id.as_str(), first.phase, first.start_time.is_some()), ("q1", Phase::Executing, true));
        assert_eq!(store.claim("r2", lease).await.unwrap().unwrap().id, "q2");
        assert_eq!(store.claim("r1", lease).await.unwrap(), None, "the pending job is not claimed");
        assert_eq!(store.renew("r1", lease).await.unwrap(), ["q1"]);
        // Only the holder ends its job through a held edit.
        let other = store.edit("q1", Some("r2"), Box::new(|j| {
            j.phase = Phase::Completed;
            Decision::Write
        }));
        assert!(matches!(other.await.unwrap(), Edited::Kept(j) if j.phase == Phase::Executing));
        let mine = store.edit("q1", Some("r1"), Box::new(|j| {
            j.phase = Phase::Completed;
            Decision::Write
        }));
        assert!(matches!(mine.await.unwrap(), Edited::Written(_)));
        assert!(store.renew("r1", lease).await.unwrap().is_empty(), "an ended job has no lease");
        let error = JobError { fatal: false, message: "gone".into() };
        let recovered = store.recover(false, &error).await.unwrap();
        assert_eq!(recovered.iter().map(|j| (j.id.as_str(), j.phase)).collect::<Vec<_>>(), [("q2", Phase::Error)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The edit of `PHASE=RUN`: a pending job queued, a queued one left as it is.
    fn run() -> Edit {
        Box::new(|job: &mut Job| match job.phase {
            Phase::Pending => {
                job.phase = Phase::Queued;
                Decision::Write
            }
            _ => Decision::Keep,
        })
    }

    fn charge(account: &str, limit: usize) -> Charge<'_> {
        Charge { account, limit }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_active_limit_is_checked_as_jobs_are_queued() {
        let dir = std::env::temp_dir().join(format!("ivoagen-active-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(SqliteStore::open(&dir.join("jobs.sqlite")).unwrap());
        let mut pending = job("p0", Some("alice"));
        (pending.results, pending.error) = (Vec::new(), None);
        for i in 0..16 {
            let j = Job { id: format!("p{i}"), ..pending.clone() };
            assert_eq!(store.insert(&j, Quota::default()).await.unwrap(), Inserted::Added);
        }
        // Sixteen runs racing for three places of one account.
        let runs: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.queue(&format!("p{i}"), charge("@alice", 3), run()).await.unwrap() })
            })
            .collect();
        let mut outcomes = Vec::new();
        for r in runs {
            outcomes.push(r.await.unwrap());
        }
        let (mut queued, mut waiting) = (Vec::new(), Vec::new());
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Edited::Written(j) if j.phase == Phase::Queued => queued.push(format!("p{i}")),
                Edited::TooManyActive => waiting.push(format!("p{i}")),
                other => panic!("p{i}: {other:?}"),
            }
        }
        assert_eq!((queued.len(), waiting.len()), (3, 13), "{outcomes:?}");
        let phases = |phase: Phase| store.all().unwrap().into_iter().filter(|j| j.phase == phase).count();
        assert_eq!((phases(Phase::Queued), phases(Phase::Pending)), (3, 13), "a refused job stays pending");
        // Running a job already queued changes nothing and is not refused, even at the limit.
        assert!(matches!(store.queue(&queued[0], charge("@alice", 3), run()).await.unwrap(), Edited::Kept(j) if j.phase == Phase::Queued));
        // An executing job still counts; an ended one does not.
        assert!(store.claim("r1", Duration::from_secs(30)).await.unwrap().is_some());
        assert_eq!(store.queue(&waiting[0], charge("@alice", 3), run()).await.unwrap(), Edited::TooManyActive);
        let end = Box::new(|j: &mut Job| {
            j.phase = Phase::Aborted;
            Decision::Write
        });
        assert!(matches!(store.edit(&queued[1], None, end).await.unwrap(), Edited::Written(_)));
        assert!(matches!(store.queue(&waiting[0], charge("@alice", 3), run()).await.unwrap(), Edited::Written(_)), "a place was freed");
        // Other accounts have places of their own; with no limit, there is none.
        assert!(matches!(store.queue(&waiting[1], charge("#203.0.113.5", 1), run()).await.unwrap(), Edited::Written(_)));
        assert_eq!(store.queue(&waiting[2], charge("#203.0.113.5", 1), run()).await.unwrap(), Edited::TooManyActive);
        assert!(matches!(store.queue(&waiting[2], charge("#203.0.113.5", 0), run()).await.unwrap(), Edited::Written(_)));
        // Jobs added queued count too, and are refused at the limit, racing or not.
        let adds: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                let mut j = job(&format!("q{i}"), Some("bob"));
                j.phase = Phase::Queued;
                tokio::spawn(async move { store.insert(&j, Quota { jobs: 0, charge: Some(charge("@bob", 2)) }).await.unwrap() })
            })
            .collect();
        let mut added = Vec::new();
        for a in adds {
            added.push(a.await.unwrap());
        }
        assert_eq!(added.iter().filter(|a| **a == Inserted::Added).count(), 2, "{added:?}");
        assert_eq!(added.iter().filter(|a| **a == Inserted::TooManyActive).count(), 6, "{added:?}");
        assert_eq!(store.count(Some("bob")).await.unwrap(), 2, "a refused job is not added");
        // Added pending, it is not counted until it runs.
        let mut later = job("q-later", Some("bob"));
        later.phase = Phase::Pending;
        assert_eq!(store.insert(&later, Quota { jobs: 0, charge: Some(charge("@bob", 2)) }).await.unwrap(), Inserted::Added);
        assert_eq!(store.queue("q-later", charge("@bob", 2), run()).await.unwrap(), Edited::TooManyActive);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn active_jobs_are_counted_in_their_index() {
        let dir = std::env::temp_dir().join(format!("ivoagen-active-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = SqliteStore::open(&dir.join("jobs.sqlite")).unwrap();
        let plan: String = store
            .shared
            .with(|c| {
                let mut statement = c.prepare(&format!("EXPLAIN QUERY PLAN {ACTIVE}"))?;
                let rows = statement.query_map(["@alice"], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
            })
            .unwrap();
        assert!(plan.contains("jobs_active_by_account"), "{plan}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_database_of_version_2_is_migrated_and_its_jobs_count_against_nobody() {
        let dir = std::env::temp_dir().join(format!("ivoagen-migrate-3-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jobs.sqlite");
        // The schema version 2 wrote, with a job queued and one pending.
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT, phase TEXT NOT NULL, record TEXT NOT NULL,
                     created INTEGER, destruction INTEGER, owner_key TEXT, holder TEXT, lease_until INTEGER);
                 CREATE INDEX jobs_by_owner_key ON jobs (owner_key, seq);
                 PRAGMA user_version = 2;",
            )
            .unwrap();
            for (id, phase) in [("old-queued", Phase::Queued), ("old-pending", Phase::Pending)] {
                let mut j = job(id, Some("alice"));
                j.phase = phase;
                c.execute("INSERT INTO jobs (id, owner, owner_key, phase, record, created) VALUES (?1, 'alice', '@alice', ?2, ?3, 0)", params![id, phase.as_str(), encode(&j)]).unwrap();
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store.shared.with(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?)).unwrap();
        assert_eq!(version, SCHEMA);
        // The job queued before accounts were kept takes no place; the old jobs still work.
        assert!(matches!(store.queue("old-pending", charge("@alice", 1), run()).await.unwrap(), Edited::Written(j) if j.phase == Phase::Queued));
        assert_eq!(store.claim("r", Duration::from_secs(30)).await.unwrap().map(|j| j.id), Some("old-queued".to_owned()));
        assert_eq!(store.list(Some("alice"), &[], None, None).await.unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
