//! A UWS server for the end-to-end tests: the runtime's engine and job API with a job that does
//! what its `MODE` parameter says — `sleep` runs until stopped, `many` writes `COUNT` results
//! (default 100) one every 50 ms on a blocking thread that never checks for cancellation (only
//! the result writer stops it), `big` one result of `SIZE` bytes (default 20 MiB; byte `i` is
//! `i mod 251`), anything else writes one result.
//! Serves `/uws/jobs` until killed; `--data-dir`, `--bind`, `--job-store` and the `--uws-*`
//! limits as every generated server. With `UWS_TEST_RUNS=FILE`, every job appends its id to FILE
//! as it starts (how tests count executions across replicas); with `UWS_TEST_IDEMPOTENT=1` the
//! jobs are declared idempotent. With `--auth-tokens FILE`, a bearer token of the file makes the
//! caller that identity, owner of its jobs (anonymous callers are still served).

use ivoagen_runtime::codegen::{auth, serve, tokio, uws};
use std::sync::Arc;
use std::time::Duration;

struct Jobs;

fn parameter(job: &uws::Job, name: &str) -> Option<String> {
    job.parameters.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

impl uws::engine::Runner for Jobs {
    fn run(&self, job: uws::Job, results: Arc<uws::engine::ResultWriter>) -> uws::engine::JobFuture {
        Box::pin(async move {
            let failed = |e: std::io::Error| uws::JobError { fatal: true, message: e.to_string() };
            if let Some(runs) = std::env::var_os("UWS_TEST_RUNS") {
                // One write of one line, appended: lines of concurrent jobs never interleave.
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(runs).map_err(failed)?;
                std::io::Write::write_all(&mut file, format!("{}\n", job.id).as_bytes()).map_err(failed)?;
            }
            match parameter(&job, "MODE").as_deref() {
                Some("sleep") => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                        () = results.cancelled() => return Err(uws::JobError { fatal: true, message: "stopped".into() }),
                    }
                }
                Some("big") => {
                    // One result of SIZE bytes (byte i is i mod 251), written 64 KiB at a time.
                    let size: usize = parameter(&job, "SIZE").and_then(|c| c.parse().ok()).unwrap_or(20 << 20);
                    return tokio::task::spawn_blocking(move || {
                        results.put_with("big", "application/octet-stream", |out| {
                            let pattern: Vec<u8> = (0..65_536 + 251).map(|i| (i % 251) as u8).collect();
                            let mut written = 0;
                            while written < size {
                                let n = (size - written).min(65_536);
                                let from = written % 251;
                                out.write_all(&pattern[from..from + n])?;
                                written += n;
                            }
                            Ok(())
                        })
                    })
                    .await
                    .map_err(|e| uws::JobError { fatal: true, message: e.to_string() })?
                    .map_err(failed);
                }
                Some("many") => {
                    let count: usize = parameter(&job, "COUNT").and_then(|c| c.parse().ok()).unwrap_or(100);
                    return tokio::task::spawn_blocking(move || {
                        for n in 0..count {
                            std::thread::sleep(Duration::from_millis(50));
                            results.put_with(&format!("r{n}"), "application/octet-stream", |out| out.write_all(&[7; 4096])).map_err(failed)?;
                        }
                        Ok(())
                    })
                    .await
                    .map_err(|e| uws::JobError { fatal: true, message: e.to_string() })?;
                }
                _ => {}
            }
            let body = format!("result of job {}", job.id);
            results.put("out", "text/plain", body.as_bytes()).map_err(failed)
        })
    }
}

/// How callers authenticate, when they may: a bearer token.
const SCHEMES: &[auth::Scheme] = &[auth::Scheme { kind: auth::SchemeKind::Bearer, challenge: "Bearer", parameters: &[] }];

fn main() -> std::process::ExitCode {
    let program = serve::Program { service_flags: &[], name: "uws-test-server", version: env!("CARGO_PKG_VERSION"), about: "A UWS job list for the tests", base_path: "", uws: true, auth: true, sync: false };
    let idempotent = std::env::var("UWS_TEST_IDEMPOTENT").is_ok_and(|v| v == "1");
    serve::main(program, move |config| async move {
        let mut jobs = uws::JobList::with_runner("/uws/jobs", Arc::new(Jobs));
        if config.auth_tokens.is_some() {
            let policy = auth::Policy::new(auth::configured(&config)?, &config);
            let gate = auth::Gate::new(policy, auth::Modality::Optional, SCHEMES, ivoagen_runtime::ivoa::ErrorFormat::SodaText, false);
            jobs = jobs.identify(Arc::new(auth::owner)).gate(Arc::new(gate));
        }
        uws::mount(&config, if idempotent { jobs.idempotent() } else { jobs }).await
    })
}
