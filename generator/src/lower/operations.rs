//! Operations: each built whole, with its names, parameters, body, responses, security and
//! IVOA settings, in document order.

use super::schemas::is_scalar;
use super::vocabulary::UwsSettings;
use super::{Lowerer, doc_text};
use crate::ir::*;
use crate::load::{Document, Node};
use crate::naming::{OperationNames, Renamed, Roles, field_name, type_name, unique};
use crate::source::{FileId, Span};
use std::collections::{BTreeMap, BTreeSet};

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Where operations are: a path item, what it shares with its operations, and its route.
struct Site<'n> {
    /// The file the path item is in (after references).
    file: FileId,
    /// The path item (after references).
    item: &'n Node,
    /// The path item's `parameters`.
    shared: Vec<&'n Node>,
    /// The path template as the spec writes it.
    path: String,
    /// The route registered with the router, shared by every path the router cannot tell apart.
    route: String,
}

/// The operations of `paths`, named but not built yet (see [`Lowerer::name_operations`]).
pub(super) struct Named<'n> {
    sites: Vec<Site<'n>>,
    operations: Vec<NamedOperation<'n>>,
}

/// One operation whose names are decided.
struct NamedOperation<'n> {
    /// Index in [`Named::sites`].
    site: usize,
    method: &'n str,
    node: &'n Node,
    api_name: String,
    names: OperationNames,
    /// Part of the job API the runtime answers.
    uws: bool,
}

/// Whether `default` is a value of `ty` that a parameter's field can hold instead of `None`.
fn default_fits(ty: &Ty, default: &serde_json::Value) -> bool {
    match ty {
        Ty::Bool => default.is_boolean(),
        Ty::I32 => default.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        Ty::I64 => default.is_i64(),
        Ty::F32 | Ty::F64 => default.is_number(),
        Ty::String => default.is_string(),
        _ => false,
    }
}

/// Why `path` cannot be a route, and what to write instead: a parameter that shares its segment
/// with text (`{name}.{ext}`), a fragment (`#`) or a query (`?`), none of which a request's path
/// can carry.
fn unroutable(path: &str) -> Option<(&'static str, &'static str)> {
    if path.split('/').any(|seg| seg.contains('{') && !(seg.starts_with('{') && seg.ends_with('}') && seg.matches('{').count() == 1)) {
        return Some(("a parameter shares a segment with text", "each path parameter must fill a whole segment, as in `/files/{name}`"));
    }
    if path.contains('#') {
        return Some(("it has a fragment (`#`), which clients never send", "give the operation a path of its own, as in `/token/refresh`"));
    }
    if path.contains('?') {
        return Some(("it has a query (`?`), which is not part of a route", "declare the query as parameters `in: query`"));
    }
    None
}

/// An explicit operation the runtime already answers beside a GET of the same path item.
enum Beside {
    /// A POST beside an `x-ivoa-sync` GET, whose POST the runtime serves with the GET's request.
    SyncPost,
    /// A HEAD beside an `x-ivoa-vosi` GET, which answers HEAD itself.
    VosiHead,
}

fn beside_runtime_operation(item: &Node, method: &str) -> Option<Beside> {
    let get = item.get("get")?;
    match method {
        "post" if get.get("x-ivoa-sync").and_then(Node::as_bool) == Some(true) => Some(Beside::SyncPost),
        "head" if get.get("x-ivoa-vosi").is_some() => Some(Beside::VosiHead),
        _ => None,
    }
}

impl<'a> Lowerer<'a> {
    /// An explicit operation that a runtime-answered GET already covers: a POST beside a
    /// DALI-sync GET is refused (two operations would claim one route, and the router and the
    /// generated tests would disagree on which answers); a HEAD beside VOSI is left out, as the
    /// runtime answers HEAD from the GET.
    fn diagnose_beside(&mut self, beside: Beside, path: &str, span: Span) {
        match beside {
            Beside::SyncPost => {
                self.error("ivoagen::ivoa::sync-post", span, format!("`{path}` declares a POST beside its `x-ivoa-sync` GET, which already answers POST"))
                    .set_label("a second POST")
                    .set_help("remove this POST (DALI-sync serves POST with the GET's parameters), or remove `x-ivoa-sync` from the GET");
            }
            Beside::VosiHead => {
                self.warn("ivoagen::ivoa::vosi-head", span, format!("`{path}` declares a HEAD beside its VOSI GET; the runtime answers HEAD from the GET, and this operation is left out"))
                    .set_help("remove this HEAD operation");
            }
        }
    }

