//! Lower phase: the loaded [`Document`] → the [`Api`] IR.
//!
//! Every schema becomes a Rust type reference; objects, string enums, unions and tuples become
//! named types in the arena. What cannot be represented gets a located diagnostic and a documented
//! fallback (a `serde_json::Value`), never a panic.
//!
//! **Architecture invariant:** lowering does no I/O; it reads the [`Document`] and nothing else.

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::ir::*;
use crate::load::{Document, Node, Target, Value, edit_distance};
use crate::source::{FileId, Span};
use crate::naming::{Namer, OperationNames, Renamed, Roles, field_name, type_name, unique};
use std::collections::{BTreeMap, BTreeSet};

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
/// Names a generated type never takes (see [`Lowerer::reserve`]).
const CONSTRUCTORS: &[&str] = &["Some", "None", "Ok", "Err"];
const TYPES: &[&str] = &["string", "integer", "number", "boolean", "array", "object", "null"];

/// How deeply schemas may nest in schemas, counting every property, item, alternative and named
/// type on the way (a chain of plain `$ref`s counts once): lowering recurses this deep.
pub const MAX_SCHEMA_NESTING: usize = 128;

/// Lowers a loaded document. Returns the API unless an error was found.
pub fn lower(doc: &Document) -> (Option<Api>, Vec<Diagnostic>) {
    let mut lowerer = Lowerer {
        doc,
        diags: Diagnostics::default(),
        types: Vec::new(),
        by_target: BTreeMap::new(),
        // The prelude's constructors, which models' code calls (`Ok(())`): a tuple struct of
        // that name would shadow them.
        type_names: CONSTRUCTORS.iter().map(|c| (*c).to_owned()).collect(),
        inline_stack: BTreeSet::new(),
        nesting: 0,
        too_deep: false,
        field_spans: BTreeMap::new(),
        pending_names: BTreeMap::new(),
        schemes: Vec::new(),
        unenforced: BTreeSet::new(),
        document_security: None,
    };
    let api = lowerer.api();
    let mut diags = lowerer.diags;
    match api {
        Some(api) if !diags.has_errors() => (Some(api), diags.into_vec()),
        _ => {
            if !diags.has_errors() {
                diags.push(Diagnostic::error("ivoagen::lower::failed", None, "the spec could not be lowered"));
            }
            (None, diags.into_vec())
        }
    }
}

struct Lowerer<'a> {
    doc: &'a Document,
    diags: Diagnostics,
    types: Vec<Option<TypeDef>>,
    by_target: BTreeMap<Target, TypeId>,
    type_names: BTreeSet<String>,
    /// The references being lowered inline (a set: each is in it once).
    inline_stack: BTreeSet<Target>,
    /// How many [`Lowerer::schema`] calls are under way (see [`MAX_SCHEMA_NESTING`]).
    nesting: usize,
    /// Whether the nesting limit was reported.
    too_deep: bool,
    field_spans: BTreeMap<(usize, String), Span>,
    pending_names: BTreeMap<TypeId, (String, String, Span)>,
    /// The security schemes the runtime enforces, lowered before the operations.
    schemes: Vec<SecurityScheme>,
    /// Declared security schemes of kinds the runtime cannot read.
    unenforced: BTreeSet<String>,
    /// The document's `security`, which an operation without its own has.
    document_security: Option<Security>,
}

fn doc_text(node: &Node) -> Option<String> {
    let summary = node.get("summary").and_then(Node::as_str);
    let description = node.get("description").and_then(Node::as_str);
    match (summary, description) {
        (Some(s), Some(d)) if s.trim() != d.trim() => Some(format!("{}\n\n{}", s.trim(), d.trim())),
        (Some(s), _) => Some(s.trim().to_owned()),
        (None, Some(d)) => Some(d.trim().to_owned()),
        (None, None) => None,
    }
    .filter(|s| !s.is_empty())
}

/// The `type` keyword: the declared types, and whether `null` is among them.
struct Types {
    names: Vec<String>,
    nullable: bool,
}

impl<'a> Lowerer<'a> {
    fn error(&mut self, code: &'static str, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, Some(span), message));
        self.last()
    }

    fn warn(&mut self, code: &'static str, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::warning(code, Some(span), message));
        self.last()
    }

    fn last(&mut self) -> &mut Diagnostic {
        self.diags.last_mut().expect("a diagnostic was just pushed")
    }

    fn api(&mut self) -> Option<Api> {
        let root = self.doc.root();
        match root.get("openapi").map(|n| (n, n.as_str())) {
            Some((_, Some(v))) if v.starts_with("3.0") || v.starts_with("3.1") => {}
            Some((n, v)) => {
                let shown = v.map_or_else(|| format!("{:?}", n.to_json()), str::to_owned);
                self.error("ivoagen::load::version", n.span, format!("OpenAPI version `{shown}` is not supported"))
                    .set_help("ivoagen reads OpenAPI 3.0.x and 3.1.x; write the version as a string, e.g. `openapi: 3.1.0`");
                return None;
            }
            None => {
                if let Some(swagger) = root.get("swagger") {
                    self.error("ivoagen::load::swagger2", swagger.span, "Swagger 2.0 documents are not supported")
                        .set_label("Swagger 2.0")
                        .set_help("convert the document to OpenAPI 3 first (for example with `swagger2openapi`), then generate from that");
                } else {
                    self.error("ivoagen::load::not-openapi", root.span, "this is not an OpenAPI document: it has no `openapi` key")
                        .set_help("an OpenAPI document starts with `openapi: 3.1.0` (or 3.0.x)");
                }
                return None;
            }
        }
        let info = root.get("info");
        let title = info.and_then(|i| i.get("title")).and_then(Node::as_str).unwrap_or("API").to_owned();
        let version = info.and_then(|i| i.get("version")).and_then(Node::as_str).unwrap_or("0.0.0").to_owned();
        let description = info.and_then(|i| i.get("description")).and_then(Node::as_str).map(|d| d.trim().to_owned());

        // Component schemas first, so that they get their own names before inline schemas take
        // similar ones.
        if let Some(schemas) = root.get("components").and_then(|c| c.get("schemas")) {
            for (key, _) in schemas.entries() {
                let target = Target { file: FileId::ROOT, pointer: vec!["components".into(), "schemas".into(), key.name.clone()] };
                let node = self.doc.node(&target).expect("the entry exists");
                if self.is_named_kind(FileId::ROOT, node) {
                    self.named_type(FileId::ROOT, node, Some(target), &key.name);
                }
            }
        }
        self.schemes = self.security_schemes();
        self.document_security = self.security(root.get("security"));
        let mut operations = self.operations();
        let uws = self.uws(&mut operations);
        let base_path = self.base_path();
        let openapi_json = match crate::load::try_bundle(self.doc) {
            Ok(json) => serde_json::to_string_pretty(&crate::publish::publish(json, &operations, uws.as_ref())).unwrap_or_default(),
            Err(error) => {
                self.diags.push(*error);
                return None;
            }
        };
        let types: Vec<TypeDef> = self.types.drain(..).map(|t| t.expect("every reserved type is filled")).collect();
        let mut api = Api {
            title,
            version,
            description,
            operations,
            types,
            openapi_json,
            uws,
            base_path,
            security_schemes: std::mem::take(&mut self.schemes),
        };
        self.check_required_cycles(&api);
        box_cycles(&mut api);
        Some(api)
    }

