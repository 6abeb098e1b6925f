//! OpenID Connect bearer tokens through the real SODA server, against issuers of the test's own
//! (`tests/oidc/issuer.py`, a Python process on 127.0.0.1 with its own RSA, P-256 and Ed25519
//! keys, serving its discovery document and key set and signing tokens on order). Statuses, the
//! challenges with RFC 6750's `invalid_token`, `X-VO-Authenticated`, and how often the server
//! fetches the issuer's keys, counted at the issuer.

use ivoagen_e2e::{Response, Server, built, http, python, root};
use ivoagen_runtime::codegen::serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// An issuer process: its URL, and the address of the port that takes the test's orders.
struct Issuer {
    child: Child,
    url: String,
    control: String,
}

impl Issuer {
    fn start() -> Issuer {
        let mut child = Command::new(python()).arg(root().join("tests/oidc/issuer.py")).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("the issuer starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped")).read_line(&mut line).expect("the issuer prints its URLs");
        let mut words = line.split_whitespace();
        let (Some(url), Some(control)) = (words.next(), words.next()) else {
            let _ = child.kill();
            panic!("the issuer printed `{line}`");
        };
        Issuer { url: url.to_owned(), control: control.trim_start_matches("http://").to_owned(), child }
    }

    fn order(&self, path: &str, body: Value) -> Response {
        let response = http(&self.control, "POST", path, &[("content-type", "application/json")], body.to_string().as_bytes());
        assert_eq!(response.status, 200, "{path} {body}: {}", response.text());
        response
    }

    /// A token: `claims` (with `aud: soda` unless given) signed as `order` says (see issuer.py).
    fn mint(&self, claims: Value, order: Value) -> String {
        let mut claims = claims;
        if claims.get("aud").is_none() {
            claims["aud"] = json!("soda");
        }
        let mut order = order;
        order["claims"] = claims;
        self.order("/mint", order).text()
    }

    /// A token of `sub` signed with the key `kid` using `alg`.
    fn token(&self, sub: &str, alg: &str, kid: &str) -> String {
        self.mint(json!({"sub": sub}), json!({"alg": alg, "kid": kid}))
    }

    /// How many times the discovery document and the key set were asked for.
    fn counts(&self) -> (u64, u64) {
        let counts: Value = ivoagen_runtime::codegen::serde_json::from_slice(&http(&self.control, "GET", "/counts", &[], b"").body).expect("JSON counts");
        (counts["discovery"].as_u64().unwrap(), counts["jwks"].as_u64().unwrap())
    }

    fn challenge(&self) -> String {
        format!("ivoa_bearer standard_id=\"ivo://ivoa.net/sso#OAuth\", discovery_url=\"{}/.well-known/openid-configuration\"", self.url)
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// The SODA server with its sample data and `args`.
fn soda(name: &str, args: &[&str]) -> Server {
    soda_with(name, |_| {}, args)
}

/// The SODA server with its sample data, and what `prepare` adds to its data directory, and `args`.
fn soda_with(name: &str, prepare: impl Fn(&std::path::Path), args: &[&str]) -> Server {
    let dir = root().join("target/e2e/oidc").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    prepare(&data);
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "tok-carol carol\n").unwrap();
    // These tests send dozens of refused tokens from one address on purpose: its budget of failed
    // authentications (tested in quotas.rs) would answer them 429 before they are read.
    let mut all = vec!["--data-dir", data.to_str().unwrap(), "--auth-tokens", tokens.to_str().unwrap(), "--auth-failure-limit", "off"];
    all.extend_from_slice(args);
    Server::start(&built("soda-cutout-server"), &all)
}

const SYNC: &str = "/soda/sync?ID=sample-image&CIRCLE=10.68+41.27+0.01";
const BASIC: &str = "Basic realm=\"SODA cutout service\"";

fn challenges(response: &Response) -> Vec<String> {
    response.headers.iter().filter(|(k, _)| k == "www-authenticate").map(|(_, v)| v.clone()).collect()
}

fn get(server: &Server, method: &str, token: &str) -> Response {
    http(&server.addr, method, SYNC, &[("authorization", &format!("Bearer {token}"))], b"")
}

/// Asserts that `token` is served, as `identity`, with no challenge.
fn served(server: &Server, token: &str, identity: &str, what: &str) {
    for method in ["GET", "HEAD"] {
        let response = get(server, method, token);
        assert_eq!(response.status, 200, "{what} ({method}): {}", response.text());
        assert_eq!(response.header("x-vo-authenticated"), Some(identity), "{what} ({method})");
        assert!(challenges(&response).is_empty(), "{what} ({method}): {:?}", challenges(&response));
        if method == "GET" {
            assert!(response.body.starts_with(b"SIMPLE  ="), "{what}: not FITS");
        }
    }
}

