//! Request-rate limits through the real SODA server: one budget per identity (`--rate-limit`)
//! across its operations and UWS jobs, one per anonymous client address
//! (`--anonymous-rate-limit`, the client as trusted proxies report it), 429 with `Retry-After` in
//! each operation's error format, other callers unaffected, VOSI and the pages for people never
//! counted, and a request passing again once `Retry-After` has gone by. The UWS jobs a caller may
//! have queued or executing at once (`--uws-max-active`), and the failed authentications a
//! client address may make before its credentials are no longer checked
//! (`--auth-failure-limit`, on by default).

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

/// Writes `NAME.fits.gz` into the data of server `name`: a 2048×2048 image (16 MiB) compressed,
/// which a cutout reads as a stream from its start. A cutout near its far edge decompresses
/// nearly all of it, so a job of many such cutouts executes until it is stopped.
fn slow_dataset(name: &str) -> &'static str {
    let data = root().join("target/e2e/quotas").join(name).join("data");
    let fits = data.join("slow.fits");
    soda_cutout_server::service::sample::write_image(&fits, 2048, 10.68, 41.27, 1.0 / 3600.0).unwrap();
    let status = std::process::Command::new("gzip").args(["-1", "-f"]).arg(&fits).status().expect("gzip runs");
    assert!(status.success() && data.join("slow.fits.gz").exists());
    "slow"
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Creates a job of `caller` with `body`: the answer.
fn create(server: &Server, caller: &[(&str, &str)], body: &str) -> Response {
    let mut headers = vec![FORM];
    headers.extend_from_slice(caller);
    http(&server.addr, "POST", "/soda/async", &headers, body.as_bytes())
}

/// The job a creation answered with 303 made: its path.
fn job_of(server: &Server, created: &Response) -> String {
    assert_eq!(created.status, 303, "{}", created.text());
    created.header("location").unwrap().split(&server.addr).nth(1).unwrap().to_owned()
}

fn phase_of(server: &Server, job: &str, caller: &[(&str, &str)]) -> String {
    http(&server.addr, "GET", &format!("{job}/phase"), caller, b"").text()
}

/// Asserts a refusal for too many jobs at once, in SODA's text, saying whose limit it is.
fn too_many_at_once(response: &Response, who: &str) {
    soda_error(response, 429, "UsageError");
    assert_eq!(response.header("retry-after"), Some("5"));
    let says = format!("UsageError: too many jobs at once: {who} may have 2 jobs queued or executing");
    assert!(response.text().starts_with(&says), "{}", response.text());
}

const CHEAP: &str = "ID=sample-image&CIRCLE=10.68+41.27+0.01&PHASE=RUN";

#[test]
fn each_caller_may_have_two_jobs_queued_or_executing() {
    // One worker: while alice's slow job executes, every other job waits, queued.
    let server = start("active", &["--uws-max-active", "2", "--uws-workers", "1", "--trusted-proxy", "127.0.0.1/32"]);
    let slow = slow_dataset("active");
    // A hundred IDs times ten regions near the image's far edge: a thousand cutouts.
    let ids: String = (0..100).map(|_| format!("ID={slow}&")).collect();
    let regions: String = (0..10).map(|i| format!("CIRCLE=10.68+41.5{i}+0.01&")).collect();
    let first = job_of(&server, &create(&server, &[ALICE], &format!("{ids}{regions}PHASE=RUN")));
    let _ = http(&server.addr, "GET", &format!("{first}?WAIT=30&PHASE=QUEUED"), &[ALICE], b"");
    assert_eq!(phase_of(&server, &first, &[ALICE]), "EXECUTING");
    let second = job_of(&server, &create(&server, &[ALICE], CHEAP));
    assert_eq!(phase_of(&server, &second, &[ALICE]), "QUEUED");
    // A third: refused, and not created.
    too_many_at_once(&create(&server, &[ALICE], CHEAP), "this identity");
    assert_eq!(get(&server, "/soda/async", &[ALICE]).text().matches("<uws:jobref ").count(), 2);
    // Created pending, it is kept; running it is refused, through /phase or /parameters, and it
    // stays pending.
    let third = job_of(&server, &create(&server, &[ALICE], "ID=sample-image&CIRCLE=10.68+41.27+0.01"));
    too_many_at_once(&http(&server.addr, "POST", &format!("{third}/phase"), &[ALICE, FORM], b"PHASE=RUN"), "this identity");
    too_many_at_once(&http(&server.addr, "POST", &format!("{third}/parameters"), &[ALICE, FORM], b"PHASE=RUN"), "this identity");
    assert_eq!(phase_of(&server, &third, &[ALICE]), "PENDING");
    // Bob's places are his own.
    for _ in 0..2 {
        job_of(&server, &create(&server, &[BOB], CHEAP));
    }
    too_many_at_once(&create(&server, &[BOB], CHEAP), "this identity");
    // Anonymous callers have the places of their client address: two behind the proxy, and the
    // proxy's own.
    for client in ["203.0.113.7", "203.0.113.8"] {
        let xff = ("x-forwarded-for", client);
        for _ in 0..2 {
            job_of(&server, &create(&server, &[xff], CHEAP));
        }
        too_many_at_once(&create(&server, &[xff], CHEAP), "this client address");
    }
    job_of(&server, &create(&server, &[], CHEAP));
    // One of alice's ends (aborted while queued): one place again, taken by the pending job.
    assert_eq!(http(&server.addr, "POST", &format!("{second}/phase"), &[ALICE, FORM], b"PHASE=ABORT").status, 303);
    let ran = http(&server.addr, "POST", &format!("{third}/phase"), &[ALICE, FORM], b"PHASE=RUN");
    assert_eq!(ran.status, 303, "{}", ran.text());
    assert_eq!(phase_of(&server, &third, &[ALICE]), "QUEUED");
    too_many_at_once(&create(&server, &[ALICE], CHEAP), "this identity");
    // The slow job aborted, the queue drains; once alice's last job has completed, she has her
    // two places back.
    assert_eq!(http(&server.addr, "POST", &format!("{first}/phase"), &[ALICE, FORM], b"PHASE=ABORT").status, 303);
    for _ in 0..60 {
        if phase_of(&server, &third, &[ALICE]) == "COMPLETED" {
            break;
        }
        let _ = http(&server.addr, "GET", &format!("{third}?WAIT=1"), &[ALICE], b"");
    }
    assert_eq!(phase_of(&server, &third, &[ALICE]), "COMPLETED");
    for _ in 0..2 {
        job_of(&server, &create(&server, &[ALICE], CHEAP));
    }
}

