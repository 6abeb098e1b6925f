//! The bundled SODA server operated as replicas behind a load balancer are: `/metrics` on a
//! listener of its own (`--metrics-addr`), read with the Prometheus project's own Python parser;
//! request ids taken or made and echoed; one JSON log line per request (`--log-format json`);
//! `/healthz` and `/readyz`; and nothing of it on the public port unless asked.

use ivoagen_e2e::{Response, Sample, Server, built, http, prometheus_samples, root};
use ivoagen_runtime::codegen::serde_json::{self, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Starts the server with its own data directory (the sample datasets), with `args` and `env`.
fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    let data = root().join("target/e2e/data").join(name);
    let _ = std::fs::remove_dir_all(&data);
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    Server::start_with_env(&built("soda-cutout-server"), &all, env)
}

/// A request of the test: its target, headers, expected status and route label.
type Case = (&'static str, &'static [(&'static str, &'static str)], u16, &'static str);

/// The value of the one sample `name` with exactly `labels`, if there is one.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let found: Vec<&Sample> = samples.iter().filter(|s| s.name == name && s.labels == labels).collect();
    assert!(found.len() <= 1, "{name} {labels:?} appears {} times", found.len());
    found.first().map(|s| s.value)
}

/// The JSON lines the server wrote for requests, waiting until there are at least `n` (a line
/// is written before its response, but read from the pipe by another thread).
fn request_lines(server: &Server, n: usize) -> Vec<Value> {
    let began = Instant::now();
    loop {
        let log = server.log();
        let lines: Vec<Value> = log.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
        let requests: Vec<Value> = lines.into_iter().filter(|l| l["message"] == "request").collect();
        if requests.len() >= n || began.elapsed() > Duration::from_secs(10) {
            return requests;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn metrics_request_ids_log_lines_and_probes_on_their_own_listener() {
    let server = start("operations", &["--metrics-addr", "127.0.0.1:0", "--log-format", "json"], &[]);
    let ops = server.metrics_addr();
    assert_ne!(ops, server.addr);

    // Requests of several routes and statuses; their ids, as sent and as answered.
    let requests: &[Case] = &[
        ("/soda/availability", &[("X-Request-Id", "lb-7f3a:e2e")], 200, "/soda/availability"),
        ("/soda/availability", &[], 200, "/soda/availability"),
        ("/soda/availability", &[("X-Request-Id", "has a space")], 200, "/soda/availability"),
        ("/soda/sync", &[], 400, "/soda/sync"),
        ("/soda/sync?ID=sample-image&POS=CIRCLE+10", &[], 400, "/soda/sync"),
        ("/soda/async/no-such-job", &[], 404, "/soda/async/{job}"),
        ("/soda/async/another-missing-job/phase", &[], 404, "/soda/async/{job}/phase"),
        ("/secret/place-7", &[], 404, "unmatched"),
        ("/soda/metrics", &[], 404, "unmatched"),
        ("/soda/readyz", &[], 404, "unmatched"),
    ];
    let mut answered: Vec<Response> = Vec::new();
    for (target, headers, status, _) in requests {
        let response = http(&server.addr, "GET", target, headers, b"");
        assert_eq!(response.status, *status, "{target}: {}", response.text());
        answered.push(response);
    }
    let ids: Vec<&str> = answered.iter().map(|r| r.header("x-request-id").expect("every response has an X-Request-Id")).collect();
    assert_eq!(ids[0], "lb-7f3a:e2e", "a sane client id is echoed");
    for (i, id) in ids.iter().enumerate().skip(1) {
        assert_eq!(id.len(), 36, "request {i}: a made id is a UUID: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'), "{id}");
    }
    let unique: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "ids repeat: {ids:?}");

    // A client that leaves a UWS WAIT before its answer: counted and logged as 499.
    let created = http(&server.addr, "POST", "/soda/async", &[("Content-Type", "application/x-www-form-urlencoded")], b"ID=sample-image&CIRCLE=10.70+41.26+0.02");
    assert_eq!(created.status, 303, "{}", created.text());
    let job = created.header("location").unwrap().split("/soda/async/").nth(1).unwrap().to_owned();
    let mut waiting = std::net::TcpStream::connect(&server.addr).unwrap();
    write!(waiting, "GET /soda/async/{job}?WAIT=30&PHASE=PENDING HTTP/1.1\r\nHost: x\r\nX-Request-Id: leaving-early\r\n\r\n").unwrap();
    waiting.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    assert!(waiting.read(&mut [0u8; 1]).is_err(), "the WAIT answered at once");
    drop(waiting);

    // The JSON lines: every stderr line is one, and each request has its own.
    let lines = request_lines(&server, requests.len() + 2);
    let log = server.log();
    assert!(log.iter().any(|l| l.contains("\"message\":\"listening on http://")), "{log:?}");
    let line_of = |id: &str| lines.iter().find(|l| l["request_id"] == id).unwrap_or_else(|| panic!("no line with id {id}: {lines:#?}"));
    for (i, (_, _, status, route)) in requests.iter().enumerate() {
        let line = line_of(ids[i]);
        assert_eq!((line["method"].as_str(), line["route"].as_str(), line["status"].as_u64()), (Some("GET"), Some(*route), Some(u64::from(*status))), "{line}");
        assert!(line["latency_ms"].as_f64().is_some_and(|ms| (0.0..10_000.0).contains(&ms)), "{line}");
        assert!(line["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{line}");
        assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 24), "{line}");
        assert_eq!(line["level"], if *status >= 500 { "error" } else { "info" });
    }
    let left = line_of("leaving-early");
    assert_eq!((left["route"].as_str(), left["status"].as_u64()), (Some("/soda/async/{job}"), Some(499)), "{left}");
    assert!(left["latency_ms"].as_f64().is_some_and(|ms| ms >= 250.0), "{left}");
    let all = log.join("\n");
    assert!(!all.contains("secret/place-7") && !all.contains("no-such-job"), "a raw path reached the log:\n{all}");

    // The exposition, as Prometheus' parser reads it.
    let scrape = http(&ops, "GET", "/metrics", &[], b"");
    assert_eq!(scrape.status, 200);
    assert_eq!(scrape.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = scrape.text();
    let samples = prometheus_samples(&text);
    let mut expected: BTreeMap<(&str, u16), f64> = BTreeMap::new();
    for (_, _, status, route) in requests {
        *expected.entry((route, *status)).or_default() += 1.0;
    }
    *expected.entry(("/soda/async", 303)).or_default() += 1.0;
    *expected.entry(("/soda/async/{job}", 499)).or_default() += 1.0;
    let counted: BTreeMap<(String, u16), f64> = samples
        .iter()
        .filter(|s| s.name == "http_requests_total")
        .map(|s| {
            assert_eq!((s.family.as_str(), s.kind.as_str()), ("http_requests", "counter"));
            ((s.labels["route"].clone(), s.labels["status"].parse().unwrap()), s.value)
        })
        .collect();
    let expected: BTreeMap<(String, u16), f64> = expected.into_iter().map(|((r, s), n)| ((r.to_owned(), s), n)).collect();
    assert_eq!(counted, expected, "requests by route and status");
    assert_eq!(value(&samples, "http_requests_total", &[("method", "POST"), ("route", "/soda/async"), ("status", "303")]), Some(1.0));
    assert!(samples.iter().all(|s| s.labels.values().all(|v| !v.contains("secret") && !v.contains("missing-job"))), "a raw path became a label");

    // Histograms: cumulative buckets, the last +Inf, equal to the count; per method and route.
    let availability = [("method", "GET"), ("route", "/soda/availability")];
    assert_eq!(value(&samples, "http_request_duration_seconds_count", &availability), Some(3.0));
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == "http_request_duration_seconds_bucket" && s.labels.get("route").map(String::as_str) == Some("/soda/availability"))
        .map(|s| {
            assert_eq!(s.kind, "histogram");
            let le = &s.labels["le"];
            (if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() }, s.value)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(buckets.len(), 18, "17 bounds and +Inf: {buckets:?}");
    assert_eq!(buckets[0].0, 0.00025);
    assert_eq!(buckets.last(), Some(&(f64::INFINITY, 3.0)));
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "not cumulative: {buckets:?}");
    assert_eq!(buckets.iter().find(|(le, _)| *le == 60.0).map(|b| b.1), Some(3.0), "an answer of VOSI took over a minute");
    let sum = value(&samples, "http_request_duration_seconds_sum", &availability).unwrap();
    assert!(sum > 0.0 && sum < 60.0, "{sum}");
    let wait = [("method", "GET"), ("route", "/soda/async/{job}")];
    assert_eq!(value(&samples, "http_request_duration_seconds_count", &wait), Some(2.0));
    assert_eq!(value(&samples, "http_requests_in_flight", &[]), Some(0.0), "the scrape itself is not a request of the service");
    assert_eq!(value(&samples, "server_info", &[("program", "soda-cutout-server"), ("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    let started = value(&samples, "process_start_time_seconds", &[]).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(now - started < 600.0 && started <= now + 1.0, "{started} {now}");

    // The probes, where the kubelet (or a load balancer's health check) reaches the replica.
    let live = http(&ops, "GET", "/healthz", &[], b"");
    assert_eq!((live.status, live.text().as_str()), (200, "ok\n"));
    let ready = http(&ops, "GET", "/readyz", &[], b"");
    assert_eq!((ready.status, ready.text().as_str()), (200, "[+]job-store ok\nready\n"), "the UWS mount's check of its store");
    assert_eq!(http(&ops, "GET", "/soda/availability", &[], b"").status, 404, "the service is not on the operations listener");
    // Scrapes and probes are not requests of the service: counted nowhere, logged nowhere.
    let again = prometheus_samples(&http(&ops, "GET", "/metrics", &[], b"").text());
    assert_eq!(again.iter().filter(|s| s.name == "http_requests_total").map(|s| s.value).sum::<f64>(), counted.values().sum::<f64>());
    assert!(!server.log().iter().any(|l| l.contains("healthz") || l.contains("\"route\":\"/metrics")));
}

#[test]
fn on_the_main_port_only_when_asked_from_the_environment() {
    let server = start("operations-main", &[], &[("METRICS", "1"), ("LOG_FORMAT", "json")]);
    assert!(server.log().iter().all(|l| serde_json::from_str::<Value>(l).is_ok()), "{:?}", server.log());
    assert!(!server.log().iter().any(|l| l.contains("metrics on")), "no listener of its own");
    assert_eq!(http(&server.addr, "GET", "/soda/capabilities", &[], b"").status, 200);
    let scrape = http(&server.addr, "GET", "/soda/metrics", &[], b"");
    assert_eq!(scrape.status, 200);
    let samples = prometheus_samples(&scrape.text());
    assert_eq!(value(&samples, "http_requests_total", &[("method", "GET"), ("route", "/soda/capabilities"), ("status", "200")]), Some(1.0));
    assert!(scrape.header("x-request-id").is_some());
    assert_eq!(http(&server.addr, "GET", "/soda/healthz", &[], b"").text(), "ok\n");
    assert_eq!(http(&server.addr, "GET", "/soda/readyz", &[], b"").status, 200);
    assert_eq!(http(&server.addr, "GET", "/metrics", &[], b"").status, 404, "under the base path only");
    // And a server asked for nothing has none of it (the other tests' servers, and the default).
    let plain = start("operations-plain", &[], &[]);
    assert_eq!(http(&plain.addr, "GET", "/soda/metrics", &[], b"").status, 404);
    assert!(plain.log().iter().all(|l| !l.starts_with('{')), "text lines by default: {:?}", plain.log());
}
