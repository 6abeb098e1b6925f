//! The keys of trusted issuers: each issuer's discovery document and key set (JWKS) fetched over
//! HTTP, held per issuer, and fetched again (on an unknown key ID) at most once per interval.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The most bytes a discovery document or key set may have.
const MAX_DOCUMENT: usize = 1 << 20;

/// The kinds of public keys that verify signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl Kind {
    /// Whether a key of this kind verifies `alg`.
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Kind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Kind::P256 => alg == ES256,
            Kind::P384 => alg == ES384,
            Kind::Ed25519 => alg == EdDSA,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Rsa => "an RSA",
            Kind::P256 => "a P-256",
            Kind::P384 => "a P-384",
            Kind::Ed25519 => "an Ed25519",
        }
    }
}

/// The signature algorithms accepted, by their JWS names: never `none`, never HMAC.
pub(super) fn algorithm(name: &str) -> Result<Algorithm, String> {
    use Algorithm::*;
    Ok(match name {
        "RS256" => RS256,
        "RS384" => RS384,
        "RS512" => RS512,
        "PS256" => PS256,
        "PS384" => PS384,
        "PS512" => PS512,
        "ES256" => ES256,
        "ES384" => ES384,
        "EdDSA" => EdDSA,
        n if n.eq_ignore_ascii_case("none") => return Err("alg `none`: the token is not signed".to_owned()),
        n if n.starts_with("HS") => return Err(format!("alg `{}`: HMAC-signed tokens are not accepted, only signatures by an issuer's published key", super::tokens::shown(n))),
        n => return Err(format!("alg `{}` is not accepted (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA)", super::tokens::shown(n))),
    })
}

/// A public key of an issuer's key set.
pub(super) struct Key {
    /// Its key ID.
    pub kid: Option<String>,
    kind: Kind,
    /// The one algorithm it is for, if the set says.
    alg: Option<Algorithm>,
    /// The key, for `jsonwebtoken`.
    pub decoding: DecodingKey,
    /// The JWK as published, to tell whether a key was withdrawn.
    published: String,
}

impl Key {
    /// The key a JWK describes, if it is a public key for signatures of a kind accepted; `None`
    /// for anything else (encryption keys, symmetric keys, unknown types or algorithms).
    fn from_jwk(jwk: &Value) -> Option<Key> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        if text("use").is_some_and(|u| u != "sig") {
            return None;
        }
        if let Some(ops) = jwk.get("key_ops") {
            if !ops.as_array()?.iter().any(|op| op.as_str() == Some("verify")) {
                return None;
            }
        }
        let alg = match text("alg") {
            Some(name) => Some(algorithm(name).ok()?),
            None => None,
        };
        let (kind, decoding) = match (text("kty")?, text("crv")) {
            ("RSA", _) => (Kind::Rsa, DecodingKey::from_rsa_components(text("n")?, text("e")?).ok()?),
            ("EC", Some("P-256")) => (Kind::P256, DecodingKey::from_ec_components(text("x")?, text("y")?).ok()?),
            ("EC", Some("P-384")) => (Kind::P384, DecodingKey::from_ec_components(text("x")?, text("y")?).ok()?),
            ("OKP", Some("Ed25519")) => (Kind::Ed25519, DecodingKey::from_ed_components(text("x")?).ok()?),
            _ => return None,
        };
        if alg.is_some_and(|a| !kind.fits(a)) {
            return None;
        }
        Some(Key { kid: text("kid").map(str::to_owned), kind, alg, decoding, published: jwk.to_string() })
    }

    /// Whether this key verifies signatures made with `alg`.
    fn verifies(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }
}

/// An issuer's keys.
#[derive(Default)]
pub(super) struct KeySet {
    /// The usable keys, in the set's order.
    keys: Vec<Key>,
    /// Whether the set was ever fetched.
    pub loaded: bool,
}

/// The keys that may have signed a token.
pub(super) enum Selection<'a> {
    /// These (one, for a token with a key ID).
    Keys(Vec<&'a Key>),
    /// The key the token names does not verify its algorithm: why.
    Unfit(String),
    /// No key fits: the token's key ID is unknown, or no key verifies its algorithm.
    Missing,
}

impl KeySet {
    /// The usable keys of a JWKS document (`{"keys": [...]}`); others are left out.
    pub fn parse(document: &Value) -> Result<KeySet, String> {
        let keys = document.get("keys").and_then(Value::as_array).ok_or("not a key set (no `keys` array)")?;
        Ok(KeySet { keys: keys.iter().filter_map(Key::from_jwk).collect(), loaded: true })
    }