    /// Every operation of `paths`, in document order, with its names: what it is (served,
    /// routed, the UWS jobs' parameters, secured) decides which names it needs, and
    /// [`Lowerer::namer`] decides them. Names come before any schema is lowered, so that models
    /// yield to the operations' types, never the reverse.
    pub(super) fn name_operations(&mut self, uws: Option<&UwsSettings>) -> Named<'a> {
        let root = self.doc.root();
        let mut named = Named { sites: Vec::new(), operations: Vec::new() };
        let mut ids: BTreeMap<String, Span> = BTreeMap::new();
        let mut routes: BTreeMap<String, String> = BTreeMap::new();
        let secured = !self.schemes.is_empty();
        for (path_key, item) in root.get("paths").map(Node::entries).unwrap_or_default() {
            let (file, item, _) = self.doc.resolve(FileId::ROOT, item);
            let path = path_key.name.clone();
            if !path.starts_with('/') {
                self.error("ivoagen::lower::path", path_key.span, format!("path `{path}` does not start with `/`"));
                continue;
            }
            if let Some((why, help)) = unroutable(&path) {
                // One path the router cannot take costs its own operations, not the spec.
                self.warn("ivoagen::lower::unroutable", path_key.span, format!("path `{path}` cannot be routed: {why}; its operations are left out")).set_help(help);
                continue;
            }
            let shape = normalize_path(&path);
            let route = routes.entry(shape).or_insert_with(|| path.clone()).clone();
            let in_jobs = uws.is_some_and(|u| u.covers(&path));
            for (method_key, op_node) in item.entries() {
                let method = method_key.name.as_str();
                if !METHODS.contains(&method) {
                    continue;
                }
                if let Some(refused) = beside_runtime_operation(item, method) {
                    self.diagnose_beside(refused, &path, method_key.span);
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
                let roles = Roles {
                    served: !in_jobs && op_node.get("x-ivoa-vosi").is_none(),
                    routed: !in_jobs,
                    job: uws.is_some_and(|u| u.parameters == api_name),
                    secured,
                };
                let (names, renamed) = self.namer.operation(&api_name, roles);
                if let Some(Renamed { wanted, taken, by }) = renamed {
                    let span = op_node.get("operationId").map_or(method_key.span, |n| n.span);
                    let why = if taken == wanted { format!("`{wanted}` is {by}") } else { format!("`{taken}`, which it would need, is {by}") };
                    self.warn("ivoagen::lower::operation-name", span, format!("operation `{api_name}` is named `{}` in Rust: {why}", names.method))
                        .set_label(format!("renamed to `{}`", names.method))
                        .set_help("names are decided in document order; a name that is taken gets the first free suffix `_2`, `_3`, …; choose another operationId to pick the name yourself");
                }
                named.operations.push(NamedOperation { site: named.sites.len(), method, node: op_node, api_name, names, uws: in_jobs });
            }
            let shared = item.get("parameters").map(Node::items).unwrap_or_default().iter().collect();
            named.sites.push(Site { file, item, shared, path, route });
        }
        named
    }

    /// Builds each named operation whole, in document order.
    pub(super) fn operations(&mut self, named: Named<'a>) -> Vec<Operation> {
        let Named { sites, operations } = named;
        let operations: Vec<Operation> = operations.into_iter().map(|op| self.operation(&sites[op.site], op.method, op.node, op.api_name, op.names, op.uws)).collect();
        // The operations of a route share one gate (the first one's): they must admit the same groups.
        let mut first: BTreeMap<&str, &Operation> = BTreeMap::new();
        for op in operations.iter().filter(|op| !op.uws) {
            let gate = *first.entry(op.route.as_str()).or_insert(op);
            if gate.groups != op.groups {
                let message = format!("`{} {}` admits other groups than `{} {}` on the same route", op.method.to_uppercase(), op.path, gate.method.to_uppercase(), gate.path);
                self.error("ivoagen::ivoa::groups", op.span, message)
                    .set_help("the operations of one path share its authorisation: give them the same `x-ivoa-groups`, or move one to another path");
            }
        }
        operations
    }

