//! Several replicas of a UWS server on one PostgreSQL job store, as real processes on a real
//! PostgreSQL (a cluster of the test's own): any replica answers for any job, each job runs
//! once, WAIT wakes across replicas, a replica killed with `kill -9` loses nothing, the
//! store going away answers 503 until it is back, and a caller's limit of jobs queued or
//! executing (`--uws-max-active`) holds whichever replicas its requests reach at once; and the
//! store is reached over TLS as libpq's `sslmode` and `sslrootcert` say.

use ivoagen_e2e::{Postgres, Response, S3Server, Server, http, root};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_uws-test-server"))
}

fn data(name: &str) -> PathBuf {
    let d = root().join("target/e2e/replicas").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("the test's folder");
    d
}

const FORM: [(&str, &str); 1] = [("Content-Type", "application/x-www-form-urlencoded")];

/// A replica on `store`, sharing `dir` (results) with the others, counting runs in `dir/runs`.
fn replica(dir: &std::path::Path, store: &str, extra: &[&str], env: &[(&str, &str)]) -> Server {
    let runs = dir.join("runs");
    let mut args = vec!["--data-dir", dir.to_str().unwrap(), "--job-store", store];
    args.extend_from_slice(extra);
    let mut vars = vec![("UWS_TEST_RUNS", runs.to_str().unwrap())];
    vars.extend_from_slice(env);
    Server::start_with_env(&binary(), &args, &vars)
}

/// Creates a job; its path (`/uws/jobs/ID`).
fn create(addr: &str, body: &str) -> String {
    let r = http(addr, "POST", "/uws/jobs", &FORM, body.as_bytes());
    assert_eq!(r.status, 303, "{}", r.text());
    r.header("location").unwrap().split(addr).nth(1).unwrap().to_owned()
}

fn phase(addr: &str, job: &str) -> String {
    http(addr, "GET", &format!("{job}/phase"), &[], b"").text()
}

