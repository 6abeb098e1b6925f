//! Our OpenAPI descriptions pass an outside validator (openapi-spec-validator, from PyPI, in the
//! venv `cargo xtask ci` creates), and so does the bundled document the SODA server publishes.

use ivoagen_e2e::root;
use std::process::Command;

fn validate(path: &std::path::Path) -> std::process::Output {
    let validator = root().join("target/venv/bin/openapi-spec-validator");
    assert!(validator.exists(), "{} is missing: run `cargo xtask ci`, which installs it", validator.display());
    Command::new(validator).arg(path).output().unwrap()
}

#[test]
fn the_ivoa_specs_are_valid_openapi() {
    for spec in ["soda.yaml", "dali.yaml", "uws.yaml", "vosi.yaml", "scs.yaml", "sia.yaml", "ssa.yaml", "datalink.yaml"] {
        let out = validate(&root().join("specs").join(spec));
        assert!(out.status.success(), "{spec}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    let served = validate(&root().join("generated-example/src/openapi.json"));
    assert!(served.status.success(), "the served document: {}", String::from_utf8_lossy(&served.stdout));
}

#[test]
fn the_golden_crates_publish_valid_openapi() {
    // What the generator adds (error responses, sync POSTs, job bodies) must be valid in the
    // document's own OpenAPI version (`refs` is 3.0). Not `standards`: its spec keeps paths the
    // generator refuses on purpose (`/files/{name}.{ext}`), which the validator refuses too.
    for golden in ["archive", "auth", "bodies", "collisions", "groups", "params", "refs", "schemas", "uws"] {
        let out = validate(&root().join("generator/tests/golden").join(golden).join("src/openapi.json"));
        assert!(out.status.success(), "{golden}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn the_validator_rejects_a_broken_spec() {
    let out = validate(&root().join("generator/tests/broken/duplicate-operation-id.yaml"));
    assert!(!out.status.success(), "a check that cannot fail checks nothing");
}
