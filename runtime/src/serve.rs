//! Running a generated server: command-line flags, environment, binding, graceful shutdown.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Where and how a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The socket address to bind (`--bind`, env `BIND`; default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// The path under which every endpoint is mounted (`--base-path`, env `BASE_PATH`; default
    /// none). Always starts with `/` and never ends with one.
    pub base_path: String,
    /// The URL clients reach the service at, when it is behind a proxy (`--public-url`, env
    /// `PUBLIC_URL`); VOSI capabilities and result links are built from it.
    pub public_url: Option<String>,
    /// Where the service keeps its state — UWS jobs and results (`--data-dir`, env `DATA_DIR`;
    /// default `data`).
    pub data_dir: std::path::PathBuf,
    /// Whether `data_dir` was configured rather than defaulted (a service may fill a default
    /// directory with sample data).
    pub data_dir_given: bool,
    /// Where UWS jobs are kept, as a URL (`--job-store`, env `JOB_STORE`; default
    /// `sqlite:DATA_DIR/jobs.sqlite`). Only `sqlite:PATH` exists today.
    pub job_store: Option<String>,
    /// The IVOA authority of the publisher DIDs this service resolves (`--authority`, env
    /// `AUTHORITY`), as `ivo://authority` or `ivo://authority/path`.
    pub authority: Option<String>,
    /// The development authenticator's credentials file (`--auth-tokens`, env `AUTH_TOKENS`; see
    /// [`crate::auth::TokenFile`]).
    pub auth_tokens: Option<std::path::PathBuf>,
    /// The header in which a TLS-terminating proxy passes the client certificate's subject
    /// (`--client-cert-header`, env `CLIENT_CERT_HEADER`).
    pub client_cert_header: Option<String>,
    /// Refuse GET on DALI-sync operations, which may change state (`--refuse-sync-get`, env
    /// `REFUSE_SYNC_GET=1`).
    pub refuse_sync_get: bool,
    /// Origins allowed to call the service from a browser (`--cors-origin`, repeatable, env
    /// `CORS_ORIGINS` comma-separated; none by default: no CORS headers at all).
    pub cors_origins: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_path: String::new(),
            public_url: None,
            data_dir: std::path::PathBuf::from("data"),
            data_dir_given: false,
            job_store: None,
            authority: None,
            auth_tokens: None,
            client_cert_header: None,
            refuse_sync_get: false,
            cors_origins: Vec::new(),
        }
    }
}

/// Where the router is mounted, for handlers that build absolute URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// The configured public URL, if any.
    pub public_url: Option<String>,
    /// The base path the router is nested under.
    pub base_path: String,
}

impl Mount {
    /// The base URL of the service as the client of `headers` sees it.
    pub fn base_url(&self, headers: &http::HeaderMap) -> String {
        crate::vosi::base_url(headers, self.public_url.as_deref(), &self.base_path)
    }
}

const USAGE: &str = "options:
  --bind ADDR:PORT    address to listen on (env BIND; default 127.0.0.1:8080)
  --base-path PATH    mount every endpoint under PATH (env BASE_PATH; default /)
  --public-url URL    the URL clients use, behind a proxy (env PUBLIC_URL)
  --data-dir DIR      where the service keeps its data, jobs and results (env DATA_DIR; default ./data)
  --job-store URL     where UWS jobs are kept (env JOB_STORE; default sqlite:DATA_DIR/jobs.sqlite)
  --authority IVOID   the authority of the publisher DIDs served, ivo://... (env AUTHORITY)
  --auth-tokens FILE  development authenticator: credentials and identities (env AUTH_TOKENS)
  --client-cert-header NAME  header carrying a client certificate's subject from a TLS proxy (env CLIENT_CERT_HEADER)
  --refuse-sync-get   answer GET on sync operations with 405; POST works (env REFUSE_SYNC_GET=1)
  --cors-origin URL   allow browser calls from this origin; repeatable (env CORS_ORIGINS, comma-separated)
  --help              print this text";

