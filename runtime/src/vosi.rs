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

/// The base URL of the service as a client reached it: the configured public URL if there is
/// one, else `http://` + the `Host` header (or `X-Forwarded-Host`/`-Proto`) + the base path.
pub fn base_url(headers: &HeaderMap, public_url: Option<&str>, base_path: &str) -> String {
    if let Some(url) = public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or(v).trim().to_owned());
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or_else(|| "localhost".to_owned());
    let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".to_owned());
    format!("{scheme}://{host}{base_path}")
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

/// The answer to GET `capabilities`.
pub fn capabilities_response(list: &[Capability], mount: Option<&crate::serve::Mount>, headers: &HeaderMap) -> axum::response::Response {
    let base = match mount {
        Some(mount) => mount.base_url(headers),
        None => base_url(headers, None, ""),
    };
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
    fn base_url_prefers_configuration_then_forwarded_headers() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        assert_eq!(base_url(&h, None, "/soda"), "http://127.0.0.1:8080/soda");
        h.insert("x-forwarded-host", "archive.example.org".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(base_url(&h, None, "/soda"), "https://archive.example.org/soda");
        assert_eq!(base_url(&h, Some("https://data.example.org/api/"), "/soda"), "https://data.example.org/api");
    }
}
