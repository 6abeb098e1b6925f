//! Request-rate limits per caller: each authenticated identity has a budget of its own
//! (`--rate-limit N/PERIOD`), and anonymous callers share one budget per client address
//! (`--anonymous-rate-limit`, by default the same rate). A request over its caller's budget is
//! answered 429 with `Retry-After` (whole seconds until a request would pass, rounded up) and a
//! body in the operation's error format (`UsageError: …` in SODA text, a DALI VOTable, …); other
//! callers are not affected.
//!
//! Generated servers put each service operation, and every route of a UWS job list, behind
//! [`guard`] (inside the authentication, so that the identity is known). The landing page, the
//! docs, `openapi.json`, VOSI availability and capabilities, and the operations endpoints are
//! not counted: they are cheap, and monitors and registries must reach them whatever a client
//! has spent.
//!
//! A budget is a GCRA (the generic cell rate algorithm, a token bucket kept as one number): `N`
//! requests per `PERIOD` with a burst of `B` (default `N`) means that a caller who has been quiet
//! may send `B` requests at once, then one every `PERIOD / N`. Each caller costs one number, the
//! time at which its budget will be full again (its "theoretical arrival time"); a request
//! moves it on by `PERIOD / N` and passes if it stays within `B × PERIOD / N` of now.
//!
//! Memory is bounded: at most `--rate-limit-keys` callers of each kind are tracked (default
//! 100 000), in shards, each a mutex over a hash map, locked for a lookup and an addition (no
//! allocation for a caller already tracked). A caller whose budget is full again is the same as
//! one never seen, so it is forgotten first when a shard is full; if every caller of the shard is
//! still spending, the quarter closest to a full budget is forgotten, which can only give those
//! callers their budget back early — a client with many addresses cannot make the limiter refuse
//! anyone else, nor grow its memory.
//!
//! The client address of an anonymous request is its TCP peer's, or, when the peer is a trusted
//! proxy (`--trusted-proxy`), the client that the proxies report ([`crate::forwarded::client`]).
//! IPv6 addresses count by their `/64` network, the block one subscriber is usually given.

