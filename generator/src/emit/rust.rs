//! Rust building blocks shared by the emitters: type references, literals and constraint checks.

use crate::ir::*;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use std::collections::{BTreeMap, BTreeSet};

/// Context for emitting type references and checks in one module.
pub struct Rust<'a> {
    pub api: &'a Api,
    /// Regular expressions used by checks, by pattern, with their static's name.
    patterns: BTreeMap<String, syn::Ident>,
    needs_check: BTreeSet<usize>,
    /// The path of the `models` module where this code is (`crate::models`, or the crate's name
    /// in integration tests).
    models: TokenStream,
}

/// An identifier, raw when it is a keyword that can be raw.
pub fn ident(name: &str) -> syn::Ident {
    format_ident!("{}", name)
}

/// Doc attributes for an optional description.
/// `#[allow(clippy::enum_variant_names)]`, with its reason, where clippy would find the variant
/// names of the enum `name` repeating each other or the enum's name: three or more sharing their
/// first or last word, or one starting or ending with the enum's name. The names come from the
/// description (operationIds, statuses, media types, values), which the generator keeps as they
/// are rather than shortens.
pub fn variant_names_allow(name: &str, variants: &[&str]) -> TokenStream {
    fn words(name: &str) -> Vec<String> {
        let mut words: Vec<String> = Vec::new();
        for c in name.chars() {
            match words.last_mut() {
                Some(word) if !c.is_uppercase() => word.push(c),
                _ => words.push(c.to_string()),
            }
        }
        words
    }
    let split: Vec<Vec<String>> = variants.iter().map(|v| words(v)).collect();
    let shared = |pick: fn(&Vec<String>) -> Option<&String>| split.len() >= 3 && split.iter().all(|w| pick(w).is_some() && pick(w) == pick(&split[0]));
    let repeats_enum = variants.iter().any(|v| {
        let after = v.strip_prefix(name).and_then(|rest| rest.chars().next());
        after.is_some_and(|c| !c.is_lowercase()) || (v.len() > name.len() && v.ends_with(name))
    });
    if shared(|w| w.first()) || shared(|w| w.last()) || repeats_enum {
        quote!(#[allow(clippy::enum_variant_names, reason = "the variants are named as the description names them")])
    } else {
        quote!()
    }
}

pub fn doc_attrs(doc: Option<&str>) -> TokenStream {
    let Some(doc) = doc else { return quote!() };
    let lines = doc.lines().map(|l| {
        let l = format!(" {}", l.trim_end());
        quote!(#[doc = #l])
    });
    quote!(#(#lines)*)
}

impl<'a> Rust<'a> {
    pub fn new(api: &'a Api) -> Self {
        Rust { api, patterns: BTreeMap::new(), needs_check: needs_check(api), models: quote!(crate::models) }
    }

    /// Refers to models through `krate::models` (for code outside the crate).
    pub fn outside(mut self, krate: &syn::Ident) -> Self {
        self.models = quote!(#krate::models);
        self
    }

    /// The tokens of a type reference.
    pub fn ty(&self, ty: &Ty) -> TokenStream {
        match ty {
            Ty::Bool => quote!(bool),
            Ty::I32 => quote!(i32),
            Ty::I64 => quote!(i64),
            Ty::F32 => quote!(f32),
            Ty::F64 => quote!(f64),
            Ty::String => quote!(String),
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
                quote!(Vec<#inner>)
            }
            Ty::Map(inner) => {
                let inner = self.ty(inner);
                quote!(::std::collections::BTreeMap<String, #inner>)
            }
            Ty::Option(inner) => {
                let inner = self.ty(inner);
                quote!(Option<#inner>)
            }
        }
    }

    /// Whether a value of this type has anything to check beyond its Rust type.
    pub fn has_checks(&self, ty: &Ty, c: &Constraints) -> bool {
        !c.is_empty() || self.ty_needs_check(ty)
    }

    fn ty_needs_check(&self, ty: &Ty) -> bool {
        ty.named().is_some_and(|id| self.needs_check.contains(&id.0))
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
            let body = self.checks(quote!(value), inner, c, path);
            return quote! {
                if let Some(value) = #value { #body }
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

/// Which named types have something to check (directly or through what they contain).
fn needs_check(api: &Api) -> BTreeSet<usize> {
    let mut set = BTreeSet::new();
    loop {
        let before = set.len();
        for (i, def) in api.types.iter().enumerate() {
            let direct = match &def.kind {
                TypeKind::Struct { fields, .. } => fields.iter().any(|f| !f.constraints.is_empty()),
                _ => false,
            };
            if direct || def.kind.parts().into_iter().filter_map(Ty::named).any(|id| set.contains(&id.0)) {
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

    #[test]
    fn variant_names_clippy_would_call_repetitive_get_an_allow() {
        let allowed = |name: &str, variants: &[&str]| !variant_names_allow(name, variants).is_empty();
        assert!(allowed("Call", &["GetSync", "GetTables", "GetTablesName"]), "a shared first word");
        assert!(allowed("Kind", &["ImageFile", "CubeFile", "TableFile"]), "a shared last word");
        assert!(allowed("Phase", &["PhaseRun", "Abort"]), "the enum's name first");
        assert!(allowed("Phase", &["Run", "AbortPhase"]), "the enum's name last");
        assert!(!allowed("Call", &["GetSync", "GetTables"]), "two are not enough");
        assert!(!allowed("Response", &["Ok", "NotFound", "Default"]));
        assert!(!allowed("Phase", &["Phases", "Run", "Abort"]), "a longer word is not the name");
    }
}
