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
use std::borrow::Cow;

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
    /// The part's bytes: in memory, or in a temporary file when large.
    pub content: crate::upload::Content,
}

/// Every parameter of one request, before any parsing. It borrows the request: the query string
/// is split once into its still-escaped pairs, a name or value is decoded only when it is looked
/// at and holds an escape, and cookies are read only when asked for.
#[derive(Debug)]
pub struct RawRequest<'a> {
    /// DALI §3.1: parameter names compared ignoring ASCII case (query and form).
    case_insensitive: bool,
    /// DALI-sync: parameters may come in the query string or a form body alike.
    form_is_query: bool,
    /// `name=value` pairs of the query string: names decoded, values as sent (percent-encoded,
    /// `+` for space) until asked for.
    query: Vec<(Cow<'a, str>, &'a str)>,
    /// A filter over the query and form names: bit [`name_bit`] of each is set. A clear bit
    /// means no such name, so the many declared parameters a request leaves out cost one test.
    names: u64,
    path: Vec<(String, String)>,
    headers: &'a HeaderMap,
    form: Vec<(String, String)>,
    files: Vec<FilePart>,
}

impl<'a> RawRequest<'a> {
    /// Collects the parameters of the request head; `path` holds the values the router matched.
    pub fn new(parts: &'a Parts, path: Vec<(String, String)>) -> Self {
        let query = parts.uri.query().map(split_query).unwrap_or_default();
        let names = name_bits(query.iter().map(|(name, _)| name.as_ref()));
        RawRequest { case_insensitive: false, form_is_query: false, query, names, path, headers: &parts.headers, form: Vec::new(), files: Vec::new() }
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
        let start = self.form.len();
        self.form.extend(pairs);
        self.names |= name_bits(self.form[start..].iter().map(|(name, _)| name.as_str()));
    }

    /// Whether the query or form may hold `name`: `false` is certain, `true` is a maybe.
    #[inline]
    fn may_hold(&self, location: Location, name: &str) -> bool {
        !matches!(location, Location::Query | Location::Form) || self.names & name_bit(name) != 0
    }

    /// Adds a file part of a multipart body.
    pub fn add_file(&mut self, part: FilePart) {
        self.files.push(part);
    }

    /// Whether names at `location` compare ignoring ASCII case (DALI, query and form only).
    fn ignores_case(&self, location: Location) -> bool {
        self.case_insensitive && matches!(location, Location::Query | Location::Form)
    }

