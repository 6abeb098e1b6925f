//! The UWS engine through its API, on a real SQLite file: phases, WAIT, execution limits, abort,
//! destruction, owners, restart recovery, and many concurrent creations.

use ivoagen_runtime::uws::engine::{Account, Config, Engine, EngineError, JobFuture, RESTARTED, Requested, ResultWriter, Runner};
use ivoagen_runtime::uws::store::{JobStore, Quota, SqliteStore};
use ivoagen_runtime::uws::{Job, JobError, Phase};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a job does, chosen by its `MODE` parameter.
struct TestRunner;

impl Runner for TestRunner {
    fn run(&self, job: Job, results: Arc<ResultWriter>) -> JobFuture {
        let mode = job.parameters.iter().find(|(n, _)| n == "MODE").map(|(_, v)| v.clone()).unwrap_or_default();
        Box::pin(async move {
            match mode.as_str() {
                "fail" => Err(JobError { fatal: true, message: "no overlap".into() }),
                "sleep" => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(3600)) => Ok(()),
                        () = results.cancelled() => Err(JobError { fatal: true, message: "stopped".into() }),
                    }
                }
                "ignore" => {
                    // Ignores cancellation between its writes; the writer refuses them.
                    for n in 0..1000 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        results.put(&format!("r{n}"), "text/plain", b"x").map_err(|e| JobError { fatal: true, message: e.to_string() })?;
                    }
                    Ok(())
                }
                "endless" => {
                    // One result written with `write_all` until the writer refuses, as a job
                    // streaming a large result does.
                    tokio::task::spawn_blocking(move || {
                        results.put_with("endless", "application/octet-stream", |out| loop {
                            out.write_all(&[7; 65536])?;
                        })
                    })
                    .await
                    .map_err(|e| JobError { fatal: true, message: e.to_string() })?
                    .map_err(|e| JobError { fatal: true, message: e.to_string() })
                }
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    results.put("out", "text/plain", b"slow").map_err(|e| JobError { fatal: true, message: e.to_string() })
                }
                _ => results.put("cutout", "application/fits", b"SIMPLE = T").map_err(|e| JobError { fatal: true, message: e.to_string() }),
            }
        })
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ivoagen-uws-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

async fn engine(data: &PathBuf, tweak: impl FnOnce(&mut Config)) -> Engine {
    let store = Arc::new(SqliteStore::open(&data.join("jobs.sqlite")).unwrap());
    let mut config = Config::new(data);
    config.max_wait = Duration::from_secs(30);
    tweak(&mut config);
    Engine::start(store, Arc::new(TestRunner), config).await.unwrap()
}

fn params(mode: &str) -> Vec<(String, String)> {
    vec![("ID".into(), "m31".into()), ("MODE".into(), mode.into())]
}

#[tokio::test]
async fn a_job_runs_to_completion_and_keeps_its_results() {
    let data = dir("complete");
    let e = engine(&data, |_| {}).await;
    let job = e.create(Some("alice"), Some("r1".into()), params("ok"), false).await.unwrap();
    assert_eq!(job.phase, Phase::Pending);
    e.run(Some("alice"), &job.id).await.unwrap();
    let done = e.wait(Some("alice"), &job.id, None, None).await.unwrap();
    let done = if done.phase.is_active() { e.wait(Some("alice"), &job.id, None, None).await.unwrap() } else { done };
    assert_eq!(done.phase, Phase::Completed);
    assert!(done.start_time.is_some() && done.end_time >= done.start_time);
    let (path, result) = e.result_file(Some("alice"), &job.id, "cutout").await.unwrap();
    assert_eq!((result.mime_type.as_str(), result.size), ("application/fits", 10));
    assert_eq!(std::fs::read(path).unwrap(), b"SIMPLE = T");
    // A failed job is not an HTTP error: it has phase ERROR and says why.
    let failed = e.create(Some("alice"), None, params("fail"), true).await.unwrap();
    let failed = e.wait(Some("alice"), &failed.id, None, Some(Phase::Queued)).await.unwrap();
    let failed = e.wait(Some("alice"), &failed.id, None, None).await.unwrap();
    assert_eq!(failed.phase, Phase::Error);
    assert_eq!(failed.error.unwrap().message, "no overlap");
}

