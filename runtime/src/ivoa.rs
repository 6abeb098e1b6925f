//! IVOA error documents: the formats an operation answers errors in, chosen per operation by the
//! spec (`x-ivoa-error-format`).
//!
//! - `json` (the default for plain OpenAPI): `{"error": RULE, "parameter": NAME, "message": …}`.
//! - `soda-text` (SODA 1.0 §5): `text/plain`, starting with the label — `UsageError`,
//!   `MultiValuedParamNotSupported`, `AuthenticationError`, `AuthorizationError`,
//!   `ServiceUnavailable` or `Error` — then `: ` and the details.
//! - `dali-votable` (DALI 1.1 §4.4): a VOTable with one `RESOURCE type="results"` holding
//!   `INFO name="QUERY_STATUS" value="ERROR"`.
//! - `scs-votable` (Simple Cone Search 1.03 §2 item 3): `text/xml`, a VOTable whose
//!   `INFO name="Error"`, a child of `VOTABLE`, carries the message in `value`; its
//!   `RESOURCE type="results"` also holds DALI's `QUERY_STATUS`, for clients of later versions.

use crate::error::{Error, RequestError};
use crate::xml::XmlWriter;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CONTENT_TYPE;

/// How an operation writes its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// A JSON object.
    Json,
    /// SODA's text/plain with a leading label.
    SodaText,
    /// A DALI VOTable error document.
    DaliVotable,
    /// A Simple Cone Search 1.03 VOTable error document (`INFO name="Error"`).
    ScsVotable,
}

/// What went wrong, as SODA/DALI sort failures: the one table of labels (SODA 1.0 §5) and
/// statuses. A service decides the kind from the failure's type (a missing file, a failing disk,
/// a damaged file), never from a label's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request is wrong: `UsageError`, 400.
    Usage,
    /// A parameter given more often than the operation takes: `MultiValuedParamNotSupported`, 400.
    MultiValued,
    /// No credentials, or wrong ones: `AuthenticationError`, 401.
    Authentication,
    /// Credentials that may not do this: `AuthorizationError`, 403.
    Authorization,
    /// Nothing has this identifier: `Error`, 404.
    NotFound,
    /// The storage or a resource the service needs is failing, a retry may succeed:
    /// `ServiceUnavailable`, 503.
    Unavailable,
    /// The service's own data is damaged or the service failed: `Error`, 500.
    Internal,
}

