//! Rust building blocks shared by the emitters: type references, literals, constraint checks,
//! and the `models` module.

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
    absolute: bool,
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
        let absolute = in_models && api.types.iter().any(|t| PRELUDE.contains(&t.name.as_str()));
        Rust { api, absolute, patterns: BTreeMap::new(), needs_check: needs_check(api), models: quote!(crate::models) }
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

    /// The `models` module: one item per named type.
    pub fn models(&mut self) -> TokenStream {
        let mut items: Vec<TokenStream> = (0..self.api.types.len()).map(|i| self.model(i)).collect();
        items.extend(self.xml_impls());
        let statics = self.pattern_statics();
        if items.is_empty() {
            return quote!();
        }
        quote! {
            use ivoagen_runtime::codegen as rt;
            #statics
            #(#items)*
        }
    }

    fn model(&mut self, index: usize) -> TokenStream {
        let def = &self.api.types[index];
        let name = ident(&def.name);
        let doc = doc_attrs(def.doc.as_deref());
        let serde_crate = quote!(#[serde(crate = "ivoagen_runtime::codegen::serde")]);
        let derive_data = quote!(#[derive(Debug, Clone, PartialEq, rt::serde::Serialize, rt::serde::Deserialize)]);
        let result = self.result();
        let string = self.string();
        match &def.kind {
            TypeKind::Struct { fields, additional, deny_unknown } => {
                let mut members = Vec::new();
                let mut checks = Vec::new();
                for f in fields {
                    let fname = ident(&f.name);
                    let api_name = &f.api_name;
                    let mut attrs = Vec::new();
                    if f.name != f.api_name {
                        attrs.push(quote!(rename = #api_name));
                    }
                    let ty = if f.boxed {
                        match &f.ty {
                            Ty::Option(inner) => {
                                let boxed = self.boxed(self.ty(inner));
                                self.option(boxed)
                            }
                            other => self.boxed(self.ty(other)),
                        }
                    } else {
                        self.ty(&f.ty)
                    };
                    if !f.required && matches!(f.ty, Ty::Option(_)) {
                        let skip = if self.absolute { "::std::option::Option::is_none" } else { "Option::is_none" };
                        attrs.push(quote!(default, skip_serializing_if = #skip));
                    }
                    let serde = if attrs.is_empty() { quote!() } else { quote!(#[serde(#(#attrs),*)]) };
                    let fdoc = doc_attrs(f.doc.as_deref());
                    members.push(quote!(#fdoc #serde pub #fname: #ty,));
                    if self.has_checks(&f.ty, &f.constraints) {
                        let body = self.checks(quote!(value), &f.ty, &f.constraints, quote!(path));
                        if !body.is_empty() {
                            checks.push(quote! {{
                                let path = path.property(#api_name);
                                let value = &self.#fname;
                                #body
                            }});
                        }
                    }
                }
                let mut container = vec![quote!(crate = "ivoagen_runtime::codegen::serde")];
                if let Some(value) = additional {
                    let value = self.ty(value);
                    members.push(quote! {
                        /// Properties not named above.
                        #[serde(flatten)]
                        pub additional_properties: ::std::collections::BTreeMap<#string, #value>,
                    });
                } else if *deny_unknown {
                    container.push(quote!(deny_unknown_fields));
                }
                let path_arg = if checks.is_empty() { quote!(_path) } else { quote!(path) };
                quote! {
                    #doc
                    #derive_data
                    #[serde(#(#container),*)]
                    pub struct #name { #(#members)* }

                    impl rt::Validate for #name {
                        fn validate(&self, #path_arg: rt::validate::Path<'_>) -> #result<(), rt::RequestError> {
                            #(#checks)*
                            Ok(())
                        }
                    }
                }
            }
            TypeKind::StringEnum { variants } => {
                let names: Vec<_> = variants.iter().map(|v| ident(&v.name)).collect();
                let wire: Vec<_> = variants.iter().map(|v| v.api_name.as_str()).collect();
                let allowed = wire.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ");
                let expected = format!("expected one of {allowed}, got `{{value}}`");
                let display_body = if names.is_empty() {
                    quote!(match *self {})
                } else {
                    quote!(f.write_str(match self { #(Self::#names => #wire,)* }))
                };
                quote! {
                    #doc
                    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, rt::serde::Serialize, rt::serde::Deserialize)]
                    #serde_crate
                    pub enum #name { #( #[serde(rename = #wire)] #names, )* }

                    impl ::std::fmt::Display for #name {
                        fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                            #display_body
                        }
                    }

                    impl ::std::str::FromStr for #name {
                        type Err = #string;

                        fn from_str(value: &str) -> #result<Self, Self::Err> {
                            match value {
                                #(#wire => Ok(Self::#names),)*
                                _ => Err(format!(#expected)),
                            }
                        }
                    }

                    impl rt::FromParam for #name {
                        const RULE: &'static str = "enum";

                        fn from_param(value: &str) -> #result<Self, #string> {
                            value.parse()
                        }
                    }

                    impl rt::Validate for #name {
                        fn validate(&self, _path: rt::validate::Path<'_>) -> #result<(), rt::RequestError> {
                            Ok(())
                        }
                    }
                }
            }
            TypeKind::Union { variants, discriminator } => {
                let arms: Vec<TokenStream> = variants
                    .iter()
                    .map(|v| {
                        let vname = ident(&v.name);
                        let ty = self.ty(&v.ty);
                        quote!(#vname(#ty),)
                    })
                    .collect();
                let names: Vec<_> = variants.iter().map(|v| ident(&v.name)).collect();
                let validate = quote! {
                    impl rt::Validate for #name {
                        fn validate(&self, path: rt::validate::Path<'_>) -> #result<(), rt::RequestError> {
                            match self { #(Self::#names(value) => rt::Validate::validate(value, path),)* }
                        }
                    }
                };
                match discriminator {
                    None => quote! {
                        #doc
                        #derive_data
                        #[serde(crate = "ivoagen_runtime::codegen::serde", untagged)]
                        pub enum #name { #(#arms)* }
                        #validate
                    },
                    Some(property) => {
                        let tags: Vec<&str> = variants.iter().map(|v| v.tag.as_deref().unwrap_or_default()).collect();
                        let unknown = format!("unknown `{property}`: {{other:?}}");
                        quote! {
                            #doc
                            #[derive(Debug, Clone, PartialEq, rt::serde::Serialize)]
                            #[serde(crate = "ivoagen_runtime::codegen::serde", untagged)]
                            pub enum #name { #(#arms)* }

                            impl<'de> rt::serde::Deserialize<'de> for #name {
                                fn deserialize<D: rt::serde::Deserializer<'de>>(deserializer: D) -> #result<Self, D::Error> {
                                    use rt::serde::de::Error as _;
                                    let value = <rt::serde_json::Value as rt::serde::Deserialize>::deserialize(deserializer)?;
                                    let tag = value.get(#property).and_then(rt::serde_json::Value::as_str).map(str::to_owned);
                                    match tag.as_deref() {
                                        #(Some(#tags) => rt::serde_json::from_value(value).map(Self::#names).map_err(D::Error::custom),)*
                                        other => Err(D::Error::custom(format!(#unknown))),
                                    }
                                }
                            }
                            #validate
                        }
                    }
                }
            }
            TypeKind::Tuple(tys) => {
                let tys_tokens: Vec<_> = tys.iter().map(|t| self.ty(t)).collect();
                let idx: Vec<_> = (0..tys.len()).map(syn::Index::from).collect();
                quote! {
                    #doc
                    #derive_data
                    #serde_crate
                    pub struct #name(#(pub #tys_tokens),*);

                    impl rt::Validate for #name {
                        fn validate(&self, path: rt::validate::Path<'_>) -> #result<(), rt::RequestError> {
                            #(rt::Validate::validate(&self.#idx, path)?;)*
                            Ok(())
                        }
                    }
                }
            }
            TypeKind::Newtype(ty) => {
                let inner = self.ty(ty);
                quote! {
                    #doc
                    #derive_data
                    #[serde(crate = "ivoagen_runtime::codegen::serde", transparent)]
                    pub struct #name(pub #inner);

                    impl rt::Validate for #name {
                        fn validate(&self, path: rt::validate::Path<'_>) -> #result<(), rt::RequestError> {
                            rt::Validate::validate(&self.0, path)
                        }
                    }
                }
            }
        }
    }
}

impl Rust<'_> {
    /// Every struct reachable from an XML response body, in arena order.
    fn xml_types(&self) -> Vec<usize> {
        let mut stack: Vec<usize> = self
            .api
            .operations
            .iter()
            .flat_map(|op| &op.responses)
            .filter_map(|r| r.body.as_ref())
            .filter(|b| b.kind == ResponseKind::Xml)
            .filter_map(|b| match b.ty {
                Ty::Named(id) => Some(id.0),
                _ => None,
            })
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let TypeKind::Struct { fields, .. } = &self.api.types[id].kind {
                for f in fields {
                    if let Some(Ty::Named(t)) = named_inside(&f.ty) {
                        if matches!(self.api.types[t.0].kind, TypeKind::Struct { .. }) {
                            stack.push(t.0);
                        }
                    }
                }
            }
        }
        seen.into_iter().collect()
    }

    /// `ToXml` for the structs written as XML, and `XmlText` for every string enum.
    fn xml_impls(&self) -> Vec<TokenStream> {
        let mut out = Vec::new();
        for def in &self.api.types {
            if let TypeKind::StringEnum { .. } = def.kind {
                let name = ident(&def.name);
                let string = self.string();
                out.push(quote! {
                    impl rt::xml::XmlText for #name {
                        fn xml_text(&self) -> #string {
                            self.to_string()
                        }
                    }
                });
            }
        }
        let xml_types = self.xml_types();
        if xml_types.is_empty() {
            return out;
        }
        // Every namespace any of these types or their properties declare, bound at the root.
        let mut namespaces: BTreeMap<String, String> = BTreeMap::new();
        let mut nil = false;
        for &id in &xml_types {
            let def = &self.api.types[id];
            let mut add = |xml: &Xml| {
                if let Some(ns) = &xml.namespace {
                    namespaces.insert(xml.prefix.as_ref().map_or_else(|| "xmlns".to_owned(), |p| format!("xmlns:{p}")), ns.clone());
                }
            };
            if let Some(xml) = &def.xml {
                add(xml);
            }
            if let TypeKind::Struct { fields, .. } = &def.kind {
                for f in fields {
                    add(&f.xml);
                    nil |= f.required && matches!(f.ty, Ty::Option(_)) && !f.xml.attribute;
                }
            }
        }
        if nil {
            namespaces.insert("xmlns:xsi".to_owned(), "http://www.w3.org/2001/XMLSchema-instance".to_owned());
        }
        let declarations: Vec<TokenStream> = namespaces.iter().map(|(k, v)| quote!((#k, #v.to_owned()),)).collect();
        for id in xml_types {
            let def = &self.api.types[id];
            let TypeKind::Struct { fields, .. } = &def.kind else { continue };
            let name = ident(&def.name);
            let prefix = def.xml.as_ref().and_then(|x| x.prefix.clone());
            let qualify = |local: &str, own: &Xml, inherit: bool| -> String {
                match (&own.prefix, &prefix) {
                    (Some(p), _) => format!("{p}:{local}"),
                    (None, Some(p)) if inherit => format!("{p}:{local}"),
                    _ => local.to_owned(),
                }
            };
            let mut attributes = Vec::new();
            let mut children = Vec::new();
            let mut text = None;
            for f in fields {
                let fname = ident(&f.name);
                let local = f.xml.name.clone().unwrap_or_else(|| f.api_name.clone());
                let optional = matches!(f.ty, Ty::Option(_));
                let inner = f.ty.unwrap_option();
                if f.xml.text {
                    text = Some(if optional {
                        quote!(self.#fname.as_ref().map(rt::xml::XmlText::xml_text).unwrap_or_default())
                    } else {
                        quote!(rt::xml::XmlText::xml_text(&self.#fname))
                    });
                    continue;
                }
                if f.xml.attribute {
                    let qname = qualify(&local, &f.xml, false);
                    attributes.push(if optional {
                        quote!(if let Some(value) = &self.#fname { attributes.push((#qname, rt::xml::XmlText::xml_text(value))); })
                    } else {
                        quote!(attributes.push((#qname, rt::xml::XmlText::xml_text(&self.#fname)));)
                    });
                    continue;
                }
                let write_one = |value: TokenStream, ty: &Ty, element: &str| -> Option<TokenStream> {
                    match ty {
                        Ty::Named(t) if matches!(self.api.types[t.0].kind, TypeKind::Struct { .. }) => {
                            Some(quote!(rt::xml::ToXml::write_xml(#value, w, #element, false);))
                        }
                        Ty::Map(_) | Ty::Vec(_) | Ty::Option(_) | Ty::Binary | Ty::Body => None,
                        Ty::Named(t) if !matches!(self.api.types[t.0].kind, TypeKind::StringEnum { .. }) => None,
                        _ => Some(quote!(w.leaf(#element, &rt::xml::XmlText::xml_text(#value));)),
                    }
                };
                let element = qualify(&local, &f.xml, true);
                let statement = match inner {
                    Ty::Vec(item) => {
                        // Unwrapped arrays repeat the item element; wrapped ones nest it.
                        let item_local = match (&f.xml.name, &**item) {
                            (Some(n), _) if !f.xml.wrapped => n.clone(),
                            (_, Ty::Named(t)) => self.api.types[t.0].xml.as_ref().and_then(|x| x.name.clone()).unwrap_or_else(|| f.api_name.clone()),
                            _ => f.api_name.clone(),
                        };
                        let item_element = qualify(&item_local, &Xml::default(), true);
                        let Some(each) = write_one(quote!(item), item, &item_element) else { continue };
                        let items = if optional { quote!(self.#fname.iter().flatten()) } else { quote!(self.#fname.iter()) };
                        if f.xml.wrapped {
                            quote! {
                                w.start::<&str>(#element, &[]);
                                for item in #items { #each }
                                w.end();
                            }
                        } else {
                            quote!(for item in #items { #each })
                        }
                    }
                    _ => {
                        let value_ref = if f.boxed { quote!(value.as_ref()) } else { quote!(value) };
                        let Some(each) = write_one(value_ref.clone(), inner, &element) else { continue };
                        match (optional, f.required) {
                            (false, _) => quote!({ let value = &self.#fname; #each }),
                            (true, true) => quote! {
                                match &self.#fname {
                                    Some(value) => { #each }
                                    None => { w.nil(#element); }
                                }
                            },
                            (true, false) => quote!(if let Some(value) = &self.#fname { #each }),
                        }
                    }
                };
                children.push(statement);
            }
            let body = match text {
                Some(text) => quote!(w.text_element(name, &attributes, &#text);),
                // Attributes only: an empty element (a schema with empty content allows no white space).
                None if children.is_empty() => quote!(w.empty(name, &attributes);),
                None => quote! {
                    w.start(name, &attributes);
                    #(#children)*
                    w.end();
                },
            };
            let namespaces = if declarations.is_empty() { quote!() } else { quote!(if root { attributes.extend([#(#declarations)*]); }) };
            let root_arg = if declarations.is_empty() { quote!(_root) } else { quote!(root) };
            let mutable = if attributes.is_empty() && declarations.is_empty() { quote!() } else { quote!(mut) };
            out.push(quote! {
                impl rt::xml::ToXml for #name {
                    fn write_xml(&self, w: &mut rt::xml::XmlWriter, name: &str, #root_arg: bool) {
                        let #mutable attributes: Vec<(&str, String)> = Vec::new();
                        #namespaces
                        #(#attributes)*
                        #body
                    }
                }
            });
        }
        out
    }
}

/// The named type a field holds, through `Option` and `Vec`.
fn named_inside(ty: &Ty) -> Option<&Ty> {
    match ty {
        Ty::Named(_) => Some(ty),
        Ty::Option(inner) | Ty::Vec(inner) => named_inside(inner),
        _ => None,
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
    fn ty_refs(ty: &Ty, out: &mut Vec<usize>) {
        match ty {
            Ty::Named(id) => out.push(id.0),
            Ty::Vec(i) | Ty::Map(i) | Ty::Option(i) => ty_refs(i, out),
            _ => {}
        }
    }
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