    /// The decoded values of the query pairs named `name`.
    fn query_values<'s>(&'s self, name: &'s str, ignore_case: bool) -> impl Iterator<Item = Cow<'s, str>> + 's {
        self.query.iter().filter(move |(n, _)| same_name(n, name, ignore_case)).map(|(_, v)| form_decode(v))
    }

    /// Every value given for `name` at `location`, in arrival order.
    pub fn matching<'s>(&'s self, location: Location, name: &'s str) -> Box<dyn Iterator<Item = Cow<'s, str>> + 's> {
        let ignore_case = self.ignores_case(location);
        match location {
            Location::Header => Box::new(self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(Cow::Borrowed)),
            Location::Cookie => Box::new(
                self.headers
                    .get_all(http::header::COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .filter_map(move |pair| pair.trim().split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| Cow::Borrowed(v))),
            ),
            Location::Query => {
                let query = self.query_values(name, ignore_case);
                if self.form_is_query {
                    Box::new(query.chain(self.form.iter().filter(move |(n, _)| same_name(n, name, ignore_case)).map(|(_, v)| Cow::Borrowed(v.as_str()))))
                } else {
                    Box::new(query)
                }
            }
            Location::Path => Box::new(self.path.iter().filter(move |(n, _)| n == name).map(|(_, v)| Cow::Borrowed(v.as_str()))),
            Location::Form => Box::new(self.form.iter().filter(move |(n, _)| same_name(n, name, ignore_case)).map(|(_, v)| Cow::Borrowed(v.as_str()))),
        }
    }

    /// The first value given for `name` at `location`, and whether there is another: the hot
    /// path of every single-valued parameter, allocating only to decode an escaped value.
    pub fn first<'s>(&'s self, location: Location, name: &'s str) -> (Option<Cow<'s, str>>, bool) {
        let ignore_case = self.ignores_case(location);
        if location == Location::Query && (!self.form_is_query || self.form.is_empty()) {
            let mut named = self.query.iter().filter(|(n, _)| same_name(n, name, ignore_case));
            let first = named.next();
            let repeated = first.is_some() && named.next().is_some();
            return (first.map(|(_, v)| form_decode(v)), repeated);
        }
        let mut values = self.matching(location, name);
        let first = values.next();
        let repeated = first.is_some() && values.next().is_some();
        (first, repeated)
    }

    /// Every value given for `name` at `location`, in arrival order.
    pub fn values<'s>(&'s self, location: Location, name: &'s str) -> Vec<Cow<'s, str>> {
        self.matching(location, name).collect()
    }

    /// Calls `f` with each value of `name`, in order; query parameters without a form body take
    /// a path that allocates only to decode escaped values.
    pub fn each_value<E>(&self, location: Location, name: &str, mut f: impl FnMut(&str) -> Result<(), E>) -> Result<(), E> {
        let ignore_case = self.ignores_case(location);
        match location {
            Location::Query if !self.form_is_query || self.form.is_empty() => {
                for (n, v) in &self.query {
                    if same_name(n, name, ignore_case) {
                        with_decoded(v, &mut f)?;
                    }
                }
                Ok(())
            }
            _ => self.matching(location, name).try_for_each(|v| f(&v)),
        }
    }

    /// Calls `f` with each item of the array parameter `name` written in `style`, in order.
    pub fn each_item(
        &self,
        location: Location,
        name: &str,
        style: Style,
        f: &mut dyn FnMut(&str) -> Result<(), RequestError>,
    ) -> Result<(), RequestError> {
        let separator = match style {
            Style::FormExploded => return self.each_value(location, name, f),
            Style::Comma => ',',
            Style::Space => ' ',
            Style::Pipe => '|',
        };
        self.each_value(location, name, |value| if value.is_empty() { Ok(()) } else { value.split(separator).try_for_each(&mut *f) })
    }

    /// Every field of the form body, in order.
    pub fn form_pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.form.iter().cloned()
    }

    /// Every file part of the body, in order.
    pub fn files(&self) -> &[FilePart] {
        &self.files
    }

    /// The bytes of the file part `name`, if the body had one.
    pub fn file(&self, name: &str) -> Option<&FilePart> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Whether the parameter name `given` is `name`.
fn same_name(given: &str, name: &str, ignore_case: bool) -> bool {
    if ignore_case { given.eq_ignore_ascii_case(name) } else { given == name }
}

/// Decodes one `application/x-www-form-urlencoded` name or value as the URL standard does: `+`
/// is a space, `%XX` a byte (a `%` without two hex digits stays), and bytes that are not UTF-8
/// become U+FFFD. Borrowed when there is nothing to decode, the common case.
pub fn form_decode(raw: &str) -> Cow<'_, str> {
    if !escaped(raw) {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    decode_bytes(raw.as_bytes(), |byte| out.push(byte));
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Calls `f` with `raw` decoded as [`form_decode`] does: borrowed when there is nothing to
/// decode, decoded into a stack buffer when it fits (a decoded value is never longer than its
/// encoding), so that the short values parameters mostly are cost no allocation.
fn with_decoded<R>(raw: &str, f: impl FnOnce(&str) -> R) -> R {
    const SHORT: usize = 256;
    if !escaped(raw) {
        return f(raw);
    }
    if raw.len() > SHORT {
        return f(&form_decode(raw));
    }
    let mut buffer = [0u8; SHORT];
    let mut len = 0;
    decode_bytes(raw.as_bytes(), |byte| {
        buffer[len] = byte;
        len += 1;
    });
    match std::str::from_utf8(&buffer[..len]) {
        Ok(text) => f(text),
        Err(_) => f(&String::from_utf8_lossy(&buffer[..len])),
    }
}

/// The bit of `name` in [`RawRequest`]'s name filter: from its length and first byte, the same
/// for names that differ only in ASCII case.
#[inline]
fn name_bit(name: &str) -> u64 {
    let first = name.as_bytes().first().map_or(0, |b| b | 0x20);
    1 << (name.len().wrapping_add(7 * usize::from(first)) % 64)
}

/// The name filter of `names`: the union of their bits.
fn name_bits<'n>(names: impl Iterator<Item = &'n str>) -> u64 {
    names.fold(0, |bits, name| bits | name_bit(name))
}

