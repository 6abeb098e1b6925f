//! Building responses with the content type the API description declares.

/// The body of a binary response: built from bytes (`Body::from(vec)`) or streamed
/// ([`streamed`]).
pub use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::StatusCode;
use serde::Serialize;

/// The status for a declared code (any code from 100 to 999 is valid; others become 500).
pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON body with `content_type` (`application/json` or a `+json` type).
pub fn json<T: Serialize>(status: StatusCode, content_type: &'static str, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => bytes_body(status, content_type, Bytes::from(bytes)),
        Err(e) => crate::Error::internal(format!("response body could not be serialised: {e}")).into_response_inner(),
    }
}

/// An XML body written from a generated model's schema.
pub fn xml<T: crate::xml::ToXml>(status: StatusCode, content_type: &'static str, element: &str, body: &T) -> Response {
    bytes_body(status, content_type, Bytes::from(crate::xml::document(body, element)))
}

/// A text body.
pub fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    bytes_body(status, content_type, Bytes::from(body))
}

/// A body sent as it is.
pub fn bytes_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A binary body: bytes, or a stream the service writes as it goes.
pub fn body(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A response without a body.
pub fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

/// Adds a declared response header. A value that cannot travel in a header (a line break, say)
/// turns the response into a 500 rather than sending a corrupt header.
pub fn header(mut response: Response, name: &'static str, value: impl ToString) -> Response {
    match HeaderValue::try_from(value.to_string()) {
        Ok(value) => {
            response.headers_mut().append(HeaderName::from_static(name), value);
            response
        }
        Err(_) => crate::Error::internal(format!("response header `{name}` has a value that cannot be sent"))
            .into_response_inner(),
    }
}

impl crate::Error {
    fn into_response_inner(self) -> Response {
        axum::response::IntoResponse::into_response(self)
    }
}

/// A body that blocking code writes as it goes (a cutout read from disk row by row, say), and the
/// writer it writes through. `length`, when known, is announced as `Content-Length`, so a client
/// can tell a body cut short by an error from a complete one. Chunks of `chunk` bytes travel
/// through a channel of a few chunks: memory stays bounded however large the body.
///
/// The writer blocks: use it from `tokio::task::spawn_blocking` or a thread of your own, never
/// from async code. A write fails with `BrokenPipe` once the client has gone.
pub fn streamed(length: Option<u64>, chunk: usize) -> (BodyWriter, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let chunk = chunk.max(1);
    (BodyWriter { tx, buffer: Vec::with_capacity(chunk), chunk }, Body::new(ChannelBody { rx, remaining: length }))
}

/// Writes a [`streamed`] body.
pub struct BodyWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
    chunk: usize,
}

impl BodyWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(self.chunk));
        self.tx
            .blocking_send(Ok(Bytes::from(full)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client has gone"))
    }

    /// Ends the body with an error: the client sees the connection fail rather than a body that
    /// looks complete.
    pub fn fail(mut self, error: std::io::Error) {
        self.buffer.clear();
        let _ = self.tx.blocking_send(Err(error));
    }
}

impl std::io::Write for BodyWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = self.chunk - self.buffer.len();
        let n = bytes.len().min(room);
        self.buffer.extend_from_slice(&bytes[..n]);
        if self.buffer.len() == self.chunk {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    remaining: Option<u64>,
}

impl axum::body::HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|next| {
            next.map(|chunk| {
                chunk.map(|bytes| {
                    if let Some(remaining) = &mut self.remaining {
                        *remaining = remaining.saturating_sub(bytes.len() as u64);
                    }
                    http_body::Frame::data(bytes)
                })
            })
        })
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.remaining {
            Some(n) => http_body::SizeHint::with_exact(n),
            None => http_body::SizeHint::default(),
        }
    }
}

/// The short forms of RESPONSEFORMAT (DALI 1.1 §3.2.1, TAP 1.1 §2.7.1) and the media types each
/// stands for, the first the one a service writes.
const SHORT_FORMS: &[(&str, &[&str])] = &[
    ("votable", &["application/x-votable+xml", "text/xml"]),
    ("csv", &["text/csv"]),
    ("tsv", &["text/tab-separated-values"]),
    ("fits", &["application/fits"]),
    ("text", &["text/plain"]),
    ("html", &["text/html"]),
    ("json", &["application/json"]),
];

