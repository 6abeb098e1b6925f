//! What an operator watches: request ids, log lines, the request metrics and the operations
//! endpoints (`/metrics`, `/healthz`, `/readyz`).
//!
//! [`crate::serve::mount`] wraps every route of a server in one layer (the one that also gives
//! handlers the [`crate::serve::Mount`]). For each request it:
//! - echoes the client's `X-Request-Id` (a load balancer's, say) when it is sane (1 to 128
//!   visible ASCII characters);
//! - when metrics are served, counts the request by method, route template and status and times it
//!   (see [`crate::metrics`]);
//! - with `--log-format json`, writes one JSON line to stderr ([`LogFormat`]), and then a request
//!   without a sane id gets one made ([`RequestId::new`], a UUID), echoed too and in the line; the
//!   id is in the request's extensions for handlers.
//!
//! With neither, the layer costs what giving handlers the `Mount` did, and one header lookup:
//! making, keeping and echoing an id costs about 1,800 instructions a request (10 % of the
//! smallest request's), which only a log to find it in repays.
//!
//! A request's time runs from when the router hands it over to when its response's head is
//! ready (a streamed body may go on after). A client that goes away before that is counted, and
//! logged, with status 499, as nginx does. Answers given before routing — hyper's own 414 and
//! 431, a path whose escapes are not UTF-8 — are neither counted nor logged, nor are the
//! operations endpoints themselves (a scrape or a probe every few seconds would drown the rest).

use crate::health::Health;
use crate::metrics::{Metrics, Route, method_label};
use crate::serve::{Config, Mount};
use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use http::{HeaderValue, header};
use std::convert::Infallible;
use std::pin::Pin;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

/// The header of request ids.
pub const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` taken from a client.
const MAX_REQUEST_ID: usize = 128;

/// How the server writes to stderr (`--log-format`, env `LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain lines, `PROGRAM: message`, when the server starts, stops on an error, or cannot
    /// start; nothing per request (the default).
    #[default]
    Text,
    /// The same events as JSON objects, one a line (`time`, `level`, `program`, `message`), and
    /// one line per request: `time`, `level`, `message` (`request`), `method`, `route` (the
    /// template, or `unmatched`), `status`, `latency_ms`, `request_id` and `peer` (the TCP peer,
    /// `ADDR:PORT`).
    Json,
}

impl LogFormat {
    /// Reads `text` or `json`.
    pub fn parse(value: &str) -> Option<LogFormat> {
        match value.trim().to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }

    /// Writes an event of `program` to stderr, at `level` (`info` or `error`).
    pub fn event(self, program: &str, level: &'static str, message: &str) {
        match self {
            LogFormat::Text => eprintln!("{program}: {message}"),
            LogFormat::Json => write_line(&Event { time: Now::default(), level, program, message }),
        }
    }

    /// [`LogFormat::event`] at level `info`.
    pub fn info(self, program: &str, message: &str) {
        self.event(program, "info", message);
    }

    /// [`LogFormat::event`] at level `error`.
    pub fn error(self, program: &str, message: &str) {
        self.event(program, "error", message);
    }
}

/// Writes `line` as one JSON line to stderr, in one write (through `eprint!`, which tests
/// capture).
fn write_line(line: &impl serde::Serialize) {
    let mut bytes = Vec::with_capacity(256);
    if serde_json::to_writer(&mut bytes, line).is_err() {
        return;
    }
    bytes.push(b'\n');
    if let Ok(text) = std::str::from_utf8(&bytes) {
        eprint!("{text}");
    }
}

/// The time a line is written, as RFC 3339 UTC with milliseconds.
struct Now(chrono::DateTime<chrono::Utc>);

impl Default for Now {
    fn default() -> Self {
        Now(chrono::Utc::now())
    }
}

impl Now {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, written digit by digit (chrono's `format` parses its pattern
    /// each time: 4,000 instructions a line).
    fn rfc3339(&self) -> [u8; 24] {
        use chrono::{Datelike, Timelike};
        let t = &self.0;
        let mut text = *b"0000-00-00T00:00:00.000Z";
        let fields = [(0, 4, u32::try_from(t.year()).unwrap_or(0)), (5, 2, t.month()), (8, 2, t.day()), (11, 2, t.hour()), (14, 2, t.minute()), (17, 2, t.second()), (20, 3, t.timestamp_subsec_millis().min(999))];
        for (at, width, mut n) in fields {
            for digit in text[at..at + width].iter_mut().rev() {
                *digit = b'0' + (n % 10) as u8;
                n /= 10;
            }
        }
        text
    }
}

impl serde::Serialize for Now {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(std::str::from_utf8(&self.rfc3339()).unwrap_or_default())
    }
}

