//! The UWS engine: creates jobs, runs them on a bounded pool of workers, enforces the execution
//! duration, aborts, answers WAIT when the phase changes, destroys expired jobs, and recovers
//! after a restart.
//!
//! Every change is written to the [`JobStore`] before it is announced, so a client that sees a
//! phase sees a committed one, and a restart loses nothing that was announced.

use super::store::{JobStore, StoreError};
use super::{Job, JobError, JobResult, Phase};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};

/// What an engine operation can fail with, each with its UWS status (§2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// 404: no such job.
    NotFound(String),
    /// 403: another owner's job, or a change not allowed in the job's phase.
    Forbidden(String),
    /// 400: a bad value.
    Usage(String),
    /// 500: the store failed.
    Store(String),
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        EngineError::Store(e.0)
    }
}

impl From<EngineError> for crate::Error {
    fn from(e: EngineError) -> Self {
        use http::StatusCode;
        match e {
            EngineError::NotFound(m) => crate::Error::new(StatusCode::NOT_FOUND, m),
            EngineError::Forbidden(m) => crate::Error::new(StatusCode::FORBIDDEN, m),
            EngineError::Usage(m) => crate::Error::new(StatusCode::BAD_REQUEST, m),
            EngineError::Store(m) => crate::Error::internal(m),
        }
    }
}

/// Where a job writes its results: files under the data directory.
pub struct ResultWriter {
    dir: PathBuf,
    results: Mutex<Vec<JobResult>>,
}

impl ResultWriter {
    /// Stores a result; `id` becomes part of its URL.
    pub fn put(&self, id: &str, mime_type: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.put_with(id, mime_type, |file| std::io::Write::write_all(file, bytes))
    }

    /// Stores a result that `write` writes as it goes, so that a large result never sits in
    /// memory. Blocking: call it from `tokio::task::spawn_blocking`. If `write` fails, the partial
    /// file is removed and no result is recorded.
    pub fn put_with(
        &self,
        id: &str,
        mime_type: &str,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) || id.starts_with('.') {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("`{id}` is not a result id")));
        }
        std::fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(id);
        let written = (|| {
            let mut file = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(&path)?);
            write(&mut file)?;
            let file = file.into_inner().map_err(|e| e.into_error())?;
            file.sync_data()?;
            file.metadata().map(|m| m.len())
        })();
        let size = match written {
            Ok(size) => size,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
        let mut results = self.results.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        results.retain(|r| r.id != id);
        results.push(JobResult { id: id.to_owned(), mime_type: mime_type.to_owned(), size });
        Ok(())
    }
}

/// The work of a job, which the service provides.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// Runs one job: its parameters in, results written through the writer.
pub trait Runner: Send + Sync + 'static {
    /// Starts the work of `job`.
    fn run(&self, job: Job, results: Arc<ResultWriter>) -> JobFuture;
}

/// How the engine behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Results live under `data_dir/results/JOB/`.
    pub data_dir: PathBuf,
    /// Jobs executing at once.
    pub workers: usize,
    /// Execution duration of a new job, in seconds (0 = unlimited).
    pub execution_duration: u64,
    /// Lifetime of a new job before destruction.
    pub lifetime: Duration,
    /// The longest a WAIT blocks (`WAIT=-1` and larger values are capped to it).
    pub max_wait: Duration,
    /// After a restart, queue again the jobs that were executing, instead of failing them.
    pub requeue_on_restart: bool,
    /// How often expired jobs are looked for.
    pub reap_every: Duration,
}

impl Config {
    /// Defaults: two workers, 10 minutes of execution, 7 days of life, WAIT capped at 60 s.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            workers: 2,
            execution_duration: 600,
            lifetime: Duration::from_secs(7 * 24 * 3600),
            max_wait: Duration::from_secs(60),
            requeue_on_restart: false,
            reap_every: Duration::from_secs(60),
        }
    }
}

struct Inner {
    store: Arc<dyn JobStore>,
    runner: Arc<dyn Runner>,
    config: Config,
    phases: Mutex<HashMap<String, watch::Sender<Phase>>>,
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    workers: Arc<Semaphore>,
    next_id: std::sync::atomic::AtomicU64,
}

/// The UWS engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// The message a job gets when the service restarted under it.
pub const RESTARTED: &str = "the service restarted while the job was executing";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, EngineError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| EngineError::Store(e.to_string()))?.map_err(EngineError::from)
}

