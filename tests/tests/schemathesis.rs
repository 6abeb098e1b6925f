//! The published description describes the server: schemathesis (pinned in
//! `tests/requirements.txt`, in `target/venv`) runs every check of every phase (examples,
//! coverage, fuzzing, stateful) against the SODA server as a real process, reading the description
//! the server publishes at `/soda/openapi.json`, and must report no failure. The few checks that
//! cannot apply to an operation are narrowed in `tests/schemathesis.toml`, each with its reason.
//!
//! Bounded: at most 20 examples per operation, a fixed seed (the run is reproducible), a request
//! timeout, and a UWS WAIT of at most 1 s; about 15 s on two cores.

use ivoagen_e2e::{Server, built, root};
use std::process::Command;

#[test]
fn schemathesis_finds_nothing_the_description_does_not_say() {
    let schemathesis = root().join("target/venv/bin/schemathesis");
    assert!(schemathesis.exists(), "{} is missing: run `cargo xtask ci`, which creates the venv from tests/requirements.txt", schemathesis.display());
    let data = root().join("target/e2e/data/schemathesis");
    let _ = std::fs::remove_dir_all(&data);
    soda_cutout_server::service::sample::ensure(&data).expect("the sample data can be written");
    let server = Server::start(&built("soda-cutout-server"), &["--data-dir", data.to_str().expect("a UTF-8 path"), "--uws-max-wait", "1s"]);
    let out = Command::new(&schemathesis)
        // Its cache (`.schemathesis/`) goes under target/, not into the checkout.
        .current_dir(root().join("target/e2e"))
        .arg("--config-file")
        .arg(root().join("tests/schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(format!("http://{}/soda/openapi.json", server.addr))
        // The base URL, so that the stateful phase follows the absolute `Location` of a new job
        // (schemathesis infers links from it) to the job's resources.
        .arg("--url")
        .arg(format!("http://{}/soda", server.addr))
        .args(["--max-examples", "20", "--seed", "1", "--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .output()
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "schemathesis found failures:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Every phase ran, the stateful one included.
    for phase in ["Examples", "Coverage", "Fuzzing", "Stateful"] {
        assert!(stdout.lines().any(|l| l.contains(phase) && l.contains('✅')), "phase {phase} did not pass:\n{stdout}");
    }
}
