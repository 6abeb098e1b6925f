use super::*;
use crate::serve::{Config, Program, Stop};
use axum::extract::ConnectInfo;
use std::net::SocketAddr;

const SECOND: u64 = 1_000_000_000;

fn rate(text: &str) -> Rate {
    Rate::parse(text).unwrap().unwrap()
}

#[test]
fn rates_are_read_with_their_burst() {
    assert_eq!(rate("10/s"), Rate { requests: 10, period: Duration::from_secs(1), burst: 10 });
    assert_eq!(rate(" 600/m "), Rate { requests: 600, period: Duration::from_secs(60), burst: 600 });
    assert_eq!(rate("1000/h,burst=50"), Rate { requests: 1000, period: Duration::from_secs(3600), burst: 50 });
    assert_eq!(rate("5/10s, burst=1"), Rate { requests: 5, period: Duration::from_secs(10), burst: 1 });
    assert_eq!(rate("3/minute").period, Duration::from_secs(60));
    assert_eq!(rate("3/2days").period, Duration::from_secs(2 * 86400));
    assert_eq!(rate("1/Day").period, Duration::from_secs(86400));
    assert_eq!(Rate::parse("off"), Ok(None));
    assert_eq!(Rate::parse("NONE"), Ok(None));
    for wrong in ["10", "0/s", "10/", "10/x", "10/0s", "ten/s", "10/s,bursty=3", "10/s,burst=0", "10/s,", "-1/s", "10/400d", "2000000000/s"] {
        let message = Rate::parse(wrong).unwrap_err();
        assert!(message.contains(&format!("`{}` is not a rate", wrong.trim())), "{wrong}: {message}");
    }
    assert_eq!(rate("600/m").to_string(), "600 per minute, 600 at once");
    assert_eq!(rate("5/10s,burst=2").to_string(), "5 per 10 seconds, 2 at once");
    assert_eq!(rate("1/2h").to_string(), "1 per 2 hours, 1 at once");
    assert_eq!(rate("1/90s").to_string(), "1 per 90 seconds, 1 at once");
}

/// A table of `rate` with room for `keys` callers.
fn table<K: Hash + Eq>(rate_text: &str, keys: usize) -> Table<K> {
    Table::new(rate(rate_text), keys)
}

fn ask(table: &Table<Box<str>>, key: &str, now: u64) -> Result<(), Duration> {
    table.check(key, now, |k: &str| Box::from(k))
}

#[test]
fn a_quiet_caller_may_send_its_burst_then_one_per_interval() {
    let t = table("3/s", 10);
    for _ in 0..3 {
        assert_eq!(ask(&t, "alice", 0), Ok(()));
    }
    // The fourth at once waits for one interval (a third of a second).
    let wait = ask(&t, "alice", 0).unwrap_err();
    assert_eq!(wait, Duration::from_nanos(SECOND / 3));
    assert_eq!(retry_after(wait), 1, "rounded up");
    // Refused requests spend nothing: asking again and again does not push the time back.
    for _ in 0..100 {
        assert!(ask(&t, "alice", 1000).is_err());
    }
    assert_eq!(ask(&t, "alice", SECOND / 3 - 1), Err(Duration::from_nanos(1)), "one nanosecond early");
    assert_eq!(ask(&t, "alice", SECOND / 3), Ok(()), "exactly when it was told");
    assert!(ask(&t, "alice", SECOND / 3).is_err());
    // At the sustained rate, every request passes, for ever.
    let start = SECOND;
    for i in 0..1000 {
        assert_eq!(ask(&t, "alice", start + i * (SECOND / 3)), Ok(()), "request {i}");
    }
    // Other callers have budgets of their own.
    for _ in 0..3 {
        assert_eq!(ask(&t, "bob", 0), Ok(()));
    }
}