/// Asserts that `token` is refused with 401, the route's challenges with `invalid_token` on the
/// plain Bearer one, its description saying `says`.
fn refused(server: &Server, token: &str, issuers: &[String], says: &str, what: &str) {
    for method in ["GET", "HEAD"] {
        let response = get(server, method, token);
        assert_eq!(response.status, 401, "{what} ({method}): {}", response.text());
        assert_eq!(response.header("x-vo-authenticated"), None, "{what} ({method})");
        let all = challenges(&response);
        let prefix = "Bearer error=\"invalid_token\", error_description=\"";
        assert!(all[0].starts_with(prefix) && all[0].contains(says) && all[0].ends_with('"'), "{what} ({method}): {}", all[0]);
        assert_eq!(all[1..].iter().map(String::as_str).collect::<Vec<_>>(), issuers.iter().map(String::as_str).chain([BASIC]).collect::<Vec<_>>(), "{what} ({method})");
        if method == "GET" {
            assert!(response.text().starts_with("AuthenticationError: the bearer token is not valid: "), "{what}: {}", response.text());
            assert!(response.text().contains(says), "{what}: {}", response.text());
        }
    }
}

#[test]
fn valid_tokens_are_served_and_every_other_is_refused_saying_why() {
    let (a, b, c) = (Issuer::start(), Issuer::start(), Issuer::start());
    let server = soda("tokens", &["--oidc-issuer", &a.url, "--oidc-issuer", &b.url, "--oidc-audience", "soda", "--oidc-refetch-interval", "2"]);
    let announced = [a.challenge(), b.challenge()];
    let all: Vec<&str> = ["Bearer"].into_iter().chain(announced.iter().map(String::as_str)).chain([BASIC]).collect();
    // Anonymous: served, with every challenge, the issuers announced beside plain Bearer.
    for (method, path) in [("GET", SYNC), ("HEAD", SYNC), ("GET", "/soda/capabilities"), ("HEAD", "/soda/capabilities"), ("GET", "/soda/async")] {
        let response = http(&server.addr, method, path, &[], b"");
        assert_eq!(response.status, 200, "{method} {path}");
        assert_eq!(challenges(&response), all, "{method} {path}");
    }

    // Valid tokens of both trusted issuers, each key type; the token file still works beside them.
    served(&server, &a.token("alice", "RS256", "rsa-1"), "alice", "RS256");
    served(&server, &a.token("alice", "PS256", "rsa-1"), "alice", "PS256");
    served(&server, &a.token("alice", "ES256", "ec-1"), "alice", "ES256");
    served(&server, &a.token("alice", "EdDSA", "ed-1"), "alice", "EdDSA");
    served(&server, &b.token("bob", "ES256", "ec-1"), "bob", "the second issuer");
    served(&server, &a.mint(json!({"sub": "dave", "aud": ["other", "soda"]}), json!({})), "dave", "an audience among several");
    served(&server, "tok-carol", "carol", "the token file");

    // Every refusal: 401 with the challenges, invalid_token, and why.
    let valid = |claims: Value| a.mint(claims, json!({}));
    a.order("/key", json!({"kid": "ghost", "type": "RSA", "publish": false}));
    let cases = [
        (a.mint(json!({"sub": "mallory"}), json!({"alg": "none"})), "alg `none`", "alg none"),
        (a.mint(json!({"sub": "mallory"}), json!({"alg": "HS256"})), "HMAC-signed tokens are not accepted", "HS256 keyed with the issuer's public key"),
        (a.mint(json!({"sub": "mallory"}), json!({"alg": "HS512"})), "HMAC-signed tokens are not accepted", "HS512 keyed with the issuer's public key"),
        (a.mint(json!({"sub": "alice"}), json!({"tamper": {"sub": "mallory"}})), "signature does not verify", "tampered payload"),
        (a.mint(json!({"sub": "mallory"}), json!({"kid": "rsa-1", "sign_with": "ghost"})), "signature does not verify", "signed by another key under a published key ID"),
        (a.mint(json!({"sub": "mallory"}), json!({"kid": "ghost"})), "publishes no key `ghost`", "an unpublished key"),
        (a.mint(json!({"sub": "mallory"}), json!({"alg": "RS256", "kid": "ec-1", "sign_with": "rsa-1"})), "the key `ec-1` is a P-256 key", "a key of the wrong type"),
        (c.token("mallory", "RS256", "rsa-1"), &format!("the issuer `{}` is not trusted", c.url), "a third issuer"),
        (c.mint(json!({"sub": "mallory", "iss": a.url}), json!({"kid": "rsa-1"})), "signature does not verify", "a third issuer's key under a trusted issuer's name"),
        (valid(json!({"sub": "alice", "iss": format!("{}/", a.url)})), "is not trusted", "iss not exactly the issuer"),
        (valid(json!({"sub": "alice", "aud": "other"})), "not for this service", "another audience"),
        (valid(json!({"sub": "alice", "exp": now() - 120})), "expired", "expired"),
        (valid(json!({"sub": "alice", "nbf": now() + 600})), "not valid yet", "not yet valid"),
        (valid(json!({"sub": "alice", "exp": null})), "no `exp` claim", "no exp"),
        (valid(json!({"sub": null})), "no `sub` claim", "no identity"),
        ("not-a-jwt".to_owned(), "not a JWT", "not a JWT"),
    ];
    for (token, says, what) in &cases {
        refused(&server, token, &announced, says, what);
    }
    assert_eq!(c.counts(), (0, 0), "the untrusted issuer is never asked");

    // The identity owns its UWS jobs: another identity does not see them.
    let form = ("content-type", "application/x-www-form-urlencoded");
    let alice = format!("Bearer {}", a.token("alice", "ES256", "ec-1"));
    let bob = format!("Bearer {}", b.token("bob", "RS256", "rsa-1"));
    let created = http(&server.addr, "POST", "/soda/async", &[("authorization", &alice), form], b"ID=sample-image&CIRCLE=10.68+41.27+0.01");
    assert_eq!((created.status, created.header("x-vo-authenticated")), (303, Some("alice")), "{}", created.text());
    let job = created.header("location").unwrap().trim_start_matches(&format!("http://{}", server.addr)).to_owned();
    let owned = http(&server.addr, "GET", &job, &[("authorization", &alice)], b"");
    assert!(owned.text().contains("<uws:ownerId>alice</uws:ownerId>"), "{}", owned.text());
    assert_eq!(http(&server.addr, "GET", &job, &[("authorization", &bob)], b"").status, 404);

    // pyvo: an AuthSession carrying the token runs a sync cutout as its identity.
    let out = Command::new(python())
        .arg(root().join("tests/oidc/pyvo_bearer.py"))
        .arg(format!("http://{}/soda", server.addr))
        .arg(a.token("erin", "RS256", "rsa-1"))
        .arg("erin")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pyvo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("sync cutout as erin") && stdout.contains("forged token refused: 401"), "{stdout}");
}

