//! Tokens signed here (with aws-lc-rs directly, not through jsonwebtoken) against an issuer served
//! on 127.0.0.1 by the test.

use super::*;
use aws_lc_rs::signature::{self as sig, KeyPair as _};
use serde_json::json;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

enum Signer {
    Rsa(sig::RsaKeyPair),
    Ec(sig::EcdsaKeyPair),
    Ed(sig::Ed25519KeyPair),
}

/// A key of the test issuer.
struct TestKey {
    kid: String,
    signer: Signer,
}

impl TestKey {
    fn rsa(kid: &str) -> TestKey {
        TestKey { kid: kid.to_owned(), signer: Signer::Rsa(sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap()) }
    }

    fn ec(kid: &str) -> TestKey {
        TestKey { kid: kid.to_owned(), signer: Signer::Ec(sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()) }
    }

    fn ed(kid: &str) -> TestKey {
        TestKey { kid: kid.to_owned(), signer: Signer::Ed(sig::Ed25519KeyPair::generate().unwrap()) }
    }

    /// The public JWK, as an issuer publishes it.
    fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(pair) => {
                let components = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "n": b64(&components.n), "e": b64(&components.e)})
            }
            Signer::Ec(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "kid": self.kid, "crv": "P-256", "alg": "ES256", "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            Signer::Ed(pair) => json!({"kty": "OKP", "kid": self.kid, "crv": "Ed25519", "x": b64(pair.public_key().as_ref())}),
        }
    }

    fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match (&self.signer, alg) {
            (Signer::Rsa(pair), "RS256" | "PS256") => {
                let mut signature = vec![0; pair.public_modulus_len()];
                let padding: &'static dyn sig::RsaEncoding = if alg == "RS256" { &sig::RSA_PKCS1_SHA256 } else { &sig::RSA_PSS_SHA256 };
                pair.sign(padding, &rng, message, &mut signature).unwrap();
                signature
            }
            (Signer::Ec(pair), "ES256") => pair.sign(&rng, message).unwrap().as_ref().to_vec(),
            (Signer::Ed(pair), "EdDSA") => pair.sign(message).as_ref().to_vec(),
            _ => panic!("{alg} with this key"),
        }
    }

    /// A token of `claims`, signed with `alg`, naming this key.
    fn token(&self, alg: &str, claims: &Value) -> String {
        self.token_with(&json!({"alg": alg, "kid": self.kid, "typ": "JWT"}), claims)
    }

    fn token_with(&self, header: &Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap().to_owned();
        signed(header, claims, |message| self.sign(&alg, message))
    }
}

fn signed(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = sign(message.as_bytes());
    format!("{message}.{}", b64(&signature))
}

/// An issuer on 127.0.0.1: its discovery document and key set, how many times the key set was
/// asked for, and a switch that makes it answer 503.
struct TestIssuer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    down: Arc<AtomicBool>,
    jwks_hits: Arc<AtomicUsize>,
}

impl TestIssuer {
    async fn start(keys: &[&TestKey]) -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let issuer = TestIssuer {
            url: url.clone(),
            keys: Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect())),
            down: Arc::new(AtomicBool::new(false)),
            jwks_hits: Arc::new(AtomicUsize::new(0)),
        };
        let (down, discovery_down) = (issuer.down.clone(), issuer.down.clone());
        let (keys, hits) = (issuer.keys.clone(), issuer.jwks_hits.clone());
        let discovery = json!({"issuer": url, "jwks_uri": format!("{url}/jwks"), "id_token_signing_alg_values_supported": ["RS256", "ES256"]}).to_string();
        let answer = |down: &AtomicBool, body: String| if down.load(Ordering::SeqCst) { (http::StatusCode::SERVICE_UNAVAILABLE, String::new()) } else { (http::StatusCode::OK, body) };
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", axum::routing::get(move || std::future::ready(answer(&discovery_down, discovery.clone()))))
            .route(
                "/jwks",
                axum::routing::get(move || {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = json!({"keys": *keys.lock().unwrap()}).to_string();
                    std::future::ready(answer(&down, body))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        issuer
    }

    fn hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }

    fn publish(&self, keys: &[&TestKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk()).collect();
    }

    /// Claims a valid token of this issuer has.
    fn claims(&self, sub: &str) -> Value {
        json!({"iss": self.url, "sub": sub, "aud": ["soda", "other"], "iat": now(), "exp": now() + 300, "groups": ["survey-a", "staff"]})
    }
}

fn settings(issuers: &[&TestIssuer]) -> Settings {
    Settings { issuers: issuers.iter().map(|i| i.url.clone()).collect(), refetch_interval: Duration::from_secs(1), ..Settings::default() }
}