/// The `name=value` pairs of a query string: empty pairs skipped, names decoded, values left as
/// sent.
fn split_query(query: &str) -> Vec<(Cow<'_, str>, &str)> {
    // A byte loop rather than `split`: queries are short, and `memchr`'s set-up costs more than
    // it saves on them.
    let mut pairs = Vec::new();
    let mut rest = query;
    while !rest.is_empty() {
        let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
        let pair = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or_default();
        if pair.is_empty() {
            continue;
        }
        let (name, value) = match pair.bytes().position(|b| b == b'=') {
            Some(equals) => (&pair[..equals], &pair[equals + 1..]),
            None => (pair, ""),
        };
        pairs.push((form_decode(name), value));
    }
    pairs
}

fn escaped(raw: &str) -> bool {
    raw.bytes().any(|b| b == b'%' || b == b'+')
}

/// The bytes `raw` encodes, one at a time.
fn decode_bytes(raw: &[u8], mut push: impl FnMut(u8)) {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => push(b' '),
            b'%' => match (raw.get(i + 1).copied().and_then(hex), raw.get(i + 2).copied().and_then(hex)) {
                (Some(high), Some(low)) => {
                    push(high << 4 | low);
                    i += 2;
                }
                _ => push(b'%'),
            },
            b => push(b),
        }
        i += 1;
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
    T::from_param(value).map_err(|why| unparsable(location, name, T::RULE, &why))
}

#[cold]
fn unparsable(location: Location, name: &str, rule: &'static str, why: &str) -> RequestError {
    RequestError::new(name, rule, format!("{} `{name}`: {why}", location.noun()))
}

#[cold]
fn repeated(location: Location, name: &str) -> RequestError {
    RequestError::new(name, "multiplicity", format!("{} `{name}` takes one value but was given several", location.noun()))
}

/// A single-valued parameter: absent → `None`; given twice → a `multiplicity` error.
pub fn single<T: FromParam>(
    raw: &RawRequest,
    location: Location,
    name: &str,
) -> Result<Option<T>, RequestError> {
    if !raw.may_hold(location, name) {
        return Ok(None);
    }
    let (first, several) = raw.first(location, name);
    let Some(value) = first else { return Ok(None) };
    if several {
        return Err(repeated(location, name));
    }
    parse(location, name, &value).map(Some)
}

/// An array-valued parameter written in `style`: absent → `None`.
pub fn multi<T: FromParam>(
    raw: &RawRequest,
    location: Location,
    name: &str,
    style: Style,
) -> Result<Option<Vec<T>>, RequestError> {
    if !raw.may_hold(location, name) {
        return Ok(None);
    }
    // `None` until a value is seen: an absent parameter costs no allocation. Only parsing is
    // generic; finding and splitting the values is one function for every type.
    let mut out: Option<Vec<T>> = None;
    raw.each_item(location, name, style, &mut |item| {
        // Most array parameters carry one value: room for one, grown if more come.
        out.get_or_insert_with(|| Vec::with_capacity(1)).push(parse(location, name, item)?);
        Ok(())
    })?;
    Ok(out)
}

