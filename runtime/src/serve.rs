//! Running a generated server: command-line flags, environment, binding, graceful shutdown.

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What a generated `main` tells the runtime about its program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// The binary's name, e.g. `soda-cutout-server`.
    pub name: &'static str,
    /// Its version, `env!("CARGO_PKG_VERSION")`.
    pub version: &'static str,
    /// The API's title, one line.
    pub about: &'static str,
    /// The path of the spec's first server (`""` or `/soda`): the default `--base-path`.
    pub base_path: &'static str,
    /// The spec has `x-ivoa-uws`: `--job-store` is offered.
    pub uws: bool,
    /// The spec declares security schemes the runtime enforces: `--auth-tokens`,
    /// `--client-cert-header` and the `--oidc-*` flags are offered.
    pub auth: bool,
    /// Some operation is DALI-sync (`x-ivoa-sync`): `--refuse-sync-get` is offered.
    pub sync: bool,
    /// The service's own flags (`Api::FLAGS`), offered beside the runtime's.
    pub service_flags: &'static [Flag],
}

/// A command-line flag of the service's own, taking a value, with the environment variable that
/// sets it when the flag is not given; its value reaches the service in [`Config::service`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// The flag without its dashes (`async-results`).
    pub name: &'static str,
    /// What its value is, for `--help` (`each|combined`).
    pub value_name: &'static str,
    /// The environment variable (`SODA_ASYNC_RESULTS`).
    pub env: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
}

/// Where and how a server listens; and the handles through which its parts register what an
/// operator watches ([`Config::metrics`], [`Config::health`]), shared by the clones of a
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The socket address to bind (`--bind`, env `BIND`; else, with env `PORT`, `0.0.0.0:PORT`;
    /// default `127.0.0.1:8080`).
    pub bind: SocketAddr,
    /// The path under which every endpoint is mounted (`--base-path`, env `BASE_PATH`; a generated
    /// server's default is the path of its spec's first server). Empty, or starts with `/` and
    /// never ends with one.
    pub base_path: String,
    /// The URL clients reach the service at, when it is behind a proxy (`--public-url`, env
    /// `PUBLIC_URL`); VOSI capabilities and result links are built from it. Without it, the URL
    /// comes from the request (see [`crate::forwarded`]).
    pub public_url: Option<String>,
    /// The direct peers whose `Forwarded`/`X-Forwarded-*` headers are believed (`--trusted-proxy`,
    /// repeatable, env `TRUSTED_PROXIES` comma-separated; default loopback, which a given list
    /// replaces; `none` trusts nobody).
    pub trusted_proxies: Vec<crate::forwarded::Cidr>,
    /// Where the service keeps its state — UWS jobs and results (`--data-dir`, env `DATA_DIR`;
    /// default `data`).
    pub data_dir: std::path::PathBuf,
    /// Whether `data_dir` was configured rather than defaulted (a service may fill a default
    /// directory with sample data).
    pub data_dir_given: bool,
    /// Where UWS jobs are kept, as a URL (`--job-store`, env `JOB_STORE`; default
    /// `sqlite:DATA_DIR/jobs.sqlite`): `sqlite:PATH`, or `postgresql://…` (`postgres://…`) for
    /// a store shared by replicas.
    pub job_store: Option<String>,
    /// The IVOA authority of the publisher DIDs this service resolves (`--authority`, env
    /// `AUTHORITY`), as `ivo://authority` or `ivo://authority/path`.
    pub authority: Option<String>,
    /// The development authenticator's credentials file (`--auth-tokens`, env `AUTH_TOKENS`; see
    /// [`crate::auth::TokenFile`]).
    pub auth_tokens: Option<std::path::PathBuf>,
    /// The header in which a TLS-terminating proxy passes the client certificate's subject
    /// (`--client-cert-header`, env `CLIENT_CERT_HEADER`).
    pub client_cert_header: Option<String>,
    /// The OpenID Connect issuers whose bearer tokens are accepted, and how their tokens are read
    /// (`--oidc-*`; see [`crate::oidc`]).
    pub oidc: crate::oidc::Settings,
    /// Refuse GET on DALI-sync operations, which may change state (`--refuse-sync-get`, env
    /// `REFUSE_SYNC_GET=1`).
    pub refuse_sync_get: bool,
    /// Origins allowed to call the service from a browser (`--cors-origin`, repeatable, env
    /// `CORS_ORIGINS` comma-separated; none by default: no CORS headers at all).
    pub cors_origins: Vec<String>,
    /// Serve the human-facing pages: the landing page and the API documentation (`--no-docs`, env
    /// `NO_DOCS=1`, turns them off; default on).
    pub docs: bool,
    /// The UWS engine's limits (`--uws-*`, env `UWS_*`; only for a spec with UWS).
    pub uws: crate::uws::limits::Limits,
    /// The most connections served at once (`--max-connections`, env `MAX_CONNECTIONS`; default
    /// the process's open-file limit less 256, at least 64; 1024 where it cannot be read); more
    /// wait in the listen backlog.
    pub max_connections: usize,
    /// How long a request body may pause between bytes (`--body-timeout`, env `BODY_TIMEOUT`, in
    /// seconds; default 30): then it is answered 408 and the connection closed.
    pub body_timeout: Duration,
    /// How long a whole request body may take (`--body-deadline`, env `BODY_DEADLINE`, in
    /// seconds; default 600).
    pub body_deadline: Duration,
    /// What multipart requests' large files may hold in temporary files, each and all at once
    /// (`--max-upload`, `--upload-space`; see [`crate::body::UploadLimits`]).
    pub upload_limits: crate::body::UploadLimits,
    /// The request-rate limits per caller (`--rate-limit`, `--anonymous-rate-limit`,
    /// `--rate-limit-keys`; none by default) and the failed authentications per client address
    /// (`--auth-failure-limit`; see [`crate::quota`]).
    pub rate_limits: crate::quota::Settings,
    /// The values of the service's own flags ([`Program::service_flags`]) that were given, by
    /// flag name, from the command line or else the environment.
    pub service: std::collections::BTreeMap<String, String>,
    /// Serve the operations endpoints — `/metrics`, `/healthz`, `/readyz` — on a listener of
    /// their own at this address (`--metrics-addr`, env `METRICS_ADDR`; none by default, and then
    /// no metrics are kept).
    pub metrics_addr: Option<SocketAddr>,
    /// Serve the operations endpoints on the main listener too, under the base path
    /// (`--metrics`, env `METRICS=1`; off by default): to whoever can reach the service.
    pub metrics_on_main: bool,
    /// How the server writes to stderr (`--log-format`, env `LOG_FORMAT`: `text`, the default, or
    /// `json`, which adds a line per request).
    pub log_format: crate::observe::LogFormat,
    /// The server's metrics registry: the runtime's request metrics, and whatever a part of the
    /// server registers (see [`crate::metrics`]); exported only when the operator asks.
    pub metrics: crate::metrics::Metrics,
    /// The server's readiness checks, which `/readyz` runs (see [`crate::health`]).
    pub health: crate::health::Health,
}

/// A positive size in bytes: a whole number, with an optional `K`, `M`, `G` or `T` (powers of
/// 1024; `KiB`, `MB`… and lower case too).
fn bytes(source: &str, value: &str) -> Result<u64, String> {
    let text = value.trim();
    let unit_at = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let shift = match unit.to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => u32::MAX,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0 && shift < 64)
        .and_then(|n| n.checked_mul(1u64 << shift.min(63)))
        .ok_or_else(|| format!("{source}: `{value}` is not a positive size in bytes (a whole number, with K, M, G or T for powers of 1024)"))
}

/// The limits [`serve_with`] holds connections to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// [`Config::max_connections`].
    pub max_connections: usize,
    /// [`Config::body_timeout`].
    pub body_timeout: Duration,
    /// [`Config::body_deadline`].
    pub body_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: default_max_connections(), body_timeout: Duration::from_secs(30), body_deadline: Duration::from_secs(600) }
    }
}

