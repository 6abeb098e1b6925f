//! Request bodies: recognising the content type and decoding JSON, forms, multipart, text and
//! binary payloads.

use crate::error::RequestError;
use crate::params::{FilePart, RawRequest};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use crate::upload::{DiskBudget, OnDisk};
use std::path::Path;

/// The largest request body read into memory (64 MiB).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The most memory all the request bodies held at once may take (256 MiB): a body's share is
/// returned when its bytes are dropped. Bodies up to [`SMALL_BODY`] do not count; a larger one that would pass it is refused with 503 rather than
/// made to wait (a waiting body would hold its share, and stop its own time limits).
pub const BUFFERED_BODIES: usize = 256 * 1024 * 1024;

/// Bodies this small are read without taking from [`BUFFERED_BODIES`] (64 KiB).
pub const SMALL_BODY: usize = 64 * 1024;

/// A multipart file part larger than this is written to a temporary file as it arrives, not
/// held in memory (1 MiB).
pub const SPILL: usize = 1024 * 1024;

/// The most one multipart request may write to temporary files by default (1 GiB,
/// `--max-upload`); more answers 413.
pub const MAX_UPLOAD: u64 = 1024 * 1024 * 1024;

/// The most all requests' temporary files may hold at once by default (4 GiB,
/// `--upload-space`): a part that would pass it is refused with 503, its file removed; a file's
/// share is returned when it is removed.
pub const SPILLED_UPLOADS: u64 = 4 * 1024 * 1024 * 1024;

/// What is held now of the temporary files' budget ([`UploadLimits::all`]).
static SPILLED: DiskBudget = DiskBudget::new(SPILLED_UPLOADS);

/// [`UploadLimits::per_request`], as set.
static PER_REQUEST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(MAX_UPLOAD);

/// What multipart requests' large files may hold in temporary files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// One request's files (`--max-upload`, env `MAX_UPLOAD`; default [`MAX_UPLOAD`]); more
    /// answers 413.
    pub per_request: u64,
    /// All requests' at once (`--upload-space`, env `UPLOAD_SPACE`; default
    /// [`SPILLED_UPLOADS`]); more answers 503.
    pub all: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits { per_request: MAX_UPLOAD, all: SPILLED_UPLOADS }
    }
}

/// Sets the limits every later multipart request is read within (a server does so as it starts).
pub fn set_upload_limits(limits: UploadLimits) {
    PER_REQUEST.store(limits.per_request, std::sync::atomic::Ordering::SeqCst);
    SPILLED.set_limit(limits.all);
}

/// Takes from the budget what `size` bytes need beyond what `held` holds; a body up to
/// [`SMALL_BODY`] takes nothing, and one the budget cannot cover now is refused with 503.
fn take_budget(held: &mut Option<tokio::sync::SemaphorePermit<'static>>, size: usize) -> Result<(), RequestError> {
    let want = size.div_ceil(1024) as u32;
    let have = held.as_ref().map_or(0, |p| p.num_permits() as u32);
    if size <= SMALL_BODY || want <= have {
        return Ok(());
    }
    let extra = BUDGET
        .try_acquire_many(want - have)
        .map_err(|_| RequestError::request(StatusCode::SERVICE_UNAVAILABLE, "busy", "the server is receiving too many large request bodies; retry later"))?;
    match held {
        Some(permit) => permit.merge(extra),
        None => *held = Some(extra),
    }
    Ok(())
}

/// `bytes`, holding `held` (their share of the budget) until dropped.
fn budgeted(bytes: Bytes, held: Option<tokio::sync::SemaphorePermit<'static>>) -> Bytes {
    match held {
        Some(permit) => Bytes::from_owner(Budgeted(bytes, permit)),
        None => bytes,
    }
}

/// What is left of [`BUFFERED_BODIES`], in KiB.
static BUDGET: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(BUFFERED_BODIES / 1024);

