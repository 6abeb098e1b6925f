//! Request-rate limits through the real SODA server: one budget per identity (`--rate-limit`)
//! across its operations and UWS jobs, one per anonymous client address
//! (`--anonymous-rate-limit`, the client as trusted proxies report it), 429 with `Retry-After` in
//! each operation's error format, other callers unaffected, VOSI and the pages for people never
//! counted, and a request passing again once `Retry-After` has gone by.

use ivoagen_e2e::{Response, Server, built, http, root, soda_error};

/// Starts the SODA server with its sample data, two identities (alice, bob) and `args`.
fn start(name: &str, args: &[&str]) -> Server {
    let dir = root().join("target/e2e/quotas").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "tok-alice alice\ntok-bob bob\n").unwrap();
    let mut all = vec!["--data-dir", data.to_str().unwrap(), "--auth-tokens", tokens.to_str().unwrap()];
    all.extend_from_slice(args);
    Server::start(&built("soda-cutout-server"), &all)
}

const CUTOUT: &str = "/soda/sync?ID=sample-image&CIRCLE=10.68%2041.27%200.01";
const ALICE: (&str, &str) = ("authorization", "Bearer tok-alice");
const BOB: (&str, &str) = ("authorization", "Bearer tok-bob");

fn get(server: &Server, target: &str, headers: &[(&str, &str)]) -> Response {
    http(&server.addr, "GET", target, headers, b"")
}

/// `Retry-After` as a number of seconds.
fn retry_after(response: &Response) -> u64 {
    let value = response.header("retry-after").unwrap_or_else(|| panic!("no Retry-After: {:?}", response.headers));
    value.parse().unwrap_or_else(|_| panic!("Retry-After `{value}` is not a number of seconds"))
}

