//! Authentication as AuthVO (formerly IAP) describes it: credentials read from the request, checked
//! by the service's [`Authenticator`], `WWW-Authenticate` challenges telling clients where and how
//! to log in, `X-VO-Authenticated` naming who was recognised, and a CSRF guard for form posts
//! authenticated by cookie (SQR-063 §3).
//!
//! Generated servers wrap each route in an [`AuthLayer`] with the operation's [`Modality`] and
//! the challenges of its security schemes. Bearer tokens may also be OpenID Connect tokens of
//! trusted issuers ([`crate::oidc`]): then bearer schemes announce those issuers too.

use axum::extract::Request;
use axum::response::Response;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, ORIGIN, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// How a security scheme carries credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemeKind {
    /// `Authorization: Bearer TOKEN` (http bearer).
    Bearer,
    /// `Authorization: Basic …` (http basic, RFC 7617).
    Basic,
    /// A session cookie of this name (apiKey in cookie).
    Cookie(&'static str),
    /// A client certificate, checked by a TLS-terminating proxy that passes the subject in the
    /// configured header (mutualTLS).
    ClientCertificate,
}

/// One security scheme: how credentials arrive, and the challenge sent for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    /// Where the credentials are.
    pub kind: SchemeKind,
    /// The challenge's auth-scheme: `ivoa_bearer`, `ivoa_cookie`, `ivoa_x509`, `Bearer`, `Basic`.
    pub challenge: &'static str,
    /// The challenge's parameters, in order (`standard_id`, `access_url`, `discovery_url`, `realm`).
    pub parameters: &'static [(&'static str, &'static str)],
}

impl Scheme {
    /// The `WWW-Authenticate` value: `ivoa_bearer standard_id="…", discovery_url="…"`.
    pub fn challenge_value(&self) -> String {
        challenge(self.challenge, self.parameters)
    }
}

/// A `WWW-Authenticate` value: the auth-scheme, then each parameter as a quoted string.
fn challenge(scheme: &str, parameters: &[(&str, &str)]) -> String {
    let mut value = scheme.to_owned();
    add_parameters(&mut value, parameters);
    value
}

/// Appends parameters to a challenge that may already have some.
fn add_parameters(value: &mut String, parameters: &[(&str, &str)]) {
    for (name, v) in parameters {
        value.push_str(if value.contains(' ') { ", " } else { " " });
        value.push_str(name);
        value.push_str("=\"");
        value.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
        value.push('"');
    }
}

/// The AuthVO challenge announcing an OpenID Connect issuer whose tokens a bearer scheme accepts:
/// `ivoa_bearer standard_id="ivo://ivoa.net/sso#OAuth", discovery_url="ISSUER/.well-known/openid-configuration"`.
pub fn issuer_challenge(issuer: &str) -> String {
    challenge("ivoa_bearer", &[("standard_id", "ivo://ivoa.net/sso#OAuth"), ("discovery_url", &crate::oidc::Settings::discovery_url(issuer))])
}

/// Whether an operation needs authentication (from its OpenAPI `security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// No security requirement: no challenge is sent, credentials are still honoured.
    None,
    /// `{}` among the requirements: anonymous requests are served, with the challenges attached.
    Optional,
    /// Anonymous requests get 401 with every challenge.
    Required,
}

/// Credentials found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token.
    Bearer(String),
    /// A user name and password.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// The value of a session cookie.
    Cookie(String),
    /// The subject of a client certificate, as the proxy passed it.
    ClientCertificate(String),
}

/// What an authenticator concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The credentials are good: this is who sent them.
    Authenticated(String),
    /// The credentials are good: this is who sent them, and the groups they say the identity
    /// belongs to (an OpenID Connect token's groups claim), which reach the service as [`Groups`].
    Member {
        /// Who sent them.
        identity: String,
        /// The groups of `identity`, possibly none.
        groups: Arc<[String]>,
    },
    /// The credentials are good but this identity may not use the service: 403.
    Forbidden(String),
    /// The credentials are not valid: 401 with the challenges.
    Invalid,
    /// The credentials are not valid, for this reason (one line, for the client): 401 with the
    /// challenges. For a bearer token, the bearer challenges also carry RFC 6750's
    /// `error="invalid_token"` with the reason as `error_description`.
    Rejected(String),
}

/// The identity of an authenticated request, in the request's extensions (UWS uses it as the job
/// owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity(pub String);

/// The groups of an authenticated request's identity, in the request's extensions beside its
/// [`Identity`] when the authenticator said them ([`Outcome::Member`]: an OpenID Connect token's
/// groups claim, `--oidc-groups-claim`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Groups(pub Arc<[String]>);

impl Groups {
    /// Whether the identity is a member of `group`.
    pub fn contains(&self, group: &str) -> bool {
        self.0.iter().any(|g| g == group)
    }

    /// The groups of the request whose extensions these are: none if anonymous or said by no one.
    pub fn of(extensions: &http::Extensions) -> Groups {
        extensions.get::<Groups>().cloned().unwrap_or_default()
    }
}