/// Reads a request body, refusing one larger than [`MAX_BODY`] with 413, one that stalls
/// (see [`crate::serve::Config::body_timeout`]) with 408, and a large one while the server is
/// already reading [`BUFFERED_BODIES`] with 503.
pub async fn read(body: axum::body::Body) -> Result<Bytes, RequestError> {
    use axum::body::HttpBody;
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let too_large = || RequestError::request(StatusCode::PAYLOAD_TOO_LARGE, "size", format!("the request body is larger than {MAX_BODY} bytes"));
    if body.size_hint().lower() > MAX_BODY as u64 {
        return Err(too_large());
    }
    let declared = body.size_hint().lower() as usize;
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut more: Vec<u8> = Vec::new();
    let mut held: Option<tokio::sync::SemaphorePermit<'static>> = None;
    take_budget(&mut held, declared)?;
    let mut total = 0usize;
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|e| {
            if is_timeout(&e) {
                RequestError::request(StatusCode::REQUEST_TIMEOUT, "timeout", format!("the request body stopped arriving: {e}"))
            } else {
                RequestError::request(StatusCode::BAD_REQUEST, "body", format!("the request body was cut off: {e}"))
            }
        })?;
        let Ok(data) = frame.into_data() else { continue };
        total += data.len();
        if total > MAX_BODY {
            return Err(too_large());
        }
        take_budget(&mut held, total)?;
        // One chunk is kept as it came; only a body of several is copied together, into a
        // buffer of the declared length.
        match &first {
            None if more.is_empty() => first = Some(data),
            _ => {
                if let Some(f) = first.take() {
                    more.reserve_exact(declared.max(total).min(MAX_BODY));
                    more.extend_from_slice(&f);
                }
                more.extend_from_slice(&data);
            }
        }
    }
    let bytes = first.unwrap_or_else(|| Bytes::from(more));
    // A large body keeps its share of the budget until it is dropped.
    Ok(budgeted(bytes, held))
}

