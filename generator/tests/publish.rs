//! The published description declares what the generator makes the server do: the DALI-sync POST,
//! the UWS job parameters, the runtime's 414, the authentication gate's 401 (and 403 with
//! `x-ivoa-groups`), the runtime's 429s (rate limits, UWS quotas, failed authentications); and never overrides what the author wrote.

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

/// The published description of `spec`, lowered from memory.
fn published_spec(spec: &str) -> Value {
    let fs: BTreeMap<PathBuf, String> = [(PathBuf::from("/spec.yaml"), spec.to_owned())].into();
    published(&fs, Path::new("/spec.yaml"))
}

/// The media types of a response's content.
fn media(response: &Value) -> Vec<&str> {
    response["content"].as_object().map(|c| c.keys().map(String::as_str).collect()).unwrap_or_default()
}

/// Asserts that `response` is the runtime's 401: `WWW-Authenticate` declared, the body in `media`.
fn assert_unauthorized(response: &Value, media_type: &str, what: &str) {
    assert_eq!(media(response), [media_type], "{what}: {response}");
    let header = &response["headers"]["WWW-Authenticate"];
    assert_eq!((&header["required"], &header["schema"]["type"]), (&Value::Bool(true), &Value::from("string")), "{what}: {response}");
}

/// Asserts that `response` is a 429 of the runtime's: `Retry-After` in whole seconds, the body in
/// `media`, said to be answered when the rate limit is spent.
fn assert_too_many(response: &Value, media_type: &str, what: &str) {
    assert_retry_after(response, media_type, what);
    assert!(says(response, "`--rate-limit`"), "{what}: {response}");
}

/// Asserts that `response` is a 429 with `Retry-After` in whole seconds and its body in `media`.
fn assert_retry_after(response: &Value, media_type: &str, what: &str) {
    assert_eq!(media(response), [media_type], "{what}: {response}");
    let header = &response["headers"]["Retry-After"];
    assert_eq!((&header["required"], &header["schema"]["type"]), (&Value::Bool(true), &Value::from("integer")), "{what}: {response}");
}

/// Whether `response`'s description mentions `text` (a flag, say).
fn says(response: &Value, text: &str) -> bool {
    response["description"].as_str().is_some_and(|d| d.contains(text))
}

/// Anonymous callers allowed (`{}`) but a bearer scheme enforced; errors in DALI VOTables but
/// where an operation says otherwise.
const SECURED: &str = r#"
openapi: 3.1.0
info: { title: t, version: "1" }
x-ivoa-error-format: dali-votable
security: [{}, {token: []}]
paths:
  /query:
    get:
      operationId: query
      parameters:
        - { name: ID, in: query, schema: { type: string } }
      responses: { '200': { description: ok } }
    post:
      operationId: queryByPost
      x-ivoa-error-format: json
      responses: { '200': { description: ok } }
  /private:
    get:
      operationId: private
      security: [{token: []}]
      x-ivoa-error-format: json
      responses: { '200': { description: ok } }
  /open:
    get:
      operationId: open
      security: []
      x-ivoa-error-format: soda-text
      responses: { '200': { description: ok } }
  /own:
    get:
      operationId: own
      responses:
        '200': { description: ok }
        '401': { description: mine }
  /limited:
    get:
      operationId: limited
      responses:
        '200': { description: ok }
        '429': { description: mine too }
  /availability:
    get:
      operationId: availability
      x-ivoa-vosi: availability
      responses: { '200': { description: up, content: { application/xml: { schema: { type: string } } } } }
components:
  securitySchemes:
    token: { type: http, scheme: bearer }
"#;

#[test]
fn every_gated_operation_declares_401_with_its_challenges() {
    let doc = published_spec(SECURED);
    let paths = &doc["paths"];
    // Optional: anonymous callers are served, credentials that are not valid are refused.
    let query = &paths["/query"]["get"]["responses"]["401"];
    assert_unauthorized(query, "application/x-votable+xml", "GET /query");
    assert!(query["description"].as_str().unwrap().contains("anonymous requests are served"), "{query}");
    // The operations of a route share the first one's gate, and its error format.
    assert_unauthorized(&paths["/query"]["post"]["responses"]["401"], "application/x-votable+xml", "POST /query");
    let private = &paths["/private"]["get"]["responses"]["401"];
    assert_unauthorized(private, "application/json", "GET /private");
    assert!(private["description"].as_str().unwrap().contains("needs authentication"), "{private}");
    // `security: []` still reads credentials of the document's schemes, and refuses wrong ones.
    assert_unauthorized(&paths["/open"]["get"]["responses"]["401"], "text/plain; charset=utf-8", "GET /open");
    // VOSI goes through the gate as well (not through the rate limiter).
    assert_unauthorized(&paths["/availability"]["get"]["responses"]["401"], "application/x-votable+xml", "GET /availability");
    for (path, op) in [("/query", "get"), ("/query", "post"), ("/private", "get"), ("/open", "get"), ("/availability", "get")] {
        assert!(paths[path][op]["responses"].get("403").is_none(), "{op} {path}: 403 only with x-ivoa-groups");
    }
}