/// Descriptors left for what is not a connection: open datasets, the job store, results, logs.
const SPARE_DESCRIPTORS: usize = 256;

/// The default of `--max-connections`: the process's limit of open files (its soft
/// `RLIMIT_NOFILE`, from `/proc/self/limits`) less [`SPARE_DESCRIPTORS`], at least 64; 1024 where
/// the limit cannot be read.
fn default_max_connections() -> usize {
    static DEFAULT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let soft = limits.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)).and_then(|n| n.parse::<usize>().ok());
        match soft {
            Some(n) => n.saturating_sub(SPARE_DESCRIPTORS).max(64),
            None => 1024,
        }
    })
}

impl Config {
    /// The connection limits of this configuration.
    pub fn limits(&self) -> Limits {
        Limits { max_connections: self.max_connections, body_timeout: self.body_timeout, body_deadline: self.body_deadline }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_path: String::new(),
            public_url: None,
            trusted_proxies: crate::forwarded::Cidr::loopback(),
            data_dir: std::path::PathBuf::from("data"),
            data_dir_given: false,
            job_store: None,
            authority: None,
            auth_tokens: None,
            client_cert_header: None,
            oidc: crate::oidc::Settings::default(),
            refuse_sync_get: false,
            cors_origins: Vec::new(),
            docs: true,
            uws: crate::uws::limits::Limits::default(),
            max_connections: Limits::default().max_connections,
            body_timeout: Limits::default().body_timeout,
            body_deadline: Limits::default().body_deadline,
            upload_limits: crate::body::UploadLimits::default(),
            rate_limits: crate::quota::Settings::default(),
            service: std::collections::BTreeMap::new(),
            metrics_addr: None,
            metrics_on_main: false,
            log_format: crate::observe::LogFormat::Text,
            metrics: crate::metrics::Metrics::new(),
            health: crate::health::Health::new(),
        }
    }
}

/// Where the router is mounted, for handlers that build absolute URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// The configured public URL, if any.
    pub public_url: Option<String>,
    /// The base path the router is nested under.
    pub base_path: String,
    /// The direct peers whose forwarding headers are believed (none by default).
    pub trusted_proxies: Vec<crate::forwarded::Cidr>,
    /// The server's readiness checks, which VOSI availability consults.
    pub health: crate::health::Health,
}

impl Mount {
    /// The base URL of the service as the client of a request with `headers`, reaching this
    /// server from `peer` (the TCP remote address), sees it: the public URL if one is configured,
    /// else the one [`crate::forwarded::base_url`] finds.
    pub fn base_url(&self, headers: &http::HeaderMap, peer: Option<std::net::IpAddr>) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => crate::forwarded::base_url(headers, peer, &self.trusted_proxies, &self.base_path),
        }
    }
}

/// Why [`Config::parse`] gave no configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `--help` or `--version` was asked for: print this text to stdout and exit with 0.
    Info(String),
    /// The command line or the environment is wrong: print this (which ends with the usage line)
    /// to stderr and exit with 2.
    Usage(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Info(text) | Stop::Usage(text) => f.write_str(text),
        }
    }
}

/// Reads a boolean environment variable: `1`, `true`, `yes`, `on` or `0`, `false`, `no`, `off`,
/// empty (any case).
fn env_flag(name: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{name}: `{value}` is not a boolean (1, true, 0, false)")),
    }
}

/// The command line a program offers: only the flags its spec needs.
fn command(program: &Program) -> clap::Command {
    use clap::{Arg, ArgAction};
    let base_path = if program.base_path.trim_end_matches('/').is_empty() { "/" } else { program.base_path.trim_end_matches('/') };
    let value = |id: &'static str, name: &'static str, help: String| Arg::new(id).long(id).value_name(name).help(help);
    let mut cmd = clap::Command::new(program.name)
        .version(program.version)
        .about(program.about.lines().next().unwrap_or_default().to_owned())
        .args_override_self(true)
        .disable_help_subcommand(true)
        .after_help("Flags win over environment variables. Behind a reverse proxy, the URL clients see (for VOSI capabilities, DataLink and UWS links) is --public-url if given, else the scheme, host, port and path prefix a trusted proxy sends in `Forwarded` or `X-Forwarded-{Proto,Host,Port,Prefix}`, else the request's Host; plus the base path.")
        .arg(value("bind", "ADDR:PORT", "Address and port to listen on [env: BIND] [default: 127.0.0.1:8080; with env PORT set, as container platforms do: 0.0.0.0:$PORT]".to_owned()))
        .arg(value("base-path", "PATH", format!("Mount every endpoint under PATH [env: BASE_PATH] [default: {base_path}]")))
        .arg(value("public-url", "URL", "The service's URL as clients see it, overriding what proxies say [env: PUBLIC_URL]".to_owned()))
        .arg(
            value("trusted-proxy", "ADDR|CIDR", "A proxy whose Forwarded/X-Forwarded-* headers are believed; repeatable, the list replaces the default; `none` trusts no one [env: TRUSTED_PROXIES, comma-separated] [default: 127.0.0.0/8, ::1]".to_owned())
                .action(ArgAction::Append),
        )
        .arg(value("data-dir", "DIR", "Where the service keeps its data, jobs and results [env: DATA_DIR] [default: ./data]".to_owned()));
    if program.uws {
        cmd = cmd.arg(value("job-store", "URL", "Where UWS jobs are kept [env: JOB_STORE] [default: sqlite:DATA_DIR/jobs.sqlite]".to_owned()));
        cmd = crate::uws::limits::args(cmd);
    }
    cmd = cmd.arg(value("authority", "IVOID", "The authority of the publisher DIDs served, ivo://... [env: AUTHORITY]".to_owned()));
    if program.auth {
        cmd = cmd
            .arg(value("auth-tokens", "FILE", "Development authenticator: a file of credentials and identities [env: AUTH_TOKENS]".to_owned()))
            .arg(value("client-cert-header", "NAME", "Header carrying a client certificate's subject from a TLS proxy [env: CLIENT_CERT_HEADER]".to_owned()));
        cmd = crate::oidc::args(cmd);
    }
    if program.sync {
        cmd = cmd.arg(Arg::new("refuse-sync-get").long("refuse-sync-get").action(ArgAction::SetTrue).help("Answer GET on DALI-sync operations with 405; POST works [env: REFUSE_SYNC_GET=1]"));
    }
    for flag in program.service_flags {
        cmd = cmd.arg(value(flag.name, flag.value_name, format!("{} [env: {}]", flag.help, flag.env)));
    }
    let cmd = cmd.arg(value("cors-origin", "URL", "Allow browser calls from this origin; repeatable [env: CORS_ORIGINS, comma-separated]".to_owned()).action(ArgAction::Append))
        .arg(Arg::new("no-docs").long("no-docs").action(ArgAction::SetTrue).help("Do not serve the landing page and API documentation [env: NO_DOCS=1]"))
        .arg(value("max-connections", "N", "Serve at most N connections at once; more wait to be accepted [env: MAX_CONNECTIONS] [default: the open-file limit less 256; 1024 if unknown]".to_owned()))
        .arg(value("body-timeout", "SECS", "Answer 408 and close when a request body pauses this long [env: BODY_TIMEOUT] [default: 30]".to_owned()))
        .arg(value("body-deadline", "SECS", "Answer 408 and close when a request body is not whole after this long [env: BODY_DEADLINE] [default: 600]".to_owned()))
        .arg(value("max-upload", "BYTES", "Answer 413 when a multipart request's files are larger than this (K, M, G: powers of 1024) [env: MAX_UPLOAD] [default: 1G]".to_owned()))
        .arg(value("upload-space", "BYTES", "Answer 503 when the temporary files of all requests' uploads would hold more than this [env: UPLOAD_SPACE] [default: 4G]".to_owned()))
        .arg(value("metrics-addr", "ADDR:PORT", "Serve /metrics, /healthz and /readyz on a listener of their own, e.g. 127.0.0.1:9100 (port 0: any free one) [env: METRICS_ADDR] [default: none, no metrics]".to_owned()))
        .arg(Arg::new("metrics").long("metrics").action(ArgAction::SetTrue).help("Serve /metrics, /healthz and /readyz on the main listener too, under the base path, to whoever reaches it [env: METRICS=1]"))
        .arg(value("log-format", "text|json", "text: a line when the server starts or fails; json: those, and a line per request (method, route, status, latency, request id, peer), as JSON objects [env: LOG_FORMAT] [default: text]".to_owned()));
    crate::quota::args(cmd, program.auth)
}