impl Config {
    /// Reads the configuration from `args` (without the program name) and the environment
    /// variables returned by `env`; flags win over the environment.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        Self::parse_with(Config::default(), args, env)
    }

    /// [`Config::parse`] over `defaults` (a generated `main` defaults the base path to the path of
    /// the API description's first server).
    pub fn parse_with(
        defaults: Config,
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, String> {
        let mut bind = env("BIND");
        let mut base_path = env("BASE_PATH");
        let mut public_url = env("PUBLIC_URL");
        let mut data_dir = env("DATA_DIR");
        let mut job_store = env("JOB_STORE");
        let mut authority = env("AUTHORITY");
        let mut auth_tokens = env("AUTH_TOKENS");
        let mut cert_header = env("CLIENT_CERT_HEADER");
        let mut refuse_sync_get = env("REFUSE_SYNC_GET").is_some_and(|v| v == "1" || v == "true");
        let mut cors: Vec<String> = env("CORS_ORIGINS").map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect()).unwrap_or_default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = || inline.clone().or_else(|| args.next()).ok_or(format!("{flag} needs a value"));
            match flag.as_str() {
                "--bind" => bind = Some(value()?),
                "--base-path" => base_path = Some(value()?),
                "--public-url" => public_url = Some(value()?),
                "--data-dir" => data_dir = Some(value()?),
                "--job-store" => job_store = Some(value()?),
                "--authority" => authority = Some(value()?),
                "--auth-tokens" => auth_tokens = Some(value()?),
                "--client-cert-header" => cert_header = Some(value()?),
                "--refuse-sync-get" => refuse_sync_get = true,
                "--cors-origin" => cors.push(value()?),
                "--help" | "-h" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        let mut config = defaults;
        if let Some(bind) = bind {
            config.bind = bind.parse().map_err(|_| format!("--bind: `{bind}` is not an ADDRESS:PORT"))?;
        }
        if let Some(path) = base_path {
            let trimmed = path.trim_end_matches('/');
            if !trimmed.is_empty() && !trimmed.starts_with('/') {
                return Err(format!("--base-path: `{path}` must start with `/`"));
            }
            config.base_path = trimmed.to_owned();
        }
        if let Some(url) = public_url.filter(|u| !u.is_empty()) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("--public-url: `{url}` must start with http:// or https://"));
            }
            config.public_url = Some(url.trim_end_matches('/').to_owned());
        }
        if let Some(dir) = data_dir.filter(|d| !d.is_empty()) {
            config.data_dir = dir.into();
            config.data_dir_given = true;
        }
        if let Some(url) = job_store.filter(|u| !u.is_empty()) {
            if !url.starts_with("sqlite:") || url.len() == "sqlite:".len() {
                return Err(format!("--job-store: `{url}` is not a job store URL (sqlite:PATH)"));
            }
            config.job_store = Some(url);
        }
        if let Some(authority) = authority.filter(|a| !a.is_empty()) {
            if !authority.starts_with("ivo://") || authority.len() == "ivo://".len() || authority.contains('?') {
                return Err(format!("--authority: `{authority}` is not an IVOA identifier (ivo://authority[/path])"));
            }
            config.authority = Some(authority.trim_end_matches('/').to_owned());
        }
        config.auth_tokens = auth_tokens.filter(|t| !t.is_empty()).map(Into::into);
        if let Some(header) = cert_header.filter(|h| !h.is_empty()) {
            http::HeaderName::try_from(header.as_str()).map_err(|_| format!("--client-cert-header: `{header}` is not a header name"))?;
            config.client_cert_header = Some(header);
        }
        config.refuse_sync_get = refuse_sync_get;
        for origin in &cors {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.trim_start_matches("https://").trim_start_matches("http://").contains('/') {
                return Err(format!("--cors-origin: `{origin}` is not an origin (scheme://host[:port])"));
            }
        }
        config.cors_origins = cors;
        Ok(config)
    }

    /// The file of the SQLite job store.
    pub fn job_store_path(&self) -> std::path::PathBuf {
        match &self.job_store {
            Some(url) => std::path::PathBuf::from(&url["sqlite:".len()..]),
            None => self.data_dir.join("jobs.sqlite"),
        }
    }
}

/// Gives handlers the configuration they need to build absolute URLs. The router's routes must
/// already include the base path (generated crates: `router_at(service, &config.base_path)`):
/// routing under a prefix directly is much cheaper than `Router::nest`, which rewrites every
/// request's URI.
pub fn mount(router: Router, config: &Config) -> Router {
    let mount = Mount { public_url: config.public_url.clone(), base_path: config.base_path.clone() };
    let router = router.layer(axum::Extension(std::sync::Arc::new(mount)));
    if config.cors_origins.is_empty() {
        return router;
    }
    let origins: std::sync::Arc<[String]> = config.cors_origins.clone().into();
    router.layer(axum::middleware::from_fn_with_state(origins, cors))
}

/// CORS for the configured origins only: a preflight is answered here; other responses get the
/// allow headers, exposing the authentication headers to the page's script.
async fn cors(
    axum::extract::State(origins): axum::extract::State<std::sync::Arc<[String]>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http::header::{self, HeaderValue};
    let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).filter(|o| origins.iter().any(|a| a == o)).and_then(|o| HeaderValue::try_from(o).ok());
    let preflight = request.method() == http::Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&origin, preflight) {
        (Some(_), true) => {
            let mut r = axum::response::Response::new(axum::body::Body::empty());
            *r.status_mut() = http::StatusCode::NO_CONTENT;
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, DELETE"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            r
        }
        _ => next.run(request).await,
    };
    let h = response.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("www-authenticate, x-vo-authenticated, location"));
    }
    response
}