#[test]
fn refused_credentials_spend_the_client_addresss_budget() {
    // Five failures, then one every two seconds.
    let server = start("failures", &["--auth-failure-limit", "5/10s", "--trusted-proxy", "127.0.0.1/32", "--metrics"]);
    let (guesser, other) = (("x-forwarded-for", "203.0.113.66"), ("x-forwarded-for", "203.0.113.67"));
    let wrong = ("authorization", "Bearer tok-mallory");
    for i in 0..5 {
        let r = get(&server, CUTOUT, &[guesser, wrong]);
        assert_eq!(r.status, 401, "failure {i}: {}", r.text());
        assert!(r.header("www-authenticate").is_some());
    }
    // Spent: a wrong token and the right one are answered alike, unchecked.
    for caller in [wrong, ALICE] {
        let r = get(&server, CUTOUT, &[guesser, caller]);
        soda_error(&r, 429, "UsageError");
        assert!(r.text().contains("too many failed authentications: this client address may fail 5 per 10 seconds, 5 at once"), "{}", r.text());
        assert!((1..=2).contains(&retry_after(&r)), "{:?}", r.header("retry-after"));
        assert_eq!((r.header("x-vo-authenticated"), r.header("www-authenticate")), (None, None));
    }
    // Every route that checks credentials: DataLink answers in its VOTable, UWS in SODA's text.
    let links = get(&server, "/soda/links?ID=sample-image", &[guesser, ALICE]);
    assert_eq!((links.status, links.header("content-type")), (429, Some("application/x-votable+xml")), "{}", links.text());
    soda_error(&create(&server, &[guesser, ALICE], CHEAP), 429, "UsageError");
    // Without credentials, the address is served; another address is not affected.
    assert_eq!(get(&server, CUTOUT, &[guesser]).status, 200);
    assert_eq!(get(&server, CUTOUT, &[other, wrong]).status, 401);
    let served = get(&server, CUTOUT, &[other, ALICE]);
    assert_eq!((served.status, served.header("x-vo-authenticated")), (200, Some("alice")));
    let metrics = get(&server, "/soda/metrics", &[]).text();
    assert_eq!(sample(&metrics, "http_auth_failures_limited_total"), Some(4), "{metrics}");
    // Once Retry-After has gone by, one more try: the right token is served.
    let wait = retry_after(&get(&server, CUTOUT, &[guesser, ALICE]));
    std::thread::sleep(std::time::Duration::from_secs(wait));
    let again = get(&server, CUTOUT, &[guesser, ALICE]);
    assert_eq!((again.status, again.header("x-vo-authenticated")), (200, Some("alice")), "{}", again.text());
}

#[test]
fn failed_authentications_are_limited_unless_turned_off() {
    let wrong = ("authorization", "Bearer tok-mallory");
    // By default, twenty failures a minute, twenty at once.
    let default = start("failures-default", &[]);
    for i in 0..20 {
        assert_eq!(get(&default, CUTOUT, &[wrong]).status, 401, "failure {i}");
    }
    let refused = get(&default, CUTOUT, &[wrong]);
    soda_error(&refused, 429, "UsageError");
    assert!((2..=3).contains(&retry_after(&refused)), "one failure every 3 s: {:?}", refused.header("retry-after"));
    // Off: every failure is answered 401.
    let off = start("failures-off", &["--auth-failure-limit", "off"]);
    for i in 0..40 {
        assert_eq!(get(&off, CUTOUT, &[wrong]).status, 401, "failure {i}");
    }
    assert_eq!(get(&off, CUTOUT, &[ALICE]).status, 200);
}
