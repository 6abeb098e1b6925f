//! Validating tokens: the [`Oidc`] authenticator.

use super::Settings;
use super::cache::Cache;
use super::keys::{Issuer, Refresh, Selection, algorithm};
use crate::auth::{Authenticator, Credential, Outcome};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How many validated tokens are kept.
const CACHED_TOKENS: usize = 10_000;

/// How often an issuer's keys are fetched again in the background.
const REFRESH: Duration = Duration::from_secs(15 * 60);

/// The longest wait between two attempts to reach an issuer that could not be reached.
const MAX_RETRY: Duration = Duration::from_secs(5 * 60);

/// Who a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The identity claim's value.
    pub identity: String,
    /// The groups claim's values.
    pub groups: Arc<[String]>,
    /// The issuer that signed the token.
    pub issuer: String,
    /// The token's `exp` (Unix time).
    pub expires: u64,
}

/// The authenticator of OpenID Connect bearer tokens from trusted issuers (see [`crate::oidc`]):
/// cheap to clone, every clone sharing the keys and the validated tokens.
#[derive(Clone)]
pub struct Oidc(Arc<Inner>);

struct Inner {
    settings: Settings,
    issuers: Vec<Issuer>,
    tokens: Cache,
    client: reqwest::Client,
}

impl Oidc {
    /// The authenticator of `settings`. Inside a Tokio runtime, each issuer's keys are fetched in
    /// the background from now on (and every 15 minutes); otherwise the first token of an issuer
    /// fetches them.
    pub fn new(settings: Settings) -> Result<Oidc, String> {
        // The crypto of the `aws_lc_rs` feature, chosen explicitly: another crate of the build may
        // turn on jsonwebtoken's other backend, and with both the crate would not choose.
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
        let client = reqwest::Client::builder()
            .user_agent(concat!("ivoagen-runtime/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        for issuer in &settings.issuers {
            let host = issuer.strip_prefix("http://").map(|rest| rest.split(['/', ':']).next().unwrap_or_default());
            if host.is_some_and(|h| h != "localhost" && !h.starts_with("127.") && !h.starts_with('[')) {
                eprintln!("oidc: warning: the keys of {issuer} are fetched over plain HTTP, where anyone on the way can replace them; use https://");
            }
        }
        let issuers = settings.issuers.iter().map(|url| Issuer::new(url.clone())).collect();
        let oidc = Oidc(Arc::new(Inner { settings, issuers, tokens: Cache::new(CACHED_TOKENS), client }));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for index in 0..oidc.0.issuers.len() {
                runtime.spawn(refresher(Arc::downgrade(&oidc.0), index));
            }
        }
        Ok(oidc)
    }

    /// Who `token` names, or why it is refused (one line, for the client).
    pub async fn validate(&self, token: &str) -> Result<Arc<Principal>, String> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(principal) = self.0.tokens.get(token, now) {
            return Ok(principal);
        }
        let (header, claims) = unverified(token)?;
        let alg = algorithm(header.get("alg").and_then(Value::as_str).ok_or("the token's header has no `alg`")?)?;
        if header.contains_key("crit") {
            return Err("the token has critical header parameters (`crit`), which this service does not understand".to_owned());
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err("the token's `kid` is not a string".to_owned()),
        };
        let iss = claims.get("iss").and_then(Value::as_str).ok_or("the token has no `iss` claim")?;
        let Some(index) = self.0.issuers.iter().position(|i| i.url == iss) else {
            return Err(format!("the issuer `{}` is not trusted", shown(iss)));
        };
        let issuer = &self.0.issuers[index];
        let claims = self.verify(index, token, alg, kid).await?;
        let settings = &self.0.settings;
        let identity = match claim(&claims, &settings.identity_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(format!("the token's `{}` claim is not a name", settings.identity_claim)),
            None => return Err(format!("the token has no `{}` claim", settings.identity_claim)),
        };
        let groups: Arc<[String]> = match claim(&claims, &settings.groups_claim) {
            Some(Value::Array(values)) => values.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(names)) => names.split_whitespace().map(str::to_owned).collect(),
            _ => Arc::from([]),
        };
        let expires = claims.get("exp").and_then(|e| e.as_u64().or_else(|| e.as_f64().map(|f| f as u64))).unwrap_or(now);
        let principal = Arc::new(Principal { identity, groups, issuer: issuer.url.clone(), expires });
        self.0.tokens.insert(token, principal.clone(), expires.saturating_add(settings.leeway.as_secs()), index, now);
        Ok(principal)
    }

    /// Checks the signature of `token` with a key of issuer `index` (fetching the issuer's keys
    /// again, rate-limited, for a key ID it does not hold) and its claims; returns the claims.
    async fn verify(&self, index: usize, token: &str, alg: Algorithm, kid: Option<&str>) -> Result<Map<String, Value>, String> {
        let issuer = &self.0.issuers[index];
        let mut keys = issuer.keys();
        if matches!(keys.select(kid, alg), Selection::Missing) {
            let seen = issuer.generation();
            match issuer.refresh(&self.0.client, seen, Some(self.0.settings.refetch_interval)).await {
                Refresh::Fetched { changed, withdrawn } => self.fetched(index, changed, withdrawn),
                Refresh::Failed(e) => eprintln!("oidc: {}: keys not fetched: {e}", issuer.url),
                Refresh::AlreadyDone | Refresh::TooSoon => {}
            }
            keys = issuer.keys();
        }
        let candidates = match keys.select(kid, alg) {
            Selection::Keys(keys) => keys,
            Selection::Unfit(why) => return Err(why),
            Selection::Missing if !keys.loaded => return Err(format!("the keys of `{}` could not be fetched yet", issuer.url)),
            Selection::Missing => {
                return Err(match kid {
                    Some(kid) => format!("`{}` publishes no key `{}`", issuer.url, shown(kid)),
                    None => format!("`{}` publishes no key for alg `{alg:?}`", issuer.url),
                });
            }
        };
        let settings = &self.0.settings;
        let mut validation = Validation::new(alg);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&issuer.url]);
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
            }
            None => {
                validation.validate_aud = false;
                validation.set_required_spec_claims(&["exp", "iss"]);
            }
        }
        let mut refusal = String::new();
        for key in candidates {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    refusal = describe(e.kind(), settings);
                    // Without a key ID, another key of the issuer may have signed it.
                    if !matches!(e.kind(), ErrorKind::InvalidSignature) {
                        break;
                    }
                }
            }
        }
        Err(refusal)
    }

    /// After issuer `index`'s keys were fetched: tokens signed by a withdrawn key are forgotten.
    fn fetched(&self, index: usize, changed: bool, withdrawn: bool) {
        let issuer = &self.0.issuers[index];
        if !changed {
            return;
        }
        eprintln!("oidc: {}: {} signing keys{}", issuer.url, issuer.keys().len(), if withdrawn { " (some withdrawn: their tokens are no longer accepted)" } else { "" });
        if withdrawn {
            self.0.tokens.forget(index);
        }
    }

    /// How many times each issuer's key set was requested (discovery documents aside).
    pub fn key_set_requests(&self) -> Vec<u64> {
        self.0.issuers.iter().map(|i| i.jwks_requests.load(std::sync::atomic::Ordering::Relaxed)).collect()
    }
}