/// Bytes holding their share of [`BUFFERED_BODIES`].
struct Budgeted(Bytes, #[allow(dead_code, reason = "held for its drop")] tokio::sync::SemaphorePermit<'static>);

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<Stalled>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A request body that stopped arriving: no bytes for the idle limit, or not whole by the
/// deadline.
#[derive(Debug)]
pub struct Stalled(&'static str);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Stalled {}

/// A request body with time limits: each frame must come within `idle` of the one before (or of
/// the head), and the last before `deadline`. The timer is allocated only when the body has to
/// wait, so requests whose body is already in the read buffer pay nothing for it.
pub struct Timed<B> {
    inner: B,
    idle: std::time::Duration,
    /// The deadline and the time of the last frame; `None` for an empty body (most GETs), which
    /// is not even timed.
    times: Option<(tokio::time::Instant, tokio::time::Instant)>,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<B: http_body::Body> Timed<B> {
    /// `inner`, limited from now.
    pub fn new(inner: B, idle: std::time::Duration, total: std::time::Duration) -> Self {
        let times = (!inner.is_end_stream()).then(|| {
            let now = tokio::time::Instant::now();
            (now + total, now)
        });
        Timed { inner, idle, times, timer: None }
    }
}

impl<B> http_body::Body for Timed<B>
where
    B: http_body::Body + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some((_, last)) = &mut this.times {
                    *last = tokio::time::Instant::now();
                }
                return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
            }
            Poll::Pending => {}
        }
        let Some((deadline, last)) = this.times else { return Poll::Pending };
        let until = (last + this.idle).min(deadline);
        let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if timer.deadline() != until {
            timer.as_mut().reset(until);
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let why = if until == deadline { "not whole by the deadline" } else { "no bytes within the idle limit" };
                Poll::Ready(Some(Err(Box::new(Stalled(why)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// How a body in one media type is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// JSON, decoded into the body's type.
    Json,
    /// UTF-8 text.
    Text,
    /// Bytes as they came.
    Binary,
    /// `application/x-www-form-urlencoded`: its pairs join the request's parameters.
    Form,
    /// `multipart/form-data`: its parts join the request's parameters and files.
    Multipart,
}

/// One media type an operation accepts (a range such as `image/*` too), and how it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    /// The declared media type.
    pub media_type: &'static str,
    /// How a body of this type is read.
    pub kind: Kind,
}

impl Encoding {
    /// `media_type` read as JSON.
    pub const fn json(media_type: &'static str) -> Encoding {
        Encoding { media_type, kind: Kind::Json }
    }

    /// `media_type` read as UTF-8 text.
    pub const fn text(media_type: &'static str) -> Encoding {
        Encoding { media_type, kind: Kind::Text }
    }

    /// `media_type` kept as bytes.
    pub const fn binary(media_type: &'static str) -> Encoding {
        Encoding { media_type, kind: Kind::Binary }
    }

    /// `media_type` read as a form (`application/x-www-form-urlencoded`).
    pub const fn form(media_type: &'static str) -> Encoding {
        Encoding { media_type, kind: Kind::Form }
    }

    /// `media_type` read as `multipart/form-data`.
    pub const fn multipart(media_type: &'static str) -> Encoding {
        Encoding { media_type, kind: Kind::Multipart }
    }
}

/// What the parameters of a DALI-sync POST come in: a form or a multipart body.
pub const FORM_PARAMETERS: &[Encoding] =
    &[Encoding::form("application/x-www-form-urlencoded"), Encoding::multipart("multipart/form-data")];

/// A body that arrived in one of the accepted encodings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The declared media type it matched.
    pub media_type: &'static str,
    /// How it reads (its fields are already in the request's parameters for forms).
    pub kind: Kind,
    /// Its bytes.
    pub bytes: Bytes,
}

/// Reads a request's body and dispatches on its content type, the first of `accepted` that
/// matches winning: `None` for no body, the body for one of `accepted` (the fields of a form or
/// multipart body added to `raw`), 415 naming `accepted` for any other type.
pub async fn receive(raw: &mut RawRequest<'_>, headers: &HeaderMap, body: axum::body::Body, accepted: &[Encoding]) -> Result<Option<Received>, RequestError> {
    let media = media_type(headers);
    // A multipart body is read as it arrives, its large files going to temporary files.
    let multipart_encoding = media.as_deref().and_then(|m| accepted.iter().find(|e| matches(m, e.media_type))).filter(|e| e.kind == Kind::Multipart);
    if let Some(encoding) = multipart_encoding {
        multipart(raw, headers, body).await?;
        return Ok(Some(Received { media_type: encoding.media_type, kind: encoding.kind, bytes: Bytes::new() }));
    }
    let bytes = read(body).await?;
    let encoding = match media.as_deref() {
        None if bytes.is_empty() => return Ok(None),
        None => None,
        Some(media) => accepted.iter().find(|e| matches(media, e.media_type)),
    };
    let Some(encoding) = encoding else {
        let names: Vec<&str> = accepted.iter().map(|e| e.media_type).collect();
        return Err(unsupported(media.as_deref(), &names));
    };
    match encoding.kind {
        Kind::Form => form(raw, &bytes),
        Kind::Json | Kind::Text | Kind::Binary | Kind::Multipart => {}
    }
    Ok(Some(Received { media_type: encoding.media_type, kind: encoding.kind, bytes }))
}

/// Adds the parameters of a DALI-sync POST's form or multipart body to `raw` (415 for a body of
/// another type).
pub async fn form_parameters(raw: &mut RawRequest<'_>, headers: &HeaderMap, body: axum::body::Body) -> Result<(), RequestError> {
    receive(raw, headers, body, FORM_PARAMETERS).await.map(drop)
}

/// The media type of the request without parameters, lower-cased (`application/json`), or
/// `None` when the request has no `Content-Type`.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// Whether `media_type` is served by a body declared as `declared` (which may be a range such
/// as `image/*` or `*/*`, or a JSON suffix type such as `application/problem+json`).
pub fn matches(media_type: &str, declared: &str) -> bool {
    if declared == "*/*" || declared.eq_ignore_ascii_case(media_type) {
        return true;
    }
    match declared.strip_suffix("/*") {
        Some(main) => media_type.split('/').next().is_some_and(|m| m.eq_ignore_ascii_case(main)),
        None => false,
    }
}

/// The answer for a body whose content type the operation does not accept.
pub fn unsupported(media_type: Option<&str>, accepted: &[&str]) -> RequestError {
    let given = media_type.unwrap_or("no content type");
    RequestError::request(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "content-type",
        format!("request body of type `{given}` is not accepted; send one of: {}", accepted.join(", ")),
    )
}

/// The answer for a required body that is absent.
pub fn missing() -> RequestError {
    RequestError::new("body", "required", "a request body is required")
}

/// Decodes a JSON body.
pub fn json<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, RequestError> {
    serde_json::from_slice(bytes)
        .map_err(|e| RequestError::new("body", "type", format!("request body does not match the schema: {e}")))
}

/// Decodes a text body (UTF-8).
pub fn text(bytes: &Bytes) -> Result<String, RequestError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| RequestError::new("body", "type", "request body is not valid UTF-8 text"))
}

/// Adds the pairs of a form-urlencoded body to `raw`; repeated keys are kept in order.
pub fn form(raw: &mut RawRequest<'_>, bytes: &Bytes) {
    raw.add_form(form_urlencoded::parse(bytes).into_owned());
}

/// Adds the parts of a `multipart/form-data` body to `raw` as they arrive: text parts as form
/// fields, parts with a file name or a non-text content type as files. What is held in memory
/// (the fields, and files up to [`SPILL`]) is at most [`MAX_BODY`] and takes from the budget of
/// [`BUFFERED_BODIES`]; larger files go to temporary files, at most [`MAX_UPLOAD`] in all.
///
/// The future is boxed: multipart bodies are rare, and a parser's state inline would make every
/// request handler's future larger.
pub fn multipart<'a, 'r: 'a>(
    raw: &'a mut RawRequest<'r>,
    headers: &'a HeaderMap,
    body: axum::body::Body,
) -> std::pin::Pin<Box<dyn Future<Output = Result<(), RequestError>> + Send + 'a>> {
    let most = PER_REQUEST.load(std::sync::atomic::Ordering::SeqCst);
    Box::pin(multipart_fields(raw, headers, body, Spill { folder: None, budget: &SPILLED, most }))
}

