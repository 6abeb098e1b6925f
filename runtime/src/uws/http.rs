//! Every UWS 1.1 endpoint (§2.2) as axum routes over an [`Engine`]: the job list with its filters,
//! creation with `303` and `PHASE=RUN` (body or query), the job document with WAIT, and each
//! sub-resource. Parameter names are case-insensitive (DALI §3.1); errors are in the job list's
//! error format (`text/plain` by default; a DALI VOTable for TAP) with the SODA/DALI label and the
//! UWS status: 400 bad value, 403 a change not allowed in this phase,
//! 404 no such job (another owner's job too: its existence is not revealed), 429 (with
//! `Retry-After`) an owner's job quota used up, or a caller's limit of jobs queued or executing
//! at once reached (`--uws-max-active`).

use super::engine::{Account, Engine, EngineError, Requested};
use super::results::Stored;
use super::{Job, Phase, documents};
use crate::ivoa::ErrorFormat;
use crate::params::RawRequest;
use crate::serve::Mount;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{CONTENT_TYPE, LOCATION};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Who is asking, from the request (authentication plugs in here; anonymous by default).
pub type Identify = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Checks the parameters of a new job as the service's operation would, so that a bad value is
/// refused at creation (400) rather than failing the job later.
pub type Check = Arc<dyn Fn(Vec<(String, String)>) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::RequestError>> + Send>> + Send + Sync>;

/// Anonymous callers only, until an authenticator is configured.
pub fn anonymous() -> Identify {
    Arc::new(|_| None)
}

#[derive(Clone)]
struct Uws {
    engine: Engine,
    base_path: String,
    jobs_path: String,
    identify: Identify,
    settings: Settings,
}

/// What a job list knows of the operation whose parameters its jobs take.
#[derive(Clone)]
pub struct Settings {
    /// Checks the parameters of every new job first.
    pub check: Option<Check>,
    /// How errors of the job API, and failed jobs' error documents, are written.
    pub format: ErrorFormat,
    /// The parameters' names as the operation declares them: a job keeps a parameter under its
    /// declared name, however the client spelt it (DALI names ignore case), so `lang` and
    /// `LANG` are one parameter.
    pub names: &'static [&'static str],
}

impl Default for Settings {
    fn default() -> Self {
        Settings { check: None, format: ErrorFormat::SodaText, names: &[] }
    }
}

/// The UWS routes for the job list at `base_path` + `jobs_path` (`/soda` + `/async`).
pub fn routes(engine: Engine, base_path: &str, jobs_path: &str, identify: Identify) -> Router {
    routes_checked(engine, base_path, jobs_path, identify, Settings::default())
}

/// [`routes`], with the operation's `settings`.
pub fn routes_checked(engine: Engine, base_path: &str, jobs_path: &str, identify: Identify, settings: Settings) -> Router {
    let format = settings.format;
    let uws = Uws { engine, base_path: base_path.to_owned(), jobs_path: jobs_path.to_owned(), identify, settings };
    let at = |tail: &str| format!("{base_path}{jobs_path}{tail}");
    Router::new()
        .route(&at(""), get(list).post(create))
        .route(&at("/{job}"), get(job).post(job_action).delete(delete))
        .route(&at("/{job}/phase"), get(phase).post(set_phase))
        .route(&at("/{job}/executionduration"), get(execution_duration).post(set_execution_duration))
        .route(&at("/{job}/destruction"), get(destruction).post(set_destruction))
        .route(&at("/{job}/quote"), get(quote))
        .route(&at("/{job}/error"), get(error))
        .route(&at("/{job}/results"), get(results))
        .route(&at("/{job}/results/{result}"), get(result))
        .route(&at("/{job}/parameters"), get(parameters).post(set_parameters))
        .route(&at("/{job}/owner"), get(owner))
        .layer(axum::middleware::map_response_with_state(format, in_format))
        .with_state(uws)
}