async fn refused(oidc: &Oidc, token: &str, says: &str) {
    match oidc.validate(token).await {
        Ok(p) => panic!("accepted as {}: {token}", p.identity),
        Err(reason) => assert!(reason.contains(says), "`{reason}` does not say `{says}`"),
    }
}

#[tokio::test]
async fn valid_tokens_of_each_key_type_name_their_caller_and_groups() {
    let (rsa, ec, ed) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"), TestKey::ed("ed-1"));
    let issuer = TestIssuer::start(&[&rsa, &ec, &ed]).await;
    let oidc = Oidc::new(Settings { audience: Some("soda".to_owned()), ..settings(&[&issuer]) }).unwrap();
    for (key, alg) in [(&rsa, "RS256"), (&rsa, "PS256"), (&ec, "ES256"), (&ed, "EdDSA")] {
        let principal = oidc.validate(&key.token(alg, &issuer.claims("alice"))).await.unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!((principal.identity.as_str(), &principal.groups[..], principal.issuer.as_str()), ("alice", &["survey-a".to_owned(), "staff".to_owned()][..], issuer.url.as_str()), "{alg}");
    }
    // Without a key ID, the issuer's keys that fit the algorithm are tried.
    let token = rsa.token_with(&json!({"alg": "RS256"}), &issuer.claims("bob"));
    assert_eq!(oidc.validate(&token).await.unwrap().identity, "bob");
    // A validated token is kept: the same principal comes back without verifying again.
    let first = oidc.validate(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &oidc.validate(&token).await.unwrap()));
    assert_eq!(issuer.hits(), 1, "one key set fetched at start");
    // Through the Authenticator trait: the identity and its groups; other credentials are not ours.
    let outcome = oidc.authenticate(&Credential::Bearer(token)).await;
    assert_eq!(outcome, Outcome::Member { identity: "bob".to_owned(), groups: Arc::from(["survey-a".to_owned(), "staff".to_owned()]) });
    assert_eq!(oidc.authenticate(&Credential::Cookie("x".to_owned())).await, Outcome::Invalid);
    assert!(matches!(oidc.authenticate(&Credential::Bearer("nope".to_owned())).await, Outcome::Rejected(_)));
}

#[tokio::test]
async fn forged_and_unacceptable_tokens_are_refused_saying_why() {
    let (rsa, ec) = (TestKey::rsa("rsa-1"), TestKey::ec("ec-1"));
    let issuer = TestIssuer::start(&[&rsa, &ec]).await;
    let oidc = Oidc::new(Settings { audience: Some("soda".to_owned()), ..settings(&[&issuer]) }).unwrap();
    let claims = issuer.claims("alice");
    let header = |alg: &str| json!({"alg": alg, "kid": "rsa-1", "typ": "JWT"});

    // alg none, whatever its case, with or without a signature.
    for alg in ["none", "None", "NONE"] {
        refused(&oidc, &signed(&header(alg), &claims, |_| Vec::new()), "alg `none`").await;
    }
    // HMAC with the issuer's public key as the secret: its DER, its JWK, its modulus.
    let Signer::Rsa(pair) = &rsa.signer else { unreachable!() };
    let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(pair.public_key()).unwrap();
    let modulus = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key()).n;
    for secret in [der.as_ref().to_vec(), rsa.jwk().to_string().into_bytes(), modulus] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        refused(&oidc, &signed(&header("HS256"), &claims, |m| aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()), "HMAC").await;
    }
    refused(&oidc, &signed(&header("RS1"), &claims, |_| vec![1, 2, 3]), "alg `RS1` is not accepted").await;
    // Tampered: the payload changed after signing.
    let token = rsa.token("RS256", &claims);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut forged = claims.clone();
    forged["sub"] = json!("mallory");
    parts[1] = b64(forged.to_string().as_bytes());
    refused(&oidc, &parts.join("."), "signature does not verify").await;
    // Signed by another key under the issuer's key ID.
    let impostor = TestKey::rsa("rsa-1");
    refused(&oidc, &impostor.token("RS256", &claims), "signature does not verify").await;
    // The key type must fit the algorithm: an EC key for RS256, an RSA key for ES256.
    refused(&oidc, &signed(&json!({"alg": "RS256", "kid": "ec-1"}), &claims, |m| rsa.sign("RS256", m)), "the key `ec-1` is a P-256 key").await;
    refused(&oidc, &signed(&json!({"alg": "ES256", "kid": "rsa-1"}), &claims, |m| ec.sign("ES256", m)), "the key `rsa-1` is an RSA key").await;
    // Claims.
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = issuer.claims("alice");
        change(&mut claims);
        rsa.token("RS256", &claims)
    };
    refused(&oidc, &with(&|c| c["iss"] = json!("https://elsewhere.example.org")), "the issuer `https://elsewhere.example.org` is not trusted").await;
    refused(&oidc, &with(&|c| c["iss"] = json!(format!("{}/", issuer.url))), "is not trusted").await;
    refused(&oidc, &with(&|c| c["aud"] = json!("other")), "not for this service").await;
    refused(&oidc, &with(&|c| c["aud"] = json!(["a", "b"])), "not for this service").await;
    refused(&oidc, &with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))), "no `aud` claim").await;
    refused(&oidc, &with(&|c| c["exp"] = json!(now() - 61)), "expired").await;
    refused(&oidc, &with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))), "no `exp` claim").await;
    refused(&oidc, &with(&|c| c["nbf"] = json!(now() + 120)), "not valid yet").await;
    refused(&oidc, &with(&|c| drop(c.as_object_mut().unwrap().remove("sub"))), "no `sub` claim").await;
    refused(&oidc, &with(&|c| c["sub"] = json!({"a": 1})), "malformed").await;
    // Within the leeway, still good.
    assert!(oidc.validate(&with(&|c| c["exp"] = json!(now() - 30))).await.is_ok());
    assert!(oidc.validate(&with(&|c| c["nbf"] = json!(now() + 30))).await.is_ok());
    assert!(oidc.validate(&with(&|c| c["aud"] = json!("soda"))).await.is_ok());
    // Not a JWT, and critical headers.
    refused(&oidc, "abc", "not a JWT").await;
    refused(&oidc, "a.b.c.d", "not a JWT").await;
    refused(&oidc, "!!.e30.", "header is not base64url-encoded JSON").await;
    refused(&oidc, &rsa.token_with(&json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}), &claims), "crit").await;
    assert_eq!(issuer.hits(), 1, "no refusal above needed the keys again");
}

