//! `models.rs`: one Rust item per schema type, with its checks and XML writing.

use super::rust::{Rust, doc_attrs, ident, variant_names_allow};
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::quote;
use std::collections::{BTreeMap, BTreeSet};

impl Rust<'_> {
    /// The `models` module: one item per named type an operation of the `Api` trait can reach.
    pub fn models(&mut self) -> TokenStream {
        let reachable: Vec<usize> = self.api.types.iter().enumerate().filter(|(_, def)| def.reachable).map(|(i, _)| i).collect();
        let mut items: Vec<TokenStream> = reachable.into_iter().map(|i| self.model(i)).collect();
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
                                let inner = self.ty(inner);
                                quote!(Option<Box<#inner>>)
                            }
                            other => {
                                let inner = self.ty(other);
                                quote!(Box<#inner>)
                            }
                        }
                    } else {
                        self.ty(&f.ty)
                    };
                    if !f.required && matches!(f.ty, Ty::Option(_)) {
                        attrs.push(quote!(default, skip_serializing_if = "Option::is_none"));
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
                        pub additional_properties: ::std::collections::BTreeMap<String, #value>,
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
                        fn validate(&self, #path_arg: rt::validate::Path<'_>) -> Result<(), rt::RequestError> {
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
                let variant_names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                let names_allow = variant_names_allow(&def.name, &variant_names);
                quote! {
                    #doc
                    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, rt::serde::Serialize, rt::serde::Deserialize)]
                    #serde_crate
                    #names_allow
                    pub enum #name { #( #[serde(rename = #wire)] #names, )* }

                    impl ::std::fmt::Display for #name {
                        fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                            #display_body
                        }
                    }

                    impl ::std::str::FromStr for #name {
                        type Err = String;

                        fn from_str(value: &str) -> Result<Self, Self::Err> {
                            match value {
                                #(#wire => Ok(Self::#names),)*
                                _ => Err(format!(#expected)),
                            }
                        }
                    }

                    impl rt::FromParam for #name {
                        const RULE: &'static str = "enum";

                        fn from_param(value: &str) -> Result<Self, String> {
                            value.parse()
                        }
                    }

                    impl rt::Validate for #name {
                        fn validate(&self, _path: rt::validate::Path<'_>) -> Result<(), rt::RequestError> {
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
                let variant_names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
                let names_allow = variant_names_allow(&def.name, &variant_names);
                let validate = quote! {
                    impl rt::Validate for #name {
                        fn validate(&self, path: rt::validate::Path<'_>) -> Result<(), rt::RequestError> {
                            match self { #(Self::#names(value) => rt::Validate::validate(value, path),)* }
                        }
                    }
                };
                match discriminator {
                    None => quote! {
                        #doc
                        #derive_data
                        #[serde(crate = "ivoagen_runtime::codegen::serde", untagged)]
                        #names_allow
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
                            #names_allow
                            pub enum #name { #(#arms)* }

                            impl<'de> rt::serde::Deserialize<'de> for #name {
                                fn deserialize<D: rt::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
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
                        fn validate(&self, path: rt::validate::Path<'_>) -> Result<(), rt::RequestError> {
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
                        fn validate(&self, path: rt::validate::Path<'_>) -> Result<(), rt::RequestError> {
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
            .filter(|op| op.served())
            .flat_map(|op| &op.responses)
            .flat_map(|r| &r.bodies)
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
        for def in self.api.types.iter().filter(|def| def.reachable) {
            if let TypeKind::StringEnum { .. } = def.kind {
                let name = ident(&def.name);
                out.push(quote! {
                    impl rt::xml::XmlText for #name {
                        fn xml_text(&self) -> String {
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