/// Who sent a request, as the service sees it: the typed request of an operation with `security`
/// carries it (its `caller` field), and a UWS job's request carries its owner's, as the job was
/// created (the groups are those the owner had then).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Caller {
    /// The authenticated identity; `None` for an anonymous caller.
    pub identity: Option<String>,
    /// The identity's groups, as its authenticator said them; none for an anonymous caller.
    pub groups: Groups,
}

impl Caller {
    /// The caller of the request whose extensions these are ([`Identity`] and [`Groups`]).
    pub fn of(extensions: &http::Extensions) -> Caller {
        Caller { identity: extensions.get::<Identity>().map(|i| i.0.clone()), groups: Groups::of(extensions) }
    }

    /// An authenticated caller in `groups`.
    pub fn member(identity: impl Into<String>, groups: &[&str]) -> Caller {
        Caller { identity: Some(identity.into()), groups: Groups(groups.iter().map(|g| (*g).to_owned()).collect()) }
    }

    /// Whether the caller is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.identity.is_some()
    }

    /// Whether the caller is an authenticated member of any of `groups`.
    pub fn in_any(&self, groups: &[String]) -> bool {
        self.identity.is_some() && groups.iter().any(|g| self.groups.contains(g))
    }
}

/// Checks credentials: the service's token validation, session store, user database.
pub trait Authenticator: Send + Sync + 'static {
    /// Who `credential` belongs to.
    fn authenticate<'a>(&'a self, credential: &'a Credential) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;
}

/// Recognises nobody: every credential is invalid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Nobody;

impl Authenticator for Nobody {
    fn authenticate<'a>(&'a self, _: &'a Credential) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async { Outcome::Invalid })
    }
}

/// The development authenticator: credentials listed in a file, one per line —
/// `TOKEN IDENTITY` (a bearer token or session cookie value), `basic:USER:PASSWORD IDENTITY`,
/// `cert:SUBJECT IDENTITY`, each optionally followed by the identity's groups separated by commas
/// (`t-alice alice staff,survey`: they reach the service as [`Groups`], as an OpenID Connect
/// token's would); a line `forbidden IDENTITY` makes that identity 403. `#` starts a comment. Not
/// for production: the secrets sit in a file in clear.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFile {
    identities: HashMap<String, Listed>,
    forbidden: Vec<String>,
}

/// An identity of the token file, and its groups if the line gives them.
type Listed = (String, Option<Arc<[String]>>);

impl TokenFile {
    /// Reads the file.
    pub fn load(path: &std::path::Path) -> Result<TokenFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<TokenFile, String> {
        let mut file = TokenFile::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(key), Some(identity), groups, None) = (words.next(), words.next(), words.next(), words.next()) else {
                return Err(format!("line {}: expected `CREDENTIAL IDENTITY [GROUP,…]`", n + 1));
            };
            if key == "forbidden" {
                if groups.is_some() {
                    return Err(format!("line {}: expected `forbidden IDENTITY`", n + 1));
                }
                file.forbidden.push(identity.to_owned());
            } else {
                let groups = groups.map(|g| g.split(',').filter(|g| !g.is_empty()).map(str::to_owned).collect::<Arc<[String]>>());
                file.identities.insert(key.to_owned(), (identity.to_owned(), groups));
            }
        }
        Ok(file)
    }
}

impl Authenticator for TokenFile {
    fn authenticate<'a>(&'a self, credential: &'a Credential) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        let key = match credential {
            Credential::Bearer(t) | Credential::Cookie(t) => t.clone(),
            Credential::Basic { user, password } => format!("basic:{user}:{password}"),
            Credential::ClientCertificate(subject) => format!("cert:{subject}"),
        };
        let outcome = match self.identities.get(&key) {
            Some((id, _)) if self.forbidden.contains(id) => Outcome::Forbidden(id.clone()),
            Some((id, None)) => Outcome::Authenticated(id.clone()),
            Some((id, Some(groups))) => Outcome::Member { identity: id.clone(), groups: groups.clone() },
            None => Outcome::Invalid,
        };
        Box::pin(async move { outcome })
    }
}

/// Asks each authenticator in turn: the first that recognises the credentials (or forbids them)
/// decides; if none does, the credentials are invalid, with the last reason given
/// ([`Outcome::Rejected`]) if any.
#[derive(Clone, Default)]
pub struct Chain(pub Vec<Arc<dyn Authenticator>>);

impl Authenticator for Chain {
    fn authenticate<'a>(&'a self, credential: &'a Credential) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
        Box::pin(async move {
            let mut refusal = Outcome::Invalid;
            for authenticator in &self.0 {
                match authenticator.authenticate(credential).await {
                    Outcome::Invalid => {}
                    rejected @ Outcome::Rejected(_) => refusal = rejected,
                    decided => return decided,
                }
            }
            refusal
        })
    }
}

