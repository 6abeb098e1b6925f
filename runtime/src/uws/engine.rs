//! The UWS engine: creates jobs, runs them on a bounded pool of workers, enforces the execution
//! duration, aborts, answers WAIT when the phase changes, destroys expired jobs, and recovers
//! after a restart.
//!
//! Every change is written to the [`JobStore`] before it is announced, so a client that sees a
//! phase sees a committed one, and a restart loses nothing that was announced.

use super::results::{ResultStore, Stored};
use super::store::{Charge, Decision, Edit, Edited, Inserted, JobStore, Notice, Quota, StoreError};
use super::{Job, JobError, JobResult, Phase};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, broadcast, watch};

/// What an engine operation can fail with, each with its UWS status (§2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// 404: no such job (or another owner's).
    NotFound(String),
    /// 403: a change not allowed in the job's phase.
    Forbidden(String),
    /// 400: a bad value.
    Usage(String),
    /// 429: a quota is used up (jobs per owner).
    Quota(String),
    /// 429: the caller has as many jobs queued or executing as it may (`--uws-max-active`); it
    /// may queue another once one of them has ended.
    TooManyActive(String),
    /// 500: the store failed.
    Store(String),
    /// 503: the store cannot be reached (for now).
    Unavailable(String),
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineError::NotFound(m) | EngineError::Forbidden(m) | EngineError::Usage(m) | EngineError::Quota(m) | EngineError::TooManyActive(m) => f.write_str(m),
            EngineError::Store(m) => write!(f, "job store: {m}"),
            EngineError::Unavailable(m) => write!(f, "the job store cannot be reached: {m}"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        if e.unavailable { EngineError::Unavailable(e.message) } else { EngineError::Store(e.message) }
    }
}

impl From<EngineError> for crate::Error {
    fn from(e: EngineError) -> Self {
        use http::StatusCode;
        match e {
            EngineError::NotFound(m) => crate::Error::not_found(m),
            EngineError::Forbidden(m) => crate::Error::new(crate::ivoa::Fault::Authorization, m),
            EngineError::Usage(m) => crate::Error::usage(m),
            EngineError::Quota(m) | EngineError::TooManyActive(m) => crate::Error::with_status(StatusCode::TOO_MANY_REQUESTS, m),
            EngineError::Store(m) => crate::Error::internal(m),
            EngineError::Unavailable(m) => crate::Error::unavailable(format!("the job store cannot be reached: {m}")),
        }
    }
}

/// Why a job's work was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `PHASE=ABORT`.
    Aborted,
    /// The job was deleted (by a client or on its destruction time).
    Deleted,
    /// The execution duration ran out.
    TimedOut,
    /// The service is shutting down.
    Shutdown,
    /// This replica lost the job's lease (it was paused, or cut off from the store, for longer
    /// than the lease) and another replica took the job over.
    TakenOver,
    /// The job function returned: nothing more is accepted.
    Finished,
}

impl Stop {
    fn why(self) -> &'static str {
        match self {
            Stop::Aborted => "the job was aborted",
            Stop::Deleted => "the job was deleted",
            Stop::TimedOut => "the job exceeded its execution duration",
            Stop::Shutdown => "the service is shutting down",
            Stop::TakenOver => "another replica took the job over",
            Stop::Finished => "the job has ended",
        }
    }
}

struct Written {
    results: Vec<JobResult>,
    stop: Option<Stop>,
}

/// Where a job writes its results: files under the data directory, or objects of the result
/// store's bucket (see [`super::results`]). It is also how a job learns
/// it must stop: once the job is aborted, deleted, out of time or the service stops, every write
/// fails (a result being written is removed, not recorded), and [`ResultWriter::is_cancelled`] /
/// [`ResultWriter::cancelled`] tell CPU-bound work to return between its units.
pub struct ResultWriter {
    /// The job's local folder (its results, with a local store; the files of its request).
    dir: PathBuf,
    job: String,
    store: ResultStore,
    written: Mutex<Written>,
    cancelled: AtomicBool,
    signal: watch::Sender<bool>,
    max_results: usize,
    /// The job was deleted while its task ran: the task removes the results folder as it leaves.
    deleted: AtomicBool,
}

/// The error of a write refused because the job was stopped: `BrokenPipe`, as the result's
/// reader is gone. Never `Interrupted`, which `write_all` and `io::copy` retry: a job stopped in
/// the middle of one would spin in it for ever, holding its worker.
fn refused(stop: Stop) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, stop.why())
}

/// A writer that fails as soon as its job is cancelled, so one long result stops too.
struct Checked<'a, W> {
    inner: W,
    writer: &'a ResultWriter,
}