#[test]
fn what_the_author_declared_is_kept() {
    let doc = published_spec(SECURED);
    let own = &doc["paths"]["/own"]["get"]["responses"];
    assert_eq!(own["401"], serde_json::json!({"description": "mine"}));
    assert_too_many(&own["429"], "application/x-votable+xml", "GET /own");
    let limited = &doc["paths"]["/limited"]["get"]["responses"];
    assert_eq!(limited["429"], serde_json::json!({"description": "mine too"}));
    assert_unauthorized(&limited["401"], "application/x-votable+xml", "GET /limited");
}

#[test]
fn rate_limited_operations_declare_429_with_retry_after_and_vosi_does_not() {
    let doc = published_spec(SECURED);
    let paths = &doc["paths"];
    // The rate limiter writes each operation's own error format.
    assert_too_many(&paths["/query"]["get"]["responses"]["429"], "application/x-votable+xml", "GET /query");
    assert_too_many(&paths["/query"]["post"]["responses"]["429"], "application/json", "POST /query");
    assert_too_many(&paths["/private"]["get"]["responses"]["429"], "application/json", "GET /private");
    assert_too_many(&paths["/open"]["get"]["responses"]["429"], "text/plain; charset=utf-8", "GET /open");
    // Every gated operation spends the budget of failed authentications.
    for (path, op) in [("/query", "get"), ("/query", "post"), ("/private", "get"), ("/open", "get")] {
        assert!(says(&paths[path][op]["responses"]["429"], "`--auth-failure-limit`"), "{op} {path}");
    }
    // VOSI is not rate-limited; behind the gate, only failed authentications answer it 429.
    let availability = &paths["/availability"]["get"]["responses"]["429"];
    assert_retry_after(availability, "application/x-votable+xml", "GET /availability");
    assert!(says(availability, "`--auth-failure-limit`") && !says(availability, "`--rate-limit`"), "{availability}");
}

#[test]
fn without_security_schemes_nothing_answers_401_and_vosi_gets_neither() {
    let spec = r#"
openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /query:
    get:
      operationId: query
      responses: { '200': { description: ok } }
  /capabilities:
    get:
      operationId: capabilities
      x-ivoa-vosi: capabilities
      responses: { '200': { description: ok, content: { application/xml: { schema: { type: string } } } } }
"#;
    let doc = published_spec(spec);
    let query = &doc["paths"]["/query"]["get"]["responses"];
    assert!(query.get("401").is_none(), "{query}");
    assert_too_many(&query["429"], "application/json", "GET /query");
    assert!(!says(&query["429"], "`--auth-failure-limit`"), "no gate, no failed authentications: {query}");
    let capabilities = &doc["paths"]["/capabilities"]["get"]["responses"];
    assert_eq!(capabilities.as_object().unwrap().keys().collect::<Vec<_>>(), ["200"], "{capabilities}");
}

#[test]
fn an_openapi_3_0_document_gets_error_schemas_it_can_read() {
    // `type: [string, "null"]` is 3.1; a 3.0 document says `nullable`.
    let spec = r#"
openapi: 3.0.3
info: { title: t, version: "1" }
security: [{token: []}]
paths:
  /query:
    get:
      operationId: query
      responses: { '200': { description: ok } }
components:
  securitySchemes:
    token: { type: http, scheme: bearer }
"#;
    let doc = published_spec(spec);
    for status in ["401", "429"] {
        let schema = &doc["paths"]["/query"]["get"]["responses"][status]["content"]["application/json"]["schema"];
        assert_eq!(schema["properties"]["parameter"], serde_json::json!({"type": "string", "nullable": true}), "{status}: {schema}");
    }
    let doc = published_spec(&spec.replace("3.0.3", "3.1.0"));
    let schema = &doc["paths"]["/query"]["get"]["responses"]["429"]["content"]["application/json"]["schema"];
    assert_eq!(schema["properties"]["parameter"], serde_json::json!({"type": ["string", "null"]}), "{schema}");
}