impl Config {
    /// Reads the configuration of `program` from `args` (without the program name) and the
    /// environment variables returned by `env`; flags win over the environment. Only the flags
    /// `program` needs exist (and only their variables are read).
    pub fn parse(program: &Program, args: impl IntoIterator<Item = String>, env: impl Fn(&str) -> Option<String>) -> Result<Config, Stop> {
        let mut cmd = command(program);
        let matches = match cmd.try_get_matches_from_mut(std::iter::once(program.name.to_owned()).chain(args)) {
            Ok(matches) => matches,
            Err(e) => {
                let text = e.render().to_string();
                return Err(if e.use_stderr() { Stop::Usage(text) } else { Stop::Info(text) });
            }
        };
        Self::from_matches(program, &matches, env).map_err(|message| Stop::Usage(cmd.error(clap::error::ErrorKind::InvalidValue, message).render().to_string()))
    }

    fn from_matches(program: &Program, matches: &clap::ArgMatches, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        // A flag's value and the name to blame for it, else its variable's (empty means unset).
        let one = |id: &str, var: &str| -> Option<(String, String)> {
            match matches.try_get_one::<String>(id).ok().flatten() {
                Some(v) => Some((format!("--{id}"), v.clone())),
                None => env(var).filter(|v| !v.is_empty()).map(|v| (var.to_owned(), v)),
            }
        };
        let flag = |id: &str, var: &str| -> Result<bool, String> {
            if matches.get_flag(id) {
                return Ok(true);
            }
            env(var).map_or(Ok(false), |v| env_flag(var, &v))
        };
        let list = |id: &str, var: &str| -> Vec<(String, String)> {
            match matches.get_many::<String>(id) {
                Some(values) => values.map(|v| (format!("--{id}"), v.clone())).collect(),
                None => env(var).map(|v| v.split(',').map(|o| (var.to_owned(), o.trim().to_owned())).filter(|(_, o)| !o.is_empty()).collect()).unwrap_or_default(),
            }
        };
        let mut config = Config { base_path: program.base_path.trim_end_matches('/').to_owned(), ..Config::default() };
        for flag in program.service_flags {
            if let Some((_, value)) = one(flag.name, flag.env) {
                config.service.insert(flag.name.to_owned(), value);
            }
        }
        if let Some((source, bind)) = one("bind", "BIND") {
            config.bind = bind.parse().map_err(|_| format!("{source}: `{bind}` is not an ADDRESS:PORT"))?;
        } else if let Some(port) = env("PORT").filter(|p| !p.is_empty()) {
            let port: u16 = port.parse().map_err(|_| format!("PORT: `{port}` is not a port number"))?;
            config.bind = SocketAddr::from(([0, 0, 0, 0], port));
        }
        if let Some((source, path)) = one("base-path", "BASE_PATH") {
            let trimmed = path.trim_end_matches('/');
            if !trimmed.is_empty() && !trimmed.starts_with('/') {
                return Err(format!("{source}: `{path}` must start with `/`"));
            }
            config.base_path = trimmed.to_owned();
        }
        if let Some((source, url)) = one("public-url", "PUBLIC_URL") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("{source}: `{url}` must start with http:// or https://"));
            }
            config.public_url = Some(url.trim_end_matches('/').to_owned());
        }
        let proxies = list("trusted-proxy", "TRUSTED_PROXIES");
        if !proxies.is_empty() {
            config.trusted_proxies.clear();
            for (source, proxy) in proxies {
                if proxy.eq_ignore_ascii_case("none") {
                    continue;
                }
                config.trusted_proxies.push(proxy.parse().map_err(|e| format!("{source}: {e}"))?);
            }
        }
        if let Some((_, dir)) = one("data-dir", "DATA_DIR") {
            config.data_dir = dir.into();
            config.data_dir_given = true;
        }
        let positive = |source: &str, value: &str| -> Result<u64, String> {
            value.trim().parse::<u64>().ok().filter(|&n| n > 0).ok_or_else(|| format!("{source}: `{value}` is not a positive whole number"))
        };
        if let Some((source, n)) = one("max-connections", "MAX_CONNECTIONS") {
            config.max_connections = usize::try_from(positive(&source, &n)?).unwrap_or(usize::MAX).min(1 << 20);
        }
        if let Some((source, secs)) = one("body-timeout", "BODY_TIMEOUT") {
            config.body_timeout = Duration::from_secs(positive(&source, &secs)?);
        }
        if let Some((source, secs)) = one("body-deadline", "BODY_DEADLINE") {
            config.body_deadline = Duration::from_secs(positive(&source, &secs)?);
        }
        if let Some((source, size)) = one("max-upload", "MAX_UPLOAD") {
            config.upload_limits.per_request = bytes(&source, &size)?;
        }
        if let Some((source, size)) = one("upload-space", "UPLOAD_SPACE") {
            config.upload_limits.all = bytes(&source, &size)?;
        }
        config.rate_limits = crate::quota::Settings::read(one, program.auth)?;
        if let Some((source, url)) = one("job-store", "JOB_STORE").filter(|_| program.uws) {
            let postgres = ["postgresql://", "postgres://"].iter().any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
            if !postgres && (!url.starts_with("sqlite:") || url.len() == "sqlite:".len()) {
                return Err(format!("{source}: `{url}` is not a job store URL (sqlite:PATH or postgresql://HOST/DATABASE)"));
            }
            config.job_store = Some(url);
        }
        if program.uws {
            config.uws = crate::uws::limits::Limits::read(one)?;
        }
        if let Some((source, authority)) = one("authority", "AUTHORITY") {
            if !authority.starts_with("ivo://") || authority.len() == "ivo://".len() || authority.contains('?') {
                return Err(format!("{source}: `{authority}` is not an IVOA identifier (ivo://authority[/path])"));
            }
            config.authority = Some(authority.trim_end_matches('/').to_owned());
        }
        if program.auth {
            config.auth_tokens = one("auth-tokens", "AUTH_TOKENS").map(|(_, t)| t.into());
            if let Some((source, header)) = one("client-cert-header", "CLIENT_CERT_HEADER") {
                http::HeaderName::try_from(header.as_str()).map_err(|_| format!("{source}: `{header}` is not a header name"))?;
                config.client_cert_header = Some(header);
            }
            config.oidc = crate::oidc::Settings::read(one, list)?;
        }
        if program.sync {
            config.refuse_sync_get = flag("refuse-sync-get", "REFUSE_SYNC_GET")?;
        }
        for (source, origin) in list("cors-origin", "CORS_ORIGINS") {
            if !(origin.starts_with("http://") || origin.starts_with("https://")) || origin.trim_start_matches("https://").trim_start_matches("http://").contains('/') {
                return Err(format!("{source}: `{origin}` is not an origin (scheme://host[:port])"));
            }
            config.cors_origins.push(origin);
        }
        config.docs = !flag("no-docs", "NO_DOCS")?;
        if let Some((source, addr)) = one("metrics-addr", "METRICS_ADDR") {
            config.metrics_addr = Some(addr.parse().map_err(|_| format!("{source}: `{addr}` is not an ADDRESS:PORT"))?);
        }
        config.metrics_on_main = flag("metrics", "METRICS")?;
        if let Some((source, format)) = one("log-format", "LOG_FORMAT") {
            config.log_format = crate::observe::LogFormat::parse(&format).ok_or_else(|| format!("{source}: `{format}` is not a log format (text, json)"))?;
        }
        Ok(config)
    }

    /// The file of the SQLite job store (`None`: the store is PostgreSQL's).
    pub fn job_store_path(&self) -> Option<std::path::PathBuf> {
        match &self.job_store {
            Some(url) => url.strip_prefix("sqlite:").map(std::path::PathBuf::from),
            None => Some(self.data_dir.join("jobs.sqlite")),
        }
    }
}

