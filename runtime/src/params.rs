//! Collecting parameters from every place a request carries them, and parsing them into typed
//! values.
//!
//! A [`RawRequest`] keeps every `name=value` pair in arrival order, repeats included, so that
//! multi-valued parameters (`?tag=a&tag=b`, a form body with repeated keys) are never lost.
//! Generated code then asks for each declared parameter with [`single`] or [`multi`].

use crate::error::RequestError;
use bytes::Bytes;
use http::HeaderMap;
use http::request::Parts;

/// Where a parameter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A path segment (`/pets/{id}`).
    Path,
    /// The query string.
    Query,
    /// A request header (names compared case-insensitively, as HTTP requires).
    Header,
    /// A cookie from the `Cookie` header.
    Cookie,
    /// A field of a form-urlencoded or multipart request body.
    Form,
}

impl Location {
    fn noun(self) -> &'static str {
        match self {
            Location::Path => "path parameter",
            Location::Query => "query parameter",
            Location::Header => "header",
            Location::Cookie => "cookie",
            Location::Form => "form field",
        }
    }
}

/// How an array-valued parameter is written (OpenAPI `style` and `explode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `form`, `explode: true`: one pair per value (`?id=1&id=2`).
    FormExploded,
    /// `form`, `explode: false`, and `simple`: one value, comma-separated (`?id=1,2`).
    Comma,
    /// `spaceDelimited`: one value, space-separated.
    Space,
    /// `pipeDelimited`: one value, `|`-separated.
    Pipe,
}

/// A file part of a multipart body.
#[derive(Debug, Clone)]
pub struct FilePart {
    /// The part's field name.
    pub name: String,
    /// The part's declared content type, if any.
    pub content_type: Option<String>,
    /// The part's bytes.
    pub data: Bytes,
}

/// Every parameter of one request, before any parsing.
#[derive(Debug, Default)]
pub struct RawRequest {
    /// DALI §3.1: parameter names compared ignoring ASCII case (query and form).
    case_insensitive: bool,
    /// DALI-sync: parameters may come in the query string or a form body alike.
    form_is_query: bool,
    query: Vec<(String, String)>,
    path: Vec<(String, String)>,
    headers: HeaderMap,
    cookies: Vec<(String, String)>,
    form: Vec<(String, String)>,
    files: Vec<FilePart>,
}

impl RawRequest {
    /// Collects query, headers and cookies from the request head; `path` holds the values the
    /// router matched.
    pub fn new(parts: &Parts, path: Vec<(String, String)>) -> Self {
        let query = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let cookies = parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                Some((name.to_owned(), value.to_owned()))
            })
            .collect();
        RawRequest {
            case_insensitive: false,
            form_is_query: false,
            query,
            path,
            headers: parts.headers.clone(),
            cookies,
            form: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Compares query and form parameter names ignoring ASCII case (DALI §3.1).
    pub fn case_insensitive(mut self) -> Self {
        self.case_insensitive = true;
        self
    }

    /// Reads query parameters from a form body too (DALI-sync: GET and POST are equivalent).
    pub fn form_is_query(mut self) -> Self {
        self.form_is_query = true;
        self
    }

    /// Adds the fields of a form body (urlencoded, or the text parts of a multipart body).
    pub fn add_form(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        self.form.extend(pairs);
    }

    /// Adds a file part of a multipart body.
    pub fn add_file(&mut self, part: FilePart) {
        self.files.push(part);
    }

    /// Every value given for `name` at `location`, in arrival order.
    pub fn values<'a>(&'a self, location: Location, name: &str) -> Vec<&'a str> {
        let pairs: &[(String, String)] = match location {
            Location::Header => {
                return self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
            }
            Location::Query => &self.query,
            Location::Path => &self.path,
            Location::Cookie => &self.cookies,
            Location::Form => &self.form,
        };
        let extra: &[(String, String)] = if location == Location::Query && self.form_is_query { &self.form } else { &[] };
        let ignore_case = self.case_insensitive && matches!(location, Location::Query | Location::Form);
        pairs
            .iter()
            .chain(extra)
            .filter(|(n, _)| if ignore_case { n.eq_ignore_ascii_case(name) } else { n == name })
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The bytes of the file part `name`, if the body had one.
    pub fn file(&self, name: &str) -> Option<&FilePart> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// A type that can be read from one parameter value.
pub trait FromParam: Sized {
    /// The rule named when a value does not parse: `type`, or `enum` for enumerations.
    const RULE: &'static str = "type";

    /// Parses `value`; the error is a short description of what was expected.
    fn from_param(value: &str) -> Result<Self, String>;
}

macro_rules! from_str_param {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        impl FromParam for $t {
            fn from_param(value: &str) -> Result<Self, String> {
                value.trim().parse().map_err(|_| format!("expected {}, got `{value}`", $what))
            }
        }
    )*};
}

from_str_param! {
    i32 => "a 32-bit integer",
    i64 => "an integer",
    u32 => "a non-negative integer",
    u64 => "a non-negative integer",
    f32 => "a number",
    f64 => "a number",
    uuid::Uuid => "a UUID",
    chrono::NaiveDate => "a date (YYYY-MM-DD)",
}

impl FromParam for String {
    fn from_param(value: &str) -> Result<Self, String> {
        Ok(value.to_owned())
    }
}

impl FromParam for bool {
    fn from_param(value: &str) -> Result<Self, String> {
        match value {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(format!("expected true or false, got `{value}`")),
        }
    }
}

impl FromParam for chrono::DateTime<chrono::Utc> {
    fn from_param(value: &str) -> Result<Self, String> {
        chrono::DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| format!("expected an RFC 3339 date-time, got `{value}`"))
    }
}

