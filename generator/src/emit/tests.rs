//! The generated crate's `tests/api.rs`: every operation is called through the real router with
//! a request built from the spec's examples (or values made from its schemas), and the test
//! asserts the typed values the service received; every declared constraint is broken once and
//! the test asserts the 400 that names the parameter and the rule; every declared response is
//! sent by the service (its example, or a value made from its schema) and the test asserts its status, content
//! type and headers as they reach the client.

use super::rust::{Rust, ident};
use crate::examples::{breakable_rules, scalar_text, synthesize, violating};
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::quote;
use serde_json::Value;
use std::collections::BTreeSet;

/// One HTTP request of a test, as literal parts.
#[derive(Clone)]
struct Wire {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Wire {
    fn tokens(&self) -> TokenStream {
        let mut uri = self.path.clone();
        if !self.query.is_empty() {
            uri.push('?');
            uri.push_str(&self.query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&"));
        }
        let method = self.method.to_uppercase();
        let mut headers: Vec<(String, String)> = self.headers.clone();
        if !self.cookies.is_empty() {
            headers.push(("cookie".into(), self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")));
        }
        if let Some(ct) = &self.content_type {
            headers.push(("content-type".into(), ct.clone()));
        }
        let headers = headers.iter().map(|(k, v)| quote!(.header(#k, #v)));
        let body = if self.body.is_empty() {
            quote!(Body::empty())
        } else if let Ok(text) = std::str::from_utf8(&self.body) {
            quote!(Body::from(#text))
        } else {
            let bytes = proc_macro2::Literal::byte_string(&self.body);
            quote!(Body::from(&#bytes[..]))
        };
        quote! {
            Request::builder().method(#method).uri(#uri) #(#headers)* .body(#body).unwrap()
        }
    }
}

/// Percent-encodes everything but the unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `name` with its letters in alternating case (`circle` → `cIrClE`), as a client that ignores
/// DALI's advice on case may send it.
fn mixed_case(name: &str) -> String {
    let flipped: String = name
        .chars()
        .enumerate()
        .map(|(i, c)| if i % 2 == 0 { c.to_ascii_lowercase() } else { c.to_ascii_uppercase() })
        .collect();
    if flipped == name { name.to_ascii_uppercase() } else { flipped }
}

fn is_scalar_json(v: &Value) -> bool {
    !v.is_array() && !v.is_object()
}

/// Writes a parameter's value into the request; `false` if it cannot be written.
fn put(wire: &mut Wire, p: &Param, value: &Value) -> bool {
    let pairs: Vec<(String, String)> = match (&p.shape, value) {
        (ParamShape::Scalar, v) if is_scalar_json(v) => vec![(p.api_name.clone(), scalar_text(v))],
        (ParamShape::Array(style), Value::Array(items)) if items.iter().all(is_scalar_json) => match style {
            ArrayStyle::Exploded => items.iter().map(|i| (p.api_name.clone(), scalar_text(i))).collect(),
            other => {
                let sep = match other {
                    ArrayStyle::Comma => ",",
                    ArrayStyle::Space => " ",
                    _ => "|",
                };
                vec![(p.api_name.clone(), items.iter().map(scalar_text).collect::<Vec<_>>().join(sep))]
            }
        },
        (ParamShape::Object(style), Value::Object(map)) if map.values().all(is_scalar_json) => map
            .iter()
            .map(|(k, v)| {
                let key = match style {
                    ObjectStyle::Deep => format!("{}[{k}]", p.api_name),
                    ObjectStyle::Exploded => k.clone(),
                };
                (key, scalar_text(v))
            })
            .collect(),
        (ParamShape::Json, v) => vec![(p.api_name.clone(), v.to_string())],
        _ => return false,
    };
    match p.location {
        Location::Path => {
            let Some((_, v)) = pairs.first() else { return false };
            if v.is_empty() {
                return false;
            }
            wire.path = wire.path.replace(&format!("{{{}}}", p.api_name), &encode(v));
        }
        Location::Query => wire.query.extend(pairs),
        Location::Header => {
            if pairs.iter().any(|(_, v)| v.bytes().any(|b| !(0x20..0x7f).contains(&b))) {
                return false;
            }
            wire.headers.extend(pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)));
        }
        Location::Cookie => wire.cookies.extend(pairs),
        Location::Form => return false,
    }
    true
}

/// The request body for an example, in the first encoding that can carry it.
fn put_body(wire: &mut Wire, body: &RequestBody, example: &Value) -> Option<BodyKind> {
    let encoding = body.encodings.first()?;
    let concrete = |m: &str, fallback: &str| if m.contains('*') { fallback.to_owned() } else { m.to_owned() };
    match encoding.kind {
        BodyKind::Json => {
            wire.content_type = Some(concrete(&encoding.media_type, "application/json"));
            wire.body = example.to_string().into_bytes();
        }
        BodyKind::Text => {
            wire.content_type = Some(concrete(&encoding.media_type, "text/plain"));
            wire.body = example.as_str()?.as_bytes().to_vec();
        }
        BodyKind::Binary => {
            wire.content_type = Some(concrete(&encoding.media_type, "application/octet-stream"));
            wire.body = example.as_str()?.as_bytes().to_vec();
        }
        BodyKind::Form => {
            let map = example.as_object()?;
            let mut pairs = Vec::new();
            for (k, v) in map {
                match v {
                    Value::Array(items) if items.iter().all(is_scalar_json) => pairs.extend(items.iter().map(|i| (k.clone(), scalar_text(i)))),
                    v if is_scalar_json(v) => pairs.push((k.clone(), scalar_text(v))),
                    v => pairs.push((k.clone(), v.to_string())),
                }
            }
            wire.content_type = Some("application/x-www-form-urlencoded".into());
            wire.body = pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&").into_bytes();
        }
        BodyKind::Multipart => {
            let map = example.as_object()?;
            let mut text = String::new();
            for (k, v) in map {
                let values: Vec<String> = match v {
                    Value::Array(items) if items.iter().all(is_scalar_json) => items.iter().map(scalar_text).collect(),
                    v if is_scalar_json(v) => vec![scalar_text(v)],
                    v => vec![v.to_string()],
                };
                let binary = body.form_fields.iter().any(|f| f.api_name == *k && f.ty == Ty::Binary);
                for value in values {
                    if binary {
                        text.push_str(&format!("--BOUNDARY\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{k}.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n{value}\r\n"));
                    } else {
                        text.push_str(&format!("--BOUNDARY\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{value}\r\n"));
                    }
                }
            }
            text.push_str("--BOUNDARY--\r\n");
            wire.content_type = Some("multipart/form-data; boundary=BOUNDARY".into());
            wire.body = text.into_bytes();
        }
    }
    Some(encoding.kind)
}

struct Emitter<'a> {
    rust: Rust<'a>,
    names: BTreeSet<String>,
    uses_rejected: bool,
    /// Whether a response test builds a value with `expect`.
    answers_expect: bool,
    /// The operations (by `type_name`) whose responses a test has the service send.
    answered: BTreeSet<String>,
    /// Whether a rejection test asserts an error written as text (SODA, DALI VOTable).
    uses_naming: bool,
    /// The operations (by `type_name`) whose recorded request a test reads.
    inspected: BTreeSet<String>,
    /// The generated crate, as the tests name it.
    krate: proc_macro2::Ident,
}

impl Emitter<'_> {
    fn test_name(&mut self, base: String) -> syn::Ident {
        ident(&crate::naming::unique(crate::naming::field_name(&base), &mut self.names))
    }

    /// `expect::<T>(json)` for a value of `ty`.
    fn expected(&self, ty: &Ty, value: &Value) -> TokenStream {
        let ty = self.rust.ty(ty);
        let json = value.to_string();
        quote!(expect::<#ty>(#json))
    }

    fn operation(&mut self, op: &Operation, single: bool) -> Vec<TokenStream> {
        let mut tests = Vec::new();
        let mut wire = Wire {
            method: op.method.clone(),
            path: op.path.clone(),
            query: Vec::new(),
            headers: Vec::new(),
            cookies: Vec::new(),
            content_type: None,
            body: Vec::new(),
        };
        // The test service accepts the credential `ivoagen-test` (user `tester`) in every scheme.
        if let Some(security) = &op.security {
            let schemes: Vec<&SecurityScheme> = security.schemes.iter().map(|&i| &self.rust.api.security_schemes[i]).collect();
            if schemes.iter().any(|s| s.kind == SchemeKind::Bearer) {
                wire.headers.push(("authorization".into(), "Bearer ivoagen-test".into()));
            } else if let Some(name) = schemes.iter().find_map(|s| match &s.kind {
                SchemeKind::Cookie(name) => Some(name.clone()),
                _ => None,
            }) {
                wire.cookies.push((name, "ivoagen-test".into()));
            } else if schemes.iter().any(|s| s.kind == SchemeKind::Basic) {
                wire.headers.push(("authorization".into(), "Basic dGVzdGVyOml2b2FnZW4tdGVzdA==".into()));
            }
        }
        let mut assertions = Vec::new();
        let mut sent = Vec::new();
        for p in &op.params {
            let field = ident(&p.name);
            match &p.example {
                Some(example) if put(&mut wire, p, example) => {
                    let expected = self.expected(&p.ty, example);
                    assertions.push(if p.always_present() { quote!(assert_eq!(request.#field, #expected);) } else { quote!(assert_eq!(request.#field, Some(#expected));) });
                    sent.push(p);
                }
                _ if p.required => {
                    return vec![self.unreachable_note(op, &format!("no example can be written for the required parameter `{}`", p.api_name))];
                }
                _ => assertions.push(match &p.default {
                    Some(default) => {
                        let expected = self.expected(&p.ty, default);
                        quote!(assert_eq!(request.#field, #expected);)
                    }
                    None => quote!(assert_eq!(request.#field, None);),
                }),
            }
        }
        let mut body_kind = None;
        if let Some(body) = &op.body {
            match &body.example {
                Some(example) => {
                    body_kind = put_body(&mut wire, body, example);
                    if body_kind.is_none() {
                        return vec![self.unreachable_note(op, "no example of the request body can be written")];
                    }
                    let expected = match body.ty {
                        Ty::Binary => {
                            let bytes = proc_macro2::Literal::byte_string(example.as_str().unwrap_or_default().as_bytes());
                            quote!(rt::Bytes::from_static(#bytes))
                        }
                        _ => self.expected(&body.ty, example),
                    };
                    assertions.push(if body.required { quote!(assert_eq!(request.body, #expected);) } else { quote!(assert_eq!(request.body, Some(#expected));) });
                }
                None if body.required => return vec![self.unreachable_note(op, "no example of the request body can be made")],
                None => assertions.push(quote!(assert_eq!(request.body, None);)),
            }
        }
        // The same request in the other shapes the operation must accept.
        let mut variants = vec![(String::new(), wire.clone())];
        let query_names = !wire.query.is_empty();
        if op.case_insensitive && query_names {
            let mut other = wire.clone();
            other.query = wire.query.iter().map(|(k, v)| (mixed_case(k), v.clone())).collect();
            variants.push(("_with_names_in_any_case".to_owned(), other));
        }
        if op.dali_sync && op.method == "get" && op.body.is_none() && query_names {
            let mut form = wire.clone();
            form.method = "post".into();
            form.query.clear();
            form.content_type = Some("application/x-www-form-urlencoded".into());
            form.body = wire.query.iter().map(|(k, v)| format!("{}={}", encode(&mixed_case(k)), encode(v))).collect::<Vec<_>>().join("&").into_bytes();
            variants.push(("_as_a_form_post".to_owned(), form));
            let mut multipart = wire.clone();
            multipart.method = "post".into();
            multipart.query.clear();
            multipart.content_type = Some("multipart/form-data; boundary=BOUNDARY".into());
            let mut text = String::new();
            for (k, v) in &wire.query {
                text.push_str(&format!("--BOUNDARY\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{v}\r\n", k.to_lowercase()));
            }
            text.push_str("--BOUNDARY--\r\n");
            multipart.body = text.into_bytes();
            variants.push(("_as_a_multipart_post".to_owned(), multipart));
        }
        for (suffix, variant_wire) in &variants {
            tests.push(self.happy(op, variant_wire, suffix, &assertions, single));
        }
        tests.extend(self.groups(op, &wire));
        // Each declared response, sent by the service and checked on the wire.
        for response in &op.responses {
            match response.body_enum {
                // Each of several media types.
                Some(_) => tests.extend(response.bodies.iter().map(|body| self.answer(op, &wire, response, Some(body)))),
                None => tests.push(self.answer(op, &wire, response, response.bodies.first())),
            }
        }

        // Each declared constraint, broken on its own.
        for p in &sent {
            let scalar = matches!(p.shape, ParamShape::Scalar) && !(p.location == Location::Path && p.ty != Ty::String && !p.ty.is_number());
            let rules = if scalar { breakable_rules(self.rust.api, &p.ty, &p.constraints) } else { Vec::new() };
            for rule in rules {
                let written = violating(self.rust.api, &p.ty, &p.constraints, rule).into_iter().find_map(|bad| {
                    let mut bad_wire = without(&wire, op, p);
                    put(&mut bad_wire, p, &bad).then_some(bad_wire)
                });
                let Some(bad_wire) = written else { continue };
                tests.push(self.rejection(op, &bad_wire, &format!("{}_rejects_{}_breaking_{}", op.name, p.name, rule), &p.api_name, rule));
            }
            // A constraint on the items of an array, broken by the first item.
            if let (ParamShape::Array(_), Ty::Vec(item), Some(Value::Array(items))) = (&p.shape, &p.ty, &p.example) {
                let item_c = p.constraints.items.as_deref().cloned().unwrap_or_default();
                for rule in breakable_rules(self.rust.api, item, &item_c) {
                    let written = violating(self.rust.api, item, &item_c, rule).into_iter().find_map(|bad| {
                        // The first item broken (an empty example gets one item, the broken one).
                        let mut values = items.clone();
                        match values.first_mut() {
                            Some(first) => *first = bad,
                            None => values.push(bad),
                        }
                        let mut bad_wire = without(&wire, op, p);
                        put(&mut bad_wire, p, &Value::Array(values)).then_some(bad_wire)
                    });
                    let Some(bad_wire) = written else { continue };
                    // An item that does not parse (its type, or a named enum's values) is
                    // refused naming the parameter; a rule checked after parsing names the item.
                    let parsed = rule == "type" || (rule == "enum" && matches!(**item, Ty::Named(_)));
                    let parameter = if parsed { p.api_name.clone() } else { format!("{}[0]", p.api_name) };
                    tests.push(self.rejection(op, &bad_wire, &format!("{}_rejects_an_item_of_{}_breaking_{}", op.name, p.name, rule), &parameter, rule));
                }
                // One more item than allowed: copies of the first (of a valid one if there is none).
                let filler = items.first().cloned().or_else(|| synthesize(self.rust.api, item, &item_c));
                if let (Some(max), Some(filler)) = (p.constraints.max_items, filler) {
                    let mut values = items.clone();
                    while (values.len() as u64) <= max {
                        values.push(filler.clone());
                    }
                    let mut bad_wire = without(&wire, op, p);
                    let unique_ok = !p.constraints.unique_items;
                    if unique_ok && put(&mut bad_wire, p, &Value::Array(values)) {
                        tests.push(self.rejection(op, &bad_wire, &format!("{}_rejects_{}_breaking_max_items", op.name, p.name), &p.api_name, "maxItems"));
                    }
                }
            }
            if p.required && p.location != Location::Path {
                let bad_wire = without(&wire, op, p);
                tests.push(self.rejection(op, &bad_wire, &format!("{}_requires_{}", op.name, p.name), &p.api_name, "required"));
            }
            if p.location == Location::Query && matches!(p.shape, ParamShape::Scalar) {
                let mut twice = wire.clone();
                let again: Vec<_> = wire.query.iter().filter(|(k, _)| *k == p.api_name).cloned().collect();
                twice.query.extend(again);
                tests.push(self.rejection(op, &twice, &format!("{}_rejects_{}_given_twice", op.name, p.name), &p.api_name, "multiplicity"));
            }
        }
        // Constraints on the top-level properties of a JSON body.
        if let (Some(body), Some(BodyKind::Json)) = (&op.body, body_kind) {
            if let (Ty::Named(id), Some(Value::Object(example))) = (&body.ty, &body.example) {
                if let TypeKind::Struct { fields, .. } = &self.rust.api.types[id.0].kind {
                    for f in fields {
                        for rule in breakable_rules(self.rust.api, &f.ty, &f.constraints) {
                            let Some(bad) = violating(self.rust.api, &f.ty, &f.constraints, rule).into_iter().next() else { continue };
                            let mut object = example.clone();
                            object.insert(f.api_name.clone(), bad);
                            let mut bad_wire = wire.clone();
                            bad_wire.body = Value::Object(object).to_string().into_bytes();
                            let (parameter, rule) = if rule == "enum" { ("body".to_owned(), "type") } else { (format!("body.{}", f.api_name), rule) };
                            tests.push(self.rejection(op, &bad_wire, &format!("{}_rejects_body_{}_breaking_{}", op.name, f.name, rule), &parameter, rule));
                        }
                    }
                }
            }
            if !body.encodings.iter().any(|e| e.media_type.contains('*')) {
                let mut bad_wire = wire.clone();
                bad_wire.content_type = Some("application/x-unknown".into());
                let name = self.test_name(format!("{}_refuses_an_unknown_content_type", op.name));
                let request = bad_wire.tokens();
                tests.push(quote! {
                    #[rt::tokio::test(crate = "ivoagen_runtime::codegen::tokio")]
                    async fn #name() {
                        let recorder = Recorder::default();
                        let (status, _) = send(&recorder, #request).await;
                        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
                        assert!(recorder.take().is_empty(), "the service must not be called");
                    }
                });
            }
        }
        tests
    }

    fn happy(&mut self, op: &Operation, wire: &Wire, suffix: &str, assertions: &[TokenStream], single: bool) -> TokenStream {
        let variant = ident(&op.type_name);
        let name = self.test_name(format!("{}_reaches_the_service_with_typed_values{suffix}", op.name));
        let request = wire.tokens();
        if !assertions.is_empty() {
            self.inspected.insert(op.type_name.clone());
        }
        let bind = if assertions.is_empty() {
            quote!(assert!(matches!(call, Call::#variant(_)), "another operation was called: {call:?}");)
        } else if single {
            quote!(let Call::#variant(request) = call;)
        } else {
            quote!(let Call::#variant(request) = call else { panic!("another operation was called: {call:?}") };)
        };
        let api_name = &op.api_name;
        quote! {
            #[rt::tokio::test(crate = "ivoagen_runtime::codegen::tokio")]
            async fn #name() {
                let recorder = Recorder::default();
                let (status, body) = send(&recorder, #request).await;
                assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{}", String::from_utf8_lossy(&body));
                let mut calls = recorder.take();
                assert_eq!(calls.len(), 1, "`{}` was not called exactly once", #api_name);
                let call = calls.remove(0);
                #bind
                #(#assertions)*
            }
        }
    }

    /// For `x-ivoa-groups`, a test that the service is not called by an authenticated caller in
    /// none of the groups (the test service's `outsider`: 403 `AuthorizationError`) nor by an
    /// anonymous one (401 with the challenges); `wire` is the member's valid request.
    fn groups(&mut self, op: &Operation, wire: &Wire) -> Option<TokenStream> {
        if op.groups.is_empty() || (wire.cookies.is_empty() && !wire.headers.iter().any(|(k, _)| k == "authorization")) {
            return None;
        }
        let mut outsider = wire.clone();
        let mut anonymous = wire.clone();
        for (k, v) in &mut outsider.headers {
            if k == "authorization" {
                *v = if v.starts_with("Basic ") { "Basic b3V0c2lkZXI6aXZvYWdlbi10ZXN0".into() } else { "Bearer ivoagen-outsider".into() };
            }
        }
        for (_, v) in &mut outsider.cookies {
            *v = "ivoagen-outsider".into();
        }
        anonymous.headers.retain(|(k, _)| k != "authorization");
        anonymous.cookies.clear();
        let name = self.test_name(format!("{}_serves_only_members_of_its_groups", op.name));
        let (outsider, anonymous) = (outsider.tokens(), anonymous.tokens());
        let label = match op.error_format {
            ErrorFormat::Json => "\"authorization\"",
            _ => "AuthorizationError",
        };
        let krate = &self.krate;
        Some(quote! {
            #[rt::tokio::test(crate = "ivoagen_runtime::codegen::tokio")]
            async fn #name() {
                let recorder = Recorder::default();
                let (status, body) = send(&recorder, #outsider).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&body));
                assert!(String::from_utf8_lossy(&body).contains(#label), "{}", String::from_utf8_lossy(&body));
                let response = #krate::router(recorder.clone()).oneshot(#anonymous).await.unwrap();
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                assert!(response.headers().contains_key("www-authenticate"), "an anonymous caller is told how to authenticate");
                assert!(recorder.take().is_empty(), "the service was called");
            }
        })
    }

    /// A test in which the service sends `response`, answering a valid request: the status, the
    /// content type and each declared header are asserted as the spec declares them.
    fn answer(&mut self, op: &Operation, wire: &Wire, response: &Response, body: Option<&ResponseBody>) -> TokenStream {
        let status = representative_status(op, response);
        let mut name = format!("{}_sends_{}_{}", op.name, status, crate::naming::field_name(&response.variant));
        if let (Some(_), Some(body)) = (&response.body_enum, body) {
            name.push_str(&format!("_as_{}", crate::naming::field_name(&body.variant)));
        }
        let name = self.test_name(name);
        let built = self.response_value(op, response, status, body);
        let built = match built {
            Ok(built) => built,
            Err(why) => {
                let reason = format!("the `{status}` response cannot be built: {why}");
                return quote! {
                    #[test]
                    #[ignore = #reason]
                    fn #name() {}
                };
            }
        };
        let (value, headers) = built;
        self.answered.insert(op.type_name.clone());
        let variant = ident(&op.type_name);
        let request = wire.tokens();
        let content_type = match body {
            Some(body) => {
                let media = &body.media_type;
                quote!(Some(#media))
            }
            None => quote!(None),
        };
        quote! {
            #[rt::tokio::test(crate = "ivoagen_runtime::codegen::tokio")]
            async fn #name() {
                let answer = Answer::#variant(#value);
                let request = #request;
                assert_answer(answer, request, #status, #content_type, &[#(#headers),*]).await;
            }
        }
    }

    /// The response value the test service sends for `response` with `status`, and the headers
    /// it must carry on the wire; or why no value can be made.
    fn response_value(&mut self, op: &Operation, response: &Response, status: u16, body: Option<&ResponseBody>) -> Result<(TokenStream, Vec<TokenStream>), String> {
        let enum_ty = ident(&op.response_type);
        let variant = ident(&response.variant);
        let body = match body {
            Some(body) => {
                let value = self.value(&body.ty, body.example.as_ref()).ok_or_else(|| format!("no value of its `{}` body can be made", body.media_type))?;
                Some(match &response.body_enum {
                    Some(name) => {
                        let (name, media) = (ident(name), ident(&body.variant));
                        quote!(api::#name::#media(#value))
                    }
                    None => value,
                })
            }
            None => None,
        };
        let mut fields = Vec::new();
        let mut headers = Vec::new();
        for h in &response.headers {
            let made = synthesize(self.rust.api, &h.ty, &Constraints::default());
            let Some(value) = made.filter(is_scalar_json) else {
                return Err(format!("no value of its header `{}` can be made", h.api_name));
            };
            let field = ident(&h.name);
            let rust_value = self.value(&h.ty, Some(&value)).ok_or_else(|| format!("no value of its header `{}` can be made", h.api_name))?;
            fields.push(if h.required { quote!(#field: #rust_value) } else { quote!(#field: Some(#rust_value)) });
            let wire_name = h.api_name.to_ascii_lowercase();
            // What the runtime writes is the value's `Display`; for strings, integers and
            // booleans that is the text the spec's value is written as.
            headers.push(match h.ty.unwrap_option() {
                Ty::String | Ty::I32 | Ty::I64 | Ty::Bool => {
                    let text = scalar_text(&value);
                    quote!((#wire_name, #text))
                }
                _ => quote!((#wire_name, #rust_value.to_string().as_str())),
            });
        }
        let value = if matches!(response.status, Status::Code(_)) && response.headers.is_empty() {
            match body {
                Some(body) => quote!(api::#enum_ty::#variant(#body)),
                None => quote!(api::#enum_ty::#variant),
            }
        } else {
            let status_field = (!matches!(response.status, Status::Code(_))).then(|| quote!(status: rt::response::status(#status),));
            let body_field = body.map(|body| quote!(body: #body,));
            quote!(api::#enum_ty::#variant { #status_field #body_field #(#fields),* })
        };
        Ok((value, headers))
    }

    /// A Rust expression for `example`, a valid value of `ty` (made from its schema when absent).
    fn value(&mut self, ty: &Ty, example: Option<&Value>) -> Option<TokenStream> {
        let value = match example {
            Some(example) => example.clone(),
            None => synthesize(self.rust.api, ty, &Constraints::default())?,
        };
        Some(match ty {
            Ty::String => {
                let text = value.as_str()?;
                quote!(#text.to_owned())
            }
            Ty::Binary => {
                let bytes = proc_macro2::Literal::byte_string(scalar_text(&value).as_bytes());
                quote!(rt::Bytes::from_static(#bytes))
            }
            Ty::Body => {
                let text = scalar_text(&value);
                quote!(rt::Body::from(#text))
            }
            _ => {
                self.answers_expect = true;
                self.expected(ty, &value)
            }
        })
    }

    fn rejection(&mut self, op: &Operation, wire: &Wire, name: &str, parameter: &str, rule: &str) -> TokenStream {
        let name = self.test_name(name.to_owned());
        let request = wire.tokens();
        let label = if rule == "multiplicity" { "MultiValuedParamNotSupported" } else { "UsageError" };
        let check = match op.error_format {
            ErrorFormat::Json => {
                self.uses_rejected = true;
                quote!(assert_rejected(status, &body, #parameter, #rule);)
            }
            ErrorFormat::SodaText | ErrorFormat::DaliVotable | ErrorFormat::ScsVotable => {
                self.uses_naming = true;
                // SODA's text starts with the label; DALI's VOTable has it in its QUERY_STATUS,
                // SCS's in the value of its `Error` INFO.
                let format = match op.error_format {
                    ErrorFormat::SodaText => {
                        let start = format!("{label}: ");
                        quote!(text.starts_with(#start))
                    }
                    ErrorFormat::ScsVotable => {
                        let info = format!("<INFO name=\"Error\" value=\"{label}: ");
                        quote!(text.contains(#info))
                    }
                    _ => {
                        let info = format!("<INFO name=\"QUERY_STATUS\" value=\"ERROR\">{label}: ");
                        quote!(text.contains(#info))
                    }
                };
                quote! {
                    let text = assert_rejected_naming(status, &body, #parameter);
                    assert!(#format, "{text}");
                }
            }
        };
        quote! {
            #[rt::tokio::test(crate = "ivoagen_runtime::codegen::tokio")]
            async fn #name() {
                let recorder = Recorder::default();
                let (status, body) = send(&recorder, #request).await;
                #check
                assert!(recorder.take().is_empty(), "the service must not be called");
            }
        }
    }

    /// A VOSI endpoint: the runtime answers with the document, listing every capability.
    fn vosi(&mut self, api: &Api, op: &Operation) -> Option<TokenStream> {
        let kind = op.vosi?;
        let recorder = recorder(api);
        let name = self.test_name(format!("{}_answers_the_vosi_document", op.name));
        let path = &op.path;
        let checks: Vec<TokenStream> = match kind {
            Vosi::Capabilities => {
                let mut ids: Vec<&str> = api.operations.iter().filter_map(|o| o.standard_id.as_deref()).collect();
                ids.extend(api.uws.as_ref().and_then(|u| u.standard_id.as_deref()));
                ids.dedup();
                let mut checks = vec![quote!(assert!(text.contains("<vosi:capabilities"), "{text}");)];
                for id in ids {
                    let attr = format!("standardID=\"{id}\"");
                    checks.push(quote!(assert!(text.contains(#attr), "{text}");));
                }
                checks.push(quote!(assert!(text.contains("<accessURL use=\"full\">http://archive.test"), "{text}");));
                checks
            }
            Vosi::Availability => vec![quote!(assert!(text.contains("<vosi:available>true</vosi:available>"), "{text}");)],
        };
        Some(quote! {
            #[rt::tokio::test(crate = "ivoagen_runtime::codegen::tokio")]
            async fn #name() {
                for method in ["GET", "HEAD"] {
                    let request = Request::builder().method(method).uri(#path).header("host", "archive.test").body(Body::empty()).unwrap();
                    let (status, body) = send(&#recorder, request).await;
                    assert_eq!(status, StatusCode::OK, "{method}");
                    if method == "HEAD" {
                        assert!(body.is_empty(), "HEAD has no body");
                        continue;
                    }
                    let text = String::from_utf8(body).unwrap();
                    #(#checks)*
                }
            }
        })
    }

    /// An operation whose valid request cannot be built shows up as an ignored test that says
    /// why, rather than disappearing from the suite.
    fn unreachable_note(&mut self, op: &Operation, why: &str) -> TokenStream {
        let name = self.test_name(format!("{}_reaches_the_service_with_typed_values", op.name));
        let reason = format!("{why}; add an `example` to the spec");
        quote! {
            #[test]
            #[ignore = #reason]
            fn #name() {}
        }
    }
}

/// How a test makes the recorder: a unit struct when no operation is served.
fn recorder(api: &Api) -> TokenStream {
    if api.operations.iter().any(Operation::served) { quote!(Recorder::default()) } else { quote!(Recorder) }
}

/// The status a test sends for `response`: its code, or for a range or `default` the first code
/// no other response of the operation declares (for `default`: a server error, else a client
/// error, a redirection, a success).
fn representative_status(op: &Operation, response: &Response) -> u16 {
    let declared = |code: u16| {
        op.responses.iter().any(|r| match r.status {
            Status::Code(c) => c == code,
            Status::Range(d) => code / 100 == d && response.status != r.status,
            Status::Default => false,
        })
    };
    let candidates: Vec<u16> = match response.status {
        Status::Code(c) => return c,
        Status::Range(d) => (d * 100..d * 100 + 100).collect(),
        Status::Default => (500..600).chain(400..500).chain(300..400).chain(200..300).collect(),
    };
    candidates.into_iter().find(|&c| !declared(c)).unwrap_or(500)
}

/// The request with parameter `p` removed.
fn without(wire: &Wire, op: &Operation, p: &Param) -> Wire {
    let mut w = wire.clone();
    match p.location {
        Location::Query => w.query.retain(|(k, _)| *k != p.api_name),
        Location::Header => w.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&p.api_name)),
        Location::Cookie => w.cookies.retain(|(k, _)| *k != p.api_name),
        Location::Path => {
            // Path values are re-substituted from the template.
            w.path = op.path.clone();
            for other in op.params.iter().filter(|o| o.location == Location::Path && o.api_name != p.api_name) {
                if let Some(e) = &other.example {
                    w.path = w.path.replace(&format!("{{{}}}", other.api_name), &encode(&scalar_text(e)));
                }
            }
        }
        Location::Form => {}
    }
    w
}

/// The `tests/api.rs` module.
pub fn tests_module(api: &Api, crate_ident: &str) -> TokenStream {
    let krate = ident(crate_ident);
    let title = &api.title;
    let recorder = recorder(api);
    let openapi_test = quote! {
        #[rt::tokio::test(crate = "ivoagen_runtime::codegen::tokio")]
        async fn serves_its_openapi_document() {
            let request = Request::builder().uri("/openapi.json").body(Body::empty()).unwrap();
            let response = #krate::router(#recorder).oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-type"], "application/json");
            let body = rt::axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            let document: rt::serde_json::Value = rt::serde_json::from_slice(&body).unwrap();
            assert_eq!(document["info"]["title"], #title);
        }
    };
    let common = quote! {
        use ivoagen_runtime::codegen as rt;
        use rt::axum::body::Body;
        use rt::http::{Request, StatusCode};
        use rt::tower::ServiceExt;
    };
    let send = quote! {
        /// Sends `request` through the router and returns the status and body.
        async fn send(recorder: &Recorder, request: Request<Body>) -> (StatusCode, Vec<u8>) {
            let response = #krate::router(recorder.clone()).oneshot(request).await.unwrap();
            let status = response.status();
            let body = rt::axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
            (status, body.to_vec())
        }
    };
    let mut emitter = Emitter {
        rust: Rust::new(api).outside(&krate),
        names: BTreeSet::new(),
        uses_rejected: false,
        answers_expect: false,
        answered: BTreeSet::new(),
        uses_naming: false,
        inspected: BTreeSet::new(),
        krate: krate.clone(),
    };
    if !api.operations.iter().any(Operation::served) {
        // The trait is empty; VOSI endpoints, if any, are answered by the runtime.
        let tests: Vec<TokenStream> = api.operations.iter().filter_map(|op| emitter.vosi(api, op)).collect();
        let (doc, send) = if tests.is_empty() {
            (" The API has no operations; the recorder has nothing to record.", quote!())
        } else {
            (" The API has no operations for a service to implement.", send)
        };
        return quote! {
            #common
            use #krate::api::Api;

            #[doc = #doc]
            #[derive(Clone)]
            struct Recorder;

            impl Api for Recorder {}

            #send
            #openapi_test
            #(#tests)*
        };
    }
    let served: Vec<&Operation> = api.operations.iter().filter(|op| op.served()).collect();
    let single = served.len() == 1;
    let mut tests: Vec<TokenStream> = served.iter().flat_map(|op| emitter.operation(op, single)).collect();
    tests.extend(api.operations.iter().filter_map(|op| emitter.vosi(api, op)));
    let variants = served.iter().map(|op| {
        let v = ident(&op.type_name);
        let req = ident(&op.request_type);
        quote!(#v(api::#req),)
    });
    let call_names: Vec<&str> = served.iter().map(|op| op.type_name.as_str()).collect();
    let call_names_allow = super::rust::variant_names_allow("Call", &call_names);
    let uninspected = if served.iter().all(|op| emitter.inspected.contains(&op.type_name)) {
        quote!()
    } else {
        quote!(#[allow(dead_code, reason = "an operation with no runnable example, or no values to check, is recorded but its request is not read")])
    };
    let answered = &emitter.answered;
    let methods = served.iter().map(|op| {
        let name = ident(&op.name);
        let v = ident(&op.type_name);
        let req = ident(&op.request_type);
        let resp = ident(&op.response_type);
        let api_name = &op.api_name;
        let reply = if answered.contains(&op.type_name) {
            quote! {
                match self.answer.lock().unwrap().take() {
                    Some(Answer::#v(response)) => Ok(response),
                    _ => Err(rt::Error::not_implemented(#api_name)),
                }
            }
        } else {
            quote!(Err(rt::Error::not_implemented(#api_name)))
        };
        quote! {
            async fn #name(&self, request: api::#req) -> Result<api::#resp, rt::Error> {
                self.calls.lock().unwrap().push(Call::#v(request));
                #reply
            }
        }
    });
    let answers = if answered.is_empty() {
        quote!()
    } else {
        let variants = served.iter().filter(|op| answered.contains(&op.type_name)).map(|op| {
            let v = ident(&op.type_name);
            let resp = ident(&op.response_type);
            quote!(#v(api::#resp),)
        });
        let variant_names: Vec<&str> = served.iter().filter(|op| answered.contains(&op.type_name)).map(|op| op.type_name.as_str()).collect();
        let names_allow = super::rust::variant_names_allow("Answer", &variant_names);
        quote! {
            /// A response the recorder sends instead of 501, once.
            #names_allow
            enum Answer { #(#variants)* }

            impl Recorder {
                fn answering(answer: Answer) -> Self {
                    let recorder = Recorder::default();
                    *recorder.answer.lock().unwrap() = Some(answer);
                    recorder
                }
            }

            /// Sends `request` to a service that answers `answer` and asserts what reaches the
            /// client: `status`, the `content-type` (none for an empty body) and `headers`.
            async fn assert_answer(answer: Answer, request: Request<Body>, status: u16, content_type: Option<&str>, headers: &[(&str, &str)]) {
                let recorder = Recorder::answering(answer);
                let response = #krate::router(recorder.clone()).oneshot(request).await.unwrap();
                assert_eq!(response.status().as_u16(), status);
                let sent = |name: &str| response.headers().get(name).map(|value| value.to_str().unwrap());
                assert_eq!(sent("content-type"), content_type);
                for &(name, value) in headers {
                    assert_eq!(sent(name), Some(value), "the `{name}` header");
                }
                assert_eq!(recorder.take().len(), 1, "the service was not called exactly once");
            }
        }
    };
    let answer_field = (!answered.is_empty()).then(|| {
        quote! {
            /// What to send instead of 501.
            answer: Arc<Mutex<Option<Answer>>>,
        }
    });
    // UWS jobs are driven through the runtime's engine, not through `router`; the recorder only
    // has to provide the method.
    let job_method = api.uws.as_ref().map(|uws| {
        let op = &api.operations[uws.operation];
        let name = ident(&op.job_method);
        let req = ident(&op.request_type);
        quote! {
            async fn #name(&self, _request: api::#req, _results: std::sync::Arc<rt::uws::engine::ResultWriter>) -> Result<(), rt::uws::JobError> {
                Ok(())
            }
        }
    });
    let rejected = if emitter.uses_rejected {
        quote! {
            /// Asserts a 400 that names `parameter` and `rule`.
            fn assert_rejected(status: StatusCode, body: &[u8], parameter: &str, rule: &str) {
                let text = String::from_utf8_lossy(body);
                assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
                let error: rt::serde_json::Value = rt::serde_json::from_slice(body).unwrap();
                assert_eq!(error["parameter"], parameter, "{text}");
                assert_eq!(error["error"], rule, "{text}");
            }
        }
    } else {
        quote!()
    };
    let naming = if emitter.uses_naming {
        quote! {
            /// Asserts a 400 whose text names `parameter` (an item's index aside), and returns
            /// the text for the checks of its format.
            fn assert_rejected_naming(status: StatusCode, body: &[u8], parameter: &str) -> String {
                let text = String::from_utf8_lossy(body).into_owned();
                assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
                let name = parameter.split('[').next().unwrap_or(parameter);
                assert!(text.to_lowercase().contains(&name.to_lowercase()), "the message names `{parameter}`: {text}");
                text
            }
        }
    } else {
        quote!()
    };
    let uses_expect = emitter.answers_expect
        || served.iter().any(|op| op.params.iter().any(|p| p.example.is_some()) || op.body.as_ref().is_some_and(|b| b.example.is_some() && b.ty != Ty::Binary));
    let expect = if uses_expect {
        quote! {
            /// The value a JSON text stands for, as the service should receive it.
            fn expect<T: rt::serde::de::DeserializeOwned>(json: &str) -> T {
                rt::serde_json::from_str(json).unwrap()
            }
        }
    } else {
        quote!()
    };
    // The tester is in every group of `x-ivoa-groups`; the outsider, in none.
    let mut groups: Vec<&str> = api.operations.iter().flat_map(|op| op.groups.iter().map(String::as_str)).collect();
    groups.sort_unstable();
    groups.dedup();
    let token_file = if groups.is_empty() {
        "ivoagen-test tester\nbasic:tester:ivoagen-test tester".to_owned()
    } else {
        let groups = groups.join(",");
        format!("ivoagen-test tester {groups}\nbasic:tester:ivoagen-test tester {groups}\nivoagen-outsider outsider\nbasic:outsider:ivoagen-test outsider")
    };
    let authenticator = if api.security_schemes.is_empty() {
        quote!()
    } else {
        quote! {
            fn authenticator(&self, _: &rt::serve::Config) -> Result<Arc<dyn rt::auth::Authenticator>, rt::serve::StartError> {
                let tokens = rt::auth::TokenFile::parse(#token_file).map_err(rt::serve::StartError::AuthTokens)?;
                Ok(Arc::new(tokens))
            }
        }
    };
    quote! {
        #common
        use #krate::api::{self, Api};
        use std::sync::{Arc, Mutex};

        /// One call the service received.
        #[derive(Debug)]
        #uninspected
        #call_names_allow
        enum Call { #(#variants)* }

        /// A service that records every call and answers 501, or the answer it is given.
        #[derive(Clone, Default)]
        struct Recorder {
            calls: Arc<Mutex<Vec<Call>>>,
            #answer_field
        }

        impl Recorder {
            fn take(&self) -> Vec<Call> {
                std::mem::take(&mut *self.calls.lock().unwrap())
            }
        }

        impl Api for Recorder {
            #(#methods)*
            #job_method
            #authenticator
        }

        #send

        #answers
        #expect
        #rejected
        #naming
        #openapi_test
        #(#tests)*
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    /// The statuses the tests send for each response of the one operation of `responses` (YAML).
    fn statuses(responses: &str) -> Vec<u16> {
        let yaml = format!("openapi: 3.1.0\ninfo: {{ title: t, version: '1' }}\npaths:\n  /a:\n    get:\n      operationId: a\n      responses:\n{responses}");
        let (api, diagnostics) = crate::lower::lowered(&yaml);
        let api = api.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let op = &api.operations[0];
        op.responses.iter().map(|r| representative_status(op, r)).collect()
    }

    #[test]
    fn a_range_or_default_is_sent_as_a_code_no_other_response_declares() {
        let declared = "        '200': { description: ok }\n        '400': { description: bad }\n        4XX: { description: other }\n        5XX: { description: server }\n        default: { description: any }\n";
        let mut sent = statuses(declared);
        sent.sort_unstable();
        assert_eq!(sent, [200, 300, 400, 401, 500]);
        assert_eq!(statuses("        2XX: { description: ok }\n"), [200]);
        assert_eq!(statuses("        default: { description: any }\n"), [500]);
    }
}
