//! Augment phase: what an IVOA profile implies, added to a plain OpenAPI description as
//! `x-ivoa-*` keys — so a spec written without ivoagen (the IVOA's own fragments, say) becomes an
//! IVOA service. Keys the spec already has are kept: the author's word wins over the profile.
//!
//! `dali`, `uws` and `soda` mark what their names imply. The profiles of a data-access standard
//! (`scs`, `sia`, `ssa`, `datalink`, see [`Standard`]) know that standard: its query resource is
//! every GET that is not VOSI, whatever its path; its parameters get the standard's syntax, types
//! and ranges; the standardID goes on the resource for VOSI capabilities; VOSI availability and
//! capabilities are added beside the resource when the spec lacks them. Where the spec says
//! otherwise than the standard, the spec is kept and a warning at the spec's key says so.
//!
//! **Architecture invariant:** augmenting only adds keys to the loaded tree; it reads no file.

use crate::diagnostics::Diagnostic;
use crate::load::{Document, Key, Node, Value};
use crate::source::{FileId, Span};
use serde_json::json;

/// The profiles `--profile` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// DALI: case-insensitive names, DALI-sync GET/POST, VOTable errors, DALI xtypes by name.
    Dali,
    /// UWS: case-insensitive names, text errors, VOSI endpoints.
    Uws,
    /// SODA: DALI plus SODA's text errors, standardIDs, xtypes of POS, CIRCLE, POLYGON, BAND, TIME, and
    /// DataLink `links` endpoints.
    Soda,
    /// Simple Cone Search 1.03.
    Scs,
    /// SIA 2.0.
    Sia,
    /// SSA 1.1.
    Ssa,
    /// DataLink 1.1 (`{links}`).
    Datalink,
    /// TAP 1.1.
    Tap,
}