use crate::forwarded::Cidr;
use crate::ivoa::ErrorFormat;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A rate: `requests` per `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many requests per period.
    pub requests: u64,
    /// The period.
    pub period: Duration,
    /// How many requests a caller whose budget is full may send at once.
    pub burst: u64,
}

impl Rate {
    /// Reads `N/PERIOD` or `N/PERIOD,burst=B`: the period is a unit (`s`, `m`, `h`, `d`, or
    /// `second`, `minute`, `hour`, `day`), possibly after a number (`10s`, `15m`); `off` or `none`
    /// is no limit (`Ok(None)`).
    pub fn parse(text: &str) -> Result<Option<Rate>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") || text.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let wrong = || format!("`{text}` is not a rate (N/PERIOD, e.g. 100/m or 1000/h,burst=50; or off)");
        let (rate, burst) = match text.split_once(',') {
            Some((rate, burst)) => (rate, Some(burst.trim().strip_prefix("burst=").ok_or_else(wrong)?)),
            None => (text, None),
        };
        let (requests, period) = rate.split_once('/').ok_or_else(wrong)?;
        let count = |n: &str| n.trim().parse::<u64>().ok().filter(|n| (1..=1_000_000_000).contains(n));
        let requests = count(requests).ok_or_else(wrong)?;
        let period = period_of(period.trim()).ok_or_else(wrong)?;
        let burst = match burst {
            Some(b) => count(b).ok_or_else(wrong)?,
            None => requests,
        };
        Ok(Some(Rate { requests, period, burst }))
    }

    /// The time between two requests at the sustained rate, in nanoseconds (at least 1).
    fn interval(&self) -> u64 {
        (u64::try_from(self.period.as_nanos()).unwrap_or(u64::MAX) / self.requests).max(1)
    }
}

/// `10s`, `m`, `minute`, `2h`, `d`: a number of units (1 if none is written).
fn period_of(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = if number.is_empty() { 1 } else { number.parse::<u64>().ok()? };
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86400,
        _ => return None,
    };
    number.checked_mul(scale).filter(|s| (1..=366 * 86400).contains(s)).map(Duration::from_secs)
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.period.as_secs();
        let (n, unit) = match secs {
            s if s % 86400 == 0 => (s / 86400, "day"),
            s if s % 3600 == 0 => (s / 3600, "hour"),
            s if s % 60 == 0 => (s / 60, "minute"),
            s => (s, "second"),
        };
        match n {
            1 => write!(f, "{} per {unit}", self.requests)?,
            n => write!(f, "{} per {n} {unit}s", self.requests)?,
        }
        write!(f, ", {} at once", self.burst)
    }
}

/// The operator's rate limits, from the command line or the environment: no request-rate limit
/// by default, and [`DEFAULT_AUTH_FAILURES`] for failed authentications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// The budget of each authenticated identity (`--rate-limit`, env `RATE_LIMIT`).
    pub identified: Option<Rate>,
    /// The budget of each anonymous client address (`--anonymous-rate-limit`, env
    /// `ANONYMOUS_RATE_LIMIT`; default `--rate-limit`'s; `off` for none).
    pub anonymous: Option<Rate>,
    /// How many callers of each kind are tracked at most (`--rate-limit-keys`, env
    /// `RATE_LIMIT_KEYS`; default 100 000), client addresses with failed authentications too.
    pub keys: usize,
    /// The failed authentications each client address may make (`--auth-failure-limit`, env
    /// `AUTH_FAILURE_LIMIT`; default [`DEFAULT_AUTH_FAILURES`]; `off`: `None`). Read only for
    /// servers with authentication.
    pub auth_failures: Option<Rate>,
}

/// The default of `--rate-limit-keys`.
pub const DEFAULT_KEYS: usize = 100_000;

/// The default of `--auth-failure-limit`: 20 a minute, all 20 at once. Generous for a person who
/// mistypes a password and for a client whose token just expired; a guesser gets 20 tries a
/// minute, 28,800 a day, where a server answers thousands of 401s a second.
pub const DEFAULT_AUTH_FAILURES: Rate = Rate { requests: 20, period: Duration::from_secs(60), burst: 20 };

impl Default for Settings {
    fn default() -> Self {
        Settings { identified: None, anonymous: None, keys: DEFAULT_KEYS, auth_failures: Some(DEFAULT_AUTH_FAILURES) }
    }
}

/// The flag of [`Settings::auth_failures`], offered by servers with authentication: id, variable,
/// value name, help.
const AUTH_FAILURE_FLAG: (&str, &str, &str, &str) = (
    "auth-failure-limit",
    "AUTH_FAILURE_LIMIT",
    "N/PERIOD|off",
    "Failed authentications (credentials refused with 401) each client address may make, as --rate-limit; past it, every request of that address with credentials answers 429 with Retry-After, the credentials unchecked [default: 20/m]",
);

/// The flags: id, variable, value name, help.
const FLAGS: [(&str, &str, &str, &str); 3] = [
    (
        "rate-limit",
        "RATE_LIMIT",
        "N/PERIOD",
        "Requests each authenticated identity may make, e.g. 600/m or 10000/h,burst=100 (a quiet caller may send the burst, default N, at once, then one every PERIOD/N); more answers 429 with Retry-After. Also each anonymous client address's, unless --anonymous-rate-limit [default: off]",
    ),
    ("anonymous-rate-limit", "ANONYMOUS_RATE_LIMIT", "N/PERIOD|off", "Requests each anonymous client address (an IPv6 /64) may make [default: --rate-limit's]"),
    ("rate-limit-keys", "RATE_LIMIT_KEYS", "N", "Callers tracked per kind (identities, addresses) for the rate limits; past it, those with a full budget are forgotten first [default: 100000]"),
];

/// Adds the rate-limit flags to a command, and with `auth` (a server that authenticates) the
/// limit of failed authentications.
pub fn args(mut cmd: clap::Command, auth: bool) -> clap::Command {
    let auth_flag = auth.then_some(AUTH_FAILURE_FLAG);
    for (id, var, name, help) in FLAGS.into_iter().chain(auth_flag) {
        cmd = cmd.arg(clap::Arg::new(id).long(id).value_name(name).help(format!("{help} [env: {var}]")));
    }
    cmd
}

impl Settings {
    /// Reads the flags through `one(id, variable)` (a flag's value and the name to blame, else
    /// the variable's); the limit of failed authentications only with `auth`.
    pub fn read(one: impl Fn(&str, &str) -> Option<(String, String)>, auth: bool) -> Result<Settings, String> {
        let mut settings = Settings::default();
        let rate = |id: &str, var: &str| -> Result<Option<Option<Rate>>, String> { one(id, var).map(|(source, v)| Rate::parse(&v).map_err(|e| format!("{source}: {e}"))).transpose() };
        settings.identified = rate("rate-limit", "RATE_LIMIT")?.flatten();
        settings.anonymous = match rate("anonymous-rate-limit", "ANONYMOUS_RATE_LIMIT")? {
            Some(given) => given,
            None => settings.identified,
        };
        if let Some((source, n)) = one("rate-limit-keys", "RATE_LIMIT_KEYS") {
            settings.keys = n.trim().parse::<usize>().ok().filter(|n| (1..=1 << 26).contains(n)).ok_or_else(|| format!("{source}: `{n}` is not a number of keys (1 to 67108864)"))?;
        }
        if auth && let Some(given) = rate(AUTH_FAILURE_FLAG.0, AUTH_FAILURE_FLAG.1)? {
            settings.auth_failures = given;
        }
        Ok(settings)
    }

    /// Whether any request's rate is limited (the limit of failed authentications aside).
    pub fn enabled(&self) -> bool {
        self.identified.is_some() || self.anonymous.is_some()
    }
}

/// A server's rate limiter, shared by all its routes; cheap to clone. Off (every request passes,
/// at the cost of one branch) unless the configuration has limits.
#[derive(Clone, Default)]
pub struct Limiter(Option<Arc<Shared>>);

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(shared) => f.debug_struct("Limiter").field("identified", &shared.identified.as_ref().map(|t| t.rate)).field("anonymous", &shared.anonymous.as_ref().map(|t| t.rate)).finish(),
            None => f.write_str("Limiter(off)"),
        }
    }
}

struct Shared {
    identified: Option<Table<Box<str>>>,
    anonymous: Option<Table<IpAddr>>,
    trusted: Vec<Cidr>,
    epoch: Instant,
    /// Refusals by kind of caller, in the server's metrics: identified, anonymous.
    refused: [crate::metrics::Counter; 2],
}

/// Who was refused, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    identified: bool,
    rate: Rate,
    /// How long until a request of this caller would pass.
    wait: Duration,
}

impl Limiter {
    /// The limiter of `config`'s rate limits (`--rate-limit`, …), counting its refusals in
    /// `config.metrics` as `http_requests_limited_total{caller="identified"|"anonymous"}`; off
    /// without limits.
    pub fn new(config: &crate::serve::Config) -> Limiter {
        Limiter::with(&config.rate_limits, &config.trusted_proxies, &config.metrics)
    }

    /// A limiter of `settings`, believing the client addresses that `trusted` proxies report.
    pub fn with(settings: &Settings, trusted: &[Cidr], metrics: &crate::metrics::Metrics) -> Limiter {
        if !settings.enabled() {
            return Limiter(None);
        }
        let family = metrics.counter_family("http_requests_limited", "Requests refused with 429 by the request-rate limits, by kind of caller.", &["caller"]);
        Limiter(Some(Arc::new(Shared {
            identified: settings.identified.map(|rate| Table::new(rate, settings.keys)),
            anonymous: settings.anonymous.map(|rate| Table::new(rate, settings.keys)),
            trusted: trusted.to_vec(),
            epoch: Instant::now(),
            refused: [family.with(&["identified"]), family.with(&["anonymous"])],
        })))
    }

    /// A limiter that lets every request pass.
    pub fn off() -> Limiter {
        Limiter(None)
    }

    /// Whether any request is limited.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }
}

impl Shared {
    /// Counts the request with these extensions and headers against its caller's budget.
    fn check(&self, extensions: &http::Extensions, headers: &http::HeaderMap) -> Result<(), Refusal> {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        match extensions.get::<crate::auth::Identity>() {
            Some(identity) => match &self.identified {
                Some(table) => table.check(identity.0.as_str(), now, |k: &str| Box::from(k)).map_err(|wait| Refusal { identified: true, rate: table.rate, wait }),
                None => Ok(()),
            },
            None => match &self.anonymous {
                Some(table) => table.check(&client_address(extensions, headers, &self.trusted), now, |a| *a).map_err(|wait| Refusal { identified: false, rate: table.rate, wait }),
                None => Ok(()),
            },
        }
    }

    fn refuse(&self, refusal: Refusal, format: ErrorFormat) -> Response {
        self.refused[usize::from(!refusal.identified)].inc();
        let retry = retry_after(refusal.wait);
        let who = if refusal.identified { "this identity" } else { "this client address" };
        let message = format!("too many requests: {who} may make {}; retry after {retry} s", refusal.rate);
        let mut response = crate::ivoa::respond(format, StatusCode::TOO_MANY_REQUESTS, "rate", None, &message);
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(retry));
        response
    }
}

/// Whole seconds, rounded up, at least 1: what `Retry-After` says for a wait.
fn retry_after(wait: Duration) -> u64 {
    wait.as_nanos().div_ceil(1_000_000_000).max(1).try_into().unwrap_or(u64::MAX)
}

/// Who an anonymous request comes from, as every per-caller budget counts it (the rate limits,
/// failed authentications, UWS's active jobs): its client's address past the `trusted` proxies
/// (see [`crate::forwarded::client`]), IPv4-mapped addresses as IPv4, IPv6 as its `/64`; the
/// unspecified address when no peer is known (a request that did not come through
/// [`crate::serve::serve`]).
pub fn client_address(extensions: &http::Extensions, headers: &http::HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let Some(peer) = crate::serve::peer(extensions) else { return IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
    match crate::forwarded::client(headers, peer, trusted).to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// The number of shards of a table with room for `keys` callers: up to 32, each with room for at
/// least one.
fn shard_count(keys: usize) -> usize {
    keys.clamp(1, 32)
}

/// The budgets of one kind of caller: for each key, the time (in nanoseconds since the limiter
/// started) at which its budget is full again.
struct Table<K> {
    rate: Rate,
    /// `PERIOD / N`, in nanoseconds.
    interval: u64,
    /// `B × PERIOD / N`: how far ahead of now a caller's time may be after a request.
    tolerance: u64,
    shards: Box<[Mutex<HashMap<K, u64>>]>,
    /// Callers each shard keeps at most.
    per_shard: usize,
}

impl<K: Hash + Eq> Table<K> {
    fn new(rate: Rate, keys: usize) -> Table<K> {
        let interval = rate.interval();
        let shards = shard_count(keys);
        Table {
            rate,
            interval,
            tolerance: interval.saturating_mul(rate.burst),
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (keys / shards).max(1),
        }
    }

    /// Counts a request of `key` at `now`: `Err` with the wait until one would pass when over
    /// budget (the budget is then left as it was). `own` makes a key to keep, for a new caller
    /// only.
    fn check<Q>(&self, key: &Q, now: u64, own: impl FnOnce(&Q) -> K) -> Result<(), Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = Spread::shard(key, self.shards.len());
        let mut map = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(full_at) = map.get_mut(key) {
            *full_at = self.next(*full_at, now)?;
            return Ok(());
        }
        // A caller not tracked has a full budget, and the burst is at least one request.
        if map.len() >= self.per_shard {
            make_room(&mut map, now, self.per_shard);
        }
        map.insert(own(key), now.saturating_add(self.interval));
        Ok(())
    }

    /// Whether a request of `key` would pass at `now`, without counting it: `Err` with the wait
    /// until one would.
    fn peek<Q>(&self, key: &Q, now: u64) -> Result<(), Duration>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let map = self.shards[Spread::shard(key, self.shards.len())].lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).map_or(Ok(()), |&full_at| self.next(full_at, now).map(drop))
    }

    /// The time a caller's budget, full again at `full_at`, is full again after one more request
    /// at `now`; `Err` with the wait until the request would pass, when it is over budget.
    fn next(&self, full_at: u64, now: u64) -> Result<u64, Duration> {
        let next = full_at.max(now).saturating_add(self.interval);
        let ahead = next - now;
        if ahead > self.tolerance {
            return Err(Duration::from_nanos(ahead - self.tolerance));
        }
        Ok(next)
    }

    /// How many callers are tracked.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

/// The budget of failed authentications of each client address (`--auth-failure-limit`; see the
/// module's documentation), shared by every route of a server through its
/// [`crate::auth::Policy`]; cheap to clone. Off, it costs one branch a request with credentials.
#[derive(Clone, Default)]
pub struct Failures(Option<Arc<FailureBudgets>>);

struct FailureBudgets {
    table: Table<IpAddr>,
    trusted: Vec<Cidr>,
    epoch: Instant,
    /// Requests refused with 429, unchecked, in the server's metrics.
    refused: crate::metrics::Counter,
}

impl std::fmt::Debug for Failures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(budgets) => f.debug_tuple("Failures").field(&budgets.table.rate).finish(),
            None => f.write_str("Failures(off)"),
        }
    }
}

impl Failures {
    /// The budgets of `config`'s `--auth-failure-limit`, for client addresses past its trusted
    /// proxies, counting the requests it refuses in `config.metrics` as
    /// `http_auth_failures_limited_total`; off with `off`.
    pub fn new(config: &crate::serve::Config) -> Failures {
        Failures::with(config.rate_limits.auth_failures, config.rate_limits.keys, &config.trusted_proxies, &config.metrics)
    }

    /// Budgets of `rate` for at most `keys` client addresses (`None`: off), believing the client
    /// addresses that `trusted` proxies report.
    pub fn with(rate: Option<Rate>, keys: usize, trusted: &[Cidr], metrics: &crate::metrics::Metrics) -> Failures {
        Failures(rate.map(|rate| {
            Arc::new(FailureBudgets {
                table: Table::new(rate, keys),
                trusted: trusted.to_vec(),
                epoch: Instant::now(),
                refused: metrics.counter("http_auth_failures_limited", "Requests with credentials refused with 429, the credentials unchecked, because their client address failed to authenticate too often."),
            })
        }))
    }

    /// No budget: failed authentications are not limited.
    pub fn off() -> Failures {
        Failures(None)
    }

    /// When the client address of `request` has spent its budget of failed authentications: the
    /// answer to give in `format` instead of checking the credentials the request presents (429
    /// with `Retry-After`).
    pub fn spent<B>(&self, request: &http::Request<B>, format: ErrorFormat) -> Option<Response> {
        let budgets = self.0.as_ref()?;
        let wait = budgets.table.peek(&budgets.address(request), budgets.now()).err()?;
        budgets.refused.inc();
        let retry = retry_after(wait);
        let message = format!("too many failed authentications: this client address may fail {}; its credentials are not checked for {retry} s", budgets.table.rate);
        let mut response = crate::ivoa::respond(format, StatusCode::TOO_MANY_REQUESTS, "rate", None, &message);
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(retry));
        Some(response)
    }

    /// Counts a refusal of the credentials `request` presented against its client address's
    /// budget.
    pub fn charge<B>(&self, request: &http::Request<B>) {
        if let Some(budgets) = &self.0 {
            // Over budget already (requests refused at once, in parallel): it stays spent.
            let _ = budgets.table.check(&budgets.address(request), budgets.now(), |a| *a);
        }
    }
}

impl FailureBudgets {
    fn address<B>(&self, request: &http::Request<B>) -> IpAddr {
        client_address(request.extensions(), request.headers(), &self.trusted)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Chooses a key's shard: a multiply-rotate hash (as rustc's `FxHasher`), a fraction of the
/// cost of the maps' keyed SipHash. A client who could aim at one shard gains nothing: every
/// shard is bounded, and what a full one forgets is budget still owed, never a budget in use.
#[derive(Default)]
struct Spread(u64);

impl Spread {
    fn shard<Q: Hash + ?Sized>(key: &Q, shards: usize) -> usize {
        let mut hasher = Spread::default();
        key.hash(&mut hasher);
        // The high half, mixed most, scaled to the number of shards.
        (((hasher.0 >> 32) * shards as u64) >> 32) as usize
    }

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for Spread {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut last = [0; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.add(u64::from_le_bytes(last));
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Frees room in a full shard: forgets the callers whose budget is full again (the same as never
/// seen); if that is not a quarter of `capacity`, also the callers closest to a full budget, down
/// to three quarters, so that the next quarter of new callers find room without a scan.
fn make_room<K: Hash + Eq>(map: &mut HashMap<K, u64>, now: u64, capacity: usize) {
    map.retain(|_, full_at| *full_at > now);
    let target = capacity - capacity.div_ceil(4);
    if map.len() <= target {
        return;
    }
    let mut times: Vec<u64> = map.values().copied().collect();
    let forget = times.len() - target;
    let (_, threshold, _) = times.select_nth_unstable(forget - 1);
    let threshold = *threshold;
    map.retain(|_, full_at| *full_at > threshold);
}

/// `inner` (an operation's handler, or a route) behind `limiter`, refusals written in `format`:
/// what a generated router mounts for each method of a service operation, inside the
/// authentication so that the caller's identity is known.
pub fn guard<S>(limiter: &Limiter, format: ErrorFormat, inner: S) -> Guard<S> {
    Guard { inner, shared: limiter.0.clone(), format }
}

/// [`guard`] as a tower layer (for a whole router, through `route_layer`: a UWS job list).
#[derive(Clone)]
pub struct Layer {
    shared: Option<Arc<Shared>>,
    format: ErrorFormat,
}

impl Layer {
    /// The layer of `limiter`, refusals written in `format`.
    pub fn new(limiter: &Limiter, format: ErrorFormat) -> Layer {
        Layer { shared: limiter.0.clone(), format }
    }
}

impl<S> tower::Layer<S> for Layer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard { inner, shared: self.shared.clone(), format: self.format }
    }
}

/// The service [`guard`] and [`Layer`] make.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    shared: Option<Arc<Shared>>,
    format: ErrorFormat,
}

impl<S> tower::Service<Request> for Guard<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Limited<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some(shared) = &self.shared
            && let Err(refusal) = shared.check(request.extensions(), request.headers())
        {
            return Limited { state: State::Refused { answer: Some(shared.refuse(refusal, self.format)) } };
        }
        Limited { state: State::Passed { inner: self.inner.call(request) } }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Guard`]: the route's, or the refusal.
    pub struct Limited<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProjection]
    enum State<F> {
        // The request passed: the route's future.
        Passed { #[pin] inner: F },
        // The request is over its caller's budget.
        Refused { answer: Option<Response> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Limited<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Passed { inner } => inner.poll(cx),
            StateProjection::Refused { answer } => Poll::Ready(Ok(answer.take().unwrap_or_default())),
        }
    }
}

#[cfg(test)]
mod tests;