/// The authenticator of a generated server's flags, which it uses unless the service provides its
/// own: the [`TokenFile`] of `--auth-tokens` and the OpenID Connect issuers of `--oidc-issuer`
/// ([`crate::oidc`]), the file asked first when there are both; [`Nobody`] without either. Must
/// be called inside the Tokio runtime when issuers are configured (their keys are fetched in the
/// background from then on).
pub fn configured(config: &crate::serve::Config) -> Result<Arc<dyn Authenticator>, crate::serve::StartError> {
    let mut chain: Vec<Arc<dyn Authenticator>> = Vec::new();
    if let Some(path) = &config.auth_tokens {
        chain.push(Arc::new(TokenFile::load(path).map_err(crate::serve::StartError::AuthTokens)?));
    }
    if config.oidc.enabled() {
        chain.push(crate::oidc::authenticator(&config.oidc).map_err(crate::serve::StartError::Oidc)?);
    }
    Ok(match chain.len() {
        0 => Arc::new(Nobody),
        1 => chain.remove(0),
        _ => Arc::new(Chain(chain)),
    })
}

/// [`configured`], under its former name.
pub fn development(config: &crate::serve::Config) -> Result<Arc<dyn Authenticator>, crate::serve::StartError> {
    configured(config)
}

/// What every route of a server shares: the authenticator and where client certificates arrive.
#[derive(Clone)]
pub struct Policy {
    /// Checks credentials.
    pub authenticator: Arc<dyn Authenticator>,
    /// The header a TLS-terminating proxy puts the client certificate's subject in.
    pub client_certificate_header: Option<HeaderName>,
    /// Refuse GET on DALI-sync operations (they may change state): answered 405, POST still works.
    pub refuse_sync_get: bool,
    /// The OpenID Connect issuers whose tokens bearer schemes accept (`--oidc-issuer`): each is
    /// announced by an `ivoa_bearer` challenge beside the scheme's own.
    pub oidc_issuers: Vec<String>,
    /// The budget of failed authentications of each client address (`--auth-failure-limit`).
    pub auth_failures: crate::quota::Failures,
}

impl Policy {
    /// The policy of a generated server: `authenticator`, with `--client-cert-header`,
    /// `--refuse-sync-get` and `--auth-failure-limit` from `config`.
    pub fn new(authenticator: Arc<dyn Authenticator>, config: &crate::serve::Config) -> Policy {
        Policy {
            authenticator,
            client_certificate_header: config.client_cert_header.as_deref().and_then(|h| HeaderName::try_from(h).ok()),
            refuse_sync_get: config.refuse_sync_get,
            oidc_issuers: config.oidc.issuers.clone(),
            auth_failures: crate::quota::Failures::new(config),
        }
    }
}

/// The per-route settings of [`AuthLayer`] and [`guard`].
#[derive(Clone)]
pub struct Gate {
    /// The shared policy.
    pub policy: Policy,
    /// The route's modality.
    pub modality: Modality,
    /// The schemes the route accepts, in the order their challenges are sent.
    pub schemes: &'static [Scheme],
    /// How errors are written.
    pub format: crate::ivoa::ErrorFormat,
    /// Whether the route is a DALI-sync operation (for `refuse_sync_get`).
    pub sync: bool,
    /// `x-ivoa-groups`: when not empty, only identities in one of these [`Groups`] are served;
    /// an anonymous caller gets 401 with the challenges (authentication is required whatever the
    /// modality), an authenticated one in none of them 403 `AuthorizationError`.
    pub groups: &'static [&'static str],
    /// The `WWW-Authenticate` values of `schemes` (and of the policy's OpenID Connect issuers),
    /// written once.
    challenges: Vec<HeaderValue>,
    /// Those values as text, and whether a refused bearer token's `error="invalid_token"` is
    /// added to each.
    bearer_errors: Vec<(String, bool)>,
}

impl Gate {
    /// The settings of one route.
    pub fn new(policy: Policy, modality: Modality, schemes: &'static [Scheme], format: crate::ivoa::ErrorFormat, sync: bool) -> Gate {
        // Each scheme's challenge; after a bearer scheme's, one `ivoa_bearer` per trusted issuer.
        let mut texts: Vec<(String, bool)> = Vec::new();
        let mut push = |text: String, bearer: bool| {
            if !texts.iter().any(|(t, _)| *t == text) {
                texts.push((text, bearer));
            }
        };
        for scheme in schemes {
            let bearer = scheme.kind == SchemeKind::Bearer;
            push(scheme.challenge_value(), bearer);
            if bearer {
                for issuer in &policy.oidc_issuers {
                    push(issuer_challenge(issuer), true);
                }
            }
        }
        // RFC 6750's error goes on the plain `Bearer` challenges; failing those, on every bearer one.
        let plain = |t: &str| t.split(' ').next().is_some_and(|s| s.eq_ignore_ascii_case("bearer"));
        let any_plain = texts.iter().any(|(t, bearer)| *bearer && plain(t));
        let bearer_errors: Vec<(String, bool)> = texts.into_iter().map(|(t, bearer)| {
            let target = bearer && (!any_plain || plain(&t));
            (t, target)
        }).collect();
        let challenges = bearer_errors.iter().filter_map(|(t, _)| HeaderValue::try_from(t.as_str()).ok()).collect();
        Gate { policy, modality, schemes, format, sync, groups: &[], challenges, bearer_errors }
    }

