//! VOSI 1.1: capabilities and availability documents.

use crate::xml::XmlWriter;

/// One capability: a standard the service implements at an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The IVOA standardID (`ivo://ivoa.net/std/SODA#sync-1.0`).
    pub standard_id: &'static str,
    /// The endpoint's path below the service's base URL (`/sync`).
    pub path: &'static str,
}

/// The `vosi:capabilities` document for `capabilities`, each endpoint under `base_url`.
pub fn capabilities(capabilities: &[Capability], base_url: &str) -> String {
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
        w.start("capability", &[("standardID", c.standard_id)])
            .start("interface", &[("xsi:type", "vs:ParamHTTP"), ("role", "std")])
            .text_element("accessURL", &[("use", "full")], &format!("{base_url}{}", c.path))
            .end()
            .end();
    }
    w.finish()
}

/// The `vosi:availability` document.
pub fn availability(available: bool, up_since: Option<chrono::DateTime<chrono::Utc>>, note: Option<&str>) -> String {
    let mut w = XmlWriter::new();
    w.start("vosi:availability", &[("xmlns:vosi", "http://www.ivoa.net/xml/VOSIAvailability/v1.0")])
        .text_element::<&str>("vosi:available", &[], if available { "true" } else { "false" });
    if let Some(t) = up_since {
        w.text_element::<&str>("vosi:upSince", &[], &t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    }
    if let Some(note) = note {
        w.text_element::<&str>("vosi:note", &[], note);
    }
    w.finish()
}

/// When this process started serving, for `upSince`.
pub fn started() -> chrono::DateTime<chrono::Utc> {
    static STARTED: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    *STARTED.get_or_init(chrono::Utc::now)
}

/// The answer to GET `capabilities`, for `request`.
pub fn capabilities_response<B>(list: &[Capability], request: &http::Request<B>) -> axum::response::Response {
    let base = crate::serve::base_url(request.headers(), request.extensions());
    crate::response::text(http::StatusCode::OK, "application/xml", capabilities(list, &base))
}

/// The answer to GET `availability`: available since the process started.
pub fn availability_response() -> axum::response::Response {
    crate::response::text(http::StatusCode::OK, "application/xml", availability(true, Some(started()), None))
}