#[derive(serde::Serialize)]
struct Event<'a> {
    time: Now,
    level: &'static str,
    program: &'a str,
    message: &'a str,
}

#[derive(serde::Serialize)]
struct RequestLine<'a> {
    time: Now,
    level: &'static str,
    message: &'static str,
    method: &'static str,
    route: &'a str,
    status: u16,
    latency_ms: f64,
    request_id: Option<&'a str>,
    peer: Option<SocketAddr>,
}

/// A request's id: the client's `X-Request-Id` when sane, else (when requests are logged) one
/// made here; in the response's `X-Request-Id`, and, when requests are logged, in their lines and
/// in the request's extensions, for handlers to log with their own lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The `X-Request-Id` of a request with `headers`, if it has 1 to 128 visible ASCII
    /// characters (copied, not kept as a slice of the request's head).
    pub fn given(headers: &http::HeaderMap) -> Option<RequestId> {
        headers
            .get(REQUEST_ID)
            .map(HeaderValue::as_bytes)
            .filter(|id| (1..=MAX_REQUEST_ID).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic()))
            .and_then(|id| HeaderValue::from_bytes(id).ok())
            .map(RequestId)
    }

    /// The id of a request with `headers`: [`RequestId::given`], else a new one.
    pub fn of(headers: &http::HeaderMap) -> RequestId {
        RequestId::given(headers).unwrap_or_default()
    }

    /// A new id, as a UUID (version 4 in form): a count of the process's ids, scrambled by a
    /// bijection and a key drawn once from the OS. Unique within the process, unrelated across
    /// processes, and it does not tell how many requests came before; one atomic addition, no
    /// system call.
    pub fn new() -> RequestId {
        static KEY: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let key = *KEY.get_or_init(|| {
            let mut bytes = [0u8; 16];
            // Without a random source the ids are still unique, only predictable.
            let _ = getrandom::fill(&mut bytes);
            u128::from_le_bytes(bytes)
        });
        // xor, multiplication by an odd number and xorshift are each one-to-one on 128 bits.
        let mut x = u128::from(COUNT.fetch_add(1, Ordering::Relaxed)) ^ key;
        x = x.wrapping_mul(0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645);
        x ^= x >> 64;
        x = x.wrapping_mul(0x5851_f42d_4c95_7f2d_1405_7b7e_f767_814f);
        x ^= x >> 59;
        let uuid = uuid::Builder::from_random_bytes(x.to_le_bytes()).into_uuid();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        RequestId(HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut text)).expect("a UUID is a header value"))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever kept.
        self.0.to_str().unwrap_or_default()
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the layer of every route shares.
pub(crate) struct Shared {
    mount: Arc<Mount>,
    /// The registry, when metrics are served.
    metrics: Option<Metrics>,
    json: bool,
    /// The operations endpoints on the main listener (`--metrics`): their paths under the base
    /// path, and the router that answers them at their own paths (so that no base path can make
    /// a route axum refuses).
    ops: Option<([(String, &'static str); 3], Router)>,
}

/// The layer [`crate::serve::mount`] puts on every route.
#[derive(Clone)]
pub(crate) struct Layer(Arc<Shared>);

impl Layer {
    pub(crate) fn new(config: &Config, mount: Mount) -> Layer {
        let metrics = (config.metrics_addr.is_some() || config.metrics_on_main).then(|| config.metrics.clone());
        if let Some(metrics) = &metrics {
            metrics.http();
        }
        let ops = config.metrics_on_main.then(|| {
            let paths = ["/metrics", "/healthz", "/readyz"].map(|path| (format!("{}{path}", config.base_path), path));
            (paths, routes(&config.metrics, &config.health, false))
        });
        Layer(Arc::new(Shared { mount: Arc::new(mount), metrics, json: config.log_format == LogFormat::Json, ops }))
    }
}

impl tower::Layer<axum::routing::Route> for Layer {
    type Service = Observe;

    fn layer(&self, inner: axum::routing::Route) -> Observe {
        Observe { inner, shared: self.0.clone() }
    }
}

/// A route, observed: see the [module](self).
#[derive(Clone)]
pub(crate) struct Observe {
    inner: axum::routing::Route,
    shared: Arc<Shared>,
}

impl tower::Service<Request> for Observe {
    type Response = Response;
    type Error = Infallible;
    type Future = Observed;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower::Service::<Request>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, mut request: Request) -> Observed {
        let shared = &self.shared;
        request.extensions_mut().insert(shared.mount.clone());
        // Unless requests are logged, only a client's id is answered: one header lookup.
        let id = if shared.json {
            let id = RequestId::of(request.headers());
            request.extensions_mut().insert(id.clone());
            Some(id)
        } else {
            RequestId::given(request.headers())
        };
        if shared.metrics.is_none() && !shared.json {
            return Observed { inner: tower::Service::call(&mut self.inner, request), id, watch: None };
        }
        let route = request.extensions().get::<MatchedPath>().cloned();
        if let (None, Some((paths, ops))) = (&route, &shared.ops) {
            if let Some((_, path)) = paths.iter().find(|(under_base, _)| under_base == request.uri().path()) {
                *request.uri_mut() = http::Uri::from_static(path);
                return Observed { inner: tower::Service::call(&mut ops.clone(), request), id, watch: None };
            }
        }
        if let Some(metrics) = &shared.metrics {
            metrics.http().in_flight.inc();
        }
        let watch = Watch {
            shared: shared.clone(),
            started: Instant::now(),
            method: method_label(request.method()),
            route: Route(route),
            peer: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
        };
        Observed { inner: tower::Service::call(&mut self.inner, request), id, watch: Some(watch) }
    }
}

/// What is recorded of a request when it is answered.
struct Watch {
    shared: Arc<Shared>,
    started: Instant,
    method: &'static str,
    route: Route,
    peer: Option<SocketAddr>,
}

impl Watch {
    fn finish(self, status: u16, id: Option<&RequestId>) {
        let elapsed = self.started.elapsed();
        if let Some(metrics) = &self.shared.metrics {
            let http = metrics.http();
            http.in_flight.dec();
            http.record(self.method, &self.route, status, elapsed);
        }
        if self.shared.json {
            write_line(&RequestLine {
                time: Now::default(),
                level: if status >= 500 { "error" } else { "info" },
                message: "request",
                method: self.method,
                route: self.route.as_str(),
                status,
                latency_ms: elapsed.as_micros() as f64 / 1000.0,
                request_id: id.map(RequestId::as_str),
                peer: self.peer,
            });
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Observe`].
    pub(crate) struct Observed {
        #[pin]
        inner: RouteFuture<Infallible>,
        id: Option<RequestId>,
        watch: Option<Watch>,
    }

    impl PinnedDrop for Observed {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its answer: the client went away (or the server is stopping).
            let this = this.project();
            if let Some(watch) = this.watch.take() {
                watch.finish(499, this.id.as_ref());
            }
        }
    }
}

impl Future for Observed {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.poll(cx));
        if let Some(watch) = this.watch.take() {
            watch.finish(response.status().as_u16(), this.id.as_ref());
        }
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(REQUEST_ID, id.0);
        }
        Poll::Ready(Ok(response))
    }
}

/// The operations endpoints of `config`, at `/metrics`, `/healthz` and `/readyz`: what the
/// listener of `--metrics-addr` serves (a failed readiness check says why there).
pub fn router(config: &Config) -> Router {
    routes(&config.metrics, &config.health, true)
}

/// The operations endpoints; `/readyz` says why a check failed when `reasons`.
fn routes(metrics: &Metrics, health: &Health, reasons: bool) -> Router {
    use axum::routing::get;
    let text = |content_type: &'static str, status: http::StatusCode, body: String| {
        let mut response = Response::new(axum::body::Body::from(body));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    };
    let (metrics, health) = (metrics.clone(), health.clone());
    Router::new()
        .route("/metrics", get(move || std::future::ready(text(crate::metrics::CONTENT_TYPE, http::StatusCode::OK, metrics.encode()))))
        .route("/healthz", get(move || std::future::ready(text("text/plain; charset=utf-8", http::StatusCode::OK, "ok\n".to_owned()))))
        .route(
            "/readyz",
            get(move || {
                let health = health.clone();
                async move {
                    let (status, body) = health.readyz(reasons).await;
                    text("text/plain; charset=utf-8", status, body)
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_client_id_is_kept_else_one_is_made() {
        let with = |value: &[u8]| {
            let mut headers = http::HeaderMap::new();
            headers.insert(REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
            RequestId::of(&headers)
        };
        assert_eq!(with(b"lb-1234:abc/\"x\"").as_str(), "lb-1234:abc/\"x\"");
        assert_eq!(with(&[b'a'; 128]).as_str().len(), 128);
        for insane in [&b"has space"[..], &[b'a'; 129], b"caf\xc3\xa9", b"tab\there"] {
            let id = with(insane);
            assert_eq!(id.as_str().len(), 36, "{insane:?} kept");
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok());
        }
        let made = RequestId::of(&http::HeaderMap::new());
        let uuid = uuid::Uuid::parse_str(made.as_str()).unwrap();
        assert_eq!(uuid.get_version(), Some(uuid::Version::Random));
        let many: std::collections::HashSet<String> = (0..10_000).map(|_| RequestId::new().to_string()).collect();
        assert_eq!(many.len(), 10_000, "ids repeat");
    }

    fn get(path: &str, headers: &[(&str, &str)]) -> Request {
        let mut request = http::Request::builder().uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(axum::body::Body::empty()).unwrap()
    }

    async fn send(app: &Router, path: &str, headers: &[(&str, &str)]) -> (http::StatusCode, http::HeaderMap, String) {
        use tower::ServiceExt;
        let response = app.clone().oneshot(get(path, headers)).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        (parts.status, parts.headers, String::from_utf8(body.to_vec()).unwrap())
    }

    /// A server under `/soda` with a templated route, a failing one, one that never answers and
    /// one that shows its request id.
    fn app(config: &Config) -> Router {
        use axum::routing::get;
        let router = Router::new()
            .route("/soda/jobs/{id}", get(|| async { "job" }))
            .route("/soda/fail", get(|| async { (http::StatusCode::INTERNAL_SERVER_ERROR, "no") }))
            .route("/soda/wait", get(std::future::pending::<&'static str>))
            .route("/soda/id", get(|request: Request| async move { request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default() }));
        crate::serve::mount(router, config)
    }

    #[tokio::test]
    async fn requests_are_counted_by_route_template_and_status() {
        use tower::ServiceExt;
        let config = Config { base_path: "/soda".into(), metrics_on_main: true, ..Config::default() };
        let app = app(&config);
        for (path, status) in [("/soda/jobs/1", 200), ("/soda/jobs/2?x=1", 200), ("/soda/fail", 500), ("/soda/jobs/%41", 200), ("/elsewhere/3", 404)] {
            assert_eq!(send(&app, path, &[]).await.0, status, "{path}");
        }
        // A client that goes away before its answer: 499.
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), app.clone().oneshot(get("/soda/wait", &[]))).await.is_err());
        assert_eq!(send(&app, "/soda/healthz", &[]).await.2, "ok\n");
        let (status, headers, text) = send(&app, "/soda/metrics", &[]).await;
        assert_eq!((status, headers[header::CONTENT_TYPE].to_str().unwrap()), (http::StatusCode::OK, crate::metrics::CONTENT_TYPE));
        for line in [
            "http_requests_total{method=\"GET\",route=\"/soda/jobs/{id}\",status=\"200\"} 3\n",
            "http_requests_total{method=\"GET\",route=\"/soda/fail\",status=\"500\"} 1\n",
            "http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n",
            "http_requests_total{method=\"GET\",route=\"/soda/wait\",status=\"499\"} 1\n",
            "http_request_duration_seconds_count{method=\"GET\",route=\"/soda/jobs/{id}\"} 3\n",
            "http_requests_in_flight 0\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from\n{text}");
        }
        assert!(!text.contains("/elsewhere") && !text.contains("healthz") && !text.contains("route=\"/soda/metrics"), "a raw path or an operations endpoint counted:\n{text}");
    }

    #[tokio::test]
    async fn a_client_id_is_echoed_and_with_json_logs_every_request_has_one() {
        let config = Config { base_path: "/soda".into(), ..Config::default() };
        let plain = app(&config);
        let (_, headers, seen) = send(&plain, "/soda/id", &[("x-request-id", "lb-42")]).await;
        assert_eq!((headers[REQUEST_ID].to_str().unwrap(), seen.as_str()), ("lb-42", ""), "echoed, not made for handlers without a log");
        let (_, headers, _) = send(&plain, "/soda/id", &[("x-request-id", "no spaces please")]).await;
        assert!(!headers.contains_key(REQUEST_ID), "nothing made without a log");

        let config = Config { base_path: "/soda".into(), log_format: LogFormat::Json, ..Config::default() };
        let logged = app(&config);
        let app = logged;
        let (_, headers, seen) = send(&app, "/soda/id", &[("x-request-id", "lb-42")]).await;
        assert_eq!((headers[REQUEST_ID].to_str().unwrap(), seen.as_str()), ("lb-42", "lb-42"));
        let (_, headers, seen) = send(&app, "/soda/id", &[("x-request-id", "no spaces please")]).await;
        assert_eq!(headers[REQUEST_ID].to_str().unwrap(), seen);
        assert!(uuid::Uuid::parse_str(&seen).is_ok(), "{seen}");
        let (status, headers, _) = send(&app, "/nowhere", &[]).await;
        assert_eq!(status, http::StatusCode::NOT_FOUND);
        assert!(headers.contains_key(REQUEST_ID), "a 404 has an id too");
        assert_ne!(send(&app, "/soda/id", &[]).await.2, send(&app, "/soda/id", &[]).await.2);
    }

    #[tokio::test]
    async fn nothing_is_exported_unless_asked() {
        let config = Config { base_path: "/soda".into(), ..Config::default() };
        let app = app(&config);
        send(&app, "/soda/jobs/1", &[]).await;
        for path in ["/soda/metrics", "/soda/healthz", "/soda/readyz", "/metrics"] {
            assert_eq!(send(&app, path, &[]).await.0, http::StatusCode::NOT_FOUND, "{path}");
        }
        assert!(!config.metrics.encode().contains("http_requests"), "requests counted with metrics off");
    }

    #[tokio::test]
    async fn readiness_says_why_only_on_the_operations_listener() {
        let config = Config { metrics_on_main: true, ..Config::default() };
        config.health.check("job-store", || async { Err("/srv/jobs.sqlite: disk I/O error".to_owned()) });
        let (status, _, body) = send(&app(&config), "/readyz", &[]).await;
        assert_eq!((status, body.as_str()), (http::StatusCode::SERVICE_UNAVAILABLE, "[-]job-store failed\nnot ready\n"));
        let ops = router(&config);
        let (status, _, body) = send(&ops, "/readyz", &[]).await;
        assert_eq!((status, body.as_str()), (http::StatusCode::SERVICE_UNAVAILABLE, "[-]job-store failed: /srv/jobs.sqlite: disk I/O error\nnot ready\n"));
        assert_eq!(send(&ops, "/healthz", &[]).await.0, http::StatusCode::OK);
        assert!(send(&ops, "/metrics", &[]).await.2.contains("# TYPE"), "the registry is exported");
    }

    #[tokio::test]
    async fn any_base_path_takes_the_operations_endpoints() {
        let config = Config { base_path: "/a{b}/*c".into(), metrics_on_main: true, ..Config::default() };
        let app = crate::serve::mount(Router::new(), &config);
        assert_eq!(send(&app, "/a%7Bb%7D/*c/healthz", &[]).await.0, http::StatusCode::NOT_FOUND, "escaped is another path");
        assert_eq!(send(&app, "/a{b}/*c/healthz", &[]).await.2, "ok\n");
    }

    #[tokio::test]
    async fn a_route_the_description_defines_wins_over_the_operations_endpoints() {
        let config = Config { metrics_on_main: true, ..Config::default() };
        let app = crate::serve::mount(Router::new().route("/metrics", axum::routing::get(|| async { "mine" })), &config);
        assert_eq!(send(&app, "/metrics", &[]).await.2, "mine");
        assert_eq!(send(&app, "/healthz", &[]).await.2, "ok\n");
    }

    #[test]
    fn log_formats() {
        assert_eq!(LogFormat::parse("JSON"), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("text"), Some(LogFormat::Text));
        assert_eq!(LogFormat::parse("logfmt"), None);
        let line = serde_json::to_value(RequestLine {
            time: Now::default(),
            level: "info",
            message: "request",
            method: "GET",
            route: "/soda/async/{id}",
            status: 200,
            latency_ms: 1.5,
            request_id: Some("a\"b"),
            peer: Some(SocketAddr::from(([127, 0, 0, 1], 5000))),
        })
        .unwrap();
        assert_eq!(line["peer"], "127.0.0.1:5000");
        assert_eq!(line["request_id"], "a\"b");
        let time = line["time"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z') && time.len() == 24, "{time}");
        let instant = chrono::DateTime::parse_from_rfc3339("2026-03-04T05:06:07.089123Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(&Now(instant).rfc3339(), b"2026-03-04T05:06:07.089Z");
    }
}
