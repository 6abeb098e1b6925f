//! Job stores: where jobs live, durably. [`JobStore`] is the interface the engine uses: the
//! embedded SQLite store ([`SqliteStore`], one process) and the PostgreSQL one
//! ([`PostgresStore`], shared by several replicas) answer it alike.
//!
//! A job queued to run is not handed to a task when it is queued: a replica with a free worker
//! *claims* it ([`JobStore::claim`]), which makes it EXECUTING and leases it to that replica. The
//! replica renews its leases while it works ([`JobStore::renew`]); a job whose lease ran out has
//! lost its replica, and [`JobStore::recover`] ends it (or queues it again). Every change of a
//! record is read, decided and written in one transaction ([`JobStore::edit`]), so replicas
//! racing on one job (an abort on one while the job completes on another) see one winner.
//!
//! Quotas are checked in the transaction that writes: the jobs an owner keeps as a job is added
//! ([`JobStore::insert`]), and the jobs an account has queued or executing as a job is added
//! queued or queued later ([`JobStore::queue`]). Each job keeps, beside its record, the account it
//! was last queued by (a column, indexed among queued and executing jobs); a job written before
//! accounts were kept has none and counts against nobody.

mod postgres;
#[cfg(feature = "postgres-tls")]
mod postgres_tls;
mod sqlite;

pub use postgres::{PostgresStore, redacted};
pub use sqlite::SqliteStore;

use super::{Job, JobError, JobResult, Phase};
use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::broadcast;

/// A store that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// What went wrong.
    pub message: String,
    /// The store cannot be reached (a connection refused, dropped or timed out): a request
    /// may succeed later (503), unlike a store that answered with an error (500).
    pub unavailable: bool,
}

impl StoreError {
    /// A failure the store answered with.
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError { message: message.into(), unavailable: false }
    }

    /// The store cannot be reached.
    pub fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError { message: message.into(), unavailable: true }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job store: {}", self.message)
    }
}

impl std::error::Error for StoreError {}

/// What a store operation returns, later.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A change of one job, decided on its record as the store holds it, inside the transaction
/// that writes it.
pub type Edit = Box<dyn FnOnce(&mut Job) -> Decision + Send>;

/// What an [`Edit`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Write the changed record.
    Write,
    /// Leave the record as it is.
    Keep,
    /// Leave it, and refuse the change, saying why.
    Refuse(String),
}

/// Whom a job is charged to while it is QUEUED or EXECUTING, and how many such jobs that account
/// may have at once (`--uws-max-active`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge<'a> {
    /// The account's key (see [`super::engine::Account::key`]).
    pub account: &'a str,
    /// The most jobs the account may have queued or executing at once; 0: no limit.
    pub limit: usize,
}

/// The quotas a new job is checked against as [`JobStore::insert`] adds it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota<'a> {
    /// The most jobs the job's owner may keep (`--uws-max-jobs`); 0: no limit.
    pub jobs: usize,
    /// The account the job is charged to (counted if the job is added queued); `None`: nobody.
    pub charge: Option<Charge<'a>>,
}

/// What [`JobStore::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The job was added.
    Added,
    /// Not added: its owner keeps as many jobs as [`Quota::jobs`] allows.
    TooManyJobs,
    /// Not added: it is queued, and its account has as many jobs queued or executing as
    /// [`Charge::limit`] allows.
    TooManyActive,
}

/// Whether a job in `phase` counts against its account's limit of active jobs.
fn charged(phase: Phase) -> bool {
    matches!(phase, Phase::Queued | Phase::Executing)
}

/// Whether a change from `before` to `after` queues a job that was not counted (a PENDING or
/// HELD job run): the moment its account's limit is checked, and the job charged to it.
fn starts_counting(before: Phase, after: Phase) -> bool {
    charged(after) && !charged(before)
}

