//! Nothing a client sends takes the job service down: unguessable job ids, cancellation that
//! stops the work (ABORT, DELETE, the execution duration), the operator's limits and quotas,
//! validated `/parameters`, and `--refuse-sync-get` leaving the job API alone. Through real
//! server processes.

use ivoagen_e2e::{Server, built, http, root};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_uws-test-server"))
}

fn data(name: &str) -> PathBuf {
    let d = root().join("target/e2e/uws-limits").join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

const FORM: [(&str, &str); 1] = [("Content-Type", "application/x-www-form-urlencoded")];

fn create(addr: &str, jobs: &str, body: &str) -> String {
    let r = http(addr, "POST", jobs, &FORM, body.as_bytes());
    assert_eq!(r.status, 303, "{}", r.text());
    r.header("location").unwrap().split(addr).nth(1).unwrap().to_owned()
}

fn phase(addr: &str, job: &str) -> String {
    http(addr, "GET", &format!("{job}/phase"), &[], b"").text()
}

fn files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn listed(addr: &str, job: &str) -> usize {
    http(addr, "GET", &format!("{job}/results"), &[], b"").text().matches("<uws:result ").count()
}

fn results_dir(dir: &Path, job: &str) -> PathBuf {
    dir.join("results").join(job.rsplit('/').next().unwrap())
}

/// Waits until `ready` holds, at most `limit`.
fn until(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    ready()
}

#[test]
fn job_ids_share_no_structure() {
    let dir = data("ids");
    let server = Server::start(&binary(), &["--data-dir", dir.to_str().unwrap()]);
    let mut ids = std::collections::HashSet::new();
    let mut prefixes = std::collections::HashSet::new();
    for _ in 0..300 {
        let job = create(&server.addr, "/uws/jobs", "MODE=ok");
        let id = job.rsplit('/').next().unwrap().to_owned();
        assert!(id.len() >= 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        prefixes.insert(id[..4].to_owned());
        assert!(ids.insert(id), "ids are unique");
    }
    assert!(prefixes.len() > 280, "consecutive ids share no prefix: {} distinct of 300", prefixes.len());
}

#[test]
fn abort_delete_and_the_execution_duration_stop_the_work() {
    let dir = data("stop");
    let server = Server::start(&binary(), &["--data-dir", dir.to_str().unwrap(), "--uws-workers", "1"]);
    let addr = server.addr.clone();

    // ABORT: no result file appears after it, the results listed are the files on disk, and the
    // one worker is free for the next job.
    let job = create(&addr, "/uws/jobs", "MODE=many&COUNT=100&PHASE=RUN");
    let folder = results_dir(&dir, &job);
    assert!(until(Duration::from_secs(10), || files(&folder) >= 3), "the job writes");
    let r = http(&addr, "POST", &format!("{job}/phase"), &FORM, b"PHASE=ABORT");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(phase(&addr, &job), "ABORTED");
    std::thread::sleep(Duration::from_millis(500));
    let after_abort = files(&folder);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(files(&folder), after_abort, "no result file appears after the abort");
    assert_eq!(listed(&addr, &job), after_abort, "the results listed are the files on disk");
    assert!(after_abort < 100);
    let next = create(&addr, "/uws/jobs", "MODE=ok&PHASE=RUN");
    let _ = http(&addr, "GET", &format!("{next}?WAIT=10&PHASE=QUEUED"), &[], b"");
    let _ = http(&addr, "GET", &format!("{next}?WAIT=10&PHASE=EXECUTING"), &[], b"");
    assert_eq!(phase(&addr, &next), "COMPLETED", "the worker was freed");

    // DELETE of a running job: its folder goes once the work stops, and stays gone.
    let job = create(&addr, "/uws/jobs", "MODE=many&COUNT=100&PHASE=RUN");
    let folder = results_dir(&dir, &job);
    assert!(until(Duration::from_secs(10), || files(&folder) >= 2));
    assert_eq!(http(&addr, "DELETE", &job, &[], b"").status, 303);
    assert!(until(Duration::from_secs(3), || !folder.exists()), "the folder is removed");
    std::thread::sleep(Duration::from_secs(1));
    assert!(!folder.exists(), "and not re-created");
    assert_eq!(http(&addr, "GET", &job, &[], b"").status, 404);

    // EXECUTIONDURATION=1 (at creation): ABORTED after 1 s, files on disk == results listed.
    let job = create(&addr, "/uws/jobs", "MODE=many&COUNT=100&EXECUTIONDURATION=1&PHASE=RUN");
    let folder = results_dir(&dir, &job);
    let started = Instant::now();
    assert!(until(Duration::from_secs(10), || phase(&addr, &job) == "ABORTED"));
    assert!(started.elapsed() < Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    let on_disk = files(&folder);
    assert!(on_disk > 0 && on_disk < 100, "{on_disk}");
    assert_eq!(listed(&addr, &job), on_disk, "files on disk == results listed");
    let document = http(&addr, "GET", &job, &[], b"").text();
    assert!(document.contains("<uws:executionDuration>1</uws:executionDuration>"), "{document}");
    assert!(!document.contains("EXECUTIONDURATION"), "a UWS control, not a job parameter: {document}");
}

#[test]
fn the_operator_sets_the_limits() {
    let out = std::process::Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--uws-workers", "--uws-execution-duration", "--uws-max-execution-duration", "--uws-destruction", "--uws-max-destruction", "--uws-max-wait", "--uws-max-results", "--uws-max-jobs"] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    let bad = std::process::Command::new(binary()).args(["--uws-max-wait", "soon"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));

    let dir = data("limits");
    let args = ["--data-dir", dir.to_str().unwrap(), "--uws-execution-duration", "20", "--uws-max-execution-duration", "30", "--uws-destruction", "1d", "--uws-max-destruction", "2d", "--uws-max-jobs", "3", "--uws-max-wait", "2"];
    let server = Server::start(&binary(), &args);
    let addr = server.addr.clone();
    // Above the maximum: the job gets the maximum, and its document says so.
    let job = create(&addr, "/uws/jobs", "MODE=ok&EXECUTIONDURATION=99999&DESTRUCTION=2100-01-01T00:00:00Z");
    let document = http(&addr, "GET", &job, &[], b"").text();
    assert!(document.contains("<uws:executionDuration>30</uws:executionDuration>"), "{document}");
    let destruction = http(&addr, "GET", &format!("{job}/destruction"), &[], b"").text();
    let at = chrono::DateTime::parse_from_rfc3339(destruction.trim()).unwrap();
    assert!(at < chrono::Utc::now() + chrono::Duration::days(2) + chrono::Duration::minutes(1), "{destruction}");
    // The default applies to a job that asks nothing; 0 (unlimited) is brought to the maximum.
    let plain = create(&addr, "/uws/jobs", "MODE=ok");
    assert_eq!(http(&addr, "GET", &format!("{plain}/executionduration"), &[], b"").text(), "20");
    assert_eq!(http(&addr, "POST", &format!("{plain}/executionduration"), &FORM, b"EXECUTIONDURATION=0").status, 303);
    assert_eq!(http(&addr, "GET", &format!("{plain}/executionduration"), &[], b"").text(), "30");
    // WAIT is capped at 2 s.
    let sleeping = create(&addr, "/uws/jobs", "MODE=sleep&PHASE=RUN");
    let started = Instant::now();
    let _ = http(&addr, "GET", &format!("{sleeping}?WAIT=60&PHASE=EXECUTING"), &[], b"");
    let _ = http(&addr, "GET", &format!("{sleeping}?WAIT=60"), &[], b"");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    // A fourth job: 429 with Retry-After.
    let over = http(&addr, "POST", "/uws/jobs", &FORM, b"MODE=ok");
    assert_eq!(over.status, 429, "{}", over.text());
    assert!(over.header("retry-after").is_some());
    assert_eq!(http(&addr, "DELETE", &plain, &[], b"").status, 303);
    create(&addr, "/uws/jobs", "MODE=ok");
}

#[test]
fn the_job_quota_holds_under_concurrent_creations() {
    const QUOTA: usize = 5;
    const CLIENTS: usize = 64;
    let dir = data("quota-race");
    let server = Server::start(&binary(), &["--data-dir", dir.to_str().unwrap(), "--uws-max-jobs", &QUOTA.to_string()]);
    // Every client connects, then all send at once.
    let start = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (addr, start) = (server.addr.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let r = http(&addr, "POST", "/uws/jobs", &FORM, b"MODE=ok");
                (r.status, r.header("retry-after").map(str::to_owned))
            })
        })
        .collect();
    let answers: Vec<(u16, Option<String>)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let created = answers.iter().filter(|(status, _)| *status == 303).count();
    let refused = answers.iter().filter(|(status, retry)| *status == 429 && retry.as_deref().is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0))).count();
    eprintln!("{CLIENTS} concurrent creations against a quota of {QUOTA}: {created} created, {refused} refused with 429 and Retry-After");
    assert_eq!((created, refused), (QUOTA, CLIENTS - QUOTA), "{answers:?}");
    let listing = http(&server.addr, "GET", "/uws/jobs", &[], b"").text();
    assert_eq!(listing.matches("<uws:jobref ").count(), QUOTA, "{listing}");
}

