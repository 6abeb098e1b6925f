//! Liveness and readiness: `/healthz` answers while the process does; `/readyz` runs every
//! readiness check registered in the server's [`Health`] ([`crate::serve::Config::health`]) and
//! answers 200 when all pass, 503 when one fails or does not answer within [`CHECK_TIMEOUT`].
//! Served beside `/metrics` (`--metrics-addr`, `--metrics`; see [`crate::serve::Config`]).
//!
//! Whatever the server depends on registers a check when it starts, e.g. the UWS mount, that its
//! job store answers:
//!
//! ```
//! use ivoagen_runtime::health::Health;
//! let health = Health::new();
//! health.check("job-store", || async { Ok(()) });
//! health.check("archive", || async { Err("/data is not mounted".to_owned()) });
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let outcomes = health.run().await;
//! assert_eq!(outcomes[0], ("job-store".to_owned(), Ok(())));
//! assert!(outcomes[1].1.is_err());
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A readiness check: a function giving a future that says whether what it checks works, or why
/// not (one line, shown on the operations listener).
pub type Check = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How long a readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The outcome of each check, by name, in the order they were added.
pub type Outcomes = Vec<(String, Result<(), String>)>;

/// A server's readiness checks: a handle, cheap to clone (clones share the list). Two handles are
/// equal when they are the same list.
#[derive(Clone, Default)]
pub struct Health {
    checks: Arc<Mutex<Vec<(String, Check)>>>,
    /// The last outcomes [`Health::recent`] gave, and when they were read.
    recent: Arc<tokio::sync::Mutex<Option<(Instant, Outcomes)>>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.checks().iter().map(|(name, _)| name)).finish()
    }
}

impl PartialEq for Health {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.checks, &other.checks)
    }
}

impl Eq for Health {}

impl Health {
    /// No checks: ready.
    pub fn new() -> Health {
        Health::default()
    }

    /// Adds the readiness check `name` (short, e.g. `job-store`): `check` is called at each
    /// `/readyz`, its future given [`CHECK_TIMEOUT`]. A name registered again replaces its check.
    pub fn check<F, Fut>(&self, name: impl Into<String>, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let check: Check = Arc::new(move || Box::pin(check()));
        self.add(name, check);
    }

    /// [`Health::check`] with a [`Check`] already made.
    pub fn add(&self, name: impl Into<String>, check: Check) {
        let name = name.into();
        let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        match checks.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = check,
            None => checks.push((name, check)),
        }
    }

    /// The checks, in the order they were added.
    fn checks(&self) -> Vec<(String, Check)> {
        self.checks.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs every check at once, each for at most [`CHECK_TIMEOUT`], and gives their outcomes in
    /// the order they were added. A check that panics or times out has failed.
    pub async fn run(&self) -> Outcomes {
        self.run_within(CHECK_TIMEOUT).await
    }

    /// [`Health::run`]'s outcomes, read at most `max_age` ago: however many requests ask at once
    /// (VOSI availability, which anyone may poll), the checks run at most once per `max_age`,
    /// the callers meanwhile sharing one run.
    pub async fn recent(&self, max_age: Duration) -> Outcomes {
        let mut recent = self.recent.lock().await;
        if let Some((at, outcomes)) = recent.as_ref() {
            if at.elapsed() < max_age {
                return outcomes.clone();
            }
        }
        let outcomes = self.run().await;
        *recent = Some((Instant::now(), outcomes.clone()));
        outcomes
    }

    async fn run_within(&self, limit: Duration) -> Outcomes {
        let running: Vec<_> = self.checks().into_iter().map(|(name, check)| (name, tokio::spawn(tokio::time::timeout(limit, check())))).collect();
        let mut outcomes = Vec::with_capacity(running.len());
        for (name, task) in running {
            let outcome = match task.await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) => Err(format!("no answer within {} ms", limit.as_millis())),
                Err(_) => Err("the check panicked".to_owned()),
            };
            outcomes.push((name, outcome));
        }
        outcomes
    }

    /// The answer to `/readyz`: 200 and `ready` when every check passes, else 503; a line per
    /// check (`[+]name ok`, `[-]name failed`, with the reason when `reasons`), as Kubernetes' own
    /// components write it.
    pub(crate) async fn readyz(&self, reasons: bool) -> (http::StatusCode, String) {
        let outcomes = self.run().await;
        let mut body = String::new();
        for (name, outcome) in &outcomes {
            match outcome {
                Ok(()) => body.push_str(&format!("[+]{name} ok\n")),
                Err(why) if reasons => body.push_str(&format!("[-]{name} failed: {}\n", why.lines().next().unwrap_or_default())),
                Err(_) => body.push_str(&format!("[-]{name} failed\n")),
            }
        }
        if outcomes.iter().all(|(_, o)| o.is_ok()) {
            body.push_str("ready\n");
            (http::StatusCode::OK, body)
        } else {
            body.push_str("not ready\n");
            (http::StatusCode::SERVICE_UNAVAILABLE, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn recent_outcomes_are_read_at_most_once_per_max_age() {
        let health = Health::new();
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        health.check("store", move || {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { if n == 0 { Ok(()) } else { Err("gone".to_owned()) } }
        });
        let asked: Vec<_> = (0..20)
            .map(|_| {
                let health = health.clone();
                tokio::spawn(async move { health.recent(Duration::from_secs(60)).await })
            })
            .collect();
        for task in asked {
            assert_eq!(task.await.expect("no panic"), [("store".to_owned(), Ok(()))]);
        }
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1, "twenty at once, one run");
        assert!(health.recent(Duration::ZERO).await[0].1.is_err(), "older than max_age: run again");
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn ready_when_every_check_passes() {
        let health = Health::new();
        assert_eq!(health.readyz(true).await, (http::StatusCode::OK, "ready\n".to_owned()), "no checks: ready");
        let store_up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let up = store_up.clone();
        health.check("job-store", move || {
            let up = up.load(std::sync::atomic::Ordering::Relaxed);
            async move { if up { Ok(()) } else { Err("database is locked\nmore".to_owned()) } }
        });
        health.check("archive", || async { Ok(()) });
        assert_eq!(health.readyz(true).await, (http::StatusCode::OK, "[+]job-store ok\n[+]archive ok\nready\n".to_owned()));
        store_up.store(false, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(health.readyz(true).await, (http::StatusCode::SERVICE_UNAVAILABLE, "[-]job-store failed: database is locked\n[+]archive ok\nnot ready\n".to_owned()));
        assert_eq!(health.readyz(false).await.1, "[-]job-store failed\n[+]archive ok\nnot ready\n", "no reasons on a public port");
        health.check("job-store", || async { Ok(()) });
        assert_eq!(health.readyz(true).await.0, http::StatusCode::OK, "a name registered again replaces its check");
    }

    #[tokio::test]
    async fn a_check_that_hangs_or_panics_fails() {
        let health = Health::new();
        health.check("slow", std::future::pending);
        health.check("broken", || async { panic!("checked") });
        let outcomes = health.run_within(Duration::from_millis(50)).await;
        assert_eq!(outcomes[0], ("slow".to_owned(), Err("no answer within 50 ms".to_owned())));
        assert_eq!(outcomes[1], ("broken".to_owned(), Err("the check panicked".to_owned())));
    }
}
