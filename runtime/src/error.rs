//! The two kinds of failure a generated server reports: a request that breaks the API description
//! ([`RequestError`], always the client's fault) and a failure inside the service ([`Error`]).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use std::fmt;

/// A request that does not satisfy the API description: answered with 4xx, naming the parameter
/// and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// HTTP status of the answer (400 unless the content type is unsupported, and so on).
    pub status: StatusCode,
    /// The parameter or body path at fault, as the API names it (`limit`, `body.tags[2]`).
    pub parameter: Option<String>,
    /// The rule that was broken, in the vocabulary of JSON Schema where one applies
    /// (`maximum`, `pattern`, `required`, `type`, `enum`, `multiplicity`, ...).
    pub rule: &'static str,
    /// A sentence for people.
    pub message: String,
}

impl RequestError {
    /// A 400 for `parameter` breaking `rule`.
    pub fn new(parameter: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        RequestError {
            status: StatusCode::BAD_REQUEST,
            parameter: Some(parameter.into()),
            rule,
            message: message.into(),
        }
    }

    /// A failure that concerns the request as a whole (no single parameter).
    pub fn request(status: StatusCode, rule: &'static str, message: impl Into<String>) -> Self {
        RequestError { status, parameter: None, rule, message: message.into() }
    }

    /// A required parameter that is absent.
    pub fn missing(parameter: &str) -> Self {
        Self::new(parameter, "required", format!("parameter `{parameter}` is required"))
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.rule,
            "parameter": self.parameter,
            "message": self.message,
        });
        (self.status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

/// A failure inside the service, returned by an implementation instead of a declared response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// A sentence for people; sent to the client.
    pub message: String,
}

impl Error {
    /// An error with any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Error { status, message: message.into() }
    }

    /// 500: the service failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 501: the operation has no implementation yet (what a fresh scaffold answers).
    pub fn not_implemented(operation: &str) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, format!("operation `{operation}` is not implemented"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": "service", "message": self.message });
        (self.status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}