#[tokio::test]
async fn wait_returns_on_the_phase_change_not_the_timeout() {
    let data = dir("wait");
    let e = engine(&data, |_| {}).await;
    let job = e.create(None, None, params("slow"), false).await.unwrap();
    // PHASE given and different from the job's: at once.
    let start = Instant::now();
    let same = e.wait(None, &job.id, Some(Duration::from_secs(20)), Some(Phase::Executing)).await.unwrap();
    assert_eq!(same.phase, Phase::Pending);
    assert!(start.elapsed() < Duration::from_secs(5));
    // Woken by RUN (PENDING → QUEUED), well before the 20 s timeout.
    let waiter = {
        let e = e.clone();
        let id = job.id.clone();
        tokio::spawn(async move { e.wait(None, &id, Some(Duration::from_secs(20)), None).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    e.run(None, &job.id).await.unwrap();
    let woken = waiter.await.unwrap().unwrap();
    assert_ne!(woken.phase, Phase::Pending);
    assert!(start.elapsed() < Duration::from_secs(10), "WAIT ended by its timeout, not the change");
    // A job that has ended answers at once.
    let mut ended = woken;
    while ended.phase.is_active() {
        ended = e.wait(None, &job.id, Some(Duration::from_secs(20)), None).await.unwrap();
    }
    assert_eq!(ended.phase, Phase::Completed);
}

#[tokio::test]
async fn abort_and_the_execution_duration_stop_running_jobs() {
    let data = dir("abort");
    let e = engine(&data, |c| c.execution_duration = 1).await;
    let job = e.create(None, None, params("sleep"), true).await.unwrap();
    let running = e.wait(None, &job.id, None, Some(Phase::Queued)).await.unwrap();
    assert_eq!(running.phase, Phase::Executing);
    let limited = e.wait(None, &job.id, None, None).await.unwrap();
    assert_eq!(limited.phase, Phase::Aborted, "the 1 s execution duration aborts it");
    assert!(limited.error.unwrap().message.contains("execution duration"));

    let e = engine(&dir("abort2"), |c| c.execution_duration = 0).await;
    let job = e.create(None, None, params("sleep"), true).await.unwrap();
    e.wait(None, &job.id, None, Some(Phase::Queued)).await.unwrap();
    let aborted = e.abort(None, &job.id).await.unwrap();
    assert_eq!(aborted.phase, Phase::Aborted);
    assert!(matches!(e.abort(None, &job.id).await, Err(EngineError::Forbidden(_))), "an ended job cannot be aborted");
    assert!(matches!(e.run(None, &job.id).await, Err(EngineError::Forbidden(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_as_it_is_stopped_keeps_the_phase_its_stopper_recorded() {
    // A sleeping job returns an error ("stopped") the moment it is stopped: the engine must keep
    // what the abort or the shutdown recorded, every time, not the job's own error.
    let data = dir("stopped-race");
    let e = engine(&data, |c| c.workers = 8).await;
    for round in 0..5 {
        let mut jobs = Vec::new();
        for _ in 0..8 {
            jobs.push(e.create(None, None, params("sleep"), true).await.unwrap().id);
        }
        for id in &jobs {
            assert_eq!(e.wait(None, id, None, Some(Phase::Queued)).await.unwrap().phase, Phase::Executing);
        }
        for id in &jobs {
            if let Err(err) = e.abort(None, id).await {
                panic!("round {round}: {err:?}: {:?}", e.get(None, id).await.unwrap());
            }
        }
        // The stopped jobs' tasks end; nothing of theirs may be written over the abort.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for id in &jobs {
            let job = e.get(None, id).await.unwrap();
            assert_eq!((job.phase, job.error.as_ref().map(|e| e.message.as_str())), (Phase::Aborted, None), "round {round}: {id}");
        }
    }
    // Shutting down leaves executing jobs EXECUTING in the store, for recovery.
    let mut jobs = Vec::new();
    for _ in 0..8 {
        jobs.push(e.create(None, None, params("sleep"), true).await.unwrap().id);
    }
    for id in &jobs {
        e.wait(None, id, None, Some(Phase::Queued)).await.unwrap();
    }
    e.shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let store = SqliteStore::open(&data.join("jobs.sqlite")).unwrap();
    for id in &jobs {
        assert_eq!(store.get(id).await.unwrap().unwrap().phase, Phase::Executing, "{id}");
    }
}

#[tokio::test]
async fn each_account_may_have_so_many_jobs_queued_or_executing() {
    let e = engine(&dir("active"), |c| {
        c.max_active_per_account = 2;
        c.workers = 1;
    })
    .await;
    let alice = Account::of(Some("alice"), None);
    let as_alice = || Requested { account: Some(alice.clone()), ..Requested::default() };
    // One executing, one queued behind it: alice's two places.
    let first = e.create_with(Some("alice"), &[], None, params("sleep"), true, as_alice()).await.unwrap();
    assert_eq!(e.wait(Some("alice"), &first.id, None, Some(Phase::Queued)).await.unwrap().phase, Phase::Executing);
    let second = e.create_with(Some("alice"), &[], None, params("ok"), true, as_alice()).await.unwrap();
    // A third created to run is refused, and not created.
    let refused = e.create_with(Some("alice"), &[], None, params("ok"), true, as_alice()).await.unwrap_err();
    assert_eq!(refused, EngineError::TooManyActive("too many jobs at once: this identity may have 2 jobs queued or executing; try again once one of them has ended".into()));
    assert_eq!(e.list(Some("alice"), &[], None, None).await.unwrap().len(), 2);
    // Created pending it is kept, and refused when run; it stays pending.
    let third = e.create_with(Some("alice"), &[], None, params("ok"), false, as_alice()).await.unwrap();
    assert!(matches!(e.run_as(Some("alice"), &third.id, &alice).await, Err(EngineError::TooManyActive(_))));
    assert!(matches!(e.run(Some("alice"), &third.id).await, Err(EngineError::TooManyActive(_))), "run charges the owner's account");
    assert_eq!(e.get(Some("alice"), &third.id).await.unwrap().phase, Phase::Pending);
    // Running a job already queued is no new charge.
    assert_eq!(e.run_as(Some("alice"), &second.id, &alice).await.unwrap().phase, Phase::Queued);
    // Anonymous callers count by address, each apart.
    let (a, b) = (Account::of(None, Some("203.0.113.5".parse().unwrap())), Account::Address("2001:db8::".parse().unwrap()));
    assert_eq!((a.key(), b.key(), alice.key()), ("#203.0.113.5".to_owned(), "#2001:db8::".to_owned(), "@alice".to_owned()));
    for account in [&a, &b] {
        let asked = || Requested { account: Some(account.clone()), ..Requested::default() };
        e.create_with(None, &[], None, params("ok"), true, asked()).await.unwrap();
        e.create_with(None, &[], None, params("ok"), true, asked()).await.unwrap();
        let refused = e.create_with(None, &[], None, params("ok"), true, asked()).await.unwrap_err();
        assert!(matches!(&refused, EngineError::TooManyActive(m) if m.contains("this client address may have 2")), "{refused:?}");
    }
    // A place is free as soon as one of alice's jobs ends.
    e.abort(Some("alice"), &first.id).await.unwrap();
    assert_eq!(e.run_as(Some("alice"), &third.id, &alice).await.unwrap().phase, Phase::Queued);
}

#[tokio::test]
async fn owners_see_and_touch_only_their_jobs() {
    let data = dir("owners");
    let e = engine(&data, |_| {}).await;
    let a = e.create(Some("alice"), None, params("ok"), false).await.unwrap();
    let b = e.create(Some("bob"), None, params("ok"), false).await.unwrap();
    // Another owner's job is answered as one that does not exist.
    assert!(matches!(e.get(Some("bob"), &a.id).await, Err(EngineError::NotFound(_))));
    assert!(matches!(e.delete(Some("bob"), &a.id).await, Err(EngineError::NotFound(_))));
    assert!(matches!(e.run(None, &a.id).await, Err(EngineError::NotFound(_))), "anonymous is not alice");
    assert!(matches!(e.get(Some("bob"), "no-such-job").await, Err(EngineError::NotFound(_))));
    let listed: Vec<String> = e.list(Some("bob"), &[], None, None).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(listed, [b.id.as_str()]);
    // Parameters change only while PENDING.
    e.set_parameters(Some("bob"), &b.id, vec![("id".into(), "m33".into())]).await.unwrap();
    assert_eq!(e.get(Some("bob"), &b.id).await.unwrap().parameters.iter().filter(|(n, _)| n.eq_ignore_ascii_case("ID")).count(), 1);
    e.delete(Some("bob"), &b.id).await.unwrap();
    assert!(matches!(e.get(Some("bob"), &b.id).await, Err(EngineError::NotFound(_))));
}

#[tokio::test]
async fn list_filters_by_phase_after_and_last() {
    let e = engine(&dir("list"), |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(e.create(None, None, params("ok"), false).await.unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    e.run(None, &ids[0].id).await.unwrap();
    let pending = e.list(None, &[Phase::Pending], None, None).await.unwrap();
    assert_eq!(pending.len(), 3);
    let last_two: Vec<String> = e.list(None, &[], None, Some(2)).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(last_two, [ids[3].id.clone(), ids[2].id.clone()], "newest first");
    let after = e.list(None, &[], Some(ids[1].creation_time), None).await.unwrap();
    assert_eq!(after.len(), 2);
}

#[tokio::test]
async fn destruction_deletes_the_job_and_its_results() {
    let data = dir("reap");
    let e = engine(&data, |_| {}).await;
    let job = e.create(None, None, params("ok"), true).await.unwrap();
    let mut done = e.wait(None, &job.id, None, None).await.unwrap();
    while done.phase.is_active() {
        done = e.wait(None, &job.id, None, None).await.unwrap();
    }
    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    e.set_destruction(None, &job.id, soon).await.unwrap();
    assert!(data.join("results").join(&job.id).exists());
    assert_eq!(e.reap(chrono::Utc::now()).await.unwrap(), 0, "not yet");
    assert_eq!(e.reap(soon + chrono::Duration::seconds(1)).await.unwrap(), 1);
    assert!(matches!(e.get(None, &job.id).await, Err(EngineError::NotFound(_))));
    assert!(!data.join("results").join(&job.id).exists(), "the result files are gone too");
}

#[tokio::test]
async fn a_restart_fails_executing_jobs_and_runs_queued_ones() {
    let data = dir("restart");
    let store = SqliteStore::open(&data.join("jobs.sqlite")).unwrap();
    // What a crash leaves behind: one job executing, one queued, one completed.
    let template = |id: &str, phase: Phase| Job {
        id: id.into(),
        run_id: None,
        owner: Some("alice".into()),
        groups: Vec::new(),
        phase,
        creation_time: chrono::Utc::now(),
        start_time: None,
        end_time: None,
        execution_duration: 60,
        destruction: Some(chrono::Utc::now() + chrono::Duration::days(1)),
        parameters: params("ok"),
        results: Vec::new(),
        error: None,
    };
    store.insert(&template("was-executing", Phase::Executing), Quota::default()).await.unwrap();
    store.insert(&template("was-queued", Phase::Queued), Quota::default()).await.unwrap();
    store.insert(&template("was-done", Phase::Completed), Quota::default()).await.unwrap();
    drop(store);
    let e = engine(&data, |_| {}).await;
    let failed = e.get(Some("alice"), "was-executing").await.unwrap();
    assert_eq!(failed.phase, Phase::Error);
    assert_eq!(failed.error.unwrap().message, RESTARTED);
    let mut queued = e.wait(Some("alice"), "was-queued", None, None).await.unwrap();
    while queued.phase.is_active() {
        queued = e.wait(Some("alice"), "was-queued", None, None).await.unwrap();
    }
    assert_eq!(queued.phase, Phase::Completed);
    assert_eq!(e.get(Some("alice"), "was-done").await.unwrap().phase, Phase::Completed);
    assert_eq!(e.list(Some("alice"), &[], None, None).await.unwrap().len(), 3, "no job is missing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_creations_make_a_thousand_jobs() {
    let data = dir("many");
    let e = engine(&data, |_| {}).await;
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let e = e.clone();
            tokio::spawn(async move { e.create(Some("alice"), Some(format!("run-{i}")), params("ok"), false).await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().unwrap().id);
    }
    assert_eq!(ids.len(), 1000, "no duplicate ids");
    let store = SqliteStore::open(&data.join("jobs.sqlite")).unwrap();
    let stored = store.all().unwrap();
    assert_eq!(stored.len(), 1000, "none lost");
    let runs: std::collections::BTreeSet<_> = stored.iter().filter_map(|j| j.run_id.clone()).collect();
    assert_eq!(runs.len(), 1000);
}

#[tokio::test]
async fn ids_are_random_unrelated_and_url_safe() {
    let e = engine(&dir("ids"), |_| {}).await;
    let mut ids = std::collections::HashSet::new();
    let mut previous: Option<u128> = None;
    let mut differences = std::collections::HashSet::new();
    for _ in 0..1000 {
        let id = e.create(None, None, params("ok"), false).await.unwrap().id;
        assert!(id.len() >= 26 && id.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{id}");
        // Decode the base32 back to the 128-bit number: consecutive ids differ by no constant.
        let n = id.bytes().enumerate().fold(0u128, |n, (i, b)| {
            let v = if b.is_ascii_lowercase() { b - b'a' } else { b - b'2' + 26 };
            n | (u128::from(v) << (i * 5))
        });
        if let Some(p) = previous {
            differences.insert(n.wrapping_sub(p));
        }
        previous = Some(n);
        assert!(ids.insert(id), "ids are unique");
    }
    assert!(differences.len() > 990, "no arithmetic relation between consecutive ids");
}

#[tokio::test]
async fn a_listing_reads_only_the_callers_jobs() {
    let data = dir("listing");
    let store = Arc::new(SqliteStore::open(&data.join("jobs.sqlite")).unwrap());
    let e = Engine::start(store.clone(), Arc::new(TestRunner), Config::new(&data)).await.unwrap();
    let now = chrono::Utc::now();
    for i in 0..10_000 {
        let job = Job {
            id: format!("a{i}"),
            run_id: None,
            owner: Some("alice".into()),
            groups: Vec::new(),
            phase: Phase::Completed,
            creation_time: now,
            start_time: None,
            end_time: None,
            execution_duration: 60,
            destruction: Some(now + chrono::Duration::days(1)),
            parameters: params("ok"),
            results: Vec::new(),
            error: None,
        };
        store.insert(&job, Quota::default()).await.unwrap();
    }
    let b = e.create(Some("bob"), None, params("ok"), false).await.unwrap();
    let before = store.decoded();
    let started = Instant::now();
    let listed = e.list(Some("bob"), &[], None, None).await.unwrap();
    let took = started.elapsed();
    assert_eq!(listed.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(), [b.id.as_str()]);
    assert_eq!(store.decoded() - before, 1, "bob's listing decodes bob's job alone");
    let plan = store.list_plan().unwrap();
    assert!(plan.contains("jobs_by_owner"), "the listing uses the owner index: {plan}");
    let before = store.decoded();
    let last = e.list(Some("alice"), &[Phase::Completed], None, Some(5)).await.unwrap();
    assert_eq!((last.len(), store.decoded() - before), (5, 5), "LAST reads only what it returns");
    eprintln!("listing 1 job of bob beside 10,000 of alice: {took:?}");
}

#[tokio::test]
async fn an_old_store_is_migrated() {
    let data = dir("migrate");
    std::fs::create_dir_all(&data).unwrap();
    let path = data.join("jobs.sqlite");
    {
        // The schema of version 0, with one job in it.
        let e = engine(&dir("migrate-source"), |_| {}).await;
        let job = e.create(Some("alice"), None, params("ok"), false).await.unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT, phase TEXT NOT NULL, record TEXT NOT NULL);").unwrap();
        let record: String = rusqlite::Connection::open(e.data_dir().join("jobs.sqlite")).unwrap().query_row("SELECT record FROM jobs", [], |r| r.get(0)).unwrap();
        c.execute("INSERT INTO jobs (id, owner, phase, record) VALUES (?1, 'alice', 'PENDING', ?2)", [&job.id, &record]).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = rusqlite::Connection::open(&path).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 3);
    assert_eq!(store.list(Some("alice"), &[], None, None).await.unwrap().len(), 1);
    assert_eq!(store.list(Some("alice"), &[], Some(chrono::Utc::now() - chrono::Duration::hours(1)), None).await.unwrap().len(), 1, "creation instants were filled in");
    assert_eq!(store.reap(chrono::Utc::now() + chrono::Duration::days(8)).await.unwrap().len(), 1, "destruction instants were filled in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stopped_inside_write_all_returns() {
    // `write_all` retries a write that fails with `Interrupted`: a refusal of that kind would
    // spin for ever, holding the worker.
    let e = engine(&dir("write-all"), |c| c.workers = 1).await;
    let job = e.create(None, None, params("endless"), true).await.unwrap();
    let next = e.create(None, None, params("ok"), true).await.unwrap();
    e.wait(None, &job.id, None, Some(Phase::Queued)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    e.abort(None, &job.id).await.unwrap();
    let started = Instant::now();
    let done = e.wait(None, &next.id, Some(Duration::from_secs(10)), Some(Phase::Queued)).await.unwrap();
    let done = if done.phase == Phase::Executing { e.wait(None, &next.id, Some(Duration::from_secs(10)), None).await.unwrap() } else { done };
    assert_eq!(done.phase, Phase::Completed, "the worker is free once the stopped job's write fails");
    eprintln!("the next job completed {:?} after the abort", started.elapsed());
    assert!(e.get(None, &job.id).await.unwrap().results.is_empty(), "the result being written is not kept");
}

#[tokio::test]
async fn a_stopped_job_writes_nothing_more_and_frees_its_worker_only_when_stopped() {
    let data = dir("stop");
    let e = engine(&data, |c| {
        c.workers = 1;
        c.execution_duration = 0;
        c.max_execution_duration = 0;
    })
    .await;
    let job = e.create(None, None, params("ignore"), true).await.unwrap();
    let next = e.create(None, None, params("ok"), true).await.unwrap();
    e.wait(None, &job.id, None, Some(Phase::Queued)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let aborted = e.abort(None, &job.id).await.unwrap();
    assert_eq!(aborted.phase, Phase::Aborted);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let files = std::fs::read_dir(data.join("results").join(&job.id)).unwrap().count();
    let listed = e.get(None, &job.id).await.unwrap().results.len();
    assert!(listed > 0 && files == listed, "{files} files on disk, {listed} listed");
    let done = e.wait(None, &next.id, Some(Duration::from_secs(5)), Some(Phase::Queued)).await.unwrap();
    let done = e.wait(None, &done.id, Some(Duration::from_secs(5)), Some(Phase::Executing)).await.unwrap();
    assert_eq!(done.phase, Phase::Completed, "the worker was freed when the aborted job stopped");

    // The execution duration: stopped, and what is listed is what is on disk.
    let e = engine(&dir("stop-time"), |c| c.execution_duration = 1).await;
    let job = e.create(None, None, params("ignore"), true).await.unwrap();
    e.wait(None, &job.id, None, Some(Phase::Queued)).await.unwrap();
    let ended = e.wait(None, &job.id, None, Some(Phase::Executing)).await.unwrap();
    assert_eq!(ended.phase, Phase::Aborted);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let files = std::fs::read_dir(e.data_dir().join("results").join(&job.id)).unwrap().count();
    assert_eq!(files, e.get(None, &job.id).await.unwrap().results.len());
    assert_eq!(e.tasks(), 0, "the job's task has left");

    // Deleted while running: the folder goes when the work stops, and stays gone.
    let job = e.create(None, None, params("ignore"), true).await.unwrap();
    e.wait(None, &job.id, None, Some(Phase::Queued)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    e.delete(None, &job.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!e.data_dir().join("results").join(&job.id).exists());
    assert_eq!(e.tasks(), 0);
}

#[tokio::test]
async fn limits_bound_what_clients_ask() {
    let e = engine(&dir("limits"), |c| {
        c.max_execution_duration = 30;
        c.execution_duration = 10;
        c.max_jobs_per_owner = 2;
    })
    .await;
    let asked = ivoagen_runtime::uws::engine::Requested { execution_duration: Some(999), destruction: Some(chrono::Utc::now() + chrono::Duration::days(365)), account: None };
    let job = e.create_with(None, &[], None, params("ok"), false, asked).await.unwrap();
    assert_eq!(job.execution_duration, 30);
    assert!(job.destruction.unwrap() <= job.creation_time + chrono::Duration::days(30));
    assert_eq!(e.set_execution_duration(None, &job.id, 0).await.unwrap().execution_duration, 30, "unlimited is not allowed under a maximum");
    e.create(None, None, params("ok"), false).await.unwrap();
    assert!(matches!(e.create(None, None, params("ok"), false).await, Err(EngineError::Quota(_))));
    e.create(Some("bob"), None, params("ok"), false).await.unwrap();
}