impl Profile {
    /// Every profile with its name, as `--profile` and `x-ivoa-standard` spell it.
    pub const ALL: [(&'static str, Profile); 8] = [
        ("dali", Profile::Dali),
        ("uws", Profile::Uws),
        ("soda", Profile::Soda),
        ("scs", Profile::Scs),
        ("sia", Profile::Sia),
        ("ssa", Profile::Ssa),
        ("datalink", Profile::Datalink),
        ("tap", Profile::Tap),
    ];

    /// The data-access standard this profile knows, if it is one.
    fn standard(self) -> Option<&'static Standard> {
        match self {
            Profile::Dali | Profile::Uws | Profile::Soda => None,
            Profile::Scs => Some(&SCS),
            Profile::Sia => Some(&SIA),
            Profile::Ssa => Some(&SSA),
            Profile::Datalink => Some(&DATALINK),
            Profile::Tap => Some(&TAP),
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Profile::ALL.iter().find(|(_, p)| p == self).map_or("dali", |(name, _)| name);
        f.write_str(name)
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match Profile::ALL.iter().find(|(name, _)| *name == s) {
            Some((_, profile)) => Ok(*profile),
            None => Err(format!("unknown profile `{s}`: use {}", names())),
        }
    }
}

/// The profiles' names, for messages.
fn names() -> String {
    Profile::ALL.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// The profile a document names with `x-ivoa-standard` (applied when no `--profile` is given);
/// an unknown name is an error at the key.
pub fn declared(doc: &Document) -> Result<Option<Profile>, Box<Diagnostic>> {
    let Some(node) = doc.root().get("x-ivoa-standard") else { return Ok(None) };
    match node.as_str().map(str::parse::<Profile>) {
        Some(Ok(profile)) => Ok(Some(profile)),
        _ => Err(Box::new(Diagnostic::error("ivoagen::ivoa::standard", Some(node.span), "unknown `x-ivoa-standard`").help(format!("use one of: {}", names())))),
    }
}

/// Parameters whose DALI type their name implies.
const XTYPES: &[(&str, &str)] = &[("POS", "shape"), ("CIRCLE", "circle"), ("POLYGON", "polygon"), ("BAND", "interval"), ("TIME", "interval")];

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn synthetic(span: Span) -> impl Fn(&str) -> Key {
    move |name: &str| Key { name: name.to_owned(), span }
}

/// Sets `key` on a mapping unless it is there already.
fn set_default(node: &mut Node, key: &str, value: Value) {
    let span = node.span;
    if let Value::Map(entries) = &mut node.value {
        if !entries.iter().any(|(k, _)| k.name == key) {
            entries.push((synthetic(span)(key), Node { value, span }));
        }
    }
}

fn string(s: &str) -> Value {
    Value::Str(s.to_owned())
}

/// A place in the document: the file and the JSON pointer of a node.
type Place = (FileId, Vec<String>);

fn node_mut<'a>(doc: &'a mut Document, place: &Place) -> Option<&'a mut Node> {
    let mut node = doc.root_of_mut(place.0);
    for token in &place.1 {
        node = match &mut node.value {
            Value::Map(entries) => &mut entries.iter_mut().find(|(k, _)| &k.name == token)?.1,
            Value::Seq(items) => items.get_mut(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Where a possibly-referenced node really is.
fn place_of(doc: &Document, file: FileId, pointer: Vec<String>) -> Place {
    let mut place = (file, pointer);
    for _ in 0..32 {
        let Some(node) = doc.node(&crate::load::Target { file: place.0, pointer: place.1.clone() }) else { break };
        let Some(reference) = node.reference() else { break };
        let Some(target) = doc.target(place.0, reference) else { break };
        place = (target.file, target.pointer);
    }
    place
}

/// Applies `profile` to the document; the warnings say where the spec and the profile disagree.
pub fn augment(doc: &mut Document, profile: Profile) -> Vec<Diagnostic> {
    match profile.standard() {
        Some(standard) => standard.apply(doc),
        None => augment_by_names(doc, profile),
    }
}

/// The `dali`, `uws` and `soda` profiles: what the names of paths and parameters imply.
fn augment_by_names(doc: &mut Document, profile: Profile) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let error_format = match profile {
        Profile::Dali => "dali-votable",
        _ => "soda-text",
    };
    set_default(doc.root_mut(), "x-ivoa-case-insensitive", Value::Bool(true));
    set_default(doc.root_mut(), "x-ivoa-error-format", string(error_format));

    let paths: Vec<String> = doc.root().get("paths").map(|p| p.entries().iter().map(|(k, _)| k.name.clone()).collect()).unwrap_or_default();
    // DALI-async is UWS (DALI §2): `/async` is the job list, and a job takes the parameters of
    // `/sync`'s GET (named from method and path when it has no operationId).
    if profile != Profile::Uws && paths.iter().any(|p| p == "/async") {
        let sync = place_of(doc, FileId::ROOT, vec!["paths".into(), "/sync".into()]);
        let sync_get = doc.node(&crate::load::Target { file: sync.0, pointer: sync.1 }).and_then(|item| item.get("get"));
        let sync_id = sync_get.map(|op| op.get("operationId").and_then(Node::as_str).map_or_else(|| "get /sync".to_owned(), str::to_owned));
        if let Some(id) = sync_id {
            let span = doc.root().span;
            let key = synthetic(span);
            let mut value = vec![(key("jobs"), Node { value: string("/async"), span }), (key("parameters"), Node { value: string(&id), span })];
            if profile == Profile::Soda {
                value.push((key("standard-id"), Node { value: string("ivo://ivoa.net/std/SODA#async-1.0"), span }));
            }
            add_job_list(doc, "/async", Value::Map(value), &format!("the `{profile}` profile"), &mut diagnostics);
        }
    }
    for path in paths {
        let item = place_of(doc, FileId::ROOT, vec!["paths".into(), path.clone()]);
        let Some(item_node) = doc.node(&crate::load::Target { file: item.0, pointer: item.1.clone() }) else { continue };
        let methods: Vec<String> = item_node.entries().iter().map(|(k, _)| k.name.clone()).filter(|m| METHODS.contains(&m.as_str())).collect();
        let shared_params = item_node.get("parameters").map_or(0, |p| p.items().len());
        let explicit_post = item_node.key_span("post");
        for method in methods {
            let mut op_place = item.clone();
            op_place.1.push(method.clone());
            let last = path.rsplit('/').next().unwrap_or_default().to_owned();
            let mut settings: Vec<(&str, Value)> = Vec::new();
            match (last.as_str(), method.as_str()) {
                ("capabilities", "get") => {
                    settings.push(("x-ivoa-vosi", string("capabilities")));
                    settings.push(("x-ivoa-standard-id", string("ivo://ivoa.net/std/VOSI#capabilities")));
                }
                ("availability", "get") => {
                    settings.push(("x-ivoa-vosi", string("availability")));
                    settings.push(("x-ivoa-standard-id", string("ivo://ivoa.net/std/VOSI#availability")));
                }
                // DataLink `links` (DataLink 1.1 §3): DALI-sync, VOTable errors (on the path
                // item, so that an explicit POST writes them too), absolute URLs.
                ("links", "get") if profile == Profile::Soda => {
                    settings.push(("x-ivoa-sync", Value::Bool(true)));
                    settings.push(("x-ivoa-standard-id", string("ivo://ivoa.net/std/DataLink#links-1.1")));
                    settings.push(("x-ivoa-base-url", Value::Bool(true)));
                    if let Some(item_node) = node_mut(doc, &item) {
                        set_default(item_node, "x-ivoa-error-format", string("dali-votable"));
                    }
                }
                ("sync", "get") if profile != Profile::Uws => {
                    settings.push(("x-ivoa-sync", Value::Bool(true)));
                    if profile == Profile::Soda {
                        settings.push(("x-ivoa-standard-id", string("ivo://ivoa.net/std/SODA#sync-1.0")));
                    }
                }
                _ => {}
            }
            if let Some(op) = node_mut(doc, &op_place) {
                let author_sync = op.get("x-ivoa-sync").is_some();
                for (key, value) in settings {
                    match explicit_post {
                        // The spec's own POST is served as written (see `Standard::apply`).
                        Some(span) if key == "x-ivoa-sync" && !author_sync => diagnostics.push(explicit_post_kept(&format!("the `{profile}` profile"), &path, span)),
                        _ => set_default(op, key, value),
                    }
                }
            }
            if profile == Profile::Uws {
                continue;
            }
            // DALI value types implied by parameter names (SODA §3; DALI §3.3).
            let params_len = doc
                .node(&crate::load::Target { file: op_place.0, pointer: op_place.1.clone() })
                .and_then(|op| op.get("parameters"))
                .map_or(0, |p| p.items().len());
            let mut places: Vec<Place> = (0..params_len)
                .map(|i| {
                    let mut p = op_place.1.clone();
                    p.extend(["parameters".to_owned(), i.to_string()]);
                    place_of(doc, op_place.0, p)
                })
                .collect();
            places.extend((0..shared_params).map(|i| {
                let mut p = item.1.clone();
                p.extend(["parameters".to_owned(), i.to_string()]);
                place_of(doc, item.0, p)
            }));
            for place in places {
                let Some(param) = node_mut(doc, &place) else { continue };
                let name = param.get("name").and_then(Node::as_str).unwrap_or_default().to_ascii_uppercase();
                let located = param.get("in").and_then(Node::as_str) == Some("query");
                if let Some((_, xtype)) = XTYPES.iter().find(|(n, _)| *n == name).filter(|_| located) {
                    set_default(param, "x-ivoa-xtype", string(xtype));
                }
            }
        }
    }
    diagnostics
}

/// The warning for a query resource whose path item declares its own POST: DALI-sync is not added.
fn explicit_post_kept(by: &str, path: &str, span: Span) -> Diagnostic {
    Diagnostic::warning("ivoagen::ivoa::explicit-post", Some(span), format!("{by} makes `{path}` DALI-sync, but the spec declares its own POST: DALI-sync is not added"))
        .label("this POST is served as written")
        .help("remove this POST to have GET's parameters accepted in POST bodies, or write `x-ivoa-sync: false` on the GET to silence this")
}

/// Sets `x-ivoa-uws` to `value` (the job list at `jobs`), unless the author wrote it; then a
/// warning at `jobs` when the spec declares operations there or below, which the runtime answers
/// as UWS 1.1 says instead.
fn add_job_list(doc: &mut Document, jobs: &str, value: Value, by: &str, diagnostics: &mut Vec<Diagnostic>) {
    if doc.root().get("x-ivoa-uws").is_some() {
        return;
    }
    set_default(doc.root_mut(), "x-ivoa-uws", value);
    let Some(paths) = doc.root().get("paths") else { return };
    let below = |path: &str| path.strip_prefix(jobs).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let declared: usize = paths
        .entries()
        .iter()
        .filter(|(k, _)| below(&k.name))
        .map(|(k, _)| place_of(doc, FileId::ROOT, vec!["paths".into(), k.name.clone()]))
        .filter_map(|item| node_at(doc, &item).map(|n| n.entries().iter().filter(|(m, _)| METHODS.contains(&m.name.as_str())).count()))
        .sum();
    if declared > 0 {
        diagnostics.push(
            Diagnostic::warning("ivoagen::ivoa::job-list", paths.key_span(jobs), format!("{by} makes `{jobs}` a UWS job list: the runtime answers it and every path below it as UWS 1.1 says (303 after creation and after each change, WAIT, the job documents), so {what} not served as written", what = if declared == 1 { "the spec's operation there is".to_owned() } else { format!("the spec's {declared} operations there are") }))
                .label("the runtime's job list")
                .help("write `x-ivoa-uws` yourself to choose the job list, or leave these paths out"),
        );
    }
}

/// Whether the operation `op` (in `file`) takes every parameter in the query and no body, as
/// the IVOA's drafts declare POSTs that DALI makes form posts.
fn query_only(doc: &Document, file: FileId, op: &Node) -> bool {
    let (file, op, _) = doc.resolve(file, op);
    op.get("requestBody").is_none()
        && op.get("parameters").map(Node::items).unwrap_or_default().iter().all(|p| doc.resolve(file, p).1.get("in").and_then(Node::as_str) == Some("query"))
}

/// What a profile knows of a data-access standard.
pub struct Standard {
    /// The standard's name and version, for messages.
    title: &'static str,
    /// The standardID of its query resource, listed by VOSI capabilities.
    standard_id: &'static str,
    /// Whether the query resource is DALI-sync (GET and POST) rather than GET only.
    sync: bool,
    /// Whether the service needs its own URL, for the absolute links of its responses.
    base_url: bool,
    /// The query parameters.
    rules: fn() -> Vec<Rule>,
    /// Its error document (`x-ivoa-error-format`).
    error_format: &'static str,
    /// The standard's other resources, by the last segment of their path, with their standardID:
    /// GETs the service implements that are not the query resource (TAP's `tables`).
    others: &'static [(&'static str, &'static str)],
    /// Whether the standard has an asynchronous resource: a UWS job list at `async`, beside the
    /// query resource, whose jobs take the query resource's parameters.
    jobs: bool,
    /// The version of the standard's interface VOSI capabilities name (`version="1.1"`); absent
    /// means the standard's first.
    interface_version: Option<&'static str>,
    /// Whether VOSI capabilities give the service's base URL, not the query resource's, as the
    /// capability's access URL (TAP 1.1 §2.4).
    base_access_url: bool,
}

/// One query parameter of a standard.
struct Rule {
    name: &'static str,
    /// Where the standard says so, for messages.
    section: &'static str,
    required: bool,
    /// Whether it may repeat (an array of `schema`).
    repeatable: bool,
    /// The schema of one value.
    schema: serde_json::Value,
    description: &'static str,
}

fn rule(name: &'static str, section: &'static str, schema: serde_json::Value, description: &'static str) -> Rule {
    Rule { name, section, required: false, repeatable: false, schema, description }
}

impl Rule {
    fn required(self) -> Self {
        Rule { required: true, ..self }
    }

    fn repeatable(self) -> Self {
        Rule { repeatable: true, ..self }
    }
}

/// Simple Cone Search 1.03 (REC 2008-02-22).
static SCS: Standard = Standard { others: &[], jobs: false, interface_version: None, base_access_url: false, title: "Simple Cone Search 1.03", standard_id: "ivo://ivoa.net/std/ConeSearch", sync: false, base_url: false, rules: scs_rules, error_format: "scs-votable" };

fn scs_rules() -> Vec<Rule> {
    vec![
        rule("RA", "§2", json!({"type": "number", "minimum": 0, "maximum": 360}), "Right ascension of the cone's centre, ICRS decimal degrees.").required(),
        rule("DEC", "§2", json!({"type": "number", "minimum": -90, "maximum": 90}), "Declination of the cone's centre, ICRS decimal degrees.").required(),
        rule("SR", "§2", json!({"type": "number", "minimum": 0, "maximum": 180}), "The cone's radius in decimal degrees; 0 asks for the table's metadata only.").required(),
        rule("VERB", "§2", json!({"type": "integer", "enum": [1, 2, 3], "default": 2}), "How many columns: 1 the fewest, 3 all."),
    ]
}

/// SIA 2.0 (REC 2015-12-23).
static SIA: Standard = Standard { others: &[], jobs: false, interface_version: None, base_access_url: false, title: "SIA 2.0", standard_id: "ivo://ivoa.net/std/SIA#query-2.0", sync: true, base_url: true, rules: sia_rules, error_format: "dali-votable" };

fn sia_rules() -> Vec<Rule> {
    let shape = json!({"type": "string", "x-ivoa-xtype": "shape"});
    let interval = json!({"type": "string", "x-ivoa-xtype": "interval"});
    let text = json!({"type": "string", "minLength": 1});
    vec![
        rule("POS", "§2.1.1", shape, "A region in ICRS degrees: `CIRCLE ra dec r`, `RANGE ra1 ra2 dec1 dec2` or `POLYGON ra dec …`.").repeatable(),
        rule("BAND", "§2.1.2", interval.clone(), "Observed wavelength interval `lo hi` in metres.").repeatable(),
        rule("TIME", "§2.1.3", interval.clone(), "Time interval `lo hi`, MJD (UTC).").repeatable(),
        rule("POL", "§2.1.4", text.clone(), "A polarization state (Stokes label).").repeatable(),
        rule("FOV", "§2.1.5", interval.clone(), "Field of view interval, degrees.").repeatable(),
        rule("SPATRES", "§2.1.6", interval.clone(), "Spatial resolution interval, arcseconds.").repeatable(),
        rule("EXPTIME", "§2.1.7", interval.clone(), "Exposure time interval, seconds.").repeatable(),
        rule("ID", "§2.1.8", text.clone(), "A publisher dataset identifier (obs_publisher_did).").repeatable(),
        rule("COLLECTION", "§2.1.9", text.clone(), "A collection name.").repeatable(),
        rule("FACILITY", "§2.1.10", text.clone(), "A facility name.").repeatable(),
        rule("INSTRUMENT", "§2.1.11", text.clone(), "An instrument name.").repeatable(),
        rule("DPTYPE", "§2.1.12", json!({"type": "string", "enum": ["image", "cube"]}), "The data product type.").repeatable(),
        rule("CALIB", "§2.1.13", json!({"type": "integer", "minimum": 0, "maximum": 4}), "The calibration level.").repeatable(),
        rule("TARGET", "§2.1.14", text.clone(), "A target name.").repeatable(),
        rule("TIMERES", "§2.1.15", interval.clone(), "Time resolution interval, seconds.").repeatable(),
        rule("SPECRP", "§2.1.16", interval, "Spectral resolving power interval.").repeatable(),
        rule("FORMAT", "§2.1.17", text, "A dataset format (access_format), not the response's.").repeatable(),
        rule("MAXREC", "DALI §3.2.2", json!({"type": "integer", "minimum": 0}), "The most records to return; 0 asks for metadata only."),
        rule("RESPONSEFORMAT", "DALI §3.2.1", json!({"type": "string", "minLength": 1}), "The response's format."),
    ]
}

/// A decimal number, for SSA's patterns.
const NUMBER: &str = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?";
/// An ISO 8601 date or time, as SSA 1.1 §8.7.1 writes them.
const ISO: &str = r"\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?)?)?Z?";

/// SSA 1.1 (REC 2012-02-10).
static SSA: Standard = Standard { others: &[], jobs: false, interface_version: None, base_access_url: false, title: "SSA 1.1", standard_id: "ivo://ivoa.net/std/SSA", sync: false, base_url: true, rules: ssa_rules, error_format: "dali-votable" };

fn ssa_rules() -> Vec<Rule> {
    let n = NUMBER;
    vec![
        rule("REQUEST", "§4.1.1", json!({"type": "string", "pattern": "(?i)^querydata$"}), "`queryData` (in any case).").required(),
        rule("POS", "§4.1.1.1", json!({"type": "string", "pattern": format!(r"^{n},{n}(;[A-Za-z0-9_]+)?$")}), "`ra,dec[;frame]`, decimal degrees (ICRS by default).")
        ,
        rule("SIZE", "§4.1.1.2", json!({"type": "number", "minimum": 0}), "The diameter of the search region, decimal degrees."),
        rule("BAND", "§4.1.1.3", json!({"type": "string", "pattern": format!(r"^(({n})?/({n})?(;(source|observer))?|{n}|[A-Za-z][\w.+-]*)$")}), "`lo/hi[;source|observer]` in metres (an end may be left open), or a bandpass name."),
        rule("TIME", "§4.1.1.4", json!({"type": "string", "pattern": format!(r"^({ISO})?/({ISO})?$|^{ISO}$")}), "An ISO 8601 instant or `start/end` range, UTC."),
        rule("FORMAT", "§4.1.1.5", json!({"type": "string", "minLength": 1}), "MIME types, or all, compliant, native, graphic, votable, fits, xml or metadata."),
        rule("MAXREC", "§4.1.2", json!({"type": "integer", "minimum": 0}), "The most records to return."),
        rule("TOP", "§4.1.2", json!({"type": "integer", "minimum": 1}), "The best n records to return."),
    ]
}

/// DataLink 1.1 (REC 2023-12-15), the `{links}` resource.
static DATALINK: Standard = Standard { others: &[], jobs: false, interface_version: None, base_access_url: false, title: "DataLink 1.1", standard_id: "ivo://ivoa.net/std/DataLink#links-1.1", sync: true, base_url: true, rules: datalink_rules, error_format: "dali-votable" };

fn datalink_rules() -> Vec<Rule> {
    vec![
        rule("ID", "§2.1.1", json!({"type": "string", "minLength": 1}), "A dataset identifier; one or more rows per ID.").repeatable(),
        rule(
            "RESPONSEFORMAT",
            "§2.1.2",
            json!({"type": "string", "pattern": r"^(votable|application/x-votable\+xml(;\s*content=datalink)?)$"}),
            "The response's format: a DataLink VOTable.",
        ),
    ]
}

/// TAP 1.1 (REC 2019-09-27): `sync` is the query resource, `async` its UWS job list, `tables` the
/// VOSI tables, `examples` DALI examples; the capability's access URL is the service's base.
static TAP: Standard = Standard {
    title: "TAP 1.1",
    standard_id: "ivo://ivoa.net/std/TAP",
    sync: true,
    base_url: false,
    rules: tap_rules,
    error_format: "dali-votable",
    others: &[("tables", "ivo://ivoa.net/std/VOSI#tables-1.1"), ("examples", "ivo://ivoa.net/std/DALI#examples")],
    jobs: true,
    interface_version: Some("1.1"),
    base_access_url: true,
};

fn tap_rules() -> Vec<Rule> {
    let text = json!({"type": "string", "minLength": 1});
    vec![
        rule("LANG", "§2.7.1", text.clone(), "The query language: `ADQL` (or `ADQL-2.0`, `ADQL-2.1`).").required(),
        rule("QUERY", "§2.7.2", text.clone(), "The query, in LANG."),
        rule("RESPONSEFORMAT", "§2.7.3", text.clone(), "The result's format: a media type or `votable`, `csv`, `tsv`, `fits`, `text`, `html`."),
        rule("FORMAT", "§2.7.3", text, "RESPONSEFORMAT's older name."),
        rule("MAXREC", "§2.7.4", json!({"type": "integer", "minimum": 0}), "The most rows to return; 0 asks for the columns only."),
        rule("RUNID", "DALI §3.2.5", json!({"type": "string", "maxLength": 64}), "An identifier the client gives the request, echoed in the result."),
        rule("UPLOAD", "§2.7.5", json!({"type": "string", "pattern": r"^[A-Za-z]\w*,\S+$"}), "`name,URI`: a table to upload as `TAP_UPLOAD.name`, from a URL or `param:PART`, the multipart file part PART.").repeatable(),
    ]
}

/// The keys of a schema that say how a value is written; a spec that writes one keeps its own syntax.
const SYNTAX: &[&str] = &["pattern", "x-ivoa-xtype", "enum", "const", "format"];

/// A synthetic node for `value`, placed at `span`.
fn node_of(value: &serde_json::Value, span: Span) -> Node {
    let value = match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n.as_i64().map_or_else(|| Value::Float(n.as_f64().unwrap_or_default()), Value::Int),
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(items) => Value::Seq(items.iter().map(|v| node_of(v, span)).collect()),
        serde_json::Value::Object(entries) => Value::Map(entries.iter().map(|(k, v)| (synthetic(span)(k), node_of(v, span))).collect()),
    };
    Node { value, span }
}

fn pointer_with(place: &Place, tokens: &[&str]) -> Place {
    let mut place = place.clone();
    place.1.extend(tokens.iter().map(|t| (*t).to_owned()));
    place
}

fn node_at<'a>(doc: &'a Document, place: &Place) -> Option<&'a Node> {
    doc.node(&crate::load::Target { file: place.0, pointer: place.1.clone() })
}