#[test]
fn the_burst_and_the_rate_are_separate() {
    // Ten a second, at most two at once.
    let t = table("10/s,burst=2", 10);
    assert!(ask(&t, "a", 0).is_ok() && ask(&t, "a", 0).is_ok());
    assert_eq!(ask(&t, "a", 0), Err(Duration::from_nanos(SECOND / 10)));
    // A slow rate: the wait is long and told in whole seconds, rounded up.
    let slow = table("1/m", 10);
    assert!(ask(&slow, "a", 0).is_ok());
    let wait = ask(&slow, "a", SECOND / 2).unwrap_err();
    assert_eq!(wait, Duration::from_nanos(60 * SECOND - SECOND / 2));
    assert_eq!(retry_after(wait), 60);
    assert_eq!(retry_after(Duration::from_secs(60)), 60);
    assert_eq!(retry_after(Duration::from_nanos(1)), 1);
    // A long quiet spell fills the budget but never beyond the burst.
    let t = table("2/s", 10);
    assert!(ask(&t, "a", 0).is_ok());
    let later = 3600 * SECOND;
    assert!(ask(&t, "a", later).is_ok() && ask(&t, "a", later).is_ok());
    assert!(ask(&t, "a", later).is_err());
}

#[test]
fn memory_is_bounded_however_many_callers_come() {
    // Every caller still spending (a budget of one an hour): the worst case.
    let t: Table<IpAddr> = table("1/h", 1000);
    for i in 0..200_000u32 {
        let key = IpAddr::from(i.to_be_bytes());
        assert!(t.check(&key, u64::from(i), |k| *k).is_ok(), "a new caller has its burst");
        if i % 1000 == 0 {
            assert!(t.len() <= 1000, "{} callers tracked after {i}", t.len());
        }
    }
    assert!(t.len() <= 1000 && t.len() >= 500, "{}", t.len());
    // Callers whose budget is full again are forgotten before those still spending.
    let t: Table<Box<str>> = table("1/s", 64);
    for i in 0..64 {
        assert!(ask(&t, &format!("old-{i}"), 0).is_ok());
    }
    for i in 0..64 {
        assert!(ask(&t, &format!("new-{i}"), 2 * SECOND).is_ok());
    }
    assert!(t.len() <= 64);
    // A spender that keeps spending is still limited while idle callers come and go.
    assert!(ask(&t, "spender", 2 * SECOND).is_ok());
    assert!(ask(&t, "spender", 2 * SECOND).is_err());
}

#[test]
fn a_full_shard_forgets_full_budgets_then_the_nearest_to_full() {
    let mut map: HashMap<u32, u64> = (0..8).map(|k| (k, u64::from(k) * 10)).collect();
    // At 35, keys 0..=3 have full budgets (their time is past): they go, the others stay.
    make_room(&mut map, 35, 8);
    let mut kept: Vec<u32> = map.keys().copied().collect();
    kept.sort_unstable();
    assert_eq!(kept, [4, 5, 6, 7]);
    // All still spending: the quarter nearest a full budget goes, down to three quarters.
    let mut map: HashMap<u32, u64> = (0..8).map(|k| (k, 100 + u64::from(k))).collect();
    make_room(&mut map, 0, 8);
    let mut kept: Vec<u32> = map.keys().copied().collect();
    kept.sort_unstable();
    assert_eq!(kept, [2, 3, 4, 5, 6, 7]);
    let mut one: HashMap<u32, u64> = [(1, 100)].into();
    make_room(&mut one, 0, 1);
    assert!(one.is_empty(), "a shard of one makes room for one");
}

#[test]
fn keys_spread_over_the_shards() {
    // Neighbouring addresses and similar names, as they come, land all over.
    let mut counts = [0u32; 32];
    for i in 0..16_000u32 {
        counts[Spread::shard(&IpAddr::from((0x0a00_0000 + i).to_be_bytes()), 32)] += 1;
    }
    for i in 0..16_000 {
        counts[Spread::shard(format!("user{i}").as_str(), 32)] += 1;
    }
    assert!(counts.iter().all(|&n| (700..=1300).contains(&n)), "{counts:?}");
    let mut ten = [0u32; 10];
    for i in 0..10_000u32 {
        ten[Spread::shard(&i, 10)] += 1;
    }
    assert!(ten.iter().all(|&n| (700..=1300).contains(&n)), "{ten:?}");
}