fn soda(name: &str, extra: &[&str]) -> (Server, PathBuf) {
    let dir = data(name);
    let mut args = vec!["--data-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Server::start(&built("soda-cutout-server"), &args), dir)
}

#[test]
fn parameters_are_checked_as_at_creation_and_phase_acts() {
    let (server, _dir) = soda("soda-parameters", &[]);
    let addr = server.addr.clone();
    let job = create(&addr, "/soda/async", "ID=sample-image");
    let r = http(&addr, "POST", &format!("{job}/parameters"), &FORM, b"CIRCLE=garbage");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().starts_with("UsageError: "), "{}", r.text());
    let params = http(&addr, "GET", &format!("{job}/parameters"), &[], b"").text();
    assert!(!params.contains("garbage"), "nothing changed: {params}");
    // PHASE=RUN runs the job; it is not stored as a parameter.
    let r = http(&addr, "POST", &format!("{job}/parameters"), &FORM, b"CIRCLE=10+10+0.1&PHASE=RUN");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_ne!(phase(&addr, &job), "PENDING");
    let params = http(&addr, "GET", &format!("{job}/parameters"), &[], b"").text();
    assert!(!params.contains("PHASE") && params.contains("CIRCLE"), "{params}");
    let pending = create(&addr, "/soda/async", "ID=sample-image");
    assert_eq!(http(&addr, "POST", &format!("{pending}/parameters"), &FORM, b"PHASE=ABORT").status, 303);
    assert_eq!(phase(&addr, &pending), "ABORTED");
}

