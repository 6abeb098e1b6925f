//! OpenID Connect bearer tokens (AuthVO's `ivo://ivoa.net/sso#OAuth`): JWTs signed by trusted
//! identity providers, validated by the server itself.
//!
//! With `--oidc-issuer URL` (repeatable), a server with security schemes accepts as a bearer token
//! a JWT whose `iss` is one of those URLs (exactly), signed by a key that issuer publishes:
//!
//! - **Keys.** At start, each issuer's discovery document (`URL/.well-known/openid-configuration`,
//!   whose `issuer` must be `URL`) and the key set at its `jwks_uri` are fetched in the background;
//!   they are fetched again every 15 minutes, and when a token names a key ID (`kid`) the issuer's
//!   set does not hold, unless the set was fetched less than `--oidc-refetch-interval` ago (30 s by
//!   default): a flood of unknown key IDs costs the issuer one fetch per interval. A failed fetch
//!   keeps the keys already held, so the server keeps serving while the issuer is unreachable; an
//!   issuer unreachable at start is retried (after 1 s, then twice as long each time, at most every
//!   5 minutes), and tokens it signed are refused meanwhile. Keys an issuer withdraws are no longer
//!   accepted once the set is fetched again, and tokens they signed are dropped from the cache.
//! - **Signatures.** Only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 and EdDSA
//!   (Ed25519), by a key of the token's issuer whose type fits the algorithm (RSA, P-256, P-384,
//!   Ed25519) and whose own `alg`, if it has one, is the token's. `alg: none` and HMAC (`HS256`…)
//!   are refused, as are keys of a set that are not for signatures and tokens with `crit` headers.
//! - **Claims.** `iss` in the trusted list (exact match), `exp` required and `nbf` if present, both
//!   with `--oidc-leeway` (60 s by default) for clock skew; with `--oidc-audience AUD`, `aud` must
//!   contain AUD.
//! - **Identity.** The value of `--oidc-identity-claim` (default `sub`; a string or a number) is
//!   the caller's identity (`X-VO-Authenticated`, UWS job owner), and `--oidc-groups-claim`
//!   (default `groups`; an array of strings, or one string of space-separated names as `scope` is)
//!   its [`crate::auth::Groups`]. A claim name not found as it is is read as a dotted path into
//!   nested objects (`realm_access.roles`). Identities of several issuers share one name space.
//! - **Cost.** A validated token is cached, keyed by its whole text, until it expires (`exp` plus
//!   the leeway): 10 000 tokens at most, expired ones evicted first. A cached token costs a hash
//!   lookup; an uncached one a signature verification.
//!
//! A refused token gets 401 with the route's challenges, its bearer challenges carrying
//! `error="invalid_token"` and an `error_description` saying why (RFC 6750).

use std::time::Duration;

#[cfg(feature = "oidc")]
mod cache;
#[cfg(feature = "oidc")]
mod keys;
#[cfg(feature = "oidc")]
mod tokens;

#[cfg(feature = "oidc")]
pub use tokens::{Oidc, Principal};

/// How a server validates OpenID Connect tokens: the `--oidc-*` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The trusted issuers, exactly as their tokens' `iss` says (`--oidc-issuer`, repeatable; env
    /// `OIDC_ISSUERS`, comma-separated). None: OpenID Connect is off.
    pub issuers: Vec<String>,
    /// The audience tokens must be for (`--oidc-audience`, env `OIDC_AUDIENCE`); any without.
    pub audience: Option<String>,
    /// The claim naming the caller (`--oidc-identity-claim`, env `OIDC_IDENTITY_CLAIM`; default
    /// `sub`).
    pub identity_claim: String,
    /// The claim listing the caller's groups (`--oidc-groups-claim`, env `OIDC_GROUPS_CLAIM`;
    /// default `groups`).
    pub groups_claim: String,
    /// The clock skew allowed on `exp` and `nbf` (`--oidc-leeway`, env `OIDC_LEEWAY`; default 60 s).
    pub leeway: Duration,
    /// The least time between two fetches of an issuer's keys caused by unknown key IDs
    /// (`--oidc-refetch-interval`, env `OIDC_REFETCH_INTERVAL`; default 30 s).
    pub refetch_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            issuers: Vec::new(),
            audience: None,
            identity_claim: "sub".to_owned(),
            groups_claim: "groups".to_owned(),
            leeway: Duration::from_secs(60),
            refetch_interval: Duration::from_secs(30),
        }
    }
}