#[test]
fn under_contention_exactly_the_burst_passes() {
    let t: Arc<Table<Box<str>>> = Arc::new(table("100/h", 1000));
    let passed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (t, passed) = (t.clone(), passed.clone());
            std::thread::spawn(move || {
                for _ in 0..1000 {
                    if ask(&t, "shared", 5).is_ok() {
                        passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(passed.load(std::sync::atomic::Ordering::Relaxed), 100);
}

fn extensions(peer: &str, identity: Option<&str>) -> http::Extensions {
    let mut e = http::Extensions::new();
    e.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 40000)));
    if let Some(id) = identity {
        e.insert(crate::auth::Identity(id.to_owned()));
    }
    e
}

fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    pairs.iter().map(|(k, v)| (http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap())).collect()
}

#[test]
fn anonymous_callers_are_keyed_by_their_client_address() {
    let lo = Cidr::loopback();
    let key = |peer: &str, pairs: &[(&str, &str)]| client_address(&extensions(peer, None), &headers(pairs), &lo).to_string();
    assert_eq!(key("192.0.2.1", &[]), "192.0.2.1");
    assert_eq!(key("192.0.2.1", &[("x-forwarded-for", "203.0.113.9")]), "192.0.2.1", "an untrusted peer cannot choose its budget");
    assert_eq!(key("127.0.0.1", &[("x-forwarded-for", "203.0.113.9")]), "203.0.113.9", "behind a trusted proxy: the real client");
    assert_eq!(key("127.0.0.1", &[("forwarded", "for=203.0.113.9")]), "203.0.113.9");
    assert_eq!(key("127.0.0.1", &[]), "127.0.0.1");
    assert_eq!(key("::ffff:192.0.2.1", &[]), "192.0.2.1", "IPv4-mapped is IPv4");
    assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", &[]), "2001:db8:1:2::", "IPv6 by /64");
    assert_eq!(key("2001:db8:1:2::1", &[]), key("2001:db8:1:2:ffff::9", &[]));
    assert_ne!(key("2001:db8:1:2::1", &[]), key("2001:db8:1:3::1", &[]));
    assert_eq!(client_address(&http::Extensions::new(), &headers(&[]), &lo), IpAddr::V6(Ipv6Addr::UNSPECIFIED), "no peer: one shared budget");
}

fn limiter(identified: Option<&str>, anonymous: Option<&str>, trusted: &[Cidr]) -> (Limiter, crate::metrics::Metrics) {
    let metrics = crate::metrics::Metrics::new();
    let settings = Settings { identified: identified.map(rate), anonymous: anonymous.map(rate), ..Settings::default() };
    (Limiter::with(&settings, trusted, &metrics), metrics)
}