    /// The keys that may verify a token signed with `alg` under the key ID `kid`.
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        let named: Vec<&Key> = match kid {
            Some(kid) => self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect(),
            None => self.keys.iter().filter(|k| k.verifies(alg)).collect(),
        };
        if named.is_empty() {
            return Selection::Missing;
        }
        let fit: Vec<&Key> = named.iter().copied().filter(|k| k.verifies(alg)).collect();
        match (fit.is_empty(), kid) {
            (false, _) => Selection::Keys(fit),
            (true, kid) => {
                let key = named[0];
                let why = match key.alg {
                    Some(a) if key.kind.fits(alg) => format!("is for {a:?} only"),
                    _ => format!("is {} key", key.kind.name()),
                };
                Selection::Unfit(format!("the key `{}` {why}: it does not verify alg `{alg:?}`", super::tokens::shown(kid.unwrap_or_default())))
            }
        }
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether a key of this set is not in `newer`.
    fn withdrawn_in(&self, newer: &KeySet) -> bool {
        self.keys.iter().any(|k| !newer.keys.iter().any(|n| n.published == k.published))
    }
}

/// What [`Issuer::refresh`] did.
pub(super) enum Refresh {
    /// Fetched the keys.
    Fetched {
        /// Whether they differ from those held before.
        changed: bool,
        /// Whether some key held before is gone.
        withdrawn: bool,
    },
    /// Tried, and failed: the keys held are kept.
    Failed(String),
    /// Another caller fetched them meanwhile.
    AlreadyDone,
    /// The keys were fetched less than the interval ago.
    TooSoon,
}

/// What the fetches of one issuer share.
#[derive(Default)]
struct Fetching {
    /// The `jwks_uri` of the discovery document, once read.
    jwks_uri: Option<String>,
    /// When the last fetch began.
    last: Option<Instant>,
}

/// A trusted issuer and its keys.
pub(super) struct Issuer {
    /// The issuer, as its tokens' `iss` says.
    pub url: String,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching: one fetch at a time.
    fetching: tokio::sync::Mutex<Fetching>,
    /// How many fetches ended (successful or not).
    generation: AtomicU64,
    /// How many key sets were requested (for tests).
    pub jwks_requests: AtomicU64,
}

impl Issuer {
    pub fn new(url: String) -> Issuer {
        Issuer { url, keys: RwLock::default(), fetching: tokio::sync::Mutex::default(), generation: AtomicU64::new(0), jwks_requests: AtomicU64::new(0) }
    }

    /// The keys held now.
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many fetches have ended: pass it to [`Issuer::refresh`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Fetches the keys, unless a fetch ended since `seen` was read (another caller's), or, with
    /// `min_interval`, the last fetch began less than that ago. One fetch at a time: a caller
    /// arriving during another's waits for it, then finds it done.
    pub async fn refresh(&self, client: &reqwest::Client, seen: u64, min_interval: Option<Duration>) -> Refresh {
        let mut fetching = self.fetching.lock().await;
        if self.generation() != seen {
            return Refresh::AlreadyDone;
        }
        if let (Some(min), Some(last)) = (min_interval, fetching.last)
            && last.elapsed() < min
        {
            return Refresh::TooSoon;
        }
        fetching.last = Some(Instant::now());
        let refresh = match self.fetch(client, &mut fetching).await {
            Ok(set) => {
                let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
                let withdrawn = keys.withdrawn_in(&set);
                let changed = withdrawn || !keys.loaded || set.withdrawn_in(&keys);
                *keys = Arc::new(set);
                Refresh::Fetched { changed, withdrawn }
            }
            Err(e) => Refresh::Failed(e),
        };
        self.generation.fetch_add(1, Ordering::Release);
        refresh
    }

    /// The discovery document (the first time, or after a failure) and the key set.
    async fn fetch(&self, client: &reqwest::Client, fetching: &mut Fetching) -> Result<KeySet, String> {
        let jwks_uri = match &fetching.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let url = super::Settings::discovery_url(&self.url);
                let document = get_json(client, &url).await?;
                let issuer = document.get("issuer").and_then(Value::as_str);
                if issuer != Some(self.url.as_str()) {
                    return Err(format!("{url} names the issuer {}, not `{}`", issuer.map_or("nowhere".to_owned(), |i| format!("`{}`", super::tokens::shown(i))), self.url));
                }
                let uri = document.get("jwks_uri").and_then(Value::as_str).filter(|u| u.starts_with("https://") || u.starts_with("http://"));
                let uri = uri.ok_or_else(|| format!("{url} has no http(s) `jwks_uri`"))?.to_owned();
                fetching.jwks_uri = Some(uri.clone());
                uri
            }
        };
        self.jwks_requests.fetch_add(1, Ordering::Relaxed);
        let set = get_json(client, &jwks_uri).await.and_then(|document| KeySet::parse(&document).map_err(|e| format!("{jwks_uri}: {e}")));
        if set.is_err() {
            // The next fetch reads the discovery document again: the key set may have moved.
            fetching.jwks_uri = None;
        }
        set
    }
}

/// The JSON document at `url` (at most [`MAX_DOCUMENT`] bytes).
async fn get_json(client: &reqwest::Client, url: &str) -> Result<Value, String> {
    let failed = |e: reqwest::Error| {
        let mut message = format!("{url}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        message
    };
    let mut response = client.get(url).header(reqwest::header::ACCEPT, "application/json").send().await.map_err(failed)?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(format!("{url}: larger than {MAX_DOCUMENT} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: not JSON ({e})"))
}