/// The media type of `offered` (a response's `MEDIA_TYPES`, the first the default) that the
/// RESPONSEFORMAT `requested` asks for (DALI 1.1 §3.2.1): absent or empty, the first; a short form
/// (`votable`, `csv`, `tsv`, `fits`, `text`, `html`, `json`) or a media type, compared without
/// case. A media type's parameters (`;content=datalink`) must match when given; when not, the
/// first offered type with that essence is chosen. Anything else is a `UsageError` naming what
/// is offered.
pub fn negotiate(requested: Option<&str>, offered: &[&'static str]) -> Result<&'static str, crate::Error> {
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    let essence = |s: &str| s.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let Some(requested) = requested.map(str::trim).filter(|r| !r.is_empty()) else {
        return offered.first().copied().ok_or_else(|| crate::Error::internal("the response offers no media type"));
    };
    let wanted = compact(requested);
    let found = match SHORT_FORMS.iter().find(|(short, _)| *short == wanted) {
        Some((_, types)) => offered.iter().find(|o| types.contains(&essence(o).as_str())),
        None if wanted.contains(';') => offered.iter().find(|o| compact(o) == wanted),
        None => offered.iter().find(|o| essence(o) == wanted),
    };
    found.copied().ok_or_else(|| crate::Error::usage(format!("RESPONSEFORMAT `{requested}` is not offered: use one of {}", offered.join(", "))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn responseformat_chooses_among_the_offered_media_types() {
        let offered = &["application/x-votable+xml", "text/csv", "application/fits", "application/x-votable+xml;serialization=binary2"];
        assert_eq!(negotiate(None, offered).unwrap(), "application/x-votable+xml");
        assert_eq!(negotiate(Some(" "), offered).unwrap(), "application/x-votable+xml");
        assert_eq!(negotiate(Some("csv"), offered).unwrap(), "text/csv");
        assert_eq!(negotiate(Some("CSV"), offered).unwrap(), "text/csv");
        assert_eq!(negotiate(Some("votable"), offered).unwrap(), "application/x-votable+xml");
        assert_eq!(negotiate(Some("Text/CSV"), offered).unwrap(), "text/csv");
        assert_eq!(negotiate(Some("application/x-votable+xml; serialization=BINARY2"), offered).unwrap(), "application/x-votable+xml;serialization=binary2");
        let refused = negotiate(Some("tsv"), offered).unwrap_err();
        assert_eq!(refused.fault, crate::ivoa::Fault::Usage);
        assert!(refused.message.contains("use one of application/x-votable+xml, text/csv"), "{}", refused.message);
        assert!(negotiate(Some("application/x-votable+xml;serialization=tabledata"), offered).is_err());
    }

    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn a_streamed_body_arrives_whole_with_its_length() {
        let (mut writer, body) = streamed(Some(10_000), 512);
        let producer = tokio::task::spawn_blocking(move || {
            for i in 0..100u8 {
                writer.write_all(&[i; 100]).unwrap();
            }
        });
        assert_eq!(axum::body::HttpBody::size_hint(&body).exact(), Some(10_000));
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        producer.await.unwrap();
        assert_eq!(bytes.len(), 10_000);
        assert!(bytes.chunks(100).enumerate().all(|(i, c)| c.iter().all(|&b| b as usize == i)));
    }

    #[tokio::test]
    async fn a_failed_body_is_an_error_and_a_gone_client_stops_the_writer() {
        let (mut writer, body) = streamed(None, 4);
        let producer = tokio::task::spawn_blocking(move || {
            writer.write_all(b"abcdefgh").unwrap();
            writer.fail(std::io::Error::other("disk gone"));
        });
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err());
        producer.await.unwrap();

        let (mut writer, body) = streamed(None, 4);
        drop(body);
        let result = tokio::task::spawn_blocking(move || writer.write_all(b"abcdefgh")).await.unwrap();
        assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    }
}
