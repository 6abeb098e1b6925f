//! VOSI 1.1: capabilities and availability documents.

use crate::xml::XmlWriter;
use http::HeaderMap;

/// One capability: a standard the service implements at an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The IVOA standardID (`ivo://ivoa.net/std/SODA#sync-1.0`).
    pub standard_id: &'static str,
    /// The endpoint's path below the service's base URL (`/sync`).
    pub path: &'static str,
}

/// The base URL of the service as the client of a request (its `headers` and `extensions`) sees
/// it: the configured public URL if there is one, else the scheme, host, port and path prefix
/// that trusted proxies report, or the `Host` header (see [`crate::forwarded`]), and the base path.
/// The configuration comes from the [`crate::serve::Mount`] in the extensions, the peer from the
/// `ConnectInfo` that [`crate::serve::serve`] puts there; without a `Mount`, no proxy is trusted.
pub fn base_url(headers: &HeaderMap, extensions: &http::Extensions) -> String {
    let peer = crate::serve::peer(extensions);
    match extensions.get::<std::sync::Arc<crate::serve::Mount>>() {
        Some(mount) => mount.base_url(headers, peer),
        None => crate::forwarded::base_url(headers, peer, &[], ""),
    }
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
    let base = base_url(request.headers(), request.extensions());
    crate::response::text(http::StatusCode::OK, "application/xml", capabilities(list, &base))
}

/// The answer to GET `availability`: available since the process started.
pub fn availability_response() -> axum::response::Response {
    crate::response::text(http::StatusCode::OK, "application/xml", availability(true, Some(started()), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_prefers_configuration_then_trusted_forwarded_headers() {
        use crate::serve::Mount;
        use axum::extract::ConnectInfo;
        use std::sync::Arc;
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        let mut ext = http::Extensions::new();
        let mount = Mount { base_path: "/soda".into(), trusted_proxies: crate::forwarded::Cidr::loopback(), ..Mount::default() };
        ext.insert(Arc::new(mount.clone()));
        assert_eq!(base_url(&h, &ext), "http://127.0.0.1:8080/soda");
        h.insert("x-forwarded-host", "archive.example.org".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(base_url(&h, &ext), "http://127.0.0.1:8080/soda", "no peer known: nothing trusted");
        ext.insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 50000))));
        assert_eq!(base_url(&h, &ext), "https://archive.example.org/soda");
        ext.insert(ConnectInfo(std::net::SocketAddr::from(([192, 0, 2, 1], 50000))));
        assert_eq!(base_url(&h, &ext), "http://127.0.0.1:8080/soda", "an untrusted peer");
        ext.insert(Arc::new(Mount { public_url: Some("https://data.example.org/api/".into()), ..mount }));
        assert_eq!(base_url(&h, &ext), "https://data.example.org/api");
        assert_eq!(base_url(&h, &http::Extensions::new()), "http://127.0.0.1:8080", "no mount");
    }
}