/// Gives handlers the configuration they need to build absolute URLs, and each request its id,
/// its metrics and its log line (see [`crate::observe`]; the operations endpoints under the base
/// path with `--metrics`), in one layer on every route; CORS, when origins are configured. The
/// router's routes must already include the base path (generated crates:
/// `router_at(service, &config.base_path)`): routing under a prefix directly is much cheaper than
/// `Router::nest`, which rewrites every request's URI.
pub fn mount(router: Router, config: &Config) -> Router {
    let mount = Mount {
        public_url: config.public_url.clone(),
        base_path: config.base_path.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        health: config.health.clone(),
    };
    let router = if config.cors_origins.is_empty() {
        router
    } else {
        let origins: std::sync::Arc<[String]> = config.cors_origins.clone().into();
        router.layer(axum::middleware::from_fn_with_state(origins, cors))
    };
    router.layer(crate::observe::Layer::new(config, mount))
}

/// CORS for the configured origins only: a preflight is answered here; other responses get the
/// allow headers, exposing the authentication headers to the page's script.
async fn cors(
    axum::extract::State(origins): axum::extract::State<std::sync::Arc<[String]>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http::header::{self, HeaderValue};
    let origin = request.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).filter(|o| origins.iter().any(|a| a == o)).and_then(|o| HeaderValue::try_from(o).ok());
    let preflight = request.method() == http::Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&origin, preflight) {
        (Some(_), true) => {
            let mut r = axum::response::Response::new(axum::body::Body::empty());
            *r.status_mut() = http::StatusCode::NO_CONTENT;
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, POST, DELETE"));
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            r
        }
        _ => next.run(request).await,
    };
    let h = response.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("www-authenticate, x-vo-authenticated, location, x-request-id"));
    }
    response
}

/// The service's URL as the client of a request sees it: the configured public URL, or one built
/// from the `Host` header, what trusted proxies say (see [`crate::forwarded`]) and the base path.
pub fn request_base_url(parts: &http::request::Parts) -> String {
    base_url(&parts.headers, &parts.extensions)
}

/// The base URL of the service as the client of a request (its `headers` and `extensions`) sees
/// it: the configured public URL if there is one, else the scheme, host, port and path prefix
/// that trusted proxies report, or the `Host` header (see [`crate::forwarded`]), and the base path.
/// The configuration comes from the [`Mount`] in the extensions, the peer from the
/// `ConnectInfo` that [`serve`] puts there; without a `Mount`, no proxy is trusted.
pub fn base_url(headers: &http::HeaderMap, extensions: &http::Extensions) -> String {
    let peer = peer(extensions);
    match extensions.get::<std::sync::Arc<Mount>>() {
        Some(mount) => mount.base_url(headers, peer),
        None => crate::forwarded::base_url(headers, peer, &[], ""),
    }
}

