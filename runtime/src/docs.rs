//! Pages for people: a landing page at `{base}/` and interactive API docs at `{base}/docs`.
//!
//! [`routes`] reads the service's OpenAPI description once, when the server starts, and answers:
//!
//! - `GET {base}/`: an HTML page with the service's title and description (`info`), its operations
//!   (method, path, summary from `paths`) and links to `docs` and `openapi.json`. Every link is
//!   relative, so the page works behind a proxy that mounts the service under a prefix of its own.
//!   `GET {base}` (no slash, when the base path is not empty) redirects there with a relative
//!   `Location`, for the same reason.
//! - `GET {base}/docs`: Swagger UI, from the files of the npm package `swagger-ui-dist` shipped in
//!   the binary (`runtime/assets/swagger-ui/`, gzip-compressed, with their provenance), so the page
//!   needs no network beyond the service. The page's own script (`docs/init.js`) fetches
//!   `openapi.json`, replaces every `servers` list with the URL the page was loaded from minus
//!   `/docs`, and hands the result to Swagger UI: "Try it out" reaches this server whatever the
//!   description's `servers` say and whatever proxy is in front.
//!
//! Nothing from the request is written into a page; the description's text is HTML-escaped.
//! Routes the description defines itself win: a page is left out when `paths` has a GET (or HEAD)
//! operation answering its path, a templated segment (`/{name}`) matching any segment. A
//! description that is not JSON gives a landing page saying so, and the docs page as usual (which
//! then shows Swagger UI's own error).

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use axum::routing::get;
use serde_json::Value;

/// The Swagger UI version whose files are in `runtime/assets/swagger-ui/`; part of the asset URLs,
/// so that browsers may cache them for a year and still load a new version after an upgrade.
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

const BUNDLE_GZ: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui-bundle.js.gz");
const CSS_GZ: &[u8] = include_bytes!("../assets/swagger-ui/swagger-ui.css.gz");

/// The docs page's script, ours: starts Swagger UI on the description, pointed at this server.
const INIT_JS: &str = r#"// ivoagen: Swagger UI on this service's description, "Try it out" aimed at this server.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  // The page is {base}/docs: "." is {base}/, whatever prefix a proxy put in front of it.
  var base = new URL(".", window.location.href).href.replace(/\/$/, "");
  function fail(message) {
    var p = document.createElement("p");
    p.className = "ivoagen-error";
    p.textContent = message;
    root.replaceChildren(p);
  }
  fetch("openapi.json", { headers: { Accept: "application/json" } })
    .then(function (response) {
      if (!response.ok) {
        throw new Error("openapi.json answered " + response.status);
      }
      return response.json();
    })
    .then(function (spec) {
      // Servers may also be declared on a path or an operation; those would win over ours.
      spec.servers = [{ url: base }];
      var paths = spec.paths || {};
      Object.keys(paths).forEach(function (path) {
        var item = paths[path];
        if (item && typeof item === "object") {
          delete item.servers;
          Object.keys(item).forEach(function (key) {
            if (item[key] && typeof item[key] === "object") {
              delete item[key].servers;
            }
          });
        }
      });
      window.ui = SwaggerUIBundle({
        spec: spec,
        domNode: root,
        deepLinking: true,
        tryItOutEnabled: false,
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout"
      });
    })
    .catch(function (error) {
      fail("Cannot show the API description: " + error.message);
    });
})();
"#;

/// What the description says, read once at startup.
struct Description {
    /// `info.title`, or a neutral fallback.
    title: String,
    /// `info.version`, if any.
    version: Option<String>,
    /// `info.description`, if any.
    description: Option<String>,
    /// Every operation: method (upper case), path, summary (or operationId).
    operations: Vec<(String, String, Option<String>)>,
    /// The `paths` keys with a GET or HEAD operation.
    get_paths: Vec<String>,
    /// Whether the description could be read at all.
    readable: bool,
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

impl Description {
    fn parse(openapi_json: &str) -> Description {
        let Ok(doc) = serde_json::from_str::<Value>(openapi_json) else {
            return Description {
                title: "API".to_owned(),
                version: None,
                description: None,
                operations: Vec::new(),
                get_paths: Vec::new(),
                readable: false,
            };
        };
        let info = doc.get("info");
        let text = |key: &str| info.and_then(|i| i.get(key)).and_then(Value::as_str).map(str::to_owned);
        let mut operations = Vec::new();
        let mut get_paths = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                let Some(item) = item.as_object() else { continue };
                for method in METHODS {
                    let Some(op) = item.get(method) else { continue };
                    if (method == "get" || method == "head") && !get_paths.contains(path) {
                        get_paths.push(path.clone());
                    }
                    let summary = op
                        .get("summary")
                        .or_else(|| op.get("operationId"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    operations.push((method.to_ascii_uppercase(), path.clone(), summary));
                }
            }
        }
        Description {
            title: text("title").filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "API".to_owned()),
            version: text("version"),
            description: text("description").filter(|d| !d.trim().is_empty()),
            operations,
            get_paths,
            readable: true,
        }
    }

