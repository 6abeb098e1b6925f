//! The operator's limits of the UWS engine, from the command line (`--uws-*`) or the environment
//! (`UWS_*`): offered only by servers whose spec has UWS.

use std::time::Duration;

/// The engine limits a server starts with. Durations are given as seconds (`90`) or with a unit:
/// `s`, `m`, `h`, `d` (`10m`, `7d`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Jobs executing at once (`--uws-workers`, `UWS_WORKERS`; default 2).
    pub workers: usize,
    /// A new job's execution duration in seconds, 0 unlimited (`--uws-execution-duration`,
    /// `UWS_EXECUTION_DURATION`; default 10m).
    pub execution_duration: u64,
    /// The longest execution duration a client may set, 0 no maximum
    /// (`--uws-max-execution-duration`, `UWS_MAX_EXECUTION_DURATION`; default 1h).
    pub max_execution_duration: u64,
    /// A new job's lifetime before destruction (`--uws-destruction`, `UWS_DESTRUCTION`; default 7d).
    pub destruction: Duration,
    /// The longest lifetime a client may set (`--uws-max-destruction`, `UWS_MAX_DESTRUCTION`;
    /// default 30d).
    pub max_destruction: Duration,
    /// The longest a WAIT blocks (`--uws-max-wait`, `UWS_MAX_WAIT`; default 60s).
    pub max_wait: Duration,
    /// Results one job may keep, 0 no limit (`--uws-max-results`, `UWS_MAX_RESULTS`; default 1000).
    pub max_results: usize,
    /// Jobs one owner may keep, 0 no limit; more answers 429 (`--uws-max-jobs`, `UWS_MAX_JOBS`;
    /// default 1000).
    pub max_jobs: usize,
    /// Jobs one caller may have QUEUED or EXECUTING at once, 0 no limit; more answers 429
    /// (`--uws-max-active`, `UWS_MAX_ACTIVE`; default 0). A caller is an authenticated identity,
    /// or an anonymous client address (as the rate limits count it); the count is the job
    /// store's, so replicas sharing one enforce one limit.
    pub max_active: usize,
    /// How long a replica's lease on a job it executes lasts unless renewed (`--uws-lease`,
    /// `UWS_LEASE`; default 30s): with a shared job store, the jobs of a replica that died are
    /// recovered by another within about one and a half leases.
    pub lease: Duration,
    /// Where results are kept, `s3://BUCKET/PREFIX` (`--result-store`, `RESULT_STORE`; default:
    /// files under the data directory).
    pub result_store: Option<String>,
    /// Results in a bucket are served as redirects to presigned URLs valid this long, instead of
    /// streamed through the server (`--result-redirect`, `RESULT_REDIRECT`).
    pub result_redirect: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: 2,
            execution_duration: 600,
            max_execution_duration: 3600,
            destruction: Duration::from_secs(7 * 86400),
            max_destruction: Duration::from_secs(30 * 86400),
            max_wait: Duration::from_secs(60),
            max_results: 1000,
            max_jobs: 1000,
            max_active: 0,
            lease: Duration::from_secs(30),
            result_store: None,
            result_redirect: None,
        }
    }
}

/// The flags: id, variable, value name, help.
const FLAGS: [(&str, &str, &str, &str); 12] = [
    ("uws-workers", "UWS_WORKERS", "N", "UWS jobs executing at once [default: 2]"),
    ("uws-execution-duration", "UWS_EXECUTION_DURATION", "DURATION", "A new job's execution duration, 0 unlimited [default: 10m]"),
    ("uws-max-execution-duration", "UWS_MAX_EXECUTION_DURATION", "DURATION", "The longest execution duration a client may set, 0 no maximum [default: 1h]"),
    ("uws-destruction", "UWS_DESTRUCTION", "DURATION", "How long a new job is kept before destruction [default: 7d]"),
    ("uws-max-destruction", "UWS_MAX_DESTRUCTION", "DURATION", "The longest a client may keep a job [default: 30d]"),
    ("uws-max-wait", "UWS_MAX_WAIT", "DURATION", "The longest a WAIT blocks [default: 60s]"),
    ("uws-max-results", "UWS_MAX_RESULTS", "N", "Results one job may keep, 0 no limit [default: 1000]"),
    ("uws-max-jobs", "UWS_MAX_JOBS", "N", "Jobs one owner may keep, 0 no limit; more answers 429 [default: 1000]"),
    ("uws-max-active", "UWS_MAX_ACTIVE", "N", "Jobs one caller (an identity, or an anonymous client address) may have queued or executing at once, 0 no limit; running more answers 429 with Retry-After [default: 0]"),
    ("uws-lease", "UWS_LEASE", "DURATION", "How long a replica's claim on an executing job lasts unless renewed [default: 30s]"),
    ("result-store", "RESULT_STORE", "URL", "Where job results are kept: s3://BUCKET/PREFIX (endpoint, region and credentials from AWS_*) [default: files in DATA_DIR/results]"),
    ("result-redirect", "RESULT_REDIRECT", "DURATION", "Serve results kept in a bucket as redirects to presigned URLs valid this long [default: streamed]"),
];