/// A VOSI endpoint's path item, answered by the runtime.
fn vosi_item(kind: &str, summary: &str, span: Span) -> Node {
    let standard_id = format!("ivo://ivoa.net/std/VOSI#{kind}");
    node_of(
        &json!({"get": {
            "summary": summary,
            "x-ivoa-vosi": kind,
            "x-ivoa-standard-id": standard_id,
            "responses": {"200": {"description": summary, "content": {"application/xml": {"schema": {"type": "string"}}}}},
        }}),
        span,
    )
}

impl Standard {
    /// Applies the standard to the document.
    fn apply(&self, doc: &mut Document) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        set_default(doc.root_mut(), "x-ivoa-case-insensitive", Value::Bool(true));
        set_default(doc.root_mut(), "x-ivoa-error-format", string(self.error_format));
        let paths: Vec<String> = doc.root().get("paths").map(|p| p.entries().iter().map(|(k, _)| k.name.clone()).collect()).unwrap_or_default();
        let mut vosi = (false, false);
        let mut resource: Option<String> = None;
        // The job lists, answered by the runtime's UWS engine, with every path below them.
        let job_lists: Vec<&String> = paths.iter().filter(|p| self.jobs && p.rsplit('/').next() == Some("async")).collect();
        for path in &paths {
            if job_lists.iter().any(|jobs| path.strip_prefix(jobs.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))) {
                continue;
            }
            let item = place_of(doc, FileId::ROOT, vec!["paths".into(), path.clone()]);
            let Some(item_node) = node_at(doc, &item) else { continue };
            let last = path.rsplit('/').next().unwrap_or_default();
            let Some(get) = item_node.get("get") else { continue };
            let marked = get.get("x-ivoa-vosi").and_then(Node::as_str);
            let kind = marked.or(match last {
                "capabilities" | "availability" => Some(last),
                _ => None,
            });
            let kind = kind.map(str::to_owned);
            // Every other GET is the standard's query resource, whatever its path.
            let explicit_post = item_node.key_span("post");
            let query_only_post = item_node.get("post").is_some_and(|post| query_only(doc, item.0, post));
            let author_sync = get.get("x-ivoa-sync").is_some();
            match kind.as_deref() {
                Some(kind @ ("capabilities" | "availability")) => {
                    if kind == "capabilities" {
                        vosi.0 = true;
                    } else {
                        vosi.1 = true;
                    }
                    if let Some(op) = node_mut(doc, &pointer_with(&item, &["get"])) {
                        set_default(op, "x-ivoa-vosi", string(kind));
                        set_default(op, "x-ivoa-standard-id", string(&format!("ivo://ivoa.net/std/VOSI#{kind}")));
                    }
                    continue;
                }
                Some(_) => continue,
                None => {}
            }
            if let Some((_, id)) = self.others.iter().find(|(other, _)| *other == last) {
                if let Some(op) = node_mut(doc, &pointer_with(&item, &["get"])) {
                    set_default(op, "x-ivoa-standard-id", string(id));
                }
                continue;
            }
            // Below another resource (TAP's `/tables/{name}`): the service's own operation.
            if self.others.iter().any(|(other, _)| path.split('/').rev().skip(1).any(|segment| segment == *other)) {
                continue;
            }
            resource.get_or_insert_with(|| path.clone());
            let parent = path.rsplit_once('/').map_or("", |(parent, _)| parent).to_owned();
            let Some(op) = node_mut(doc, &pointer_with(&item, &["get"])) else { continue };
            set_default(op, "x-ivoa-standard-id", string(self.standard_id));
            if let Some(version) = self.interface_version {
                set_default(op, "x-ivoa-interface-version", string(version));
            }
            if self.base_access_url {
                set_default(op, "x-ivoa-access-path", string(&parent));
            }
            if self.base_url {
                set_default(op, "x-ivoa-base-url", Value::Bool(true));
            }
            match explicit_post {
                // The IVOA's drafts declare the query's POST with its parameters `in: query` and
                // no body: the standard makes it DALI-sync, so it is served as the GET's POST.
                Some(span) if self.sync && !author_sync && query_only_post => {
                    set_default(op, "x-ivoa-sync", Value::Bool(true));
                    if let Some(Node { value: Value::Map(entries), .. }) = node_mut(doc, &item) {
                        entries.retain(|(k, _)| k.name != "post");
                    }
                    diagnostics.push(
                        Diagnostic::warning("ivoagen::ivoa::repaired", Some(span), format!("the POST of `{path}` declares its parameters in the query and no body; {} makes the query resource DALI-sync, so it is served as the GET's POST (the parameters in the query or in a form or multipart body)", self.title))
                            .label("served as DALI-sync")
                            .help("declare the parameters on the GET only, or give the POST a requestBody to serve it as written"),
                    );
                }
                Some(span) if self.sync && !author_sync => diagnostics.push(explicit_post_kept(self.title, path, span)),
                _ if self.sync => set_default(op, "x-ivoa-sync", Value::Bool(true)),
                _ => {}
            }
            self.apply_parameters(doc, &item, &pointer_with(&item, &["get"]), &mut diagnostics);
        }
        let Some(resource) = resource else {
            diagnostics.push(
                Diagnostic::warning("ivoagen::ivoa::no-resource", Some(doc.root().key_span("paths").unwrap_or(doc.root().span)), format!("no GET operation to serve as the {} resource", self.title))
                    .help("declare the query resource as a GET operation"),
            );
            return diagnostics;
        };
        // VOSI availability and capabilities, siblings of the resource (DALI §2), when missing.
        let parent = resource.rsplit_once('/').map_or("", |(parent, _)| parent).to_owned();
        let span = doc.root().span;
        if self.jobs {
            self.add_jobs(doc, &paths, &resource, &parent, &mut diagnostics);
        }
        let missing: Vec<(String, Node)> = [("capabilities", "VOSI capabilities", vosi.0), ("availability", "VOSI availability", vosi.1)]
            .into_iter()
            .filter(|(kind, _, present)| !present && !paths.contains(&format!("{parent}/{kind}")))
            .map(|(kind, summary, _)| (format!("{parent}/{kind}"), vosi_item(kind, summary, span)))
            .collect();
        if let Some(Node { value: Value::Map(entries), .. }) = node_mut(doc, &(FileId::ROOT, vec!["paths".into()])) {
            entries.extend(missing.into_iter().map(|(path, item)| (synthetic(span)(&path), item)));
        }
        diagnostics
    }

    /// The UWS job list at `PARENT/async`, whose jobs take the parameters of the query resource
    /// `resource`; a warning when the spec lacks the path.
    fn add_jobs(&self, doc: &mut Document, paths: &[String], resource: &str, parent: &str, diagnostics: &mut Vec<Diagnostic>) {
        let jobs = format!("{parent}/async");
        let span = doc.root().span;
        if !paths.contains(&jobs) {
            diagnostics.push(
                Diagnostic::warning("ivoagen::ivoa::no-jobs", Some(doc.root().key_span("paths").unwrap_or(span)), format!("{} has an asynchronous resource at `{jobs}`, which the spec lacks", self.title))
                    .help(format!("add the UWS job list under `{jobs}` (`$ref` the paths of ivoagen's `uws.yaml`), or write `x-ivoa-uws` yourself")),
            );
            return;
        }
        let item = place_of(doc, FileId::ROOT, vec!["paths".into(), resource.to_owned()]);
        // An operation without an operationId is named from its method and path.
        let parameters = node_at(doc, &pointer_with(&item, &["get", "operationId"])).and_then(Node::as_str).map_or_else(|| format!("get {resource}"), str::to_owned);
        let key = synthetic(span);
        let value = Value::Map(vec![(key("jobs"), Node { value: string(&jobs), span }), (key("parameters"), Node { value: string(&parameters), span })]);
        add_job_list(doc, &jobs, value, self.title, diagnostics);
    }

    /// The standard's rules on the query parameters of the operation at `op` (its own and its
    /// path item's); the required ones it lacks are added.
    fn apply_parameters(&self, doc: &mut Document, item: &Place, op: &Place, diagnostics: &mut Vec<Diagnostic>) {
        let count = |place: &Place| node_at(doc, &pointer_with(place, &["parameters"])).map_or(0, |p| p.items().len());
        let mut places: Vec<Place> = Vec::new();
        for owner in [op, item] {
            for i in 0..count(owner) {
                let at = pointer_with(owner, &["parameters", &i.to_string()]);
                places.push(place_of(doc, at.0, at.1));
            }
        }
        let rules = (self.rules)();
        let mut seen = Vec::new();
        for place in places {
            let Some(param) = node_at(doc, &place) else { continue };
            if param.get("in").and_then(Node::as_str) != Some("query") {
                continue;
            }
            let name = param.get("name").and_then(Node::as_str).unwrap_or_default();
            if let Some(rule) = rules.iter().find(|r| r.name.eq_ignore_ascii_case(name)) {
                seen.push(rule.name);
                self.apply_rule(doc, &place, rule, diagnostics);
            }
        }
        let span = node_at(doc, op).map_or(doc.root().span, |n| n.span);
        let added: Vec<Node> = rules.iter().filter(|r| r.required && !seen.contains(&r.name)).map(|r| node_of(&r.parameter(), span)).collect();
        if added.is_empty() {
            return;
        }
        let Some(op_node) = node_mut(doc, op) else { return };
        set_default(op_node, "parameters", Value::Seq(Vec::new()));
        if let Some(Node { value: Value::Seq(items), .. }) = node_mut(doc, &pointer_with(op, &["parameters"])) {
            items.extend(added);
        }
    }

    /// One rule on one parameter: what the spec lacks is added, what it says otherwise is kept
    /// with a warning.
    fn apply_rule(&self, doc: &mut Document, place: &Place, rule: &Rule, diagnostics: &mut Vec<Diagnostic>) {
        let title = self.title;
        let name = rule.name;
        let Some(param) = node_mut(doc, place) else { return };
        if rule.required {
            match param.get("required") {
                None => set_default(param, "required", Value::Bool(true)),
                Some(n) if n.as_bool() == Some(false) => diagnostics.push(Diagnostic::warning(
                    "ivoagen::ivoa::profile-disagrees",
                    Some(n.span),
                    format!("{title} {} requires `{name}`; the spec's `required: false` is kept", rule.section),
                )),
                Some(_) => {}
            }
        }
        if param.get("content").is_some() {
            return;
        }
        if param.get("schema").is_none() {
            let span = param.span;
            let schema = rule.schema_of_parameter();
            if rule.repeatable {
                set_default(param, "explode", Value::Bool(true));
            }
            set_default(param, "schema", node_of(&schema, span).value);
            return;
        }
        let schema = place_of(doc, place.0, pointer_with(place, &["schema"]).1);
        let Some(schema_node) = node_at(doc, &schema) else { return };
        let is_array = schema_node.get("type").and_then(Node::as_str) == Some("array");
        let target = match (rule.repeatable, is_array) {
            (true, true) => {
                let items = pointer_with(&schema, &["items"]);
                place_of(doc, items.0, items.1)
            }
            (false, false) => schema,
            (repeatable, _) => {
                let (span, said) = (schema_node.key_span("type").unwrap_or(schema_node.span), if repeatable { "repeatable" } else { "single-valued" });
                diagnostics.push(Diagnostic::warning(
                    "ivoagen::ivoa::profile-disagrees",
                    Some(span),
                    format!("`{name}` is {said} in {title} {}; the spec's `type` is kept and the standard's syntax is not added", rule.section),
                ));
                return;
            }
        };
        let Some(target_node) = node_mut(doc, &target) else { return };
        let serde_json::Value::Object(wanted) = &rule.schema else { return };
        if let Some(own) = target_node.get("type").filter(|t| Some(t.to_json()) != wanted.get("type").cloned()) {
            diagnostics.push(Diagnostic::warning(
                "ivoagen::ivoa::profile-disagrees",
                Some(own.span),
                format!("`{name}` is `{}` in {title} {}; the spec's `type` is kept and the standard's syntax is not added", wanted.get("type").map(ToString::to_string).unwrap_or_default(), rule.section),
            ));
            return;
        }
        let own_syntax = SYNTAX.iter().find(|k| target_node.get(k).is_some());
        for (key, value) in wanted {
            match (target_node.get(key), own_syntax) {
                (Some(own), _) if own.to_json() != *value => diagnostics.push(Diagnostic::warning(
                    "ivoagen::ivoa::profile-disagrees",
                    Some(target_node.key_span(key).unwrap_or(own.span)),
                    format!("{title} {} gives `{name}` `{key}: {value}`; the spec's `{key}` is kept", rule.section),
                )),
                (Some(_), _) => {}
                (None, Some(own_key)) if SYNTAX.contains(&key.as_str()) => diagnostics.push(Diagnostic::warning(
                    "ivoagen::ivoa::profile-disagrees",
                    Some(target_node.key_span(own_key).unwrap_or(target_node.span)),
                    format!("{title} {} gives `{name}` `{key}: {value}`; the spec's `{own_key}` is kept instead", rule.section),
                )),
                (None, _) => {
                    let span = target_node.span;
                    set_default(target_node, key, node_of(value, span).value);
                }
            }
        }
    }
}