impl Fault {
    /// The label that starts a SODA error message.
    pub fn label(self) -> &'static str {
        match self {
            Fault::Usage => "UsageError",
            Fault::MultiValued => "MultiValuedParamNotSupported",
            Fault::Authentication => "AuthenticationError",
            Fault::Authorization => "AuthorizationError",
            Fault::Unavailable => "ServiceUnavailable",
            Fault::NotFound | Fault::Internal => "Error",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(self) -> StatusCode {
        match self {
            Fault::Usage | Fault::MultiValued => StatusCode::BAD_REQUEST,
            Fault::Authentication => StatusCode::UNAUTHORIZED,
            Fault::Authorization => StatusCode::FORBIDDEN,
            Fault::NotFound => StatusCode::NOT_FOUND,
            Fault::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The kind of an answer with `status` to a request that broke `rule` (a validation rule's
    /// name; `multiplicity` for a repeated single-valued parameter).
    pub fn of(status: StatusCode, rule: &str) -> Fault {
        match (status.as_u16(), rule) {
            (_, "multiplicity") => Fault::MultiValued,
            (401, _) => Fault::Authentication,
            (403, _) => Fault::Authorization,
            (503, _) => Fault::Unavailable,
            (404, _) => Fault::NotFound,
            (400..=499, _) => Fault::Usage,
            _ => Fault::Internal,
        }
    }
}

/// `message` as a SODA error text (§5): as it is when it already starts with a label
/// (`AuthorizationError: …`, as a job failed by a [`crate::Error`] says), else after `Error: `.
pub fn labelled_text(message: &str) -> String {
    const LABELS: [&str; 6] = ["UsageError", "MultiValuedParamNotSupported", "AuthenticationError", "AuthorizationError", "ServiceUnavailable", "Error"];
    let labelled = message.split_once(": ").is_some_and(|(label, _)| LABELS.contains(&label));
    if labelled { format!("{message}\n") } else { format!("Error: {message}\n") }
}

/// The SODA/DALI label for an error with `status` that broke `rule`.
pub fn label(status: StatusCode, rule: &str) -> &'static str {
    Fault::of(status, rule).label()
}

/// A VOTable error document (DALI 1.1 §4.4) carrying `message`.
pub fn votable_error(message: &str) -> String {
    let mut w = XmlWriter::new();
    w.start("VOTABLE", &[("version", "1.4"), ("xmlns", "http://www.ivoa.net/xml/VOTable/v1.3")])
        .start("RESOURCE", &[("type", "results")])
        .text_element("INFO", &[("name", "QUERY_STATUS"), ("value", "ERROR")], message);
    w.finish()
}

/// A Simple Cone Search 1.03 error document (§2 item 3) carrying `message`: `INFO name="Error"`
/// under `VOTABLE`, and DALI's `QUERY_STATUS` in the results resource.
pub fn scs_votable_error(message: &str) -> String {
    let mut w = XmlWriter::new();
    w.start("VOTABLE", &[("version", "1.4"), ("xmlns", "http://www.ivoa.net/xml/VOTable/v1.3")])
        .empty("INFO", &[("name", "Error"), ("value", message)])
        .start("RESOURCE", &[("type", "results")])
        .text_element("INFO", &[("name", "QUERY_STATUS"), ("value", "ERROR")], message);
    w.finish()
}

/// The answer carrying the error document `text` in `format`, one of the VOTable formats or SODA's text.
fn document(format: ErrorFormat, status: StatusCode, text: &str) -> Response {
    match format {
        ErrorFormat::ScsVotable => (status, [(CONTENT_TYPE, "text/xml")], scs_votable_error(text)).into_response(),
        ErrorFormat::DaliVotable => (status, [(CONTENT_TYPE, "application/x-votable+xml")], votable_error(text)).into_response(),
        ErrorFormat::Json | ErrorFormat::SodaText => (status, [(CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{text}\n")).into_response(),
    }
}

/// An error answer in `format`.
pub fn respond(format: ErrorFormat, status: StatusCode, rule: &str, parameter: Option<&str>, message: &str) -> Response {
    match format {
        ErrorFormat::Json => {
            let body = serde_json::json!({ "error": rule, "parameter": parameter, "message": message });
            (status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
        ErrorFormat::SodaText | ErrorFormat::DaliVotable | ErrorFormat::ScsVotable => {
            document(format, status, &format!("{}: {message}", label(status, rule)))
        }
    }
}

impl RequestError {
    /// The answer to this error in `format`.
    pub fn respond(self, format: ErrorFormat) -> Response {
        respond(format, self.status, self.rule, self.parameter.as_deref(), &self.message)
    }
}

impl Error {
    /// The answer to this error in `format`: its status, and its kind's label.
    pub fn respond(self, format: ErrorFormat) -> Response {
        let label = self.fault.label();
        match format {
            ErrorFormat::Json => {
                let body = serde_json::json!({ "error": "service", "parameter": null, "message": self.message });
                (self.status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
            }
            ErrorFormat::SodaText | ErrorFormat::DaliVotable | ErrorFormat::ScsVotable => {
                document(format, self.status, &format!("{label}: {}", self.message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let ct = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, ct, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[test]
    fn a_job_error_is_labelled_once() {
        assert_eq!(labelled_text("AuthorizationError: not yours"), "AuthorizationError: not yours\n");
        assert_eq!(labelled_text("the service restarted"), "Error: the service restarted\n");
        assert_eq!(labelled_text("Weird: thing"), "Error: Weird: thing\n", "only SODA's labels count");
    }

    #[tokio::test]
    async fn soda_text_starts_with_the_label() {
        let e = RequestError::new("CIRCLE", "type", "query parameter `CIRCLE`: circle: radius 0 is outside (0, 180]");
        let (status, ct, text) = body(e.respond(ErrorFormat::SodaText)).await;
        assert_eq!((status.as_u16(), ct.as_str()), (400, "text/plain; charset=utf-8"));
        assert!(text.starts_with("UsageError: query parameter `CIRCLE`"), "{text}");
        let twice = RequestError::new("ID", "multiplicity", "given twice");
        assert!(body(twice.respond(ErrorFormat::SodaText)).await.2.starts_with("MultiValuedParamNotSupported: "));
        let down = Error::unavailable("maintenance");
        assert_eq!(body(down.respond(ErrorFormat::SodaText)).await, (StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8".into(), "ServiceUnavailable: maintenance\n".into()));
        // The kind decides the label, not the status: two kinds share 400.
        let several = body(Error::multi_valued("one ID").respond(ErrorFormat::SodaText)).await;
        assert_eq!((several.0.as_u16(), several.2.as_str()), (400, "MultiValuedParamNotSupported: one ID\n"));
        let missing = body(Error::not_found("no dataset `x`").respond(ErrorFormat::DaliVotable)).await;
        assert_eq!(missing.0, StatusCode::NOT_FOUND);
        assert!(missing.2.contains(">Error: no dataset `x`</INFO>"), "{}", missing.2);
        let json = body(Error::usage("bad").respond(ErrorFormat::Json)).await;
        assert_eq!((json.0.as_u16(), json.1.as_str()), (400, "application/json"));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json.2).unwrap()["message"], "bad");
        let later = Error::not_implemented("links");
        assert_eq!((later.status.as_u16(), later.fault), (501, Fault::Internal));
    }

    #[test]
    fn one_table_of_labels_and_statuses() {
        for fault in [Fault::Usage, Fault::MultiValued, Fault::Authentication, Fault::Authorization, Fault::NotFound, Fault::Unavailable, Fault::Internal] {
            let rule = if fault == Fault::MultiValued { "multiplicity" } else { "type" };
            assert_eq!(Fault::of(fault.status(), rule), fault, "{fault:?}");
        }
        assert_eq!(label(StatusCode::PAYLOAD_TOO_LARGE, "size"), "UsageError");
        assert_eq!(label(StatusCode::REQUEST_TIMEOUT, "timeout"), "UsageError");
        assert_eq!(Fault::NotFound.label(), Fault::Internal.label());
    }

    #[tokio::test]
    async fn votable_errors_have_one_results_resource() {
        let e = RequestError::new("MAXREC", "type", "not a number");
        let (status, ct, doc) = body(e.respond(ErrorFormat::DaliVotable)).await;
        assert_eq!((status.as_u16(), ct.as_str()), (400, "application/x-votable+xml"));
        assert_eq!(doc.matches("<RESOURCE").count(), 1);
        assert!(doc.contains(r#"<INFO name="QUERY_STATUS" value="ERROR">UsageError: not a number</INFO>"#), "{doc}");
    }

    #[tokio::test]
    async fn cone_search_errors_carry_an_error_info_under_votable() {
        let e = RequestError::new("DEC", "maximum", "91 is above 90");
        let (status, ct, doc) = body(e.respond(ErrorFormat::ScsVotable)).await;
        assert_eq!((status.as_u16(), ct.as_str()), (400, "text/xml"));
        let info = doc.find(r#"<INFO name="Error" value="UsageError: 91 is above 90"/>"#).expect("the Error INFO");
        assert!(info < doc.find("<RESOURCE").expect("a resource"), "the INFO is a child of VOTABLE: {doc}");
        assert!(doc.contains(r#"<INFO name="QUERY_STATUS" value="ERROR">UsageError: 91 is above 90</INFO>"#), "{doc}");
        let (_, _, service) = body(Error::unavailable("catalogue offline").respond(ErrorFormat::ScsVotable)).await;
        assert!(service.contains(r#"value="ServiceUnavailable: catalogue offline""#), "{service}");
    }
}