    /// Whether the description answers `GET path` itself (`path` relative to the base, `/`-led).
    fn defines(&self, path: &str) -> bool {
        self.get_paths.iter().any(|p| template_matches(p, path))
    }
}

/// Whether the OpenAPI path template `template` matches the concrete `path`: segment by segment,
/// `{name}` matching any one non-empty segment.
fn template_matches(template: &str, path: &str) -> bool {
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(ts), Some(ps)) => {
                let whole = ts.starts_with('{') && ts.ends_with('}') && ts.len() > 2;
                if !(ts == ps || whole && !ps.is_empty()) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// `router` with the pages for people of `routes` merged in, unless the server runs with
/// `--no-docs`. Routes the description defines itself win.
pub fn merge(router: Router, config: &crate::serve::Config, openapi_json: &'static str) -> Router {
    if config.docs { router.merge(routes(&config.base_path, openapi_json)) } else { router }
}

/// The landing page, the docs page and its assets for the description `openapi_json`, under
/// `base_path` (`/soda`, or empty), for a server to merge into its router.
///
/// The description is parsed here, once; a malformed one does not panic (see the module's
/// documentation). Pages whose paths the description defines itself are left out.
pub fn routes(base_path: &str, openapi_json: &'static str) -> Router {
    let base = normalise(base_path);
    if !routable(&base) {
        // axum would refuse (panic on) such a route; the service's own routes are what matter.
        return Router::new();
    }
    let description = Description::parse(openapi_json);
    let mut router = Router::new();
    if !description.defines("/") {
        let page = Bytes::from(landing_page(&description));
        router = router.route(&format!("{base}/"), get(move || html(page.clone(), LANDING_CSP)));
    }
    if let Some(segment) = base.rsplit('/').next().filter(|s| !s.is_empty()) {
        // Relative, so that a proxy's prefix stays; `./` keeps a segment with a colon from being
        // read as a scheme.
        let target = if segment.contains(':') { format!("./{segment}/") } else { format!("{segment}/") };
        router = router.route(&base, get(move |uri: Uri| redirect(target.clone(), uri)));
    }
    if !description.defines("/docs") {
        let page = Bytes::from(docs_page(&description));
        router = router.route(&format!("{base}/docs"), get(move || html(page.clone(), DOCS_CSP)));
        if !description.defines("/docs/") {
            router = router.route(&format!("{base}/docs/"), get(|uri: Uri| redirect("../docs".to_owned(), uri)));
        }
    }
    for (name, content_type, gz) in [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8", BUNDLE_GZ),
        ("swagger-ui.css", "text/css; charset=utf-8", CSS_GZ),
    ] {
        let path = format!("/docs/{name}");
        if !description.defines(&path) {
            router = router.route(&format!("{base}{path}"), get(move |headers: HeaderMap| async move { gzipped(&headers, content_type, gz) }));
        }
    }
    if !description.defines("/docs/init.js") {
        router = router.route(&format!("{base}/docs/init.js"), get(|| async {
            let mut response = Response::new(Body::from(INIT_JS));
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }));
    }
    router
}

/// `/soda/` → `/soda`, `soda` → `/soda`, `/` → ``.
fn normalise(base_path: &str) -> String {
    let trimmed = base_path.trim_end_matches('/');
    if trimmed.is_empty() || trimmed.starts_with('/') { trimmed.to_owned() } else { format!("/{trimmed}") }
}

/// Whether axum takes `base` literally: no `{`, `}`, `*`, and no segment starting with `:`.
fn routable(base: &str) -> bool {
    !base.contains(['{', '}', '*']) && !base.split('/').any(|s| s.starts_with(':'))
}

/// The landing page loads nothing: its style is inline, and its icon an empty `data:` URL (both
/// pages name one, so that browsers do not ask the root of the server's origin for a favicon).
const LANDING_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";
/// Swagger UI sets inline styles, shows images given as data URIs, and fetches the description and
/// "Try it out" requests from this server only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

async fn html(page: Bytes, csp: &'static str) -> Response {
    let mut response = Response::new(Body::from(page));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// 307 to `target`, relative to the request's URL, keeping its query.
async fn redirect(target: String, uri: Uri) -> Response {
    let location = match uri.query() {
        Some(query) => format!("{target}?{query}"),
        None => target,
    };
    let mut response = Response::new(Body::empty());
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            response.headers_mut().insert(header::LOCATION, value);
        }
        // A target that is not a valid header value: no page rather than a redirect to nowhere
        // (not expected: the router matches request paths, which are ASCII, literally).
        Err(_) => *response.status_mut() = StatusCode::NOT_FOUND,
    }
    response
}