    /// This gate, serving only members of one of `groups` (`x-ivoa-groups`; none: everyone).
    pub fn with_groups(mut self, groups: &'static [&'static str]) -> Gate {
        self.groups = groups;
        self
    }

    /// Whether the route needs an authenticated caller: its modality is required, or it
    /// admits only some groups.
    fn required(&self) -> bool {
        self.modality == Modality::Required || !self.groups.is_empty()
    }

    /// The challenges of a 401 for a refused bearer token: the bearer challenges carry
    /// `error="invalid_token"` and `description` (made safe for a quoted string, at most 200
    /// characters).
    fn invalid_token(&self, description: &str) -> Vec<HeaderValue> {
        let safe: String = description.chars().take(200).map(|c| if c == '"' || c == '\\' { '\'' } else if c == ' ' || c.is_ascii_graphic() { c } else { '?' }).collect();
        self.bearer_errors
            .iter()
            .filter_map(|(text, target)| {
                let mut text = text.clone();
                if *target {
                    add_parameters(&mut text, &[("error", "invalid_token"), ("error_description", &safe)]);
                }
                HeaderValue::try_from(text).ok()
            })
            .collect()
    }
}

fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// An `Authorization` header of a scheme the route does not accept, or not well formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedAuthorization;

/// The credentials of a request for the schemes a route accepts: `Ok(None)` for none, `Err` for an
/// `Authorization` header it cannot read.
pub fn credential(headers: &http::HeaderMap, schemes: &[Scheme], certificate_header: Option<&HeaderName>) -> Result<Option<Credential>, MalformedAuthorization> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().map_err(|_| MalformedAuthorization)?;
        let (scheme, rest) = value.split_once(' ').ok_or(MalformedAuthorization)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") && schemes.iter().any(|s| s.kind == SchemeKind::Bearer) {
            return Ok(Some(Credential::Bearer(rest.to_owned())));
        }
        if scheme.eq_ignore_ascii_case("basic") && schemes.iter().any(|s| s.kind == SchemeKind::Basic) {
            let decoded = base64_decode(rest).ok_or(MalformedAuthorization)?;
            let text = String::from_utf8(decoded).map_err(|_| MalformedAuthorization)?;
            let (user, password) = text.split_once(':').ok_or(MalformedAuthorization)?;
            return Ok(Some(Credential::Basic { user: user.to_owned(), password: password.to_owned() }));
        }
        return Err(MalformedAuthorization);
    }
    if let Some(header) = certificate_header
        && schemes.iter().any(|s| s.kind == SchemeKind::ClientCertificate)
        && let Some(subject) = headers.get(header).and_then(|v| v.to_str().ok()).filter(|s| !s.is_empty())
    {
        return Ok(Some(Credential::ClientCertificate(subject.to_owned())));
    }
    for scheme in schemes {
        if let SchemeKind::Cookie(name) = scheme.kind
            && let Some(value) = cookie(headers, name)
        {
            return Ok(Some(Credential::Cookie(value.to_owned())));
        }
    }
    Ok(None)
}

pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let take = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    Some(out)
}

/// Whether a state-changing request is a cross-site "simple" form post, which a browser would send
/// with the victim's cookies (SQR-063 §3): POST/PUT/PATCH/DELETE with a form or text body, whose
/// `Sec-Fetch-Site` says cross-site or whose `Origin` is not the request's own host.
pub fn cross_site_form(method: &Method, headers: &http::HeaderMap) -> bool {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return false;
    }
    let media = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let simple = media.is_empty() || ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"].contains(&media.as_str());
    if !simple {
        return false;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match (headers.get(ORIGIN).and_then(|v| v.to_str().ok()), headers.get(HOST).and_then(|v| v.to_str().ok())) {
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) != Some(host),
        (Some(_), None) => true,
        // No Origin and no Sec-Fetch-Site: not a browser (curl, pyvo), or a same-origin one.
        (None, _) => false,
    }
}

fn refuse(gate: &Gate, status: StatusCode, rule: &str, message: &str, challenge: bool) -> Response {
    let mut response = crate::ivoa::respond(gate.format, status, rule, None, message);
    if challenge {
        add_challenges(&mut response, &gate.challenges);
    }
    response
}

fn add_challenges(response: &mut Response, challenges: &[HeaderValue]) {
    for value in challenges {
        response.headers_mut().append(WWW_AUTHENTICATE, value.clone());
    }
}

/// The middleware of one route, as a tower layer: authenticates, enforces the modality, guards
/// against cross-site form posts authenticated by cookie, and marks the response.
///
/// An anonymous request the route may serve (the common case of a public archive) takes a fast
/// path with no allocation: the route's own future, with the challenges appended when the
/// modality is optional. Requests with credentials go through the authenticator.
#[derive(Clone)]
pub struct AuthLayer(Arc<Gate>);

