//! Request bodies: recognising the content type and decoding JSON, forms, multipart, text and
//! binary payloads.

use crate::error::RequestError;
use crate::params::{FilePart, RawRequest};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// The largest request body read into memory (64 MiB).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Reads a request body, refusing one larger than [`MAX_BODY`] with 413.
pub async fn read(body: axum::body::Body) -> Result<Bytes, RequestError> {
    if axum::body::HttpBody::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        RequestError::request(
            StatusCode::PAYLOAD_TOO_LARGE,
            "size",
            format!("the request body is larger than {MAX_BODY} bytes, or was cut off"),
        )
    })
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

/// Adds the parts of a `multipart/form-data` body to `raw`: text parts as form fields, parts
/// with a file name or a non-text content type as files.
///
/// The future is boxed: multipart bodies are rare, and a parser's state inline would make every
/// request handler's future larger.
pub fn multipart<'a, 'r: 'a>(
    raw: &'a mut RawRequest<'r>,
    headers: &'a HeaderMap,
    bytes: Bytes,
) -> std::pin::Pin<Box<dyn Future<Output = Result<(), RequestError>> + Send + 'a>> {
    Box::pin(multipart_fields(raw, headers, bytes))
}

async fn multipart_fields(raw: &mut RawRequest<'_>, headers: &HeaderMap, bytes: Bytes) -> Result<(), RequestError> {
    let malformed = |e: multer::Error| RequestError::new("body", "type", format!("malformed multipart body: {e}"));
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let stream = futures_once(bytes);
    let mut parts = multer::Multipart::new(stream, boundary);
    while let Some(field) = parts.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        let content_type = field.content_type().map(|m| m.essence_str().to_owned());
        let is_file = field.file_name().is_some()
            || content_type.as_deref().is_some_and(|t| !t.starts_with("text/"));
        let data = field.bytes().await.map_err(malformed)?;
        if is_file {
            raw.add_file(FilePart { name, content_type, data });
        } else {
            let value = String::from_utf8(data.to_vec()).map_err(|_| {
                RequestError::new(name.clone(), "type", format!("form field `{name}` is not valid UTF-8"))
            })?;
            raw.add_form([(name, value)]);
        }
    }
    Ok(())
}

fn futures_once(bytes: Bytes) -> impl futures_core::Stream<Item = Result<Bytes, std::convert::Infallible>> {
    Once(Some(bytes))
}

struct Once(Option<Bytes>);

impl futures_core::Stream for Once {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.take().map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        multipart(&mut raw, &headers, Bytes::from(body)).await.unwrap();
        assert_eq!(raw.values(crate::params::Location::Form, "id"), ["a", "b"]);
        assert_eq!(raw.file("f").unwrap().data.as_ref(), b"\x01\x02");
    }
}
