//! VOSI 1.1: capabilities and availability documents.
//!
//! A generated server answers both itself; the service shapes them through two provided methods
//! of its `Api` trait: `vosi_availability` (whether it is up, since when, with notes) and
//! `vosi_capability` (a registry extension of one of its capabilities, such as TAPRegExt's
//! `tr:TableAccess` or SimpleDALRegExt's `cs:ConeSearch`).

use crate::xml::XmlWriter;
use chrono::{DateTime, Utc};

/// One capability: a standard the service implements at an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The IVOA standardID (`ivo://ivoa.net/std/SODA#sync-1.0`).
    pub standard_id: &'static str,
    /// The endpoint's path below the service's base URL (`/sync`).
    pub path: &'static str,
    /// The version of the standard's interface (`version="1.1"`), when not its first.
    pub version: Option<&'static str>,
}

/// A registry extension of a capability (VOResource 1.1 §3.2.1): the capability's `xsi:type`
/// and the elements its schema adds after the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The capability's `xsi:type` (`cs:ConeSearch`).
    pub xsi_type: String,
    /// The namespaces the type and the elements use, as (prefix, URI), declared on the capability.
    pub namespaces: Vec<(String, String)>,
    /// The extension's elements, in the order its schema gives.
    pub elements: Vec<Element>,
}

impl Extension {
    /// An extension of type `prefix:name` in `namespace`, without elements yet.
    pub fn new(prefix: &str, name: &str, namespace: &str) -> Self {
        Extension { xsi_type: format!("{prefix}:{name}"), namespaces: vec![(prefix.to_owned(), namespace.to_owned())], elements: Vec::new() }
    }

    /// Adds `element` after the others.
    pub fn element(mut self, element: Element) -> Self {
        self.elements.push(element);
        self
    }
}

/// An XML element of an extension: a name, attributes, then text or children, escaped when
/// written, so the document stays well-formed whatever the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Text(String),
    Children(Vec<Element>),
}

impl Element {
    /// An element without content (children may follow).
    pub fn new(name: &str) -> Self {
        Element { name: name.to_owned(), attributes: Vec::new(), content: Content::Children(Vec::new()) }
    }

    /// An element holding `text`.
    pub fn leaf(name: &str, text: impl std::fmt::Display) -> Self {
        Element { name: name.to_owned(), attributes: Vec::new(), content: Content::Text(text.to_string()) }
    }