/// A failure answered in the job list's error format: [`Failure`] writes SODA text and leaves
/// the error beside it, which this writes again in `format` when that is another.
async fn in_format(State(format): State<ErrorFormat>, mut response: Response) -> Response {
    match response.extensions_mut().remove::<Failed>() {
        Some(Failed(error)) if format != ErrorFormat::SodaText => {
            let headers = std::mem::take(response.headers_mut());
            let mut rewritten = error.respond(format);
            if let Some(retry) = headers.get(http::header::RETRY_AFTER) {
                rewritten.headers_mut().insert(http::header::RETRY_AFTER, retry.clone());
            }
            rewritten
        }
        _ => response,
    }
}

/// The error a [`Failure`] answered, for [`in_format`].
#[derive(Debug, Clone)]
struct Failed(crate::RequestError);

/// An error of the job API, answered in the documented UWS error format (text/plain with the
/// label and the UWS status), and, for a quota, the seconds to wait (`Retry-After`).
#[derive(Debug)]
struct Failure(crate::RequestError, Option<&'static str>);

/// Seconds a client over its job quota is told to wait (`Retry-After`): jobs are destroyed or
/// deleted on the scale of minutes.
const QUOTA_RETRY: &str = "60";

/// Seconds a client with its limit of jobs queued or executing is told to wait: a place is free
/// when one of its jobs ends, which the server cannot foresee (a client that wants the moment
/// WAITs on one of its jobs). Jobs take seconds to minutes, so a few seconds lose little of a
/// place once free, while a client retrying on this advice costs one cheap, indexed count of
/// its jobs every five seconds.
const ACTIVE_RETRY: &str = "5";

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let Failure(error, retry) = self;
        let failed = Failed(error.clone());
        let mut response = error.respond(ErrorFormat::SodaText);
        response.extensions_mut().insert(failed);
        if let Some(seconds) = retry {
            response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static(seconds));
        }
        response
    }
}

impl From<crate::RequestError> for Failure {
    fn from(e: crate::RequestError) -> Self {
        Failure(e, None)
    }
}

type Answer = Result<Response, Failure>;

fn fail(e: EngineError) -> Failure {
    let (status, message, retry) = match e {
        EngineError::NotFound(m) => (StatusCode::NOT_FOUND, m, None),
        EngineError::Forbidden(m) => (StatusCode::FORBIDDEN, m, None),
        EngineError::Usage(m) => (StatusCode::BAD_REQUEST, m, None),
        EngineError::Quota(m) => (StatusCode::TOO_MANY_REQUESTS, m, Some(QUOTA_RETRY)),
        EngineError::TooManyActive(m) => (StatusCode::TOO_MANY_REQUESTS, m, Some(ACTIVE_RETRY)),
        EngineError::Store(m) => (StatusCode::INTERNAL_SERVER_ERROR, m, None),
        EngineError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, format!("the job store cannot be reached: {m}"), None),
    };
    Failure(crate::RequestError::request(status, "uws", message), retry)
}

fn usage(message: impl Into<String>) -> Failure {
    crate::RequestError::request(StatusCode::BAD_REQUEST, "usage", message).into()
}

impl Uws {
    fn jobs_url(&self, parts: &Parts) -> String {
        let peer = crate::serve::peer(&parts.extensions);
        let base = match parts.extensions.get::<Arc<Mount>>() {
            Some(mount) => mount.base_url(&parts.headers, peer),
            None => Mount { base_path: self.base_path.clone(), ..Mount::default() }.base_url(&parts.headers, peer),
        };
        format!("{base}{}", self.jobs_path)
    }

    /// Names each pair as the operation declares it, when one of its names matches ignoring case.
    fn declared(&self, pairs: &mut [(String, String)]) {
        for (name, _) in pairs.iter_mut() {
            if let Some(declared) = self.settings.names.iter().find(|d| d.eq_ignore_ascii_case(name)) {
                if name != declared {
                    *name = (*declared).to_owned();
                }
            }
        }
    }