    /// The security schemes of `components.securitySchemes` that map to credentials the runtime
    /// reads, with their AuthVO challenges (`x-ivoa-challenge` overrides the default one). A
    /// scheme of another kind is left out with a warning, and remembered in
    /// [`Lowerer::unenforced`] so that a requirement that needs it is refused.
    fn security_schemes(&mut self) -> Vec<SecurityScheme> {
        let root = self.doc.root();
        let Some(schemes) = root.get("components").and_then(|c| c.get("securitySchemes")) else { return Vec::new() };
        let mut out = Vec::new();
        for (key, node) in schemes.entries() {
            let (_, node, _) = self.doc.resolve(FileId::ROOT, node);
            let ty = node.get("type").and_then(Node::as_str).unwrap_or_default();
            let http_scheme = node.get("scheme").and_then(Node::as_str).unwrap_or_default().to_ascii_lowercase();
            let cookie = (ty == "apiKey" && node.get("in").and_then(Node::as_str) == Some("cookie")).then(|| node.get("name").and_then(Node::as_str));
            let (kind, challenge, mut parameters) = match (ty, cookie) {
                ("http", _) if http_scheme == "bearer" => (SchemeKind::Bearer, "Bearer", vec![]),
                ("http", _) if http_scheme == "basic" => (SchemeKind::Basic, "Basic", vec![("realm".to_owned(), root.get("info").and_then(|i| i.get("title")).and_then(Node::as_str).unwrap_or("service").to_owned())]),
                ("oauth2" | "openIdConnect", _) => (SchemeKind::Bearer, "Bearer", vec![]),
                (_, Some(Some(name))) => (SchemeKind::Cookie(name.to_owned()), "ivoa_cookie", vec![]),
                (_, Some(None)) => {
                    self.error("ivoagen::lower::security-scheme", node.span, format!("security scheme `{}` reads a cookie but does not name it", key.name))
                        .set_help("an apiKey scheme needs `name`: the cookie's name");
                    continue;
                }
                ("mutualTLS", _) => (SchemeKind::ClientCertificate, "ivoa_x509", vec![]),
                _ => {
                    self.warn("ivoagen::lower::security-scheme", node.span, format!("security scheme `{}` is not enforced", key.name))
                        .set_help("the runtime reads http bearer and basic, oauth2/openIdConnect bearer tokens, apiKey in a cookie, and mutualTLS; an operation that has no other scheme is refused");
                    self.unenforced.insert(key.name.clone());
                    continue;
                }
            };
            let mut challenge = challenge.to_owned();
            if let Some(c) = node.get("x-ivoa-challenge") {
                if let Some(s) = c.get("scheme").and_then(Node::as_str) {
                    challenge = s.to_owned();
                }
                parameters.clear();
                for name in ["standard_id", "access_url", "discovery_url", "realm"] {
                    if let Some(v) = c.get(name).and_then(Node::as_str) {
                        parameters.push((name.to_owned(), v.to_owned()));
                    }
                }
            }
            out.push(SecurityScheme { name: key.name.clone(), kind, challenge, parameters });
        }
        out
    }

    /// The modality and schemes of a list of security requirements (an operation's `security`,
    /// or the document's), when the document has schemes the runtime enforces.
    ///
    /// Requirements are alternatives: one that needs a scheme the runtime cannot read is left
    /// out (its clients are refused, never let in), but when that leaves none, the operation
    /// would be served without authentication, so it is refused.
    fn security(&mut self, list: Option<&Node>) -> Option<Security> {
        let all = (0..self.schemes.len()).collect::<Vec<_>>();
        let Some(list) = list else {
            // No requirement: credentials of any scheme the document declares still name the
            // caller (and a client that sends them everywhere is not refused for it).
            return (!self.schemes.is_empty()).then(|| Security { modality: Modality::None, schemes: all });
        };
        if !matches!(list.value, Value::Seq(_)) {
            self.error("ivoagen::lower::security-requirement", list.span, "`security` is not a list of requirements")
                .set_help("write `security: [{SCHEME: []}]`, `[{}]` to allow anonymous requests too, or `[]` for none");
            return None;
        }
        let (mut anonymous, mut unenforced) = (false, false);
        let mut schemes = Vec::new();
        for requirement in list.items() {
            let Value::Map(entries) = &requirement.value else {
                self.error("ivoagen::lower::security-requirement", requirement.span, "a security requirement is a mapping from scheme names to scopes")
                    .set_help("write `{token: []}` rather than `token`; `{}` allows anonymous requests");
                continue;
            };
            if entries.is_empty() {
                anonymous = true;
            }
            for (name, _) in entries {
                if let Some(i) = self.schemes.iter().position(|s| s.name == name.name) {
                    if !schemes.contains(&i) {
                        schemes.push(i);
                    }
                } else if self.unenforced.contains(&name.name) {
                    unenforced = true;
                } else {
                    let declared: Vec<String> = self.schemes.iter().map(|s| s.name.clone()).chain(self.unenforced.iter().cloned()).collect();
                    let help = match declared.iter().min_by_key(|d| edit_distance(d, &name.name)) {
                        Some(best) => format!("did you mean `{best}`? requirements name schemes of `components.securitySchemes`"),
                        None => "declare the scheme in `components.securitySchemes`".to_owned(),
                    };
                    self.error("ivoagen::lower::security-requirement", name.span, format!("security scheme `{}` is not declared", name.name)).set_help(help);
                }
            }
        }
        let modality = match (anonymous, schemes.is_empty()) {
            (true, _) => Modality::Optional,
            (false, false) => Modality::Required,
            (false, true) if unenforced => {
                self.error("ivoagen::lower::security-unsupported", list.span, "every requirement here needs a security scheme ivoagen cannot enforce")
                    .set_label("would be served without authentication")
                    .set_help("the runtime reads http bearer and basic, oauth2/openIdConnect bearer tokens, apiKey in a cookie, and mutualTLS; add a requirement with one of them");
                return None;
            }
            (false, true) => Modality::None,
        };
        if self.schemes.is_empty() {
            return None;
        }
        let schemes = if modality == Modality::None { all } else { schemes };
        Some(Security { modality, schemes })
    }

