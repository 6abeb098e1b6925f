//! Lower phase: the loaded [`Document`] → the [`Api`] IR.
//!
//! Every schema becomes a Rust type reference; objects, string enums, unions and tuples become
//! named types in the arena. What cannot be represented gets a located diagnostic and a documented
//! fallback (a `serde_json::Value`), never a panic.
//!
//! One `Lowerer` walks the document; its work is split by concern: `schemas` (types),
//! `operations` (parameters, bodies, responses; each operation built whole), `security`
//! (schemes and requirements), `vocabulary` (the `x-ivoa-*` keys and UWS) and `cycles`
//! (cycles of required properties, boxing).
//!
//! **Architecture invariant:** lowering does no I/O; it reads the [`Document`] and nothing else.

mod cycles;
mod operations;
mod schemas;
mod security;
mod vocabulary;

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::ir::*;
use crate::load::{Document, Node, Target};
use crate::source::{FileId, Span};
use cycles::box_cycles;
use crate::naming::Namer;
use std::collections::{BTreeMap, BTreeSet};

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
        namer: Namer::new(),
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

/// One lowering of one document: what is decided so far, and the diagnostics found.
struct Lowerer<'a> {
    doc: &'a Document,
    diags: Diagnostics,
    /// The arena of named types, `None` while a type's name is reserved and its kind not lowered.
    types: Vec<Option<TypeDef>>,
    /// The type each referenced schema became, so that a schema referred to twice is one type.
    by_target: BTreeMap<Target, TypeId>,
    /// Decides every Rust name of operations and models.
    namer: Namer,
    /// The references being lowered inline (a set: each is in it once).
    inline_stack: BTreeSet<Target>,
    /// How many [`Lowerer::schema`] calls are under way (see [`MAX_SCHEMA_NESTING`]).
    nesting: usize,
    /// Whether the nesting limit was reported.
    too_deep: bool,
    /// Where each property of each struct is, to report cycles of required properties.
    field_spans: BTreeMap<(usize, String), Span>,
    /// The Rust name, API name and place of each reserved type not filled yet.
    pending_names: BTreeMap<TypeId, (String, String, Span)>,
    /// The security schemes the runtime enforces, lowered before the operations.
    schemes: Vec<SecurityScheme>,
    /// Declared security schemes of kinds the runtime cannot read.
    unenforced: BTreeSet<String>,
    /// The document's `security`, which an operation without its own has.
    document_security: Option<Security>,
}

/// The doc comment of an item: its `summary` and `description`, once each.
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

impl Lowerer<'_> {
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

    /// The whole API, in the order names must be decided: security schemes, the operations'
    /// names, component schemas, then each operation whole.
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

        self.schemes = self.security_schemes();
        self.document_security = self.security(root.get("security"));
        let uws_settings = self.uws_settings();
        // Operations are named before any schema becomes a model (see `Namer::model`).
        let named = self.name_operations(uws_settings.as_ref());
        // Component schemas next, so that they get their own names before inline schemas take
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
        let operations = self.operations(named);
        let uws = uws_settings.and_then(|settings| self.uws(settings, &operations));
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
        mark_reachable(&mut api);
        Some(api)
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
}

/// Marks the named types an operation the service implements can reach (`TypeDef::reachable`).
fn mark_reachable(api: &mut Api) {
    let mut stack: Vec<TypeId> = Vec::new();
    for op in api.operations.iter().filter(|op| op.served()) {
        let params = op.params.iter().map(|p| &p.ty);
        let body = op.body.iter().flat_map(|b| std::iter::once(&b.ty).chain(b.form_fields.iter().map(|f| &f.ty)));
        let responses = op.responses.iter().flat_map(|r| r.bodies.iter().map(|b| &b.ty).chain(r.headers.iter().map(|h| &h.ty)));
        stack.extend(params.chain(body).chain(responses).filter_map(Ty::named));
    }
    while let Some(id) = stack.pop() {
        let def = &mut api.types[id.0];
        if !def.reachable {
            def.reachable = true;
            stack.extend(def.kind.parts().into_iter().filter_map(Ty::named));
        }
    }
}

/// Lowers one spec written inline (`s.yaml`), for the unit tests of every part of lowering.
#[cfg(test)]
pub(crate) fn lowered(yaml: &str) -> (Option<Api>, Vec<Diagnostic>) {
    let files = BTreeMap::from([(std::path::PathBuf::from("s.yaml"), yaml.to_owned())]);
    let (doc, loaded) = crate::load::load(&files, std::path::Path::new("s.yaml")).expect("the spec loads");
    assert!(loaded.is_empty(), "{loaded:?}");
    lower(&doc)
}

/// The codes of `diagnostics`, in order.
#[cfg(test)]
fn codes(diagnostics: &[Diagnostic]) -> Vec<&'static str> {
    diagnostics.iter().map(|d| d.code).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_path_is_the_first_servers_path() {
        let spec = |url: &str| format!("openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\nservers: [{{url: '{url}'}}, {{url: /other}}]\npaths: {{}}\n");
        for (url, expected) in [("https://a.org/soda/", "/soda"), ("/soda", "/soda"), ("https://a.org", ""), ("/{v}/x", ""), ("/a?b=c", "/a")] {
            let (api, _) = lowered(&spec(url));
            assert_eq!(api.expect("lowered").base_path, expected, "{url}");
        }
    }

    #[test]
    fn a_document_that_is_not_openapi_3_is_refused_with_nothing_else_reported() {
        let (api, diagnostics) = lowered("openapi: 2.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n");
        assert!(api.is_none());
        assert_eq!(codes(&diagnostics), ["ivoagen::load::version"]);
    }

    #[test]
    fn only_the_types_a_served_operation_reaches_are_marked() {
        let (api, diagnostics) = lowered(
            "
openapi: 3.1.0
info: { title: Reach, version: '1' }
paths:
  /items:
    get:
      operationId: listItems
      parameters:
        - { name: kind, in: query, schema: { $ref: '#/components/schemas/Kind' } }
      responses:
        '200': { description: Items., content: { application/json: { schema: { $ref: '#/components/schemas/Page' } } } }
        '400': { description: Bad., headers: { X-Code: { schema: { $ref: '#/components/schemas/Code' } } } }
components:
  schemas:
    Kind: { type: string, enum: [a, b] }
    Page: { type: object, properties: { items: { type: array, items: { $ref: '#/components/schemas/Item' } } } }
    Item: { type: object, properties: { tags: { type: object, additionalProperties: { $ref: '#/components/schemas/Tag' } } } }
    Tag: { type: object, properties: { label: { type: string } } }
    Code: { type: string, enum: [x, y] }
    Result: { type: object, properties: { orphan: { $ref: '#/components/schemas/Orphan' } } }
    Orphan: { type: object, properties: { n: { type: integer } } }
",
        );
        let api = api.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let mut reachable: Vec<&str> = api.types.iter().filter(|t| t.reachable).map(|t| t.name.as_str()).collect();
        reachable.sort_unstable();
        assert_eq!(reachable, ["Code", "Item", "Kind", "Page", "Tag"], "parameters, bodies, response headers and what they hold, transitively");
        let mut left: Vec<&str> = api.types.iter().filter(|t| !t.reachable).map(|t| t.name.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["Orphan", "Result2"], "lowered (a prelude name renamed), but reached by no operation");
    }
}