/// The flags: id, value name, help.
const FLAGS: [(&str, &str, &str); 6] = [
    ("oidc-issuer", "URL", "Accept bearer tokens (JWTs) signed by this OpenID Connect issuer's published keys; repeatable [env: OIDC_ISSUERS, comma-separated]"),
    ("oidc-audience", "AUD", "Accept only tokens whose `aud` contains AUD [env: OIDC_AUDIENCE]"),
    ("oidc-identity-claim", "CLAIM", "The claim naming the caller [env: OIDC_IDENTITY_CLAIM] [default: sub]"),
    ("oidc-groups-claim", "CLAIM", "The claim listing the caller's groups [env: OIDC_GROUPS_CLAIM] [default: groups]"),
    ("oidc-leeway", "DURATION", "Clock skew allowed on `exp` and `nbf` [env: OIDC_LEEWAY] [default: 60s]"),
    (
        "oidc-refetch-interval",
        "DURATION",
        "Fetch an issuer's keys again for an unknown key ID at most once per DURATION [env: OIDC_REFETCH_INTERVAL] [default: 30s]",
    ),
];

/// Adds the `--oidc-*` flags to a command.
pub(crate) fn args(mut cmd: clap::Command) -> clap::Command {
    for (id, name, help) in FLAGS {
        let mut arg = clap::Arg::new(id).long(id).value_name(name).help(help);
        if id == "oidc-issuer" {
            arg = arg.action(clap::ArgAction::Append);
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

impl Settings {
    /// Reads the flags through `one(id, variable)` (a flag's value and the name to blame, else the
    /// variable's) and `list(id, variable)` (a repeatable flag's values, else the variable's,
    /// comma-separated).
    pub(crate) fn read(one: impl Fn(&str, &str) -> Option<(String, String)>, list: impl Fn(&str, &str) -> Vec<(String, String)>) -> Result<Settings, String> {
        let mut settings = Settings::default();
        for (source, issuer) in list("oidc-issuer", "OIDC_ISSUERS") {
            let host = issuer.strip_prefix("https://").or_else(|| issuer.strip_prefix("http://")).unwrap_or_default();
            if host.is_empty() || host.starts_with('/') || issuer.contains(['?', '#', ' ']) {
                return Err(format!("{source}: `{issuer}` is not an issuer URL (https://HOST[/PATH])"));
            }
            if !settings.issuers.contains(&issuer) {
                settings.issuers.push(issuer);
            }
        }
        settings.audience = one("oidc-audience", "OIDC_AUDIENCE").map(|(_, a)| a);
        for (id, var, field) in [("oidc-identity-claim", "OIDC_IDENTITY_CLAIM", &mut settings.identity_claim), ("oidc-groups-claim", "OIDC_GROUPS_CLAIM", &mut settings.groups_claim)] {
            if let Some((_, claim)) = one(id, var) {
                *field = claim.trim().to_owned();
            }
        }
        let time = |id: &str, var: &str| -> Result<Option<Duration>, String> {
            one(id, var).map(|(source, v)| crate::uws::limits::duration(&v).ok_or_else(|| format!("{source}: `{v}` is not a duration (seconds, or a number with s, m, h or d)"))).transpose()
        };
        if let Some(leeway) = time("oidc-leeway", "OIDC_LEEWAY")? {
            settings.leeway = leeway;
        }
        if let Some(interval) = time("oidc-refetch-interval", "OIDC_REFETCH_INTERVAL")? {
            settings.refetch_interval = interval;
        }
        Ok(settings)
    }

    /// Whether any issuer is trusted.
    pub fn enabled(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// The URL of an issuer's discovery document (OpenID Connect Discovery 1.0 §4):
    /// `ISSUER/.well-known/openid-configuration`.
    pub fn discovery_url(issuer: &str) -> String {
        format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
    }
}

/// The authenticator of `settings`: bearer tokens of its issuers (see [`Oidc`]). Must be called
/// inside the Tokio runtime, which then fetches the issuers' keys in the background.
#[cfg(feature = "oidc")]
pub fn authenticator(settings: &Settings) -> Result<std::sync::Arc<dyn crate::auth::Authenticator>, String> {
    Ok(std::sync::Arc::new(Oidc::new(settings.clone())?))
}

/// Without the `oidc` feature, issuers cannot be trusted.
#[cfg(not(feature = "oidc"))]
pub fn authenticator(_: &Settings) -> Result<std::sync::Arc<dyn crate::auth::Authenticator>, String> {
    Err("this server was built without the runtime's `oidc` feature".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)], env: &[(&str, &str)]) -> Result<Settings, String> {
        let one = |id: &str, var: &str| -> Option<(String, String)> {
            pairs.iter().find(|(k, _)| *k == id).map(|(_, v)| (format!("--{id}"), v.to_string())).or_else(|| env.iter().find(|(k, _)| *k == var).map(|(_, v)| (var.to_owned(), v.to_string())))
        };
        let list = |id: &str, var: &str| -> Vec<(String, String)> {
            let given: Vec<_> = pairs.iter().filter(|(k, _)| *k == id).map(|(_, v)| (format!("--{id}"), v.to_string())).collect();
            if !given.is_empty() {
                return given;
            }
            env.iter().filter(|(k, _)| *k == var).flat_map(|(_, v)| v.split(',').map(|s| (var.to_owned(), s.trim().to_owned()))).filter(|(_, s)| !s.is_empty()).collect()
        };
        Settings::read(one, list)
    }

    #[test]
    fn flags_and_environment() {
        let settings = read(&[], &[]).unwrap();
        assert_eq!(settings, Settings::default());
        assert!(!settings.enabled());
        let settings = read(&[("oidc-issuer", "https://a.org"), ("oidc-issuer", "https://b.org/realms/x"), ("oidc-leeway", "5"), ("oidc-groups-claim", "realm_access.roles")], &[("OIDC_ISSUERS", "https://c.org"), ("OIDC_AUDIENCE", "soda")]).unwrap();
        assert_eq!(settings.issuers, ["https://a.org", "https://b.org/realms/x"], "flags replace the variable");
        assert_eq!((settings.audience.as_deref(), settings.leeway, settings.groups_claim.as_str(), settings.identity_claim.as_str()), (Some("soda"), Duration::from_secs(5), "realm_access.roles", "sub"));
        let settings = read(&[("oidc-refetch-interval", "2m")], &[("OIDC_ISSUERS", "https://a.org, http://127.0.0.1:9000/")]).unwrap();
        assert_eq!(settings.issuers, ["https://a.org", "http://127.0.0.1:9000/"], "kept exactly as written");
        assert_eq!(settings.refetch_interval, Duration::from_secs(120));
        for bad in ["a.org", "https://", "ftp://a.org", "https://a.org/?x"] {
            assert!(read(&[("oidc-issuer", bad)], &[]).unwrap_err().contains("not an issuer URL"), "{bad}");
        }
        assert!(read(&[("oidc-leeway", "soon")], &[]).unwrap_err().contains("--oidc-leeway"));
    }

    #[test]
    fn discovery_urls() {
        assert_eq!(Settings::discovery_url("https://a.org"), "https://a.org/.well-known/openid-configuration");
        assert_eq!(Settings::discovery_url("https://a.org/realms/x/"), "https://a.org/realms/x/.well-known/openid-configuration");
    }
}