impl Engine {
    /// Starts the engine on `store`: jobs that were executing when the service stopped become
    /// ERROR (or are queued again, if configured), queued jobs are queued again, and the reaper
    /// of expired jobs starts. Needs a Tokio runtime.
    pub async fn start(store: Arc<dyn JobStore>, runner: Arc<dyn Runner>, config: Config) -> Result<Engine, EngineError> {
        let seed = Utc::now().timestamp_micros().unsigned_abs();
        let engine = Engine {
            inner: Arc::new(Inner {
                workers: Arc::new(Semaphore::new(config.workers.max(1))),
                store,
                runner,
                config,
                phases: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                next_id: std::sync::atomic::AtomicU64::new(seed),
            }),
        };
        let store = engine.inner.store.clone();
        let jobs = blocking(move || store.all()).await?;
        for mut job in jobs {
            match job.phase {
                Phase::Executing if !engine.inner.config.requeue_on_restart => {
                    job.phase = Phase::Error;
                    job.end_time = Some(Utc::now());
                    job.error = Some(JobError { fatal: false, message: RESTARTED.to_owned() });
                    engine.save(job).await?;
                }
                Phase::Executing | Phase::Queued => {
                    job.phase = Phase::Queued;
                    job.start_time = None;
                    let id = job.id.clone();
                    engine.save(job).await?;
                    engine.spawn(id);
                }
                _ => {}
            }
        }
        let reaper = engine.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(reaper.inner.config.reap_every);
            loop {
                tick.tick().await;
                let _ = reaper.reap(Utc::now()).await;
            }
        });
        Ok(engine)
    }

    fn new_id(&self) -> String {
        let n = self.inner.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Short, URL-safe and not guessable from the previous one alone.
        let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
        format!("{mixed:016x}")
    }

    fn results_dir(&self, id: &str) -> PathBuf {
        self.inner.config.data_dir.join("results").join(id)
    }

    /// Writes a job, then tells anyone waiting on its phase.
    async fn save(&self, job: Job) -> Result<Job, EngineError> {
        let store = self.inner.store.clone();
        let saved = job.clone();
        blocking(move || store.update(&saved)).await?;
        if let Ok(mut phases) = self.inner.phases.lock() {
            phases.entry(job.id.clone()).or_insert_with(|| watch::channel(job.phase).0).send_replace(job.phase);
        }
        Ok(job)
    }

    async fn load(&self, id: &str) -> Result<Job, EngineError> {
        let store = self.inner.store.clone();
        let key = id.to_owned();
        blocking(move || store.get(&key)).await?.ok_or_else(|| EngineError::NotFound(format!("no job `{id}`")))
    }

    /// The job `id`, if `owner` may see it.
    pub async fn get(&self, owner: Option<&str>, id: &str) -> Result<Job, EngineError> {
        let job = self.load(id).await?;
        if job.owner.as_deref() != owner {
            return Err(EngineError::Forbidden(format!("job `{id}` belongs to another owner")));
        }
        Ok(job)
    }

    /// Creates a job for `owner`; with `run`, queues it at once (`PHASE=RUN`).
    pub async fn create(&self, owner: Option<&str>, run_id: Option<String>, parameters: Vec<(String, String)>, run: bool) -> Result<Job, EngineError> {
        if run_id.as_ref().is_some_and(|r| r.chars().count() > 64) {
            return Err(EngineError::Usage("RUNID is longer than 64 characters".into()));
        }
        let now = Utc::now();
        let lifetime = chrono::Duration::from_std(self.inner.config.lifetime).unwrap_or(chrono::Duration::days(7));
        let job = Job {
            id: self.new_id(),
            run_id,
            owner: owner.map(str::to_owned),
            phase: if run { Phase::Queued } else { Phase::Pending },
            creation_time: now,
            start_time: None,
            end_time: None,
            execution_duration: self.inner.config.execution_duration,
            destruction: Some(now + lifetime),
            parameters,
            results: Vec::new(),
            error: None,
        };
        let store = self.inner.store.clone();
        let record = job.clone();
        blocking(move || store.insert(&record)).await?;
        if let Ok(mut phases) = self.inner.phases.lock() {
            phases.insert(job.id.clone(), watch::channel(job.phase).0);
        }
        if run {
            self.spawn(job.id.clone());
        }
        Ok(job)
    }

    /// The jobs of `owner`, filtered as §2.2.2.1 says: any of `phases` (ARCHIVED only when
    /// asked for), created after `after`, the `last` most recent (newest first).
    pub async fn list(&self, owner: Option<&str>, phases: &[Phase], after: Option<DateTime<Utc>>, last: Option<usize>) -> Result<Vec<Job>, EngineError> {
        let store = self.inner.store.clone();
        let mut jobs: Vec<Job> = blocking(move || store.all())
            .await?
            .into_iter()
            .filter(|j| j.owner.as_deref() == owner)
            .filter(|j| if phases.is_empty() { j.phase != Phase::Archived } else { phases.contains(&j.phase) })
            .filter(|j| after.is_none_or(|a| j.creation_time > a))
            .collect();
        if let Some(n) = last {
            jobs.sort_by_key(|j| std::cmp::Reverse(j.creation_time));
            jobs.truncate(n);
        }
        Ok(jobs)
    }

    /// `PHASE=RUN`: queues a pending job.
    pub async fn run(&self, owner: Option<&str>, id: &str) -> Result<Job, EngineError> {
        let mut job = self.get(owner, id).await?;
        match job.phase {
            Phase::Pending | Phase::Held => {
                job.phase = Phase::Queued;
                let job = self.save(job).await?;
                self.spawn(job.id.clone());
                Ok(job)
            }
            Phase::Queued | Phase::Executing => Ok(job),
            other => Err(EngineError::Forbidden(format!("a job in phase {other} cannot be run"))),
        }
    }

    /// `PHASE=ABORT`: stops a job that has not ended.
    pub async fn abort(&self, owner: Option<&str>, id: &str) -> Result<Job, EngineError> {
        let job = self.get(owner, id).await?;
        if job.phase.is_final() {
            return Err(EngineError::Forbidden(format!("a job in phase {} cannot be aborted", job.phase)));
        }
        self.finish(id, Phase::Aborted, None, Vec::new(), true).await
    }

    /// Deletes a job and its results.
    pub async fn delete(&self, owner: Option<&str>, id: &str) -> Result<(), EngineError> {
        self.get(owner, id).await?;
        self.remove(id).await
    }

    async fn remove(&self, id: &str) -> Result<(), EngineError> {
        if let Some(handle) = self.inner.running.lock().ok().and_then(|mut r| r.remove(id)) {
            handle.abort();
        }
        let store = self.inner.store.clone();
        let key = id.to_owned();
        blocking(move || store.delete(&key)).await?;
        let _ = std::fs::remove_dir_all(self.results_dir(id));
        if let Ok(mut phases) = self.inner.phases.lock() {
            // Waiters wake, find the job gone, and answer 404.
            if let Some(sender) = phases.remove(id) {
                sender.send_replace(Phase::Unknown);
            }
        }
        Ok(())
    }

    /// `EXECUTIONDURATION`: seconds the job may run, while it has not started.
    pub async fn set_execution_duration(&self, owner: Option<&str>, id: &str, seconds: u64) -> Result<Job, EngineError> {
        let mut job = self.get(owner, id).await?;
        if !matches!(job.phase, Phase::Pending | Phase::Held) {
            return Err(EngineError::Forbidden(format!("the execution duration of a job in phase {} cannot change", job.phase)));
        }
        job.execution_duration = seconds;
        self.save(job).await
    }

    /// `DESTRUCTION`: when the job is destroyed (the service may shorten it to its maximum).
    pub async fn set_destruction(&self, owner: Option<&str>, id: &str, at: DateTime<Utc>) -> Result<Job, EngineError> {
        let mut job = self.get(owner, id).await?;
        let latest = job.creation_time + chrono::Duration::from_std(self.inner.config.lifetime).unwrap_or(chrono::Duration::days(7));
        job.destruction = Some(at.min(latest));
        self.save(job).await
    }

    /// Replaces parameters of a pending job (DALI 1.1 §2.1).
    pub async fn set_parameters(&self, owner: Option<&str>, id: &str, parameters: Vec<(String, String)>) -> Result<Job, EngineError> {
        let mut job = self.get(owner, id).await?;
        if job.phase != Phase::Pending {
            return Err(EngineError::Forbidden(format!("parameters of a job in phase {} cannot change", job.phase)));
        }
        for (name, value) in parameters {
            job.parameters.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            job.parameters.push((name, value));
        }
        self.save(job).await
    }

    /// WAIT (§2.2.1.2): returns when the job's phase changes, at once if the job is not active
    /// or (with `phase`) no longer in `phase`, and at the latest after `timeout` (capped by the
    /// configured maximum; `None` waits as long as allowed).
    pub async fn wait(&self, owner: Option<&str>, id: &str, timeout: Option<Duration>, phase: Option<Phase>) -> Result<Job, EngineError> {
        let job = self.get(owner, id).await?;
        if !job.phase.is_active() || phase.is_some_and(|p| p != job.phase) {
            return Ok(job);
        }
        let limit = timeout.map_or(self.inner.config.max_wait, |t| t.min(self.inner.config.max_wait));
        let mut receiver = match self.inner.phases.lock() {
            Ok(mut phases) => phases.entry(id.to_owned()).or_insert_with(|| watch::channel(job.phase).0).subscribe(),
            Err(_) => return Ok(job),
        };
        let start = job.phase;
        // The phase may have changed between reading the job and subscribing: the channel holds
        // the latest committed phase, so compare with it before waiting for the next change.
        if *receiver.borrow_and_update() != start {
            return self.get(owner, id).await;
        }
        let changed = async {
            while receiver.changed().await.is_ok() {
                if *receiver.borrow_and_update() != start {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(limit, changed).await;
        self.get(owner, id).await
    }

    /// Deletes every job whose destruction time is before `now`, with its results.
    pub async fn reap(&self, now: DateTime<Utc>) -> Result<usize, EngineError> {
        let store = self.inner.store.clone();
        let expired: Vec<String> = blocking(move || store.all()).await?.into_iter().filter(|j| j.destruction.is_some_and(|d| d <= now)).map(|j| j.id).collect();
        for id in &expired {
            self.remove(id).await?;
        }
        Ok(expired.len())
    }

    /// The path of a result file, for serving it.
    pub async fn result_file(&self, owner: Option<&str>, id: &str, result: &str) -> Result<(PathBuf, JobResult), EngineError> {
        let job = self.get(owner, id).await?;
        let found = job.results.into_iter().find(|r| r.id == result).ok_or_else(|| EngineError::NotFound(format!("job `{id}` has no result `{result}`")))?;
        Ok((self.results_dir(id).join(&found.id), found))
    }

    fn spawn(&self, id: String) {
        let engine = self.clone();
        let key = id.clone();
        let task = tokio::spawn(async move {
            let Ok(_permit) = engine.inner.workers.clone().acquire_owned().await else { return };
            let Ok(mut job) = engine.load(&id).await else { return };
            if job.phase != Phase::Queued {
                return;
            }
            job.phase = Phase::Executing;
            job.start_time = Some(Utc::now());
            let Ok(job) = engine.save(job).await else { return };
            let writer = Arc::new(ResultWriter { dir: engine.results_dir(&id), results: Mutex::new(Vec::new()) });
            let work = engine.inner.runner.run(job.clone(), writer.clone());
            let outcome = if job.execution_duration == 0 {
                Some(work.await)
            } else {
                tokio::time::timeout(Duration::from_secs(job.execution_duration), work).await.ok()
            };
            let results = writer.results.lock().map(|r| r.clone()).unwrap_or_default();
            let _ = match outcome {
                Some(Ok(())) => engine.finish(&id, Phase::Completed, None, results, false).await,
                Some(Err(error)) => engine.finish(&id, Phase::Error, Some(error), results, false).await,
                None => {
                    let error = JobError { fatal: true, message: format!("the job exceeded its execution duration of {} s", job.execution_duration) };
                    engine.finish(&id, Phase::Aborted, Some(error), results, false).await
                }
            };
        });
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(key, task.abort_handle());
        }
    }

    /// Ends a job, unless it ended already.
    async fn finish(&self, id: &str, phase: Phase, error: Option<JobError>, results: Vec<JobResult>, cancel: bool) -> Result<Job, EngineError> {
        if let Some(handle) = self.inner.running.lock().ok().and_then(|mut r| r.remove(id)) {
            if cancel {
                handle.abort();
            }
        }
        let mut job = self.load(id).await?;
        if job.phase.is_final() {
            return Ok(job);
        }
        job.phase = phase;
        job.end_time = Some(Utc::now());
        job.error = error;
        job.results = results;
        self.save(job).await
    }

    /// Where results of `id` are stored.
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.data_dir
    }
}