    /// One operation, whole; `uws`: it is part of the job API the runtime answers.
    fn operation(&mut self, site: &Site, method: &str, node: &Node, api_name: String, names: OperationNames, uws: bool) -> Operation {
        let (file, item, path) = (site.file, site.item, site.path.as_str());
        let type_name = names.type_name.clone();
        let mut params = Vec::new();
        // Fields of the request struct, and variables of the request helper, that a parameter
        // must not take (`raw` holds the parameters read so far).
        let mut taken: BTreeSet<String> = ["body", "base_url", "uploads", "caller", "raw", "parts"].map(str::to_owned).into();
        let own: Vec<&Node> = node.get("parameters").map(Node::items).unwrap_or_default().iter().collect();
        let mut declared: Vec<(FileId, &Node)> = Vec::new();
        for p in own.iter().chain(&site.shared) {
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
                    default: None,
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
        let groups = self.groups(node, security.as_ref());
        Operation {
            case_insensitive: ivoa.case_insensitive,
            dali_sync: ivoa.dali_sync,
            base_url: ivoa.base_url,
            caller: security.is_some(),
            security,
            groups,
            error_format: ivoa.error_format,
            standard_id: ivoa.standard_id,
            uploads: ivoa.dali_sync && params.iter().any(|p| p.location == Location::Query && p.api_name.eq_ignore_ascii_case("UPLOAD")),
            access_path: ivoa.access_path,
            interface_version: ivoa.interface_version,
            vosi: ivoa.vosi,
            uws,
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
            route: site.route.clone(),
            doc: doc_text(node),
            params,
            body,
            responses,
            span: node.span,
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
        let (ty, constraints) = match self.xtype(node) {
            Some(kind) if matches!(ty, Ty::Vec(_)) => {
                let Constraints { min_items, max_items, unique_items, .. } = constraints;
                (Ty::Vec(Box::new(Ty::Dali(kind))), Constraints { min_items, max_items, unique_items, ..Constraints::default() })
            }
            Some(kind) => (Ty::Dali(kind), Constraints::default()),
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
        let default = schema_node
            .map(|s| self.doc.resolve(schema_file, s).1)
            .and_then(|s| s.get("default"))
            .map(Node::to_json)
            .filter(|d| !required && matches!(shape, ParamShape::Scalar) && default_fits(&ty, d));
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
            default,
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
                    default: None,
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
            let mut variants = BTreeSet::new();
            let entries = response.get("content").map(Node::entries).unwrap_or_default();
            let several = entries.len() > 1;
            let mut bodies = Vec::new();
            for (media, media_node) in entries {
                let media_type = media.name.clone();
                let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
                let media_variant = media_variant_name(&media_type, &mut variants);
                let schema = media_node.get("schema");
                let example = media_example(self.doc, rfile, media_node).or_else(|| schema.and_then(|s| schema_examples(self.doc, rfile, s).into_iter().next()));
                // Inline schemas are named after where they are: the media type's variant too when there are several.
                let hint = if several { format!("{op_type}{variant}{media_variant}Body") } else { format!("{op_type}{variant}Body") };
                bodies.push(self.response_body(rfile, schema, &essence, &hint, ResponseBody { media_type, variant: media_variant, kind: ResponseKind::Text, ty: Ty::String, xml_root: None, example }));
            }
            let body_enum = several.then(|| self.namer.model(&format!("{op_type}{variant}Body")).0);
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
            out.push(Response { status, variant, doc: doc_text(response), bodies, body_enum, headers });
        }
        out
    }
}

impl Lowerer<'_> {
    /// The body of one media type of a response, from its schema: JSON is serialised, a model
    /// with an `xml` object written as XML, text sent as the service's `String`, anything else
    /// as bytes. `body` has the media type, its variant and its example.
    fn response_body(&mut self, file: FileId, schema: Option<&Node>, essence: &str, hint: &str, body: ResponseBody) -> ResponseBody {
        if is_json(essence) {
            let ty = schema.map_or(Ty::Json, |s| self.schema(file, s, hint).0);
            return ResponseBody { kind: ResponseKind::Json, ty, ..body };
        }
        if is_xml(essence) {
            // A model with an `xml` object is written from it; anything else is the service's text.
            if let Some(Ty::Named(id)) = schema.map(|s| self.schema(file, s, hint).0) {
                let def = self.types.get(id.0).and_then(Option::as_ref);
                if let Some(def) = def.filter(|d| d.xml.is_some() && matches!(d.kind, TypeKind::Struct { .. })) {
                    let xml = def.xml.clone().unwrap_or_default();
                    let local = xml.name.unwrap_or_else(|| def.api_name.rsplit('/').next().unwrap_or_default().to_owned());
                    let root = match xml.prefix {
                        Some(prefix) => format!("{prefix}:{local}"),
                        None => local,
                    };
                    return ResponseBody { kind: ResponseKind::Xml, ty: Ty::Named(id), xml_root: Some(root), ..body };
                }
            }
        }
        let textual = essence.starts_with("text/") || is_xml(essence);
        let (kind, ty) = if textual { (ResponseKind::Text, Ty::String) } else { (ResponseKind::Binary, Ty::Body) };
        ResponseBody { kind, ty, ..body }
    }
}

/// The variant of a media type in a response's body enum: its subtype without `x-`, `vnd.` and a
/// structured suffix (`application/x-votable+xml` → `Votable`, `text/csv` → `Csv`); the whole
/// type when that is taken (`text/xml` beside `application/xml` → `TextXml`), then a number.
fn media_variant_name(media_type: &str, taken: &mut BTreeSet<String>) -> String {
    let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/').unwrap_or((&essence, ""));
    let subtype = subtype.trim_start_matches("x-").trim_start_matches("vnd.");
    let short = subtype.split('+').next().unwrap_or_default();
    let short = if short.is_empty() || short == "*" { "any" } else { short };
    let wanted = crate::naming::type_name(short);
    if !taken.contains(&wanted) {
        taken.insert(wanted.clone());
        return wanted;
    }
    let subtype = subtype.replace('*', "any");
    unique(crate::naming::type_name(&format!("{kind} {subtype}")), taken)
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

#[cfg(test)]
mod tests {
    use crate::ir::*;
    use crate::lower::{codes, lowered};

    fn operations(paths: &str) -> Vec<Operation> {
        let spec = format!("openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\npaths:\n{paths}");
        let (api, diagnostics) = lowered(&spec);
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        api.expect("lowered").operations
    }

    #[test]
    fn path_parameters_come_first_in_template_order_and_an_operations_own_win() {
        let ops = operations(
            "  /cats/{cat}/toys/{toy}:\n    parameters:\n      - { name: toy, in: path, required: true, schema: { type: integer } }\n      - { name: q, in: query, schema: { type: string } }\n    get:\n      operationId: toy\n      parameters:\n        - { name: q, in: query, required: true, schema: { type: boolean } }\n        - { name: Accept, in: header, schema: { type: string } }\n        - { name: cat, in: path, required: true, schema: { type: string } }\n      responses: { '204': { description: none } }\n",
        );
        let params: Vec<(&str, Location, &Ty, bool)> = ops[0].params.iter().map(|p| (p.api_name.as_str(), p.location, &p.ty, p.required)).collect();
        assert_eq!(params, [("cat", Location::Path, &Ty::String, true), ("toy", Location::Path, &Ty::I64, true), ("q", Location::Query, &Ty::Bool, true)]);
    }

    /// A scalar default makes the field a value; one that does not fit the type, or a required
    /// or array parameter's, leaves the field as it was.
    #[test]
    fn a_scalar_default_is_kept_only_where_it_fits() {
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /s:\n    get:\n      parameters:\n        - {name: VERB, in: query, schema: {type: integer, enum: [1, 2, 3], default: 2}}\n        - {name: F, in: query, schema: {type: string, default: all}}\n        - {name: X, in: query, schema: {type: integer, default: two}}\n        - {name: R, in: query, required: true, schema: {type: number, default: 1}}\n        - {name: A, in: query, schema: {type: array, items: {type: integer}, default: [1]}}\n      responses: { '204': { description: none } }\n";
        let (api, diagnostics) = lowered(spec);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let api = api.expect("lowered");
        let defaults: Vec<(&str, Option<serde_json::Value>, bool)> = api.operations[0].params.iter().map(|p| (p.api_name.as_str(), p.default.clone(), p.always_present())).collect();
        let expected = [
            ("VERB", Some(serde_json::json!(2)), true),
            ("F", Some(serde_json::json!("all")), true),
            ("X", None, false),
            ("R", None, true),
            ("A", None, false),
        ];
        let expected: Vec<(&str, Option<serde_json::Value>, bool)> = expected.into_iter().collect();
        assert_eq!(defaults, expected);
    }

    #[test]
    fn an_undeclared_path_parameter_is_a_string_with_a_warning() {
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /files/{name}:\n    get:\n      responses: { '204': { description: none } }\n";
        let (api, diagnostics) = lowered(spec);
        assert_eq!(codes(&diagnostics), ["ivoagen::lower::path-param"]);
        let op = &api.expect("lowered").operations[0];
        assert_eq!((op.api_name.as_str(), op.name.as_str()), ("get /files/{name}", "get_files_name"));
        assert_eq!((op.params[0].api_name.as_str(), &op.params[0].ty), ("name", &Ty::String));
    }

    #[test]
    fn responses_are_variants_named_after_their_status() {
        let ops = operations(
            "  /a:\n    get:\n      operationId: a\n      responses:\n        '200': { description: ok, content: { application/json: { schema: { type: integer } } } }\n        '404': { description: missing, content: { text/plain: { schema: { type: string } } } }\n        '4XX': { description: other }\n        '299': { description: odd, content: { image/png: {} } }\n        default: { description: any }\n",
        );
        let responses: Vec<(&str, Status, Option<ResponseKind>)> = ops[0].responses.iter().map(|r| (r.variant.as_str(), r.status, r.bodies.first().map(|b| b.kind))).collect();
        assert_eq!(
            responses,
            [
                ("Ok", Status::Code(200), Some(ResponseKind::Json)),
                ("NotFound", Status::Code(404), Some(ResponseKind::Text)),
                ("Status4xx", Status::Range(4), None),
                ("Status299", Status::Code(299), Some(ResponseKind::Binary)),
                ("Default", Status::Default, None),
            ]
        );
    }

    #[test]
    fn a_response_with_several_media_types_keeps_each_under_its_own_variant() {
        let mut taken = std::collections::BTreeSet::new();
        let names: Vec<String> = ["application/x-votable+xml;content=datalink", "text/csv", "application/vnd.ms-excel", "text/xml", "application/xml", "application/xml; charset=utf-8", "image/*"]
            .iter()
            .map(|m| super::media_variant_name(m, &mut taken))
            .collect();
        assert_eq!(names, ["Votable", "Csv", "MsExcel", "Xml", "ApplicationXml", "ApplicationXml2", "Any"]);
        let ops = operations(
            "  /a:\n    get:\n      operationId: a\n      responses:\n        '200':\n          description: ok\n          content:\n            text/csv: { schema: { type: string } }\n            application/fits: { schema: { type: string, format: binary } }\n            application/json: { schema: { type: object, properties: { n: { type: integer } } } }\n        '204': { description: none, content: { text/plain: { schema: { type: string } } } }\n",
        );
        let ok = &ops[0].responses[0];
        assert_eq!(ok.body_enum.as_deref(), Some("AOkBody"));
        let bodies: Vec<(&str, &str, ResponseKind)> = ok.bodies.iter().map(|b| (b.variant.as_str(), b.media_type.as_str(), b.kind)).collect();
        assert_eq!(bodies, [("Csv", "text/csv", ResponseKind::Text), ("Fits", "application/fits", ResponseKind::Binary), ("Json", "application/json", ResponseKind::Json)]);
        assert_eq!(ops[0].responses[1].body_enum, None, "one media type is the body itself");
    }

    #[test]
    fn a_body_keeps_the_encodings_its_type_can_take() {
        let ops = operations(
            "  /a:\n    post:\n      operationId: a\n      requestBody:\n        required: true\n        content:\n          application/json: { schema: { type: object, properties: { n: { type: integer } } } }\n          application/x-www-form-urlencoded: { schema: { type: object, properties: { n: { type: integer } } } }\n      responses: { '204': { description: none } }\n",
        );
        let body = ops[0].body.as_ref().expect("a body");
        assert!(body.required);
        assert_eq!(body.encodings.iter().map(|e| e.kind).collect::<Vec<_>>(), [BodyKind::Json, BodyKind::Form]);
        assert_eq!(body.form_fields.iter().map(|f| f.api_name.as_str()).collect::<Vec<_>>(), ["n"]);
    }

    #[test]
    fn a_second_use_of_an_operation_id_is_refused_at_it() {
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: { operationId: x, responses: { '204': { description: none } } }\n  /b:\n    get: { operationId: x, responses: { '204': { description: none } } }\n";
        let (api, diagnostics) = lowered(spec);
        assert!(api.is_none());
        assert_eq!(codes(&diagnostics), ["ivoagen::lower::duplicate-operation-id"]);
        assert!(diagnostics[0].help.as_deref().is_some_and(|h| h.contains("first used at s.yaml:5:")), "{:?}", diagnostics[0].help);
    }
}
