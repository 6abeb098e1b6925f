//! `--profile soda` turns a plain SODA description (none of the keys the profile adds) into the same
//! server as the hand-annotated `specs/soda.yaml`: the generated router, trait, models and tests
//! are identical.

use ivoagen::augment::Profile;
use ivoagen::load::RealFs;
use std::path::{Path, PathBuf};

fn specs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs")
}

/// A copy of `specs/` with every key a profile adds removed (`x-ivoa-text`, which says how a UWS
/// parameter is written in XML, is not a profile's to add).
fn plain_copy() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plain-specs");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["soda.yaml", "dali.yaml", "uws.yaml", "vosi.yaml"] {
        let text = std::fs::read_to_string(specs().join(file)).unwrap();
        let profile_key = |l: &str| l.contains("x-ivoa-") && !l.contains("x-ivoa-text");
        let plain: String = text.lines().filter(|l| !profile_key(l)).map(|l| format!("{l}\n")).collect();
        assert!(!plain.lines().any(profile_key), "{file} still has annotations");
        std::fs::write(dir.join(file), plain).unwrap();
    }
    dir
}

fn options() -> ivoagen::Options {
    ivoagen::Options {
        crate_name: "soda".into(),
        runtime: ivoagen::RuntimeDependency::Path("../runtime".into()),
        command: "ivoagen generate".into(),
        ci: false,
    }
}

#[test]
fn a_plain_soda_spec_with_the_soda_profile_generates_the_annotated_server() {
    let annotated = ivoagen::generate(&RealFs, &specs().join("soda.yaml"), &options()).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let plain_spec = plain_copy().join("soda.yaml");

    // Without the profile the plain spec is an ordinary OpenAPI server: no DALI rules.
    let bare = ivoagen::generate(&RealFs, &plain_spec, &options()).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    assert_ne!(bare.files["src/server.rs"].contents, annotated.files["src/server.rs"].contents);
    assert!(!bare.files["src/server.rs"].text().contains("case_insensitive"));

    let (api, diagnostics, sources) = ivoagen::analyse_with(&RealFs, &plain_spec, Some(Profile::Soda)).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let augmented = ivoagen::render(&api, diagnostics, sources, &options()).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    for file in ["src/server.rs", "src/api.rs", "src/models.rs", "tests/api.rs", "README.md"] {
        assert_eq!(augmented.files[file].contents, annotated.files[file].contents, "{file} differs");
    }
    // The served document is the augmented one.
    let served = augmented.files["src/openapi.json"].text();
    assert!(served.contains("\"x-ivoa-case-insensitive\": true") && served.contains("\"x-ivoa-xtype\": \"circle\""), "{served}");
}

#[test]
fn augment_writes_one_bundled_document_with_the_profile() {
    let text = ivoagen::augmented(&RealFs, &plain_copy().join("soda.yaml"), Profile::Soda).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["x-ivoa-error-format"], "soda-text");
    assert_eq!(doc["paths"]["/sync"]["get"]["x-ivoa-sync"], true);
    assert_eq!(doc["paths"]["/capabilities"]["get"]["x-ivoa-vosi"], "capabilities");
    // Path items from uws.yaml are inlined, so the document stands alone.
    assert!(doc["paths"]["/async"]["get"]["operationId"] == "listJobs", "{}", doc["paths"]["/async"]);
    assert!(!text.contains("uws.yaml#"), "no reference to another file is left");
}
