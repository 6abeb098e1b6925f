//! The description a generated server publishes (`src/openapi.json`): the bundled document with
//! what the generator adds to the server written into it, so that the two cannot drift.
//!
//! - an `x-ivoa-sync` GET is also served by POST with its query parameters in a form or
//!   multipart body (DALI-sync): that POST is declared, unless the document declares one;
//! - the UWS job list of `x-ivoa-uws` takes the parameters of the sync operation at creation
//!   (`POST {jobs}`) and while pending (`POST {jobs}/{id}/parameters`): those bodies declare them,
//!   with the UWS control parameters.
//!
//! - an operation with query parameters may be answered 414 by the runtime (a request line over
//!   64 KiB, `serve::Labelled`): declared, unless the document declares it.
//!
//! - an operation behind an authentication gate (`rt::auth::guard`, or the UWS job list's
//!   `AuthLayer`: every operation, VOSI's and the job list's included, of a document with security
//!   schemes the runtime enforces) is answered 401 with the `WWW-Authenticate` challenges to
//!   credentials that are not valid, even where anonymous callers are served, and to anonymous
//!   ones where authentication is required or `x-ivoa-groups` is set; one with `x-ivoa-groups`
//!   also 403 (`AuthorizationError`: callers in none of its groups). Both in the gate's error
//!   format (the route's first operation's; on the job list, the `parameters` operation's),
//!   declared unless the document declares them.
//!
//! - an operation is answered 429 with `Retry-After` when a budget is spent: the request-rate
//!   limiter's (`rt::quota::guard`: every operation but VOSI's; `JobList::limit`: every route of
//!   the job list) when the operator sets a rate limit, UWS's quotas where jobs are created or
//!   run, and, behind an authentication gate, the client address's failed authentications.
//!   Declared, unless the document declares it, in the operation's error format (the job list's:
//!   a VOTable for a VOTable-speaking operation, SODA text otherwise).
//!
//! - an operation with a request body (the DALI-sync POSTs and UWS bodies above included) is
//!   answered 408, 413 or 503 by the runtime's body reader when it cannot take the body:
//!   declared, unless the document declares them, in the operation's error format.
//!
//! Pure: a function of the bundled document and the IR.

use crate::ir::{ErrorFormat, Modality, Operation, Uws};
use serde_json::{Map, Value, json};

/// The form fields a DALI-sync POST or a UWS job takes: `parameters`' query parameters as
/// properties of an object schema.
struct Form {
    properties: Map<String, Value>,
    required: Vec<Value>,
}

/// Adds to `doc` (the bundled document) what the server does beyond it.
pub fn publish(mut doc: Value, operations: &[Operation], uws: Option<&Uws>) -> Value {
    let sync = uws.and_then(|uws| operations.get(uws.operation));
    for op in operations {
        add_uri_too_long(&mut doc, op);
        add_refusals(&mut doc, op, operations, sync);
        add_too_many_requests(&mut doc, op, operations, sync);
    }
    for op in operations.iter().filter(|op| op.dali_sync && op.method == "get") {
        add_sync_post(&mut doc, op, operations);
    }
    if let Some(uws) = uws {
        if let Some(sync) = operations.get(uws.operation) {
            add_job_parameters(&mut doc, uws, sync, operations);
        }
    }
    for op in operations {
        add_body_refusals(&mut doc, op, sync);
    }
    doc
}

