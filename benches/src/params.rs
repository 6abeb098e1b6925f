//! Serves the same small body two ways, for `cargo xtask bench params`:
//!
//! - `/bare`: a bare axum handler;
//! - `/soda/sync`: the generated SODA router (mounted as a server mounts it, under `/soda`) —
//!   case-insensitive collection of every parameter,
//!   validation, typed parsing of `ID` and `CIRCLE` — calling a service that returns the body.
//!
//! It prints `listening on http://ADDR/` and serves until killed. One worker thread, so that the
//! load generator has the other core. With `in-process`, it calls both routes in this process
//! instead, without sockets, and prints the nanoseconds each takes per request. With `mounted`,
//! it calls the SODA route as `rt::serve::mount` wraps it — without, with a bare axum `Extension`
//! (what `mount` did before it observed requests), as a server runs by default, with metrics,
//! with metrics and JSON lines (to stderr); then as `server()` builds it (UWS and docs beside it),
//! anonymous and with a bearer token, each without and with rate limits (a budget never spent)
//! — and prints nanoseconds and allocations per request; `mounted VARIANT COUNT` calls one of
//! them COUNT times, for `valgrind --tool=callgrind`.

use ivoagen_runtime::codegen as rt;
use rt::axum::{Router, routing};
use soda_cutout_server::api::{self, Api};

const BODY: &[u8] = b"SIMPLE  =                    T / a small body, the same for both routes\n";

#[derive(Clone)]
struct Bench;

impl Api for Bench {
    async fn soda_sync(&self, request: api::SodaSyncRequest) -> Result<api::SodaSyncResponse, rt::Error> {
        // The typed values are there; touching them keeps the work honest.
        let radius = request.circle.as_ref().and_then(|c| c.first()).map_or(0.0, |c| c.radius);
        if request.id.is_empty() || radius < 0.0 {
            return Err(rt::Error::internal("impossible"));
        }
        Ok(api::SodaSyncResponse::Ok(rt::Body::from(rt::Bytes::from_static(BODY))))
    }

    async fn soda_sync_job(&self, _: api::SodaSyncRequest, _: std::sync::Arc<rt::uws::engine::ResultWriter>) -> Result<(), rt::uws::JobError> {
        Err(rt::uws::JobError { fatal: true, message: "the benchmark runs no jobs".into() })
    }

    async fn links(&self, _: api::LinksRequest) -> Result<api::LinksResponse, rt::Error> {
        Err(rt::Error::not_implemented("links"))
    }
}

/// The same response as the SODA route's, byte for byte: the body, its type, and the two
/// challenges the route's optional authentication adds (AuthVO: "authentication optional").
async fn bare() -> rt::axum::response::Response {
    let mut response = rt::response::bytes_body(rt::http::StatusCode::OK, "application/fits", rt::Bytes::from_static(BODY));
    let headers = response.headers_mut();
    headers.append(rt::http::header::WWW_AUTHENTICATE, rt::http::HeaderValue::from_static("Bearer"));
    headers.append(rt::http::header::WWW_AUTHENTICATE, rt::http::HeaderValue::from_static("Basic realm=\"SODA cutout service\""));
    response
}

/// The benchmark's router: both routes, as one server.
fn app() -> Router {
    Router::new().route("/bare", routing::get(bare)).merge(soda_cutout_server::router_at(Bench, "/soda"))
}

/// Calls `path` on the router `count` times in this thread, reading each answer's body; returns
/// the nanoseconds per request.
async fn in_process(app: &Router, path: &str, count: u32) -> f64 {
    in_process_as(app, path, count, None).await
}