/// The ids of a job listing, in its order.
fn listed(addr: &str, query: &str) -> Vec<String> {
    let r = http(addr, "GET", &format!("/uws/jobs{query}"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text().split("<uws:jobref id=\"").skip(1).map(|s| s.split('"').next().unwrap_or_default().to_owned()).collect()
}

fn runs(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs")).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn two_replicas_run_every_job_once_and_answer_for_each_other() {
    let pg = Postgres::start("replicas");
    let s3 = S3Server::start("results");
    let dir = data("two");
    // Each replica has a data directory of its own: the jobs are in PostgreSQL, the results in
    // the bucket; only the tests' count of runs is shared.
    let runs_file = dir.join("runs");
    let mut env: Vec<(&str, String)> = s3.env();
    env.push(("UWS_TEST_RUNS", runs_file.to_str().unwrap().to_owned()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let limits = ["--uws-workers", "4", "--uws-max-jobs", "0", "--result-store", "s3://results/jobs"];
    let a = replica(&dir.join("a"), &pg.url(), &limits, &env);
    let b = replica(&dir.join("b"), &pg.url(), &limits, &env);

    // 500 jobs, half created through each replica, eight clients at once.
    let created: Vec<String> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|c| {
                let addr = if c % 2 == 0 { a.addr.clone() } else { b.addr.clone() };
                scope.spawn(move || (0..62 + usize::from(c < 4)).map(|_| create(&addr, "MODE=ok&PHASE=RUN")).collect::<Vec<_>>())
            })
            .collect();
        clients.into_iter().flat_map(|c| c.join().unwrap()).collect()
    });
    assert_eq!(created.len(), 500);
    let ids: BTreeSet<String> = created.iter().map(|j| j.rsplit('/').next().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 500, "no id twice");
    until(Duration::from_secs(120), "500 jobs completed", || listed(&a.addr, "?PHASE=COMPLETED").len() == 500);

    // Each ran exactly once, on one replica or the other.
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for id in runs(&dir) {
        *times.entry(id).or_default() += 1;
    }
    assert_eq!(times.keys().cloned().collect::<BTreeSet<_>>(), ids, "every job ran, and nothing else");
    assert!(times.values().all(|&n| n == 1), "a job ran twice: {:?}", times.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>());
    // Both list the same jobs in the same order.
    let (from_a, from_b) = (listed(&a.addr, ""), listed(&b.addr, ""));
    assert_eq!(from_a.len(), 500);
    assert_eq!(from_a, from_b);
    // Every result is an object of the bucket, and the same bytes through either replica, or
    // through a third one that redirects to presigned URLs.
    assert_eq!(s3.keys("results").iter().filter(|k| k.starts_with("jobs/") && k.ends_with("/out")).count(), 500);
    let mut redirecting = limits.to_vec();
    redirecting.extend(["--result-redirect", "60s"]);
    let c = replica(&dir.join("c"), &pg.url(), &redirecting, &env);
    for job in created.iter().take(20) {
        let (ra, rb) = (http(&a.addr, "GET", &format!("{job}/results/out"), &[], b""), http(&b.addr, "GET", &format!("{job}/results/out"), &[], b""));
        assert_eq!((ra.status, rb.status), (200, 200), "{job}: {}", ra.text());
        assert_eq!(ra.body, rb.body);
        assert!(ra.text().ends_with(job.rsplit('/').next().unwrap()), "{}", ra.text());
        let redirect = http(&c.addr, "GET", &format!("{job}/results/out"), &[], b"");
        assert_eq!(redirect.status, 303, "{}", redirect.text());
        let url = redirect.header("location").unwrap();
        assert!(url.starts_with(&s3.endpoint) && url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=60"), "{url}");
        let target = url.trim_start_matches(&s3.endpoint);
        let presigned = http(s3.endpoint.trim_start_matches("http://"), "GET", target, &[], b"");
        assert_eq!((presigned.status, presigned.body), (200, ra.body));
    }
    // Deleting a job deletes its objects.
    let gone = created[0].rsplit('/').next().unwrap().to_owned();
    assert_eq!(http(&b.addr, "DELETE", &created[0], &[], b"").status, 303);
    until(Duration::from_secs(10), "the deleted job's objects go", || !s3.keys("results").iter().any(|k| k.contains(&gone)));

    // A job created on A is woken on A by RUN through B, within a second of it.
    let job = create(&a.addr, "MODE=sleep");
    let waiter = {
        let (addr, job) = (a.addr.clone(), job.clone());
        std::thread::spawn(move || {
            let r: Response = http(&addr, "GET", &format!("{job}?WAIT=30"), &[], b"");
            (Instant::now(), r)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let r = http(&b.addr, "POST", &format!("{job}/phase"), &FORM, b"PHASE=RUN");
    assert_eq!(r.status, 303, "{}", r.text());
    let changed = Instant::now();
    let (woken, document) = waiter.join().unwrap();
    let latency = woken.saturating_duration_since(changed);
    assert!(latency < Duration::from_secs(1), "WAIT on A woke {latency:?} after the change on B");
    assert!(!document.text().contains("PENDING</uws:phase>"), "{}", document.text());
    eprintln!("WAIT on A woke {latency:?} after RUN through B");
    // Read through B, aborted through B whichever replica executes it, deleted through B.
    until(Duration::from_secs(10), "the job executes", || phase(&b.addr, &job) == "EXECUTING");
    let r = http(&b.addr, "POST", &format!("{job}/phase"), &FORM, b"PHASE=ABORT");
    assert_eq!(r.status, 303, "{}; the job: {}", r.text(), http(&a.addr, "GET", &job, &[], b"").text());
    assert_eq!(phase(&a.addr, &job), "ABORTED");
    let r = http(&b.addr, "DELETE", &job, &[], b"");
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(http(&a.addr, "GET", &job, &[], b"").status, 404);
}

#[test]
fn a_replica_killed_while_executing_loses_nothing() {
    let pg = Postgres::start("kill");
    let dir = data("kill");
    let limits = ["--uws-workers", "3", "--uws-lease", "2s"];
    let a = replica(&dir, &pg.url(), &limits, &[]);
    // A alone claims its three jobs.
    let jobs: Vec<String> = (0..3).map(|_| create(&a.addr, "MODE=sleep&PHASE=RUN")).collect();
    for job in &jobs {
        until(Duration::from_secs(10), "A executes its jobs", || phase(&a.addr, job) == "EXECUTING");
    }
    let b = replica(&dir, &pg.url(), &limits, &[]);
    let queued = create(&b.addr, "MODE=ok&PHASE=RUN");
    a.kill_9();
    let killed = Instant::now();
    // Within the lease and a half, plus a margin, each is ERROR, saying why, seen through B.
    for job in &jobs {
        until(Duration::from_secs(8), "B recovers the job", || phase(&b.addr, job) == "ERROR");
        let document = http(&b.addr, "GET", job, &[], b"").text();
        assert!(document.contains("lease expired"), "{document}");
    }
    eprintln!("the killed replica's jobs were recovered {:?} after kill -9 (lease 2 s)", killed.elapsed());
    until(Duration::from_secs(10), "B runs its own job meanwhile", || phase(&b.addr, &queued) == "COMPLETED");
    assert_eq!(listed(&b.addr, "").len(), 4, "nothing lost");
    // The restarted replica rejoins: it answers for every job and runs new ones.
    let a = replica(&dir, &pg.url(), &limits, &[]);
    assert_eq!(listed(&a.addr, ""), listed(&b.addr, ""));
    let more: Vec<String> = (0..6).map(|_| create(&a.addr, "MODE=ok&PHASE=RUN")).collect();
    for job in &more {
        until(Duration::from_secs(10), "new jobs complete", || phase(&b.addr, job) == "COMPLETED");
    }

    // A replica shutting down (SIGTERM) hands its jobs back at once, not after the lease (in a
    // database of their own, so that the job is surely the leaving replica's).
    pg.psql("CREATE DATABASE leaving");
    let url = format!("postgresql://postgres@127.0.0.1:{}/leaving", pg.port);
    let leaving = replica(&data("leaving"), &url, &["--uws-lease", "60s"], &[]);
    let job = create(&leaving.addr, "MODE=sleep&PHASE=RUN");
    until(Duration::from_secs(10), "the leaving replica executes it", || phase(&leaving.addr, &job) == "EXECUTING");
    let staying = replica(&data("staying"), &url, &["--uws-lease", "60s"], &[]);
    let status = std::process::Command::new("kill").args(["-TERM", &leaving.pid().to_string()]).status().unwrap();
    assert!(status.success());
    until(Duration::from_secs(10), "the job ends as its replica shuts down", || phase(&staying.addr, &job) == "ERROR");
    let document = http(&staying.addr, "GET", &job, &[], b"").text();
    assert!(document.contains("shut down"), "{document}");

    // Idempotent jobs are queued again instead, and run on the replica left (in a database of
    // their own, so that no replica of the runs above, counting elsewhere, takes the job).
    let dir = data("kill-idempotent");
    let idempotent = [("UWS_TEST_IDEMPOTENT", "1")];
    pg.psql("CREATE DATABASE idempotent");
    let url = format!("postgresql://postgres@127.0.0.1:{}/idempotent", pg.port);
    let c = replica(&dir, &url, &limits, &idempotent);
    let job = create(&c.addr, "MODE=sleep&PHASE=RUN");
    until(Duration::from_secs(10), "C executes it", || phase(&c.addr, &job) == "EXECUTING");
    let d = replica(&dir, &url, &limits, &idempotent);
    c.kill_9();
    let id = job.rsplit('/').next().unwrap().to_owned();
    until(Duration::from_secs(8), "D runs it again", || runs(&dir).iter().filter(|r| **r == id).count() == 2);
    assert_eq!(phase(&d.addr, &job), "EXECUTING");
}

/// The value of the sample `name` with `labels` in a replica's metrics.
fn metric(server: &Server, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = http(&server.metrics_addr(), "GET", "/metrics", &[], b"").text();
    ivoagen_e2e::prometheus_samples(&text)
        .into_iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
}

#[test]
fn a_replica_paused_past_its_lease_stops_the_job_another_took_over() {
    // A (SIGSTOP) cannot renew its lease; B queues its idempotent job again and runs it. When A
    // wakes, the job is B's: A must stop its own run of it, not run it beside B.
    let pg = Postgres::start("paused");
    let dir = data("paused");
    let idempotent = [("UWS_TEST_IDEMPOTENT", "1")];
    let limits = ["--uws-lease", "2s", "--metrics-addr", "127.0.0.1:0"];
    let a = replica(&dir, &pg.url(), &limits, &idempotent);
    let job = create(&a.addr, "MODE=sleep&PHASE=RUN");
    until(Duration::from_secs(10), "A executes it", || phase(&a.addr, &job) == "EXECUTING");
    assert_eq!(metric(&a, "uws_workers_busy", &[]), Some(1.0));
    let b = replica(&dir, &pg.url(), &limits, &idempotent);
    let signal = |sig: &str, server: &Server| assert!(std::process::Command::new("kill").args([sig, &server.pid().to_string()]).status().unwrap().success());
    signal("-STOP", &a);
    let id = job.rsplit('/').next().unwrap().to_owned();
    until(Duration::from_secs(10), "B runs it again", || runs(&dir).iter().filter(|r| **r == id).count() == 2);
    signal("-CONT", &a);
    // Within a renewal or two (every third of the lease), A's worker is free; B still runs it.
    until(Duration::from_secs(5), "A stops its run of the job B took over", || metric(&a, "uws_workers_busy", &[]) == Some(0.0));
    assert_eq!(metric(&b, "uws_workers_busy", &[]), Some(1.0));
    assert_eq!(phase(&a.addr, &job), "EXECUTING");
    assert_eq!(runs(&dir).iter().filter(|r| **r == id).count(), 2, "nobody ran it a third time");
}

#[test]
fn wait_falls_back_to_reading_the_store_when_notifications_are_lost() {
    let pg = Postgres::start("notify");
    let dir = data("notify");
    let a = replica(&dir, &pg.url(), &[], &[]);
    let b = replica(&dir, &pg.url(), &[], &[]);
    let job = create(&a.addr, "MODE=sleep");
    // Notifications stop: the listening connections are cut, and no new connection is let in
    // (the pools keep the connections they have).
    pg.psql_in("template1", "ALTER DATABASE postgres ALLOW_CONNECTIONS false");
    let cut = pg.psql_in("template1", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ivoagen-listen'");
    assert_eq!(cut, "2", "each replica listens on a connection of its own");
    std::thread::sleep(Duration::from_millis(300));
    let waiter = {
        let (addr, job) = (a.addr.clone(), job.clone());
        std::thread::spawn(move || {
            let r = http(&addr, "GET", &format!("{job}?WAIT=30"), &[], b"");
            (Instant::now(), r)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let r = http(&b.addr, "POST", &format!("{job}/phase"), &FORM, b"PHASE=RUN");
    assert_eq!(r.status, 303, "{}", r.text());
    let changed = Instant::now();
    let (woken, document) = waiter.join().unwrap();
    let latency = woken.saturating_duration_since(changed);
    assert!(latency < Duration::from_secs(3), "WAIT woke {latency:?} after the change, with notifications lost");
    assert!(!document.text().contains("PENDING</uws:phase>"), "{}", document.text());
    eprintln!("with notifications lost, WAIT on A woke {latency:?} after RUN through B (polling every 1 s)");
    pg.psql_in("template1", "ALTER DATABASE postgres ALLOW_CONNECTIONS true");
    // Listening again (the replicas reconnect by themselves): the next change wakes at once.
    until(Duration::from_secs(10), "the replicas listen again", || pg.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ivoagen-listen'") == "2");
    let job = create(&a.addr, "MODE=sleep");
    let waiter = {
        let (addr, job) = (a.addr.clone(), job.clone());
        std::thread::spawn(move || {
            let _ = http(&addr, "GET", &format!("{job}?WAIT=30"), &[], b"");
            Instant::now()
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http(&b.addr, "POST", &format!("{job}/phase"), &FORM, b"PHASE=RUN").status, 303);
    let changed = Instant::now();
    let latency = waiter.join().unwrap().saturating_duration_since(changed);
    assert!(latency < Duration::from_millis(900), "notifications wake WAIT again once reconnected: {latency:?}");
}

#[test]
fn the_store_restarted_under_load_answers_503_then_loses_nothing() {
    let pg = Postgres::start("restart");
    let dir = data("restart");
    let limits = ["--uws-workers", "4", "--uws-max-jobs", "0", "--metrics-addr", "127.0.0.1:0"];
    let a = replica(&dir, &pg.url(), &limits, &[]);
    let b = replica(&dir, &pg.url(), &limits, &[]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (created, statuses) = std::thread::scope(|scope| {
        let clients: Vec<_> = [&a.addr, &b.addr]
            .into_iter()
            .map(|addr| {
                let stop = &stop;
                scope.spawn(move || {
                    let (mut created, mut statuses) = (Vec::new(), BTreeMap::<u16, usize>::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let r = http(addr, "POST", "/uws/jobs", &FORM, b"MODE=ok&PHASE=RUN");
                        *statuses.entry(r.status).or_default() += 1;
                        if r.status == 303 {
                            created.push(r.header("location").unwrap().rsplit('/').next().unwrap().to_owned());
                        } else {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                    (created, statuses)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(1));
        let ready = |server: &Server| http(&server.metrics_addr(), "GET", "/readyz", &[], b"");
        assert_eq!(ready(&a).status, 200, "ready while PostgreSQL runs");
        pg.stop();
        // Not ready while the store is away, ready again once it is back.
        let down = ready(&b);
        assert_eq!(down.status, 503, "{}", down.text());
        assert!(down.text().contains("job-store"), "{}", down.text());
        std::thread::sleep(Duration::from_secs(2));
        pg.run();
        until(Duration::from_secs(10), "ready again", || ready(&a).status == 200 && ready(&b).status == 200);
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut all = (Vec::new(), BTreeMap::<u16, usize>::new());
        for client in clients {
            let (c, s) = client.join().unwrap();
            all.0.extend(c);
            for (status, n) in s {
                *all.1.entry(status).or_default() += n;
            }
        }
        all
    });
    eprintln!("statuses while PostgreSQL restarted: {statuses:?}");
    assert!(statuses.get(&503).is_some_and(|&n| n > 0), "requests failed with 503 while the store was down: {statuses:?}");
    assert!(statuses.keys().all(|s| [303, 503].contains(s)), "only 303 and 503: {statuses:?}");
    let ids: BTreeSet<String> = created.into_iter().collect();
    let start = Instant::now();
    while !listed(&a.addr, "?PHASE=PENDING&PHASE=QUEUED&PHASE=EXECUTING").is_empty() {
        let phases = pg.psql("SELECT phase, count(*), count(holder) FROM uws_jobs GROUP BY phase");
        assert!(start.elapsed() < Duration::from_secs(60), "every job ends: in the store: {phases}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let completed: BTreeSet<String> = listed(&b.addr, "?PHASE=COMPLETED").into_iter().collect();
    let all: BTreeSet<String> = listed(&b.addr, "").into_iter().collect();
    assert_eq!(completed, all, "every job completed");
    assert!(ids.is_subset(&all), "every job acknowledged is there");
    // A creation whose commit the connection's drop hid from the replica was answered 503 and
    // still made its job: the client could not know, and may have created it again.
    let unacknowledged = all.len() - ids.len();
    assert!(unacknowledged <= 2, "{unacknowledged} jobs were made by creations answered 503");
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for id in runs(&dir) {
        *times.entry(id).or_default() += 1;
    }
    assert!(times.values().all(|&n| n == 1), "no job ran twice");
    assert_eq!(times.into_keys().collect::<BTreeSet<_>>(), all, "every job ran");

    // What each replica says of itself, and of the store, in Prometheus's text format.
    let claimed = metric(&a, "uws_jobs_claimed_total", &[]).unwrap() + metric(&b, "uws_jobs_claimed_total", &[]).unwrap();
    let ended = metric(&a, "uws_jobs_ended_total", &[("phase", "COMPLETED")]).unwrap_or(0.0) + metric(&b, "uws_jobs_ended_total", &[("phase", "COMPLETED")]).unwrap_or(0.0);
    assert_eq!((claimed, ended), (all.len() as f64, all.len() as f64), "each job claimed and completed once across the replicas");
    assert_eq!(metric(&a, "uws_workers", &[]), Some(4.0));
    assert_eq!(metric(&a, "uws_workers_busy", &[]), Some(0.0));
    assert!(metric(&a, "uws_store_seconds_count", &[("operation", "claim")]).unwrap() > 0.0);
    until(Duration::from_secs(15), "jobs by phase are read from the store", || metric(&b, "uws_jobs", &[("phase", "COMPLETED")]) == Some(all.len() as f64));
    assert_eq!(metric(&b, "uws_queue_depth", &[]), Some(0.0));
}

/// The bundled SODA server as two replicas on one PostgreSQL and one bucket: an async cutout
/// created on one, waited on through the other, is the same bytes as the sync cutout, fetched
/// through either replica, streamed or redirected; VOSI availability says whether the job store
/// answers.
#[test]
fn soda_replicas_serve_async_cutouts_equal_to_sync_ones_and_report_the_stores_availability() {
    let pg = Postgres::start("soda");
    let s3 = S3Server::start("cutouts");
    let env: Vec<(&str, String)> = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let binary = ivoagen_e2e::built("soda-cutout-server");
    let dir = data("soda");
    let start = |name: &str, extra: &[&str]| {
        let data = dir.join(name);
        soda_cutout_server::service::sample::ensure(&data).unwrap();
        let url = pg.url();
        let mut args = vec!["--data-dir", data.to_str().unwrap(), "--job-store", url.as_str(), "--result-store", "s3://cutouts/soda"];
        args.extend_from_slice(extra);
        Server::start_with_env(&binary, &args, &env)
    };
    let (a, b, c) = (start("a", &[]), start("b", &[]), start("c", &["--result-redirect", "5m"]));
    let query = "ID=sample-image&CIRCLE=10.70+41.26+0.02";
    let sync = http(&a.addr, "GET", &format!("/soda/sync?{query}"), &[], b"");
    assert_eq!(sync.status, 200, "{}", sync.text());
    let created = http(&a.addr, "POST", "/soda/async?PHASE=RUN", &FORM, query.as_bytes());
    assert_eq!(created.status, 303, "{}", created.text());
    let job = created.header("location").unwrap().split(&a.addr).nth(1).unwrap().to_owned();
    until(Duration::from_secs(30), "the cutout job completes, seen through B", || {
        http(&b.addr, "GET", &format!("{job}?WAIT=5"), &[], b"").text().contains("<uws:phase>COMPLETED</uws:phase>")
    });
    let results = http(&b.addr, "GET", &format!("{job}/results"), &[], b"").text();
    let href = results.split("xlink:href=\"").nth(1).and_then(|h| h.split('"').next()).unwrap_or_else(|| panic!("no result: {results}"));
    let result = href.split(&b.addr).nth(1).unwrap().to_owned();
    for replica in [&a, &b] {
        let streamed = http(&replica.addr, "GET", &result, &[], b"");
        assert_eq!(streamed.status, 200, "{}", streamed.text());
        assert!(streamed.body == sync.body, "the async cutout through {} differs from the sync one", replica.addr);
    }
    let redirect = http(&c.addr, "GET", &result, &[], b"");
    assert_eq!(redirect.status, 303, "{}", redirect.text());
    let url = redirect.header("location").unwrap();
    let presigned = http(s3.endpoint.trim_start_matches("http://"), "GET", url.trim_start_matches(&s3.endpoint), &[], b"");
    assert_eq!(presigned.status, 200);
    assert!(presigned.body == sync.body, "the presigned object differs from the sync cutout");

    // VOSI availability follows the job store's readiness: PostgreSQL stopped, not available
    // (saying which check failed, not why); back, available again.
    let availability = |server: &Server| http(&server.addr, "GET", "/soda/availability", &[], b"").text();
    assert!(availability(&a).contains("<vosi:available>true</vosi:available>"), "{}", availability(&a));
    pg.stop();
    // Within the second the last outcome is kept for, and the check's time.
    until(Duration::from_secs(10), "not available once PostgreSQL is stopped", || availability(&a).contains("<vosi:available>false</vosi:available>"));
    let down = availability(&a);
    ivoagen_e2e::xsd_validate("VOSIAvailability-v1.0.xsd", "availability-store-down.xml", &down);
    assert!(down.contains("<vosi:available>false</vosi:available>") && !down.contains("<vosi:upSince>"), "{down}");
    assert!(down.contains("<vosi:note>not ready: job-store failed its readiness check</vosi:note>"), "{down}");
    assert!(!down.contains("127.0.0.1"), "no detail of the store in a public document: {down}");
    pg.run();
    until(Duration::from_secs(15), "available again once PostgreSQL is back", || availability(&a).contains("<vosi:available>true</vosi:available>"));
}

/// A result larger than a part goes to the bucket as a multipart upload, written as the job
/// produces it, and comes back whole; one the job stops mid-way leaves no object behind.
#[test]
fn a_large_result_is_uploaded_in_parts_and_read_back_whole() {
    let s3 = S3Server::start("large");
    let env: Vec<(&str, String)> = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = data("large");
    let server = Server::start_with_env(&binary(), &["--data-dir", dir.to_str().unwrap(), "--result-store", "s3://large/results"], &env);
    let size = 20_000_003;
    let job = create(&server.addr, &format!("MODE=big&SIZE={size}&PHASE=RUN"));
    until(Duration::from_secs(60), "the job completes", || phase(&server.addr, &job) == "COMPLETED");
    let id = job.rsplit('/').next().unwrap();
    assert_eq!(s3.keys("large"), [format!("results/{id}/big")]);
    let result = http(&server.addr, "GET", &format!("{job}/results/big"), &[], b"");
    assert_eq!(result.status, 200);
    assert_eq!(result.header("content-length"), Some(size.to_string().as_str()));
    assert_eq!(result.body.len(), size);
    assert!(result.body.iter().enumerate().all(|(i, b)| usize::from(*b) == i % 251), "the object's bytes are the job's");
    // Aborted while it writes (the writer refuses the next part): the upload is abandoned.
    let stopped = create(&server.addr, "MODE=big&SIZE=4000000000&PHASE=RUN");
    until(Duration::from_secs(10), "the big job executes", || phase(&server.addr, &stopped) == "EXECUTING");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(http(&server.addr, "POST", &format!("{stopped}/phase"), &FORM, b"PHASE=ABORT").status, 303);
    let stopped_id = stopped.rsplit('/').next().unwrap().to_owned();
    std::thread::sleep(Duration::from_secs(1));
    assert!(!s3.keys("large").iter().any(|k| k.contains(&stopped_id)), "no object of the aborted job");
    let document = http(&server.addr, "GET", &stopped, &[], b"").text();
    assert!(document.contains("ABORTED") && !document.contains("<uws:result "), "{document}");
}

/// A request to send: `(replica, method, target, headers, body)`.
type Request<'a> = (&'a str, &'a str, String, Vec<(&'a str, &'a str)>, String);

/// Sends every request at once, each from a thread of its own released together. The answers,
/// in the requests' order.
fn at_once(requests: &[Request]) -> Vec<Response> {
    let start = std::sync::Barrier::new(requests.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = requests
            .iter()
            .map(|(addr, method, target, headers, body)| {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    http(addr, method, target, headers, body.as_bytes())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// Each answer's status and text, to show in a failure.
fn shown(answers: &[Response]) -> Vec<(u16, String)> {
    answers.iter().map(|r| (r.status, r.text())).collect()
}

/// How many of `answers` have each status.
fn statuses(answers: &[Response]) -> BTreeMap<u16, usize> {
    let mut counted = BTreeMap::new();
    for answer in answers {
        *counted.entry(answer.status).or_default() += 1;
    }
    counted
}

/// The replicas' tokens: alice, bob and carol.
fn tokens(dir: &std::path::Path) -> String {
    let file = dir.join("tokens");
    std::fs::write(&file, "tok-alice alice\ntok-bob bob\ntok-carol carol\n").unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn the_active_limit_holds_for_stores_and_replicas_sharing_postgresql() {
    use ivoagen_runtime::codegen::tokio;
    use ivoagen_runtime::uws::store::{Charge, Decision, Edited, Inserted, JobStore, PostgresStore, Quota};
    use ivoagen_runtime::uws::{Job, Phase};
    const LIMIT: usize = 3;
    let pg = Postgres::start("active");
    let dir = data("active");
    let tokens = tokens(&dir);
    let limits = ["--auth-tokens", tokens.as_str(), "--uws-max-active", "3"];
    let a = replica(&dir, &pg.url(), &limits, &[]);
    let b = replica(&dir, &pg.url(), &limits, &[]);
    let replicas = [a.addr.as_str(), b.addr.as_str()];
    let (alice, bob) = (("authorization", "Bearer tok-alice"), ("authorization", "Bearer tok-bob"));

    // Twenty pending jobs of alice, then twenty runs of them at once, half through each replica:
    // three are queued, the others refused and left pending.
    let jobs: Vec<String> = (0..20)
        .map(|i| {
            let r = http(replicas[i % 2], "POST", "/uws/jobs", &[FORM[0], alice], b"MODE=sleep");
            assert_eq!(r.status, 303, "{}", r.text());
            r.header("location").unwrap().split(replicas[i % 2]).nth(1).unwrap().to_owned()
        })
        .collect();
    let runs: Vec<_> = jobs.iter().enumerate().map(|(i, job)| (replicas[i % 2], "POST", format!("{job}/phase"), vec![FORM[0], alice], "PHASE=RUN".to_owned())).collect();
    let answers = at_once(&runs);
    eprintln!("20 runs of alice's jobs at once through two replicas, limit {LIMIT}: {:?}", statuses(&answers));
    assert_eq!(statuses(&answers), BTreeMap::from([(303, LIMIT), (429, 20 - LIMIT)]), "{:?}", shown(&answers));
    for refused in answers.iter().filter(|r| r.status == 429) {
        assert_eq!(refused.header("retry-after"), Some("5"));
        assert!(refused.text().starts_with("UsageError: too many jobs at once: this identity may have 3 jobs queued or executing"), "{}", refused.text());
    }
    let counted = |sql: &str| pg.psql(sql).parse::<usize>().unwrap();
    assert_eq!(counted("SELECT count(*) FROM uws_jobs WHERE account = '@alice' AND phase IN ('QUEUED', 'EXECUTING')"), LIMIT);
    assert_eq!(counted("SELECT count(*) FROM uws_jobs WHERE owner = 'alice' AND phase = 'PENDING'"), 20 - LIMIT, "the refused jobs stay pending");
    // Creations with PHASE=RUN at once: bob gets his three places, alice none, and nothing refused
    // is created.
    let creations: Vec<_> = (0..16).map(|i| (replicas[i % 2], "POST", "/uws/jobs".to_owned(), vec![FORM[0], if i < 10 { bob } else { alice }], "MODE=sleep&PHASE=RUN".to_owned())).collect();
    let answers = at_once(&creations);
    assert_eq!(statuses(&answers[..10]), BTreeMap::from([(303, LIMIT), (429, 10 - LIMIT)]), "bob: {:?}", shown(&answers));
    assert_eq!(statuses(&answers[10..]), BTreeMap::from([(429, 6)]), "alice: {:?}", shown(&answers));
    assert_eq!(counted("SELECT count(*) FROM uws_jobs WHERE owner = 'bob'"), LIMIT);
    // One of alice's ends (aborted through the other replica): one place, for one of two runs.
    let running: Vec<&String> = jobs.iter().filter(|job| ["QUEUED", "EXECUTING"].contains(&phase_of(replicas[0], job, alice).as_str())).collect();
    assert_eq!(running.len(), LIMIT);
    assert_eq!(http(replicas[1], "POST", &format!("{}/phase", running[0]), &[FORM[0], alice], b"PHASE=ABORT").status, 303);
    let waiting: Vec<&String> = jobs.iter().filter(|job| phase_of(replicas[0], job, alice) == "PENDING").take(2).collect();
    let two: Vec<_> = waiting.iter().enumerate().map(|(i, job)| (replicas[i % 2], "POST", format!("{job}/phase"), vec![FORM[0], alice], "PHASE=RUN".to_owned())).collect();
    assert_eq!(statuses(&at_once(&two)), BTreeMap::from([(303, 1), (429, 1)]));

    // The store itself: two connections to one database (replicas, as far as the store can
    // tell) racing to queue jobs of one account, and to add queued jobs of another.
    pg.psql("CREATE DATABASE store");
    let url = format!("postgresql://postgres@127.0.0.1:{}/store", pg.port);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (queued, added) = runtime.block_on(async {
        let template: Job = PostgresStore::connect(&pg.url()).await.unwrap().get(jobs[0].rsplit('/').next().unwrap()).await.unwrap().unwrap();
        let stores: Vec<std::sync::Arc<PostgresStore>> = vec![std::sync::Arc::new(PostgresStore::connect(&url).await.unwrap()), std::sync::Arc::new(PostgresStore::connect(&url).await.unwrap())];
        for i in 0..24 {
            let job = Job { id: format!("p{i}"), phase: Phase::Pending, ..template.clone() };
            assert_eq!(stores[i % 2].insert(&job, Quota::default()).await.unwrap(), Inserted::Added);
        }
        let run = || -> ivoagen_runtime::uws::store::Edit {
            Box::new(|job: &mut Job| {
                if job.phase != Phase::Pending {
                    return Decision::Keep;
                }
                job.phase = Phase::Queued;
                Decision::Write
            })
        };
        let queues: Vec<_> = (0..24)
            .map(|i| {
                let (store, edit) = (stores[i % 2].clone(), run());
                tokio::spawn(async move { store.queue(&format!("p{i}"), Charge { account: "@carol", limit: LIMIT }, edit).await.unwrap() })
            })
            .collect();
        let mut queued = Vec::new();
        for q in queues {
            queued.push(q.await.unwrap());
        }
        let adds: Vec<_> = (0..12)
            .map(|i| {
                let store = stores[i % 2].clone();
                let job = Job { id: format!("q{i}"), phase: Phase::Queued, ..template.clone() };
                tokio::spawn(async move { store.insert(&job, Quota { jobs: 0, charge: Some(Charge { account: "#198.51.100.7", limit: 2 }) }).await.unwrap() })
            })
            .collect();
        let mut added = Vec::new();
        for a in adds {
            added.push(a.await.unwrap());
        }
        (queued, added)
    });
    let written = queued.iter().filter(|e| matches!(e, Edited::Written(j) if j.phase == Phase::Queued)).count();
    let refused = queued.iter().filter(|e| **e == Edited::TooManyActive).count();
    eprintln!("24 queuings racing through two stores, limit {LIMIT}: {written} queued, {refused} refused");
    assert_eq!((written, refused), (LIMIT, 24 - LIMIT), "{queued:?}");
    let added: Vec<Inserted> = added;
    assert_eq!(added.iter().filter(|a| **a == Inserted::Added).count(), 2, "{added:?}");
    assert_eq!(added.iter().filter(|a| **a == Inserted::TooManyActive).count(), 10, "{added:?}");
    let counted = |sql: &str| pg.psql_in("store", sql).parse::<usize>().unwrap();
    assert_eq!(counted("SELECT count(*) FROM uws_jobs WHERE phase = 'QUEUED'"), LIMIT + 2);
    assert_eq!(counted("SELECT count(*) FROM uws_jobs WHERE phase = 'PENDING'"), 24 - LIMIT);
    // The count reads the index of active jobs, not the table.
    let plan = pg.psql_in("store", "SET enable_seqscan = off; EXPLAIN SELECT count(*) FROM uws_jobs WHERE account = '@carol' AND phase IN ('QUEUED', 'EXECUTING')");
    assert!(plan.contains("uws_jobs_active_by_account"), "{plan}");
}

/// The phase of `job`, asked as `caller`.
fn phase_of(addr: &str, job: &str, caller: (&str, &str)) -> String {
    http(addr, "GET", &format!("{job}/phase"), &[caller], b"").text()
}

#[test]
fn a_store_of_schema_1_is_migrated_and_its_queued_jobs_count_against_nobody() {
    let pg = Postgres::start("migrate-2");
    // Schema 1, as the first release made it, with a job queued then.
    pg.psql(
        "CREATE TABLE uws_schema (version integer NOT NULL);
         INSERT INTO uws_schema VALUES (1);
         CREATE TABLE uws_jobs (seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE, owner text, owner_key text NOT NULL, phase text NOT NULL,
             record text NOT NULL, created bigint NOT NULL, destruction bigint, holder text, lease_until timestamptz);
         CREATE INDEX uws_jobs_by_owner ON uws_jobs (owner_key, seq);
         CREATE INDEX uws_jobs_by_destruction ON uws_jobs (destruction);
         CREATE INDEX uws_jobs_queued ON uws_jobs (seq) WHERE phase = 'QUEUED';
         CREATE INDEX uws_jobs_leases ON uws_jobs (lease_until) WHERE phase = 'EXECUTING';",
    );
    let record = r#"{"id":"old","run_id":null,"owner":"alice","phase":"QUEUED","creation_time":"2026-01-01T00:00:00+00:00","start_time":null,"end_time":null,"execution_duration":0,"destruction":"2100-01-01T00:00:00+00:00","parameters":[["MODE","sleep"]],"results":[],"error":null}"#;
    pg.psql(&format!("INSERT INTO uws_jobs (id, owner, owner_key, phase, record, created) VALUES ('old', 'alice', '@alice', 'QUEUED', '{record}', 0)"));
    let dir = data("migrate-2");
    let tokens = tokens(&dir);
    let server = replica(&dir, &pg.url(), &["--auth-tokens", tokens.as_str(), "--uws-max-active", "1"], &[]);
    assert_eq!(pg.psql("SELECT max(version) FROM uws_schema"), "2");
    // The old job runs, and takes none of alice's one place.
    let alice = ("authorization", "Bearer tok-alice");
    until(Duration::from_secs(10), "the old queued job runs", || phase_of(&server.addr, "/uws/jobs/old", alice) == "EXECUTING");
    let r = http(&server.addr, "POST", "/uws/jobs", &[FORM[0], alice], b"MODE=sleep&PHASE=RUN");
    assert_eq!(r.status, 303, "{}", r.text());
    let r = http(&server.addr, "POST", "/uws/jobs", &[FORM[0], alice], b"MODE=sleep&PHASE=RUN");
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(pg.psql("SELECT coalesce(account, '-') FROM uws_jobs ORDER BY seq"), "-\n@alice");
}

/// Runs a replica on `store` that is expected to refuse to start; what it said.
fn refused_store(dir: &std::path::Path, store: &str) -> String {
    let out = std::process::Command::new(binary()).args(["--bind", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap(), "--job-store", store]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "started on {store}: {said}");
    said
}

#[test]
fn the_job_store_is_reached_over_tls_as_sslmode_and_sslrootcert_say() {
    let pg = Postgres::start_tls("tls");
    let dir = data("tls");
    let url = |host: &str, query: &str| format!("postgresql://postgres@{host}:{}/postgres{query}", pg.port);
    let (ca, other) = (pg.tls_file("ca.pem"), pg.tls_file("other-ca.pem"));
    let verify = |mode: &str, host: &str, root: &std::path::Path| url(host, &format!("?sslmode={mode}&sslrootcert={}", root.display()));

    // Encrypted (the default, prefer, and require) and checked (verify-full against the root
    // that signed the certificate for localhost; verify-ca checks no name): each replica runs jobs.
    let by_address = format!("postgresql:///postgres?hostaddr=127.0.0.1&port={}&user=postgres&sslmode=require", pg.port);
    for store in [url("127.0.0.1", ""), url("127.0.0.1", "?sslmode=require&application_name=ivoagen"), by_address, verify("verify-full", "localhost", &ca), verify("verify-ca", "127.0.0.1", &ca)] {
        let server = replica(&dir, &store, &[], &[]);
        let job = create(&server.addr, "MODE=ok&PHASE=RUN");
        until(Duration::from_secs(20), "the job completes", || phase(&server.addr, &job) == "COMPLETED");
        let encrypted = pg.psql("SELECT count(*) FILTER (WHERE ssl), count(*) FILTER (WHERE NOT ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name LIKE 'ivoagen%'");
        let (with, without) = encrypted.split_once('|').unwrap();
        assert!(with.parse::<u32>().unwrap() >= 2 && without == "0", "{store}: connections with and without TLS: {encrypted}");
    }

    // A database that takes only clients presenting a certificate for their user: with
    // sslcert and sslkey, jobs run; without, the replica does not start.
    let client = format!("&sslcert={}&sslkey={}", pg.tls_file("client.pem").display(), pg.tls_file("client.key").display());
    let certdb = format!("postgresql://postgres@localhost:{}/certdb?sslmode=verify-full&sslrootcert={}", pg.port, ca.display());
    let server = replica(&dir, &format!("{certdb}{client}"), &[], &[]);
    let job = create(&server.addr, "MODE=ok&PHASE=RUN");
    until(Duration::from_secs(20), "the job completes with a client certificate", || phase(&server.addr, &job) == "COMPLETED");
    drop(server);
    let said = refused_store(&dir, &certdb);
    assert!(said.contains("connection requires a valid client certificate"), "{said}");

    // Over the Unix socket, where the server offers no TLS and a host has no name, prefer goes
    // without it.
    let local = format!("postgresql:///postgres?host={}&port={}&user=postgres", pg.socket_dir().display(), pg.port);
    let server = replica(&dir, &local, &[], &[]);
    let job = create(&server.addr, "MODE=ok&PHASE=RUN");
    until(Duration::from_secs(20), "the job completes over the Unix socket", || phase(&server.addr, &job) == "COMPLETED");
    drop(server);

    // The server takes no connection without TLS; a certificate that is not the host's, or not
    // signed by the root given, is refused, and the replica does not start.
    let said = refused_store(&dir, &url("127.0.0.1", "?sslmode=disable"));
    assert!(said.contains("no encryption") || said.contains("pg_hba.conf"), "{said}");
    let said = refused_store(&dir, &verify("verify-full", "127.0.0.1", &ca));
    assert!(said.contains("certificate not valid for name \"127.0.0.1\""), "a certificate for localhost, not 127.0.0.1: {said}");
    let said = refused_store(&dir, &verify("verify-full", "localhost", &other));
    assert!(said.contains("UnknownIssuer"), "{said}");
    let said = refused_store(&dir, &url("localhost", "?sslmode=verify-full"));
    assert!(said.contains("need sslrootcert"), "{said}");
}