/// A gzip-compressed asset, or 406 when the request's `Accept-Encoding` rules gzip out.
fn gzipped(headers: &HeaderMap, content_type: &'static str, gz: &'static [u8]) -> Response {
    let mut response = if accepts_gzip(headers) {
        let mut response = Response::new(Body::from(gz));
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        // The URL carries the version (`?v=`), so the bytes behind it never change.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
        response
    } else {
        let mut response = Response::new(Body::from(
            "406 Not Acceptable: this file is only available gzip-compressed; send `Accept-Encoding: gzip` (or no Accept-Encoding).\n",
        ));
        *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        response
    };
    response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Whether gzip is acceptable (RFC 9110 §12.5.3): no `Accept-Encoding` accepts anything; otherwise
/// `gzip` (or `x-gzip`) with a non-zero weight, or `*` with one when gzip is not listed. An empty
/// field accepts only `identity`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut fields = headers.get_all(header::ACCEPT_ENCODING).iter().peekable();
    if fields.peek().is_none() {
        return true;
    }
    let mut gzip = None;
    let mut star = None;
    for field in fields {
        let Ok(field) = field.to_str() else { continue };
        for item in field.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(gzip.map_or(weight, |w: f32| w.max(weight)));
            } else if coding == "*" {
                star = Some(weight);
            }
        }
    }
    match gzip {
        Some(weight) => weight > 0.0,
        None => star.is_some_and(|w| w > 0.0),
    }
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped, for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const LANDING_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}\
code{font-family:ui-monospace,monospace}table{border-collapse:collapse}td,th{text-align:left;padding:.2rem .8rem .2rem 0;vertical-align:top}\
.method{font-weight:bold}nav a{margin-right:1.2rem}.version{color:#555;font-size:.9em}";

fn landing_page(d: &Description) -> String {
    let title = escape(&d.title);
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{title}</title>\n<style>{LANDING_STYLE}</style>\n</head>\n<body>\n<h1>{title}"
    );
    if let Some(version) = &d.version {
        page.push_str(&format!(" <span class=\"version\">{}</span>", escape(version)));
    }
    page.push_str("</h1>\n");
    if let Some(description) = &d.description {
        for paragraph in description.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            page.push_str(&format!("<p>{}</p>\n", escape(paragraph)));
        }
    }
    if !d.readable {
        page.push_str("<p>The service's API description could not be read.</p>\n");
    }
    page.push_str(
        "<nav>\n<a id=\"docs-link\" href=\"docs\">Interactive API docs</a>\n<a id=\"openapi-link\" href=\"openapi.json\">OpenAPI description (JSON)</a>\n</nav>\n",
    );
    if !d.operations.is_empty() {
        page.push_str("<h2>Endpoints</h2>\n<table>\n<thead><tr><th>method</th><th>path</th><th>summary</th></tr></thead>\n<tbody>\n");
        for (method, path, summary) in &d.operations {
            page.push_str(&format!(
                "<tr><td class=\"method\">{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
                escape(method),
                escape(path),
                escape(summary.as_deref().unwrap_or(""))
            ));
        }
        page.push_str("</tbody>\n</table>\n");
    }
    page.push_str("<p>Paths are relative to this page.</p>\n</body>\n</html>\n");
    page
}