/// What [`JobStore::edit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edited {
    /// No job has this id.
    Missing,
    /// The job, changed and written.
    Written(Job),
    /// The job, unchanged: the edit kept it, or the job is no longer executing for the holder
    /// the edit was for.
    Kept(Job),
    /// The edit refused the change.
    Refused(String),
    /// Not written: the edit queued the job ([`JobStore::queue`]), and its account already has
    /// as many jobs queued or executing as its [`Charge::limit`] allows.
    TooManyActive,
}

/// What other replicas did, as a shared store tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A job changed phase (`Phase::Unknown`: it was deleted; `Phase::Queued`: a worker may
    /// claim it).
    Changed {
        /// The job.
        id: String,
        /// Its new phase.
        phase: Phase,
    },
    /// Notifications stopped (the connection carrying them dropped): changes may be missed
    /// until [`Notice::Resumed`]; read the store instead.
    Lost,
    /// Notifications flow again; what changed meanwhile was not told.
    Resumed,
}

/// Durable storage of jobs. Every method has committed when its future completes.
pub trait JobStore: Send + Sync + 'static {
    /// Adds a new job, charged to `quota.charge`'s account, unless its owner already keeps
    /// `quota.jobs` jobs or, for a job added queued, that account already has its limit of jobs
    /// queued or executing. Counting and adding are one atomic step, so that creations racing
    /// each other (on several threads, or several replicas sharing the store) cannot pass a
    /// quota together.
    fn insert(&self, job: &Job, quota: Quota<'_>) -> StoreFuture<'_, Inserted>;

    /// The job with this id.
    fn get(&self, id: &str) -> StoreFuture<'_, Option<Job>>;

    /// Reads the job, lets `edit` change it, and writes it, in one transaction. With `holder`,
    /// the edit is applied only while the job is executing under that replica's lease (how a
    /// replica ends a job that another may have taken over).
    fn edit(&self, id: &str, holder: Option<&str>, edit: Edit) -> StoreFuture<'_, Edited>;

    /// [`JobStore::edit`] for a change that may queue the job (`PHASE=RUN`): when `edit` takes
    /// the job from a phase other than QUEUED and EXECUTING into one of them, the job is charged
    /// to `charge.account`, and the change is not written ([`Edited::TooManyActive`]) if that
    /// account already has `charge.limit` jobs queued or executing. Counted and written in one
    /// transaction, whichever replicas queue jobs of the account at once.
    fn queue(&self, id: &str, charge: Charge<'_>, edit: Edit) -> StoreFuture<'_, Edited>;

    /// Removes a job; whether it existed.
    fn delete(&self, id: &str) -> StoreFuture<'_, bool>;

    /// The jobs of `owner` as UWS 1.1 §2.2.2.1 filters them: in any of `phases` (every phase but
    /// ARCHIVED when empty), created after `after`, the `last` most recent (newest first; else
    /// oldest first), found without reading other owners' jobs.
    fn list<'a>(&'a self, owner: Option<&'a str>, phases: &'a [Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> StoreFuture<'a, Vec<Job>>;

    /// How many jobs `owner` has.
    fn count<'a>(&'a self, owner: Option<&'a str>) -> StoreFuture<'a, usize>;

    /// Deletes the jobs whose destruction time is at or before `now` and returns their ids:
    /// each deleted job is returned to exactly one caller, whichever replica calls.
    fn reap(&self, now: DateTime<Utc>) -> StoreFuture<'_, Vec<String>>;

    /// The oldest queued job, now EXECUTING (its start time set) under a lease of `lease` held by
    /// `replica`; `None` when no job is queued. Replicas claiming at once get different jobs.
    fn claim<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Option<Job>>;

    /// Extends by `lease` every lease `replica` holds and returns the ids of those jobs: a job
    /// the replica runs that is not among them was taken from it (aborted, deleted, recovered).
    fn renew<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Vec<String>>;

    /// Ends the executing jobs whose replica is gone: in a shared store those whose lease ran
    /// out, in one that is not shared every executing job (the engine asks once, as it starts).
    /// They become ERROR with `error`, or QUEUED again with `requeue`; the changed jobs are
    /// returned.
    fn recover<'a>(&'a self, requeue: bool, error: &'a JobError) -> StoreFuture<'a, Vec<Job>>;

    /// How many jobs are in each phase (phases without jobs left out), for metrics.
    fn counts(&self) -> StoreFuture<'_, Vec<(Phase, usize)>>;

    /// Whether the store answers (a readiness probe).
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// Whether several processes may use this store at once.
    fn shared(&self) -> bool {
        false
    }

    /// What other replicas change, as it happens (a shared store only).
    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        None
    }
}

/// A store whose every call is timed into a histogram per operation
/// (`uws_store_seconds{operation}`).
pub struct Timed {
    inner: std::sync::Arc<dyn JobStore>,
    seconds: crate::metrics::Family<crate::metrics::Histogram>,
}

impl Timed {
    /// `inner`, its calls timed into `metrics`.
    pub fn new(inner: std::sync::Arc<dyn JobStore>, metrics: &crate::metrics::Metrics) -> Timed {
        let seconds = metrics.histogram_family("uws_store_seconds", "Time of a UWS job-store call, by operation.", &["operation"], crate::metrics::LATENCY_BUCKETS);
        Timed { inner, seconds }
    }

    fn time<'a, T: Send + 'a>(&'a self, operation: &'static str, call: StoreFuture<'a, T>) -> StoreFuture<'a, T> {
        let histogram = self.seconds.with(&[operation]);
        Box::pin(async move {
            let start = std::time::Instant::now();
            let answer = call.await;
            histogram.observe_duration(start.elapsed());
            answer
        })
    }
}

impl JobStore for Timed {
    fn insert(&self, job: &Job, quota: Quota<'_>) -> StoreFuture<'_, Inserted> {
        self.time("insert", self.inner.insert(job, quota))
    }

    fn get(&self, id: &str) -> StoreFuture<'_, Option<Job>> {
        self.time("get", self.inner.get(id))
    }

    fn edit(&self, id: &str, holder: Option<&str>, edit: Edit) -> StoreFuture<'_, Edited> {
        self.time("edit", self.inner.edit(id, holder, edit))
    }

    fn queue(&self, id: &str, charge: Charge<'_>, edit: Edit) -> StoreFuture<'_, Edited> {
        self.time("queue", self.inner.queue(id, charge, edit))
    }

    fn delete(&self, id: &str) -> StoreFuture<'_, bool> {
        self.time("delete", self.inner.delete(id))
    }

    fn list<'a>(&'a self, owner: Option<&'a str>, phases: &'a [Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> StoreFuture<'a, Vec<Job>> {
        self.time("list", self.inner.list(owner, phases, after, last))
    }

    fn count<'a>(&'a self, owner: Option<&'a str>) -> StoreFuture<'a, usize> {
        self.time("count", self.inner.count(owner))
    }

    fn reap(&self, now: DateTime<Utc>) -> StoreFuture<'_, Vec<String>> {
        self.time("reap", self.inner.reap(now))
    }

    fn claim<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Option<Job>> {
        self.time("claim", self.inner.claim(replica, lease))
    }

    fn renew<'a>(&'a self, replica: &'a str, lease: Duration) -> StoreFuture<'a, Vec<String>> {
        self.time("renew", self.inner.renew(replica, lease))
    }

    fn recover<'a>(&'a self, requeue: bool, error: &'a JobError) -> StoreFuture<'a, Vec<Job>> {
        self.time("recover", self.inner.recover(requeue, error))
    }

    fn counts(&self) -> StoreFuture<'_, Vec<(Phase, usize)>> {
        self.time("counts", self.inner.counts())
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        self.time("ping", self.inner.ping())
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn notices(&self) -> Option<broadcast::Receiver<Notice>> {
        self.inner.notices()
    }
}