    /// Adds an attribute.
    pub fn attribute(mut self, name: &str, value: &str) -> Self {
        self.attributes.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds a child after the others (an element holds text or children: a leaf's text gives way).
    pub fn child(mut self, child: Element) -> Self {
        match &mut self.content {
            Content::Children(children) => children.push(child),
            Content::Text(_) => self.content = Content::Children(vec![child]),
        }
        self
    }

    fn write(&self, w: &mut XmlWriter) {
        let attributes: Vec<(&str, &str)> = self.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match &self.content {
            Content::Text(text) => {
                w.text_element(&self.name, &attributes, text);
            }
            Content::Children(children) if children.is_empty() => {
                w.empty(&self.name, &attributes);
            }
            Content::Children(children) => {
                w.start(&self.name, &attributes);
                for child in children {
                    child.write(w);
                }
                w.end();
            }
        }
    }
}

/// The `vosi:capabilities` document for `capabilities`, each endpoint under `base_url`, each
/// capability with the extension `extension` gives for its standardID.
pub fn capabilities_with(capabilities: &[Capability], base_url: &str, extension: impl Fn(&str) -> Option<Extension>) -> String {
    let mut w = XmlWriter::new();
    w.start(
        "vosi:capabilities",
        &[
            ("xmlns:vosi", "http://www.ivoa.net/xml/VOSICapabilities/v1.0"),
            ("xmlns:vr", "http://www.ivoa.net/xml/VOResource/v1.0"),
            ("xmlns:vs", "http://www.ivoa.net/xml/VODataService/v1.1"),
            ("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ],
    );
    for c in capabilities {
        let extension = extension(c.standard_id);
        let mut attributes: Vec<(String, &str)> = vec![("standardID".to_owned(), c.standard_id)];
        if let Some(e) = &extension {
            attributes.extend(e.namespaces.iter().map(|(prefix, uri)| (format!("xmlns:{prefix}"), uri.as_str())));
            attributes.push(("xsi:type".to_owned(), e.xsi_type.as_str()));
        }
        let attributes: Vec<(&str, &str)> = attributes.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut interface = vec![("xsi:type", "vs:ParamHTTP"), ("role", "std")];
        interface.extend(c.version.map(|v| ("version", v)));
        w.start("capability", &attributes)
            .start("interface", &interface)
            .text_element("accessURL", &[("use", "full")], &format!("{base_url}{}", c.path))
            .end();
        for element in extension.iter().flat_map(|e| &e.elements) {
            element.write(&mut w);
        }
        w.end();
    }
    w.finish()
}

/// The `vosi:capabilities` document for `capabilities`, each endpoint under `base_url`.
pub fn capabilities(capabilities: &[Capability], base_url: &str) -> String {
    capabilities_with(capabilities, base_url, |_| None)
}

/// What VOSI availability reports (VOSI 1.1 §3.3): whether the service is up, since when, when it
/// goes down or comes back, and notes for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// Whether the service is accepting requests.
    pub available: bool,
    /// Since when it has been up.
    pub up_since: Option<DateTime<Utc>>,
    /// When it is going down (planned maintenance).
    pub down_at: Option<DateTime<Utc>>,
    /// When it is expected back.
    pub back_at: Option<DateTime<Utc>>,
    /// Notes on its state.
    pub notes: Vec<String>,
}

impl Availability {
    /// Available since this process started serving: what a server reports unless its service says otherwise.
    pub fn up() -> Self {
        Availability { available: true, up_since: Some(started()), down_at: None, back_at: None, notes: Vec::new() }
    }

    /// Not available, for the reason `note`.
    pub fn down(note: impl Into<String>) -> Self {
        Availability { available: false, up_since: None, down_at: None, back_at: None, notes: vec![note.into()] }
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The `vosi:availability` document.
    pub fn document(&self) -> String {
        let time = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut w = XmlWriter::new();
        w.start("vosi:availability", &[("xmlns:vosi", "http://www.ivoa.net/xml/VOSIAvailability/v1.0")])
            .leaf("vosi:available", if self.available { "true" } else { "false" });
        for (name, at) in [("vosi:upSince", &self.up_since), ("vosi:downAt", &self.down_at), ("vosi:backAt", &self.back_at)] {
            if let Some(t) = at {
                w.leaf(name, &time(t));
            }
        }
        for note in &self.notes {
            w.leaf("vosi:note", note);
        }
        w.finish()
    }
}

/// The `vosi:availability` document.
pub fn availability(available: bool, up_since: Option<DateTime<Utc>>, note: Option<&str>) -> String {
    Availability { available, up_since, down_at: None, back_at: None, notes: note.into_iter().map(str::to_owned).collect() }.document()
}

/// When this process started serving, for `upSince`.
pub fn started() -> DateTime<Utc> {
    static STARTED: std::sync::OnceLock<DateTime<Utc>> = std::sync::OnceLock::new();
    *STARTED.get_or_init(Utc::now)
}

/// The answer to GET `capabilities`, for `request`, each capability extended as `extension` says.
pub fn capabilities_response<B>(list: &[Capability], request: &http::Request<B>, extension: impl Fn(&str) -> Option<Extension>) -> axum::response::Response {
    let base = crate::serve::base_url(request.headers(), request.extensions());
    crate::response::text(http::StatusCode::OK, "application/xml", capabilities_with(list, &base, extension))
}

/// The answer to GET `availability`: what `availability` reports. VOSI answers 200 whether or
/// not the service is available; the document says which.
pub fn availability_response(availability: &Availability) -> axum::response::Response {
    crate::response::text(http::StatusCode::OK, "application/xml", availability.document())
}

/// How old the readiness outcomes VOSI availability reports may be: the checks run at most this
/// often, however often availability is asked.
pub const AVAILABILITY_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(1);

/// The readiness checks of the server `request` came through, for [`availability_answer`]: none
/// for a router served without [`crate::serve::mount`] (tests calling `router` directly).
pub fn readiness<B>(request: &http::Request<B>) -> Option<crate::health::Health> {
    request.extensions().get::<std::sync::Arc<crate::serve::Mount>>().map(|m| m.health.clone())
}

/// The answer to GET `availability`: what the service reports (`reported`), unless a readiness
/// check of the server (`health`, from [`readiness`]) fails, its job store's, say (see
/// [`crate::health`]): then not available, with a note naming the checks that failed (not why:
/// the document is public; `/readyz` on the operations listener tells).
pub async fn availability_answer(reported: Availability, health: Option<crate::health::Health>) -> axum::response::Response {
    let availability = match health {
        Some(health) if reported.available => with_readiness(reported, &health).await,
        _ => reported,
    };
    availability_response(&availability)
}

/// `reported`, not available when a check of `health` fails.
async fn with_readiness(reported: Availability, health: &crate::health::Health) -> Availability {
    let failed: Vec<String> = health.recent(AVAILABILITY_MAX_AGE).await.into_iter().filter(|(_, outcome)| outcome.is_err()).map(|(name, _)| name).collect();
    if failed.is_empty() {
        return reported;
    }
    let mut notes = reported.notes;
    notes.push(format!("not ready: {} failed its readiness check", failed.join(", ")));
    Availability { available: false, up_since: None, down_at: reported.down_at, back_at: reported.back_at, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_types_its_capability_and_follows_the_interface() {
        let list = [Capability { standard_id: "ivo://ivoa.net/std/ConeSearch", path: "/search", version: None }, Capability { standard_id: "ivo://ivoa.net/std/VOSI#capabilities", path: "/capabilities", version: None }];
        let doc = capabilities_with(&list, "http://h/scs", |id| {
            (id == "ivo://ivoa.net/std/ConeSearch").then(|| {
                Extension::new("cs", "ConeSearch", "http://www.ivoa.net/xml/ConeSearch/v1.0")
                    .element(Element::leaf("maxSR", 180))
                    .element(Element::new("testQuery").child(Element::leaf("ra", "10.68 & <1>")))
            })
        });
        assert!(doc.contains(r#"<capability standardID="ivo://ivoa.net/std/ConeSearch" xmlns:cs="http://www.ivoa.net/xml/ConeSearch/v1.0" xsi:type="cs:ConeSearch">"#), "{doc}");
        let interface = doc.find("</interface>").expect("an interface");
        let max_sr = doc.find("<maxSR>180</maxSR>").expect("the extension's element");
        assert!(interface < max_sr, "{doc}");
        assert!(doc.contains("<ra>10.68 &amp; &lt;1&gt;</ra>"), "escaped: {doc}");
        assert_eq!(doc.matches("xsi:type=\"cs:ConeSearch\"").count(), 1, "only the cone search is extended: {doc}");
    }

    #[test]
    fn availability_reports_what_the_service_says_in_the_schemas_order() {
        let down = Availability::down("the archive's disk is offline").note("back after the repair");
        let doc = down.document();
        assert!(doc.contains("<vosi:available>false</vosi:available>"), "{doc}");
        assert!(!doc.contains("upSince"), "{doc}");
        assert_eq!(doc.matches("<vosi:note>").count(), 2, "{doc}");
        let up = Availability::up().document();
        assert!(up.find("<vosi:available>true").unwrap() < up.find("<vosi:upSince>").unwrap(), "{up}");
    }
}
