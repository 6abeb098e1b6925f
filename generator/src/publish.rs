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
//! - an operation with `x-ivoa-groups` is answered 401 (anonymous callers, with the challenges)
//!   and 403 (`AuthorizationError`: callers in none of its groups) by the runtime: both declared,
//!   unless the document declares them, in the operation's error format.
//!
//! Pure: a function of the bundled document and the IR.

use crate::ir::{ErrorFormat, Operation, Uws};
use serde_json::{Map, Value, json};

/// The form fields a DALI-sync POST or a UWS job takes: `parameters`' query parameters as
/// properties of an object schema.
struct Form {
    properties: Map<String, Value>,
    required: Vec<Value>,
}

/// Adds to `doc` (the bundled document) what the server does beyond it.
pub fn publish(mut doc: Value, operations: &[Operation], uws: Option<&Uws>) -> Value {
    for op in operations {
        add_uri_too_long(&mut doc, op);
        add_group_refusals(&mut doc, op);
    }
    for op in operations.iter().filter(|op| op.dali_sync && op.method == "get") {
        add_sync_post(&mut doc, op, operations);
    }
    if let Some(uws) = uws {
        if let Some(sync) = operations.get(uws.operation) {
            add_job_parameters(&mut doc, uws, sync, operations);
        }
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

fn add_group_refusals(doc: &mut Value, op: &Operation) {
    if op.groups.is_empty() {
        return;
    }
    let (media, schema, document) = match op.error_format {
        ErrorFormat::Json => ("application/json", json!({"type": "object", "properties": {"error": {"type": "string"}, "parameter": {"type": ["string", "null"]}, "message": {"type": "string"}}}), "`{\"error\": \"authorization\", …}`"),
        ErrorFormat::SodaText => ("text/plain; charset=utf-8", json!({"type": "string"}), "`AuthorizationError: …`"),
        ErrorFormat::DaliVotable => ("application/x-votable+xml", json!({"type": "string"}), "a VOTable error document (`AuthorizationError: …`)"),
        ErrorFormat::ScsVotable => ("text/xml", json!({"type": "string"}), "a VOTable error document (`AuthorizationError: …`)"),
    };
    let groups = op.groups.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", ");
    let Some(Value::Object(responses)) = doc.pointer_mut(&format!("{}/responses", operation_pointer(op))) else { return };
    let authentication = document.replace("authorization", "authentication").replace("AuthorizationError", "AuthenticationError");
    responses.entry("401").or_insert_with(|| {
        json!({
            "description": format!("{authentication} — no valid credentials: only members of {groups} are served; `WWW-Authenticate` carries the challenges."),
            "content": { media: { "schema": schema.clone() } }
        })
    });
    responses.entry("403").or_insert_with(|| {
        json!({
            "description": format!("{document} — the caller is in none of the groups allowed ({groups})."),
            "content": { media: { "schema": schema } }
        })
    });
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