/// The service's URL as the client of a request sees it: the configured public URL, or one built
/// from the `Host` and `X-Forwarded-*` headers and the base path.
pub fn request_base_url(parts: &http::request::Parts) -> String {
    match parts.extensions.get::<std::sync::Arc<Mount>>() {
        Some(mount) => mount.base_url(&parts.headers),
        None => crate::vosi::base_url(&parts.headers, None, ""),
    }
}

/// The whole of a generated `main`: reads the configuration, builds the router (which may start
/// services such as the UWS engine, hence async), serves until Ctrl-C or SIGTERM.
pub fn main<F>(name: &str, base_path: &str, make_router: impl FnOnce(Config) -> F) -> ExitCode
where
    F: std::future::Future<Output = Result<Router, String>>,
{
    let defaults = Config { base_path: base_path.trim_end_matches('/').to_owned(), ..Config::default() };
    let config = match Config::parse_with(defaults, std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{name}: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let router = make_router(config.clone()).await?;
        run(mount(router, &config), &config, name).await.map_err(|e| e.to_string())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(router: Router, config: &Config, name: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    eprintln!("{name}: listening on http://{}{}/", listener.local_addr()?, config.base_path);
    serve(listener, router, shutdown()).await
}

/// How long a shutdown waits for requests in flight before it drops them.
const DRAIN: Duration = Duration::from_secs(10);

/// How long a new connection may stay silent before it is closed.
const QUIET: Duration = Duration::from_secs(60);

/// Serves HTTP/1.1 on `listener` until `signal` completes, then stops accepting, lets requests
/// in flight finish (at most [`DRAIN`]) and closes idle connections.
///
/// A connection costs only its socket and a small task until its first bytes arrive (it is
/// closed if none do within [`QUIET`]); hyper's buffers (8 KiB to read, 8 KiB for response heads)
/// are allocated then. With thousands of clients parked on UWS `WAIT`, connections are most of
/// the server's memory (BENCHMARKS.md, UWS). A client that goes away mid-request is noticed at
/// once and its handler dropped.
pub async fn serve(listener: TcpListener, router: Router, signal: impl Future<Output = ()>) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    let http = Arc::new(http);
    let mut signal = std::pin::pin!(signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A connection reset before it was accepted, or no file descriptor left: the
                // listener itself is fine, so go on (after a pause, for descriptors to free up).
                Err(e) => {
                    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let (http, router, mut stopped) = (http.clone(), router.clone(), stopped.clone());
        tokio::spawn(async move {
            tokio::select! {
                ready = tokio::time::timeout(QUIET, stream.readable()) => if !matches!(ready, Ok(Ok(()))) { return },
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            let service = TowerToHyperService::new(router);
            let mut connection = std::pin::pin!(http.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopped.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop((listener, stopped));
    let _ = stop.send(true);
    // Every connection's task holds a receiver: they are all gone when the last task ends.
    let _ = tokio::time::timeout(DRAIN, stop.closed()).await;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::parse(args.iter().map(|s| s.to_string()), |k| {
            env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn flags_win_over_environment() {
        let config = parse(&["--bind", "127.0.0.1:9000"], &[("BIND", "127.0.0.1:1"), ("BASE_PATH", "/api/")]).unwrap();
        assert_eq!(config.bind.port(), 9000);
        assert_eq!(config.base_path, "/api");
        assert_eq!(parse(&["--base-path=/x"], &[]).unwrap().base_path, "/x");
    }

    #[test]
    fn bad_flags_are_reported() {
        assert!(parse(&["--bind", "nowhere"], &[]).unwrap_err().contains("ADDRESS:PORT"));
        assert!(parse(&["--frobnicate"], &[]).unwrap_err().contains("unknown argument"));
        assert!(parse(&["--base-path", "api"], &[]).unwrap_err().contains("must start"));
        assert!(parse(&["--public-url", "ftp://x"], &[]).unwrap_err().contains("http"));
        assert_eq!(parse(&[], &[("PUBLIC_URL", "https://a.org/soda/")]).unwrap().public_url.as_deref(), Some("https://a.org/soda"));
        assert!(parse(&["--job-store", "postgres://x"], &[]).unwrap_err().contains("sqlite:PATH"));
        assert!(parse(&["--authority", "example.org"], &[]).unwrap_err().contains("ivo://"));
    }

    #[test]
    fn data_dir_job_store_and_authority() {
        let config = parse(&[], &[]).unwrap();
        assert!(!config.data_dir_given);
        assert_eq!(config.job_store_path(), std::path::Path::new("data/jobs.sqlite"));
        let config = parse(&["--data-dir", "/srv/d", "--authority", "ivo://example.org/"], &[]).unwrap();
        assert!(config.data_dir_given);
        assert_eq!(config.job_store_path(), std::path::Path::new("/srv/d/jobs.sqlite"));
        assert_eq!(config.authority.as_deref(), Some("ivo://example.org"));
        let config = parse(&[], &[("JOB_STORE", "sqlite:/var/jobs.db")]).unwrap();
        assert_eq!(config.job_store_path(), std::path::Path::new("/var/jobs.db"));
    }

    #[tokio::test]
    async fn cors_answers_only_the_configured_origins() {
        use tower::ServiceExt;
        let config = parse(&["--cors-origin", "https://portal.example.org"], &[]).unwrap();
        assert!(parse(&["--cors-origin", "portal.example.org"], &[]).is_err());
        let app = mount(Router::new().route("/x", axum::routing::get(|| async { "x" })), &config);
        let request = |origin: &str, method: &str| {
            http::Request::builder().method(method).uri("/x").header("origin", origin).header("access-control-request-method", "POST").body(axum::body::Body::empty()).unwrap()
        };
        let ok = app.clone().oneshot(request("https://portal.example.org", "GET")).await.unwrap();
        assert_eq!(ok.headers()["access-control-allow-origin"], "https://portal.example.org");
        assert!(ok.headers()["access-control-expose-headers"].to_str().unwrap().contains("x-vo-authenticated"));
        let preflight = app.clone().oneshot(request("https://portal.example.org", "OPTIONS")).await.unwrap();
        assert_eq!(preflight.status(), http::StatusCode::NO_CONTENT);
        let other = app.clone().oneshot(request("https://evil.example", "GET")).await.unwrap();
        assert!(!other.headers().contains_key("access-control-allow-origin"));
        let off = mount(Router::new().route("/x", axum::routing::get(|| async { "x" })), &parse(&[], &[]).unwrap());
        let plain = off.oneshot(request("https://portal.example.org", "GET")).await.unwrap();
        assert!(!plain.headers().contains_key("access-control-allow-origin") && !plain.headers().contains_key("vary"), "off by default");
    }

    #[test]
    fn generated_defaults_yield_to_flags() {
        let defaults = Config { base_path: "/soda".to_owned(), ..Config::default() };
        let config = Config::parse_with(defaults.clone(), Vec::<String>::new(), |_| None).unwrap();
        assert_eq!(config.base_path, "/soda");
        let config = Config::parse_with(defaults, ["--base-path=/".to_owned()], |_| None).unwrap();
        assert_eq!(config.base_path, "");
    }

    async fn exchange(stream: &mut tokio::net::TcpStream, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        // The bodies below are short and end the answer.
        while !answer.ends_with(b"fast") && !answer.ends_with(b"slow") {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(answer).unwrap()
    }

    async fn closed(stream: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }

    #[tokio::test]
    async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
        let router = Router::new().route("/fast", axum::routing::get(|| async { "fast" })).route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, signal) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async move {
            let _ = signal.await;
        }));

        // A keep-alive connection, idle after one request; one that never speaks; one in flight.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(exchange(&mut idle, "/fast").await.starts_with("HTTP/1.1 200"));
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
        let slow = tokio::spawn(async move { exchange(&mut busy, "/slow").await });
        tokio::time::sleep(Duration::from_millis(100)).await;

        let began = std::time::Instant::now();
        stop.send(()).unwrap();
        let answer = slow.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("slow"), "{answer}");
        assert!(closed(&mut idle).await, "the idle keep-alive connection stays open");
        assert!(closed(&mut silent).await, "the silent connection stays open");
        tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve does not return").unwrap().unwrap();
        assert!(began.elapsed() < DRAIN, "shutdown waited for the drain limit");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting");
    }

    #[tokio::test]
    async fn a_client_that_goes_away_drops_its_handler() {
        use tokio::io::AsyncWriteExt;
        // The handler waits a minute unless it is dropped; dropping it closes the channel.
        let (dropped_tx, dropped) = tokio::sync::mpsc::channel::<()>(1);
        let router = Router::new().route(
            "/wait",
            axum::routing::get(move || {
                let guard = dropped_tx.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(guard);
                    "waited"
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router, std::future::pending()));
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(client);
        // The router holds one sender; the handler's clone goes when its future is dropped.
        let began = std::time::Instant::now();
        let gone = tokio::time::timeout(Duration::from_secs(5), async {
            while dropped.sender_strong_count() > 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "the handler still runs after its client left");
        assert!(began.elapsed() < Duration::from_secs(5));
    }
}