impl Rule {
    /// The schema of the parameter: one value's, or an array of them.
    fn schema_of_parameter(&self) -> serde_json::Value {
        if self.repeatable { json!({"type": "array", "items": self.schema}) } else { self.schema.clone() }
    }

    /// The whole parameter, for an operation that lacks it.
    fn parameter(&self) -> serde_json::Value {
        let mut parameter = json!({"name": self.name, "in": "query", "description": self.description, "schema": self.schema_of_parameter()});
        if self.required {
            parameter["required"] = json!(true);
        }
        if self.repeatable {
            parameter["explode"] = json!(true);
        }
        parameter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DaliType, Ty, Vosi};
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    /// One spec (`s.yaml`), loaded.
    fn loaded(spec: &str) -> Document {
        let fs: BTreeMap<PathBuf, String> = [(PathBuf::from("s.yaml"), spec.to_owned())].into();
        crate::load::load(&fs, Path::new("s.yaml")).expect("the spec loads").0
    }

    #[test]
    fn soda_profile_marks_sync_vosi_and_xtypes_but_keeps_what_the_author_wrote() {
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nx-ivoa-error-format: json\npaths:\n  /sync:\n    get:\n      parameters:\n        - {name: circle, in: query, schema: {type: string}}\n        - {name: ID, in: query, schema: {type: string}}\n      responses: {'200': {description: ok}}\n  /capabilities:\n    get:\n      responses: {'200': {description: ok}}\n";
        let mut doc = loaded(spec);
        assert!(augment(&mut doc, Profile::Soda).is_empty());
        let root = doc.root();
        assert_eq!(root.get("x-ivoa-error-format").unwrap().as_str(), Some("json"), "the author's setting stays");
        assert_eq!(root.get("x-ivoa-case-insensitive").unwrap().as_bool(), Some(true));
        let sync = root.get("paths").unwrap().get("/sync").unwrap().get("get").unwrap();
        assert_eq!(sync.get("x-ivoa-sync").unwrap().as_bool(), Some(true));
        assert_eq!(sync.get("x-ivoa-standard-id").unwrap().as_str(), Some("ivo://ivoa.net/std/SODA#sync-1.0"));
        let params = sync.get("parameters").unwrap().items();
        assert_eq!(params[0].get("x-ivoa-xtype").unwrap().as_str(), Some("circle"));
        assert!(params[1].get("x-ivoa-xtype").is_none());
        let caps = root.get("paths").unwrap().get("/capabilities").unwrap().get("get").unwrap();
        assert_eq!(caps.get("x-ivoa-vosi").unwrap().as_str(), Some("capabilities"));
    }