/// The direct peer of a request: the TCP remote address [`serve`] put in its extensions.
pub fn peer(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// Why a server could not start: each reaches the operator as one line on stderr, and a
/// non-zero exit.
#[derive(Debug)]
pub enum StartError {
    /// The development token file (`--auth-tokens`) could not be read or is malformed.
    AuthTokens(String),
    /// OpenID Connect validation (`--oidc-issuer`) could not be set up.
    Oidc(String),
    /// The UWS job store could not be opened.
    JobStore {
        /// The store: its file, or its URL without password.
        store: String,
        /// What went wrong.
        error: crate::uws::store::StoreError,
    },
    /// The UWS engine could not take over the jobs of a previous run.
    Engine(crate::uws::engine::EngineError),
    /// The service could not start (its `Service::new` failed, or its authenticator).
    Service(String),
}

impl StartError {
    /// The service's own start-up failure, said in one line.
    pub fn service(error: impl std::fmt::Display) -> StartError {
        StartError::Service(error.to_string())
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::AuthTokens(message) => write!(f, "--auth-tokens: {message}"),
            StartError::Oidc(message) => write!(f, "--oidc-issuer: {message}"),
            StartError::JobStore { store, error } => write!(f, "cannot open the job store {store}: {error}"),
            StartError::Engine(error) => write!(f, "cannot start the UWS engine: {error}"),
            StartError::Service(message) => write!(f, "cannot start the service: {message}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The whole of a generated `main`: reads the configuration (`--help` and `--version` print to
/// stdout and exit 0; a wrong command line prints to stderr and exits 2), builds the router (which
/// may start services such as the UWS engine, hence async), serves until Ctrl-C or SIGTERM.
pub fn main<F, E>(program: Program, make_router: impl FnOnce(Config) -> F) -> ExitCode
where
    F: std::future::Future<Output = Result<Router, E>>,
    E: std::fmt::Display,
{
    let name = program.name;
    let config = match Config::parse(&program, std::env::args().skip(1), |k| std::env::var(k).ok()) {
        Ok(config) => config,
        Err(Stop::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(Stop::Usage(text)) => {
            eprint!("{text}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            config.log_format.error(name, &format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    config.metrics.gauge_family("server_info", "The program serving, and its version.", &["program", "version"]).with(&[name, program.version]).set(1);
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    config.metrics.gauge("process_start_time_seconds", "When the process started, in seconds since the Unix epoch.").set(i64::try_from(started).unwrap_or(i64::MAX));
    crate::body::set_upload_limits(config.upload_limits);
    let swept = crate::upload::sweep_spill_folders();
    if swept.bytes > 0 {
        config.log_format.info(name, &format!("removed temporary upload files left by ended processes (folders: {}, bytes: {})", swept.folders, swept.bytes));
    }
    let served = runtime.block_on(async {
        let router = make_router(config.clone()).await.map_err(|e| e.to_string())?;
        run(mount(router, &config), &config, name).await.map_err(|e| e.to_string())
    });
    // Work still running on blocking threads (a job's last write, a store call) gets a moment to
    // finish; the process does not wait on it longer than that.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    crate::upload::remove_spill_folder();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            config.log_format.error(name, &e);
            ExitCode::FAILURE
        }
    }
}

/// The limits of the operations listener: a scraper and a few probes.
const OPS_LIMITS: Limits = Limits { max_connections: 64, body_timeout: Duration::from_secs(30), body_deadline: Duration::from_secs(60) };

/// Binds the main listener and, with `--metrics-addr`, the operations listener (announced first,
/// each on a line), then serves both until Ctrl-C or SIGTERM.
async fn run(router: Router, config: &Config, name: &str) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind).await?;
    let ops = match config.metrics_addr {
        Some(addr) => {
            let ops = tokio::net::TcpListener::bind(addr).await.map_err(|e| std::io::Error::new(e.kind(), format!("--metrics-addr {addr}: {e}")))?;
            config.log_format.info(name, &format!("metrics on http://{}/metrics", ops.local_addr()?));
            Some(ops)
        }
        None => None,
    };
    config.log_format.info(name, &format!("listening on http://{}{}/", listener.local_addr()?, config.base_path));
    let Some(ops) = ops else {
        let served = serve_with(listener, router, shutdown_signal(), config.limits()).await;
        // What must happen before the process exits (a replica handing its jobs back), at most DRAIN.
        let _ = tokio::time::timeout(DRAIN, exit_released()).await;
        return served;
    };
    // One signal stops both listeners.
    let (stop, stopped) = watch::channel(false);
    let stopping = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let served = serve_with(listener, router, stopping(), config.limits());
    let operations = serve_with(ops, crate::observe::router(config), stopping(), OPS_LIMITS);
    let signal = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    let (served, operations, ()) = tokio::join!(served, operations, signal);
    let _ = tokio::time::timeout(DRAIN, exit_released()).await;
    served.and(operations)
}

/// Work that holds a server's exit until it is done (at most 10 s after requests in flight).
static EXIT_HOLDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn exit_notify() -> &'static tokio::sync::Notify {
    static NOTIFY: std::sync::OnceLock<tokio::sync::Notify> = std::sync::OnceLock::new();
    NOTIFY.get_or_init(tokio::sync::Notify::new)
}

/// Holds the exit of the server ([`main`]) after shutdown until it is dropped (for at most 10 s):
/// for work that must reach the outside world before the process goes, such as a UWS replica
/// handing back the jobs it executes.
#[must_use = "the exit is held only while the hold lives"]
pub struct ExitHold(());

impl ExitHold {
    /// Takes a hold.
    pub fn new() -> ExitHold {
        EXIT_HOLDS.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        ExitHold(())
    }
}

impl Default for ExitHold {
    fn default() -> Self {
        ExitHold::new()
    }
}

impl Drop for ExitHold {
    fn drop(&mut self) {
        if EXIT_HOLDS.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            exit_notify().notify_waiters();
        }
    }
}

async fn exit_released() {
    loop {
        let notified = exit_notify().notified();
        if EXIT_HOLDS.load(std::sync::atomic::Ordering::Acquire) == 0 {
            return;
        }
        notified.await;
    }
}

/// How long an exiting server waits for work on blocking threads, after requests in flight.
const BLOCKING_GRACE: Duration = Duration::from_secs(2);

/// How long a shutdown waits for requests in flight before it drops them.
const DRAIN: Duration = Duration::from_secs(10);

/// How long a new connection may stay silent before it is closed.
const QUIET: Duration = Duration::from_secs(60);

/// Serves HTTP/1.1 on `listener` until `signal` completes, then stops accepting, lets requests
/// in flight finish (at most `DRAIN`, 10 s) and closes idle connections.
///
/// A connection costs only its socket and a small task until its first bytes arrive (it is
/// closed if none do within `QUIET`, 60 s); hyper's buffers (8 KiB to read, 8 KiB for response heads)
/// are allocated then. With thousands of clients parked on UWS `WAIT`, connections are most of
/// the server's memory (BENCHMARKS.md, UWS). A client that goes away mid-request is noticed at
/// once and its handler dropped. Every request's extensions hold the peer's address, as axum's
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(listener: TcpListener, router: Router, signal: impl Future<Output = ()>) -> std::io::Result<()> {
    serve_with(listener, router, signal, Limits::default()).await
}

/// [`serve`] with `limits`: at most `max_connections` connections at once (the next is accepted
/// when one closes; until then it waits in the kernel's backlog), and request bodies that must
/// keep arriving (see `body::Timed`).
pub async fn serve_with(listener: TcpListener, router: Router, signal: impl Future<Output = ()>, limits: Limits) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(30));
    let http = Arc::new(http);
    let mut signal = std::pin::pin!(signal);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut signal => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A connection reset before it was accepted, or no file descriptor left: the
                // listener itself is fine, so go on (after a pause, for descriptors to free up).
                Err(e) => {
                    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let _ = stream.set_nodelay(true);
        let (http, router, mut stopped) = (http.clone(), router.clone(), stopped.clone());
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                ready = tokio::time::timeout(QUIET, stream.readable()) => if !matches!(ready, Ok(Ok(()))) { return },
                _ = stopped.wait_for(|stop| *stop) => return,
            }
            // Each request carries its peer's address (one small allocation), so that handlers can
            // tell whether forwarding headers come from a trusted proxy.
            // A body gets its time limits (no allocation until it has to wait for bytes).
            let (idle, total) = (limits.body_timeout, limits.body_deadline);
            let router = tower::ServiceExt::map_request(router, move |request: http::Request<hyper::body::Incoming>| {
                let (mut parts, body) = request.into_parts();
                parts.extensions.insert(axum::extract::ConnectInfo(peer));
                http::Request::from_parts(parts, crate::body::Timed::new(body, idle, total))
            });
            let service = TowerToHyperService::new(PathGuard(router));
            let stream = Labelled { inner: stream, replacing: None };
            let mut connection = std::pin::pin!(http.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopped.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop((listener, stopped));
    let _ = stop.send(true);
    // Every connection's task holds a receiver: they are all gone when the last task ends.
    let _ = tokio::time::timeout(DRAIN, stop.closed()).await;
    Ok(())
}

/// Answers a request whose path's percent-escapes do not decode to UTF-8 (`/jobs/%ff`), which
/// no route can take as a parameter, with 400 and `UsageError: ` in text/plain, before routing.
/// A path without `%` costs one scan for it.
#[derive(Clone)]
struct PathGuard<S>(S);

/// The answer to a request for `path`, when its escapes are not UTF-8.
fn refuse_path(path: &str) -> Option<axum::response::Response> {
    if !path.as_bytes().contains(&b'%') {
        return None;
    }
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let (bytes, mut decoded, mut i) = (path.as_bytes(), Vec::with_capacity(path.len()), 0);
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                decoded.push(high << 4 | low);
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    if std::str::from_utf8(&decoded).is_ok() {
        return None;
    }
    Some(crate::ivoa::respond(crate::ivoa::ErrorFormat::SodaText, http::StatusCode::BAD_REQUEST, "path", None, "the path's percent-escapes are not UTF-8"))
}

impl<S, B> tower::Service<http::Request<B>> for PathGuard<S>
where
    S: tower::Service<http::Request<B>, Response = axum::response::Response, Error = std::convert::Infallible>,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Guarded<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        match refuse_path(request.uri().path()) {
            Some(answer) => Guarded::Refused { answer: Some(answer) },
            None => Guarded::Routed { inner: self.0.call(request) },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`PathGuard`].
    #[project = GuardedProjection]
    enum Guarded<F> {
        Routed { #[pin] inner: F },
        Refused { answer: Option<axum::response::Response> },
    }
}

impl<F: Future<Output = Result<axum::response::Response, std::convert::Infallible>>> Future for Guarded<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.project() {
            GuardedProjection::Routed { inner } => inner.poll(cx),
            GuardedProjection::Refused { answer } => std::task::Poll::Ready(Ok(answer.take().unwrap_or_default())),
        }
    }
}

