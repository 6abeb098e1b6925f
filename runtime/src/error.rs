//! The two kinds of failure a generated server reports: a request that breaks the API description
//! ([`RequestError`], always the client's fault) and a failure inside the service ([`Error`]).

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use std::fmt;

use crate::ivoa::Fault;

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

/// A failure a service returns instead of a declared response: its kind, from the one table of
/// SODA/DALI kinds ([`Fault`]: label and status), and a sentence for people. The runtime writes
/// it in the operation's error format (SODA text, a DALI VOTable or JSON), so a service never
/// writes labels or status codes itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong: decides the label and, unless [`Error::with_status`] says otherwise, the status.
    pub fault: Fault,
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// A sentence for people; sent to the client after the label.
    pub message: String,
}

impl Error {
    /// An error of kind `fault`, with its status.
    pub fn new(fault: Fault, message: impl Into<String>) -> Self {
        Error { fault, status: fault.status(), message: message.into() }
    }

    /// An error with a status outside the table (`429`, `501`); its kind is the status's.
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        Error { fault: Fault::of(status, "service"), status, message: message.into() }
    }

    /// 400 `UsageError`: the request is wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Fault::Usage, message)
    }

    /// 400 `MultiValuedParamNotSupported`: more values than the operation takes.
    pub fn multi_valued(message: impl Into<String>) -> Self {
        Self::new(Fault::MultiValued, message)
    }

    /// 404 `Error`: nothing has this identifier.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Fault::NotFound, message)
    }

    /// 503 `ServiceUnavailable`: storage or a resource the service needs is failing; a retry may
    /// succeed.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Fault::Unavailable, message)
    }

    /// 500 `Error`: the service failed, or its own data is damaged.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Fault::Internal, message)
    }

    /// 501: the operation has no implementation yet (what a fresh scaffold answers).
    pub fn not_implemented(operation: &str) -> Self {
        Self::with_status(StatusCode::NOT_IMPLEMENTED, format!("operation `{operation}` is not implemented"))
    }

    /// The message after its SODA label (`NotFound` → `Error: …`), as a SODA error document or a
    /// UWS job's error summary starts.
    pub fn labelled(&self) -> String {
        format!("{}: {}", self.fault.label(), self.message)
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
