//! UWS 1.1 (IVOA, REC 2016-10-24): the job model, a durable job store, the engine that runs jobs,
//! and the UWS XML documents.
//!
//! The engine owns the rules: phase changes (§2.2.3), WAIT (§2.2.1.2) woken by the phase change
//! itself, a bounded pool of workers, the execution-duration limit, abort, destruction, and what a
//! restart does to jobs that were running. A service only provides the job function.

pub mod documents;
pub mod engine;
pub mod http;
pub mod limits;
mod mount;
pub mod results;
pub mod store;

pub use mount::{JobList, mount};

use chrono::{DateTime, Utc};

/// A job's execution phase (§2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Accepted; waiting for `PHASE=RUN`.
    Pending,
    /// Waiting for a worker.
    Queued,
    /// Running.
    Executing,
    /// Finished; results available.
    Completed,
    /// Failed; `error` says why.
    Error,
    /// Stopped by a client or by the execution-duration limit.
    Aborted,
    /// Unknown to the service.
    Unknown,
    /// Held by the service.
    Held,
    /// Suspended by the service.
    Suspended,
    /// Kept, results deleted.
    Archived,
}

impl Phase {
    /// Every phase, in the standard's order.
    pub const ALL: [Phase; 10] = [
        Phase::Pending,
        Phase::Queued,
        Phase::Executing,
        Phase::Completed,
        Phase::Error,
        Phase::Aborted,
        Phase::Unknown,
        Phase::Held,
        Phase::Suspended,
        Phase::Archived,
    ];

    /// The phase word.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "PENDING",
            Phase::Queued => "QUEUED",
            Phase::Executing => "EXECUTING",
            Phase::Completed => "COMPLETED",
            Phase::Error => "ERROR",
            Phase::Aborted => "ABORTED",
            Phase::Unknown => "UNKNOWN",
            Phase::Held => "HELD",
            Phase::Suspended => "SUSPENDED",
            Phase::Archived => "ARCHIVED",
        }
    }

    /// Whether the job is still on its way (WAIT blocks only in these phases).
    pub fn is_active(self) -> bool {
        matches!(self, Phase::Pending | Phase::Queued | Phase::Executing)
    }

    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Completed | Phase::Error | Phase::Aborted | Phase::Archived)
    }
}

impl std::str::FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Phase::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| format!("`{s}` is not a UWS phase"))
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A result of a job: a file under the data directory, served with its MIME type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    /// The result's id, unique within the job.
    pub id: String,
    /// Its MIME type.
    pub mime_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Why a job failed (`uws:errorSummary`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// `true` for fatal, `false` for transient.
    pub fatal: bool,
    /// What went wrong.
    pub message: String,
}

impl From<crate::Error> for JobError {
    /// The job fails with the error's message after its label (`UsageError: …`); only an
    /// unavailable resource is transient (a later job may succeed).
    fn from(error: crate::Error) -> JobError {
        JobError { fatal: error.fault != crate::ivoa::Fault::Unavailable, message: error.labelled() }
    }
}

/// Everything the service knows about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The job's id.
    pub id: String,
    /// `RUNID`, if the client gave one.
    pub run_id: Option<String>,
    /// Who created it; `None` for an anonymous job.
    pub owner: Option<String>,
    /// The owner's groups when the job was created (none for an anonymous job): the job's run
    /// sees its caller as the request that created it did, whatever the owner's groups are now.
    pub groups: Vec<String>,
    /// Where it is.
    pub phase: Phase,
    /// When it was created.
    pub creation_time: DateTime<Utc>,
    /// When it started executing.
    pub start_time: Option<DateTime<Utc>>,
    /// When it ended.
    pub end_time: Option<DateTime<Utc>>,
    /// Seconds it may execute; 0 is unlimited.
    pub execution_duration: u64,
    /// When it will be destroyed.
    pub destruction: Option<DateTime<Utc>>,
    /// The parameters, names as the client wrote them, in order.
    pub parameters: Vec<(String, String)>,
    /// The results, once completed.
    pub results: Vec<JobResult>,
    /// Why it failed.
    pub error: Option<JobError>,
}

/// A request head carrying `parameters` in its query string: a job's parameters, read by the
/// same generated extraction as the synchronous operation.
pub fn parts_of(parameters: &[(String, String)]) -> ::http::request::Parts {
    let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(parameters).finish();
    let (parts, ()) = ::http::Request::builder().uri(format!("/?{query}")).body(()).unwrap_or_default().into_parts();
    parts
}