    /// The TAP draft's shape under `--profile soda`: a GET and an explicit POST on `/sync`. The
    /// POST stays the spec's own operation, and DALI-sync is not added beside it.
    #[test]
    fn a_named_profile_adds_no_dali_sync_beside_an_explicit_post() {
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /sync:\n    get:\n      responses: {'204': {description: ok}}\n    post:\n      responses: {'204': {description: ok}}\n";
        let mut doc = loaded(spec);
        let diagnostics = augment(&mut doc, Profile::Soda);
        assert_eq!(diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), ["ivoagen::ivoa::explicit-post"]);
        let sync = doc.root().get("paths").and_then(|p| p.get("/sync")).and_then(|i| i.get("get")).expect("the GET");
        assert!(sync.get("x-ivoa-sync").is_none());
        assert_eq!(sync.get("x-ivoa-standard-id").and_then(Node::as_str), Some("ivo://ivoa.net/std/SODA#sync-1.0"), "the rest of the profile applies");
        let (api, lowered) = crate::lower::lower(&doc);
        assert!(lowered.is_empty(), "{lowered:?}");
        let api = api.expect("lowered");
        let methods: Vec<(&str, bool)> = api.operations.iter().map(|op| (op.method.as_str(), op.dali_sync)).collect();
        assert_eq!(methods, [("get", false), ("post", false)]);
    }

    const HEAD: &str = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n";
    const OK: &str = "responses: {'200': {description: ok, content: {application/x-votable+xml: {schema: {type: string}}}}}";

    /// The spec augmented with `profile` and lowered: the API and every diagnostic.
    fn augmented(spec: &str, profile: Profile) -> (crate::ir::Api, Vec<Diagnostic>) {
        let mut doc = loaded(spec);
        let mut diagnostics = augment(&mut doc, profile);
        let (api, lowered) = crate::lower::lower(&doc);
        diagnostics.extend(lowered);
        (api.unwrap_or_else(|| panic!("{diagnostics:?}")), diagnostics)
    }

    /// The TAP draft's shape: `/sync` without an operationId (beside a bodiless POST), its own
    /// `/async` operations, `/tables`, no VOSI. The TAP profile makes `/async` the UWS job list
    /// of `/sync`'s parameters (named from method and path), marks `/tables`, adds LANG and VOSI,
    /// and gives the service's base as the TAP capability's access URL.
    #[test]
    fn tap_makes_async_the_job_list_of_sync_whatever_its_operation_ids() {
        let spec = format!(
            "{HEAD}paths:\n  /sync:\n    get:\n      parameters:\n        - {{name: QUERY, in: query, schema: {{type: string}}}}\n      {OK}\n    post:\n      {OK}\n  /async:\n    get:\n      {OK}\n    post:\n      {OK}\n  /async/{{jobId}}:\n    get:\n      parameters: [{{name: jobId, in: path, required: true, schema: {{type: string}}}}]\n      {OK}\n  /tables:\n    get:\n      operationId: tables\n      {OK}\n"
        );
        let (api, diagnostics) = augmented(&spec, Profile::Tap);
        // The bodiless POST is DALI-sync's, and the spec's operations under /async the runtime's.
        assert_eq!(diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), ["ivoagen::ivoa::repaired", "ivoagen::ivoa::job-list"], "{diagnostics:?}");
        assert!(diagnostics[1].message.contains("the spec's 3 operations there are not served as written"), "{}", diagnostics[1].message);
        let uws = api.uws.as_ref().expect("a job list");
        assert_eq!(uws.jobs, "/async");
        let sync = &api.operations[uws.operation];
        assert_eq!((sync.api_name.as_str(), sync.method.as_str()), ("get /sync", "get"));
        assert_eq!(sync.standard_id.as_deref(), Some("ivo://ivoa.net/std/TAP"));
        assert_eq!((sync.access_path.as_deref(), sync.interface_version.as_deref()), (Some(""), Some("1.1")));
        let lang = sync.params.iter().find(|p| p.api_name == "LANG").expect("LANG added");
        assert!(lang.required);
        let served: Vec<&str> = api.operations.iter().filter(|op| op.served()).map(|op| op.api_name.as_str()).collect();
        assert_eq!(served, ["get /sync", "tables"], "the job list is the runtime's");
        assert!(sync.dali_sync);
        let tables = api.operations.iter().find(|op| op.api_name == "tables").expect("tables");
        assert_eq!(tables.standard_id.as_deref(), Some("ivo://ivoa.net/std/VOSI#tables-1.1"));
        let vosi: Vec<(&str, Option<Vosi>)> = api.operations.iter().filter(|op| op.vosi.is_some()).map(|op| (op.path.as_str(), op.vosi)).collect();
        assert_eq!(vosi, [("/capabilities", Some(Vosi::Capabilities)), ("/availability", Some(Vosi::Availability))]);
    }

    /// DALI-async is UWS whatever the profile that knows `/sync`: the job list takes `/sync`'s
    /// parameters even when its GET has no operationId; SODA's explicit POST on `/links` writes
    /// DataLink's VOTable errors, as its GET does.
    #[test]
    fn async_is_a_job_list_without_operation_ids_and_links_errors_are_votables_whatever_the_method() {
        let spec = format!("{HEAD}paths:\n  /sync:\n    get:\n      {OK}\n  /async:\n    get:\n      {OK}\n");
        for profile in [Profile::Dali, Profile::Soda] {
            let (api, diagnostics) = augmented(&spec, profile);
            assert_eq!(diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), ["ivoagen::ivoa::job-list"], "{profile}: {diagnostics:?}");
            let uws = api.uws.as_ref().unwrap_or_else(|| panic!("{profile}: a job list"));
            assert_eq!(api.operations[uws.operation].api_name, "get /sync", "{profile}");
            assert_eq!(uws.standard_id.as_deref(), (profile == Profile::Soda).then_some("ivo://ivoa.net/std/SODA#async-1.0"));
        }
        let spec = format!("{HEAD}paths:\n  /links:\n    get:\n      {OK}\n    post:\n      {OK}\n");
        let (api, _) = augmented(&spec, Profile::Soda);
        let formats: Vec<(&str, crate::ir::ErrorFormat)> = api.operations.iter().map(|op| (op.method.as_str(), op.error_format)).collect();
        assert_eq!(formats, [("get", crate::ir::ErrorFormat::DaliVotable), ("post", crate::ir::ErrorFormat::DaliVotable)]);
    }

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern).expect("a valid pattern").is_match(value)
    }

    /// SSA's own values (SSA 1.1 §4.1.1, §8.7), which the DALI types refuse, are what its
    /// patterns accept; the author's pattern on POS is kept, with a warning at it.
    #[test]
    fn ssa_takes_its_own_syntax_and_keeps_the_authors_pattern() {
        let spec = format!(
            "{HEAD}paths:\n  /ssa:\n    get:\n      operationId: spectra\n      parameters:\n        - {{name: pos, in: query, schema: {{type: string, pattern: '^\\d'}}}}\n        - {{name: BAND, in: query, schema: {{type: string}}}}\n        - {{name: TIME, in: query}}\n      {OK}\n"
        );
        let (api, diagnostics) = augmented(&spec, Profile::Ssa);
        let warnings: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("SSA 1.1 §4.1.1.1") && warnings[0].contains("the spec's `pattern` is kept"), "{warnings:?}");
        let ssa = &api.operations[0];
        assert!(!ssa.dali_sync, "SSA is GET only");
        assert_eq!(ssa.standard_id.as_deref(), Some("ivo://ivoa.net/std/SSA"));
        let param = |name: &str| ssa.params.iter().find(|p| p.api_name == name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(param("pos").constraints.pattern.as_deref(), Some("^\\d"));
        let band = param("BAND").constraints.pattern.clone().expect("BAND's pattern");
        for value in ["1E-7/3E-6", "V", "5e-7", "/3e-6", "1e-7/;source"] {
            assert!(matches(&band, value), "BAND={value}");
        }
        assert!(!matches(&band, "1 2"), "DALI's interval is not SSA's");
        let time = param("TIME").constraints.pattern.clone().expect("TIME's pattern");
        for value in ["1998-05-21/1999-01-01", "1998-05-21T10:00:00/", "2000"] {
            assert!(matches(&time, value), "TIME={value}");
        }
        assert!(!matches(&time, "51000 52000"));
        let request = param("REQUEST");
        assert!(request.required, "added, required");
        let request = request.constraints.pattern.clone().expect("REQUEST's pattern");
        assert!(matches(&request, "queryData") && matches(&request, "QUERYDATA") && !matches(&request, "getData"));
        // Without the author's pattern, POS takes SSA's `ra,dec[;frame]`.
        let (api, _) = augmented(&spec.replace(", pattern: '^\\d'", ""), Profile::Ssa);
        let pos = api.operations[0].params[0].constraints.pattern.clone().expect("POS's pattern");
        assert!(matches(&pos, "10.68,41.27") && matches(&pos, "10.68,+41.27;ICRS") && !matches(&pos, "CIRCLE 10 41 1"));
    }

    /// SCS: RA, DEC and SR are required numbers with the standard's ranges, added when the spec
    /// lacks them; VERB keeps its default; VOSI is added beside the resource.
    #[test]
    fn scs_adds_its_required_parameters_with_their_ranges_and_vosi() {
        let spec = format!("{HEAD}paths:\n  /cone/search:\n    get:\n      parameters:\n        - {{name: VERB, in: query}}\n      {OK}\n");
        let (api, diagnostics) = augmented(&spec, Profile::Scs);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let cone = &api.operations[0];
        let summary: Vec<(&str, bool, &Ty)> = cone.params.iter().map(|p| (p.api_name.as_str(), p.required, &p.ty)).collect();
        assert_eq!(summary, [("VERB", false, &Ty::I64), ("RA", true, &Ty::F64), ("DEC", true, &Ty::F64), ("SR", true, &Ty::F64)]);
        assert_eq!(cone.params[2].constraints.minimum, Some((-90.0, false)));
        assert_eq!(cone.params[3].constraints.maximum, Some((180.0, false)));
        let vosi: Vec<(&str, Option<Vosi>)> = api.operations[1..].iter().map(|op| (op.path.as_str(), op.vosi)).collect();
        assert_eq!(vosi, [("/cone/capabilities", Some(Vosi::Capabilities)), ("/cone/availability", Some(Vosi::Availability))]);
        assert_eq!(cone.standard_id.as_deref(), Some("ivo://ivoa.net/std/ConeSearch"));
        assert!(!cone.dali_sync);
    }

    /// SIA 2.0's query resource is DALI-sync whatever its path, its parameters repeatable DALI
    /// values; a parameter the author made single-valued stays so, with a warning.
    #[test]
    fn sia_marks_its_query_resource_at_any_path_and_repeats_its_parameters() {
        let spec = format!(
            "{HEAD}paths:\n  /query:\n    get:\n      parameters:\n        - {{name: POS, in: query}}\n        - {{name: BAND, in: query, schema: {{type: array, items: {{type: string}}}}}}\n        - {{name: TIME, in: query, schema: {{type: string}}}}\n        - {{name: MAXREC, in: query}}\n      {OK}\n  /capabilities:\n    get:\n      responses: {{'200': {{description: ok}}}}\n"
        );
        let (api, diagnostics) = augmented(&spec, Profile::Sia);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(diagnostics[0].message.contains("`TIME` is repeatable in SIA 2.0"), "{diagnostics:?}");
        let query = &api.operations[0];
        assert!(query.dali_sync && query.base_url);
        assert_eq!(query.standard_id.as_deref(), Some("ivo://ivoa.net/std/SIA#query-2.0"));
        let types: Vec<&Ty> = query.params.iter().map(|p| &p.ty).collect();
        let shape = Ty::Vec(Box::new(Ty::Dali(DaliType::Shape)));
        let interval = Ty::Vec(Box::new(Ty::Dali(DaliType::Interval)));
        assert_eq!(types, [&shape, &interval, &Ty::String, &Ty::I64]);
        let paths: Vec<&str> = api.operations.iter().map(|op| op.path.as_str()).collect();
        assert_eq!(paths, ["/query", "/capabilities", "/availability"], "the spec's capabilities kept, availability added");
    }

    /// DataLink: an explicit POST with a body beside the resource is kept as written, and
    /// DALI-sync is not added (so POST is one operation, not two), with a warning at the POST. A
    /// POST with its parameters in the query and no body, as the IVOA's drafts write it, is
    /// repaired into the GET's DALI-sync POST, with a warning.
    #[test]
    fn datalink_leaves_an_explicit_post_alone_and_says_so() {
        let form = "requestBody: {content: {application/x-www-form-urlencoded: {schema: {type: object, properties: {ID: {type: string}}}}}}";
        let spec = format!("{HEAD}paths:\n  /links:\n    get:\n      parameters:\n        - {{name: ID, in: query}}\n      {OK}\n    post:\n      {form}\n      {OK}\n");
        let (api, diagnostics) = augmented(&spec, Profile::Datalink);
        assert_eq!(diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), ["ivoagen::ivoa::explicit-post"]);
        assert!(!api.operations[0].dali_sync);
        let drafted = format!("{HEAD}paths:\n  /links:\n    get:\n      parameters:\n        - {{name: ID, in: query}}\n      {OK}\n    post:\n      parameters:\n        - {{name: ID, in: query}}\n      {OK}\n");
        let (repaired, diagnostics) = augmented(&drafted, Profile::Datalink);
        assert_eq!(diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), ["ivoagen::ivoa::repaired"]);
        let methods: Vec<(&str, bool)> = repaired.operations.iter().filter(|op| op.served()).map(|op| (op.method.as_str(), op.dali_sync)).collect();
        assert_eq!(methods, [("get", true)], "one operation, GET and POST");
        assert_eq!(api.operations[0].params[0].ty, Ty::Vec(Box::new(Ty::String)));
        let without_post = spec.split("    post:").next().expect("the GET");
        let (api, diagnostics) = augmented(without_post, Profile::Datalink);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert!(api.operations[0].dali_sync);
    }

    #[test]
    fn a_spec_names_its_standard_and_an_unknown_one_is_located() {
        let fs: BTreeMap<PathBuf, String> = [(PathBuf::from("s.yaml"), format!("{HEAD}x-ivoa-standard: ssa\npaths: {{}}\n"))].into();
        let (api, _, _) = crate::analyse(&fs, Path::new("s.yaml")).unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
        assert!(api.operations.is_empty(), "no resource, no VOSI siblings for it");
        let fs: BTreeMap<PathBuf, String> = [(PathBuf::from("s.yaml"), format!("{HEAD}x-ivoa-standard: sap\npaths: {{}}\n"))].into();
        let failure = crate::analyse(&fs, Path::new("s.yaml")).expect_err("an unknown standard");
        assert_eq!(failure.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(), ["ivoagen::ivoa::standard"]);
    }
}
