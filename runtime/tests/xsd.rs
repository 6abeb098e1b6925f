//! Every XML document the runtime writes validates against the official IVOA schema
//! (copied into `tests/xsd/`, see SOURCES.md there), checked by `xmllint`.

use ivoagen_runtime::{ivoa, vosi};
use std::path::Path;
use std::process::Command;

fn validate(schema: &str, name: &str, document: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(name);
    std::fs::write(&file, document).unwrap();
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xsd").join(schema);
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(&xsd)
        .arg(&file)
        .output()
        .expect("xmllint is installed (Debian libxml2-utils; `cargo xtask ci` installs it)");
    assert!(out.status.success(), "{name} does not validate against {schema}:\n{}\n{document}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn votable_error_documents_validate() {
    validate("VOTable-v1.4.xsd", "error.vot", &ivoa::votable_error("UsageError: <bad> & \"worse\""));
    validate("VOTable-v1.4.xsd", "scs-error.vot", &ivoa::scs_votable_error("UsageError: <bad> & \"worse\""));
}

#[test]
fn capabilities_validate() {
    let caps = [
        vosi::Capability { standard_id: "ivo://ivoa.net/std/SODA#sync-1.0", path: "/sync", version: None },
        vosi::Capability { standard_id: "ivo://ivoa.net/std/VOSI#capabilities", path: "/capabilities", version: None },
        vosi::Capability { standard_id: "ivo://ivoa.net/std/VOSI#availability", path: "/availability", version: None },
    ];
    validate("capabilities-wrapper.xsd", "capabilities.xml", &vosi::capabilities(&caps, "http://127.0.0.1:8080/soda"));
}

#[test]
fn availability_validates() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&chrono::Utc);
    validate("VOSIAvailability-v1.0.xsd", "availability.xml", &vosi::availability(true, Some(now), Some("all good")));
    validate("VOSIAvailability-v1.0.xsd", "down.xml", &vosi::availability(false, None, None));
}

#[test]
fn uws_documents_validate() {
    use ivoagen_runtime::uws::{Job, JobError, JobResult, Phase, documents};
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc);
    let done = Job {
        id: "j1".into(),
        run_id: Some("run & co".into()),
        owner: Some("alice".into()),
        groups: Vec::new(),
        phase: Phase::Completed,
        creation_time: t("2026-01-02T03:04:05Z"),
        start_time: Some(t("2026-01-02T03:04:06Z")),
        end_time: Some(t("2026-01-02T03:04:07.5Z")),
        execution_duration: 600,
        destruction: Some(t("2026-01-09T03:04:05Z")),
        parameters: vec![("ID".into(), "m31".into()), ("CIRCLE".into(), "10 20 0.5".into())],
        results: vec![JobResult { id: "cutout".into(), mime_type: "application/fits".into(), size: 530_000 }],
        error: None,
    };
    let failed = Job {
        id: "j2".into(),
        run_id: None,
        owner: None,
        groups: Vec::new(),
        phase: Phase::Error,
        start_time: None,
        end_time: None,
        destruction: None,
        parameters: Vec::new(),
        results: Vec::new(),
        error: Some(JobError { fatal: false, message: "the service restarted".into() }),
        ..done.clone()
    };
    let url = "http://127.0.0.1:8080/soda/async";
    validate("UWS-v1.1.xsd", "uws-job.xml", &documents::job(&done, &format!("{url}/j1")));
    validate("UWS-v1.1.xsd", "uws-failed.xml", &documents::job(&failed, &format!("{url}/j2")));
    validate("UWS-v1.1.xsd", "uws-jobs.xml", &documents::jobs(&[done.clone(), failed], url));
    validate("UWS-v1.1.xsd", "uws-empty-jobs.xml", &documents::jobs(&[], url));
    validate("UWS-v1.1.xsd", "uws-results.xml", &documents::results(&done, &format!("{url}/j1")));
    validate("UWS-v1.1.xsd", "uws-parameters.xml", &documents::parameters(&done));
}