/// What reading a multipart body failed on, as the request's error.
fn multipart_error(e: multer::Error) -> RequestError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => RequestError::request(StatusCode::PAYLOAD_TOO_LARGE, "size", format!("the multipart body is larger than {limit} bytes")),
        e if is_timeout(&e) => RequestError::request(StatusCode::REQUEST_TIMEOUT, "timeout", format!("the request body stopped arriving: {e}")),
        e => RequestError::new("body", "type", format!("malformed multipart body: {e}")),
    }
}

/// Where a multipart body's large file parts are written, and how much.
struct Spill<'a> {
    /// The folder (by default the process's, [`crate::upload::spill_folder`]).
    folder: Option<&'a Path>,
    /// What all requests' files may hold ([`UploadLimits::all`]).
    budget: &'static DiskBudget,
    /// What one request's may ([`UploadLimits::per_request`]).
    most: u64,
}

/// [`multipart`], with large files written as `spill` says.
async fn multipart_fields(raw: &mut RawRequest<'_>, headers: &HeaderMap, body: axum::body::Body, spill: Spill<'_>) -> Result<(), RequestError> {
    use tokio::io::AsyncWriteExt;
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(multipart_error)?;
    let limits = multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(spill.most + MAX_BODY as u64));
    let mut parts = multer::Multipart::with_constraints(body.into_data_stream(), boundary, limits);
    let too_large = |what: &str, limit: u64| RequestError::request(StatusCode::PAYLOAD_TOO_LARGE, "size", format!("the multipart body's {what} are larger than {limit} bytes"));
    let (mut in_memory, mut written_to_disk) = (0usize, 0u64);
    while let Some(mut field) = parts.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        // A part's name is a parameter name: printable ASCII but `"` and `\`, as the published
        // description says (a quoted header parameter cannot carry control characters, and
        // clients disagree on escaping the other two).
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
            return Err(RequestError::new("body", "type", format!("multipart part name {name:?} is not printable ASCII")));
        }
        let content_type = field.content_type().map(|m| m.essence_str().to_owned());
        let is_file = field.file_name().is_some()
            || content_type.as_deref().is_some_and(|t| !t.starts_with("text/"));
        let mut data: Vec<u8> = Vec::new();
        let mut held = None;
        // The part's temporary file, removed when this is dropped: whatever ends the request
        // early (a body cut short or malformed, a limit, a full disk, the request dropped)
        // leaves nothing behind.
        let mut spilled: Option<(tokio::fs::File, OnDisk, u64)> = None;
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if spilled.is_none() && is_file && data.len() + chunk.len() > SPILL {
                let (mut file, mut on_disk) = temporary_file(spill.folder, spill.budget).await?;
                in_memory -= data.len();
                written_to_disk += data.len() as u64;
                if !on_disk.count(data.len() as u64) {
                    return Err(disk_full());
                }
                file.write_all(&data).await.map_err(|e| spill_failed(&e))?;
                spilled = Some((file, on_disk, data.len() as u64));
                data = Vec::new();
                held = None;
            }
            match &mut spilled {
                Some((file, counted, written)) => {
                    written_to_disk += chunk.len() as u64;
                    if written_to_disk > spill.most {
                        return Err(too_large("files", spill.most));
                    }
                    if !counted.count(chunk.len() as u64) {
                        return Err(disk_full());
                    }
                    file.write_all(&chunk).await.map_err(|e| spill_failed(&e))?;
                    *written += chunk.len() as u64;
                }
                None => {
                    in_memory += chunk.len();
                    if in_memory > MAX_BODY {
                        return Err(too_large("fields", MAX_BODY as u64));
                    }
                    take_budget(&mut held, data.len() + chunk.len())?;
                    data.extend_from_slice(&chunk);
                }
            }
        }
        let content = match spilled {
            Some((mut file, on_disk, written)) => {
                file.flush().await.map_err(|e| spill_failed(&e))?;
                crate::upload::Content::File(std::sync::Arc::new(on_disk.with_len(written)))
            }
            None => crate::upload::Content::Memory(budgeted(Bytes::from(data), held)),
        };
        if is_file {
            raw.add_file(FilePart { name, content_type, content });
        } else {
            let crate::upload::Content::Memory(bytes) = content else { unreachable!("only files are written to disk") };
            let value = String::from_utf8(bytes.to_vec()).map_err(|_| {
                RequestError::new(name.clone(), "type", format!("form field `{name}` is not valid UTF-8"))
            })?;
            raw.add_form([(name, value)]);
        }
    }
    Ok(())
}