#[test]
fn the_job_list_refuses_in_the_gates_format_and_limits_in_its_own() {
    // A JSON-speaking operation's jobs: the gate (the operation's) writes JSON, the job list
    // SODA text.
    let spec = r#"
openapi: 3.1.0
info: { title: t, version: "1" }
x-ivoa-uws: { jobs: /async, parameters: run }
security: [{token: []}]
paths:
  /run:
    get:
      operationId: run
      parameters:
        - { name: ID, in: query, schema: { type: string } }
      responses: { '200': { description: ok } }
  /async:
    get:
      operationId: jobs
      responses: { '200': { description: ok } }
    post:
      operationId: create
      responses: { '303': { description: created } }
  /async/{jobId}/phase:
    post:
      operationId: phase
      parameters:
        - { name: jobId, in: path, required: true, schema: { type: string } }
      responses: { '303': { description: changed } }
components:
  securitySchemes:
    token: { type: http, scheme: bearer }
"#;
    let doc = published_spec(spec);
    for (path, op) in [("/async", "get"), ("/async", "post"), ("/async/{jobId}/phase", "post")] {
        let responses = &doc["paths"][path][op]["responses"];
        assert_unauthorized(&responses["401"], "application/json", &format!("{op} {path}"));
        let limited = &responses["429"];
        assert_too_many(limited, "text/plain; charset=utf-8", &format!("{op} {path}"));
        assert!(says(limited, "`--auth-failure-limit`"), "{limited}");
        // Jobs are created or run by POST only.
        assert_eq!(says(limited, "`--uws-max-active`"), op == "post", "{op} {path}: {limited}");
    }
    assert_unauthorized(&doc["paths"]["/run"]["get"]["responses"]["401"], "application/json", "GET /run");
    assert_too_many(&doc["paths"]["/run"]["get"]["responses"]["429"], "application/json", "GET /run");
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
    // The same answers as the GET, and the body reader's 408 and 413 (its 503 is the spec's).
    let mut answers = post["responses"].as_object().unwrap().clone();
    for status in ["408", "413"] {
        let refusal = answers.remove(status).unwrap_or_else(|| panic!("no {status}"));
        assert_eq!(media(&refusal), ["text/plain; charset=utf-8"], "{status}");
    }
    assert_eq!(serde_json::Value::Object(answers), doc["paths"]["/sync"]["get"]["responses"], "the same answers as the GET");
    assert!(says(&post["responses"]["503"], "the data cannot be read now"), "the spec's 503 stays");
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
fn the_soda_description_declares_what_the_gate_and_the_limits_answer() {
    let doc = published(&RealFs, &Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/soda.yaml"));
    let paths = doc["paths"].as_object().unwrap();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap().iter().filter(|(m, _)| ["get", "post", "delete"].contains(&m.as_str())) {
            let what = format!("{method} {path}");
            let responses = &op["responses"];
            // Every route is behind the gate (`security: [{}, {token: []}, {password: []}]`).
            let text = if path == "/links" { "application/x-votable+xml" } else { "text/plain; charset=utf-8" };
            assert_unauthorized(&responses["401"], text, &what);
            match path.as_str() {
                // VOSI is not rate-limited; behind the gate, failed authentications answer 429.
                "/capabilities" | "/availability" => {
                    assert_retry_after(&responses["429"], text, &what);
                    assert!(!says(&responses["429"], "`--rate-limit`"), "{what}: VOSI is not rate-limited");
                }
                // uws.yaml declares its quotas' 429 where jobs are created or run: kept as
                // written (below).
                "/async" | "/async/{jobId}/phase" | "/async/{jobId}/parameters" if method == "post" => {
                    assert_retry_after(&responses["429"], "text/plain", &what);
                    assert!(says(&responses["429"], "`--uws-max-active`") && says(&responses["429"], "`--auth-failure-limit`"), "{what}");
                }
                _ => assert_too_many(&responses["429"], text, &what),
            }
        }
    }
    let creation = &doc["paths"]["/async"]["post"]["responses"]["429"];
    assert_eq!(media(creation), ["text/plain"], "{creation}");
    let description = creation["description"].as_str().unwrap();
    assert!(description.contains("`--uws-max-jobs`") && description.contains("`--rate-limit`"), "{creation}");
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

#[test]
fn operations_with_a_body_declare_the_body_readers_refusals() {
    let spec = r#"
openapi: 3.1.0
info: { title: t, version: "1" }
paths:
  /tables:
    get:
      operationId: tables
      responses: { '200': { description: ok } }
    put:
      operationId: replace
      requestBody:
        content:
          application/json: { schema: { type: object } }
      responses: { '204': { description: replaced } }
  /query:
    get:
      operationId: query
      x-ivoa-sync: true
      x-ivoa-error-format: dali-votable
      parameters:
        - { name: QUERY, in: query, schema: { type: string } }
      responses: { '200': { description: ok } }
"#;
    let doc = published_spec(spec);
    let put = &doc["paths"]["/tables"]["put"]["responses"];
    for (status, says_what) in [("408", "`--body-timeout`"), ("413", "larger than 64 MiB"), ("503", "`--upload-space`")] {
        assert_eq!(media(&put[status]), ["application/json"], "{status}: {put}");
        assert!(says(&put[status], says_what), "{status}: {}", put[status]);
    }
    let post = &doc["paths"]["/query"]["post"]["responses"];
    for status in ["408", "413", "503"] {
        assert_eq!(media(&post[status]), ["application/x-votable+xml"], "the DALI-sync POST's {status}: {post}");
    }
    for (path, method) in [("/tables", "get"), ("/query", "get")] {
        let answers = &doc["paths"][path][method]["responses"];
        assert!(["408", "413", "503"].iter().all(|s| answers.get(*s).is_none()), "{method} {path} has no body: {answers}");
    }
}