impl AuthLayer {
    /// The layer of a route with these settings.
    pub fn new(gate: Arc<Gate>) -> AuthLayer {
        AuthLayer(gate)
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, gate: self.0.clone() }
    }
}

/// `inner` behind `gate`: what a generated router mounts for each method of a secured route.
/// Unlike [`AuthLayer`] as a `route_layer`, which boxes the route a second time, this costs
/// nothing per request beyond the gate itself.
pub fn guard<S>(gate: &Arc<Gate>, inner: S) -> AuthService<S> {
    AuthService { inner, gate: gate.clone() }
}

/// The service [`AuthLayer`] wraps a route in.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    gate: Arc<Gate>,
}

/// Whether a request carries anything a scheme of the route reads.
fn has_credentials(headers: &http::HeaderMap, gate: &Gate) -> bool {
    headers.contains_key(AUTHORIZATION)
        || gate.policy.client_certificate_header.as_ref().is_some_and(|h| headers.contains_key(h))
        || (gate.schemes.iter().any(|s| matches!(s.kind, SchemeKind::Cookie(_))) && headers.contains_key(COOKIE))
}

impl<S> tower::Service<Request> for AuthService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let gate = &self.gate;
        let refused_get = gate.sync && gate.policy.refuse_sync_get && request.method() == Method::GET;
        if !refused_get && !gate.required() && !has_credentials(request.headers(), gate) {
            let challenge = (gate.modality == Modality::Optional).then(|| gate.clone());
            return AuthFuture { state: State::Anonymous { inner: self.inner.call(request), challenge } };
        }
        // The inner service was made ready for this call; a clone takes its place.
        let ready = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, ready);
        AuthFuture { state: State::Checked { future: Box::pin(checked(self.gate.clone(), inner, request)) } }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`AuthService`].
    pub struct AuthFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F> {
        // An anonymous request: the route's own future, then the challenges (optional modality).
        Anonymous { #[pin] inner: F, challenge: Option<Arc<Gate>> },
        // A request whose credentials are being checked, then the route.
        Checked { future: Pin<Box<dyn Future<Output = Response> + Send>> },
    }
}

impl<F: Future<Output = Result<Response, std::convert::Infallible>>> Future for AuthFuture<F> {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Anonymous { inner, challenge } => inner.poll(cx).map(|result| {
                result.map(|mut response| {
                    if let Some(gate) = challenge {
                        add_challenges(&mut response, &gate.challenges);
                    }
                    response
                })
            }),
            StateProjection::Checked { future } => future.as_mut().poll(cx).map(Ok),
        }
    }
}

async fn checked<S>(gate: Arc<Gate>, mut inner: S, mut request: Request) -> Response
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    if gate.sync && gate.policy.refuse_sync_get && request.method() == Method::GET {
        return refuse(&gate, StatusCode::METHOD_NOT_ALLOWED, "method", "this service takes sync requests by POST only", false);
    }
    let presented = credential(request.headers(), gate.schemes, gate.policy.client_certificate_header.as_ref());
    // An address that failed too often is not told whether what it presents is right.
    if presented != Ok(None) && let Some(spent) = gate.policy.auth_failures.spent(&request, gate.format) {
        return spent;
    }
    let credential = match presented {
        Ok(c) => c,
        // Where nothing is required, a header this service cannot read is not the client's fault.
        Err(MalformedAuthorization) if gate.modality == Modality::None && gate.groups.is_empty() => None,
        Err(MalformedAuthorization) => {
            gate.policy.auth_failures.charge(&request);
            return refuse(&gate, StatusCode::UNAUTHORIZED, "authentication", "the Authorization header is not one this service reads", true);
        }
    };
    let mut identity = None;
    let mut member_of: Option<Arc<[String]>> = None;
    if let Some(credential) = &credential {
        if matches!(credential, Credential::Cookie(_)) && cross_site_form(request.method(), request.headers()) {
            return refuse(&gate, StatusCode::FORBIDDEN, "authorization", "a cross-site form post authenticated by cookie is refused", false);
        }
        let outcome = gate.policy.authenticator.authenticate(credential).await;
        if matches!(outcome, Outcome::Invalid | Outcome::Rejected(_)) {
            gate.policy.auth_failures.charge(&request);
        }
        match outcome {
            Outcome::Authenticated(id) => identity = Some(id),
            Outcome::Member { identity: id, groups } => {
                member_of = Some(groups.clone());
                request.extensions_mut().insert(Groups(groups));
                identity = Some(id);
            }
            Outcome::Forbidden(id) => {
                let mut response = refuse(&gate, StatusCode::FORBIDDEN, "authorization", &format!("`{id}` may not use this service"), false);
                if let Ok(value) = HeaderValue::try_from(id) {
                    response.headers_mut().insert("x-vo-authenticated", value);
                }
                return response;
            }
            Outcome::Invalid => return refuse(&gate, StatusCode::UNAUTHORIZED, "authentication", "the credentials are not valid", true),
            Outcome::Rejected(reason) if matches!(credential, Credential::Bearer(_)) => {
                let mut response = refuse(&gate, StatusCode::UNAUTHORIZED, "authentication", &format!("the bearer token is not valid: {reason}"), false);
                add_challenges(&mut response, &gate.invalid_token(&reason));
                return response;
            }
            Outcome::Rejected(reason) => return refuse(&gate, StatusCode::UNAUTHORIZED, "authentication", &format!("the credentials are not valid: {reason}"), true),
        }
    }
    if identity.is_none() && gate.required() {
        return refuse(&gate, StatusCode::UNAUTHORIZED, "authentication", "this endpoint needs authentication", true);
    }
    if let (false, Some(id)) = (gate.groups.is_empty(), &identity) {
        let groups = member_of.unwrap_or_else(|| Arc::from(Vec::new()));
        if !gate.groups.iter().any(|allowed| groups.iter().any(|g| g == allowed)) {
            let mut response = refuse(&gate, StatusCode::FORBIDDEN, "authorization", &format!("`{id}` is in none of the groups allowed here ({})", gate.groups.join(", ")), false);
            if let Ok(value) = HeaderValue::try_from(id.as_str()) {
                response.headers_mut().insert("x-vo-authenticated", value);
            }
            return response;
        }
    }
    if let Some(id) = &identity {
        request.extensions_mut().insert(Identity(id.clone()));
    }
    let Ok(mut response) = inner.call(request).await;
    match identity {
        Some(id) => {
            if let Ok(value) = HeaderValue::try_from(id) {
                response.headers_mut().insert("x-vo-authenticated", value);
            }
        }
        None if gate.modality == Modality::Optional => add_challenges(&mut response, &gate.challenges),
        None => {}
    }
    response
}