/// A new temporary file for a large part in folder `dir` (by default the process's), and what
/// removes it when dropped and counts its bytes against `budget`.
async fn temporary_file(dir: Option<&Path>, budget: &'static DiskBudget) -> Result<(tokio::fs::File, OnDisk), RequestError> {
    let id = crate::uws::engine::new_id().map_err(|e| RequestError::request(StatusCode::INTERNAL_SERVER_ERROR, "body", e.to_string()))?;
    let dir = match dir {
        Some(dir) => dir,
        None => tokio::task::spawn_blocking(crate::upload::spill_folder)
            .await
            .map_err(|e| RequestError::request(StatusCode::INTERNAL_SERVER_ERROR, "body", e.to_string()))?
            .map_err(|e| spill_failed(&e))?,
    };
    let path = dir.join(id);
    // Made and owned in one blocking call: should the request be dropped meanwhile, the file
    // is removed with the call's result.
    let (file, on_disk) = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        Ok::<_, std::io::Error>((file, OnDisk::counted(path, budget)))
    })
    .await
    .map_err(|e| RequestError::request(StatusCode::INTERNAL_SERVER_ERROR, "body", e.to_string()))?
    .map_err(|e| spill_failed(&e))?;
    Ok((tokio::fs::File::from_std(file), on_disk))
}