#[tokio::test]
async fn unknown_key_ids_fetch_the_keys_at_most_once_per_interval_and_rotation_is_honoured() {
    let (old, new) = (TestKey::rsa("2025"), TestKey::ec("2026"));
    let issuer = TestIssuer::start(&[&old]).await;
    let oidc = Oidc::new(Settings { refetch_interval: Duration::from_secs(2), ..settings(&[&issuer]) }).unwrap();
    let old_token = old.token("RS256", &issuer.claims("alice"));
    assert!(oidc.validate(&old_token).await.is_ok());
    assert_eq!(issuer.hits(), 1);
    // Right after the fetch at start: unknown key IDs fetch nothing.
    let keys: Vec<_> = (0..5).map(|i| TestKey::ec(&format!("x{i}"))).collect();
    for (i, key) in keys.iter().enumerate() {
        refused(&oidc, &key.token("ES256", &issuer.claims("eve")), &format!("publishes no key `x{i}`")).await;
    }
    assert_eq!(issuer.hits(), 1, "a fetch within the interval");
    // The issuer rotates: its new key is published; within the interval it is not known yet…
    issuer.publish(&[&old, &new]);
    let new_token = new.token("ES256", &issuer.claims("bob"));
    refused(&oidc, &new_token, "publishes no key `2026`").await;
    assert_eq!(issuer.hits(), 1);
    // …after it, one fetch makes it known, and a flood of unknown key IDs fetches no more.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let flood: Vec<_> = (0..20).map(|i| TestKey::ec(&format!("y{i}")).token("ES256", &issuer.claims("eve"))).collect();
    assert_eq!(oidc.validate(&new_token).await.unwrap().identity, "bob");
    for token in &flood {
        refused(&oidc, token, "publishes no key").await;
    }
    assert_eq!(issuer.hits(), 2, "one fetch for the new key, none for the flood");
    // The old key withdrawn: once the keys are fetched again, its tokens (even cached) are refused.
    issuer.publish(&[&new]);
    assert!(oidc.validate(&old_token).await.is_ok(), "still cached");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(&oidc, &flood[0], "publishes no key").await;
    assert_eq!(issuer.hits(), 3);
    refused(&oidc, &old_token, "publishes no key `2025`").await;
    assert!(oidc.validate(&new_token).await.is_ok());
}

