//! AuthVO through real servers: the `golden-auth` feature server (one operation per modality,
//! every kind of scheme) and the SODA server's UWS jobs with two identities. Statuses, every
//! challenge with its parameters, and `X-VO-Authenticated`, on GET and HEAD, asserted exactly.

use ivoagen_e2e::{Response, Server, built, http, root};
use std::path::PathBuf;

fn golden() -> PathBuf {
    built("golden-auth")
}

/// A token file: one identity per scheme, and a forbidden one.
fn tokens(name: &str) -> PathBuf {
    let dir = root().join("target/e2e/auth").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tokens");
    std::fs::write(
        &path,
        "# development credentials\n\
         tok-alice alice\n\
         basic:bob:secret bob\n\
         sess-carol carol\n\
         cert:CN=Dave,O=Observatory dave\n\
         tok-eve eve\n\
         forbidden eve\n",
    )
    .unwrap();
    path
}

fn start(name: &str, extra: &[&str]) -> Server {
    let tokens = tokens(name);
    let mut args = vec!["--auth-tokens", tokens.to_str().unwrap(), "--client-cert-header", "X-Client-Subject"];
    args.extend_from_slice(extra);
    Server::start(&golden(), &args)
}

const BEARER: &str = "ivoa_bearer standard_id=\"ivo://ivoa.net/sso#OAuth\", discovery_url=\"https://auth.example.org/.well-known/oauth-authorization-server\"";
const BASIC: &str = "Basic realm=\"Authentication modalities\"";
const COOKIE: &str = "ivoa_cookie standard_id=\"ivo://ivoa.net/sso#tls-with-password\", access_url=\"https://auth.example.org/login\"";
const X509: &str = "ivoa_x509";

fn challenges(response: &Response) -> Vec<String> {
    response.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate")).map(|(_, v)| v.clone()).collect()
}

/// Asserts status, the exact challenges (in order) and the `X-VO-Authenticated` header.
fn check(response: &Response, status: u16, expected: &[&str], identity: Option<&str>, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.text());
    assert_eq!(challenges(response), expected, "{what}: challenges");
    assert_eq!(response.header("x-vo-authenticated"), identity, "{what}: X-VO-Authenticated");
}

#[test]
fn each_modality_and_scheme_on_get_and_head() {
    let server = start("modalities", &[]);
    let all = [BEARER, BASIC, COOKIE, X509];
    let credentials: [(&str, &str, &str); 4] = [
        ("authorization", "Bearer tok-alice", "alice"),
        ("authorization", "Basic Ym9iOnNlY3JldA==", "bob"),
        ("cookie", "archive_session=sess-carol", "carol"),
        ("x-client-subject", "CN=Dave,O=Observatory", "dave"),
    ];
    for method in ["GET", "HEAD"] {
        // none: never a challenge; anonymous works, credentials still name the caller.
        check(&http(&server.addr, method, "/open", &[], b""), 200, &[], None, "open, anonymous");
        check(&http(&server.addr, method, "/open", &[("authorization", "Bearer tok-alice")], b""), 200, &[], Some("alice"), "open, bearer");
        check(&http(&server.addr, method, "/open", &[("authorization", "Negotiate abc")], b""), 200, &[], None, "open, unreadable header");
        // optional: anonymous gets 200 with the challenges of its schemes.
        check(&http(&server.addr, method, "/optional", &[], b""), 200, &[BEARER, COOKIE], None, "optional, anonymous");
        check(&http(&server.addr, method, "/optional", &[("authorization", "Bearer tok-alice")], b""), 200, &[], Some("alice"), "optional, bearer");
        check(&http(&server.addr, method, "/optional", &[("cookie", "archive_session=sess-carol")], b""), 200, &[], Some("carol"), "optional, cookie");
        // required: anonymous gets 401 with every challenge; each scheme's credential works.
        let anonymous = http(&server.addr, method, "/required", &[], b"");
        check(&anonymous, 401, &all, None, "required, anonymous");
        if method == "GET" {
            assert!(anonymous.text().starts_with("AuthenticationError: "), "{}", anonymous.text());
        }
        for (header, value, identity) in credentials {
            check(&http(&server.addr, method, "/required", &[(header, value)], b""), 200, &[], Some(identity), &format!("required, {header}"));
        }
        // Bad credentials: 401 with the challenges; a known identity not allowed: 403.
        check(&http(&server.addr, method, "/required", &[("authorization", "Bearer wrong")], b""), 401, &all, None, "required, bad token");
        check(&http(&server.addr, method, "/required", &[("authorization", "Basic Ym9iOm5vcGU=")], b""), 401, &all, None, "required, bad password");
        check(&http(&server.addr, method, "/required", &[("authorization", "Negotiate abc")], b""), 401, &all, None, "required, unknown scheme");
        check(&http(&server.addr, method, "/optional", &[("authorization", "Bearer wrong")], b""), 401, &[BEARER, COOKIE], None, "optional, bad token");
        check(&http(&server.addr, method, "/required", &[("authorization", "Bearer tok-eve")], b""), 403, &[], Some("eve"), "required, forbidden");
    }
    // The certificate subject counts only from the configured header, which only a proxy sets.
    let tokens = tokens("no-cert-header");
    let plain = Server::start(&golden(), &["--auth-tokens", tokens.to_str().unwrap()]);
    check(&http(&plain.addr, "GET", "/required", &[("x-client-subject", "CN=Dave,O=Observatory")], b""), 401, &all, None, "certificate header not configured");
}

