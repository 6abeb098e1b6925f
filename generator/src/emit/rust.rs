//! Rust building blocks shared by the emitters: type references, literals and constraint checks.

use crate::ir::*;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use std::collections::{BTreeMap, BTreeSet};

/// Names in the Rust prelude that a generated model could shadow.
const PRELUDE: &[&str] = &["String", "Vec", "Option", "Some", "None", "Box", "Result", "Ok", "Err", "Default", "Clone", "Copy", "Send", "Sync"];

/// Context for emitting type references and checks in one module.
pub struct Rust<'a> {
    pub api: &'a Api,
    /// Whether std names must be written as absolute paths (a model shadows one).
    pub(super) absolute: bool,
    /// Regular expressions used by checks, by pattern, with their static's name.
    patterns: BTreeMap<String, syn::Ident>,
    needs_check: BTreeSet<usize>,
    /// The types `models.rs` holds: those an operation of the `Api` trait can reach.
    pub(super) emitted: BTreeSet<usize>,
    /// The path of the `models` module where this code is (`crate::models`, or the crate's name
    /// in integration tests).
    models: TokenStream,
}

/// An identifier, raw when it is a keyword that can be raw.
pub fn ident(name: &str) -> syn::Ident {
    format_ident!("{}", name)
}

/// Doc attributes for an optional description.
pub fn doc_attrs(doc: Option<&str>) -> TokenStream {
    let Some(doc) = doc else { return quote!() };
    let lines = doc.lines().map(|l| {
        let l = format!(" {}", l.trim_end());
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

impl<'a> Rust<'a> {
    pub fn new(api: &'a Api, in_models: bool) -> Self {
        let emitted = emitted_types(api);
        let absolute = in_models && emitted.iter().any(|&i| PRELUDE.contains(&api.types[i].name.as_str()));
        Rust { api, absolute, patterns: BTreeMap::new(), needs_check: needs_check(api), emitted, models: quote!(crate::models) }
    }

    /// Refers to models through `krate::models` (for code outside the crate).
    pub fn outside(mut self, krate: &syn::Ident) -> Self {
        self.models = quote!(#krate::models);
        self
    }

    pub fn string(&self) -> TokenStream {
        if self.absolute { quote!(::std::string::String) } else { quote!(String) }
    }

    pub fn option(&self, inner: TokenStream) -> TokenStream {
        if self.absolute { quote!(::std::option::Option<#inner>) } else { quote!(Option<#inner>) }
    }

    pub fn some(&self) -> TokenStream {
        if self.absolute { quote!(::std::option::Option::Some) } else { quote!(Some) }
    }

    pub fn boxed(&self, inner: TokenStream) -> TokenStream {
        if self.absolute { quote!(::std::boxed::Box<#inner>) } else { quote!(Box<#inner>) }
    }

    pub fn result(&self) -> TokenStream {
        if self.absolute { quote!(::std::result::Result) } else { quote!(Result) }
    }

    /// The tokens of a type reference.
    pub fn ty(&self, ty: &Ty) -> TokenStream {
        match ty {
            Ty::Bool => quote!(bool),
            Ty::I32 => quote!(i32),
            Ty::I64 => quote!(i64),
            Ty::F32 => quote!(f32),
            Ty::F64 => quote!(f64),
            Ty::String => self.string(),
            Ty::Date => quote!(rt::chrono::NaiveDate),
            Ty::DateTime => quote!(rt::chrono::DateTime<rt::chrono::Utc>),
            Ty::Uuid => quote!(rt::Uuid),
            Ty::Binary => quote!(rt::Bytes),
            Ty::Body => quote!(rt::Body),
            Ty::Dali(kind) => {
                let name = format_ident!("{}", kind.rust_name());
                quote!(rt::dali::#name)
            }
            Ty::Json => quote!(rt::serde_json::Value),
            Ty::Named(id) => {
                let name = ident(&self.api.types[id.0].name);
                let models = &self.models;
                quote!(#models::#name)
            }
            Ty::Vec(inner) => {
                let inner = self.ty(inner);
                if self.absolute { quote!(::std::vec::Vec<#inner>) } else { quote!(Vec<#inner>) }
            }
            Ty::Map(inner) => {
                let (inner, string) = (self.ty(inner), self.string());
                quote!(::std::collections::BTreeMap<#string, #inner>)
            }
            Ty::Option(inner) => self.option(self.ty(inner)),
        }
    }

    /// Whether a value of this type has anything to check beyond its Rust type.
    pub fn has_checks(&self, ty: &Ty, c: &Constraints) -> bool {
        !c.is_empty() || self.ty_needs_check(ty)
    }

    fn ty_needs_check(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Named(id) => self.needs_check.contains(&id.0),
            Ty::Vec(inner) | Ty::Map(inner) | Ty::Option(inner) => self.ty_needs_check(inner),
            _ => false,
        }
    }

    /// The statics holding the regular expressions the checks use.
    pub fn pattern_statics(&self) -> TokenStream {
        let statics = self.patterns.iter().map(|(pattern, name)| {
            quote! {
                static #name: std::sync::LazyLock<rt::Regex> =
                    std::sync::LazyLock::new(|| rt::Regex::new(#pattern).expect("ivoagen checked this pattern"));
            }
        });
        quote!(#(#statics)*)
    }

    fn pattern(&mut self, pattern: &str) -> syn::Ident {
        let next = self.patterns.len();
        self.patterns.entry(pattern.to_owned()).or_insert_with(|| format_ident!("PATTERN_{}", next)).clone()
    }

    /// Statements checking `value` (an expression of type `&T`) against `c`; errors name `path`:
    /// a string literal (a parameter, `"body"`) or the local `path` of a model's check.
    pub fn checks(&mut self, value: TokenStream, ty: &Ty, c: &Constraints, path: TokenStream) -> TokenStream {
        if let Ty::Option(inner) = ty {
            if !self.has_checks(inner, c) {
                return quote!();
            }
            let some = self.some();
            let body = self.checks(quote!(value), inner, c, path);
            return quote! {
                if let #some(value) = #value { #body }
            };
        }
        let mut out = Vec::new();
        let as_f64 = match ty {
            Ty::I32 | Ty::F32 => Some(quote!(f64::from(*#value))),
            Ty::I64 => Some(quote!(*#value as f64)),
            Ty::F64 => Some(quote!(*#value)),
            _ => None,
        };
        if let Some(number) = &as_f64 {
            if let Some((m, excl)) = c.minimum {
                out.push(quote!(rt::validate::minimum(#path, #number, #m, #excl)?;));
            }
            if let Some((m, excl)) = c.maximum {
                out.push(quote!(rt::validate::maximum(#path, #number, #m, #excl)?;));
            }
            if let Some(f) = c.multiple_of {
                out.push(quote!(rt::validate::multiple_of(#path, #number, #f)?;));
            }
        }
        if *ty == Ty::String {
            if c.min_length.is_some() || c.max_length.is_some() {
                let min = opt_u64(c.min_length);
                let max = opt_u64(c.max_length);
                out.push(quote!(rt::validate::length(#path, #value, #min, #max)?;));
            }
            if let Some(p) = &c.pattern {
                let name = self.pattern(p);
                out.push(quote!(rt::validate::pattern(#path, #value, &#name)?;));
            }
        }
        if let Some(expected) = c.constant.as_ref().and_then(|v| literal(ty, v)) {
            let value = if *ty == Ty::String { quote!(&#value.as_str()) } else { value.clone() };
            out.push(quote!(rt::validate::constant(#path, #value, &#expected)?;));
        }
        if let Some(allowed) = &c.one_of {
            let literals: Option<Vec<TokenStream>> = allowed.iter().map(|v| literal(ty, v)).collect();
            if let Some(literals) = literals {
                let value = if *ty == Ty::String { quote!(&#value.as_str()) } else { value.clone() };
                out.push(quote!(rt::validate::one_of(#path, #value, &[#(#literals),*])?;));
            }
        }
        match ty {
            Ty::Vec(item) => {
                if c.min_items.is_some() || c.max_items.is_some() {
                    let (min, max) = (opt_u64(c.min_items), opt_u64(c.max_items));
                    out.push(quote!(rt::validate::items(#path, #value.len(), #min, #max)?;));
                }
                if c.unique_items {
                    out.push(quote!(rt::validate::unique(#path, #value)?;));
                }
                let item_c = c.items.as_deref().cloned().unwrap_or_default();
                if !item_c.is_empty() {
                    let body = self.checks(quote!(item), item, &item_c, quote!(path));
                    let parent = path_value(&path);
                    out.push(quote! {
                        let parent = #parent;
                        for (i, item) in #value.iter().enumerate() {
                            let path = parent.item(i);
                            #body
                        }
                    });
                } else if self.ty_needs_check(item) {
                    let path = path_value(&path);
                    out.push(quote!(rt::Validate::validate(#value, #path)?;));
                }
            }
            Ty::Map(inner) => {
                if let Some((min, max)) = c.properties {
                    let (min, max) = (opt_u64(min), opt_u64(max));
                    out.push(quote!(rt::validate::properties(#path, #value.len(), #min, #max)?;));
                }
                if self.ty_needs_check(inner) {
                    let path = path_value(&path);
                    out.push(quote!(rt::Validate::validate(#value, #path)?;));
                }
            }
            Ty::Named(id) if self.needs_check.contains(&id.0) => {
                let path = path_value(&path);
                out.push(quote!(rt::Validate::validate(#value, #path)?;));
            }
            _ => {}
        }
        quote!(#(#out)*)
    }
}

/// `path` (see [`Rust::checks`]) as an `rt::validate::Path` value.
fn path_value(path: &TokenStream) -> TokenStream {
    if path.to_string().starts_with('"') { quote!(rt::validate::Path::Root(#path)) } else { path.clone() }
}

fn opt_u64(v: Option<u64>) -> TokenStream {
    match v {
        Some(n) => quote!(Some(#n)),
        None => quote!(None),
    }
}

/// A Rust literal of `ty` for a JSON value, when there is one.
pub fn literal(ty: &Ty, value: &serde_json::Value) -> Option<TokenStream> {
    Some(match (ty, value) {
        (Ty::Bool, serde_json::Value::Bool(b)) => quote!(#b),
        (Ty::I32, v) => {
            let n = Literal::i32_suffixed(i32::try_from(v.as_i64()?).ok()?);
            quote!(#n)
        }
        (Ty::I64, v) => {
            let n = Literal::i64_suffixed(v.as_i64()?);
            quote!(#n)
        }
        (Ty::F32, v) => {
            let n = Literal::f32_suffixed(v.as_f64()? as f32);
            quote!(#n)
        }
        (Ty::F64, v) => {
            let n = Literal::f64_suffixed(v.as_f64()?);
            quote!(#n)
        }
        (Ty::String, serde_json::Value::String(s)) => quote!(#s),
        _ => return None,
    })
}

/// The named types an operation the service implements can reach (its parameters, body,
/// responses and response headers, and what their types contain), in arena order. The others —
/// the UWS and VOSI documents the runtime writes itself — are not emitted.
///
/// Computed here until the IR records it (`ir::Api` would hold the set, decided in `lower`).
pub fn emitted_types(api: &Api) -> BTreeSet<usize> {
    let mut stack = Vec::new();
    for op in api.operations.iter().filter(|op| op.served()) {
        op.params.iter().for_each(|p| ty_refs(&p.ty, &mut stack));
        if let Some(body) = &op.body {
            ty_refs(&body.ty, &mut stack);
            body.form_fields.iter().for_each(|f| ty_refs(&f.ty, &mut stack));
        }
        for r in &op.responses {
            if let Some(body) = &r.body {
                ty_refs(&body.ty, &mut stack);
            }
            r.headers.iter().for_each(|h| ty_refs(&h.ty, &mut stack));
        }
    }
    let mut seen = BTreeSet::new();
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        match &api.types[id].kind {
            TypeKind::Struct { fields, additional, .. } => {
                fields.iter().for_each(|f| ty_refs(&f.ty, &mut stack));
                if let Some(a) = additional {
                    ty_refs(a, &mut stack);
                }
            }
            TypeKind::Union { variants, .. } => variants.iter().for_each(|v| ty_refs(&v.ty, &mut stack)),
            TypeKind::Tuple(tys) => tys.iter().for_each(|t| ty_refs(t, &mut stack)),
            TypeKind::Newtype(t) => ty_refs(t, &mut stack),
            TypeKind::StringEnum { .. } => {}
        }
    }
    seen
}

/// The named types `ty` refers to directly (through `Vec`, maps and `Option`).
fn ty_refs(ty: &Ty, out: &mut Vec<usize>) {
    match ty {
        Ty::Named(id) => out.push(id.0),
        Ty::Vec(i) | Ty::Map(i) | Ty::Option(i) => ty_refs(i, out),
        _ => {}
    }
}

/// Which named types have something to check (directly or through what they contain).
fn needs_check(api: &Api) -> BTreeSet<usize> {
    let mut set = BTreeSet::new();
    loop {
        let before = set.len();
        for (i, def) in api.types.iter().enumerate() {
            if set.contains(&i) {
                continue;
            }
            let mut refs = Vec::new();
            let direct = match &def.kind {
                TypeKind::Struct { fields, additional, .. } => {
                    fields.iter().for_each(|f| ty_refs(&f.ty, &mut refs));
                    if let Some(a) = additional {
                        ty_refs(a, &mut refs);
                    }
                    fields.iter().any(|f| !f.constraints.is_empty())
                }
                TypeKind::Union { variants, .. } => {
                    variants.iter().for_each(|v| ty_refs(&v.ty, &mut refs));
                    false
                }
                TypeKind::Tuple(tys) => {
                    tys.iter().for_each(|t| ty_refs(t, &mut refs));
                    false
                }
                TypeKind::Newtype(t) => {
                    ty_refs(t, &mut refs);
                    false
                }
                TypeKind::StringEnum { .. } => false,
            };
            if direct || refs.iter().any(|r| set.contains(r)) {
                set.insert(i);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A file system holding one spec.
    struct OneFile(&'static str);

    impl crate::load::FileSystem for OneFile {
        fn read(&self, _: &Path) -> Result<String, String> {
            Ok(self.0.to_owned())
        }
    }

    const SPEC: &str = "
openapi: 3.1.0
info: { title: Reach, version: '1' }
paths:
  /items:
    get:
      operationId: listItems
      parameters:
        - { name: kind, in: query, schema: { $ref: '#/components/schemas/Kind' } }
      responses:
        '200': { description: Items., content: { application/json: { schema: { $ref: '#/components/schemas/Page' } } } }
        '400': { description: Bad., headers: { X-Code: { schema: { $ref: '#/components/schemas/Code' } } } }
components:
  schemas:
    Kind: { type: string, enum: [a, b] }
    Page: { type: object, properties: { items: { type: array, items: { $ref: '#/components/schemas/Item' } } } }
    Item: { type: object, properties: { tags: { type: object, additionalProperties: { $ref: '#/components/schemas/Tag' } } } }
    Tag: { type: object, properties: { label: { type: string } } }
    Code: { type: string, enum: [x, y] }
    Result: { type: object, properties: { orphan: { $ref: '#/components/schemas/Orphan' } } }
    Orphan: { type: object, properties: { n: { type: integer } } }
";

    #[test]
    fn only_what_an_operation_reaches_is_emitted() {
        let Ok((api, _, _)) = crate::analyse(&OneFile(SPEC), Path::new("/spec.yaml")) else { panic!("the spec lowers") };
        let emitted: Vec<&str> = emitted_types(&api).iter().map(|&i| api.types[i].name.as_str()).collect();
        let mut expected = vec!["Code", "Item", "Kind", "Page", "Tag"];
        let mut got = emitted.clone();
        got.sort_unstable();
        expected.sort_unstable();
        assert_eq!(got, expected, "parameters, bodies, response headers and what they hold, transitively");
        assert!(api.types.iter().any(|t| t.name == "Orphan"), "lowered, but reached by no operation");
        // `Result` is not emitted, so `models` needs no absolute paths for the prelude's names.
        assert!(!Rust::new(&api, true).absolute);
    }
}