    fn owner(&self, parts: &Parts) -> Option<String> {
        (self.identify)(parts)
    }

    /// The account the jobs `owner` queues with this request are charged to: the owner, or for
    /// an anonymous caller its client address, past the proxies the server trusts.
    fn account(&self, parts: &Parts, owner: Option<&str>) -> Account {
        let address = owner.is_none().then(|| {
            let trusted = parts.extensions.get::<Arc<Mount>>().map_or(&[][..], |mount| &mount.trusted_proxies[..]);
            crate::quota::client_address(&parts.extensions, &parts.headers, trusted)
        });
        Account::of(owner, address)
    }

    /// The job `id`, when the caller of `parts` owns it.
    async fn job(&self, parts: &Parts, id: &str) -> Result<Job, Failure> {
        self.engine.get(self.owner(parts).as_deref(), id).await.map_err(fail)
    }
}

fn xml(body: String) -> Response {
    (StatusCode::OK, [(CONTENT_TYPE, "application/xml")], body).into_response()
}

fn text(body: String) -> Response {
    (StatusCode::OK, [(CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

fn see_other(url: String) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, url)]).into_response()
}

/// The parameters of a form or multipart body (and the query string), names as sent.
async fn form_pairs(parts: &Parts, body: Body) -> Result<Vec<(String, String)>, Failure> {
    form_request(parts, body).await.map(|(pairs, _)| pairs)
}

/// [`form_pairs`], and the multipart body's file parts.
async fn form_request(parts: &Parts, body: Body) -> Result<(Vec<(String, String)>, crate::upload::Uploads), Failure> {
    let mut raw = RawRequest::new(parts, Vec::new());
    crate::body::form_parameters(&mut raw, &parts.headers, body).await?;
    let mut pairs: Vec<(String, String)> = parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    pairs.extend(raw.form_pairs());
    let uploads = crate::upload::Uploads::received(&raw, parts);
    Ok((pairs, uploads))
}

fn take(pairs: &mut Vec<(String, String)>, name: &str) -> Vec<String> {
    let mut taken = Vec::new();
    pairs.retain(|(n, v)| {
        if n.eq_ignore_ascii_case(name) {
            taken.push(v.clone());
            false
        } else {
            true
        }
    });
    taken
}

fn single(pairs: &mut Vec<(String, String)>, name: &str) -> Result<Option<String>, Failure> {
    let mut values = take(pairs, name);
    match values.len() {
        0 => Ok(None),
        1 => Ok(values.pop()),
        _ => Err(crate::RequestError::new(name, "multiplicity", format!("`{name}` takes one value")).into()),
    }
}

fn query_pairs(parts: &Parts) -> Vec<(String, String)> {
    parts.uri.query().map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn instant(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| s.parse::<crate::dali::Timestamp>().ok().map(|t| t.0.and_utc()))
}

async fn list(State(uws): State<Uws>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let mut pairs = query_pairs(&parts);
    let phases = take(&mut pairs, "PHASE").iter().map(|p| p.parse::<Phase>().map_err(usage)).collect::<Result<Vec<_>, _>>()?;
    let after = single(&mut pairs, "AFTER")?.map(|a| instant(&a).ok_or_else(|| usage(format!("AFTER `{a}` is not an ISO 8601 instant")))).transpose()?;
    let last = single(&mut pairs, "LAST")?.map(|l| l.parse::<usize>().ok().filter(|n| *n > 0 && i64::try_from(*n).is_ok()).ok_or_else(|| usage(format!("LAST `{l}` is not a positive integer")))).transpose()?;
    let jobs = uws.engine.list(uws.owner(&parts).as_deref(), &phases, after, last).await.map_err(fail)?;
    Ok(xml(documents::jobs(&jobs, &uws.jobs_url(&parts))))
}