impl<W: std::io::Write> std::io::Write for Checked<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.writer.is_cancelled() {
            return Err(self.writer.refusal());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl ResultWriter {
    /// A writer of files into `dir` accepting at most `max_results` results (0: no limit).
    pub fn new(dir: PathBuf, max_results: usize) -> ResultWriter {
        let store = ResultStore::Local(dir.parent().map(Path::to_path_buf).unwrap_or_default());
        let job = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        ResultWriter::to_store(store, dir, job, max_results)
    }

    /// A writer of job `job`'s results into `store`, its local folder `dir`.
    fn to_store(store: ResultStore, dir: PathBuf, job: String, max_results: usize) -> ResultWriter {
        ResultWriter {
            dir,
            job,
            store,
            written: Mutex::new(Written { results: Vec::new(), stop: None }),
            cancelled: AtomicBool::new(false),
            signal: watch::channel(false).0,
            max_results,
            deleted: AtomicBool::new(false),
        }
    }

    /// Whether the job was told to stop: its function should return (an `Err` is fine) as soon
    /// as it can. Cheap; check it between units of CPU-bound work.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Completes when the job is told to stop (for `select!` in async job functions).
    pub async fn cancelled(&self) {
        let mut receiver = self.signal.subscribe();
        let _ = receiver.wait_for(|c| *c).await;
    }

    /// Why the job was stopped, if it was.
    pub fn stopped(&self) -> Option<Stop> {
        self.written.lock().ok().and_then(|w| w.stop).or(self.is_cancelled().then_some(Stop::Shutdown))
    }

    fn refusal(&self) -> std::io::Error {
        refused(self.stopped().unwrap_or(Stop::Finished))
    }

    /// Stops the job (the first reason wins) and returns the results recorded so far: after
    /// this, none is added, so they are exactly the result files that stay.
    fn stop(&self, why: Stop) -> Vec<JobResult> {
        let results = match self.written.lock() {
            Ok(mut w) => {
                w.stop.get_or_insert(why);
                self.cancelled.store(true, Ordering::Release);
                w.results.clone()
            }
            Err(_) => {
                self.cancelled.store(true, Ordering::Release);
                Vec::new()
            }
        };
        self.signal.send_replace(true);
        results
    }

    /// The files the request that created the job sent (DALI UPLOAD's `param:PART`), kept in
    /// the job's folder by [`Engine::attach`]. Blocking: it reads them.
    pub fn uploads(&self) -> crate::upload::Uploads {
        let dir = self.dir.join(UPLOADS);
        self.store.fetch_uploads(&dir, &self.job);
        crate::upload::Uploads::load(&dir)
    }

    /// Stores a result; `id` becomes part of its URL.
    pub fn put(&self, id: &str, mime_type: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.put_with(id, mime_type, |file| std::io::Write::write_all(file, bytes))
    }

    /// Stores a result that `write` writes as it goes, so that a large result never sits in
    /// memory. Blocking: call it from `tokio::task::spawn_blocking`. If `write` fails, or the job
    /// is stopped meanwhile, the partial file is removed and no result is recorded; once the job
    /// is stopped, it fails at once, and so does every write of `write` (`ErrorKind::BrokenPipe`).
    pub fn put_with(
        &self,
        id: &str,
        mime_type: &str,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || id.starts_with('.') {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("`{id}` is not a result id")));
        }
        if self.is_cancelled() {
            return Err(self.refusal());
        }
        if self.max_results > 0 {
            let written = self.written.lock().map_err(|_| std::io::Error::other("poisoned"))?;
            if written.results.len() >= self.max_results && !written.results.iter().any(|r| r.id == id) {
                return Err(std::io::Error::other(format!("a job keeps at most {} results", self.max_results)));
            }
        }
        let mut write = Some(write);
        let mut checked = |out: &mut dyn std::io::Write| match write.take() {
            Some(write) => write(&mut Checked { inner: out, writer: self }),
            None => Err(std::io::Error::other("a result is written once")),
        };
        let size = self.store.put(&self.dir, &self.job, id, &mut checked)?;
        // Recorded under the lock that `stop` takes: a result either is in the snapshot `stop`
        // returns or is removed here.
        let mut w = self.written.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        if let Some(stop) = w.stop {
            drop(w);
            self.store.remove(&self.dir, &self.job, id);
            return Err(refused(stop));
        }
        w.results.retain(|r| r.id != id);
        w.results.push(JobResult { id: id.to_owned(), mime_type: mime_type.to_owned(), size });
        Ok(())
    }
}

/// The folder of a job's folder that holds the files of the request that created it: no result
/// id starts with `.`, so none can be this.
const UPLOADS: &str = ".uploads";

/// The work of a job, which the service provides.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// Runs one job: its parameters in, results written through the writer.
pub trait Runner: Send + Sync + 'static {
    /// Starts the work of `job`.
    fn run(&self, job: Job, results: Arc<ResultWriter>) -> JobFuture;
}

/// How the engine behaves: the operator's limits (the generated server sets them from
/// `--uws-*` flags; see [`Config::from_serve`]).
#[derive(Debug, Clone)]
pub struct Config {
    /// Results live under `data_dir/results/JOB/` (or in `results`' bucket, and then only a
    /// job's request files are kept there).
    pub data_dir: PathBuf,
    /// Where results are kept.
    pub results: ResultStore,
    /// Jobs executing at once.
    pub workers: usize,
    /// Execution duration of a new job, in seconds (0 = unlimited).
    pub execution_duration: u64,
    /// The longest execution duration a client may ask for, in seconds (0 = no maximum; else
    /// "unlimited" is refused and becomes this).
    pub max_execution_duration: u64,
    /// Lifetime of a new job before destruction.
    pub lifetime: Duration,
    /// The longest lifetime a client may ask for (`DESTRUCTION` is moved earlier to fit).
    pub max_lifetime: Duration,
    /// The longest a WAIT blocks (`WAIT=-1` and larger values are capped to it).
    pub max_wait: Duration,
    /// Queue again the jobs that were executing when their process stopped (a restart, or a
    /// replica gone), instead of failing them: for services whose jobs are idempotent.
    pub requeue_on_restart: bool,
    /// How long a replica's claim on an executing job lasts unless renewed (every third of it):
    /// with a shared store, a job whose replica died is recovered within about 1.5 leases.
    pub lease: Duration,
    /// How often the store is read instead when its notifications are lost (WAIT, queued jobs).
    pub poll: Duration,
    /// Where the engine's metrics go (jobs by phase, queue depth, workers in use, store call
    /// times, jobs claimed and ended); `None`: none kept.
    pub metrics: Option<crate::metrics::Metrics>,
    /// How often expired jobs are looked for.
    pub reap_every: Duration,
    /// Results one job may keep (0 = no limit); a job writing more fails.
    pub max_results: usize,
    /// Jobs one owner may have at once (0 = no limit); creating more answers 429.
    pub max_jobs_per_owner: usize,
    /// Jobs one account (see [`Account`]) may have QUEUED or EXECUTING at once (0 = no limit);
    /// queuing more answers 429, and leaves the job as it was.
    pub max_active_per_account: usize,
    /// Stop running jobs on Ctrl-C or SIGTERM (as the server does), so that shutdown is not held
    /// up by their work; they are recovered at the next start as after a crash.
    pub stop_on_signal: bool,
}

