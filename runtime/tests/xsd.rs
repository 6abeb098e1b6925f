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
}

#[test]
fn capabilities_validate() {
    let caps = [
        vosi::Capability { standard_id: "ivo://ivoa.net/std/SODA#sync-1.0", path: "/sync" },
        vosi::Capability { standard_id: "ivo://ivoa.net/std/VOSI#capabilities", path: "/capabilities" },
        vosi::Capability { standard_id: "ivo://ivoa.net/std/VOSI#availability", path: "/availability" },
    ];
    validate("capabilities-wrapper.xsd", "capabilities.xml", &vosi::capabilities(&caps, "http://127.0.0.1:8080/soda"));
}

#[test]
fn availability_validates() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&chrono::Utc);
    validate("VOSIAvailability-v1.0.xsd", "availability.xml", &vosi::availability(true, Some(now), Some("all good")));
    validate("VOSIAvailability-v1.0.xsd", "down.xml", &vosi::availability(false, None, None));
}