async fn create(State(uws): State<Uws>, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let (mut pairs, uploads) = form_request(&parts, body).await?;
    uws.declared(&mut pairs);
    uploads.check().map_err(usage)?;
    let run = match single(&mut pairs, "PHASE")?.as_deref() {
        None => false,
        Some("RUN") => true,
        Some(other) => return Err(usage(format!("PHASE `{other}` cannot be given at creation; use RUN"))),
    };
    let run_id = single(&mut pairs, "RUNID")?;
    let owner = uws.owner(&parts);
    let account = uws.account(&parts, owner.as_deref());
    let requested = Requested {
        execution_duration: single(&mut pairs, "EXECUTIONDURATION")?.map(|v| seconds(&v)).transpose()?,
        destruction: single(&mut pairs, "DESTRUCTION")?.map(|v| instant(&v).ok_or_else(|| usage(format!("DESTRUCTION `{v}` is not an ISO 8601 instant")))).transpose()?,
        account: Some(account.clone()),
    };
    if let Some(check) = &uws.settings.check {
        check(pairs.clone()).await?;
    }
    // A job with files runs once they are kept: created pending, then run. A creation with
    // `PHASE=RUN` that cannot run (a quota) creates nothing: the client is answered an error,
    // not a job to find.
    let groups = crate::auth::Groups::of(&parts.extensions);
    let job = uws.engine.create_with(owner.as_deref(), &groups.0, run_id, pairs, run && uploads.is_empty(), requested).await.map_err(fail)?;
    if !uploads.is_empty() {
        let kept = uws.engine.attach(&job.id, uploads).await;
        let ran = match kept {
            Ok(()) if run => uws.engine.run_as(owner.as_deref(), &job.id, &account).await.map(drop),
            other => other,
        };
        if let Err(e) = ran {
            let _ = uws.engine.delete(owner.as_deref(), &job.id).await;
            return Err(fail(e));
        }
    }
    Ok(see_other(format!("{}/{}", uws.jobs_url(&parts), job.id)))
}

async fn job(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let mut pairs = query_pairs(&parts);
    let owner = uws.owner(&parts);
    let jobs_url = uws.jobs_url(&parts);
    // A WAIT may last minutes: keep nothing of the request head (which shares the connection's
    // read buffer) while it does.
    drop(parts);
    let wait = single(&mut pairs, "WAIT")?;
    // PHASE is checked even without WAIT (where it has no effect), as the description declares it.
    let phase = single(&mut pairs, "PHASE")?.map(|p| p.parse::<Phase>().map_err(usage)).transpose()?;
    let job = match wait {
        None => uws.engine.get(owner.as_deref(), &id).await,
        Some(w) => {
            let seconds: i64 = w.parse().ok().filter(|s| *s >= -1).ok_or_else(|| usage(format!("WAIT `{w}` is not -1 or a number of seconds")))?;
            let timeout = (seconds >= 0).then(|| Duration::from_secs(seconds.unsigned_abs()));
            uws.engine.wait(owner.as_deref(), &id, timeout, phase).await
        }
    }
    .map_err(fail)?;
    Ok(xml(documents::job(&job, &format!("{jobs_url}/{}", job.id))))
}

async fn delete(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    uws.engine.delete(uws.owner(&parts).as_deref(), &id).await.map_err(fail)?;
    Ok(see_other(uws.jobs_url(&parts)))
}

async fn job_action(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let mut pairs = form_pairs(&parts, body).await?;
    match single(&mut pairs, "ACTION")?.as_deref() {
        Some("DELETE") => {
            uws.engine.delete(uws.owner(&parts).as_deref(), &id).await.map_err(fail)?;
            Ok(see_other(uws.jobs_url(&parts)))
        }
        other => Err(usage(format!("ACTION must be DELETE, got {other:?}"))),
    }
}