    /// The path of the first server's URL (`/soda` for `/soda` or `https://a.org/soda/`), without
    /// a trailing slash; empty when there is none or it has `{variables}`.
    fn base_path(&self) -> String {
        let Some(url) = self.doc.root().get("servers").and_then(|s| s.items().first()).and_then(|s| s.get("url")).and_then(Node::as_str) else {
            return String::new();
        };
        let path = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
            None => url,
        };
        let path = path.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
        if path.starts_with('/') && !path.contains(['{', '}']) { path.to_owned() } else { String::new() }
    }

    fn uws(&mut self, operations: &mut [Operation]) -> Option<Uws> {
        let node = self.doc.root().get("x-ivoa-uws")?;
        let jobs = node.get("jobs").and_then(Node::as_str).map(|j| j.trim_end_matches('/').to_owned());
        let parameters = node.get("parameters").and_then(Node::as_str);
        let (Some(jobs), Some(parameters)) = (jobs, parameters) else {
            self.error("ivoagen::ivoa::uws", node.span, "`x-ivoa-uws` needs `jobs` and `parameters`")
                .set_help("write `x-ivoa-uws: {jobs: /async, parameters: OPERATION_ID}`");
            return None;
        };
        let Some(operation) = operations.iter().position(|op| op.api_name == parameters) else {
            self.error("ivoagen::ivoa::uws", node.span, format!("`x-ivoa-uws` names operation `{parameters}`, which does not exist"));
            return None;
        };
        let mut found = false;
        for op in operations.iter_mut() {
            if op.path == jobs || op.path.starts_with(&format!("{jobs}/")) {
                op.uws = true;
                found = true;
            }
        }
        if !found {
            self.error("ivoagen::ivoa::uws", node.span, format!("`x-ivoa-uws` names the job list `{jobs}`, which is not a path of the document"));
            return None;
        }
        let standard_id = node.get("standard-id").and_then(Node::as_str).map(str::to_owned);
        Some(Uws { jobs, operation, standard_id })
    }

    // ---- Schemas -------------------------------------------------------------------------

    fn types_of(&mut self, node: &Node) -> Types {
        let mut names = Vec::new();
        let mut nullable = node.get("nullable").and_then(Node::as_bool).unwrap_or(false);
        let declared: Vec<&Node> = match node.get("type") {
            Some(n) if n.as_str().is_some() => vec![n],
            Some(n) => n.items().iter().collect(),
            None => Vec::new(),
        };
        for n in declared {
            match n.as_str() {
                Some("null") => nullable = true,
                Some(t) if TYPES.contains(&t) => names.push(t.to_owned()),
                other => {
                    let shown = other.map_or_else(|| format!("{:?}", n.to_json()), str::to_owned);
                    let best = TYPES.iter().min_by_key(|t| edit_distance(t, &shown)).copied().unwrap_or("string");
                    self.error("ivoagen::lower::unknown-type", n.span, format!("unknown type `{shown}`"))
                        .set_help(format!("did you mean `{best}`? JSON Schema types are: {}", TYPES.join(", ")));
                }
            }
        }
        if node.get("const").is_some_and(|c| c.value == Value::Null) {
            nullable = true;
        }
        Types { names, nullable }
    }

    /// Whether a schema (after references) becomes a named type.
    fn is_named_kind(&self, file: FileId, node: &Node) -> bool {
        let (_, node, _) = self.doc.resolve(file, node);
        if node.get("properties").is_some() || node.get("prefixItems").is_some() {
            return true;
        }
        if let Some(all) = node.get("allOf") {
            return all.items().len() > 1 || node.get("properties").is_some();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(items) = node.get(key) {
                let non_null = items.items().iter().filter(|i| !is_null_schema(i)).count();
                return non_null > 1;
            }
        }
        if let Some(values) = node.get("enum") {
            return !values.items().is_empty() && values.items().iter().all(|v| v.as_str().is_some() || v.value == Value::Null);
        }
        false
    }

    /// Lowers a schema to a type reference and the constraints Rust cannot express.
    ///
    /// A chain of references (`A: {$ref: B}`, `B: {$ref: C}`, …) is walked in a loop, however long;
    /// schemas nested in schemas (through properties, items, named types) recurse, at most
    /// [`MAX_SCHEMA_NESTING`] deep.
    fn schema(&mut self, file: FileId, node: &Node, hint: &str) -> (Ty, Constraints) {
        if self.nesting >= MAX_SCHEMA_NESTING {
            if !self.too_deep {
                self.too_deep = true;
                self.error("ivoagen::lower::too-deep", node.span, format!("schemas nest more than {MAX_SCHEMA_NESTING} deep here"))
                    .set_label("too deep")
                    .set_help("a schema that contains a schema that contains a schema … this deep is refused; flatten the chain");
            }
            return (Ty::Json, Constraints::default());
        }
        self.nesting += 1;
        let lowered = self.schema_through_refs(file, node, hint);
        self.nesting -= 1;
        lowered
    }

    fn schema_through_refs(&mut self, file: FileId, node: &Node, hint: &str) -> (Ty, Constraints) {
        // The references followed so far, each with its target, the node it leads to and whether
        // it was nullable (OpenAPI 3.0 style `nullable` next to a `$ref`).
        let mut hops: Vec<(Target, &Node, bool)> = Vec::new();
        let (mut file, mut node) = (file, node);
        let mut lowered = loop {
            let Some(reference) = node.reference() else { break self.schema_value(file, node, hint) };
            let wrap = |ty: Ty| if node.get("nullable").and_then(Node::as_bool).unwrap_or(false) { Ty::Option(Box::new(ty)) } else { ty };
            let Some(target) = self.doc.target(file, reference) else { break (Ty::Json, Constraints::default()) };
            let Some(resolved) = self.doc.node(&target) else { break (Ty::Json, Constraints::default()) };
            if let Some(&id) = self.by_target.get(&target) {
                break (wrap(Ty::Named(id)), Constraints::default());
            }
            if self.is_named_kind(target.file, resolved) {
                let name = target.pointer.last().cloned().unwrap_or_else(|| hint.to_owned());
                let id = self.named_type(target.file, resolved, Some(target), &name);
                break (wrap(Ty::Named(id)), Constraints::default());
            }
            if self.inline_stack.contains(&target) {
                // A schema that contains itself only through arrays or maps: give it a name.
                let name = target.pointer.last().cloned().unwrap_or_else(|| hint.to_owned());
                let id = self.reserve(&name, &target.display(self.doc), resolved.span);
                self.by_target.insert(target.clone(), id);
                break (wrap(Ty::Named(id)), Constraints::default());
            }
            self.inline_stack.insert(target.clone());
            let nullable = node.get("nullable").and_then(Node::as_bool).unwrap_or(false);
            hops.push((target.clone(), resolved, nullable));
            file = target.file;
            node = resolved;
        };
        // Back along the chain, innermost first.
        while let Some((target, resolved, nullable)) = hops.pop() {
            self.inline_stack.remove(&target);
            let wrap = |ty: Ty| if nullable { Ty::Option(Box::new(ty)) } else { ty };
            // A self-reference found on the way was given a name: that name is now this schema.
            lowered = if let Some(&id) = self.by_target.get(&target) {
                if self.types[id.0].is_none() {
                    self.fill(id, resolved, TypeKind::Newtype(lowered.0));
                }
                (wrap(Ty::Named(id)), Constraints::default())
            } else {
                (wrap(lowered.0), lowered.1)
            };
        }
        lowered
    }

    /// [`Self::schema`] of a schema that is not a reference.
    fn schema_value(&mut self, file: FileId, node: &Node, hint: &str) -> (Ty, Constraints) {
        if let Some(xtype) = node.get("x-ivoa-xtype") {
            let kind = xtype.as_str().and_then(|x| DaliType::ALL.iter().find(|(name, _)| name.eq_ignore_ascii_case(x)));
            let Some((_, kind)) = kind else {
                let known: Vec<&str> = DaliType::ALL.iter().map(|(n, _)| *n).collect();
                self.error("ivoagen::ivoa::xtype", xtype.span, "unknown `x-ivoa-xtype`").set_help(format!("use one of: {}", known.join(", ")));
                return (Ty::String, Constraints::default());
            };
            let ty = Ty::Dali(*kind);
            return (if self.types_of(node).nullable { Ty::Option(Box::new(ty)) } else { ty }, Constraints::default());
        }
        if self.is_named_kind(file, node) {
            let nullable = self.types_of(node).nullable || has_null_alternative(node);
            let id = self.named_type(file, node, None, hint);
            let ty = Ty::Named(id);
            return (if nullable { Ty::Option(Box::new(ty)) } else { ty }, Constraints::default());
        }
        let types = self.types_of(node);
        let mut constraints = self.constraints(node);
        let ty = self.unnamed(file, node, &types, hint, &mut constraints);
        (if types.nullable && ty != Ty::Json { Ty::Option(Box::new(ty)) } else { ty }, constraints)
    }

    fn unnamed(&mut self, file: FileId, node: &Node, types: &Types, hint: &str, constraints: &mut Constraints) -> Ty {
        // `allOf: [X]`, `oneOf: [X, null]`: a single alternative is that alternative.
        for key in ["allOf", "oneOf", "anyOf"] {
            if let Some(items) = node.get(key) {
                let non_null: Vec<&Node> = items.items().iter().filter(|i| !is_null_schema(i)).collect();
                if let [only] = non_null.as_slice() {
                    let (ty, inner) = self.schema(file, only, hint);
                    merge_constraints(constraints, inner);
                    return if key != "allOf" && non_null.len() < items.items().len() { Ty::Option(Box::new(ty)) } else { ty };
                }
            }
        }
        let kind = match types.names.as_slice() {
            [] => infer_type(node),
            [one] => Some(one.as_str()),
            _ => {
                self.warn("ivoagen::lower::multi-type", node.span, format!("a value of several types ({}) is kept as JSON", types.names.join(", ")))
                    .set_help("the Rust field is a `serde_json::Value`");
                return Ty::Json;
            }
        };
        let format = node.get("format").and_then(Node::as_str);
        match kind {
            Some("boolean") => Ty::Bool,
            Some("integer") => match format {
                Some("int32") => Ty::I32,
                _ => Ty::I64,
            },
            Some("number") => match format {
                Some("float") => Ty::F32,
                Some("int32") => Ty::I32,
                Some("int64") => Ty::I64,
                _ => Ty::F64,
            },
            Some("string") => match format {
                Some("date") => Ty::Date,
                Some("date-time") => Ty::DateTime,
                Some("uuid") => Ty::Uuid,
                Some("binary") => Ty::Binary,
                _ => Ty::String,
            },
            Some("array") => {
                let (item, item_constraints) = match node.get("items") {
                    Some(items) if items.is_map() => self.schema(file, items, &format!("{hint}Item")),
                    _ => (Ty::Json, Constraints::default()),
                };
                if !item_constraints.is_empty() {
                    constraints.items = Some(Box::new(item_constraints));
                }
                Ty::Vec(Box::new(item))
            }
            Some("object") => match node.get("additionalProperties") {
                Some(schema) if schema.is_map() => {
                    let (value, _) = self.schema(file, schema, &format!("{hint}Value"));
                    Ty::Map(Box::new(value))
                }
                _ => Ty::Map(Box::new(Ty::Json)),
            },
            _ => Ty::Json,
        }
    }

    fn constraints(&mut self, node: &Node) -> Constraints {
        let num = |k: &str| node.get(k).and_then(Node::as_f64);
        let count = |k: &str| node.get(k).and_then(Node::as_u64);
        let mut c = Constraints::default();
        // 3.0 writes `exclusiveMinimum: true` next to `minimum`; 3.1 gives the bound itself.
        let flag = |k: &str| node.get(k).and_then(Node::as_bool).unwrap_or(false);
        c.minimum = match (num("minimum"), num("exclusiveMinimum")) {
            (Some(m), Some(e)) => Some(if e >= m { (e, true) } else { (m, false) }),
            (Some(m), None) => Some((m, flag("exclusiveMinimum"))),
            (None, Some(e)) => Some((e, true)),
            (None, None) => None,
        };
        c.maximum = match (num("maximum"), num("exclusiveMaximum")) {
            (Some(m), Some(e)) => Some(if e <= m { (e, true) } else { (m, false) }),
            (Some(m), None) => Some((m, flag("exclusiveMaximum"))),
            (None, Some(e)) => Some((e, true)),
            (None, None) => None,
        };
        c.multiple_of = num("multipleOf").filter(|f| *f > 0.0);
        c.min_length = count("minLength").filter(|&n| n > 0);
        c.max_length = count("maxLength");
        c.min_items = count("minItems").filter(|&n| n > 0);
        c.max_items = count("maxItems");
        c.unique_items = node.get("uniqueItems").and_then(Node::as_bool).unwrap_or(false);
        if count("minProperties").is_some() || count("maxProperties").is_some() {
            c.properties = Some((count("minProperties"), count("maxProperties")));
        }
        if let Some(pattern) = node.get("pattern") {
            match pattern.as_str().map(regex::Regex::new) {
                Some(Ok(_)) => c.pattern = pattern.as_str().map(str::to_owned),
                Some(Err(e)) => {
                    let first = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
                    self.warn("ivoagen::lower::pattern", pattern.span, format!("this pattern cannot be checked: {first}"))
                        .set_label("not enforced")
                        .set_help("the `regex` crate has no look-around or back-references; the value is accepted without this check");
                }
                None => {}
            }
        }
        if let Some(value) = node.get("const").filter(|c| c.value != Value::Null) {
            c.constant = Some(value.to_json());
        }
        if let Some(values) = node.get("enum") {
            let all_strings = values.items().iter().all(|v| v.as_str().is_some() || v.value == Value::Null);
            if !all_strings || !values.items().iter().any(|v| v.as_str().is_some()) {
                let allowed: Vec<_> = values.items().iter().filter(|v| v.value != Value::Null).map(Node::to_json).collect();
                if !allowed.is_empty() {
                    c.one_of = Some(allowed);
                }
            }
        }
        c
    }

    fn reserve(&mut self, hint: &str, api_name: &str, span: Span) -> TypeId {
        let wanted = type_name(hint);
        let name = unique(wanted.clone(), &mut self.type_names);
        if CONSTRUCTORS.contains(&wanted.as_str()) {
            self.warn("ivoagen::lower::type-name", span, format!("schema `{hint}` is the Rust type `{name}`: `{wanted}` is a constructor of Rust's prelude, which generated code calls"))
                .set_label(format!("renamed to `{name}`"))
                .set_help("rename the schema to choose its Rust name");
        }
        self.types.push(None);
        let id = TypeId(self.types.len() - 1);
        self.pending_names.insert(id, (name, api_name.to_owned(), span));
        id
    }

    fn fill(&mut self, id: TypeId, node: &Node, kind: TypeKind) {
        let (name, api_name, span) = self.pending_names.remove(&id).expect("reserved before being filled");
        self.types[id.0] = Some(TypeDef { name, api_name, doc: doc_text(node), kind, span, xml: node.get("xml").map(xml_object) });
    }

    fn named_type(&mut self, file: FileId, node: &Node, target: Option<Target>, hint: &str) -> TypeId {
        if let Some(id) = target.as_ref().and_then(|t| self.by_target.get(t)) {
            return *id;
        }
        let api_name = target.as_ref().map_or_else(|| hint.to_owned(), |t| t.display(self.doc));
        let id = self.reserve(hint, &api_name, node.span);
        if let Some(target) = target {
            self.by_target.insert(target, id);
        }
        let name = self.pending_names[&id].0.clone();
        let kind = self.named_kind(file, node, &name, id);
        self.fill(id, node, kind);
        id
    }

    fn named_kind(&mut self, file: FileId, node: &Node, name: &str, id: TypeId) -> TypeKind {
        if let Some(values) = node.get("enum") {
            if node.get("properties").is_none() {
                let mut taken = BTreeSet::new();
                let variants = values
                    .items()
                    .iter()
                    .filter_map(Node::as_str)
                    .map(|v| Variant { name: unique(type_name(v), &mut taken), api_name: v.to_owned() })
                    .collect();
                return TypeKind::StringEnum { variants };
            }
        }
        if let Some(items) = node.get("prefixItems") {
            let tys = items
                .items()
                .iter()
                .enumerate()
                .map(|(i, item)| self.schema(file, item, &format!("{name}{i}")).0)
                .collect();
            return TypeKind::Tuple(tys);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(items) = node.get(key) {
                if node.get("properties").is_none() {
                    return self.union(file, node, items, name);
                }
            }
        }
        // An object, possibly merged from `allOf`.
        let mut fields = Vec::new();
        let mut required = BTreeSet::new();
        let mut additional = None;
        let mut deny_unknown = false;
        self.collect_object(file, node, name, id, &mut fields, &mut required, &mut additional, &mut deny_unknown, 0);
        for field in &mut fields {
            field.required = required.contains(&field.api_name);
            if !field.required && !matches!(field.ty, Ty::Option(_)) {
                field.ty = Ty::Option(Box::new(std::mem::replace(&mut field.ty, Ty::Json)));
            }
        }
        TypeKind::Struct { fields, additional, deny_unknown }
    }

    #[allow(clippy::too_many_arguments)]
    fn collect_object(
        &mut self,
        file: FileId,
        node: &Node,
        name: &str,
        id: TypeId,
        fields: &mut Vec<Field>,
        required: &mut BTreeSet<String>,
        additional: &mut Option<Ty>,
        deny_unknown: &mut bool,
        depth: usize,
    ) {
        let (file, node, _) = self.doc.resolve(file, node);
        if depth > 32 {
            self.error("ivoagen::lower::allof-cycle", node.span, "`allOf` includes itself");
            return;
        }
        for r in node.get("required").map(Node::items).unwrap_or_default() {
            if let Some(r) = r.as_str() {
                required.insert(r.to_owned());
            }
        }
        let mut taken: BTreeSet<String> = fields.iter().map(|f| f.name.clone()).collect();
        for (key, prop) in node.get("properties").map(Node::entries).unwrap_or_default() {
            if fields.iter().any(|f| f.api_name == key.name) {
                continue;
            }
            let (ty, constraints) = self.schema(file, prop, &format!("{name}{}", type_name(&key.name)));
            let (_, resolved, _) = self.doc.resolve(file, prop);
            let doc = doc_text(prop).or_else(|| doc_text(resolved));
            self.field_spans.insert((id.0, key.name.clone()), key.span);
            fields.push(Field {
                name: unique(field_name(&key.name), &mut taken),
                api_name: key.name.clone(),
                ty,
                required: false,
                boxed: false,
                constraints,
                doc,
                xml: prop.get("xml").map(xml_object).unwrap_or_default(),
            });
        }
        match node.get("additionalProperties") {
            Some(n) if n.as_bool() == Some(false) => *deny_unknown = true,
            Some(n) if n.is_map() => {
                let (ty, _) = self.schema(file, n, &format!("{name}Value"));
                *additional = Some(ty);
            }
            _ => {}
        }
        for part in node.get("allOf").map(Node::items).unwrap_or_default() {
            let (pfile, pnode, _) = self.doc.resolve(file, part);
            if pnode.get("oneOf").is_some() || pnode.get("anyOf").is_some() {
                self.warn("ivoagen::lower::allof-union", part.span, "a union inside `allOf` is not merged")
                    .set_help("its properties are not part of the generated struct");
                continue;
            }
            // Nested `allOf`s recurse too: they count toward the nesting limit.
            if self.nesting >= MAX_SCHEMA_NESTING {
                if !self.too_deep {
                    self.too_deep = true;
                    self.error("ivoagen::lower::too-deep", part.span, format!("schemas nest more than {MAX_SCHEMA_NESTING} deep here"))
                        .set_label("too deep")
                        .set_help("a schema that contains a schema that contains a schema … this deep is refused; flatten the chain");
                }
                continue;
            }
            self.nesting += 1;
            self.collect_object(pfile, pnode, name, id, fields, required, additional, deny_unknown, depth + 1);
            self.nesting -= 1;
        }
    }

    fn union(&mut self, file: FileId, node: &Node, items: &Node, name: &str) -> TypeKind {
        let discriminator = node.get("discriminator");
        let property = discriminator.and_then(|d| d.get("propertyName")).and_then(Node::as_str).map(str::to_owned);
        let mapping: Vec<(String, Option<Target>)> = discriminator
            .and_then(|d| d.get("mapping"))
            .map(|m| m.entries().iter().map(|(k, v)| (k.name.clone(), v.as_str().and_then(|r| self.mapping_target(file, r)))).collect())
            .unwrap_or_default();
        let mut taken = BTreeSet::new();
        let mut variants = Vec::new();
        for (i, item) in items.items().iter().enumerate() {
            if is_null_schema(item) {
                continue;
            }
            let target = item.reference().and_then(|r| self.doc.target(file, r));
            let (ty, _) = self.schema(file, item, &format!("{name}Variant{i}"));
            let base = match (&target, &ty) {
                (Some(t), _) => type_name(t.pointer.last().map_or("Variant", String::as_str)),
                (None, Ty::Named(id)) => self.type_name_of(*id),
                (None, other) => ty_word(other).to_owned(),
            };
            let tag = property.as_ref().and_then(|_| {
                let mapped = mapping.iter().find(|(_, t)| t.is_some() && *t == target).map(|(k, _)| k.clone());
                mapped.or_else(|| target.as_ref().and_then(|t| t.pointer.last().cloned()))
            });
            variants.push(UnionVariant { name: unique(base, &mut taken), ty, tag });
        }
        let discriminator = match property {
            Some(p) if variants.iter().all(|v| v.tag.is_some()) => Some(p),
            Some(_) => {
                let span = node.key_span("discriminator").unwrap_or(node.span);
                self.warn("ivoagen::lower::discriminator", span, "the discriminator cannot name every alternative")
                    .set_help("alternatives are told apart by trying each in turn (an untagged enum)");
                None
            }
            None => None,
        };
        TypeKind::Union { variants, discriminator }
    }

    fn mapping_target(&self, file: FileId, value: &str) -> Option<Target> {
        if value.contains('#') || value.contains('/') {
            self.doc.target(file, value)
        } else {
            Some(Target { file: FileId::ROOT, pointer: vec!["components".into(), "schemas".into(), value.to_owned()] })
        }
    }

    fn type_name_of(&self, id: TypeId) -> String {
        match &self.types[id.0] {
            Some(def) => def.name.clone(),
            None => self.pending_names.get(&id).map(|p| p.0.clone()).unwrap_or_default(),
        }
    }

    /// A cycle of required, non-nullable properties describes a value that cannot exist.
    fn check_required_cycles(&mut self, api: &Api) {
        let edges = |id: usize| -> Vec<(usize, String)> {
            match &api.types[id].kind {
                TypeKind::Struct { fields, .. } => fields
                    .iter()
                    .filter_map(|f| match &f.ty {
                        Ty::Named(t) if f.required => Some((t.0, f.api_name.clone())),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        // A path back to `start` stays inside its strongly connected component: only types on a
        // cycle are searched from, and only through their component (linear for a long chain).
        let all_edges: Vec<Vec<usize>> = (0..api.types.len()).map(|id| edges(id).into_iter().map(|(t, _)| t).collect()).collect();
        let component = strongly_connected(&all_edges);
        let mut sizes = vec![0usize; api.types.len()];
        for &c in &component {
            sizes[c] += 1;
        }
        let mut reported = BTreeSet::new();
        let mut members_reported = BTreeSet::new();
        for start in 0..api.types.len() {
            let on_cycle = all_edges[start].contains(&start) || sizes[component[start]] > 1;
            if !on_cycle || members_reported.contains(&start) {
                continue;
            }
            // Depth-first search for a path back to `start`.
            let mut stack = vec![(start, Vec::<(usize, String)>::new())];
            let mut seen = BTreeSet::new();
            while let Some((at, path)) = stack.pop() {
                for (next, field) in edges(at) {
                    if component[next] != component[start] {
                        continue;
                    }
                    let mut path = path.clone();
                    path.push((at, field));
                    if next == start {
                        let members: BTreeSet<usize> = path.iter().map(|(t, _)| *t).collect();
                        if reported.insert(members.clone()) {
                            members_reported.extend(members);
                            let (t, f) = &path[0];
                            let span = self.field_spans.get(&(*t, f.clone())).copied().unwrap_or(api.types[*t].span);
                            let chain: Vec<String> = path.iter().map(|(t, f)| format!("{}.{f}", api.types[*t].name)).collect();
                            self.error(
                                "ivoagen::lower::required-cycle",
                                span,
                                format!("required properties form a cycle ({} → {}), so no finite value is valid", chain.join(" → "), api.types[start].name),
                            )
                            .set_label("required here")
                            .set_help("make one property of the cycle optional or nullable");
                        }
                    } else if seen.insert(next) {
                        stack.push((next, path));
                    }
                }
            }
        }
    }

    // ---- Operations ---------------------------------------------------------------------

    fn operations(&mut self) -> Vec<Operation> {
        let root = self.doc.root();
        let mut ops = Vec::new();
        let mut ids: BTreeMap<String, Span> = BTreeMap::new();
        let mut routes: BTreeMap<String, String> = BTreeMap::new();
        // What each operation is decides which names it needs (see `naming::Namer`); `uws` and
        // `operation_security` check these keys later.
        let uws = root.get("x-ivoa-uws");
        let uws_jobs = uws.and_then(|u| u.get("jobs")).and_then(Node::as_str).map(|j| j.trim_end_matches('/').to_owned());
        let uws_parameters = uws.and_then(|u| u.get("parameters")).and_then(Node::as_str);
        let secured = !self.schemes.is_empty();
        let mut namer = Namer::new();
        for (path_key, item) in root.get("paths").map(Node::entries).unwrap_or_default() {
            let (file, item, _) = self.doc.resolve(FileId::ROOT, item);
            let path = path_key.name.clone();
            if !path.starts_with('/') {
                self.error("ivoagen::lower::path", path_key.span, format!("path `{path}` does not start with `/`"));
                continue;
            }
            if path.split('/').any(|seg| seg.contains('{') && !(seg.starts_with('{') && seg.ends_with('}') && seg.matches('{').count() == 1)) {
                self.error("ivoagen::lower::path", path_key.span, format!("path `{path}` mixes a parameter with text in one segment"))
                    .set_help("each path parameter must fill a whole segment, as in `/files/{name}`");
                continue;
            }
            let shape = normalize_path(&path);
            let route = routes.entry(shape).or_insert_with(|| path.clone()).clone();
            let shared: Vec<&Node> = item.get("parameters").map(Node::items).unwrap_or_default().iter().collect();
            for (method_key, op_node) in item.entries() {
                let method = method_key.name.as_str();
                if !METHODS.contains(&method) {
                    continue;
                }
                let api_name = match op_node.get("operationId").and_then(Node::as_str) {
                    Some(id) => {
                        let span = op_node.get("operationId").map_or(op_node.span, |n| n.span);
                        if let Some(first) = ids.get(id) {
                            let first = self.doc.sources.location(*first);
                            self.error("ivoagen::lower::duplicate-operation-id", span, format!("operationId `{id}` is used twice"))
                                .set_label("second use")
                                .set_help(format!("first used at {first}; operationIds must be unique"));
                            continue;
                        }
                        ids.insert(id.to_owned(), span);
                        id.to_owned()
                    }
                    None => format!("{method} {path}"),
                };
                let in_jobs = uws_jobs.as_ref().is_some_and(|j| path == *j || path.starts_with(&format!("{j}/")));
                let roles = Roles {
                    served: !in_jobs && op_node.get("x-ivoa-vosi").is_none(),
                    routed: !in_jobs,
                    job: uws_parameters == Some(api_name.as_str()),
                    secured,
                };
                let (names, renamed) = namer.operation(&api_name, roles);
                if let Some(Renamed { wanted, taken, by }) = renamed {
                    let span = op_node.get("operationId").map_or(method_key.span, |n| n.span);
                    let why = if taken == wanted { format!("`{wanted}` is {by}") } else { format!("`{taken}`, which it would need, is {by}") };
                    self.warn("ivoagen::lower::operation-name", span, format!("operation `{api_name}` is named `{}` in Rust: {why}", names.method))
                        .set_label(format!("renamed to `{}`", names.method))
                        .set_help("names are decided in document order; a name that is taken gets the first free suffix `_2`, `_3`, …; choose another operationId to pick the name yourself");
                }
                let op = self.operation(file, op_node, item, &shared, method, &path, &route, api_name, names);
                ops.push(op);
            }
        }
        ops
    }

    #[allow(clippy::too_many_arguments)]
    fn operation(
        &mut self,
        file: FileId,
        node: &Node,
        item: &Node,
        shared: &[&Node],
        method: &str,
        path: &str,
        route: &str,
        api_name: String,
        names: OperationNames,
    ) -> Operation {
        let type_name = names.type_name.clone();
        let mut params = Vec::new();
        // Fields of the request struct, and variables of the request helper, that a parameter
        // must not take (`raw` holds the parameters read so far).
        let mut taken: BTreeSet<String> = ["body", "base_url", "raw", "parts"].map(str::to_owned).into();
        let own: Vec<&Node> = node.get("parameters").map(Node::items).unwrap_or_default().iter().collect();
        let mut declared: Vec<(FileId, &Node)> = Vec::new();
        for p in own.iter().chain(shared.iter()) {
            let (pfile, pnode, _) = self.doc.resolve(file, p);
            let key = (pnode.get("name").and_then(Node::as_str), pnode.get("in").and_then(Node::as_str));
            let seen = declared.iter().any(|(_, d)| (d.get("name").and_then(Node::as_str), d.get("in").and_then(Node::as_str)) == key);
            if !seen {
                declared.push((pfile, pnode));
            }
        }
        // Path parameters first, in template order, then the rest in declaration order.
        let template: Vec<String> = path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(str::to_owned)).collect();
        for (pfile, pnode) in &declared {
            if let Some(param) = self.param(*pfile, pnode, &type_name, &mut taken) {
                if param.location == Location::Path && !template.contains(&param.api_name) {
                    self.error("ivoagen::lower::path-param", pnode.span, format!("path parameter `{}` is not in the path `{path}`", param.api_name))
                        .set_help("declare it `in: query`, or add it to the path");
                    continue;
                }
                params.push(param);
            }
        }
        for t in &template {
            if !params.iter().any(|p| p.location == Location::Path && &p.api_name == t) {
                self.warn("ivoagen::lower::path-param", node.span, format!("path parameter `{t}` is not declared; it is taken as a string"));
                params.push(Param {
                    api_name: t.clone(),
                    name: unique(field_name(t), &mut taken),
                    location: Location::Path,
                    required: true,
                    shape: ParamShape::Scalar,
                    ty: Ty::String,
                    constraints: Constraints::default(),
                    doc: None,
                    example: None,
                    span: node.span,
                });
            }
        }
        params.sort_by_key(|p| (p.location != Location::Path, template.iter().position(|t| *t == p.api_name)));
        let body = node.get("requestBody").and_then(|b| self.request_body(file, b, &type_name));
        let responses = self.responses(file, node, &type_name);
        let ivoa = self.ivoa_settings(node, item);
        let security = match node.get("security") {
            Some(own) => self.security(Some(own)),
            None => self.document_security.clone(),
        };
        Operation {
            case_insensitive: ivoa.case_insensitive,
            dali_sync: ivoa.dali_sync,
            base_url: ivoa.base_url,
            security,
            error_format: ivoa.error_format,
            standard_id: ivoa.standard_id,
            vosi: ivoa.vosi,
            uws: false,
            api_name,
            name: names.method,
            type_name,
            request_type: names.request,
            response_type: names.response,
            job_method: names.job,
            extractor: names.extractor,
            schemes_const: names.schemes,
            gate: names.gate,
            method: method.to_owned(),
            path: path.to_owned(),
            route: route.to_owned(),
            doc: doc_text(node),
            params,
            body,
            responses,
            span: node.span,
        }
    }

    /// The `x-ivoa-*` settings of an operation; the operation's own keys win over its path
    /// item's, which win over the document's.
    fn ivoa_settings(&mut self, op: &Node, item: &Node) -> IvoaSettings {
        let root = self.doc.root();
        let setting = |key: &str| op.get(key).or_else(|| item.get(key)).or_else(|| root.get(key)).cloned();
        let case_insensitive = setting("x-ivoa-case-insensitive").and_then(|n| n.as_bool()).unwrap_or(false);
        let error_format = match setting("x-ivoa-error-format") {
            None => ErrorFormat::Json,
            Some(n) => match n.as_str() {
                Some("json") => ErrorFormat::Json,
                Some("soda-text") => ErrorFormat::SodaText,
                Some("dali-votable") => ErrorFormat::DaliVotable,
                _ => {
                    self.error("ivoagen::ivoa::error-format", n.span, "unknown `x-ivoa-error-format`")
                        .set_help("use one of: json, soda-text, dali-votable");
                    ErrorFormat::Json
                }
            },
        };
        let vosi = match op.get("x-ivoa-vosi") {
            None => None,
            Some(n) => match n.as_str() {
                Some("capabilities") => Some(Vosi::Capabilities),
                Some("availability") => Some(Vosi::Availability),
                _ => {
                    self.error("ivoagen::ivoa::vosi", n.span, "unknown `x-ivoa-vosi`").set_help("use one of: capabilities, availability");
                    None
                }
            },
        };
        IvoaSettings {
            case_insensitive,
            dali_sync: op.get("x-ivoa-sync").and_then(Node::as_bool).unwrap_or(false),
            base_url: op.get("x-ivoa-base-url").and_then(Node::as_bool).unwrap_or(false),
            error_format,
            standard_id: op.get("x-ivoa-standard-id").and_then(Node::as_str).map(str::to_owned),
            vosi,
        }
    }

    fn param(&mut self, file: FileId, node: &Node, op_type: &str, taken: &mut BTreeSet<String>) -> Option<Param> {
        let api_name = node.get("name").and_then(Node::as_str)?.to_owned();
        let location = match node.get("in").and_then(Node::as_str) {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            Some("cookie") => Location::Cookie,
            other => {
                let span = node.get("in").map_or(node.span, |n| n.span);
                self.error("ivoagen::lower::param-in", span, format!("parameter `{api_name}` has no valid `in` ({})", other.unwrap_or("missing")))
                    .set_help("`in` is one of path, query, header, cookie");
                return None;
            }
        };
        if location == Location::Header && ["accept", "content-type", "authorization"].contains(&api_name.to_ascii_lowercase().as_str()) {
            // OpenAPI: these header parameters are ignored; HTTP itself handles them.
            return None;
        }
        let required = location == Location::Path || node.get("required").and_then(Node::as_bool).unwrap_or(false);
        let hint = format!("{op_type}{}", type_name(&api_name));
        let (schema_file, schema_node, json_content) = match (node.get("schema"), node.get("content")) {
            (Some(s), _) => (file, Some(s), false),
            (None, Some(content)) => (file, content.entries().first().and_then(|(_, m)| m.get("schema")), true),
            (None, None) => (file, None, false),
        };
        let (ty, constraints) = match schema_node {
            Some(s) => self.schema(schema_file, s, &hint),
            None => (Ty::String, Constraints::default()),
        };
        let ty = match ty {
            Ty::Option(inner) => *inner,
            other => other,
        };
        // `x-ivoa-xtype` on the parameter itself (as `ivoagen augment` writes it): the type of the
        // value, or of each value of an array parameter (whose item and count checks stay).
        let (ty, constraints) = match node.get("x-ivoa-xtype") {
            Some(xtype) => match xtype.as_str().and_then(|x| DaliType::ALL.iter().find(|(n, _)| n.eq_ignore_ascii_case(x))) {
                Some((_, kind)) if matches!(ty, Ty::Vec(_)) => {
                    let Constraints { min_items, max_items, unique_items, .. } = constraints;
                    (Ty::Vec(Box::new(Ty::Dali(*kind))), Constraints { min_items, max_items, unique_items, ..Constraints::default() })
                }
                Some((_, kind)) => (Ty::Dali(*kind), Constraints::default()),
                None => {
                    let known: Vec<&str> = DaliType::ALL.iter().map(|(n, _)| *n).collect();
                    self.error("ivoagen::ivoa::xtype", xtype.span, "unknown `x-ivoa-xtype`").set_help(format!("use one of: {}", known.join(", ")));
                    (ty, constraints)
                }
            },
            None => (ty, constraints),
        };
        let style = node.get("style").and_then(Node::as_str);
        let explode = node.get("explode").and_then(Node::as_bool).unwrap_or(matches!(location, Location::Query | Location::Cookie) && style.is_none_or(|s| s == "form"));
        let shape = if json_content {
            ParamShape::Json
        } else {
            match &ty {
                Ty::Vec(item) if is_scalar(item, &self.types) => ParamShape::Array(match style {
                    Some("spaceDelimited") => ArrayStyle::Space,
                    Some("pipeDelimited") => ArrayStyle::Pipe,
                    _ if explode && location == Location::Query => ArrayStyle::Exploded,
                    _ if explode && location == Location::Cookie => ArrayStyle::Exploded,
                    _ => ArrayStyle::Comma,
                }),
                Ty::Named(id) if self.is_flat_struct(*id) && location == Location::Query && (style == Some("deepObject") || explode) => {
                    ParamShape::Object(if style == Some("deepObject") { ObjectStyle::Deep } else { ObjectStyle::Exploded })
                }
                t if is_scalar(t, &self.types) => ParamShape::Scalar,
                _ => {
                    self.warn("ivoagen::lower::param-style", node.span, format!("parameter `{api_name}` of this shape is read as JSON"))
                        .set_help("supported: scalars, arrays of scalars, and objects of scalars in query (form or deepObject)");
                    ParamShape::Json
                }
            }
        };
        let mut examples = Vec::new();
        if let Some(e) = node.get("example") {
            examples.push(e.to_json());
        }
        for (_, e) in node.get("examples").map(Node::entries).unwrap_or_default() {
            let (_, e, _) = self.doc.resolve(file, e);
            if let Some(v) = e.get("value") {
                examples.push(v.to_json());
            }
        }
        if let Some(s) = schema_node {
            examples.extend(schema_examples(self.doc, schema_file, s));
        }
        Some(Param {
            name: unique(field_name(&api_name), taken),
            api_name,
            location,
            required,
            shape,
            ty,
            constraints,
            doc: doc_text(node),
            example: examples.into_iter().next(),
            span: node.span,
        })
    }

    fn is_flat_struct(&self, id: TypeId) -> bool {
        match self.types.get(id.0).and_then(Option::as_ref).map(|t| &t.kind) {
            Some(TypeKind::Struct { fields, additional: None, .. }) => {
                fields.iter().all(|f| is_scalar(f.ty.unwrap_option(), &self.types))
            }
            _ => false,
        }
    }

    fn request_body(&mut self, file: FileId, node: &Node, op_type: &str) -> Option<RequestBody> {
        let (file, node, _) = self.doc.resolve(file, node);
        let required = node.get("required").and_then(Node::as_bool).unwrap_or(false);
        let content = node.get("content")?;
        let hint = format!("{op_type}Body");
        let mut encodings = Vec::new();
        let mut ty = None;
        let mut example = None;
        for (media, media_node) in content.entries() {
            let media_type = media.name.to_ascii_lowercase();
            let essence = media_type.split(';').next().unwrap_or_default().trim().to_owned();
            let schema = media_node.get("schema");
            let kind = if is_json(&essence) {
                BodyKind::Json
            } else if essence == "application/x-www-form-urlencoded" {
                BodyKind::Form
            } else if essence.starts_with("multipart/") {
                BodyKind::Multipart
            } else if is_xml(&essence) {
                self.warn("ivoagen::lower::xml-body", media.span, format!("`{essence}` request bodies are passed to the service as bytes"))
                    .set_help("the service parses the XML itself");
                BodyKind::Binary
            } else if essence.starts_with("text/") {
                BodyKind::Text
            } else {
                BodyKind::Binary
            };
            if matches!(kind, BodyKind::Json | BodyKind::Form | BodyKind::Multipart) && ty.is_none() {
                if let Some(schema) = schema {
                    ty = Some(self.schema(file, schema, &hint).0);
                    if example.is_none() {
                        example = media_example(self.doc, file, media_node).or_else(|| schema_examples(self.doc, file, schema).into_iter().next());
                    }
                } else {
                    ty = Some(Ty::Json);
                }
            }
            encodings.push(BodyEncoding { media_type: essence, kind });
        }
        // The body's type comes from its structured encodings; text and bytes otherwise.
        let ty = match ty {
            Some(Ty::Option(inner)) => *inner,
            Some(ty) => ty,
            None if encodings.iter().all(|e| e.kind == BodyKind::Text) => Ty::String,
            None => Ty::Binary,
        };
        if matches!(ty, Ty::String | Ty::Binary) {
            for e in &mut encodings {
                if matches!(e.kind, BodyKind::Json | BodyKind::Form | BodyKind::Multipart) {
                    continue;
                }
                e.kind = if ty == Ty::String { BodyKind::Text } else { BodyKind::Binary };
            }
        } else {
            // Text and bytes cannot become a structured value: only structured encodings stay.
            let dropped: Vec<String> = encodings.iter().filter(|e| matches!(e.kind, BodyKind::Text | BodyKind::Binary)).map(|e| e.media_type.clone()).collect();
            if !dropped.is_empty() {
                let span = content.span;
                self.warn("ivoagen::lower::body-media", span, format!("request bodies of type {} are not accepted, as the body is structured", dropped.join(", ")))
                    .set_help("give them their own operation, or a string/binary schema");
                encodings.retain(|e| !matches!(e.kind, BodyKind::Text | BodyKind::Binary));
            }
        }
        let mut form_fields = Vec::new();
        if encodings.iter().any(|e| matches!(e.kind, BodyKind::Form | BodyKind::Multipart)) {
            match &ty {
                Ty::Named(id) if matches!(self.types[id.0].as_ref().map(|t| &t.kind), Some(TypeKind::Struct { .. })) => {
                    form_fields = self.form_fields(*id);
                }
                _ => {
                    self.warn("ivoagen::lower::form-body", content.span, "form bodies are decoded only into objects; the form encodings are not accepted")
                        .set_help("give the form body an object schema");
                    encodings.retain(|e| !matches!(e.kind, BodyKind::Form | BodyKind::Multipart));
                }
            }
        }
        if encodings.is_empty() {
            return None;
        }
        Some(RequestBody { required, ty, encodings, form_fields, example, doc: doc_text(node) })
    }

    fn form_fields(&self, id: TypeId) -> Vec<Param> {
        let Some(TypeKind::Struct { fields, .. }) = self.types[id.0].as_ref().map(|t| &t.kind) else { return Vec::new() };
        let span = self.types[id.0].as_ref().map_or(Span::start_of(FileId::ROOT), |t| t.span);
        fields
            .iter()
            .map(|f| {
                let ty = f.ty.unwrap_option().clone();
                let shape = match &ty {
                    Ty::Binary => ParamShape::Scalar,
                    Ty::Vec(item) if is_scalar(item, &self.types) => ParamShape::Array(ArrayStyle::Exploded),
                    t if is_scalar(t, &self.types) => ParamShape::Scalar,
                    _ => ParamShape::Json,
                };
                Param {
                    api_name: f.api_name.clone(),
                    name: f.name.clone(),
                    location: Location::Form,
                    required: f.required && !matches!(f.ty, Ty::Option(_)),
                    shape,
                    ty,
                    constraints: f.constraints.clone(),
                    doc: None,
                    example: None,
                    span,
                }
            })
            .collect()
    }

    fn responses(&mut self, file: FileId, node: &Node, op_type: &str) -> Vec<Response> {
        let mut out = Vec::new();
        let mut taken = BTreeSet::new();
        for (key, response) in node.get("responses").map(Node::entries).unwrap_or_default() {
            let status = match key.name.as_str() {
                "default" => Status::Default,
                s if s.len() == 3 && s.ends_with("XX") => match s[..1].parse() {
                    Ok(d) if (1..=5).contains(&d) => Status::Range(d),
                    _ => {
                        self.error("ivoagen::lower::status", key.span, format!("`{s}` is not a status code"));
                        continue;
                    }
                },
                s => match s.parse::<u16>() {
                    Ok(code) if (100..=599).contains(&code) => Status::Code(code),
                    _ => {
                        self.error("ivoagen::lower::status", key.span, format!("`{s}` is not a status code"))
                            .set_help("use a code from 100 to 599, a range such as `4XX`, or `default`");
                        continue;
                    }
                },
            };
            let variant = unique(variant_name(status), &mut taken);
            let (rfile, response, _) = self.doc.resolve(file, response);
            let body = response.get("content").and_then(|content| {
                let entries = content.entries();
                let chosen = entries
                    .iter()
                    .find(|(k, _)| is_json(&k.name.to_ascii_lowercase()))
                    .or_else(|| entries.first())?;
                let media_type = chosen.0.name.clone();
                let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
                let schema = chosen.1.get("schema");
                let hint = format!("{op_type}{variant}Body");
                if is_json(&essence) {
                    let ty = schema.map_or(Ty::Json, |s| self.schema(rfile, s, &hint).0);
                    return Some(ResponseBody { media_type, kind: ResponseKind::Json, ty, xml_root: None });
                }
                if is_xml(&essence) {
                    // A model with an `xml` object is written from it; anything else is the service's text.
                    if let Some(Ty::Named(id)) = schema.map(|s| self.schema(rfile, s, &hint).0) {
                        let def = self.types.get(id.0).and_then(Option::as_ref);
                        if let Some(def) = def.filter(|d| d.xml.is_some() && matches!(d.kind, TypeKind::Struct { .. })) {
                            let xml = def.xml.clone().unwrap_or_default();
                            let local = xml.name.unwrap_or_else(|| def.api_name.rsplit('/').next().unwrap_or_default().to_owned());
                            let root = match xml.prefix {
                                Some(prefix) => format!("{prefix}:{local}"),
                                None => local,
                            };
                            return Some(ResponseBody { media_type, kind: ResponseKind::Xml, ty: Ty::Named(id), xml_root: Some(root) });
                        }
                    }
                }
                let textual = essence.starts_with("text/") || is_xml(&essence);
                let (kind, ty) = if textual { (ResponseKind::Text, Ty::String) } else { (ResponseKind::Binary, Ty::Body) };
                Some(ResponseBody { media_type, kind, ty, xml_root: None })
            });
            let mut header_names = BTreeSet::new();
            let headers = response
                .get("headers")
                .map(Node::entries)
                .unwrap_or_default()
                .iter()
                .filter(|(k, _)| !k.name.eq_ignore_ascii_case("content-type"))
                .map(|(k, h)| {
                    let (hfile, h, _) = self.doc.resolve(rfile, h);
                    let ty = match h.get("schema").map(|s| self.schema(hfile, s, "Header").0) {
                        Some(t) if is_scalar(t.unwrap_option(), &self.types) => t.unwrap_option().clone(),
                        _ => Ty::String,
                    };
                    ResponseHeader {
                        api_name: k.name.to_ascii_lowercase(),
                        name: unique(field_name(&k.name), &mut header_names),
                        required: h.get("required").and_then(Node::as_bool).unwrap_or(false),
                        ty,
                    }
                })
                .collect();
            out.push(Response { status, variant, doc: doc_text(response), body, headers });
        }
        out
    }
}

/// Reads an OpenAPI `xml` object.
fn xml_object(node: &Node) -> Xml {
    let text = |k: &str| node.get(k).and_then(Node::as_str).map(str::to_owned);
    let flag = |k: &str| node.get(k).and_then(Node::as_bool).unwrap_or(false);
    Xml {
        name: text("name"),
        namespace: text("namespace"),
        prefix: text("prefix"),
        attribute: flag("attribute"),
        wrapped: flag("wrapped"),
        text: flag("x-ivoa-text"),
    }
}

/// The `x-ivoa-*` settings of one operation.
struct IvoaSettings {
    case_insensitive: bool,
    dali_sync: bool,
    base_url: bool,
    error_format: ErrorFormat,
    standard_id: Option<String>,
    vosi: Option<Vosi>,
}

fn media_example(doc: &Document, file: FileId, media: &Node) -> Option<serde_json::Value> {
    if let Some(e) = media.get("example") {
        return Some(e.to_json());
    }
    let (_, first) = media.get("examples")?.entries().first()?;
    let (_, e, _) = doc.resolve(file, first);
    e.get("value").map(Node::to_json)
}

fn schema_examples(doc: &Document, file: FileId, schema: &Node) -> Vec<serde_json::Value> {
    let (_, schema, _) = doc.resolve(file, schema);
    let mut out = Vec::new();
    if let Some(e) = schema.get("example") {
        out.push(e.to_json());
    }
    out.extend(schema.get("examples").map(Node::items).unwrap_or_default().iter().map(Node::to_json));
    if let Some(d) = schema.get("default") {
        out.push(d.to_json());
    }
    out
}

fn is_json(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

fn is_xml(essence: &str) -> bool {
    essence == "application/xml" || essence == "text/xml" || essence.ends_with("+xml")
}

fn is_null_schema(node: &Node) -> bool {
    node.get("type").and_then(Node::as_str) == Some("null")
}

fn has_null_alternative(node: &Node) -> bool {
    ["oneOf", "anyOf"].iter().any(|k| node.get(k).is_some_and(|items| items.items().iter().any(is_null_schema)))
}

fn infer_type(node: &Node) -> Option<&'static str> {
    if node.get("properties").is_some() || node.get("additionalProperties").is_some() {
        return Some("object");
    }
    if node.get("items").is_some() {
        return Some("array");
    }
    let value = node.get("const").or_else(|| node.get("enum").and_then(|e| e.items().first()))?;
    match value.value {
        Value::Str(_) => Some("string"),
        Value::Int(_) => Some("integer"),
        Value::Float(_) => Some("number"),
        Value::Bool(_) => Some("boolean"),
        _ => None,
    }
}

fn merge_constraints(into: &mut Constraints, from: Constraints) {
    let defaults = Constraints::default();
    macro_rules! take {
        ($($f:ident),*) => {$( if into.$f == defaults.$f { into.$f = from.$f; } )*};
    }
    take!(minimum, maximum, multiple_of, min_length, max_length, pattern, min_items, max_items, unique_items, properties, constant, one_of, items);
}

/// Whether a value of this type travels as one parameter string.
fn is_scalar(ty: &Ty, types: &[Option<TypeDef>]) -> bool {
    match ty {
        Ty::Bool | Ty::I32 | Ty::I64 | Ty::F32 | Ty::F64 | Ty::String | Ty::Date | Ty::DateTime | Ty::Uuid | Ty::Dali(_) => true,
        Ty::Named(id) => matches!(types.get(id.0).and_then(Option::as_ref).map(|t| &t.kind), Some(TypeKind::StringEnum { .. })),
        _ => false,
    }
}

fn ty_word(ty: &Ty) -> &'static str {
    match ty {
        Ty::Bool => "Boolean",
        Ty::I32 | Ty::I64 => "Integer",
        Ty::F32 | Ty::F64 => "Number",
        Ty::String | Ty::Date | Ty::DateTime | Ty::Uuid | Ty::Dali(_) => "String",
        Ty::Binary | Ty::Body => "Binary",
        Ty::Vec(_) => "Array",
        Ty::Map(_) => "Object",
        Ty::Option(_) | Ty::Json | Ty::Named(_) => "Value",
    }
}

/// `/a/{x}/b` → `/a/{}/b`: paths that the router cannot tell apart.
fn normalize_path(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/")
}

fn variant_name(status: Status) -> String {
    match status {
        Status::Default => "Default".to_owned(),
        Status::Range(d) => format!("Status{d}xx"),
        Status::Code(code) => match http_reason(code) {
            Some(reason) => type_name(reason),
            None => format!("Status{code}"),
        },
    }
}

fn http_reason(code: u16) -> Option<&'static str> {
    Some(match code {
        200 => "Ok",
        201 => "Created",
        202 => "Accepted",
        203 => "Non Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        409 => "Conflict",
        410 => "Gone",
        412 => "Precondition Failed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return None,
    })
}