/// Adds the `--uws-*` flags to a command.
pub fn args(mut cmd: clap::Command) -> clap::Command {
    for (id, var, name, help) in FLAGS {
        cmd = cmd.arg(clap::Arg::new(id).long(id).value_name(name).help(format!("{help} [env: {var}]")));
    }
    cmd
}

/// Seconds (`90`) or a number with a unit `s`, `m`, `h`, `d` (`10m`, `7d`).
pub fn duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(scale).map(Duration::from_secs)
}

impl Limits {
    /// Reads the flags through `one(id, variable)` (a flag's value and the name to blame, else
    /// the variable's).
    pub fn read(one: impl Fn(&str, &str) -> Option<(String, String)>) -> Result<Limits, String> {
        let mut limits = Limits::default();
        let time = |id: &str, var: &str| -> Result<Option<Duration>, String> {
            one(id, var).map(|(source, v)| duration(&v).ok_or_else(|| format!("{source}: `{v}` is not a duration (seconds, or a number with s, m, h or d)"))).transpose()
        };
        let count = |id: &str, var: &str| -> Result<Option<usize>, String> {
            one(id, var).map(|(source, v)| v.trim().parse::<usize>().map_err(|_| format!("{source}: `{v}` is not a whole number"))).transpose()
        };
        if let Some(n) = count("uws-workers", "UWS_WORKERS")? {
            if n == 0 {
                return Err("--uws-workers: at least one worker is needed".to_owned());
            }
            limits.workers = n;
        }
        if let Some(d) = time("uws-execution-duration", "UWS_EXECUTION_DURATION")? {
            limits.execution_duration = d.as_secs();
        }
        if let Some(d) = time("uws-max-execution-duration", "UWS_MAX_EXECUTION_DURATION")? {
            limits.max_execution_duration = d.as_secs();
        }
        if let Some(d) = time("uws-destruction", "UWS_DESTRUCTION")? {
            limits.destruction = d;
        }
        if let Some(d) = time("uws-max-destruction", "UWS_MAX_DESTRUCTION")? {
            limits.max_destruction = d;
        }
        if let Some(d) = time("uws-max-wait", "UWS_MAX_WAIT")? {
            limits.max_wait = d;
        }
        if let Some(n) = count("uws-max-results", "UWS_MAX_RESULTS")? {
            limits.max_results = n;
        }
        if let Some(n) = count("uws-max-jobs", "UWS_MAX_JOBS")? {
            limits.max_jobs = n;
        }
        if let Some(n) = count("uws-max-active", "UWS_MAX_ACTIVE")? {
            limits.max_active = n;
        }
        if let Some(d) = time("uws-lease", "UWS_LEASE")? {
            if d.is_zero() {
                return Err("--uws-lease: a lease of 0 s would expire as it is taken".to_owned());
            }
            limits.lease = d;
        }
        if let Some((source, url)) = one("result-store", "RESULT_STORE") {
            if !url.starts_with("s3://") || url.len() == "s3://".len() {
                return Err(format!("{source}: `{url}` is not a result store URL (s3://BUCKET/PREFIX)"));
            }
            limits.result_store = Some(url);
        }
        if let Some(d) = time("result-redirect", "RESULT_REDIRECT")? {
            if limits.result_store.is_none() {
                return Err("--result-redirect: results are redirected to a bucket's presigned URLs, and --result-store names none".to_owned());
            }
            if d.is_zero() || d > Duration::from_secs(7 * 86400) {
                return Err("--result-redirect: a presigned URL lives more than 0 s and at most 7 days".to_owned());
            }
            limits.result_redirect = Some(d);
        }
        // A default above its maximum would be cut to it on every job: say so now.
        if limits.max_execution_duration > 0 && (limits.execution_duration == 0 || limits.execution_duration > limits.max_execution_duration) {
            return Err(format!(
                "--uws-execution-duration ({} s) is above --uws-max-execution-duration ({} s)",
                limits.execution_duration, limits.max_execution_duration
            ));
        }
        if limits.destruction > limits.max_destruction {
            return Err("--uws-destruction is above --uws-max-destruction".to_owned());
        }
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_or_without_a_unit() {
        assert_eq!(duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(duration("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(duration("2h"), Some(Duration::from_secs(7200)));
        for bad in ["", "x", "10w", "-1", "1.5h", "99999999999999999999d"] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }
}