#[test]
fn cross_site_form_posts_with_a_cookie_are_refused() {
    let server = start("csrf", &[]);
    let host = server.addr.clone();
    let form = ("content-type", "application/x-www-form-urlencoded");
    let cookie = ("cookie", "archive_session=sess-carol");
    let cross = http(&server.addr, "POST", "/sync", &[form, cookie, ("origin", "https://evil.example")], b"ID=x");
    assert_eq!(cross.status, 403, "{}", cross.text());
    assert!(cross.text().starts_with("AuthorizationError: "), "{}", cross.text());
    let fetch = http(&server.addr, "POST", "/sync", &[form, cookie, ("sec-fetch-site", "cross-site")], b"ID=x");
    assert_eq!(fetch.status, 403);
    // Same origin, or a non-browser client, or an Authorization header: accepted.
    let same = http(&server.addr, "POST", "/sync", &[form, cookie, ("origin", &format!("http://{host}"))], b"ID=x");
    check(&same, 501, &[], Some("carol"), "same-origin form post");
    let fetch_same = http(&server.addr, "POST", "/sync", &[form, cookie, ("sec-fetch-site", "same-origin")], b"ID=x");
    assert_eq!(fetch_same.status, 501);
    let bearer = http(&server.addr, "POST", "/sync", &[form, ("authorization", "Bearer tok-alice"), ("origin", "https://evil.example")], b"ID=x");
    check(&bearer, 501, &[], Some("alice"), "cross-site post with a bearer token");
}

#[test]
fn get_on_sync_can_be_refused() {
    let server = start("refuse-get", &["--refuse-sync-get"]);
    let bearer = ("authorization", "Bearer tok-alice");
    assert_eq!(http(&server.addr, "GET", "/sync?ID=x", &[bearer], b"").status, 405);
    let post = http(&server.addr, "POST", "/sync", &[bearer, ("content-type", "application/x-www-form-urlencoded")], b"ID=x");
    assert_eq!(post.status, 501, "POST still reaches the service: {}", post.text());
    let open = start("allow-get", &[]);
    assert_eq!(http(&open.addr, "GET", "/sync?ID=x", &[bearer], b"").status, 501, "GET works by default");
}