#[tokio::test]
async fn an_unreachable_issuer_leaves_its_keys_in_use_and_one_unreachable_at_start_is_retried() {
    let key = TestKey::ec("k");
    let issuer = TestIssuer::start(&[&key]).await;
    let oidc = Oidc::new(settings(&[&issuer])).unwrap();
    assert!(oidc.validate(&key.token("ES256", &issuer.claims("alice"))).await.is_ok());
    issuer.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The unknown key ID's fetch fails; the keys held are kept and verify a new token.
    refused(&oidc, &TestKey::ec("other").token("ES256", &issuer.claims("eve")), "publishes no key `other`").await;
    assert_eq!(issuer.hits(), 2);
    assert_eq!(oidc.validate(&key.token("ES256", &issuer.claims("bob"))).await.unwrap().identity, "bob");

    // Down at start: refused meanwhile, then the background retries find the keys.
    let late = TestIssuer::start(&[&key]).await;
    late.down.store(true, Ordering::SeqCst);
    let oidc = Oidc::new(settings(&[&late])).unwrap();
    let token = key.token("ES256", &late.claims("carol"));
    refused(&oidc, &token, "could not be fetched yet").await;
    late.down.store(false, Ordering::SeqCst);
    let began = std::time::Instant::now();
    while oidc.validate(&token).await.is_err() {
        assert!(began.elapsed() < Duration::from_secs(10), "the issuer was not tried again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn several_issuers_and_the_claims_read() {
    let (a_key, b_key, c_key) = (TestKey::rsa("a"), TestKey::ec("b"), TestKey::ed("c"));
    let (a, b, c) = (TestIssuer::start(&[&a_key]).await, TestIssuer::start(&[&b_key]).await, TestIssuer::start(&[&c_key]).await);
    let oidc = Oidc::new(Settings { identity_claim: "preferred_username".to_owned(), groups_claim: "realm_access.roles".to_owned(), ..settings(&[&a, &b]) }).unwrap();
    let claims = |issuer: &TestIssuer| {
        let mut claims = issuer.claims("0f3a");
        claims["preferred_username"] = json!("alice");
        claims["realm_access"] = json!({"roles": ["x", 7, "y"]});
        claims
    };
    let principal = oidc.validate(&a_key.token("RS256", &claims(&a))).await.unwrap();
    assert_eq!((principal.identity.as_str(), &principal.groups[..]), ("alice", &["x".to_owned(), "y".to_owned()][..]));
    assert_eq!(oidc.validate(&b_key.token("ES256", &claims(&b))).await.unwrap().issuer, b.url);
    let mut nameless = claims(&b);
    nameless["preferred_username"] = json!(["alice"]);
    refused(&oidc, &b_key.token("ES256", &nameless), "`preferred_username` claim is not a name").await;
    refused(&oidc, &c_key.token("EdDSA", &claims(&c)), "is not trusted").await;
    // A trusted issuer's name on a token signed by the third issuer's key.
    let mut stolen = claims(&c);
    stolen["iss"] = json!(a.url);
    refused(&oidc, &c_key.token("EdDSA", &stolen), "publishes no key `c`").await;
    assert_eq!(c.hits(), 0, "the untrusted issuer is never asked");
    // A scope-like claim: names separated by spaces; a numeric identity.
    let oidc = Oidc::new(Settings { groups_claim: "scope".to_owned(), ..settings(&[&a]) }).unwrap();
    let mut claims = a.claims("x");
    claims["sub"] = json!(1234);
    claims["scope"] = json!("read:image  exec:portal");
    let principal = oidc.validate(&a_key.token("RS256", &claims)).await.unwrap();
    assert_eq!((principal.identity.as_str(), &principal.groups[..]), ("1234", &["read:image".to_owned(), "exec:portal".to_owned()][..]));
}

#[test]
fn key_sets_keep_only_signature_keys_of_accepted_types() {
    let rsa = TestKey::rsa("r");
    let mut enc = rsa.jwk();
    enc["use"] = json!("enc");
    enc["kid"] = json!("enc");
    let document = json!({"keys": [
        rsa.jwk(), enc,
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "oaep", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "hs", "alg": "HS256", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "kid": "p521", "crv": "P-521", "x": "AQAB", "y": "AQAB"},
        {"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": "AQAB"},
        {"kty": "RSA", "kid": "verify-only", "key_ops": ["verify"], "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "sign-only", "key_ops": ["sign"], "n": "AQAB", "e": "AQAB"},
        {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
        "not a key"
    ]});
    let set = super::super::keys::KeySet::parse(&document).unwrap();
    assert_eq!(set.len(), 3, "r, verify-only, ps");
    assert!(matches!(set.select(Some("r"), Algorithm::PS256), Selection::Keys(_)));
    assert!(matches!(set.select(Some("hmac"), Algorithm::RS256), Selection::Missing));
    match set.select(Some("ps"), Algorithm::RS256) {
        Selection::Unfit(why) => assert!(why.contains("is for PS256 only"), "{why}"),
        _ => panic!("a PS256 key verified RS256"),
    }
    assert!(super::super::keys::KeySet::parse(&json!({"nokeys": []})).is_err());
}