impl Config {
    /// Defaults: two workers, 10 minutes of execution (at most 1 hour), 7 days of life (at most
    /// 30), WAIT capped at 60 s, 1,000 results a job, 1,000 jobs an owner, no limit of active
    /// jobs.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir: PathBuf = data_dir.into();
        Config {
            results: ResultStore::Local(data_dir.join("results")),
            data_dir,
            workers: 2,
            execution_duration: 600,
            max_execution_duration: 3600,
            lifetime: Duration::from_secs(7 * 24 * 3600),
            max_lifetime: Duration::from_secs(30 * 24 * 3600),
            max_wait: Duration::from_secs(60),
            requeue_on_restart: false,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            metrics: None,
            reap_every: Duration::from_secs(60),
            max_results: 1000,
            max_jobs_per_owner: 1000,
            max_active_per_account: 0,
            stop_on_signal: false,
        }
    }

    /// The engine a server runs: the data directory and the `--uws-*` limits of its command line.
    pub fn from_serve(config: &crate::serve::Config) -> Self {
        let limits = &config.uws;
        Config {
            workers: limits.workers,
            execution_duration: limits.execution_duration,
            max_execution_duration: limits.max_execution_duration,
            lifetime: limits.destruction,
            max_lifetime: limits.max_destruction,
            max_wait: limits.max_wait,
            max_results: limits.max_results,
            max_jobs_per_owner: limits.max_jobs,
            max_active_per_account: limits.max_active,
            lease: limits.lease,
            metrics: Some(config.metrics.clone()),
            stop_on_signal: true,
            ..Config::new(&config.data_dir)
        }
    }

    /// The execution duration a job gets when `asked` (`None`: the default), within the maximum.
    pub fn execution_duration_for(&self, asked: Option<u64>) -> u64 {
        let d = asked.unwrap_or(self.execution_duration);
        if self.max_execution_duration > 0 && (d == 0 || d > self.max_execution_duration) { self.max_execution_duration } else { d }
    }
}

/// What a request creating a job says besides its parameters: what the client asked for
/// (`EXECUTIONDURATION`, `DESTRUCTION`), and who it is.
#[derive(Debug, Clone, Default)]
pub struct Requested {
    /// Seconds (0: unlimited, if the service allows it).
    pub execution_duration: Option<u64>,
    /// When to destroy the job.
    pub destruction: Option<DateTime<Utc>>,
    /// The account the job is charged to while queued or executing; `None`: the owner's (see
    /// [`Account::of`]).
    pub account: Option<Account>,
}

/// Whose jobs count together against `--uws-max-active`: an authenticated identity's, or an
/// anonymous client address's (the TCP peer, or the client that trusted proxies report, an IPv6
/// address by its `/64`: as the rate limits count it, [`crate::quota::client_address`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    /// An authenticated identity: the owner of the jobs it creates.
    Identity(String),
    /// An anonymous client.
    Address(IpAddr),
}

impl Account {
    /// The account of a caller that owns its jobs as `owner`: the identity, or for an anonymous
    /// caller its client `address` (unknown: the unspecified address, which every anonymous
    /// caller of unknown address then shares).
    pub fn of(owner: Option<&str>, address: Option<IpAddr>) -> Account {
        match owner {
            Some(identity) => Account::Identity(identity.to_owned()),
            None => Account::Address(address.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED))),
        }
    }

    /// How the job store keeps it: `@` and the identity (as owners are kept), or `#` and the
    /// address; no identity's key is an address's.
    pub fn key(&self) -> String {
        match self {
            Account::Identity(identity) => format!("@{identity}"),
            Account::Address(address) => format!("#{address}"),
        }
    }

    /// Why a job of this account is not queued under `limit`.
    fn refusal(&self, limit: usize) -> EngineError {
        let who = match self {
            Account::Identity(_) => "this identity",
            Account::Address(_) => "this client address",
        };
        EngineError::TooManyActive(format!("too many jobs at once: {who} may have {limit} jobs queued or executing; try again once one of them has ended"))
    }
}

struct Inner {
    store: Arc<dyn JobStore>,
    runner: Arc<dyn Runner>,
    config: Config,
    /// This process's name in the store's leases: random, new at every start.
    replica: String,
    /// The latest phase of each job somebody waits on (WAIT), for as long as somebody does.
    phases: Mutex<HashMap<String, watch::Sender<Phase>>>,
    /// The writer of every job this replica executes: how it is stopped.
    running: Mutex<HashMap<String, Arc<ResultWriter>>>,
    workers: Arc<Semaphore>,
    /// Wakes the dispatcher: a job was queued, or a worker is free.
    queued: Notify,
    /// The store's notifications are lost for now: WAIT and the dispatcher read the store.
    degraded: AtomicBool,
    /// Shutting down: nothing more is claimed.
    stopping: AtomicBool,
    /// A claim is under way, and how many were made: what [`Engine::renew`] must not mistake
    /// for a lost claim.
    claiming: AtomicBool,
    claims: AtomicUsize,
    /// Jobs this replica claimed, and ended by phase (when metrics are kept).
    counters: Option<(crate::metrics::Counter, crate::metrics::Family<crate::metrics::Counter>)>,
}

/// The UWS engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// The message a job gets when the service restarted under it.
pub const RESTARTED: &str = "the service restarted while the job was executing";

/// The message a job gets when the replica executing it shut down (SIGTERM, Ctrl-C).
pub const REPLICA_STOPPED: &str = "the replica executing the job shut down";

/// The message a job gets when the replica executing it stopped and another one noticed.
pub const REPLICA_LOST: &str = "the replica executing the job stopped (its lease expired)";

/// A new job id: 128 bits from the operating system's random source, as 26 characters of
/// lower-case base32 (RFC 4648 alphabet, no padding): URL-safe, and nothing about one id tells
/// anything about another.
pub fn new_id() -> Result<String, EngineError> {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| EngineError::Store(format!("no random source: {e}")))?;
    let n = u128::from_be_bytes(bytes);
    Ok((0..26).map(|i| char::from(ALPHABET[((n >> (i * 5)) & 31) as usize])).collect())
}

/// An edit of a job that does not depend on its phase.
fn always(change: impl FnOnce(&mut Job) + Send + 'static) -> Edit {
    Box::new(move |job| {
        change(job);
        Decision::Write
    })
}

