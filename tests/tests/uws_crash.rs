//! UWS durability through a real crash: `kill -9` while a job is EXECUTING, then a restart on the
//! same data directory. And pyvo fetching results through `result_uris`.

use ivoagen_e2e::{Server, http, root};
use std::path::PathBuf;

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_uws-test-server"))
}

fn data(name: &str) -> PathBuf {
    let d = root().join("target/e2e/uws").join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

const FORM: [(&str, &str); 1] = [("Content-Type", "application/x-www-form-urlencoded")];

fn create(addr: &str, body: &str) -> String {
    let r = http(addr, "POST", "/uws/jobs", &FORM, body.as_bytes());
    assert_eq!(r.status, 303, "{}", r.text());
    r.header("location").unwrap().split(addr).nth(1).unwrap().to_owned()
}

fn phase(addr: &str, job: &str) -> String {
    http(addr, "GET", &format!("{job}/phase"), &[], b"").text()
}

#[test]
fn kill_9_during_executing_loses_nothing() {
    let dir = data("crash");
    let args = ["--data-dir", dir.to_str().unwrap()];
    let server = Server::start(&binary(), &args);
    let addr = server.addr.clone();
    let done = create(&addr, "MODE=ok&PHASE=RUN");
    let running = create(&addr, "MODE=sleep&PHASE=RUN");
    let pending = create(&addr, "MODE=ok&RUNID=later");
    // Wait until the one finished and the other is executing.
    let _ = http(&addr, "GET", &format!("{done}?WAIT=30&PHASE=QUEUED"), &[], b"");
    for _ in 0..30 {
        if phase(&addr, &done) == "COMPLETED" {
            break;
        }
        let _ = http(&addr, "GET", &format!("{done}?WAIT=5"), &[], b"");
    }
    let _ = http(&addr, "GET", &format!("{running}?WAIT=30&PHASE=QUEUED"), &[], b"");
    assert_eq!(phase(&addr, &done), "COMPLETED");
    assert_eq!(phase(&addr, &running), "EXECUTING");
    let result_before = http(&addr, "GET", &format!("{done}/results/out"), &[], b"").body;
    assert!(!result_before.is_empty());

    server.kill_9();

    let server = Server::start(&binary(), &args);
    let addr = server.addr.clone();
    let list = http(&addr, "GET", "/uws/jobs", &[], b"").text();
    for job in [&done, &running, &pending] {
        let id = job.rsplit('/').next().unwrap();
        assert!(list.contains(&format!("id=\"{id}\"")), "job {id} is missing after the restart:\n{list}");
    }
    assert_eq!(phase(&addr, &done), "COMPLETED");
    assert_eq!(phase(&addr, &pending), "PENDING");
    let crashed = http(&addr, "GET", &running, &[], b"").text();
    assert!(crashed.contains("<uws:phase>ERROR</uws:phase>") && crashed.contains("the service restarted"), "{crashed}");
    let error = http(&addr, "GET", &format!("{running}/error"), &[], b"");
    assert_eq!(error.status, 200);
    assert_eq!(http(&addr, "GET", &format!("{done}/results/out"), &[], b"").body, result_before, "results intact");
}

#[test]
fn pyvo_fetches_results_through_result_uris() {
    let python = root().join("target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask ci`", python.display());
    let dir = data("pyvo");
    let server = Server::start(&binary(), &["--data-dir", dir.to_str().unwrap()]);
    let out = std::process::Command::new(python)
        .arg(root().join("tests/pyvo/uws_results.py"))
        .arg(format!("http://{}/uws/jobs", server.addr))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pyvo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("result fetched") && stdout.contains("deleted"), "{stdout}");
}