impl FromParam for serde_json::Value {
    fn from_param(value: &str) -> Result<Self, String> {
        Ok(serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_owned())))
    }
}

fn parse<T: FromParam>(location: Location, name: &str, value: &str) -> Result<T, RequestError> {
    T::from_param(value).map_err(|why| {
        RequestError::new(name, T::RULE, format!("{} `{name}`: {why}", location.noun()))
    })
}

/// A single-valued parameter: absent → `None`; given twice → a `multiplicity` error.
pub fn single<T: FromParam>(
    raw: &RawRequest,
    location: Location,
    name: &str,
) -> Result<Option<T>, RequestError> {
    match raw.values(location, name).as_slice() {
        [] => Ok(None),
        [value] => parse(location, name, value).map(Some),
        _ => Err(RequestError::new(
            name,
            "multiplicity",
            format!("{} `{name}` takes one value but was given several", location.noun()),
        )),
    }
}

/// An array-valued parameter written in `style`: absent → `None`.
pub fn multi<T: FromParam>(
    raw: &RawRequest,
    location: Location,
    name: &str,
    style: Style,
) -> Result<Option<Vec<T>>, RequestError> {
    let values = raw.values(location, name);
    if values.is_empty() {
        return Ok(None);
    }
    let separator = match style {
        Style::FormExploded => None,
        Style::Comma => Some(','),
        Style::Space => Some(' '),
        Style::Pipe => Some('|'),
    };
    let mut out = Vec::new();
    for value in values {
        match separator {
            None => out.push(parse(location, name, value)?),
            Some(_) if value.is_empty() => {}
            Some(sep) => {
                for item in value.split(sep) {
                    out.push(parse(location, name, item)?);
                }
            }
        }
    }
    Ok(Some(out))
}

/// Turns an absent required parameter into a `required` error.
pub fn required<T>(value: Option<T>, name: &str) -> Result<T, RequestError> {
    value.ok_or_else(|| RequestError::missing(name))
}

/// The bytes of a binary multipart field.
pub fn file(raw: &RawRequest, name: &str) -> Option<Bytes> {
    raw.file(name).map(|f| f.data.clone())
}

/// A single-valued parameter whose value is JSON (`content: application/json`, or a structured
/// form field).
pub fn single_json<T: serde::de::DeserializeOwned>(
    raw: &RawRequest,
    location: Location,
    name: &str,
) -> Result<Option<T>, RequestError> {
    match raw.values(location, name).as_slice() {
        [] => Ok(None),
        [value] => serde_json::from_str(value).map(Some).map_err(|e| {
            RequestError::new(name, "type", format!("{} `{name}` is not the expected JSON: {e}", location.noun()))
        }),
        _ => Err(RequestError::new(
            name,
            "multiplicity",
            format!("{} `{name}` takes one value but was given several", location.noun()),
        )),
    }
}

/// Whether any of `names` was given at `location` (for objects spread over several keys).
pub fn any_present(raw: &RawRequest, location: Location, names: &[&str]) -> bool {
    names.iter().any(|n| !raw.values(location, n).is_empty())
}

/// Names the values the router matched by position: operations that share a route may name
/// their path parameters differently.
pub fn path_pairs(params: &axum::extract::RawPathParams, names: &[&str]) -> Vec<(String, String)> {
    names.iter().zip(params.iter()).map(|(n, (_, v))| ((*n).to_owned(), v.to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(uri: &str) -> RawRequest {
        let (parts, ()) = http::Request::builder().uri(uri).body(()).unwrap().into_parts();
        RawRequest::new(&parts, Vec::new())
    }

    #[test]
    fn repeated_keys_are_kept_in_order() {
        let raw = raw("/x?id=a&id=b%20c&other=1");
        assert_eq!(multi::<String>(&raw, Location::Query, "id", Style::FormExploded).unwrap(), Some(vec!["a".into(), "b c".into()]));
        assert_eq!(single::<String>(&raw, Location::Query, "id").unwrap_err().rule, "multiplicity");
        assert_eq!(single::<i64>(&raw, Location::Query, "other").unwrap(), Some(1));
    }

    #[test]
    fn dali_names_ignore_case_and_forms_count_as_query() {
        let mut raw = raw("/sync?id=a&CIRCLE=1%202%203").case_insensitive().form_is_query();
        raw.add_form([("Id".to_owned(), "b".to_owned())]);
        assert_eq!(raw.values(Location::Query, "ID"), ["a", "b"]);
        assert_eq!(single::<String>(&raw, Location::Query, "circle").unwrap().as_deref(), Some("1 2 3"));
        assert_eq!(single::<String>(&raw, Location::Query, "ID").unwrap_err().rule, "multiplicity");
        // Without the DALI rules, names are exact.
        assert!(super::tests::raw("/x?id=a").values(Location::Query, "ID").is_empty());
    }

    #[test]
    fn delimited_arrays_split() {
        let raw = raw("/x?c=1,2,3&p=a%7Cb");
        assert_eq!(multi::<i32>(&raw, Location::Query, "c", Style::Comma).unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(multi::<String>(&raw, Location::Query, "p", Style::Pipe).unwrap(), Some(vec!["a".into(), "b".into()]));
        assert_eq!(multi::<i32>(&raw, Location::Query, "c", Style::FormExploded).unwrap_err().rule, "type");
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let err = single::<i32>(&raw("/x?limit=ten"), Location::Query, "limit").unwrap_err();
        assert_eq!((err.parameter.as_deref(), err.rule), (Some("limit"), "type"));
        assert!(err.message.contains("ten"), "{}", err.message);
    }
}