#[test]
fn two_identities_cannot_touch_each_others_jobs() {
    let soda = built("soda-cutout-server");
    let data = root().join("target/e2e/auth/owners-data");
    let _ = std::fs::remove_dir_all(&data);
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    let tokens = tokens("owners");
    let server = Server::start(&soda, &["--data-dir", data.to_str().unwrap(), "--auth-tokens", tokens.to_str().unwrap()]);
    let alice = ("authorization", "Bearer tok-alice");
    let bob = ("authorization", "Basic Ym9iOnNlY3JldA==");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let created = http(&server.addr, "POST", "/soda/async", &[alice, form], b"ID=sample-image&CIRCLE=10.68+41.27+0.01&PHASE=RUN");
    assert_eq!(created.status, 303, "{}", created.text());
    assert_eq!(created.header("x-vo-authenticated"), Some("alice"));
    let job = created.header("location").unwrap().trim_start_matches(&format!("http://{}", server.addr)).to_owned();
    let done = http(&server.addr, "GET", &format!("{job}?WAIT=30&PHASE=EXECUTING"), &[alice], b"").text();
    let done = if done.contains(">QUEUED<") { http(&server.addr, "GET", &format!("{job}?WAIT=30&PHASE=QUEUED"), &[alice], b"").text() } else { done };
    assert!(done.contains("<uws:ownerId>alice</uws:ownerId>"), "{done}");
    assert!(http(&server.addr, "GET", &format!("{job}?WAIT=30&PHASE=EXECUTING"), &[alice], b"").text().contains("COMPLETED"));

    // Bob: cannot read, list, change, fetch results of, or delete Alice's job, nor learn that it
    // exists: 404 as for a job that does not.
    for (method, target, body) in [
        ("GET", job.clone(), &b""[..]),
        ("GET", format!("{job}/phase"), b""),
        ("GET", format!("{job}/results"), b""),
        ("GET", format!("{job}/results/cutout-1.fits"), b""),
        ("GET", format!("{job}/parameters"), b""),
        ("POST", format!("{job}/destruction"), b"DESTRUCTION=2030-01-01T00:00:00Z"),
        ("POST", format!("{job}/phase"), b"PHASE=ABORT"),
        ("DELETE", job.clone(), b""),
    ] {
        let r = http(&server.addr, method, &target, &[bob, form], body);
        assert_eq!(r.status, 404, "bob {method} {target}: {}", r.text());
    }
    let listed = http(&server.addr, "GET", "/soda/async", &[bob], b"");
    assert_eq!(listed.status, 200);
    assert!(!listed.text().contains(&job), "bob's list shows alice's job: {}", listed.text());
    let anonymous = http(&server.addr, "GET", "/soda/async", &[], b"");
    assert!(!anonymous.text().contains(&job));
    assert_eq!(anonymous.header("x-vo-authenticated"), None);
    assert_eq!(challenges(&anonymous), ["Bearer", "Basic realm=\"SODA cutout service\""]);
    // Alice: lists it, fetches its result, deletes it.
    assert!(http(&server.addr, "GET", "/soda/async", &[alice], b"").text().contains(&job));
    let result = http(&server.addr, "GET", &format!("{job}/results/cutout-1.fits"), &[alice], b"");
    assert_eq!(result.status, 200);
    assert!(result.body.starts_with(b"SIMPLE  ="));
    assert_eq!(http(&server.addr, "DELETE", &job, &[alice], b"").status, 303);
    assert_eq!(http(&server.addr, "GET", &job, &[alice], b"").status, 404);
}

/// `x-ivoa-groups` through the `golden-groups` feature server, with the groups given by the
/// development token file: a member is served, an authenticated non-member gets 403
/// `AuthorizationError`, an anonymous caller 401 with the challenges, on GET and HEAD.
#[test]
fn only_members_of_an_operations_groups_are_served() {
    let dir = root().join("target/e2e/auth/groups");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "tok-alice alice survey\nbasic:bob:secret bob staff,other\ntok-mallory mallory other\ntok-trent trent\n").unwrap();
    let server = Server::start(&built("golden-groups"), &["--auth-tokens", tokens.to_str().unwrap()]);
    let challenges = ["Bearer", "Basic realm=\"Group authorisation\""];
    let survey = "/survey?ID=ivo%3A%2F%2Fexample.org%2Fdata%3F1";
    for method in ["GET", "HEAD"] {
        check(&http(&server.addr, method, survey, &[("authorization", "Bearer tok-alice")], b""), 200, &[], Some("alice"), "a member");
        check(&http(&server.addr, method, survey, &[("authorization", "Basic Ym9iOnNlY3JldA==")], b""), 200, &[], Some("bob"), "a member of another allowed group");
        for (token, identity) in [("tok-mallory", "mallory"), ("tok-trent", "trent")] {
            let refused = http(&server.addr, method, survey, &[("authorization", &format!("Bearer {token}"))], b"");
            check(&refused, 403, &[], Some(identity), "a non-member");
            if method == "GET" {
                assert!(refused.text().starts_with("AuthorizationError: "), "{}", refused.text());
            }
        }
        let anonymous = http(&server.addr, method, survey, &[], b"");
        check(&anonymous, 401, &challenges, None, "anonymous");
        if method == "GET" {
            assert!(anonymous.text().starts_with("AuthenticationError: "), "{}", anonymous.text());
        }
        check(&http(&server.addr, method, survey, &[("authorization", "Bearer wrong")], b""), 401, &challenges, None, "a bad token");
    }
    // An operation without groups serves every authenticated caller.
    check(&http(&server.addr, "GET", "/open", &[("authorization", "Bearer tok-trent")], b""), 501, &[], Some("trent"), "no groups");
    // The published description says what the server does.
    let published = http(&server.addr, "GET", "/openapi.json", &[], b"");
    let document: ivoagen_runtime::codegen::serde_json::Value = ivoagen_runtime::codegen::serde_json::from_str(&published.text()).unwrap();
    for status in ["200", "401", "403"] {
        assert!(document["paths"]["/survey"]["get"]["responses"][status].is_object(), "{status} is declared");
    }
}