#[test]
fn identities_and_addresses_have_budgets_of_their_own() {
    let (limiter, _) = limiter(Some("2/h"), Some("1/h"), &Cidr::loopback());
    let shared = limiter.0.as_ref().unwrap();
    let check = |peer: &str, identity: Option<&str>, pairs: &[(&str, &str)]| shared.check(&extensions(peer, identity), &headers(pairs));
    assert!(check("192.0.2.1", Some("alice"), &[]).is_ok() && check("192.0.2.1", Some("alice"), &[]).is_ok());
    let refused = check("192.0.2.1", Some("alice"), &[]).unwrap_err();
    assert!(refused.identified && refused.rate.requests == 2);
    // Bob, from the same address, and the anonymous budget of that address, are untouched.
    assert!(check("192.0.2.1", Some("bob"), &[]).is_ok());
    assert!(check("192.0.2.1", None, &[]).is_ok());
    let refused = check("192.0.2.1", None, &[]).unwrap_err();
    assert!(!refused.identified && refused.rate.requests == 1);
    // Another address; two clients behind one trusted proxy; a client forging a header.
    assert!(check("192.0.2.2", None, &[]).is_ok());
    assert!(check("127.0.0.1", None, &[("x-forwarded-for", "203.0.113.1")]).is_ok());
    assert!(check("127.0.0.1", None, &[("x-forwarded-for", "203.0.113.2")]).is_ok());
    assert!(check("127.0.0.1", None, &[("x-forwarded-for", "203.0.113.1")]).is_err());
    assert!(check("192.0.2.2", None, &[("x-forwarded-for", "203.0.113.3")]).is_err(), "an untrusted peer's header is ignored");
    // Only anonymous callers limited: identities pass; and the other way round.
    let (anonymous_only, _) = self::limiter(None, Some("1/h"), &[]);
    let shared = anonymous_only.0.as_ref().unwrap();
    for _ in 0..10 {
        assert!(shared.check(&extensions("192.0.2.1", Some("alice")), &headers(&[])).is_ok());
    }
    let (identified_only, _) = self::limiter(Some("1/h"), None, &[]);
    let shared = identified_only.0.as_ref().unwrap();
    for _ in 0..10 {
        assert!(shared.check(&extensions("192.0.2.1", None), &headers(&[])).is_ok());
    }
    assert!(!self::limiter(None, None, &[]).0.is_on());
}

