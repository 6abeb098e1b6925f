//! Augment phase: what an IVOA profile implies, added to a plain OpenAPI description as
//! `x-ivoa-*` keys — so a spec written without ivoagen (the IVOA's own fragments, say) becomes an
//! IVOA service. Keys the spec already has are kept: the author's word wins over the profile.
//!
//! **Architecture invariant:** augmenting only adds keys to the loaded tree; it reads no file.

use crate::load::{Document, Key, Node, Value};
use crate::source::{FileId, Span};

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
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Profile::Dali => "dali",
            Profile::Uws => "uws",
            Profile::Soda => "soda",
        })
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "dali" => Ok(Profile::Dali),
            "uws" => Ok(Profile::Uws),
            "soda" => Ok(Profile::Soda),
            other => Err(format!("unknown profile `{other}`: use dali, uws or soda")),
        }
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

/// Applies `profile` to the document.
pub fn augment(doc: &mut Document, profile: Profile) {
    let error_format = match profile {
        Profile::Dali => "dali-votable",
        Profile::Uws | Profile::Soda => "soda-text",
    };
    set_default(doc.root_mut(), "x-ivoa-case-insensitive", Value::Bool(true));
    set_default(doc.root_mut(), "x-ivoa-error-format", string(error_format));

    let paths: Vec<String> = doc.root().get("paths").map(|p| p.entries().iter().map(|(k, _)| k.name.clone()).collect()).unwrap_or_default();
    // SODA: the async endpoints are UWS, and a job takes the sync operation's parameters.
    if profile == Profile::Soda && paths.iter().any(|p| p == "/async") {
        let sync = place_of(doc, FileId::ROOT, vec!["paths".into(), "/sync".into()]);
        let sync_id = doc
            .node(&crate::load::Target { file: sync.0, pointer: sync.1 })
            .and_then(|item| item.get("get"))
            .and_then(|op| op.get("operationId"))
            .and_then(Node::as_str)
            .map(str::to_owned);
        if let Some(id) = sync_id {
            let span = doc.root().span;
            let key = synthetic(span);
            let value = Value::Map(vec![
                (key("jobs"), Node { value: string("/async"), span }),
                (key("parameters"), Node { value: string(&id), span }),
                (key("standard-id"), Node { value: string("ivo://ivoa.net/std/SODA#async-1.0"), span }),
            ]);
            set_default(doc.root_mut(), "x-ivoa-uws", value);
        }
    }
    for path in paths {
        let item = place_of(doc, FileId::ROOT, vec!["paths".into(), path.clone()]);
        let Some(item_node) = doc.node(&crate::load::Target { file: item.0, pointer: item.1.clone() }) else { continue };
        let methods: Vec<String> = item_node.entries().iter().map(|(k, _)| k.name.clone()).filter(|m| METHODS.contains(&m.as_str())).collect();
        let shared_params = item_node.get("parameters").map_or(0, |p| p.items().len());
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
                // DataLink `links` (DataLink 1.1 §3): DALI-sync, VOTable errors, absolute URLs.
                ("links", "get") if profile == Profile::Soda => {
                    settings.push(("x-ivoa-sync", Value::Bool(true)));
                    settings.push(("x-ivoa-standard-id", string("ivo://ivoa.net/std/DataLink#links-1.1")));
                    settings.push(("x-ivoa-error-format", string("dali-votable")));
                    settings.push(("x-ivoa-base-url", Value::Bool(true)));
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
                for (key, value) in settings {
                    set_default(op, key, value);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    #[test]
    fn soda_profile_marks_sync_vosi_and_xtypes_but_keeps_what_the_author_wrote() {
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\nx-ivoa-error-format: json\npaths:\n  /sync:\n    get:\n      parameters:\n        - {name: circle, in: query, schema: {type: string}}\n        - {name: ID, in: query, schema: {type: string}}\n      responses: {'200': {description: ok}}\n  /capabilities:\n    get:\n      responses: {'200': {description: ok}}\n";
        let fs: BTreeMap<PathBuf, String> = [(PathBuf::from("s.yaml"), spec.to_owned())].into();
        let (mut doc, _) = crate::load::load(&fs, Path::new("s.yaml")).unwrap();
        augment(&mut doc, Profile::Soda);
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
}