/// The value of the sample `name` (with its labels) in a Prometheus text exposition.
fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn each_identity_and_each_client_address_has_its_own_budget() {
    let server = start("budgets", &["--rate-limit", "3/m", "--anonymous-rate-limit", "2/m", "--metrics"]);
    // Alice's budget: three requests, then 429 with Retry-After and SODA's error text.
    for i in 0..3 {
        let r = get(&server, CUTOUT, &[ALICE]);
        assert_eq!(r.status, 200, "alice's request {i}: {}", r.text());
        assert!(r.header("retry-after").is_none());
    }
    let refused = get(&server, CUTOUT, &[ALICE]);
    soda_error(&refused, 429, "UsageError");
    assert!(refused.text().contains("too many requests: this identity may make 3 per minute"), "{}", refused.text());
    let wait = retry_after(&refused);
    assert!((19..=20).contains(&wait), "one request every 20 s: Retry-After {wait}");
    assert_eq!(refused.header("x-vo-authenticated"), Some("alice"), "the refusal still names the caller");
    // The budget is the caller's, across operations: DataLink answers in its VOTable, UWS too.
    let links = get(&server, "/soda/links?ID=sample-image", &[ALICE]);
    assert_eq!(links.status, 429, "{}", links.text());
    assert_eq!(links.header("content-type"), Some("application/x-votable+xml"));
    assert!(links.text().contains(r#"<INFO name="QUERY_STATUS" value="ERROR">UsageError: too many requests"#), "{}", links.text());
    assert!(retry_after(&links) >= 1);
    let form = ("content-type", "application/x-www-form-urlencoded");
    let job = http(&server.addr, "POST", "/soda/async", &[ALICE, form], b"ID=sample-image&CIRCLE=10.68+41.27+0.01");
    soda_error(&job, 429, "UsageError");
    soda_error(&get(&server, "/soda/async", &[ALICE]), 429, "UsageError");
    // Bob is not affected, nor are anonymous callers.
    for i in 0..3 {
        let r = get(&server, CUTOUT, &[BOB]);
        assert_eq!(r.status, 200, "bob's request {i}: {}", r.text());
    }
    soda_error(&get(&server, CUTOUT, &[BOB]), 429, "UsageError");
    // Anonymous callers from one address share its budget: two, then 429.
    for i in 0..2 {
        assert_eq!(get(&server, CUTOUT, &[]).status, 200, "anonymous request {i}");
    }
    let anonymous = get(&server, CUTOUT, &[]);
    soda_error(&anonymous, 429, "UsageError");
    assert!(anonymous.text().contains("this client address may make 2 per minute"), "{}", anonymous.text());
    assert!((29..=30).contains(&retry_after(&anonymous)), "{:?}", anonymous.header("retry-after"));
    assert_eq!(anonymous.header("x-vo-authenticated"), None);
    // Behind the (trusted, loopback) proxy, each client it reports has a budget of its own.
    for client in ["203.0.113.5", "203.0.113.6"] {
        let xff = ("x-forwarded-for", client);
        for i in 0..2 {
            assert_eq!(get(&server, CUTOUT, &[xff]).status, 200, "{client}'s request {i}");
        }
        soda_error(&get(&server, CUTOUT, &[xff]), 429, "UsageError");
    }
    let forwarded = ("forwarded", "for=198.51.100.1;proto=https");
    assert_eq!(get(&server, CUTOUT, &[forwarded]).status, 200);
    // Not counted: VOSI, the API description, the landing page and docs, the metrics.
    for target in ["/soda/availability", "/soda/capabilities", "/soda/openapi.json", "/soda/", "/soda/docs", "/soda/metrics"] {
        for _ in 0..3 {
            assert_eq!(get(&server, target, &[]).status, 200, "{target}");
            assert_eq!(get(&server, target, &[ALICE]).status, 200, "{target}, alice");
        }
    }
    // The refusals, by kind of caller.
    let metrics = get(&server, "/soda/metrics", &[]).text();
    assert_eq!(sample(&metrics, "http_requests_limited_total{caller=\"identified\"}"), Some(5), "{metrics}");
    assert_eq!(sample(&metrics, "http_requests_limited_total{caller=\"anonymous\"}"), Some(3), "{metrics}");
}

#[test]
fn a_client_that_spoofs_forwarding_headers_gets_no_new_budget() {
    // No proxy trusted: the TCP peer is the client, whatever its headers say.
    let server = start("untrusted", &["--anonymous-rate-limit", "1/h", "--trusted-proxy", "none"]);
    assert_eq!(get(&server, CUTOUT, &[("x-forwarded-for", "203.0.113.1")]).status, 200);
    for spoof in [("x-forwarded-for", "203.0.113.2"), ("forwarded", "for=203.0.113.3")] {
        let r = get(&server, CUTOUT, &[spoof]);
        soda_error(&r, 429, "UsageError");
        assert!((3599..=3600).contains(&retry_after(&r)));
    }
    // --rate-limit was not given: identities are not limited.
    for _ in 0..5 {
        assert_eq!(get(&server, CUTOUT, &[ALICE]).status, 200);
    }
}

#[test]
fn a_request_passes_once_retry_after_has_gone_by() {
    // Two at once, then one a second; anonymous callers the same (the default).
    let server = start("retry", &["--rate-limit", "1/s,burst=2"]);
    for headers in [&[ALICE][..], &[]] {
        assert_eq!(get(&server, CUTOUT, headers).status, 200);
        assert_eq!(get(&server, CUTOUT, headers).status, 200);
        let refused = get(&server, CUTOUT, headers);
        soda_error(&refused, 429, "UsageError");
        let wait = retry_after(&refused);
        assert_eq!(wait, 1, "less than a second, rounded up");
        std::thread::sleep(std::time::Duration::from_secs(wait));
        let again = get(&server, CUTOUT, headers);
        assert_eq!(again.status, 200, "after Retry-After: {}", again.text());
        soda_error(&get(&server, CUTOUT, headers), 429, "UsageError");
    }
    // Off by default: a server without the flags never answers 429.
    let open = start("open", &[]);
    for _ in 0..20 {
        assert_eq!(get(&open, CUTOUT, &[]).status, 200);
    }
}