/// A connection's socket, giving the answers hyper writes itself, with an empty body, to requests
/// it cannot parse a body that says why, starting with the DALI/SODA label (`UsageError: `,
/// text/plain): 414 (a request line longer than 64 KiB) and 431 (a head larger than hyper's
/// buffer, or more than 100 header fields). Each write costs one comparison of its first bytes.
struct Labelled<S> {
    inner: S,
    /// The replacement being written: its bytes, how many are written, and the length of the
    /// write it stands for.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

/// The answer to write instead of `head`, when `head` is one of hyper's bodiless 414 or 431.
fn labelled(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > 512 || !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let why = match head.get(9..13)? {
        b"414 " => "the request's URI is too long; send long parameters in a POST body",
        b"431 " => "the request's header fields are too large or too many",
        _ => return None,
    };
    let text = std::str::from_utf8(head).ok()?;
    if !text.ends_with("\r\n\r\n") || !text.contains("\r\nconnection: close\r\n") || !text.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let status = text.split("\r\n").next()?;
    let date = text.split("\r\n").find(|l| l.starts_with("date: ")).map(|d| format!("{d}\r\n")).unwrap_or_default();
    let body = format!("UsageError: {why}\n");
    Some(format!("{status}\r\nconnection: close\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n{date}\r\n{body}", body.len()).into_bytes())
}

impl<S: tokio::io::AsyncWrite + Unpin> Labelled<S> {
    /// Writes the replacement under way; ready with the length of the write it replaced.
    fn poll_replacing(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        let Some((bytes, written, stands_for)) = &mut self.replacing else { return Poll::Ready(Ok(0)) };
        while *written < bytes.len() {
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => *written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = *stands_for;
        self.replacing = None;
        Poll::Ready(Ok(n))
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Labelled<S> {
    fn poll_read(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Labelled<S> {
    fn poll_write(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, buf: &[u8]) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            match labelled(buf) {
                Some(bytes) => this.replacing = Some((bytes, 0, buf.len())),
                None => return std::pin::Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        this.poll_replacing(cx)
    }

    fn poll_write_vectored(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            let mut parts = bufs.iter().filter(|b| !b.is_empty());
            let only = match (parts.next(), parts.next()) {
                (Some(first), None) => labelled(first).map(|bytes| (bytes, first.len())),
                _ => None,
            };
            match only {
                Some((bytes, len)) => this.replacing = Some((bytes, 0, len)),
                None => return std::pin::Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        this.poll_replacing(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Completes on Ctrl-C or SIGTERM: what stops a server, and (through the UWS engine) its jobs.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_prefers_configuration_then_trusted_forwarded_headers() {
        use axum::extract::ConnectInfo;
        use std::sync::Arc;
        let mut h = http::HeaderMap::new();
        h.insert("host", "127.0.0.1:8080".parse().unwrap());
        let mut ext = http::Extensions::new();
        let mount = Mount { base_path: "/soda".into(), trusted_proxies: crate::forwarded::Cidr::loopback(), ..Mount::default() };
        ext.insert(Arc::new(mount.clone()));
        assert_eq!(base_url(&h, &ext), "http://127.0.0.1:8080/soda");
        h.insert("x-forwarded-host", "archive.example.org".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(base_url(&h, &ext), "http://127.0.0.1:8080/soda", "no peer known: nothing trusted");
        ext.insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 50000))));
        assert_eq!(base_url(&h, &ext), "https://archive.example.org/soda");
        ext.insert(ConnectInfo(std::net::SocketAddr::from(([192, 0, 2, 1], 50000))));
        assert_eq!(base_url(&h, &ext), "http://127.0.0.1:8080/soda", "an untrusted peer");
        ext.insert(Arc::new(Mount { public_url: Some("https://data.example.org/api/".into()), ..mount }));
        assert_eq!(base_url(&h, &ext), "https://data.example.org/api");
        assert_eq!(base_url(&h, &http::Extensions::new()), "http://127.0.0.1:8080", "no mount");
    }

    /// A program with every optional flag.
    const ALL: Program = Program { name: "test-server", version: "1.2.3", about: "A test API", base_path: "", uws: true, auth: true, sync: true, service_flags: &[] };
    /// A program with none.
    const PLAIN: Program = Program { name: "plain-server", version: "0.1.0", about: "Plain", base_path: "/soda/", uws: false, auth: false, sync: false, service_flags: &[] };

    fn parse_for(program: &Program, args: &[&str], env: &[(&str, &str)]) -> Result<Config, Stop> {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::parse(program, args.iter().map(|s| s.to_string()), |k| env.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn a_service_offers_its_own_flags_beside_the_runtimes() {
        const FLAGS: &[Flag] = &[Flag { name: "async-results", value_name: "each|combined", env: "SODA_ASYNC_RESULTS", help: "How async jobs write their cutouts" }];
        let program = Program { service_flags: FLAGS, ..PLAIN };
        let Err(Stop::Info(help)) = parse_for(&program, &["--help"], &[]) else { panic!("--help") };
        assert!(help.contains("--async-results <each|combined>") && help.contains("[env: SODA_ASYNC_RESULTS]"), "{help}");
        let flagged = parse_for(&program, &["--async-results", "combined"], &[("SODA_ASYNC_RESULTS", "each")]).unwrap();
        assert_eq!(flagged.service.get("async-results").map(String::as_str), Some("combined"), "the flag wins over the environment");
        let from_env = parse_for(&program, &[], &[("SODA_ASYNC_RESULTS", "each")]).unwrap();
        assert_eq!(from_env.service.get("async-results").map(String::as_str), Some("each"));
        assert!(parse_for(&program, &[], &[]).unwrap().service.is_empty());
        assert!(parse_for(&PLAIN, &["--async-results", "combined"], &[]).is_err(), "a flag no service declared");
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        parse_for(&ALL, args, env).map_err(|e| match e {
            Stop::Usage(text) => text,
            Stop::Info(text) => panic!("not an error: {text}"),
        })
    }

    #[test]
    fn flags_win_over_environment() {
        let config = parse(&["--bind", "127.0.0.1:9000"], &[("BIND", "127.0.0.1:1"), ("BASE_PATH", "/api/")]).unwrap();
        assert_eq!(config.bind.port(), 9000);
        assert_eq!(config.base_path, "/api");
        assert_eq!(parse(&["--base-path=/x"], &[]).unwrap().base_path, "/x");
        assert_eq!(parse(&["--base-path=/x", "--base-path", "/y"], &[]).unwrap().base_path, "/y", "the last wins");
    }

    #[test]
    fn bad_flags_are_reported_with_a_usage_line() {
        for (args, says) in [
            (&["--bind", "nowhere"][..], "ADDRESS:PORT"),
            (&["--frobnicate"], "unexpected argument '--frobnicate'"),
            (&["--base-path", "api"], "must start"),
            (&["--public-url", "ftp://x"], "http"),
            (&["--job-store", "mysql://x"], "sqlite:PATH or postgresql://"),
            (&["--job-store", "postgres://"], "sqlite:PATH or postgresql://"),
            (&["--authority", "example.org"], "ivo://"),
            (&["--trusted-proxy", "10.0.0.0/40"], "ADDR/BITS"),
            (&["--bind"], "a value is required"),
        ] {
            let message = parse(args, &[]).unwrap_err();
            assert!(message.contains(says), "{args:?}: {message}");
            assert!(message.starts_with("error: ") && message.contains("try '--help'"), "{args:?}: {message}");
            assert!(message.contains("Usage: test-server [OPTIONS]") || args == ["--bind"], "{args:?}: {message}");
        }
        let message = parse(&[], &[("BIND", "nowhere")]).unwrap_err();
        assert!(message.contains("BIND: `nowhere`"), "the variable is named: {message}");
        assert!(parse(&[], &[("NO_DOCS", "maybe")]).unwrap_err().contains("NO_DOCS"));
        assert_eq!(parse(&[], &[("PUBLIC_URL", "https://a.org/soda/")]).unwrap().public_url.as_deref(), Some("https://a.org/soda"));
    }

    #[test]
    fn help_and_version_go_to_stdout_with_the_real_defaults() {
        let Err(Stop::Info(help)) = parse_for(&PLAIN, &["--help"], &[]) else { panic!("--help is not information") };
        assert!(help.contains("Plain") && help.contains("Usage: plain-server [OPTIONS]"), "{help}");
        assert!(help.contains("[default: /soda]") && help.contains("[env: BASE_PATH]"), "{help}");
        assert!(help.contains("--no-docs") && help.contains("--trusted-proxy") && help.contains("PORT"), "{help}");
        for hidden in ["--job-store", "--auth-tokens", "--client-cert-header", "--refuse-sync-get"] {
            assert!(!help.contains(hidden), "{hidden} offered without need: {help}");
        }
        assert_eq!(parse_for(&PLAIN, &["-h"], &[]), Err(Stop::Info(help)));
        let Err(Stop::Info(help)) = parse_for(&ALL, &["--help"], &[]) else { panic!("--help is not information") };
        for shown in ["--job-store", "--auth-tokens", "--client-cert-header", "--refuse-sync-get", "[default: /]"] {
            assert!(help.contains(shown), "{shown} missing: {help}");
        }
        assert_eq!(parse_for(&ALL, &["--version"], &[]), Err(Stop::Info("test-server 1.2.3\n".to_owned())));
        assert_eq!(parse_for(&ALL, &["-V"], &[]), Err(Stop::Info("test-server 1.2.3\n".to_owned())));
    }

    #[test]
    fn only_the_flags_the_spec_needs() {
        for args in [&["--job-store", "sqlite:x"][..], &["--auth-tokens", "f"], &["--client-cert-header", "x-cert"], &["--refuse-sync-get"], &["--oidc-issuer", "https://a.org"], &["--oidc-leeway", "5"]] {
            let Err(Stop::Usage(message)) = parse_for(&PLAIN, args, &[]) else { panic!("{args:?} accepted") };
            assert!(message.contains("unexpected argument"), "{message}");
            assert!(parse_for(&ALL, args, &[]).is_ok(), "{args:?}");
        }
        // Their variables are not read either.
        let config = parse_for(&PLAIN, &[], &[("REFUSE_SYNC_GET", "1"), ("AUTH_TOKENS", "f"), ("JOB_STORE", "bogus"), ("OIDC_ISSUERS", "https://a.org")]).unwrap();
        assert!(!config.refuse_sync_get && config.auth_tokens.is_none() && config.job_store.is_none() && !config.oidc.enabled());
        assert_eq!(config.base_path, "/soda", "the program's base path is the default");
        let config = parse_for(&ALL, &[], &[("REFUSE_SYNC_GET", "true"), ("AUTH_TOKENS", "f"), ("OIDC_ISSUERS", "https://a.org,https://b.org")]).unwrap();
        assert!(config.refuse_sync_get && config.auth_tokens.is_some());
        assert_eq!(config.oidc.issuers, ["https://a.org", "https://b.org"]);
        let Err(Stop::Info(help)) = parse_for(&ALL, &["--help"], &[]) else { panic!("--help") };
        for shown in ["--oidc-issuer <URL>", "[env: OIDC_ISSUERS, comma-separated]", "--oidc-audience <AUD>", "--oidc-identity-claim <CLAIM>", "--oidc-groups-claim <CLAIM>", "--oidc-leeway <DURATION>", "--oidc-refetch-interval <DURATION>"] {
            assert!(help.contains(shown), "{shown} missing: {help}");
        }
    }

    #[test]
    fn port_bind_docs_and_trusted_proxies() {
        assert_eq!(parse(&[], &[]).unwrap().bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(parse(&[], &[("PORT", "9000")]).unwrap().bind, SocketAddr::from(([0, 0, 0, 0], 9000)), "PORT listens on every interface");
        assert_eq!(parse(&[], &[("PORT", "9000"), ("BIND", "127.0.0.1:7000")]).unwrap().bind.port(), 7000, "BIND wins over PORT");
        assert_eq!(parse(&["--bind", "[::1]:7001"], &[("PORT", "9000")]).unwrap().bind.port(), 7001);
        assert!(parse(&[], &[("PORT", "http")]).unwrap_err().contains("PORT"));
        assert!(parse(&[], &[]).unwrap().docs);
        assert!(!parse(&["--no-docs"], &[]).unwrap().docs);
        assert!(!parse(&[], &[("NO_DOCS", "1")]).unwrap().docs);
        assert!(!parse(&[], &[("NO_DOCS", "TRUE")]).unwrap().docs);
        assert!(parse(&[], &[("NO_DOCS", "0")]).unwrap().docs);
        let loopback = parse(&[], &[]).unwrap().trusted_proxies;
        assert_eq!(loopback, crate::forwarded::Cidr::loopback());
        let given = parse(&["--trusted-proxy", "10.0.0.1", "--trusted-proxy=fd00::/8"], &[("TRUSTED_PROXIES", "192.0.2.1")]).unwrap().trusted_proxies;
        assert_eq!(given.iter().map(ToString::to_string).collect::<Vec<_>>(), ["10.0.0.1/32", "fd00::/8"], "flags replace the variable and the default");
        let env = parse(&[], &[("TRUSTED_PROXIES", "192.0.2.0/24, 127.0.0.1")]).unwrap().trusted_proxies;
        assert_eq!(env.len(), 2);
        assert!(parse(&["--trusted-proxy", "none"], &[]).unwrap().trusted_proxies.is_empty());
    }

    /// The base URL a handler finds for a request with `headers`, through a real socket from
    /// 127.0.0.1 to a server configured by `args`.
    async fn base_url_through_a_socket(args: &[&str], headers: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let config = parse(args, &[]).unwrap();
        let router = Router::new().route("/soda/where", axum::routing::get(|request: axum::extract::Request| async move { request_base_url(&request.into_parts().0) }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, mount(router, &config), std::future::pending()));
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("GET /soda/where HTTP/1.1\r\nHost: svc.example.org\r\nConnection: close\r\n{headers}\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn the_peer_address_decides_whether_forwarding_headers_count() {
        let spoof = "X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Prefix: /x\r\n";
        assert_eq!(base_url_through_a_socket(&["--base-path", "/soda"], spoof).await, "https://evil.example/x/soda", "loopback is trusted by default");
        assert_eq!(base_url_through_a_socket(&["--base-path", "/soda", "--trusted-proxy", "10.0.0.1"], spoof).await, "http://svc.example.org/soda");
        assert_eq!(base_url_through_a_socket(&["--base-path", "/soda", "--public-url", "https://pub.example.org/s"], spoof).await, "https://pub.example.org/s");
    }

    #[test]
    fn connection_limits() {
        let config = parse(&[], &[]).unwrap();
        assert_eq!(config.limits(), Limits::default());
        assert_eq!((config.body_timeout, config.body_deadline), (Duration::from_secs(30), Duration::from_secs(600)));
        assert!(config.max_connections >= 64);
        let config = parse(&["--max-connections", "8", "--body-timeout=2"], &[("MAX_CONNECTIONS", "9"), ("BODY_DEADLINE", "60")]).unwrap();
        assert_eq!((config.max_connections, config.body_timeout, config.body_deadline), (8, Duration::from_secs(2), Duration::from_secs(60)));
        for (args, env, says) in [
            (&["--max-connections", "0"][..], &[][..], "--max-connections: `0`"),
            (&["--body-timeout", "soon"], &[], "--body-timeout: `soon`"),
            (&[], &[("BODY_DEADLINE", "-1")], "BODY_DEADLINE: `-1`"),
        ] {
            let message = parse(args, env).unwrap_err();
            assert!(message.contains(says) && message.contains("positive whole number"), "{message}");
        }
        assert_eq!(config.upload_limits, crate::body::UploadLimits { per_request: 1 << 30, all: 4 << 30 });
        let config = parse(&["--max-upload", "200M", "--upload-space=2GiB"], &[("MAX_UPLOAD", "1k")]).unwrap();
        assert_eq!(config.upload_limits, crate::body::UploadLimits { per_request: 200 << 20, all: 2 << 30 });
        let config = parse(&[], &[("MAX_UPLOAD", "1048576"), ("UPLOAD_SPACE", "1t")]).unwrap();
        assert_eq!(config.upload_limits, crate::body::UploadLimits { per_request: 1 << 20, all: 1 << 40 });
        for (args, says) in [(&["--max-upload", "0"][..], "--max-upload: `0`"), (&["--upload-space", "lots"], "--upload-space: `lots`"), (&["--upload-space", "5P"], "`5P`"), (&["--max-upload", "99999999999T"], "`99999999999T`")] {
            let message = parse(args, &[]).unwrap_err();
            assert!(message.contains(says) && message.contains("positive size in bytes"), "{message}");
        }
        let Err(Stop::Info(help)) = parse_for(&PLAIN, &["--help"], &[]) else { panic!("--help is not information") };
        for shown in ["--max-connections <N>", "[env: MAX_CONNECTIONS] [default: the open-file limit", "--body-timeout <SECS>", "--body-deadline <SECS>", "--max-upload <BYTES>", "--upload-space <BYTES>"] {
            assert!(help.contains(shown), "{shown} missing: {help}");
        }
    }

    #[test]
    fn metrics_and_log_format_are_off_unless_asked() {
        use crate::observe::LogFormat;
        let config = parse(&[], &[]).unwrap();
        assert_eq!((config.metrics_addr, config.metrics_on_main, config.log_format), (None, false, LogFormat::Text));
        let config = parse(&["--metrics-addr", "127.0.0.1:9100", "--metrics", "--log-format", "json"], &[("METRICS_ADDR", "0.0.0.0:1"), ("LOG_FORMAT", "text")]).unwrap();
        assert_eq!((config.metrics_addr, config.metrics_on_main, config.log_format), (Some(SocketAddr::from(([127, 0, 0, 1], 9100))), true, LogFormat::Json));
        let config = parse_for(&PLAIN, &[], &[("METRICS_ADDR", "[::1]:0"), ("METRICS", "1"), ("LOG_FORMAT", "JSON")]).unwrap();
        assert_eq!((config.metrics_addr.map(|a| a.is_ipv6()), config.metrics_on_main, config.log_format), (Some(true), true, LogFormat::Json));
        assert!(!parse(&[], &[("METRICS", "0")]).unwrap().metrics_on_main);
        for (args, env, says) in [
            (&["--metrics-addr", "9100"][..], &[][..], "--metrics-addr: `9100` is not an ADDRESS:PORT"),
            (&[], &[("METRICS_ADDR", "localhost:9100")], "METRICS_ADDR: `localhost:9100`"),
            (&["--log-format", "logfmt"], &[], "--log-format: `logfmt` is not a log format (text, json)"),
            (&[], &[("METRICS", "maybe")], "METRICS: `maybe`"),
        ] {
            let message = parse(args, env).unwrap_err();
            assert!(message.contains(says), "{message}");
        }
        let Err(Stop::Info(help)) = parse_for(&PLAIN, &["--help"], &[]) else { panic!("--help is not information") };
        for shown in ["--metrics-addr <ADDR:PORT>", "[env: METRICS_ADDR]", "[env: METRICS=1]", "--log-format <text|json>", "[env: LOG_FORMAT] [default: text]"] {
            assert!(help.contains(shown), "{shown} missing: {help}");
        }
        assert!(help.lines().any(|l| l.split_whitespace().next() == Some("--metrics")), "--metrics missing: {help}");
        // Clones share the registry and the checks; separate configurations do not.
        let config = parse(&[], &[]).unwrap();
        assert_eq!(config.clone(), config);
        assert_ne!(config.metrics, parse(&[], &[]).unwrap().metrics);
    }

    #[test]
    fn only_non_utf8_escapes_are_refused_before_routing() {
        for path in ["/a/b", "/a/%41", "/a/%C3%A9", "/a/%", "/a/%zz", "/a/100%"] {
            assert!(refuse_path(path).is_none(), "{path}");
        }
        for path in ["/a/%ff", "/a/%C3%28", "/%80x"] {
            assert_eq!(refuse_path(path).map(|r| r.status()), Some(http::StatusCode::BAD_REQUEST), "{path}");
        }
    }

    #[test]
    fn only_hypers_bodiless_414_and_431_are_labelled() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 12:30:50 GMT\r\n\r\n";
        let text = String::from_utf8(labelled(head).unwrap()).unwrap();
        let (head_out, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head_out.starts_with("HTTP/1.1 431 ") && head_out.contains("date: Sun") && head_out.contains(&format!("content-length: {}", body.len())), "{text}");
        assert!(body.starts_with("UsageError: "), "{body}");
        for other in [
            &b"HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 4",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"UsageError: x",
        ] {
            assert!(labelled(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn data_dir_job_store_and_authority() {
        let config = parse(&[], &[]).unwrap();
        assert!(!config.data_dir_given);
        assert_eq!(config.job_store_path().as_deref(), Some(std::path::Path::new("data/jobs.sqlite")));
        let config = parse(&["--data-dir", "/srv/d", "--authority", "ivo://example.org/"], &[]).unwrap();
        assert!(config.data_dir_given);
        assert_eq!(config.job_store_path().as_deref(), Some(std::path::Path::new("/srv/d/jobs.sqlite")));
        assert_eq!(config.authority.as_deref(), Some("ivo://example.org"));
        let config = parse(&[], &[("JOB_STORE", "sqlite:/var/jobs.db")]).unwrap();
        assert_eq!(config.job_store_path().as_deref(), Some(std::path::Path::new("/var/jobs.db")));
        let config = parse(&[], &[("JOB_STORE", "postgresql://uws@db/jobs")]).unwrap();
        assert_eq!((config.job_store_path(), config.job_store.as_deref()), (None, Some("postgresql://uws@db/jobs")));
    }

    #[tokio::test]
    async fn cors_answers_only_the_configured_origins() {
        use tower::ServiceExt;
        let config = parse(&["--cors-origin", "https://portal.example.org"], &[]).unwrap();
        assert!(parse(&["--cors-origin", "portal.example.org"], &[]).is_err());
        let app = mount(Router::new().route("/x", axum::routing::get(|| async { "x" })), &config);
        let request = |origin: &str, method: &str| {
            http::Request::builder().method(method).uri("/x").header("origin", origin).header("access-control-request-method", "POST").body(axum::body::Body::empty()).unwrap()
        };
        let ok = app.clone().oneshot(request("https://portal.example.org", "GET")).await.unwrap();
        assert_eq!(ok.headers()["access-control-allow-origin"], "https://portal.example.org");
        assert!(ok.headers()["access-control-expose-headers"].to_str().unwrap().contains("x-vo-authenticated"));
        let preflight = app.clone().oneshot(request("https://portal.example.org", "OPTIONS")).await.unwrap();
        assert_eq!(preflight.status(), http::StatusCode::NO_CONTENT);
        let other = app.clone().oneshot(request("https://evil.example", "GET")).await.unwrap();
        assert!(!other.headers().contains_key("access-control-allow-origin"));
        let off = mount(Router::new().route("/x", axum::routing::get(|| async { "x" })), &parse(&[], &[]).unwrap());
        let plain = off.oneshot(request("https://portal.example.org", "GET")).await.unwrap();
        assert!(!plain.headers().contains_key("access-control-allow-origin") && !plain.headers().contains_key("vary"), "off by default");
    }

    #[test]
    fn generated_defaults_yield_to_flags() {
        let program = Program { base_path: "/soda", ..ALL };
        let config = Config::parse(&program, Vec::<String>::new(), |_| None).unwrap();
        assert_eq!(config.base_path, "/soda");
        let config = Config::parse(&program, ["--base-path=/".to_owned()], |_| None).unwrap();
        assert_eq!(config.base_path, "");
    }

    async fn exchange(stream: &mut tokio::net::TcpStream, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        // The bodies below are short and end the answer.
        while !answer.ends_with(b"fast") && !answer.ends_with(b"slow") {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8(answer).unwrap()
    }

    async fn closed(stream: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::AsyncReadExt;
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
    }

    #[tokio::test]
    async fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
        let router = Router::new().route("/fast", axum::routing::get(|| async { "fast" })).route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, signal) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async move {
            let _ = signal.await;
        }));

        // A keep-alive connection, idle after one request; one that never speaks; one in flight.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(exchange(&mut idle, "/fast").await.starts_with("HTTP/1.1 200"));
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut busy = tokio::net::TcpStream::connect(addr).await.unwrap();
        let slow = tokio::spawn(async move { exchange(&mut busy, "/slow").await });
        tokio::time::sleep(Duration::from_millis(100)).await;

        let began = std::time::Instant::now();
        stop.send(()).unwrap();
        let answer = slow.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("slow"), "{answer}");
        assert!(closed(&mut idle).await, "the idle keep-alive connection stays open");
        assert!(closed(&mut silent).await, "the silent connection stays open");
        tokio::time::timeout(Duration::from_secs(5), server).await.expect("serve does not return").unwrap().unwrap();
        assert!(began.elapsed() < DRAIN, "shutdown waited for the drain limit");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting");
    }

    #[tokio::test]
    async fn a_client_that_goes_away_drops_its_handler() {
        use tokio::io::AsyncWriteExt;
        // The handler waits a minute unless it is dropped; dropping it closes the channel.
        let (dropped_tx, dropped) = tokio::sync::mpsc::channel::<()>(1);
        let router = Router::new().route(
            "/wait",
            axum::routing::get(move || {
                let guard = dropped_tx.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    drop(guard);
                    "waited"
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router, std::future::pending()));
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client.write_all(b"GET /wait HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(client);
        // The router holds one sender; the handler's clone goes when its future is dropped.
        let began = std::time::Instant::now();
        let gone = tokio::time::timeout(Duration::from_secs(5), async {
            while dropped.sender_strong_count() > 1 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(gone.is_ok(), "the handler still runs after its client left");
        assert!(began.elapsed() < Duration::from_secs(5));
    }
}
