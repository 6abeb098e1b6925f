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

/// The TAP PR's own description (`tests/corpus/ivoa/tap-pr`, an unmerged branch of the TAP
/// standard; its `include/` files are missing upstream, so `tap-pr-includes` stands in) under
/// `--profile tap`: `/sync` has no operationId and a POST with its parameters in the query,
/// `/async` its own operations.
#[test]
fn the_tap_prs_description_under_the_tap_profile() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/ivoa/tap-pr");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tap-pr");
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["parameters", "include/UWS", "include/VOSI"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for file in ["openapi.yaml", "tap-sync.yaml", "tap-async.yaml", "tap-responses.yaml"] {
        std::fs::copy(corpus.join(file), dir.join(file)).unwrap();
    }
    for entry in std::fs::read_dir(corpus.join("parameters")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("parameters").join(entry.file_name())).unwrap();
    }
    for entry in ["UWS/uws-job.yaml", "UWS/uws-responses.yaml", "VOSI/std-responses.yaml", "VOSI/vosi-std-responses.yaml", "VOSI/vosi-tableset.yaml", "VOSI/vosi-table.yaml", "VOSI/vosi-availability.yaml", "VOSI/vosi-capabilities.yaml"] {
        std::fs::copy(corpus.join("../tap-pr-includes/include").join(entry), dir.join("include").join(entry)).unwrap();
    }
    let spec = dir.join("openapi.yaml");
    let (api, diagnostics, sources) = ivoagen::analyse_with(&RealFs, &spec, Some(Profile::Tap)).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code).collect();
    // The POST /sync, its parameters in the query and no body, is repaired into DALI-sync; its
    // UPLOAD is one string, where DALI repeats it; VOSI's own fragments (the includes that exist
    // upstream) declare a HEAD beside capabilities, left to the runtime, and XML request bodies
    // on tables, passed as bytes.
    assert_eq!(
        codes,
        ["ivoagen::ivoa::repaired", "ivoagen::ivoa::profile-disagrees", "ivoagen::ivoa::job-list", "ivoagen::ivoa::vosi-head", "ivoagen::lower::xml-body", "ivoagen::lower::xml-body", "ivoagen::lower::xml-body", "ivoagen::lower::xml-body"],
        "{diagnostics:?}"
    );
    let uws = api.uws.as_ref().expect("/async is the UWS job list");
    assert_eq!((uws.jobs.as_str(), api.operations[uws.operation].api_name.as_str()), ("/async", "get /sync"));
    let served: Vec<&str> = api.operations.iter().filter(|op| op.served()).map(|op| op.api_name.as_str()).collect();
    assert_eq!(served, ["get /sync", "get-tableset", "read-table-metadata", "update-table", "create-table", "delete-table"], "no stub for the job list, one for both methods of /sync: {served:?}");
    assert!(api.operations[uws.operation].dali_sync);
    let ids: Vec<(&str, Option<&str>)> = api.operations.iter().filter(|op| op.served() && op.method == "get").map(|op| (op.api_name.as_str(), op.standard_id.as_deref())).collect();
    assert_eq!(
        ids,
        [("get /sync", Some("ivo://ivoa.net/std/TAP")), ("get-tableset", Some("ivo://ivoa.net/std/VOSI#tables-1.1")), ("read-table-metadata", None)]
    );
    let sync = &api.operations[uws.operation];
    assert!(sync.params.iter().any(|p| p.api_name == "LANG" && p.required));
    let generated = ivoagen::render(&api, diagnostics, sources, &options()).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let server = generated.files["src/server.rs"].text();
    assert!(server.contains(".errors(rt::ErrorFormat::DaliVotable)"), "the job list speaks VOTable");
    assert!(server.contains("path: \"\""), "the TAP capability's access URL is the base");
}
