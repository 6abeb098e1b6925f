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
    let doc = published(&fs, Path::new("/spec.yaml"));
    assert_eq!(doc["paths"]["/sync"]["post"]["operationId"], "own");
    assert!(doc["paths"]["/sync"]["post"].get("requestBody").is_none());
}