impl Engine {
    /// Starts the engine on `store`. With a store of its own (SQLite), jobs that were executing
    /// when the service stopped become ERROR (or are queued again, if configured); with a shared
    /// store, jobs whose replica is gone are found by their expired leases, now and every half
    /// lease. Queued jobs are claimed as workers are free, and the reaper of expired jobs starts.
    /// Needs a Tokio runtime.
    pub async fn start(store: Arc<dyn JobStore>, runner: Arc<dyn Runner>, config: Config) -> Result<Engine, EngineError> {
        let store: Arc<dyn JobStore> = match &config.metrics {
            Some(metrics) => Arc::new(super::store::Timed::new(store, metrics)),
            None => store,
        };
        let counters = config.metrics.as_ref().map(|m| {
            (
                m.counter("uws_jobs_claimed", "UWS jobs this replica claimed to execute."),
                m.counter_family("uws_jobs_ended", "UWS jobs this replica ended, by final phase.", &["phase"]),
            )
        });
        let engine = Engine {
            inner: Arc::new(Inner {
                workers: Arc::new(Semaphore::new(config.workers.max(1))),
                store,
                runner,
                config,
                replica: new_id()?,
                phases: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                queued: Notify::new(),
                degraded: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
                claiming: AtomicBool::new(false),
                claims: AtomicUsize::new(0),
                counters,
            }),
        };
        if let Some(metrics) = &engine.inner.config.metrics {
            engine.observe(metrics);
        }
        let shared = engine.inner.store.shared();
        if let Some(notices) = engine.inner.store.notices() {
            tokio::spawn(engine.clone().hear(notices));
        }
        let message = if shared { REPLICA_LOST } else { RESTARTED };
        engine.recover(message).await?;
        tokio::spawn(engine.clone().dispatch());
        let keeper = engine.clone();
        tokio::spawn(async move {
            let lease = keeper.inner.config.lease;
            let mut renew = tokio::time::interval((lease / 3).max(Duration::from_millis(10)));
            let mut recover = tokio::time::interval((lease / 2).max(Duration::from_millis(10)));
            let mut reap = tokio::time::interval(keeper.inner.config.reap_every);
            renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            recover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = renew.tick() => keeper.renew().await,
                    _ = recover.tick(), if shared => {
                        let _ = keeper.recover(REPLICA_LOST).await;
                    }
                    _ = reap.tick() => {
                        let _ = keeper.reap(Utc::now()).await;
                    }
                }
            }
        });
        if engine.inner.config.stop_on_signal {
            let stopper = engine.clone();
            let hold = shared.then(crate::serve::ExitHold::new);
            tokio::spawn(async move {
                crate::serve::shutdown_signal().await;
                let executing = stopper.executing();
                stopper.shutdown();
                stopper.release(executing).await;
                drop(hold);
            });
        }
        Ok(engine)
    }

    /// Tells every executing job to stop (shutdown) and claims no more: their phases stay as
    /// they are in the store, for the next start (or, with a shared store, another replica once
    /// the lease expires) to recover.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.queued.notify_one();
        let writers: Vec<Arc<ResultWriter>> = self.inner.running.lock().map(|r| r.values().cloned().collect()).unwrap_or_default();
        for writer in writers {
            writer.stop(Stop::Shutdown);
        }
    }

    /// Registers the engine's gauges: workers (capacity, in use), and jobs by phase and queued,
    /// which the store is asked for every 10 s (every replica sees the whole store's).
    fn observe(&self, metrics: &crate::metrics::Metrics) {
        let capacity = i64::try_from(self.inner.config.workers.max(1)).unwrap_or(i64::MAX);
        metrics.gauge_fn("uws_workers", "UWS jobs this replica may execute at once.", move || capacity);
        let workers = self.inner.workers.clone();
        metrics.gauge_fn("uws_workers_busy", "UWS jobs this replica executes now.", move || capacity - i64::try_from(workers.available_permits()).unwrap_or(0));
        let jobs = metrics.gauge_family("uws_jobs", "UWS jobs in the store, by phase (read every 10 s).", &["phase"]);
        let queued = metrics.gauge("uws_queue_depth", "UWS jobs queued, waiting for a worker of any replica (read every 10 s).");
        let engine = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tick.tick().await;
                let Ok(counts) = engine.inner.store.counts().await else { continue };
                for phase in Phase::ALL {
                    let n = counts.iter().find(|(p, _)| *p == phase).map_or(0, |(_, n)| *n);
                    let n = i64::try_from(n).unwrap_or(i64::MAX);
                    jobs.with(&[phase.as_str()]).set(n);
                    if phase == Phase::Queued {
                        queued.set(n);
                    }
                }
            }
        });
    }

    /// The ids of the jobs this replica executes.
    pub fn executing(&self) -> Vec<String> {
        self.inner.running.lock().map(|r| r.keys().cloned().collect()).unwrap_or_default()
    }

    /// With a shared store, hands back `executing` (the jobs this replica executed as it shut
    /// down, [`Engine::executing`] before [`Engine::shutdown`]): each
    /// ends in ERROR at once (or is queued again for idempotent jobs), for another replica, rather
    /// than when its lease expires. A store of its own keeps them for the next start.
    pub async fn release(&self, executing: Vec<String>) {
        if !self.inner.store.shared() {
            return;
        }
        let error = JobError { fatal: false, message: REPLICA_STOPPED.to_owned() };
        let requeue = self.inner.config.requeue_on_restart;
        for id in executing {
            let error = error.clone();
            let _ = self
                .edit(
                    &id,
                    Some(&self.inner.replica),
                    Box::new(move |job| {
                        super::store::recovered(job, requeue, &error);
                        Decision::Write
                    }),
                )
                .await;
        }
    }

    /// The limits this engine applies.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store this engine keeps its jobs in.
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.inner.store
    }

    fn results_dir(&self, id: &str) -> PathBuf {
        self.inner.config.results.local_dir(&self.inner.config.data_dir, id)
    }

    /// Deletes job `id`'s results and files: its folder now, its objects in the background.
    fn delete_results(&self, id: &str) {
        let local = self.results_dir(id);
        let _ = std::fs::remove_dir_all(&local);
        if !matches!(self.inner.config.results, ResultStore::Local(_)) {
            let (store, id) = (self.inner.config.results.clone(), id.to_owned());
            tokio::spawn(async move { store.delete_job(&local, &id).await });
        }
    }

    /// Tells anyone waiting on `id` its new phase; a job queued wakes the dispatcher, and a job
    /// this replica executes that another one ended (or deleted) is told to stop. A job it
    /// executes announced PENDING or QUEUED is not: that is the news of the queuing that
    /// preceded its claim, arriving late (a creation with `PHASE=RUN` announces QUEUED after a
    /// free worker may have claimed the job); a job queued again by another replica is one whose
    /// lease this replica lost, which [`Engine::renew`] finds.
    fn announce(&self, id: &str, phase: Phase) {
        if let Ok(mut phases) = self.inner.phases.lock() {
            if let Some(sender) = phases.get(id) {
                sender.send_replace(phase);
                if sender.receiver_count() == 0 {
                    phases.remove(id);
                }
            }
        }
        if phase == Phase::Queued {
            self.inner.queued.notify_one();
        }
        if phase.is_final() || phase == Phase::Unknown {
            self.stop_running(id, phase);
        }
    }

    /// Tells the work of `id`, if this replica executes it, to stop: the job is now in `phase`
    /// (UNKNOWN: deleted).
    fn stop_running(&self, id: &str, phase: Phase) {
        let writer = self.inner.running.lock().ok().and_then(|r| r.get(id).cloned());
        if let Some(writer) = writer {
            if phase == Phase::Unknown {
                writer.deleted.store(true, Ordering::Release);
                writer.stop(Stop::Deleted);
            } else {
                writer.stop(Stop::Aborted);
            }
        }
    }

    /// Applies `edit` to the job in the store and announces the change.
    async fn edit(&self, id: &str, holder: Option<&str>, edit: Edit) -> Result<Job, EngineError> {
        let edited = self.inner.store.edit(id, holder, edit).await?;
        self.settle(id, edited)
    }

    /// What a store's edit of job `id` comes to; a change written is announced.
    fn settle(&self, id: &str, edited: Edited) -> Result<Job, EngineError> {
        match edited {
            Edited::Missing => Err(EngineError::NotFound(format!("no job `{id}`"))),
            Edited::Refused(why) => Err(EngineError::Forbidden(why)),
            // Only `queue` answers this, and `run_as` says whose limit it was.
            Edited::TooManyActive => Err(EngineError::TooManyActive(format!("job `{id}` cannot be queued: too many jobs at once"))),
            Edited::Kept(job) => Ok(job),
            Edited::Written(job) => {
                self.announce(&job.id, job.phase);
                Ok(job)
            }
        }
    }

    /// The job `id`, if `owner` may see it. Another owner's job is answered as one that does
    /// not exist (404): whether an id is taken is nobody else's business.
    pub async fn get(&self, owner: Option<&str>, id: &str) -> Result<Job, EngineError> {
        let job = self.inner.store.get(id).await?.ok_or_else(|| EngineError::NotFound(format!("no job `{id}`")))?;
        if job.owner.as_deref() != owner {
            return Err(EngineError::NotFound(format!("no job `{id}`")));
        }
        Ok(job)
    }

    /// Creates a job for `owner`; with `run`, queues it at once (`PHASE=RUN`), charged to the
    /// owner's account.
    pub async fn create(&self, owner: Option<&str>, run_id: Option<String>, parameters: Vec<(String, String)>, run: bool) -> Result<Job, EngineError> {
        self.create_with(owner, &[], run_id, parameters, run, Requested::default()).await
    }

    /// [`Engine::create`], with the execution duration and destruction the client asked for
    /// (each brought within the configured maximum), charged to the account `requested` names.
    /// `groups` are the owner's, kept with the job for its run (see [`Job::groups`]).
    /// A job that would pass the owner's job quota, or (created queued) its account's limit of
    /// active jobs, is not created: 429, [`EngineError::Quota`] or [`EngineError::TooManyActive`].
    pub async fn create_with(&self, owner: Option<&str>, groups: &[String], run_id: Option<String>, parameters: Vec<(String, String)>, run: bool, requested: Requested) -> Result<Job, EngineError> {
        if run_id.as_ref().is_some_and(|r| r.chars().count() > 64) {
            return Err(EngineError::Usage("RUNID is longer than 64 characters".into()));
        }
        let now = Utc::now();
        let job = Job {
            id: new_id()?,
            run_id,
            owner: owner.map(str::to_owned),
            groups: if owner.is_some() { groups.to_vec() } else { Vec::new() },
            phase: if run { Phase::Queued } else { Phase::Pending },
            creation_time: now,
            start_time: None,
            end_time: None,
            execution_duration: self.inner.config.execution_duration_for(requested.execution_duration),
            destruction: Some(self.destruction_for(now, requested.destruction)),
            parameters,
            results: Vec::new(),
            error: None,
        };
        // The quotas are checked as the job is inserted, in one step: concurrent creations
        // cannot pass them together.
        let limit = self.inner.config.max_jobs_per_owner;
        let active = self.inner.config.max_active_per_account;
        let account = requested.account.unwrap_or_else(|| Account::of(owner, None));
        let key = account.key();
        let quota = Quota { jobs: limit, charge: Some(Charge { account: &key, limit: active }) };
        match self.inner.store.insert(&job, quota).await? {
            Inserted::Added => {}
            Inserted::TooManyJobs => return Err(EngineError::Quota(format!("an owner keeps at most {limit} jobs; delete some first"))),
            Inserted::TooManyActive => return Err(account.refusal(active)),
        }
        if run {
            self.inner.queued.notify_one();
        }
        Ok(job)
    }

    fn destruction_for(&self, created: DateTime<Utc>, asked: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(7));
        let latest = created + span(self.inner.config.max_lifetime);
        asked.unwrap_or(created + span(self.inner.config.lifetime)).min(latest)
    }

    /// The jobs of `owner`, filtered as §2.2.2.1 says: any of `phases` (ARCHIVED only when
    /// asked for), created after `after`, the `last` most recent (newest first). Only the
    /// caller's jobs are read.
    pub async fn list(&self, owner: Option<&str>, phases: &[Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> Result<Vec<Job>, EngineError> {
        Ok(self.inner.store.list(owner, phases, after, last).await?)
    }

    /// `PHASE=RUN`: queues a pending job, charged to its owner's account.
    pub async fn run(&self, owner: Option<&str>, id: &str) -> Result<Job, EngineError> {
        self.run_as(owner, id, &Account::of(owner, None)).await
    }

    /// `PHASE=RUN` by `account`: queues a pending job and charges it to `account`, unless that
    /// account has its limit of jobs queued or executing already (429,
    /// [`EngineError::TooManyActive`]; the job stays as it was). Counted and queued in one step
    /// of the store, so concurrent runs, through any replica, cannot pass the limit together.
    pub async fn run_as(&self, owner: Option<&str>, id: &str, account: &Account) -> Result<Job, EngineError> {
        self.get(owner, id).await?;
        let limit = self.inner.config.max_active_per_account;
        let key = account.key();
        let queue = Box::new(|job: &mut Job| match job.phase {
            Phase::Pending | Phase::Held => {
                job.phase = Phase::Queued;
                Decision::Write
            }
            Phase::Queued | Phase::Executing => Decision::Keep,
            other => Decision::Refuse(format!("a job in phase {other} cannot be run")),
        });
        match self.inner.store.queue(id, Charge { account: &key, limit }, queue).await? {
            Edited::TooManyActive => Err(account.refusal(limit)),
            edited => self.settle(id, edited),
        }
    }

    /// `PHASE=ABORT`: stops a job that has not ended, whichever replica executes it. The job's
    /// work is told to stop; the results written before are kept (and listed); its worker is
    /// free once the work returns.
    pub async fn abort(&self, owner: Option<&str>, id: &str) -> Result<Job, EngineError> {
        let job = self.get(owner, id).await?;
        if job.phase.is_final() {
            return Err(EngineError::Forbidden(format!("a job in phase {} cannot be aborted", job.phase)));
        }
        // Executing here: stop the work first, so that the results recorded are all there are.
        let writer = self.inner.running.lock().ok().and_then(|r| r.get(id).cloned());
        let results = writer.map(|w| w.stop(Stop::Aborted));
        self.edit(
            id,
            None,
            Box::new(move |job| {
                if job.phase.is_final() {
                    return Decision::Refuse(format!("a job in phase {} cannot be aborted", job.phase));
                }
                job.phase = Phase::Aborted;
                job.end_time = Some(Utc::now());
                if let Some(results) = results {
                    job.results = results;
                }
                Decision::Write
            }),
        )
        .await
    }

    /// Deletes a job and its results.
    pub async fn delete(&self, owner: Option<&str>, id: &str) -> Result<(), EngineError> {
        self.get(owner, id).await?;
        if self.inner.store.delete(id).await? {
            self.removed(id);
        }
        Ok(())
    }

    /// A job was deleted: its results folder goes now if no work is running here, else when the
    /// work has stopped (the job's task removes it), so that nothing re-creates it; waiters wake,
    /// find the job gone, and answer 404.
    fn removed(&self, id: &str) {
        let running = self.inner.running.lock().ok().and_then(|r| {
            let writer = r.get(id).cloned();
            // Under the lock the task takes to leave: either it sees `Deleted`, or it has left.
            if let Some(w) = &writer {
                w.deleted.store(true, Ordering::Release);
                w.stop(Stop::Deleted);
            }
            writer
        });
        if running.is_none() {
            self.delete_results(id);
        }
        self.announce(id, Phase::Unknown);
    }

    /// `EXECUTIONDURATION`: seconds the job may run, while it has not started (brought within
    /// the configured maximum).
    pub async fn set_execution_duration(&self, owner: Option<&str>, id: &str, seconds: u64) -> Result<Job, EngineError> {
        self.get(owner, id).await?;
        let seconds = self.inner.config.execution_duration_for(Some(seconds));
        self.edit(
            id,
            None,
            Box::new(move |job| {
                if !matches!(job.phase, Phase::Pending | Phase::Held) {
                    return Decision::Refuse(format!("the execution duration of a job in phase {} cannot change", job.phase));
                }
                job.execution_duration = seconds;
                Decision::Write
            }),
        )
        .await
    }

    /// `DESTRUCTION`: when the job is destroyed (the service may shorten it to its maximum).
    pub async fn set_destruction(&self, owner: Option<&str>, id: &str, at: DateTime<Utc>) -> Result<Job, EngineError> {
        let job = self.get(owner, id).await?;
        let at = self.destruction_for(job.creation_time, Some(at));
        self.edit(id, None, always(move |job| job.destruction = Some(at))).await
    }

    /// Keeps the files of the request that created the pending job `id` (DALI UPLOAD's
    /// `param:PART`) in its folder, where [`ResultWriter::uploads`] reads them when it runs.
    pub async fn attach(&self, id: &str, uploads: crate::upload::Uploads) -> Result<(), EngineError> {
        let dir = self.results_dir(id).join(UPLOADS);
        let (store, job) = (self.inner.config.results.clone(), id.to_owned());
        let kept = tokio::task::spawn_blocking(move || uploads.store(&dir).and_then(|()| store.share_uploads(&dir, &job)));
        kept.await.map_err(|e| EngineError::Store(e.to_string()))?.map_err(EngineError::Store)
    }

    /// `RUNID`: the client's name for the job (at most 64 characters, DALI 1.1 §3.2.5), in any phase.
    pub async fn set_run_id(&self, owner: Option<&str>, id: &str, run_id: String) -> Result<Job, EngineError> {
        if run_id.chars().count() > 64 {
            return Err(EngineError::Usage("RUNID is longer than 64 characters".into()));
        }
        self.get(owner, id).await?;
        self.edit(id, None, always(move |job| job.run_id = Some(run_id))).await
    }

    /// Replaces parameters of a pending job (DALI 1.1 §2.1).
    pub async fn set_parameters(&self, owner: Option<&str>, id: &str, parameters: Vec<(String, String)>) -> Result<Job, EngineError> {
        self.get(owner, id).await?;
        self.edit(
            id,
            None,
            Box::new(move |job| {
                if job.phase != Phase::Pending {
                    return Decision::Refuse(format!("parameters of a job in phase {} cannot change", job.phase));
                }
                job.parameters = merged(&job.parameters, parameters);
                Decision::Write
            }),
        )
        .await
    }

    /// WAIT (§2.2.1.2): returns when the job's phase changes, at once if the job is not active
    /// or (with `phase`) no longer in `phase`, and at the latest after `timeout` (capped by the
    /// configured maximum; `None` waits as long as allowed). A change made by another replica
    /// wakes it through the store's notifications; while those are lost, the store is read every
    /// [`Config::poll`].
    pub async fn wait(&self, owner: Option<&str>, id: &str, timeout: Option<Duration>, phase: Option<Phase>) -> Result<Job, EngineError> {
        let limit = timeout.map_or(self.inner.config.max_wait, |t| t.min(self.inner.config.max_wait));
        // Subscribe before reading, so that a change committed in between is not missed.
        let subscribed = self.inner.phases.lock().ok().map(|mut phases| phases.entry(id.to_owned()).or_insert_with(|| watch::channel(Phase::Unknown).0).subscribe());
        let Some(mut receiver) = subscribed else { return self.get(owner, id).await };
        let job = self.get(owner, id).await?;
        if !job.phase.is_active() || phase.is_some_and(|p| p != job.phase) {
            return Ok(job);
        }
        let start = job.phase;
        // A change announced since subscribing is in the channel: read and mark it seen in one
        // step, so that none falls between this check and the wait.
        let (announced, latest) = {
            let seen = receiver.borrow_and_update();
            (seen.has_changed(), *seen)
        };
        if announced && latest != start {
            return self.get(owner, id).await;
        }
        let mut poll = tokio::time::interval(self.inner.config.poll);
        poll.tick().await;
        let changed = async {
            loop {
                tokio::select! {
                    changed = receiver.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if *receiver.borrow_and_update() != start {
                            return;
                        }
                    }
                    _ = poll.tick() => {
                        if self.inner.degraded.load(Ordering::Acquire) {
                            match self.inner.store.get(id).await {
                                Ok(Some(j)) if j.phase == start => {}
                                _ => return,
                            }
                        }
                    }
                }
            }
        };
        let _ = tokio::time::timeout(limit, changed).await;
        drop(receiver);
        if let Ok(mut phases) = self.inner.phases.lock() {
            if phases.get(id).is_some_and(|s| s.receiver_count() == 0) {
                phases.remove(id);
            }
        }
        self.get(owner, id).await
    }

    /// Deletes every job whose destruction time is before `now`, with its results; the number
    /// deleted. Every replica may run it: each expired job is deleted by exactly one.
    pub async fn reap(&self, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let expired = self.inner.store.reap(now).await?;
        for id in &expired {
            self.removed(id);
        }
        Ok(expired.len())
    }

    /// Ends (or queues again) the executing jobs whose replica is gone.
    async fn recover(&self, message: &str) -> Result<(), EngineError> {
        let error = JobError { fatal: false, message: message.to_owned() };
        for job in self.inner.store.recover(self.inner.config.requeue_on_restart, &error).await? {
            self.announce(&job.id, job.phase);
        }
        Ok(())
    }

    /// Extends the leases of the jobs this replica executes; a job the store no longer leases to
    /// it (another replica aborted, deleted or recovered it, and the notification was lost) is
    /// told to stop. A job leased to it that it does not execute was claimed by a claim whose
    /// answer was lost (the connection dropped as it committed): it never ran, and is queued
    /// again.
    async fn renew(&self) {
        let claims = self.inner.claims.load(Ordering::Acquire);
        let claiming = self.inner.claiming.load(Ordering::Acquire);
        let Ok(held) = self.inner.store.renew(&self.inner.replica, self.inner.config.lease).await else { return };
        let running: Vec<String> = self.inner.running.lock().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        // No claim was under way meanwhile: every job this replica runs was claimed before the
        // renewal read the leases.
        let settled = !claiming && claims == self.inner.claims.load(Ordering::Acquire) && !self.inner.claiming.load(Ordering::Acquire);
        for id in running.iter().filter(|id| !held.contains(id)) {
            match self.inner.store.get(id).await {
                // Claimed since the renewal was read: still executing, still ours.
                Ok(Some(job)) if job.phase == Phase::Executing && !settled => {}
                // Not ended, but not under this replica's lease: the lease ran out here (paused,
                // or cut off from the store) and another replica queued the job again, and may
                // run it already.
                Ok(Some(job)) if !job.phase.is_final() => {
                    if let Some(writer) = self.inner.running.lock().ok().and_then(|r| r.get(id).cloned()) {
                        writer.stop(Stop::TakenOver);
                    }
                    self.announce(id, job.phase);
                }
                Ok(Some(job)) => {
                    self.stop_running(id, job.phase);
                    self.announce(id, job.phase);
                }
                Ok(None) => self.announce(id, Phase::Unknown),
                Err(_) => {}
            }
        }
        // Only when no claim was under way meanwhile, whose job is not yet among the running.
        if !settled || claims != self.inner.claims.load(Ordering::Acquire) || self.inner.claiming.load(Ordering::Acquire) {
            return;
        }
        for id in held.iter().filter(|id| !running.contains(id)) {
            let requeue = Box::new(|job: &mut Job| {
                job.phase = Phase::Queued;
                job.start_time = None;
                Decision::Write
            });
            let _ = self.edit(id, Some(&self.inner.replica), requeue).await;
        }
    }

    /// What the store's notifications say other replicas did, until the store is dropped.
    async fn hear(self, mut notices: broadcast::Receiver<Notice>) {
        loop {
            match notices.recv().await {
                Ok(Notice::Changed { id, phase }) => self.announce(&id, phase),
                Ok(Notice::Lost) => self.inner.degraded.store(true, Ordering::Release),
                Ok(Notice::Resumed) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    // What changed meanwhile was not told: read it.
                    self.inner.degraded.store(false, Ordering::Release);
                    self.resync().await;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Reads the phase of every job somebody waits on, and looks for queued jobs.
    async fn resync(&self) {
        let watched: Vec<String> = self.inner.phases.lock().map(|p| p.keys().cloned().collect()).unwrap_or_default();
        for id in watched {
            match self.inner.store.get(&id).await {
                Ok(Some(job)) => self.announce(&id, job.phase),
                Ok(None) => self.announce(&id, Phase::Unknown),
                Err(_) => {}
            }
        }
        self.inner.queued.notify_one();
    }

    /// Claims queued jobs while a worker is free, and runs each on a task of its own. Woken when
    /// a job is queued here or (by notification) on another replica, and at least every
    /// [`Config::poll`] while notifications are lost or every ten polls otherwise.
    async fn dispatch(self) {
        loop {
            if self.inner.stopping.load(Ordering::Acquire) {
                return;
            }
            let Ok(permit) = self.inner.workers.clone().acquire_owned().await else { return };
            if self.inner.stopping.load(Ordering::Acquire) {
                return;
            }
            self.inner.claiming.store(true, Ordering::Release);
            let claimed = self.inner.store.claim(&self.inner.replica, self.inner.config.lease).await;
            if let Ok(Some(job)) = &claimed {
                let writer = Arc::new(ResultWriter::to_store(self.inner.config.results.clone(), self.results_dir(&job.id), job.id.clone(), self.inner.config.max_results));
                if let Ok(mut running) = self.inner.running.lock() {
                    running.insert(job.id.clone(), writer);
                }
            }
            self.inner.claims.fetch_add(1, Ordering::AcqRel);
            self.inner.claiming.store(false, Ordering::Release);
            match claimed {
                Ok(Some(job)) => {
                    if let Some((claimed, _)) = &self.inner.counters {
                        claimed.inc();
                    }
                    let writer = self.inner.running.lock().ok().and_then(|r| r.get(&job.id).cloned());
                    let Some(writer) = writer else { continue };
                    self.announce(&job.id, job.phase);
                    let engine = self.clone();
                    tokio::spawn(async move {
                        let id = job.id.clone();
                        engine.execute(job, &writer).await;
                        engine.leave(&id, &writer);
                        drop(permit);
                        engine.inner.queued.notify_one();
                    });
                }
                Ok(None) => {
                    drop(permit);
                    let poll = self.inner.config.poll;
                    let every = if self.inner.degraded.load(Ordering::Acquire) || !self.inner.store.shared() { poll } else { poll * 10 };
                    let _ = tokio::time::timeout(every, self.inner.queued.notified()).await;
                }
                Err(_) => {
                    drop(permit);
                    tokio::time::sleep(self.inner.config.poll).await;
                }
            }
        }
    }

    /// The work of one claimed job, until it returns, whatever stops it.
    async fn execute(&self, job: Job, writer: &Arc<ResultWriter>) {
        let id = job.id.clone();
        let seconds = job.execution_duration;
        let work = self.inner.runner.run(job, writer.clone());
        tokio::pin!(work);
        let deadline = async {
            if seconds == 0 {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_secs(seconds)).await;
        };
        // A job stopped (aborted, deleted, shutting down) usually returns an error of its own at
        // once, which must not overwrite the phase whoever stopped it recorded: whichever branch
        // wakes, the first reason given to the writer decides (`stop` keeps the first).
        tokio::select! {
            biased;
            () = writer.cancelled() => {
                let _ = work.await;
                self.stopped_elsewhere(&id, writer).await;
            }
            outcome = &mut work => {
                let results = writer.stop(Stop::Finished);
                if writer.stopped() != Some(Stop::Finished) {
                    // Stopped between the two polls: the work's error is the stop's echo.
                    self.stopped_elsewhere(&id, writer).await;
                    return;
                }
                let _ = match outcome {
                    Ok(()) => self.finish(&id, Phase::Completed, None, results).await,
                    Err(error) => self.finish(&id, Phase::Error, Some(error), results).await,
                };
            }
            () = deadline => {
                let results = writer.stop(Stop::TimedOut);
                if writer.stopped() == Some(Stop::TimedOut) {
                    let error = JobError { fatal: true, message: format!("the job exceeded its execution duration of {seconds} s") };
                    let _ = self.finish(&id, Phase::Aborted, Some(error), results).await;
                }
                // The worker stays taken until the work has actually stopped.
                let _ = work.await;
                if writer.stopped() != Some(Stop::TimedOut) {
                    self.stopped_elsewhere(&id, writer).await;
                }
            }
        }
    }

    /// The work of a job stopped by an abort, a deletion or the shutdown has returned: whoever
    /// stopped it recorded the phase. An abort through another replica could not know the
    /// results written here: they are recorded now.
    async fn stopped_elsewhere(&self, id: &str, writer: &Arc<ResultWriter>) {
        if writer.stopped() != Some(Stop::Aborted) {
            return;
        }
        let results = writer.stop(Stop::Aborted);
        let _ = self
            .edit(
                id,
                None,
                Box::new(move |job| {
                    if job.phase != Phase::Aborted || !job.results.is_empty() || results.is_empty() {
                        return Decision::Keep;
                    }
                    job.results = results;
                    Decision::Write
                }),
            )
            .await;
    }

    /// The job's task is leaving: if the job was deleted meanwhile, its results folder goes now.
    fn leave(&self, id: &str, writer: &Arc<ResultWriter>) {
        writer.stop(Stop::Finished);
        let deleted = match self.inner.running.lock() {
            Ok(mut running) => {
                if running.get(id).is_some_and(|w| Arc::ptr_eq(w, writer)) {
                    running.remove(id);
                }
                writer.deleted.load(Ordering::Acquire)
            }
            Err(_) => false,
        };
        if deleted {
            self.delete_results(id);
        }
    }

    /// Ends a job this replica executes, unless it ended already or is no longer its own. While
    /// the store cannot be reached, it tries again (every [`Config::poll`]): the job ran, and
    /// must not be left EXECUTING under a lease this replica keeps renewing.
    async fn finish(&self, id: &str, phase: Phase, error: Option<JobError>, results: Vec<JobResult>) -> Result<Job, EngineError> {
        loop {
            let (error, results) = (error.clone(), results.clone());
            let ended = self
                .edit(
                    id,
                    Some(&self.inner.replica),
                    Box::new(move |job| {
                        job.phase = phase;
                        job.end_time = Some(Utc::now());
                        job.error = error;
                        job.results = results;
                        Decision::Write
                    }),
                )
                .await;
            match ended {
                Err(EngineError::Unavailable(_)) => tokio::time::sleep(self.inner.config.poll).await,
                other => {
                    if let (Ok(job), Some((_, ended))) = (&other, &self.inner.counters) {
                        if job.phase == phase {
                            ended.with(&[phase.as_str()]).inc();
                        }
                    }
                    return other;
                }
            }
        }
    }

    /// Where a result is, for serving it.
    pub async fn result(&self, owner: Option<&str>, id: &str, result: &str) -> Result<(Stored, JobResult), EngineError> {
        let job = self.get(owner, id).await?;
        let found = job.results.into_iter().find(|r| r.id == result).ok_or_else(|| EngineError::NotFound(format!("job `{id}` has no result `{result}`")))?;
        let stored = self.inner.config.results.stored(&self.results_dir(id), id, &found.id).await.map_err(|e| EngineError::NotFound(format!("result `{result}`: {e}")))?;
        Ok((stored, found))
    }

    /// The path of a result file, for serving it (results kept as files).
    pub async fn result_file(&self, owner: Option<&str>, id: &str, result: &str) -> Result<(PathBuf, JobResult), EngineError> {
        let job = self.get(owner, id).await?;
        let found = job.results.into_iter().find(|r| r.id == result).ok_or_else(|| EngineError::NotFound(format!("job `{id}` has no result `{result}`")))?;
        Ok((self.results_dir(id).join(&found.id), found))
    }

    /// How many jobs this replica executes: for tests.
    pub fn tasks(&self) -> usize {
        self.inner.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Where results of `id` are stored.
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
    }
}

/// A job's parameters with `changes` applied: each name given replaces every value of that name
/// (names compared case-insensitively), keeping the order.
pub fn merged(current: &[(String, String)], changes: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut parameters = current.to_vec();
    let names: Vec<String> = changes.iter().map(|(n, _)| n.to_ascii_uppercase()).collect();
    parameters.retain(|(n, _)| !names.contains(&n.to_ascii_uppercase()));
    parameters.extend(changes);
    parameters
}