/// `#/a/b` within `doc`, following a chain of local references (at most 64).
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..64 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else { break };
        let Some(pointer) = reference.strip_prefix('#') else { break };
        match doc.pointer(pointer) {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

fn operation_pointer(op: &Operation) -> String {
    let escaped = op.path.replace('~', "~0").replace('/', "~1");
    format!("/paths/{escaped}/{}", op.method)
}

/// The query parameters of an operation (its own and its path item's), as form fields.
fn form_of(doc: &Value, op: &Operation) -> Option<Form> {
    let escaped = op.path.replace('~', "~0").replace('/', "~1");
    let item = resolve(doc, doc.pointer(&format!("/paths/{escaped}"))?);
    let node = resolve(doc, item.get(&op.method)?);
    let mut form = Form { properties: Map::new(), required: Vec::new() };
    let shared = item.get("parameters").and_then(Value::as_array).into_iter().flatten();
    let own = node.get("parameters").and_then(Value::as_array).into_iter().flatten();
    // The operation's own parameters override the path item's of the same name.
    for param in shared.chain(own) {
        let param = resolve(doc, param);
        if param.get("in").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let Some(name) = param.get("name").and_then(Value::as_str) else { continue };
        let mut schema = param.get("schema").cloned().unwrap_or_else(|| json!({}));
        if let (Some(description), Some(object)) = (param.get("description"), schema.as_object_mut()) {
            if !object.contains_key("$ref") {
                object.entry("description").or_insert_with(|| description.clone());
            }
        }
        form.properties.insert(name.to_owned(), schema);
        form.required.retain(|r| r != name);
        if param.get("required").and_then(Value::as_bool) == Some(true) {
            form.required.push(Value::String(name.to_owned()));
        }
    }
    Some(form)
}

fn add_uri_too_long(doc: &mut Value, op: &Operation) {
    if form_of(doc, op).is_none_or(|form| form.properties.is_empty()) {
        return;
    }
    let Some(Value::Object(responses)) = doc.pointer_mut(&format!("{}/responses", operation_pointer(op))) else { return };
    responses.entry("414").or_insert_with(|| {
        json!({
            "description": "`UsageError: …` — the request line is longer than 64 KiB; send long parameters in a POST body.",
            "content": { "text/plain; charset=utf-8": { "schema": { "type": "string" } } }
        })
    });
}

/// The media type and schema of an error document in `format`, as `ivoa::respond` writes it, for
/// `doc` (whose OpenAPI version says how a null is written).
fn error_content(doc: &Value, format: ErrorFormat) -> Value {
    let nullable = match doc.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.0") => json!({"type": "string", "nullable": true}),
        _ => json!({"type": ["string", "null"]}),
    };
    let (media, schema) = match format {
        ErrorFormat::Json => ("application/json", json!({"type": "object", "properties": {"error": {"type": "string"}, "parameter": nullable, "message": {"type": "string"}}})),
        ErrorFormat::SodaText => ("text/plain; charset=utf-8", json!({"type": "string"})),
        ErrorFormat::DaliVotable => ("application/x-votable+xml", json!({"type": "string"})),
        ErrorFormat::ScsVotable => ("text/xml", json!({"type": "string"})),
    };
    json!({ media: { "schema": schema } })
}

/// How an error document in `format` begins, for a description: `rule` is the JSON `error`,
/// `label` the SODA/DALI label.
fn error_document(format: ErrorFormat, rule: &str, label: &str) -> String {
    match format {
        ErrorFormat::Json => format!("`{{\"error\": \"{rule}\", …}}`"),
        ErrorFormat::SodaText => format!("`{label}: …`"),
        ErrorFormat::DaliVotable | ErrorFormat::ScsVotable => format!("a VOTable error document (`{label}: …`)"),
    }
}

/// The operation whose gate guards `op`'s route, when the route has one: the route's first
/// operation (the operations of a route share its gate) or, on the UWS job list, the operation
/// whose parameters the jobs take (`sync`), as `emit::server` mounts them.
fn gate_of<'a>(op: &'a Operation, operations: &'a [Operation], sync: Option<&'a Operation>) -> Option<&'a Operation> {
    let gate = if op.uws { sync? } else { operations.iter().find(|o| !o.uws && o.route == op.route).unwrap_or(op) };
    gate.security.is_some().then_some(gate)
}

/// The 401 and 403 of the runtime's authentication gate (`auth::checked`), in the gate's error
/// format: 401 with the challenges to credentials that are not valid (to anonymous callers too
/// where authentication is required or the route has `x-ivoa-groups`), 403 to callers in none of
/// the route's groups.
fn add_refusals(doc: &mut Value, op: &Operation, operations: &[Operation], sync: Option<&Operation>) {
    let Some(gate) = gate_of(op, operations, sync) else { return };
    let format = gate.error_format;
    let groups = gate.groups.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", ");
    let required = gate.security.as_ref().is_some_and(|s| s.modality == Modality::Required);
    let why = if !gate.groups.is_empty() {
        format!("no valid credentials: only members of {groups} are served")
    } else if required {
        "no valid credentials: the operation needs authentication".to_owned()
    } else {
        "credentials that are not valid (anonymous requests are served)".to_owned()
    };
    let content = error_content(doc, format);
    let Some(Value::Object(responses)) = doc.pointer_mut(&format!("{}/responses", operation_pointer(op))) else { return };
    responses.entry("401").or_insert_with(|| {
        json!({
            "description": format!("{} — {why}; `WWW-Authenticate` carries the challenges.", error_document(format, "authentication", "AuthenticationError")),
            "headers": {
                "WWW-Authenticate": {
                    "description": "The AuthVO challenges of the schemes the operation accepts, one a header; after a refused bearer token, with `error=\"invalid_token\"`.",
                    "required": true,
                    "schema": { "type": "string" }
                }
            },
            "content": content.clone()
        })
    });
    if !gate.groups.is_empty() {
        responses.entry("403").or_insert_with(|| {
            json!({
                "description": format!("{} — the caller is in none of the groups allowed ({groups}).", error_document(format, "authorization", "AuthorizationError")),
                "content": content
            })
        });
    }
}

