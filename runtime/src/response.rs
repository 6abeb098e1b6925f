//! Building responses with the content type the API description declares.

use axum::body::Body;
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