async fn call(app: &axum::Router, peer: &str, identity: Option<&str>) -> (StatusCode, Option<String>, String) {
    use tower::ServiceExt;
    let mut request = Request::get("/op").body(axum::body::Body::empty()).unwrap();
    *request.extensions_mut() = extensions(peer, identity);
    let response = app.clone().oneshot(request).await.unwrap();
    let retry = response.headers().get(http::header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 10_000).await.unwrap();
    (status, retry, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn refusals_are_429_with_retry_after_in_the_operations_format() {
    let (limiter, metrics) = limiter(Some("2/m"), Some("1/h"), &[]);
    let handler = || crate::endpoint::endpoint(|_: Arc<()>, _: Request| async { Response::new("ok".into()) }, &Arc::new(()));
    let soda = axum::Router::new().route("/op", axum::routing::get_service(guard(&limiter, ErrorFormat::SodaText, handler())));
    let dali = axum::Router::new().route("/op", axum::routing::get_service(guard(&limiter, ErrorFormat::DaliVotable, handler())));
    assert_eq!(call(&soda, "192.0.2.1", Some("alice")).await.0, StatusCode::OK);
    assert_eq!(call(&dali, "192.0.2.1", Some("alice")).await.0, StatusCode::OK, "one budget across operations");
    let (status, retry, body) = call(&soda, "192.0.2.1", Some("alice")).await;
    assert_eq!((status, retry.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("30")));
    assert_eq!(body, "UsageError: too many requests: this identity may make 2 per minute, 2 at once; retry after 30 s\n");
    let (status, _, body) = call(&dali, "192.0.2.1", Some("alice")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains(r#"<INFO name="QUERY_STATUS" value="ERROR">UsageError: too many requests"#), "{body}");
    assert_eq!(call(&soda, "192.0.2.1", Some("bob")).await.0, StatusCode::OK);
    assert_eq!(call(&soda, "192.0.2.9", None).await.0, StatusCode::OK);
    let (status, retry, body) = call(&soda, "192.0.2.9", None).await;
    assert_eq!((status, retry.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("3600")));
    assert!(body.starts_with("UsageError: too many requests: this client address may make 1 per hour"), "{body}");
    let text = metrics.encode();
    assert!(text.contains("http_requests_limited_total{caller=\"identified\"} 2\n"), "{text}");
    assert!(text.contains("http_requests_limited_total{caller=\"anonymous\"} 1\n"), "{text}");
    // Off: nothing counted, nothing registered.
    let metrics = crate::metrics::Metrics::new();
    let off = Limiter::with(&Settings::default(), &[], &metrics);
    let open = axum::Router::new().route("/op", axum::routing::get_service(guard(&off, ErrorFormat::SodaText, handler())));
    for _ in 0..5 {
        assert_eq!(call(&open, "192.0.2.1", None).await.0, StatusCode::OK);
    }
    assert!(!metrics.encode().contains("limited"));
}

const PROGRAM: Program = Program { name: "test-server", version: "1", about: "A test API", base_path: "", uws: false, auth: false, sync: false, service_flags: &[] };

fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, Stop> {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::parse(&PROGRAM, args.iter().map(|s| s.to_string()), |k| env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()))
}

#[test]
fn flags_and_environment() {
    let config = parse(&[], &[]).unwrap();
    assert_eq!(config.rate_limits, Settings::default());
    assert!(!config.rate_limits.enabled() && !Limiter::new(&config).is_on(), "off by default");
    // --rate-limit is also the anonymous budget, unless that is given (or off).
    let both = parse(&["--rate-limit", "600/m"], &[]).unwrap().rate_limits;
    assert_eq!((both.identified, both.anonymous), (Some(rate("600/m")), Some(rate("600/m"))));
    let split = parse(&["--rate-limit=600/m", "--anonymous-rate-limit", "60/m,burst=5"], &[("RATE_LIMIT", "1/s")]).unwrap().rate_limits;
    assert_eq!((split.identified, split.anonymous), (Some(rate("600/m")), Some(rate("60/m,burst=5"))));
    let exempt = parse(&[], &[("RATE_LIMIT", "100/h"), ("ANONYMOUS_RATE_LIMIT", "off"), ("RATE_LIMIT_KEYS", "5000")]).unwrap().rate_limits;
    assert_eq!(exempt, Settings { identified: Some(rate("100/h")), anonymous: None, keys: 5000, auth_failures: Some(DEFAULT_AUTH_FAILURES) });
    let anonymous = parse(&["--anonymous-rate-limit", "10/s"], &[]).unwrap().rate_limits;
    assert_eq!((anonymous.identified, anonymous.anonymous), (None, Some(rate("10/s"))));
    for (args, env, says) in [
        (&["--rate-limit", "lots"][..], &[][..], "--rate-limit: `lots` is not a rate"),
        (&[], &[("ANONYMOUS_RATE_LIMIT", "5/fortnight")], "ANONYMOUS_RATE_LIMIT: `5/fortnight` is not a rate"),
        (&["--rate-limit-keys", "0"], &[], "--rate-limit-keys: `0` is not a number of keys"),
    ] {
        let Err(Stop::Usage(message)) = parse(args, env) else { panic!("{args:?} {env:?} accepted") };
        assert!(message.contains(says), "{message}");
    }
    let Err(Stop::Info(help)) = parse(&["--help"], &[]) else { panic!("--help") };
    for shown in ["--rate-limit <N/PERIOD>", "[env: RATE_LIMIT]", "--anonymous-rate-limit <N/PERIOD|off>", "[env: ANONYMOUS_RATE_LIMIT]", "--rate-limit-keys <N>", "[env: RATE_LIMIT_KEYS]"] {
        assert!(help.contains(shown), "{shown} missing: {help}");
    }
    // Failed authentications are limited by default, by servers that authenticate; others have
    // no such flag, and leave its variable alone.
    assert!(!help.contains("--auth-failure-limit"), "{help}");
    assert!(parse(&["--auth-failure-limit", "off"], &[]).is_err());
    assert_eq!(parse(&[], &[("AUTH_FAILURE_LIMIT", "nonsense")]).unwrap().rate_limits.auth_failures, Some(DEFAULT_AUTH_FAILURES));
    let auth = Program { auth: true, ..PROGRAM };
    let parse_auth = |args: &[&str], env: &[(&str, &str)]| {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::parse(&auth, args.iter().map(|s| s.to_string()), |k| env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()))
    };
    assert_eq!(parse_auth(&[], &[]).unwrap().rate_limits.auth_failures, Some(rate("20/m")));
    assert_eq!(DEFAULT_AUTH_FAILURES.to_string(), "20 per minute, 20 at once");
    assert_eq!(parse_auth(&["--auth-failure-limit", "off"], &[]).unwrap().rate_limits.auth_failures, None);
    assert_eq!(parse_auth(&[], &[("AUTH_FAILURE_LIMIT", "5/h,burst=2")]).unwrap().rate_limits.auth_failures, Some(rate("5/h,burst=2")));
    let Err(Stop::Usage(message)) = parse_auth(&[], &[("AUTH_FAILURE_LIMIT", "often")]) else { panic!("a wrong limit is accepted") };
    assert!(message.contains("AUTH_FAILURE_LIMIT: `often` is not a rate"), "{message}");
    let Err(Stop::Info(help)) = parse_auth(&["--help"], &[]) else { panic!("--help") };
    assert!(help.contains("--auth-failure-limit <N/PERIOD|off>") && help.contains("[env: AUTH_FAILURE_LIMIT]"), "{help}");
}

#[test]
fn peeking_at_a_budget_spends_nothing() {
    let t = table("2/s", 10);
    assert_eq!(t.peek("alice", 0), Ok(()));
    assert_eq!(t.len(), 0, "a caller only looked at is not tracked");
    assert!(ask(&t, "alice", 0).is_ok() && ask(&t, "alice", 0).is_ok());
    for _ in 0..10 {
        assert_eq!(t.peek("alice", 0), Err(Duration::from_nanos(SECOND / 2)));
    }
    assert_eq!(t.peek("alice", SECOND / 2), Ok(()));
    assert!(ask(&t, "alice", SECOND / 2).is_ok(), "what the peek said");
    assert!(t.peek("alice", SECOND / 2).is_err());
}

/// A request from `peer`, with these headers (an `Authorization` among them, say).
fn from(peer: &str, pairs: &[(&str, &str)]) -> Request {
    let mut request = Request::get("/op").body(axum::body::Body::empty()).unwrap();
    *request.extensions_mut() = extensions(peer, None);
    *request.headers_mut() = headers(pairs);
    request
}

#[tokio::test]
async fn failed_authentications_spend_a_budget_of_the_client_address() {
    let metrics = crate::metrics::Metrics::new();
    let failures = Failures::with(Some(rate("3/m")), 100, &Cidr::loopback(), &metrics);
    let here = from("192.0.2.1", &[]);
    for _ in 0..3 {
        assert!(failures.spent(&here, ErrorFormat::SodaText).is_none());
        failures.charge(&here);
    }
    let spent = failures.spent(&here, ErrorFormat::SodaText).expect("three failures spend it");
    assert_eq!(spent.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(spent.headers().get(http::header::RETRY_AFTER).unwrap(), "20");
    let body = axum::body::to_bytes(spent.into_body(), 10_000).await.unwrap();
    assert_eq!(body, "UsageError: too many failed authentications: this client address may fail 3 per minute, 3 at once; its credentials are not checked for 20 s\n");
    let votable = failures.spent(&here, ErrorFormat::DaliVotable).unwrap();
    let body = axum::body::to_bytes(votable.into_body(), 10_000).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains(r#"value="ERROR">UsageError: too many failed authentications"#), "{body:?}");
    // Other addresses, and clients a trusted proxy tells apart, have budgets of their own.
    assert!(failures.spent(&from("192.0.2.2", &[]), ErrorFormat::SodaText).is_none());
    let behind = from("127.0.0.1", &[("x-forwarded-for", "203.0.113.9")]);
    failures.charge(&behind);
    assert!(failures.spent(&behind, ErrorFormat::SodaText).is_none());
    assert!(failures.spent(&from("127.0.0.1", &[("x-forwarded-for", "192.0.2.1")]), ErrorFormat::SodaText).is_some());
    assert!(metrics.encode().contains("http_auth_failures_limited_total 3\n"), "{}", metrics.encode());
    // Off: nothing is ever spent.
    let off = Failures::off();
    for _ in 0..100 {
        off.charge(&here);
    }
    assert!(off.spent(&here, ErrorFormat::SodaText).is_none());
}

/// Knows one bearer token, `right`; says why it refuses the others.
struct OneToken;

impl crate::auth::Authenticator for OneToken {
    fn authenticate<'a>(&'a self, credential: &'a crate::auth::Credential) -> Pin<Box<dyn Future<Output = crate::auth::Outcome> + Send + 'a>> {
        let outcome = match credential {
            crate::auth::Credential::Bearer(t) if t == "right" => crate::auth::Outcome::Authenticated("alice".into()),
            crate::auth::Credential::Bearer(_) => crate::auth::Outcome::Rejected("unknown token".into()),
            _ => crate::auth::Outcome::Invalid,
        };
        Box::pin(async move { outcome })
    }
}

#[tokio::test]
async fn a_spent_address_is_refused_before_its_credentials_are_checked() {
    use crate::auth::{Gate, Modality, Policy, Scheme, SchemeKind};
    use tower::ServiceExt;
    const SCHEMES: &[Scheme] = &[Scheme { kind: SchemeKind::Bearer, challenge: "Bearer", parameters: &[] }, Scheme { kind: SchemeKind::Basic, challenge: "Basic", parameters: &[] }];
    let metrics = crate::metrics::Metrics::new();
    let policy = Policy {
        authenticator: Arc::new(OneToken),
        client_certificate_header: None,
        refuse_sync_get: false,
        oidc_issuers: Vec::new(),
        auth_failures: Failures::with(Some(rate("2/h")), 100, &[], &metrics),
    };
    let gate = Arc::new(Gate::new(policy, Modality::Optional, SCHEMES, ErrorFormat::SodaText, false));
    let route = crate::auth::guard(&gate, tower::service_fn(|_: Request| async { Ok::<_, Infallible>(Response::new("served".into())) }));
    let call = |peer: &str, authorization: Option<&str>| {
        let pairs: Vec<(&str, &str)> = authorization.map(|a| ("authorization", a)).into_iter().collect();
        route.clone().oneshot(from(peer, &pairs))
    };
    // A wrong token, and a header the route cannot read: both spend the address's budget.
    assert_eq!(call("192.0.2.1", Some("Bearer wrong")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(call("192.0.2.1", Some("Negotiate x")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // Spent: even the right token is not checked; the answer says nothing of it.
    let refused = call("192.0.2.1", Some("Bearer right")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().get("x-vo-authenticated").is_none());
    assert_eq!(refused.headers().get(http::header::RETRY_AFTER).unwrap(), "1800");
    assert_eq!(call("192.0.2.1", Some("Bearer wrong")).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Anonymous requests from it are served; other addresses are not affected.
    assert_eq!(call("192.0.2.1", None).await.unwrap().status(), StatusCode::OK);
    let served = call("192.0.2.2", Some("Bearer right")).await.unwrap();
    assert_eq!((served.status(), served.headers().get("x-vo-authenticated").unwrap().to_str().unwrap()), (StatusCode::OK, "alice"));
    // Right credentials spend nothing.
    for _ in 0..5 {
        assert_eq!(call("192.0.2.3", Some("Bearer right")).await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(call("192.0.2.3", Some("Bearer wrong")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert!(metrics.encode().contains("http_auth_failures_limited_total 2\n"), "{}", metrics.encode());
}