/// The UWS owner of a request: its [`Identity`], if authenticated.
pub fn owner(parts: &http::request::Parts) -> Option<String> {
    parts.extensions.get::<Identity>().map(|i| i.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMES: &[Scheme] = &[
        Scheme { kind: SchemeKind::Bearer, challenge: "ivoa_bearer", parameters: &[("standard_id", "ivo://ivoa.net/sso#OAuth"), ("discovery_url", "https://a.org/.well-known/oauth-authorization-server")] },
        Scheme { kind: SchemeKind::Basic, challenge: "Basic", parameters: &[("realm", "archive")] },
        Scheme { kind: SchemeKind::Cookie("session"), challenge: "ivoa_cookie", parameters: &[("standard_id", "ivo://ivoa.net/sso#tls-with-password"), ("access_url", "https://a.org/login")] },
        Scheme { kind: SchemeKind::ClientCertificate, challenge: "ivoa_x509", parameters: &[] },
    ];

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::try_from(*k).unwrap(), HeaderValue::try_from(*v).unwrap())).collect()
    }

    #[test]
    fn challenges_are_written_as_authvo_shows_them() {
        assert_eq!(SCHEMES[0].challenge_value(), "ivoa_bearer standard_id=\"ivo://ivoa.net/sso#OAuth\", discovery_url=\"https://a.org/.well-known/oauth-authorization-server\"");
        assert_eq!(SCHEMES[3].challenge_value(), "ivoa_x509");
    }

    #[test]
    fn credentials_are_read_from_each_place() {
        let cert = HeaderName::from_static("x-client-subject");
        assert_eq!(credential(&headers(&[("authorization", "Bearer abc")]), SCHEMES, None), Ok(Some(Credential::Bearer("abc".into()))));
        assert_eq!(credential(&headers(&[("authorization", "Basic dXNlcjpwYTpzcw==")]), SCHEMES, None), Ok(Some(Credential::Basic { user: "user".into(), password: "pa:ss".into() })));
        assert_eq!(credential(&headers(&[("cookie", "a=1; session=xyz")]), SCHEMES, None), Ok(Some(Credential::Cookie("xyz".into()))));
        assert_eq!(credential(&headers(&[("x-client-subject", "CN=Alice")]), SCHEMES, Some(&cert)), Ok(Some(Credential::ClientCertificate("CN=Alice".into()))));
        assert_eq!(credential(&headers(&[("x-client-subject", "CN=Alice")]), SCHEMES, None), Ok(None), "no configured header, no certificate");
        assert_eq!(credential(&headers(&[("authorization", "Negotiate x")]), SCHEMES, None), Err(MalformedAuthorization));
        assert_eq!(credential(&headers(&[("authorization", "Basic !!")]), SCHEMES, None), Err(MalformedAuthorization));
        assert_eq!(credential(&headers(&[]), SCHEMES, None), Ok(None));
    }

    #[test]
    fn cross_site_form_posts_are_told_apart() {
        let form = ("content-type", "application/x-www-form-urlencoded");
        assert!(cross_site_form(&Method::POST, &headers(&[form, ("sec-fetch-site", "cross-site")])));
        assert!(cross_site_form(&Method::POST, &headers(&[form, ("origin", "https://evil.org"), ("host", "archive.org")])));
        assert!(!cross_site_form(&Method::POST, &headers(&[form, ("sec-fetch-site", "same-origin")])));
        assert!(!cross_site_form(&Method::POST, &headers(&[form, ("origin", "https://archive.org"), ("host", "archive.org")])));
        assert!(!cross_site_form(&Method::POST, &headers(&[("content-type", "application/json"), ("sec-fetch-site", "cross-site")])), "not a simple request");
        assert!(!cross_site_form(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!cross_site_form(&Method::POST, &headers(&[form])), "no browser headers: not a browser");
    }

    /// Answers a bearer token `good` as `alice` of group `g`, and refuses others saying why.
    struct Judge;

    impl Authenticator for Judge {
        fn authenticate<'a>(&'a self, credential: &'a Credential) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> {
            Box::pin(async move {
                match credential {
                    Credential::Bearer(t) if t == "good" => Outcome::Member { identity: "alice".into(), groups: Arc::from(["g".to_owned()]) },
                    Credential::Bearer(_) => Outcome::Rejected("the token has \"expired\"\u{e9}".into()),
                    _ => Outcome::Invalid,
                }
            })
        }
    }

    fn policy(authenticator: Arc<dyn Authenticator>, issuers: &[&str]) -> Policy {
        Policy { authenticator, client_certificate_header: None, refuse_sync_get: false, oidc_issuers: issuers.iter().map(|s| s.to_string()).collect(), auth_failures: crate::quota::Failures::off() }
    }

    const SODA: &[Scheme] = &[Scheme { kind: SchemeKind::Bearer, challenge: "Bearer", parameters: &[] }, Scheme { kind: SchemeKind::Basic, challenge: "Basic", parameters: &[("realm", "SODA")] }];

    fn texts(values: &[HeaderValue]) -> Vec<&str> {
        values.iter().map(|v| v.to_str().unwrap()).collect()
    }

    #[test]
    fn trusted_issuers_are_announced_beside_bearer_schemes() {
        let issuers = ["https://a.org", "https://b.org/realms/x/"];
        let gate = Gate::new(policy(Arc::new(Nobody), &issuers), Modality::Optional, SODA, crate::ivoa::ErrorFormat::SodaText, false);
        let a = "ivoa_bearer standard_id=\"ivo://ivoa.net/sso#OAuth\", discovery_url=\"https://a.org/.well-known/openid-configuration\"";
        let b = "ivoa_bearer standard_id=\"ivo://ivoa.net/sso#OAuth\", discovery_url=\"https://b.org/realms/x/.well-known/openid-configuration\"";
        assert_eq!(texts(&gate.challenges), ["Bearer", a, b, "Basic realm=\"SODA\""]);
        // RFC 6750's error on the plain Bearer challenge only, made safe for a quoted string.
        let refused = gate.invalid_token("the token has \"expired\"\u{e9}");
        assert_eq!(texts(&refused), ["Bearer error=\"invalid_token\", error_description=\"the token has 'expired'?\"", a, b, "Basic realm=\"SODA\""]);
        // A spec whose bearer scheme is already an ivoa_bearer: the error goes on the bearer ones.
        let gate = Gate::new(policy(Arc::new(Nobody), &issuers[..1]), Modality::Required, &SCHEMES[..2], crate::ivoa::ErrorFormat::SodaText, false);
        let own = SCHEMES[0].challenge_value();
        assert_eq!(texts(&gate.challenges), [own.as_str(), a, "Basic realm=\"archive\""]);
        let refused = gate.invalid_token("x");
        assert!(refused[0].to_str().unwrap().ends_with("-server\", error=\"invalid_token\", error_description=\"x\""), "{refused:?}");
        assert!(refused[1].to_str().unwrap().starts_with("ivoa_bearer standard_id") && refused[1].to_str().unwrap().ends_with("error_description=\"x\""));
        assert_eq!(refused[2], "Basic realm=\"archive\"");
        // No issuers: the schemes' challenges, as before.
        let gate = Gate::new(policy(Arc::new(Nobody), &[]), Modality::Optional, SODA, crate::ivoa::ErrorFormat::SodaText, false);
        assert_eq!(texts(&gate.challenges), ["Bearer", "Basic realm=\"SODA\""]);
    }

    #[tokio::test]
    async fn a_refused_bearer_token_gets_invalid_token_and_a_member_its_groups() {
        use tower::ServiceExt;
        let gate = Arc::new(Gate::new(policy(Arc::new(Judge), &["https://a.org"]), Modality::Optional, SODA, crate::ivoa::ErrorFormat::SodaText, false));
        let route = guard(
            &gate,
            tower::service_fn(|request: Request| async move {
                let groups = Groups::of(request.extensions());
                Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::from(format!("{}", groups.contains("g")))))
            }),
        );
        let call = |token: &str| {
            let request = http::Request::builder().uri("/x").header("authorization", format!("Bearer {token}")).body(axum::body::Body::empty()).unwrap();
            route.clone().oneshot(request)
        };
        let refused = call("bad").await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<_> = refused.headers().get_all(WWW_AUTHENTICATE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert_eq!(challenges.len(), 3);
        assert_eq!(challenges[0], "Bearer error=\"invalid_token\", error_description=\"the token has 'expired'?\"");
        let body = axum::body::to_bytes(refused.into_body(), 1 << 16).await.unwrap();
        assert!(String::from_utf8_lossy(&body).starts_with("AuthenticationError: the bearer token is not valid: the token has"), "{body:?}");
        let served = call("good").await.unwrap();
        assert_eq!((served.status(), served.headers().get("x-vo-authenticated").map(|v| v.to_str().unwrap())), (StatusCode::OK, Some("alice")));
        assert_eq!(axum::body::to_bytes(served.into_body(), 64).await.unwrap(), "true", "the groups reach the service");
    }

    #[tokio::test]
    async fn a_chain_asks_each_authenticator_in_turn() {
        let file = TokenFile::parse("t-bob bob\nt-eve eve\nforbidden eve\n").unwrap();
        let chain = Chain(vec![Arc::new(file), Arc::new(Judge)]);
        assert_eq!(chain.authenticate(&Credential::Bearer("t-bob".into())).await, Outcome::Authenticated("bob".into()));
        assert_eq!(chain.authenticate(&Credential::Bearer("t-eve".into())).await, Outcome::Forbidden("eve".into()));
        assert!(matches!(chain.authenticate(&Credential::Bearer("good".into())).await, Outcome::Member { .. }));
        assert!(matches!(chain.authenticate(&Credential::Bearer("other".into())).await, Outcome::Rejected(_)), "the reason is kept");
        assert_eq!(chain.authenticate(&Credential::Cookie("other".into())).await, Outcome::Invalid);
        assert_eq!(Chain(Vec::new()).authenticate(&Credential::Cookie("x".into())).await, Outcome::Invalid);
    }

    #[tokio::test]
    async fn the_token_file_names_identities() {
        let file = TokenFile::parse("# dev\nt-alice alice\nbasic:bob:pw bob\ncert:CN=Carol carol\nt-eve eve\nforbidden eve\n").unwrap();
        assert_eq!(file.authenticate(&Credential::Bearer("t-alice".into())).await, Outcome::Authenticated("alice".into()));
        assert_eq!(file.authenticate(&Credential::Basic { user: "bob".into(), password: "pw".into() }).await, Outcome::Authenticated("bob".into()));
        assert_eq!(file.authenticate(&Credential::ClientCertificate("CN=Carol".into())).await, Outcome::Authenticated("carol".into()));
        assert_eq!(file.authenticate(&Credential::Cookie("t-eve".into())).await, Outcome::Forbidden("eve".into()));
        assert_eq!(file.authenticate(&Credential::Bearer("nope".into())).await, Outcome::Invalid);
        assert!(TokenFile::parse("just-one-word").is_err());
    }

    #[tokio::test]
    async fn the_token_file_gives_groups_after_the_identity() {
        let file = TokenFile::parse("t-alice alice staff,survey
t-bob bob
").unwrap();
        let groups: Arc<[String]> = vec!["staff".to_owned(), "survey".to_owned()].into();
        assert_eq!(file.authenticate(&Credential::Bearer("t-alice".into())).await, Outcome::Member { identity: "alice".into(), groups });
        assert_eq!(file.authenticate(&Credential::Bearer("t-bob".into())).await, Outcome::Authenticated("bob".into()));
        assert!(TokenFile::parse("t a g h").is_err());
        assert!(TokenFile::parse("forbidden eve staff").is_err());
    }

    #[tokio::test]
    async fn a_gate_with_groups_serves_members_only_and_needs_authentication() {
        use tower::ServiceExt;
        let file = TokenFile::parse("t-alice alice staff,survey
t-bob bob public
t-carol carol
").unwrap();
        // Even an optional modality requires authentication once groups are named.
        let gate = Arc::new(Gate::new(policy(Arc::new(file), &[]), Modality::Optional, SODA, crate::ivoa::ErrorFormat::SodaText, false).with_groups(&["survey"]));
        let route = guard(&gate, tower::service_fn(|_: Request| async { Ok::<_, std::convert::Infallible>(Response::new(axum::body::Body::from("ok"))) }));
        let call = |token: Option<&str>| {
            let mut request = http::Request::builder().uri("/x");
            if let Some(token) = token {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            route.clone().oneshot(request.body(axum::body::Body::empty()).unwrap())
        };
        assert_eq!(call(Some("t-alice")).await.unwrap().status(), StatusCode::OK);
        for token in ["t-bob", "t-carol"] {
            let refused = call(Some(token)).await.unwrap();
            assert_eq!(refused.status(), StatusCode::FORBIDDEN);
            assert!(refused.headers().get(WWW_AUTHENTICATE).is_none());
            let body = axum::body::to_bytes(refused.into_body(), 1 << 16).await.unwrap();
            assert!(String::from_utf8_lossy(&body).starts_with("AuthorizationError: "), "{body:?}");
        }
        let anonymous = call(None).await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert!(anonymous.headers().get(WWW_AUTHENTICATE).is_some());
    }
}