/// The strongly connected component of each node of a graph (Tarjan's algorithm, without
/// recursion, so a chain of thousands of types cannot overflow the stack).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let (mut index, mut low, mut component) = (vec![UNSEEN; n], vec![0; n], vec![UNSEEN; n]);
    let (mut on_stack, mut stack) = (vec![false; n], Vec::new());
    let (mut next_index, mut next_component) = (0, 0);
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        // (node, how many of its edges have been followed)
        let mut work = vec![(root, 0)];
        while let Some(&mut (at, ref mut followed)) = work.last_mut() {
            if *followed == 0 && index[at] == UNSEEN {
                index[at] = next_index;
                low[at] = next_index;
                next_index += 1;
                stack.push(at);
                on_stack[at] = true;
            }
            if let Some(&next) = edges[at].get(*followed) {
                *followed += 1;
                if index[next] == UNSEEN {
                    work.push((next, 0));
                } else if on_stack[next] {
                    low[at] = low[at].min(index[next]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[at]);
            }
            if low[at] == index[at] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = next_component;
                    if member == at {
                        break;
                    }
                }
                next_component += 1;
            }
        }
    }
    component
}

/// Boxes every field that closes a cycle of directly contained types, so every type has a size.
fn box_cycles(api: &mut Api) {
    let direct = |ty: &Ty| -> Option<usize> {
        match ty.unwrap_option() {
            Ty::Named(id) => Some(id.0),
            _ => None,
        }
    };
    let contains = |api: &Api, id: usize| -> Vec<usize> {
        match &api.types[id].kind {
            TypeKind::Struct { fields, .. } => fields.iter().filter(|f| !f.boxed).filter_map(|f| direct(&f.ty)).collect(),
            TypeKind::Union { variants, .. } => variants.iter().filter_map(|v| direct(&v.ty)).collect(),
            TypeKind::Tuple(tys) => tys.iter().filter_map(direct).collect(),
            TypeKind::Newtype(ty) => direct(ty).into_iter().collect(),
            TypeKind::StringEnum { .. } => Vec::new(),
        }
    };
    let reaches = |api: &Api, from: usize, to: usize| -> bool {
        let mut stack = vec![from];
        let mut seen = BTreeSet::new();
        while let Some(at) = stack.pop() {
            if at == to {
                return true;
            }
            if seen.insert(at) {
                stack.extend(contains(api, at));
            }
        }
        false
    };
    // Boxing only removes edges, so a field whose type is in another strongly connected component
    // of the graph as it is now can never close a cycle: only fields inside one are searched.
    let initial: Vec<Vec<usize>> = (0..api.types.len()).map(|id| contains(api, id)).collect();
    let component = strongly_connected(&initial);
    for id in 0..api.types.len() {
        let field_count = match &api.types[id].kind {
            TypeKind::Struct { fields, .. } => fields.len(),
            _ => 0,
        };
        for i in 0..field_count {
            let target = match &api.types[id].kind {
                TypeKind::Struct { fields, .. } => direct(&fields[i].ty),
                _ => None,
            };
            if let Some(target) = target {
                if component[target] == component[id] && reaches(api, target, id) {
                    if let TypeKind::Struct { fields, .. } = &mut api.types[id].kind {
                        fields[i].boxed = true;
                    }
                }
            }
        }
    }
}