#[test]
fn refuse_sync_get_leaves_the_job_api_alone() {
    let (server, _dir) = soda("soda-refuse", &["--refuse-sync-get"]);
    let addr = server.addr.clone();
    let sync = http(&addr, "GET", "/soda/sync?ID=sample-image", &[], b"");
    assert_eq!(sync.status, 405);
    assert!(sync.text().starts_with("UsageError: ") && !sync.text().contains("UsageError: UsageError"), "{}", sync.text());
    let job = create(&addr, "/soda/async", "ID=sample-image&PHASE=RUN");
    for target in ["/soda/async".to_owned(), job.clone(), format!("{job}/phase"), format!("{job}/results"), format!("{job}/parameters")] {
        let r = http(&addr, "GET", &target, &[], b"");
        assert_eq!(r.status, 200, "GET {target}: {}", r.text());
    }
}

#[test]
fn shutdown_stops_running_jobs() {
    let dir = data("shutdown");
    let args = ["--data-dir", dir.to_str().unwrap()];
    let server = Server::start(&binary(), &args);
    let job = create(&server.addr, "/uws/jobs", "MODE=many&COUNT=100&PHASE=RUN");
    let folder = results_dir(&dir, &job);
    assert!(until(Duration::from_secs(10), || files(&folder) >= 3));
    let term = std::process::Command::new("kill").args(["-TERM", &server.pid().to_string()]).status().unwrap();
    assert!(term.success());
    // The process ends soon (a zombie until reaped), and its job wrote nothing more. The bound is
    // well below the 10 s a shutdown waits for requests in flight, with room for a loaded machine.
    let stat = format!("/proc/{}/stat", server.pid());
    let signalled = std::time::Instant::now();
    let ended = until(Duration::from_secs(8), || std::fs::read_to_string(&stat).map_or(true, |s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'))));
    eprintln!("the server ended {:?} after SIGTERM", signalled.elapsed());
    assert!(ended, "the server is still running 8 s after SIGTERM");
    let written = files(&folder);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(files(&folder), written);
    assert!(written < 100);
    drop(server);
    // At the next start the job is recovered as after a crash.
    let server = Server::start(&binary(), &args);
    assert_eq!(phase(&server.addr, &job), "ERROR");
}