fn docs_page(d: &Description) -> String {
    let title = escape(&d.title);
    let v = SWAGGER_UI_VERSION;
    // Relative to {base}/docs: `docs/…` is {base}/docs/….
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{title} — API docs</title>\n<link rel=\"stylesheet\" href=\"docs/swagger-ui.css?v={v}\">\n</head>\n<body>\n<div id=\"swagger-ui\"><p>Loading the API description…</p></div>\n<noscript><p>These docs need JavaScript; the description itself is <a href=\"openapi.json\">openapi.json</a>.</p></noscript>\n<script src=\"docs/swagger-ui-bundle.js?v={v}\"></script>\n<script src=\"docs/init.js\"></script>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;

    const SPEC: &str = r#"{"openapi":"3.1.0","info":{"title":"Cut <script>alert(1)</script> & co","version":"1.0","description":"First \"para\".\n\nSecond <b>one</b>."},
        "servers":[{"url":"https://elsewhere.example/soda"}],
        "paths":{"/sync":{"get":{"summary":"Cut <it>","operationId":"sync"},"post":{"operationId":"syncPost"}},"/items/{id}":{"delete":{}}}}"#;

    async fn send(router: Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = router.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, bytes.to_vec())
    }

    fn text(body: &[u8]) -> String {
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn landing_page_lists_the_description_escaped() {
        let (status, headers, body) = send(routes("/soda", SPEC), "/soda/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
        let page = text(&body);
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("<title>Cut &lt;script&gt;alert(1)&lt;/script&gt; &amp; co</title>"), "{page}");
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("<p>First &quot;para&quot;.</p>\n<p>Second &lt;b&gt;one&lt;/b&gt;.</p>"), "{page}");
        assert!(page.contains("<td class=\"method\">GET</td><td><code>/sync</code></td><td>Cut &lt;it&gt;</td>"), "{page}");
        assert!(page.contains("<td class=\"method\">POST</td><td><code>/sync</code></td><td>syncPost</td>"), "{page}");
        assert!(page.contains("<td class=\"method\">DELETE</td><td><code>/items/{id}</code></td><td></td>"), "{page}");
        assert!(page.contains("href=\"docs\""), "{page}");
        assert!(page.contains("href=\"openapi.json\""), "{page}");
        // Every element opened is closed, in order (the page uses no void elements but meta).
        let mut stack = Vec::new();
        for tag in page.split('<').skip(1).filter_map(|t| t.split(['>', ' ']).next()) {
            if tag.starts_with('!') || tag == "meta" || tag == "link" {
                continue;
            }
            match tag.strip_prefix('/') {
                Some(closing) => assert_eq!(stack.pop(), Some(closing), "{page}"),
                None => stack.push(tag),
            }
        }
        assert!(stack.is_empty(), "{stack:?}");
    }

    #[tokio::test]
    async fn base_without_slash_redirects_relatively() {
        let (status, headers, _) = send(routes("/soda", SPEC), "/soda", &[]).await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(headers["location"], "soda/");
        let (_, headers, _) = send(routes("/a/b/", SPEC), "/a/b?x=1", &[]).await;
        assert_eq!(headers["location"], "b/?x=1");
        let (status, headers, _) = send(routes("/soda", SPEC), "/soda/docs/", &[]).await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(headers["location"], "../docs");
        // Without a base path the landing page is `/`, and there is nothing to redirect.
        let (status, _, _) = send(routes("", SPEC), "/", &[]).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn docs_page_loads_swagger_ui_relatively_and_writes_nothing_from_the_request() {
        let (status, headers, body) = send(routes("/soda", SPEC), "/soda/docs?%3Cscript%3E=x%22", &[("host", "evil.example\"><script>")]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert!(headers["content-security-policy"].to_str().unwrap().contains("script-src 'self';"));
        let page = text(&body);
        assert!(page.contains(&format!("<link rel=\"stylesheet\" href=\"docs/swagger-ui.css?v={SWAGGER_UI_VERSION}\">")), "{page}");
        assert!(page.contains(&format!("<script src=\"docs/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}\"></script>")), "{page}");
        assert!(page.contains("<script src=\"docs/init.js\"></script>"), "{page}");
        assert!(page.contains("<title>Cut &lt;script&gt;alert(1)&lt;/script&gt; &amp; co — API docs</title>"), "{page}");
        assert_eq!(page.matches("<script").count(), 2, "{page}");
        assert!(!page.contains("http") && !page.contains("evil") && !page.contains("%3C"), "nothing absolute, nothing from the request: {page}");
        let (status, headers, body) = send(routes("/soda", SPEC), "/soda/docs/init.js", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
        let script = text(&body);
        assert!(script.contains("spec.servers = [{ url: base }]") && script.contains("fetch(\"openapi.json\""), "{script}");
    }

    #[tokio::test]
    async fn assets_are_served_gzipped_and_cached() {
        for (path, content_type, first) in [
            ("/soda/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8", BUNDLE_GZ),
            ("/soda/docs/swagger-ui.css", "text/css; charset=utf-8", CSS_GZ),
        ] {
            for accept in [None, Some("gzip"), Some("br;q=1.0, gzip;q=0.5"), Some("*"), Some("identity, *;q=0.1")] {
                let headers: Vec<(&str, &str)> = accept.map(|a| ("accept-encoding", a)).into_iter().collect();
                let (status, h, body) = send(routes("/soda", SPEC), path, &headers).await;
                assert_eq!(status, StatusCode::OK, "{path} {accept:?}");
                assert_eq!(h["content-type"], content_type);
                assert_eq!(h["content-encoding"], "gzip");
                assert_eq!(h["vary"], "accept-encoding");
                assert!(h["cache-control"].to_str().unwrap().contains("max-age=31536000"));
                assert_eq!(body, first);
                // gzip's magic number, deflate, and no file name or time (`gzip -9n`).
                assert_eq!(&body[..4], &[0x1f, 0x8b, 8, 0]);
                assert_eq!(&body[4..8], &[0, 0, 0, 0]);
            }
        }
        assert!(BUNDLE_GZ.len() > 100_000 && CSS_GZ.len() > 10_000);
    }

    #[tokio::test]
    async fn assets_refuse_requests_that_rule_gzip_out() {
        for accept in ["identity", "", "br", "gzip;q=0", "*;q=0", "br, *;q=0.5, gzip;q=0", "GZIP;Q=0"] {
            let (status, h, body) = send(routes("/soda", SPEC), "/soda/docs/swagger-ui.css", &[("accept-encoding", accept)]).await;
            assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{accept:?}");
            assert_eq!(h["content-type"], "text/plain; charset=utf-8");
            assert_eq!(h["vary"], "accept-encoding");
            assert!(h.get("content-encoding").is_none());
            assert!(text(&body).starts_with("406 Not Acceptable: "));
        }
        let (status, _, _) = send(routes("/soda", SPEC), "/soda/docs/swagger-ui.css", &[("accept-encoding", "x-gzip")]).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn routes_the_description_defines_win() {
        const OWN: &str = r#"{"openapi":"3.1.0","info":{"title":"T","version":"1"},"paths":{"/":{"get":{}},"/docs":{"head":{}}}}"#;
        let own = Router::new()
            .route("/x/", get(|| async { "the service's own root" }))
            .route("/x/docs", axum::routing::head(|| async { "the service's own docs" }));
        let app = own.merge(routes("/x", OWN));
        let (status, _, body) = send(app.clone(), "/x/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(text(&body), "the service's own root");
        // Our docs page and its redirect are left out; the redirect to the root stays.
        let (status, _, _) = send(app.clone(), "/x/docs/", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = send(app.clone(), "/x", &[]).await;
        assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
        // A templated segment matches too: `/{page}` answers `/docs`, not `/`.
        let templated = Description::parse(r#"{"info":{},"paths":{"/{page}":{"get":{}}}}"#);
        assert!(templated.defines("/docs") && !templated.defines("/") && !templated.defines("/docs/init.js"));
        // A POST on `/` does not stop the landing page (and merges with it).
        const POST: &str = r#"{"openapi":"3.1.0","info":{"title":"T","version":"1"},"paths":{"/":{"post":{}}}}"#;
        let app = Router::new().route("/", axum::routing::post(|| async { "posted" })).merge(routes("", POST));
        let (status, h, _) = send(app, "/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
    }

    #[tokio::test]
    async fn a_base_path_axum_cannot_route_gives_no_pages_rather_than_a_panic() {
        for base in ["/{x}", "/a/:b", "/*", "/so}da"] {
            let (status, _, _) = send(routes(base, SPEC), &format!("{base}/"), &[]).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{base}");
        }
    }

    #[tokio::test]
    async fn a_malformed_description_still_gives_pages() {
        for bad in ["", "{", "[1,2]", r#"{"info":{"title":7},"paths":[]}"#] {
            let app = routes("/soda", bad);
            let (status, _, body) = send(app.clone(), "/soda/", &[]).await;
            assert_eq!(status, StatusCode::OK);
            assert!(text(&body).contains("<title>API</title>"), "{bad}");
            let (status, _, _) = send(app, "/soda/docs", &[]).await;
            assert_eq!(status, StatusCode::OK);
        }
    }
}