/// The answer to a part that [`SPILLED_UPLOADS`] cannot hold now.
fn disk_full() -> RequestError {
    RequestError::request(StatusCode::SERVICE_UNAVAILABLE, "busy", "the server is holding too many large uploaded files; retry later")
}

fn spill_failed(e: &std::io::Error) -> RequestError {
    RequestError::request(StatusCode::SERVICE_UNAVAILABLE, "storage", format!("a large file part could not be written to a temporary file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_bodies_share_one_budget_until_dropped() {
        /// `0` more chunks of 64 KiB, length unknown.
        struct Chunks(usize);
        impl http_body::Body for Chunks {
            type Data = Bytes;
            type Error = std::convert::Infallible;
            fn poll_frame(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
                if self.0 == 0 {
                    return std::task::Poll::Ready(None);
                }
                self.0 -= 1;
                std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![7u8; 64 * 1024])))))
            }
        }
        let chunks = |n: usize| axum::body::Body::new(Chunks(n));
        let before = BUDGET.available_permits();
        let body = read(chunks(4)).await.unwrap();
        assert_eq!(body.len(), 256 * 1024);
        assert_eq!(BUDGET.available_permits(), before - 256, "held while the bytes live");
        drop(body);
        assert_eq!(BUDGET.available_permits(), before);
        // With the budget spent, a large body is refused, a small one is not.
        let spent = BUDGET.acquire_many(before as u32 - 100).await.unwrap();
        assert_eq!(read(chunks(4)).await.unwrap_err().status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(read(chunks(1)).await.unwrap().len(), 64 * 1024);
        drop(spent);
    }

    #[test]
    fn media_ranges_match() {
        assert!(matches("image/png", "image/*"));
        assert!(matches("application/json", "*/*"));
        assert!(matches("application/json", "Application/JSON"));
        assert!(!matches("text/plain", "image/*"));
        assert!(!matches("application/jsonx", "application/json"));
    }

    #[tokio::test]
    async fn multipart_keeps_repeated_fields_and_files() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\na\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\nb\r\n\
                    --XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\n\x01\x02\r\n--XX--\r\n";
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, "multipart/form-data; boundary=XX".parse().unwrap());
        let parts = http::Request::builder().body(()).unwrap().into_parts().0;
        let mut raw = RawRequest::new(&parts, Vec::new());
        multipart(&mut raw, &headers, axum::body::Body::from(body)).await.unwrap();
        assert_eq!(raw.values(crate::params::Location::Form, "id"), ["a", "b"]);
        assert_eq!(raw.file("f").unwrap().content.bytes().unwrap().as_ref(), b"\x01\x02");
    }

    #[tokio::test]
    async fn a_large_file_part_goes_to_a_temporary_file_as_it_arrives() {
        let large = vec![b'x'; 3 * SPILL + 7];
        let mut body = b"--XX\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\na\r\n--XX\r\nContent-Disposition: form-data; name=\"big\"; filename=\"t.vot\"\r\n\r\n".to_vec();
        body.extend_from_slice(&large);
        body.extend_from_slice(b"\r\n--XX\r\nContent-Disposition: form-data; name=\"small\"; filename=\"s\"\r\n\r\nabc\r\n--XX--\r\n");
        // In chunks of 64 KiB, as a socket delivers it.
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = body.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let stream = axum::body::Body::from_stream(futures_util_stream(chunks));
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, "multipart/form-data; boundary=XX".parse().unwrap());
        let parts = http::Request::builder().body(()).unwrap().into_parts().0;
        let mut raw = RawRequest::new(&parts, Vec::new());
        multipart(&mut raw, &headers, stream).await.unwrap();
        assert_eq!(raw.values(crate::params::Location::Form, "id"), ["a"]);
        let big = raw.file("big").unwrap().content.clone();
        let path = big.path().expect("written to a file").to_owned();
        assert_eq!((big.len(), big.bytes().unwrap().as_ref()), (large.len() as u64, large.as_slice()));
        assert!(raw.file("small").unwrap().content.path().is_none(), "a small file stays in memory");
        drop(raw);
        assert!(path.exists(), "held by the clone");
        drop(big);
        assert!(!path.exists(), "removed once nothing holds it");
    }

    /// A body that sends `chunks`, then fails (`Some(error)`) or never sends more (`None`).
    fn cut_short(chunks: Vec<Bytes>, end: Option<std::io::ErrorKind>) -> axum::body::Body {
        struct Cut(std::collections::VecDeque<Bytes>, Option<std::io::ErrorKind>);
        impl futures_core::Stream for Cut {
            type Item = std::io::Result<Bytes>;
            fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
                match (self.0.pop_front(), self.1) {
                    (Some(chunk), _) => std::task::Poll::Ready(Some(Ok(chunk))),
                    (None, Some(kind)) => std::task::Poll::Ready(Some(Err(kind.into()))),
                    (None, None) => std::task::Poll::Pending,
                }
            }
        }
        axum::body::Body::from_stream(Cut(chunks.into(), end))
    }

    #[tokio::test]
    async fn a_request_ended_early_leaves_no_temporary_file() {
        static BUDGET: DiskBudget = DiskBudget::new(SPILLED_UPLOADS);
        let dir = std::env::temp_dir().join(format!("ivoagen-spill-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, "multipart/form-data; boundary=XX".parse().unwrap());
        let parts = http::Request::builder().body(()).unwrap().into_parts().0;
        // A first large part complete, a second one cut off well past the spilling point.
        let mut start = b"--XX\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n".to_vec();
        start.extend(vec![b'a'; 2 * SPILL]);
        start.extend_from_slice(b"\r\n--XX\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b\"\r\n\r\n");
        start.extend(vec![b'b'; 3 * SPILL]);
        let chunks = || start.chunks(64 * 1024).map(Bytes::copy_from_slice).collect::<Vec<_>>();
        let files = || std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);

        // The body ends mid-part; the connection fails mid-part.
        let mut all = chunks();
        all.push(Bytes::from_static(b"\r\n--XX--\r\n"));
        for (body, why) in [(cut_short(chunks(), None), "ended"), (cut_short(chunks(), Some(std::io::ErrorKind::ConnectionReset)), "reset")] {
            let mut raw = RawRequest::new(&parts, Vec::new());
            let ended = if why == "ended" {
                // Never more bytes: the server's timeout, or the client gone, drops the request.
                tokio::time::timeout(std::time::Duration::from_millis(200), multipart_fields(&mut raw, &headers, body, Spill { folder: Some(&dir), budget: &BUDGET, most: MAX_UPLOAD })).await.is_err()
            } else {
                multipart_fields(&mut raw, &headers, body, Spill { folder: Some(&dir), budget: &BUDGET, most: MAX_UPLOAD }).await.is_err()
            };
            assert!(ended, "{why}");
            drop(raw);
            assert_eq!((files(), BUDGET.used()), (0, 0), "{why}: the parts' files are removed, their bytes given back");
        }
        // A body cut short and then closed is malformed: refused, nothing left.
        let mut raw = RawRequest::new(&parts, Vec::new());
        let mut truncated = chunks();
        truncated.push(Bytes::from_static(b"no closing boundary"));
        let body = axum::body::Body::from_stream(futures_util_stream(truncated.into_iter().map(Ok).collect()));
        let error = multipart_fields(&mut raw, &headers, body, Spill { folder: Some(&dir), budget: &BUDGET, most: MAX_UPLOAD }).await.unwrap_err();
        assert!(error.message.contains("malformed multipart body"), "{}", error.message);
        drop(raw);
        assert_eq!(files(), 0, "malformed: the parts' files are removed");
        // The same parts, complete, are kept until the request is done with them.
        let mut raw = RawRequest::new(&parts, Vec::new());
        let body = axum::body::Body::from_stream(futures_util_stream(all.into_iter().map(Ok).collect()));
        multipart_fields(&mut raw, &headers, body, Spill { folder: Some(&dir), budget: &BUDGET, most: MAX_UPLOAD }).await.unwrap();
        assert_eq!((files(), BUDGET.used()), (2, 5 * SPILL as u64), "both large parts in files, counted");
        drop(raw);
        assert_eq!((files(), BUDGET.used()), (0, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn temporary_files_share_one_budget_until_removed_and_each_request_has_a_limit() {
        static BUDGET: DiskBudget = DiskBudget::new(4 * SPILL as u64);
        let dir = std::env::temp_dir().join(format!("ivoagen-spill-budget-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, "multipart/form-data; boundary=XX".parse().unwrap());
        let parts = http::Request::builder().body(()).unwrap().into_parts().0;
        // A request with one file part of 3 MiB, in chunks of 64 KiB.
        let body = || {
            let mut body = b"--XX\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t\"\r\n\r\n".to_vec();
            body.extend(vec![b't'; 3 * SPILL]);
            body.extend_from_slice(b"\r\n--XX--\r\n");
            let chunks: Vec<Result<Bytes, std::convert::Infallible>> = body.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            axum::body::Body::from_stream(futures_util_stream(chunks))
        };
        let files = || std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        let mut first = RawRequest::new(&parts, Vec::new());
        multipart_fields(&mut first, &headers, body(), Spill { folder: Some(&dir), budget: &BUDGET, most: MAX_UPLOAD }).await.unwrap();
        assert_eq!(BUDGET.used(), 3 * SPILL as u64);
        // A second one, while the first holds its file, does not fit: 503, and nothing is left of it.
        let mut second = RawRequest::new(&parts, Vec::new());
        let refused = multipart_fields(&mut second, &headers, body(), Spill { folder: Some(&dir), budget: &BUDGET, most: MAX_UPLOAD }).await.unwrap_err();
        assert_eq!((refused.status, refused.message.contains("too many large uploaded files")), (StatusCode::SERVICE_UNAVAILABLE, true), "{}", refused.message);
        drop(second);
        assert_eq!((files(), BUDGET.used()), (1, 3 * SPILL as u64));
        // Once the first is done with its file, the second fits.
        drop(first);
        assert_eq!((files(), BUDGET.used()), (0, 0));
        let mut again = RawRequest::new(&parts, Vec::new());
        multipart_fields(&mut again, &headers, body(), Spill { folder: Some(&dir), budget: &BUDGET, most: MAX_UPLOAD }).await.unwrap();
        drop(again);
        assert_eq!((files(), BUDGET.used()), (0, 0));
        // One request's files over its limit: 413, and nothing is left of them.
        let mut over = RawRequest::new(&parts, Vec::new());
        let refused = multipart_fields(&mut over, &headers, body(), Spill { folder: Some(&dir), budget: &BUDGET, most: 2 * SPILL as u64 }).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", refused.message);
        assert!(refused.message.contains("files are larger than 2097152 bytes"), "{}", refused.message);
        drop(over);
        assert_eq!((files(), BUDGET.used()), (0, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A stream of `items`.
    fn futures_util_stream(items: Vec<Result<Bytes, std::convert::Infallible>>) -> impl futures_core::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
        struct Items(std::collections::VecDeque<Result<Bytes, std::convert::Infallible>>);
        impl futures_core::Stream for Items {
            type Item = Result<Bytes, std::convert::Infallible>;
            fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
                std::task::Poll::Ready(self.0.pop_front())
            }
        }
        Items(items.into())
    }

    #[tokio::test]
    async fn multipart_part_names_are_printable_ascii_without_quote_or_backslash() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, "multipart/form-data; boundary=XX".parse().unwrap());
        let parts = http::Request::builder().body(()).unwrap().into_parts().0;
        for (name, ok) in [("ID", true), ("a.b-c_d~", true), ("", false), ("a b", false), ("\\", false), ("é", false)] {
            let body = format!("--XX\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\nv\r\n--XX--\r\n");
            let mut raw = RawRequest::new(&parts, Vec::new());
            let result = multipart(&mut raw, &headers, axum::body::Body::from(body)).await;
            assert_eq!(result.is_ok(), ok, "{name:?}: {result:?}");
        }
    }
}