impl Authenticator for Oidc {
    fn authenticate<'a>(&'a self, credential: &'a Credential) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let Credential::Bearer(token) = credential else { return Outcome::Invalid };
            match self.validate(token).await {
                Ok(principal) => Outcome::Member { identity: principal.identity.clone(), groups: principal.groups.clone() },
                Err(reason) => Outcome::Rejected(reason),
            }
        })
    }
}

/// Fetches issuer `index`'s keys now, then every [`REFRESH`]; while it cannot be reached, after
/// 1 s, 2 s, 4 s… at most [`MAX_RETRY`]. Ends with the authenticator.
async fn refresher(oidc: Weak<Inner>, index: usize) {
    let mut retry = Duration::from_secs(1);
    let mut seen = 0;
    loop {
        let Some(inner) = oidc.upgrade() else { return };
        let issuer = &inner.issuers[index];
        let wait = match issuer.refresh(&inner.client, seen, None).await {
            Refresh::Fetched { changed, withdrawn } => {
                Oidc(inner.clone()).fetched(index, changed, withdrawn);
                retry = Duration::from_secs(1);
                REFRESH
            }
            Refresh::Failed(e) => {
                let wait = retry;
                eprintln!("oidc: {}: keys not fetched ({e}); trying again in {} s{}", issuer.url, wait.as_secs(), if issuer.keys().loaded { ", serving with the keys held" } else { "" });
                retry = (retry * 2).min(MAX_RETRY);
                wait
            }
            Refresh::AlreadyDone | Refresh::TooSoon if issuer.keys().loaded => REFRESH,
            Refresh::AlreadyDone | Refresh::TooSoon => retry,
        };
        seen = issuer.generation();
        drop(inner);
        tokio::time::sleep(wait).await;
    }
}

/// A JSON object: a token's header or claims.
type Object = Map<String, Value>;

/// A token's header and claims, read without checking anything.
fn unverified(token: &str) -> Result<(Object, Object), String> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("the token is not a JWT (three base64url parts joined by dots)".to_owned());
    };
    let json = |part: &str| -> Option<Object> {
        let standard: String = part.chars().map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        }).collect();
        serde_json::from_slice(&crate::auth::base64_decode(&standard)?).ok()
    };
    let header = json(header).ok_or("the token's header is not base64url-encoded JSON")?;
    let claims = json(payload).ok_or("the token's payload is not base64url-encoded JSON")?;
    Ok((header, claims))
}

/// A claim by name, or else by a dotted path into nested objects (`realm_access.roles`).
fn claim<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut path = name.split('.');
    let mut value = claims.get(path.next()?)?;
    for step in path {
        value = value.as_object()?.get(step)?;
    }
    Some(value)
}

/// Why `jsonwebtoken` refused a token, for the client.
fn describe(kind: &ErrorKind, settings: &Settings) -> String {
    match kind {
        ErrorKind::InvalidSignature => "the signature does not verify with the issuer's key".to_owned(),
        ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
        ErrorKind::InvalidAudience => format!("the token is not for this service (its `aud` does not name `{}`)", settings.audience.as_deref().unwrap_or_default()),
        ErrorKind::InvalidIssuer => "the token's `iss` is not its key's issuer".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the token's `{claim}` claim is malformed"),
        ErrorKind::InvalidAlgorithm => "the token's alg does not fit the issuer's key".to_owned(),
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidEddsaKey | ErrorKind::InvalidKeyFormat => "the issuer's key cannot be used".to_owned(),
        _ => "the token is malformed".to_owned(),
    }
}

/// A value from a token, shortened to 80 characters for a message.
pub(super) fn shown(value: &str) -> String {
    let mut chars = value.chars();
    let mut text: String = chars.by_ref().take(80).collect();
    if chars.next().is_some() {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests;