async fn phase(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let job = uws.job(&parts, &id).await?;
    Ok(text(job.phase.to_string()))
}

async fn set_phase(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let mut pairs = form_pairs(&parts, body).await?;
    let owner = uws.owner(&parts);
    match single(&mut pairs, "PHASE")?.as_deref() {
        Some("RUN") => uws.engine.run_as(owner.as_deref(), &id, &uws.account(&parts, owner.as_deref())).await.map_err(fail)?,
        Some("ABORT") => uws.engine.abort(owner.as_deref(), &id).await.map_err(fail)?,
        other => return Err(usage(format!("PHASE must be RUN or ABORT, got {other:?}"))),
    };
    Ok(see_other(format!("{}/{id}", uws.jobs_url(&parts))))
}

async fn execution_duration(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let job = uws.job(&parts, &id).await?;
    Ok(text(job.execution_duration.to_string()))
}

async fn set_execution_duration(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let mut pairs = form_pairs(&parts, body).await?;
    let value = single(&mut pairs, "EXECUTIONDURATION")?.ok_or_else(|| usage("EXECUTIONDURATION is required"))?;
    let seconds = seconds(&value)?;
    uws.engine.set_execution_duration(uws.owner(&parts).as_deref(), &id, seconds).await.map_err(fail)?;
    Ok(see_other(format!("{}/{id}", uws.jobs_url(&parts))))
}

fn seconds(value: &str) -> Result<u64, Failure> {
    // At most i64::MAX, as the description declares (and as the job store keeps it).
    value.trim().parse::<u64>().ok().filter(|s| i64::try_from(*s).is_ok()).ok_or_else(|| usage(format!("EXECUTIONDURATION `{value}` is not a number of seconds")))
}

async fn destruction(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let job = uws.job(&parts, &id).await?;
    // Written as the job document writes it, so that both say the same instant.
    Ok(text(job.destruction.map(documents::instant).unwrap_or_default()))
}

async fn set_destruction(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let mut pairs = form_pairs(&parts, body).await?;
    let value = single(&mut pairs, "DESTRUCTION")?.ok_or_else(|| usage("DESTRUCTION is required"))?;
    let at = instant(&value).ok_or_else(|| usage(format!("DESTRUCTION `{value}` is not an ISO 8601 instant")))?;
    uws.engine.set_destruction(uws.owner(&parts).as_deref(), &id, at).await.map_err(fail)?;
    Ok(see_other(format!("{}/{id}", uws.jobs_url(&parts))))
}

async fn quote(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    uws.job(&parts, &id).await?;
    // No estimate is made; UWS allows an empty quote.
    Ok(text(String::new()))
}

async fn error(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let job = uws.job(&parts, &id).await?;
    match job.error {
        // A failed job's error document is served with 200 (DALI); TAP's is a VOTable (§3.3).
        Some(e) if matches!(uws.settings.format, ErrorFormat::DaliVotable | ErrorFormat::ScsVotable) => {
            Ok((StatusCode::OK, [(CONTENT_TYPE, "application/x-votable+xml")], crate::ivoa::votable_error(&e.message)).into_response())
        }
        Some(e) => Ok(text(crate::ivoa::labelled_text(&e.message))),
        // A job that has not failed is still there: its error is empty (as an unknown quote is),
        // not 404, which says there is no such job.
        None => Ok(text(String::new())),
    }
}

async fn results(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let job = uws.job(&parts, &id).await?;
    Ok(xml(documents::results(&job, &format!("{}/{id}", uws.jobs_url(&parts)))))
}