/// pyvo runs the SODA scenario with bearer tokens whose groups claim decides who may have a
/// proprietary dataset (`tests/oidc/pyvo_rights.py`): sync, DataLink and its descriptor, async.
#[test]
fn pyvo_runs_the_soda_scenario_with_a_bearer_token_on_proprietary_data() {
    let a = Issuer::start();
    let proprietary = |data: &std::path::Path| {
        soda_cutout_server::service::sample::write_image(&data.join("deep-field.fits"), 256, 10.68, 41.27, 1.0 / 3600.0).unwrap();
        std::fs::write(data.join("proprietary.txt"), "deep-field survey-team\n").unwrap();
    };
    let server = soda_with("rights", proprietary, &["--oidc-issuer", &a.url, "--oidc-audience", "soda"]);
    let member = a.mint(json!({"sub": "alice", "groups": ["staff", "survey-team"]}), json!({"alg": "ES256", "kid": "ec-1"}));
    let other = a.mint(json!({"sub": "bob", "groups": ["staff"]}), json!({"alg": "RS256", "kid": "rsa-1"}));
    let out = Command::new(python())
        .arg(root().join("tests/oidc/pyvo_rights.py"))
        .args([&format!("http://{}/soda", server.addr), "deep-field", &member, "alice", &other, "bob"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pyvo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for step in ["member: sync cutout as alice", "member: datalink #this and a cutout through the SODA descriptor", "COMPLETED, its result is the sync cutout", "other: sync refused, 403 as bob", "other: datalink fault row: DefaultFault: AuthorizationError", "other: async job ERROR: AuthorizationError", "anonymous: sync refused, 401 with ivoa_bearer"] {
        assert!(stdout.contains(step), "`{step}` not done:\n{stdout}");
    }
}

#[test]
fn rotated_keys_are_fetched_once_a_flood_of_unknown_ones_is_rate_limited_and_the_keys_outlive_the_issuer() {
    let a = Issuer::start();
    let server = soda("rotation", &["--oidc-issuer", &a.url, "--oidc-refetch-interval", "2"]);
    let announced = [a.challenge()];
    let first = a.token("alice", "RS256", "rsa-1");
    served(&server, &first, "alice", "before rotation");
    assert_eq!(a.counts(), (1, 1), "the discovery document and the key set, fetched once at start");

    // The issuer rotates: its new key is accepted after one fetch of the key set.
    a.order("/key", json!({"kid": "rsa-2", "type": "RSA"}));
    std::thread::sleep(Duration::from_millis(2100));
    let since = Instant::now();
    served(&server, &a.token("bob", "RS256", "rsa-2"), "bob", "the new key");
    assert_eq!(a.counts(), (1, 2), "one fetch of the key set for the new key");

    // Unknown key IDs, 40 in about 5 s: no more fetches than one per interval since the last.
    a.order("/key", json!({"kid": "ghost", "type": "EC", "publish": false}));
    let flood: Vec<String> = (0..40).map(|i| a.mint(json!({"sub": "eve"}), json!({"alg": "ES256", "kid": format!("ghost-{i}"), "sign_with": "ghost"}))).collect();
    for (i, token) in flood.iter().enumerate() {
        let response = get(&server, "GET", token);
        assert_eq!(response.status, 401, "{i}");
        assert!(challenges(&response)[0].contains(&format!("publishes no key `ghost-{i}`")), "{:?}", challenges(&response));
        std::thread::sleep(Duration::from_millis(120));
    }
    let elapsed = since.elapsed();
    let fetched = a.counts().1 - 2;
    let allowed = (elapsed.as_secs_f64() / 2.0).floor() as u64;
    eprintln!("40 unknown key IDs in {:.2} s since the last fetch: {fetched} fetches of the key set (at most {allowed} allowed)", elapsed.as_secs_f64());
    assert!(fetched <= allowed, "{fetched} fetches in {elapsed:?} at one per 2 s");
    assert!(fetched >= 1, "unknown key IDs never fetch the keys again");

    // The issuer goes down: tokens under the keys held are still accepted, new or cached.
    a.order("/down", json!({}));
    assert!(std::net::TcpStream::connect(a.url.trim_start_matches("http://")).is_err(), "the issuer still listens");
    served(&server, &first, "alice", "a cached token, issuer down");
    served(&server, &a.token("carol", "ES256", "ec-1"), "carol", "a new token, issuer down");
    std::thread::sleep(Duration::from_millis(2100));
    refused(&server, &flood[0], &announced, "publishes no key `ghost-0`", "an unknown key ID, issuer down");
    served(&server, &a.token("dave", "EdDSA", "ed-1"), "dave", "after a failed fetch, issuer down");
    a.order("/up", json!({}));

    // A key withdrawn: once the keys are fetched again, its tokens, even cached, are refused.
    a.order("/withdraw", json!({"kid": "rsa-1"}));
    std::thread::sleep(Duration::from_millis(2100));
    refused(&server, &flood[1], &announced, "publishes no key `ghost-1`", "an unknown key ID, issuer back");
    refused(&server, &first, &announced, "publishes no key `rsa-1`", "a cached token of a withdrawn key");
    served(&server, &a.token("bob", "RS256", "rsa-2"), "bob", "the key kept");
}

#[test]
fn an_issuer_unreachable_at_start_is_tried_again() {
    let a = Issuer::start();
    a.order("/down", json!({}));
    let server = soda("late", &["--oidc-issuer", &a.url, "--oidc-refetch-interval", "1"]);
    let token = a.token("alice", "RS256", "rsa-1");
    refused(&server, &token, &[a.challenge()], "could not be fetched yet", "issuer down at start");
    a.order("/up", json!({}));
    let began = Instant::now();
    loop {
        let response = get(&server, "GET", &token);
        if response.status == 200 {
            assert_eq!(response.header("x-vo-authenticated"), Some("alice"));
            break;
        }
        assert!(began.elapsed() < Duration::from_secs(20), "the issuer was not tried again: {:?}", challenges(&response));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn issuers_must_be_urls() {
    let out = Command::new(built("soda-cutout-server")).args(["--oidc-issuer", "accounts.example.org"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an issuer URL"), "{}", String::from_utf8_lossy(&out.stderr));
}
