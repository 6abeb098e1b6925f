//! The published description declares what the generator makes the server do: the DALI-sync POST,
//! the UWS job parameters, the runtime's 414; and never overrides what the author wrote.

use ivoagen::load::{RealFs, load};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn published(fs: &dyn ivoagen::load::FileSystem, path: &Path) -> Value {
    let (doc, _) = load(fs, path).unwrap_or_else(|_| panic!("{} loads", path.display()));
    let (api, diags) = ivoagen::lower::lower(&doc);
    let api = api.unwrap_or_else(|| panic!("{diags:?}"));
    serde_json::from_str(&api.openapi_json).expect("JSON")
}

#[test]
fn the_soda_description_declares_sync_posts_job_parameters_and_414() {
    let doc = published(&RealFs, &Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/soda.yaml"));
    let post = &doc["paths"]["/sync"]["post"];
    assert_eq!(post["operationId"], "sodaSyncPost");
    assert!(post.get("parameters").is_none(), "the query parameters travel in the body");
    for media in ["application/x-www-form-urlencoded", "multipart/form-data"] {
        let schema = &post["requestBody"]["content"][media]["schema"];
        assert_eq!(schema["required"], serde_json::json!(["ID"]), "{media}");
        assert!(schema["properties"]["POS"].is_object() && schema["properties"]["RESPONSEFORMAT"].is_object(), "{media}");
    }
    assert_eq!(post["responses"], doc["paths"]["/sync"]["get"]["responses"], "the same answers as the GET");
    assert!(doc["paths"]["/sync"]["get"]["responses"]["414"].is_object());
    assert_eq!(doc["paths"]["/links"]["post"]["operationId"], "linksPost");
    let create = &doc["paths"]["/async"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert_eq!(create["required"], serde_json::json!(["ID"]));
    for name in ["ID", "POS", "POL", "RUNID", "PHASE", "EXECUTIONDURATION", "DESTRUCTION"] {
        assert!(create["properties"][name].is_object(), "{name} at job creation");
    }
    let change = &doc["paths"]["/async/{jobId}/parameters"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
    assert!(change.get("required").is_none() && change["properties"]["BAND"].is_object());
    assert_eq!(change["properties"]["PHASE"]["enum"], serde_json::json!(["RUN", "ABORT"]));
}

#[test]
fn a_post_the_author_declared_is_kept() {
    // The DALI profile would make the GET DALI-sync (it also answers POST); beside the author's
    // own POST it does not, and the published description keeps the author's POST as written.
    let spec = r#"
openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /sync:
    get:
      operationId: sync
      parameters:
        - { name: ID, in: query, schema: { type: string } }
      responses: { '200': { description: ok } }
    post:
      operationId: own
      responses: { '200': { description: mine } }
"#;
    let fs: BTreeMap<PathBuf, String> = [(PathBuf::from("/spec.yaml"), spec.to_owned())].into();
    let (api, diagnostics, _) = ivoagen::analyse_with(&fs, Path::new("/spec.yaml"), Some(ivoagen::augment::Profile::Dali)).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    assert!(api.operations.iter().all(|op| !op.dali_sync), "no DALI-sync beside the author's POST");
    assert!(diagnostics.iter().any(|d| d.message.contains("POST")), "a warning says the profile left the GET alone: {diagnostics:?}");
    let doc: Value = serde_json::from_str(&api.openapi_json).unwrap();
    assert_eq!(doc["paths"]["/sync"]["post"]["operationId"], "own");
    assert!(doc["paths"]["/sync"]["post"].get("requestBody").is_none());
}

#[test]
fn a_post_beside_an_x_ivoa_sync_get_is_refused() {
    let spec = r#"
openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /sync:
    get:
      operationId: sync
      x-ivoa-sync: true
      parameters:
        - { name: ID, in: query, schema: { type: string } }
      responses: { '200': { description: ok } }
    post:
      operationId: own
      responses: { '200': { description: mine } }
"#;
    let fs: BTreeMap<PathBuf, String> = [(PathBuf::from("/spec.yaml"), spec.to_owned())].into();
    let (doc, _) = load(&fs, Path::new("/spec.yaml")).unwrap();
    let (api, diagnostics) = ivoagen::lower::lower(&doc);
    assert!(api.is_none());
    assert!(diagnostics.iter().any(|d| d.code == "ivoagen::ivoa::sync-post"), "{diagnostics:?}");
}