async fn result(State(uws): State<Uws>, Path((id, result)): Path<(String, String)>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let (stored, found) = uws.engine.result(uws.owner(&parts).as_deref(), &id, &result).await.map_err(fail)?;
    let stream = match stored {
        Stored::File(path) => {
            let file = tokio::fs::File::open(&path).await.map_err(|e| fail(EngineError::NotFound(format!("result `{result}`: {e}"))))?;
            file_body(file)
        }
        #[cfg(feature = "s3")]
        Stored::Object(body) => body,
        Stored::Redirect(url) => {
            let location = http::HeaderValue::try_from(url).map_err(|e| fail(EngineError::Store(e.to_string())))?;
            return Ok((StatusCode::SEE_OTHER, [(http::header::LOCATION, location)]).into_response());
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, found.mime_type.parse().unwrap_or(http::HeaderValue::from_static("application/octet-stream")));
    headers.insert(http::header::CONTENT_LENGTH, found.size.into());
    Ok((StatusCode::OK, headers, stream).into_response())
}

/// A file as a streamed body, read in 64 KiB chunks: a large result never sits in memory.
fn file_body(file: tokio::fs::File) -> Body {
    Body::from_stream(FileStream { file, buffer: vec![0; 64 * 1024].into_boxed_slice() })
}

struct FileStream {
    file: tokio::fs::File,
    buffer: Box<[u8]>,
}

impl futures_core::Stream for FileStream {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        let mut buf = tokio::io::ReadBuf::new(&mut this.buffer);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut this.file), cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => Poll::Ready(Some(Ok(bytes::Bytes::copy_from_slice(buf.filled())))),
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

async fn parameters(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let job = uws.job(&parts, &id).await?;
    Ok(xml(documents::parameters(&job)))
}

/// Changes parameters of a pending job: the job's parameters with the changes applied are
/// checked as at creation (400, nothing changed, if they would be refused there); `PHASE=RUN` or
/// `PHASE=ABORT` then acts on the job (UWS 1.1 §2.2.3); `RUNID` sets the job's runId (as TAP
/// clients do), while `EXECUTIONDURATION` and `DESTRUCTION` have their own resources.
async fn set_parameters(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let mut pairs = form_pairs(&parts, body).await?;
    uws.declared(&mut pairs);
    let owner = uws.owner(&parts);
    let phase = single(&mut pairs, "PHASE")?;
    if let Some(p) = phase.as_deref().filter(|p| !matches!(*p, "RUN" | "ABORT")) {
        return Err(usage(format!("PHASE must be RUN or ABORT, got `{p}`")));
    }
    let run_id = single(&mut pairs, "RUNID")?;
    for control in ["EXECUTIONDURATION", "DESTRUCTION"] {
        if !take(&mut pairs, control).is_empty() {
            return Err(usage(format!("{control} is not a job parameter: POST it to the job's `{}` resource", control.to_ascii_lowercase())));
        }
    }
    if !pairs.is_empty() {
        let job = uws.engine.get(owner.as_deref(), &id).await.map_err(fail)?;
        if let Some(check) = &uws.settings.check {
            check(super::engine::merged(&job.parameters, pairs.clone())).await?;
        }
        uws.engine.set_parameters(owner.as_deref(), &id, pairs).await.map_err(fail)?;
    }
    if let Some(run_id) = run_id {
        uws.engine.set_run_id(owner.as_deref(), &id, run_id).await.map_err(fail)?;
    }
    match phase.as_deref() {
        Some("RUN") => drop(uws.engine.run_as(owner.as_deref(), &id, &uws.account(&parts, owner.as_deref())).await.map_err(fail)?),
        Some("ABORT") => drop(uws.engine.abort(owner.as_deref(), &id).await.map_err(fail)?),
        _ => drop(uws.engine.get(owner.as_deref(), &id).await.map_err(fail)?),
    }
    Ok(see_other(format!("{}/{id}", uws.jobs_url(&parts))))
}

async fn owner(State(uws): State<Uws>, Path(id): Path<String>, request: Request) -> Answer {
    let (parts, _) = request.into_parts();
    let job = uws.job(&parts, &id).await?;
    Ok(text(job.owner.unwrap_or_default()))
}