/// Phase words counted by a store, back to phases (unknown words left out).
fn phase_counts(rows: impl IntoIterator<Item = (String, i64)>) -> Vec<(Phase, usize)> {
    rows.into_iter().filter_map(|(phase, n)| Some((phase.parse().ok()?, usize::try_from(n).unwrap_or(0)))).collect()
}

/// The key a store indexes owners by: anonymous jobs apart from every named owner.
fn owner_key(owner: Option<&str>) -> String {
    owner.map_or_else(String::new, |o| format!("@{o}"))
}

/// The notification payload of a phase change: the id (base32, no space) and the phase word.
fn notice_payload(id: &str, phase: Phase) -> String {
    format!("{id} {}", phase.as_str())
}

fn parse_notice(payload: &str) -> Option<Notice> {
    let (id, phase) = payload.split_once(' ')?;
    Some(Notice::Changed { id: id.to_owned(), phase: phase.parse().ok()? })
}

fn time(t: &Option<DateTime<Utc>>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| serde_json::Value::String(t.to_rfc3339()))
}

fn encode(job: &Job) -> String {
    serde_json::json!({
        "id": job.id,
        "run_id": job.run_id,
        "owner": job.owner,
        "groups": job.groups,
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
    let bad = |what: &str| StoreError::new(format!("corrupt job record ({what})"));
    let v: serde_json::Value = serde_json::from_str(record).map_err(|_| bad("not JSON"))?;
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    let instant = |k: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        match v[k].as_str() {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(s).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| bad(k)),
        }
    };
    Ok(Job {
        id: text("id").ok_or_else(|| bad("id"))?,
        run_id: text("run_id"),
        owner: text("owner"),
        // Absent from the records of older releases: no groups.
        groups: match v.get("groups") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(groups) => serde_json::from_value(groups.clone()).map_err(|_| bad("groups"))?,
        },
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

/// What recovery does to an executing job whose replica is gone.
pub(crate) fn recovered(job: &mut Job, requeue: bool, error: &JobError) {
    if requeue {
        job.phase = Phase::Queued;
        job.start_time = None;
    } else {
        job.phase = Phase::Error;
        job.end_time = Some(Utc::now());
        job.error = Some(error.clone());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn job(id: &str, owner: Option<&str>) -> Job {
        Job {
            id: id.into(),
            run_id: Some("run".into()),
            owner: owner.map(str::to_owned),
            groups: owner.map(|_| vec!["team".to_owned()]).unwrap_or_default(),
            phase: Phase::Pending,
            creation_time: Utc::now(),
            start_time: None,
            end_time: None,
            execution_duration: 60,
            destruction: Some(Utc::now()),
            parameters: vec![("ID".into(), "m31".into()), ("ID".into(), "m33".into())],
            results: vec![JobResult { id: "r1".into(), mime_type: "application/fits".into(), size: 3 }],
            error: Some(JobError { fatal: false, message: "x".into() }),
        }
    }

    #[test]
    fn records_and_notices_go_through_text_and_back() {
        let a = job("a", Some("alice"));
        let back = decode(&encode(&a)).unwrap();
        assert_eq!((back.parameters, back.results, back.error, back.groups), (a.parameters.clone(), a.results.clone(), a.error.clone(), vec!["team".to_owned()]));
        let older = encode(&a).replace(r#""groups":["team"],"#, "");
        assert!(!older.contains("groups"), "{older}");
        assert_eq!(decode(&older).unwrap().groups, Vec::<String>::new(), "a record of an older release has no groups");
        assert_eq!(parse_notice(&notice_payload("abc", Phase::Queued)), Some(Notice::Changed { id: "abc".into(), phase: Phase::Queued }));
        assert_eq!(parse_notice("abc NOTAPHASE"), None);
        assert_ne!(owner_key(None), owner_key(Some("")), "anonymous is nobody's name");
        assert!(decode("{").is_err() && decode("{\"id\":\"a\"}").is_err());
    }
}