/// The 429 the runtime answers when a budget is spent, each only when it applies to `op`: the
/// request-rate limiter's (`quota::guard` on every operation but VOSI's, the job list's
/// `quota::Layer` on every UWS route; only when the operator sets a rate limit), UWS's quotas
/// where jobs are created or run, and the authentication gate's budget of failed
/// authentications per client address (`auth::checked`, on by default).
fn add_too_many_requests(doc: &mut Value, op: &Operation, operations: &[Operation], sync: Option<&Operation>) {
    let gated = gate_of(op, operations, sync).is_some();
    let mut budgets = Vec::new();
    if op.vosi.is_none() {
        budgets.push("the caller's request rate, when the operator sets a rate limit (`--rate-limit`, `--anonymous-rate-limit`; the caller is its identity, or its client address when anonymous)");
    }
    if op.uws && op.method == "post" {
        budgets.push("where a job is created or run, the jobs its owner keeps (`--uws-max-jobs`) or has queued or executing at once (`--uws-max-active`)");
    }
    if gated {
        budgets.push("for a request presenting credentials, the failed authentications of its client address (`--auth-failure-limit`, on by default; the credentials are then not checked)");
    }
    if budgets.is_empty() {
        return;
    }
    let why = format!("a budget is spent: {}", budgets.join("; or "));
    let format = answered_in(op, sync);
    let content = error_content(doc, format);
    let Some(Value::Object(responses)) = doc.pointer_mut(&format!("{}/responses", operation_pointer(op))) else { return };
    responses.entry("429").or_insert_with(|| {
        json!({
            "description": format!("{} — {why}; `Retry-After` says when to try again.", error_document(format, "rate", "UsageError")),
            "headers": {
                "Retry-After": {
                    "description": "Whole seconds to wait before trying again.",
                    "required": true,
                    "schema": { "type": "integer", "minimum": 0 }
                }
            },
            "content": content
        })
    });
}

/// The error format `op` is answered in: its own, or on the UWS job list a VOTable for a
/// VOTable-speaking operation (TAP) and SODA text otherwise (`JobList::errors`).
fn answered_in(op: &Operation, sync: Option<&Operation>) -> ErrorFormat {
    if !op.uws {
        return op.error_format;
    }
    match sync.map(|s| s.error_format) {
        Some(f @ (ErrorFormat::DaliVotable | ErrorFormat::ScsVotable)) => f,
        _ => ErrorFormat::SodaText,
    }
}

/// What the runtime's body reader (`rt::body`) answers to a request body it cannot take, on
/// every operation that has one (`op`'s, or the DALI-sync POST of a sync GET): 408 for a body
/// that stops arriving or takes too long, 413 for one over its limits, 503 when the budgets of
/// all requests' large bodies cannot hold it now.
fn add_body_refusals(doc: &mut Value, op: &Operation, sync: Option<&Operation>) {
    let format = answered_in(op, sync);
    let mut pointers = vec![operation_pointer(op)];
    if op.dali_sync && op.method == "get" {
        pointers.push(format!("/paths/{}/post", op.path.replace('~', "~0").replace('/', "~1")));
    }
    let content = error_content(doc, format);
    for pointer in pointers {
        let has_body = doc.pointer(&pointer).is_some_and(|node| resolve(doc, node).get("requestBody").is_some());
        let Some(Value::Object(responses)) = doc.pointer_mut(&format!("{pointer}/responses")) else { continue };
        if !has_body {
            continue;
        }
        let refusals = [
            ("408", "timeout", "UsageError", "the request body stopped arriving for longer than `--body-timeout`, or took longer than `--body-deadline`"),
            ("413", "size", "UsageError", "the request body is larger than 64 MiB, or a multipart body's files larger than `--max-upload` (1 GiB by default) in all"),
            ("503", "busy", "ServiceUnavailable", "the server is holding as many large request bodies as it takes at once (256 MiB in memory; uploaded files up to `--upload-space`, 4 GiB by default), or cannot write an uploaded file; a retry may succeed"),
        ];
        for (status, rule, label, why) in refusals {
            responses.entry(status).or_insert_with(|| json!({ "description": format!("{} — {why}.", error_document(format, rule, label)), "content": content.clone() }));
        }
    }
}