/// [`in_process`], with `Authorization: Bearer TOKEN` when a token is given.
async fn in_process_as(app: &Router, path: &str, count: u32, token: Option<&str>) -> f64 {
    use rt::tower::ServiceExt;
    let started = std::time::Instant::now();
    for _ in 0..count {
        let mut request = rt::http::Request::get(path).header("host", "127.0.0.1");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(rt::axum::body::Body::empty()).expect("a valid request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), rt::http::StatusCode::OK, "{path}");
        let body = rt::axum::body::to_bytes(response.into_body(), 1024).await.expect("a body");
        assert_eq!(body.len(), BODY.len());
    }
    started.elapsed().as_nanos() as f64 / f64::from(count)
}

/// The `mounted` mode: the SODA route as `mount` wraps it, in each configuration.
async fn mounted(path: &str) {
    let plain = rt::serve::Config { base_path: "/soda".into(), ..Default::default() };
    let metrics = rt::serve::Config { metrics_on_main: true, ..plain.clone() };
    let json = rt::serve::Config { log_format: rt::observe::LogFormat::Json, ..metrics.clone() };
    let extension = rt::axum::extract::Extension(std::sync::Arc::new(rt::serve::Mount::default()));
    // The whole server (UWS jobs and docs beside the route), with a token file, without and with
    // rate limits so high that no request is refused: what counting a request costs.
    let data = std::env::temp_dir().join(format!("params-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).expect("a temporary directory");
    std::fs::write(data.join("tokens"), "bench-token bench\n").expect("a token file");
    let served = rt::serve::Config { data_dir: data.clone(), auth_tokens: Some(data.join("tokens")), ..plain.clone() };
    let never = rt::quota::Rate::parse("1000000000/s").expect("a rate");
    let limited = rt::serve::Config { rate_limits: rt::quota::Settings { identified: never, anonymous: never, ..Default::default() }, ..served.clone() };
    let server = |config: rt::serve::Config| async move {
        let router = soda_cutout_server::server(Bench, &config).await.expect("the server starts");
        rt::serve::mount(router, &config)
    };
    let variants = [
        ("unmounted", app(), None),
        ("extension", app().layer(extension), None),
        ("default", rt::serve::mount(app(), &plain), None),
        ("metrics", rt::serve::mount(app(), &metrics), None),
        ("metrics+json", rt::serve::mount(app(), &json), None),
        ("server", server(served.clone()).await, None),
        ("server+limits", server(limited.clone()).await, None),
        ("server+token", server(served).await, Some("bench-token")),
        ("server+token+limits", server(limited).await, Some("bench-token")),
    ];
    if let Some(only) = std::env::args().nth(2) {
        let count = std::env::args().nth(3).and_then(|c| c.parse().ok()).unwrap_or(10_000);
        let (_, app, token) = variants.iter().find(|(name, _, _)| *name == only).expect("unmounted, extension, default, metrics, metrics+json, server, server+limits, server+token or server+token+limits");
        in_process_as(app, path, count, *token).await;
        let _ = std::fs::remove_dir_all(&data);
        return;
    }
    let mut counts = Vec::new();
    for (_, app, token) in &variants {
        let before = allocations();
        in_process_as(app, path, 1000, *token).await;
        counts.push((allocations() - before) as f64 / 1000.0);
    }
    let mut times = vec![Vec::new(); variants.len()];
    for _ in 0..9 {
        for ((_, app, token), times) in variants.iter().zip(&mut times) {
            times.push(in_process_as(app, path, 50_000, *token).await);
        }
    }
    let _ = std::fs::remove_dir_all(&data);
    println!("in process, median of 9 rounds of 50,000 requests each:");
    for (((name, _, _), mut times), count) in variants.iter().zip(times).zip(counts) {
        times.sort_by(f64::total_cmp);
        println!("{name:>14}: {:>7.0} ns per request   {count:>5.1} allocations per request", times[times.len() / 2]);
    }
}

fn main() -> std::io::Result<()> {
    let runtime = rt::tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let query = "?id=sample-image&circle=10.68%2041.27%200.1";
    if std::env::args().nth(1).as_deref() == Some("mounted") {
        runtime.block_on(mounted(&format!("/soda/sync{query}")));
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("in-process") {
        // The routes' own CPU cost, without sockets: alternating rounds, the median of each.
        return runtime.block_on(async {
            let app = app();
            let (mut bare, mut generated) = (Vec::new(), Vec::new());
            let mut counts = Vec::new();
            for path in ["/bare", "/soda/sync"] {
                let before = allocations();
                in_process(&app, &format!("{path}{query}"), 1000).await;
                counts.push((allocations() - before) as f64 / 1000.0);
            }
            for _ in 0..15 {
                bare.push(in_process(&app, &format!("/bare{query}"), 100_000).await);
                generated.push(in_process(&app, &format!("/soda/sync{query}"), 100_000).await);
            }
            let median = |mut v: Vec<f64>| {
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (b, g) = (median(bare), median(generated));
            println!("in process, median of 15 rounds of 100,000 requests each:");
            println!("bare axum handler:          {b:>8.0} ns per request   {:>5.1} allocations per request", counts[0]);
            println!("generated parameter layer:  {g:>8.0} ns per request   {:>5.1} allocations per request   (+{:.0} ns)", counts[1], g - b);
            println!("(both counts include building the request and reading the answer in this loop)");
            Ok(())
        });
    }
    drop(runtime);
    let runtime = rt::tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let listener = rt::tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening on http://{}/", listener.local_addr()?);
        rt::serve::serve(listener, app(), std::future::pending()).await
    })
}

/// The system allocator, counting allocations: the in-process mode reports them per request.
struct Counting;

static ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[allow(unsafe_code, reason = "GlobalAlloc is an unsafe trait; each method defers to System")]
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's obligations on `layout` are System's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from System with this `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `ptr` came from System with this `layout`.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed)
}