/// Turns an absent required parameter into a `required` error.
pub fn required<T>(value: Option<T>, name: &str) -> Result<T, RequestError> {
    value.ok_or_else(|| RequestError::missing(name))
}

/// The bytes of a binary multipart field (a typed `Bytes` field, so in memory: one written to a
/// temporary file is read back, and one larger than [`crate::body::MAX_BODY`] refused with 413).
pub fn file(raw: &RawRequest, name: &str) -> Result<Option<Bytes>, RequestError> {
    let Some(part) = raw.file(name) else { return Ok(None) };
    if part.content.len() > crate::body::MAX_BODY as u64 {
        return Err(RequestError::request(http::StatusCode::PAYLOAD_TOO_LARGE, "size", format!("the file part `{name}` is larger than {} bytes", crate::body::MAX_BODY)));
    }
    part.content.bytes().map(Some).map_err(|e| RequestError::request(http::StatusCode::INTERNAL_SERVER_ERROR, "body", format!("the file part `{name}` could not be read back: {e}")))
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
    names.iter().any(|n| raw.matching(location, n).next().is_some())
}

/// The values the router matched for the route's path parameters, named by position: operations
/// that share a route may name their path parameters differently. A path that is not UTF-8 gets
/// axum's rejection (400), as an extractor would answer.
pub async fn path_pairs(parts: &mut Parts, names: &[&str]) -> Result<Vec<(String, String)>, axum::response::Response> {
    use axum::extract::FromRequestParts;
    use axum::response::IntoResponse;
    let params = axum::extract::RawPathParams::from_request_parts(parts, &()).await.map_err(IntoResponse::into_response)?;
    Ok(names.iter().zip(params.iter()).map(|(n, (_, v))| ((*n).to_owned(), v.to_owned())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> Parts {
        http::Request::builder().uri(uri).header("cookie", "a=1; session=abc").body(()).unwrap().into_parts().0
    }

    #[test]
    fn repeated_keys_are_kept_in_order() {
        let parts = parts("/x?id=a&id=b%20c&other=1");
        let raw = RawRequest::new(&parts, Vec::new());
        assert_eq!(multi::<String>(&raw, Location::Query, "id", Style::FormExploded).unwrap(), Some(vec!["a".into(), "b c".into()]));
        assert_eq!(single::<String>(&raw, Location::Query, "id").unwrap_err().rule, "multiplicity");
        assert_eq!(single::<i64>(&raw, Location::Query, "other").unwrap(), Some(1));
    }

    #[test]
    fn dali_names_ignore_case_and_forms_count_as_query() {
        let parts = parts("/sync?id=a&CIRCLE=1%202%203");
        let mut raw = RawRequest::new(&parts, Vec::new()).case_insensitive().form_is_query();
        raw.add_form([("Id".to_owned(), "b".to_owned())]);
        assert_eq!(raw.values(Location::Query, "ID"), ["a", "b"]);
        assert_eq!(single::<String>(&raw, Location::Query, "circle").unwrap().as_deref(), Some("1 2 3"));
        assert_eq!(single::<String>(&raw, Location::Query, "ID").unwrap_err().rule, "multiplicity");
        // Without the DALI rules, names are exact.
        let exact = super::tests::parts("/x?id=a");
        assert!(RawRequest::new(&exact, Vec::new()).values(Location::Query, "ID").is_empty());
    }

    #[test]
    fn delimited_arrays_split() {
        let parts = parts("/x?c=1,2,3&p=a%7Cb");
        let raw = RawRequest::new(&parts, Vec::new());
        assert_eq!(multi::<i32>(&raw, Location::Query, "c", Style::Comma).unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(multi::<String>(&raw, Location::Query, "p", Style::Pipe).unwrap(), Some(vec!["a".into(), "b".into()]));
        assert_eq!(multi::<i32>(&raw, Location::Query, "c", Style::FormExploded).unwrap_err().rule, "type");
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let parts = parts("/x?limit=ten");
        let err = single::<i32>(&RawRequest::new(&parts, Vec::new()), Location::Query, "limit").unwrap_err();
        assert_eq!(RawRequest::new(&parts, Vec::new()).values(Location::Cookie, "session"), ["abc"]);
        assert_eq!((err.parameter.as_deref(), err.rule), (Some("limit"), "type"));
        assert!(err.message.contains("ten"), "{}", err.message);
    }

    #[test]
    fn decoding_agrees_with_form_urlencoded() {
        for raw in ["plain", "a+b", "a%20b", "%", "100%", "%2", "%zz", "%41%42c", "caf%C3%A9", "bad%FFbyte", "%E2%82", "+%2B+", ""] {
            let expected: String = form_urlencoded::parse(format!("k={raw}").as_bytes()).next().unwrap().1.into_owned();
            assert_eq!(form_decode(raw), expected, "{raw}");
            assert_eq!(with_decoded(raw, str::to_owned), expected, "{raw}");
            // Longer than the stack buffer: decoded on the heap, to the same text.
            let long = raw.repeat(300 / raw.len().max(1) + 1);
            let expected: String = form_urlencoded::parse(format!("k={long}").as_bytes()).next().unwrap().1.into_owned();
            assert_eq!(with_decoded(&long, str::to_owned), expected, "{long}");
        }
        assert!(matches!(form_decode("sample-image"), Cow::Borrowed(_)));
        // Names are decoded too before they are compared.
        let parts = parts("/x?%49D=a&C%49RCLE=1+2+3");
        let raw = RawRequest::new(&parts, Vec::new()).case_insensitive();
        assert_eq!(raw.values(Location::Query, "id"), ["a"]);
        assert_eq!(single::<String>(&raw, Location::Query, "circle").unwrap().as_deref(), Some("1 2 3"));
    }

    #[test]
    fn the_name_filter_never_hides_a_parameter() {
        // Names that differ in case, length or first byte, including bytes that are not letters.
        let names = ["ID", "id", "Id", "circle", "CIRCLE", "cIrClE", "POS", "pol", "a", "@", "`", "[", "{", "é", "", "RESPONSEFORMAT", "x".repeat(200).leak()];
        for given in names {
            let uri = format!("/x?{}=1", form_urlencoded::byte_serialize(given.as_bytes()).collect::<String>());
            let parts = parts(&uri);
            for asked in names {
                for raw in [RawRequest::new(&parts, Vec::new()), RawRequest::new(&parts, Vec::new()).case_insensitive()] {
                    let same = if raw.case_insensitive { given.eq_ignore_ascii_case(asked) } else { given == asked };
                    let found = single::<String>(&raw, Location::Query, asked).unwrap().is_some();
                    assert_eq!(found, same, "{given:?} asked as {asked:?}");
                    assert_eq!(multi::<String>(&raw, Location::Query, asked, Style::FormExploded).unwrap().is_some(), found);
                }
            }
        }
        // Form fields count too.
        let parts = parts("/x");
        let mut raw = RawRequest::new(&parts, Vec::new()).case_insensitive().form_is_query();
        assert_eq!(single::<String>(&raw, Location::Query, "ID").unwrap(), None);
        raw.add_form([("id".to_owned(), "a".to_owned())]);
        assert_eq!(single::<String>(&raw, Location::Query, "ID").unwrap().as_deref(), Some("a"));
        assert_eq!(single::<String>(&raw, Location::Form, "Id").unwrap().as_deref(), Some("a"));
    }

    #[test]
    fn query_splitting_agrees_with_form_urlencoded() {
        for query in ["", "&", "a", "a=", "=b", "a=1&&b=2&", "a=1=2&b", "&&a&", "x=%26&y=+"] {
            let expected: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let split: Vec<(String, String)> = split_query(query).into_iter().map(|(n, v)| (n.into_owned(), form_decode(v).into_owned())).collect();
            assert_eq!(split, expected, "{query}");
        }
    }
}