fn body(form: Form, required_body: bool) -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    if !form.required.is_empty() {
        schema.insert("required".into(), Value::Array(form.required));
    }
    schema.insert("properties".into(), Value::Object(form.properties));
    // Other fields are ignored (DALI §3.1). A multipart part's name must be printable ASCII but
    // `"` and `\\` (the runtime refuses others: a name is a quoted header parameter).
    let form = Value::Object(schema.clone());
    schema.insert("propertyNames".into(), json!({"pattern": "^[!#-\\[\\]-~]+$"}));
    json!({
        "required": required_body,
        "content": {
            "application/x-www-form-urlencoded": { "schema": form },
            "multipart/form-data": { "schema": Value::Object(schema) },
        }
    })
}

fn add_sync_post(doc: &mut Value, op: &Operation, operations: &[Operation]) {
    if operations.iter().any(|o| o.path == op.path && o.method == "post") {
        return;
    }
    let Some(form) = form_of(doc, op) else { return };
    let Some(get) = doc.pointer(&operation_pointer(op)).map(|g| resolve(doc, g).clone()) else { return };
    let Value::Object(mut post) = get else { return };
    let required_body = !form.required.is_empty();
    post.remove("x-ivoa-sync");
    if let Some(Value::Array(parameters)) = post.get_mut("parameters") {
        let doc_ref = &*doc;
        parameters.retain(|p| resolve(doc_ref, p).get("in").and_then(Value::as_str) != Some("query"));
        if parameters.is_empty() {
            post.remove("parameters");
        }
    }
    if let Some(Value::String(id)) = post.get("operationId") {
        let mut candidate = format!("{id}Post");
        let mut n = 2;
        while operations.iter().any(|o| o.api_name == candidate) {
            candidate = format!("{id}Post{n}");
            n += 1;
        }
        post.insert("operationId".into(), Value::String(candidate));
    }
    post.insert(
        "summary".into(),
        Value::String(match post.get("summary").and_then(Value::as_str) {
            Some(s) => format!("{s} (DALI-sync POST)"),
            None => "DALI-sync POST".into(),
        }),
    );
    post.insert("requestBody".into(), body(form, required_body));
    let escaped = op.path.replace('~', "~0").replace('/', "~1");
    if let Some(Value::Object(item)) = doc.pointer_mut(&format!("/paths/{escaped}")) {
        if !item.contains_key("$ref") {
            item.insert("post".into(), Value::Object(post));
        }
    }
}

/// The job parameters of `POST {jobs}` (creation: the sync operation's parameters, required as
/// there, with `RUNID`, `PHASE=RUN`, `EXECUTIONDURATION`, `DESTRUCTION`) and of
/// `POST {jobs}/{id}/parameters` (changes: none required; `PHASE` RUN or ABORT).
fn add_job_parameters(doc: &mut Value, uws: &Uws, sync: &Operation, operations: &[Operation]) {
    let Some(form) = form_of(doc, sync) else { return };
    let posted = |wanted: &dyn Fn(&str) -> bool| operations.iter().find(|o| o.uws && o.method == "post" && wanted(&o.path)).map(operation_pointer);
    let prefix = format!("{}/", uws.jobs);
    let creation = posted(&|p| p == uws.jobs);
    let changes = posted(&|p| p.strip_prefix(&prefix).is_some_and(|rest| rest.matches('/').count() == 1 && rest.ends_with("/parameters")));
    let control = [
        ("RUNID", json!({"type": "string", "maxLength": 64, "description": "A label for the job, kept as its runId."})),
        ("EXECUTIONDURATION", json!({"type": "integer", "minimum": 0, "maximum": i64::MAX, "description": "Seconds the job may run, 0 for as long as the server allows; brought within the server's maximum."})),
        ("DESTRUCTION", json!({"type": "string", "format": "date-time", "description": "When the job is destroyed; brought within the server's maximum."})),
    ];
    let mut create = Form { properties: form.properties.clone(), required: form.required };
    for (name, schema) in control {
        create.properties.insert(name.into(), schema);
    }
    create.properties.insert("PHASE".into(), json!({"type": "string", "enum": ["RUN"], "description": "RUN starts the job at once."}));
    let mut change = Form { properties: form.properties, required: Vec::new() };
    change.properties.insert("PHASE".into(), json!({"type": "string", "enum": ["RUN", "ABORT"], "description": "Then acts on the job."}));
    for (pointer, form, required) in [(creation, create, true), (changes, change, false)] {
        let Some(pointer) = pointer else { continue };
        let required = required && !form.required.is_empty();
        if let Some(Value::Object(op)) = doc.pointer_mut(&pointer) {
            let body = body(form, required);
            op.insert("requestBody".into(), body);
        }
    }
}
