//! `api.rs`: the `Api` trait the service implements, and the request struct and response enum of
//! each operation.

use super::rust::{Rust, doc_attrs, ident, variant_names_allow};
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};

pub(super) fn request_ident(op: &Operation) -> syn::Ident {
    ident(&op.request_type)
}

fn response_ident(op: &Operation) -> syn::Ident {
    ident(&op.response_type)
}

/// The Rust type of a parameter's field in the request struct.
pub fn param_ty(rust: &Rust, p: &Param) -> TokenStream {
    let ty = rust.ty(&p.ty);
    if p.always_present() { ty } else { quote!(Option<#ty>) }
}

/// The Rust type of the request body field.
pub fn body_ty(rust: &Rust, body: &RequestBody) -> TokenStream {
    let ty = rust.ty(&body.ty);
    if body.required { ty } else { quote!(Option<#ty>) }
}

/// The `api` module.
pub fn api_module(api: &Api) -> TokenStream {
    let rust = Rust::new(api);
    let title_doc = format!(" The operations of {}.", api.title);
    let served: Vec<&Operation> = api.operations.iter().filter(|op| op.served()).collect();
    let methods = served.iter().map(|op| {
        let name = ident(&op.name);
        let (req, resp) = (request_ident(op), response_ident(op));
        let doc = doc_attrs(op.doc.as_deref());
        let route = format!(" `{} {}` (`{}`)", op.method.to_uppercase(), op.path, op.api_name);
        // Clippy expects `new`, `from_*`, `into_*` and `*_mut` methods to take `self` in their
        // own ways; these names are the API's.
        let conventional = op.name == "new" || op.name.starts_with("into_") || op.name.starts_with("from_") || op.name.ends_with("_mut");
        let allow = if conventional {
            quote!(#[allow(clippy::wrong_self_convention, reason = "the name is the operationId's")])
        } else {
            quote!()
        };
        quote! {
            #doc
            #[doc = ""]
            #[doc = #route]
            #allow
            fn #name(&self, request: #req) -> impl Future<Output = Result<#resp, rt::Error>> + Send;
        }
    });
    let job_method = api.uws.as_ref().map(|uws| {
        let op = &api.operations[uws.operation];
        let name = ident(&op.job_method);
        let req = request_ident(op);
        let doc = format!(" Runs one UWS job of the job list at `{}`: the job's parameters, checked and typed as for [`Api::{}`], in; results written through `results`; the runtime does the rest (phases, WAIT, limits, destruction).", uws.jobs, op.name);
        quote! {
            #[doc = #doc]
            fn #name(&self, request: #req, results: std::sync::Arc<rt::uws::engine::ResultWriter>) -> impl Future<Output = Result<(), rt::uws::JobError>> + Send;
        }
    });
    let types = served.iter().map(|op| {
        let (req, resp) = (request_ident(op), response_ident(op));
        let method = &op.name;
        let req_doc = format!(" The request of [`Api::{method}`].");
        let resp_doc = format!(" The responses of [`Api::{method}`].");
        let mut fields: Vec<TokenStream> = op
            .params
            .iter()
            .map(|p| {
                let name = ident(&p.name);
                let ty = param_ty(&rust, p);
                let where_ = match p.location {
                    Location::Path => "path parameter",
                    Location::Query => "query parameter",
                    Location::Header => "header",
                    Location::Cookie => "cookie",
                    Location::Form => "form field",
                };
                let first = format!(" `{}` ({where_}).", p.api_name);
                let doc = doc_attrs(p.doc.as_deref());
                quote!(#[doc = #first] #doc pub #name: #ty,)
            })
            .collect();
        if let Some(body) = &op.body {
            let ty = body_ty(&rust, body);
            let doc = doc_attrs(body.doc.as_deref());
            fields.push(quote!(/// The request body. 
                #doc pub body: #ty,));
        }
        if op.uploads {
            fields.push(quote! {
                /// The file parts of a multipart request (or of the request that created the
                /// job), which UPLOAD's `param:PART` names: see
                /// [`ivoagen_runtime::upload::Uploads::resolve`].
                pub uploads: rt::upload::Uploads,
            });
        }
        if op.caller {
            fields.push(quote! {
                /// Who sent the request: the authenticated identity and its groups, or
                /// anonymous (for a UWS job, its owner as the job was created).
                pub caller: rt::auth::Caller,
            });
        }
        if op.base_url {
            fields.push(quote! {
                /// The service's URL as the client sees it (`--public-url`, or the `Host` and
                /// `X-Forwarded-*` headers, then the base path), for building absolute links.
                pub base_url: String,
            });
        }
        let variants = op.responses.iter().map(|r| response_variant(&rust, r));
        let arms = op.responses.iter().map(response_arm);
        // A binary body may be a stream, which can be neither cloned nor compared.
        let streams = op.responses.iter().any(|r| r.bodies.iter().any(|b| b.ty == Ty::Body));
        let body_enums = op.responses.iter().filter_map(|r| body_enum(&rust, op, r));
        let resp_derive = if streams { quote!(#[derive(Debug)]) } else { quote!(#[derive(Debug, Clone, PartialEq)]) };
        let large = if op.responses.iter().any(may_be_large) {
            quote!(#[allow(clippy::large_enum_variant, reason = "built once per request and sent at once; boxing would only add an allocation")])
        } else {
            quote!()
        };
        let variant_names: Vec<&str> = op.responses.iter().map(|r| r.variant.as_str()).collect();
        let names_allow = variant_names_allow(&op.response_type, &variant_names);
        quote! {
            #[doc = #req_doc]
            #[derive(Debug, Clone, PartialEq)]
            pub struct #req { #(#fields)* }

            #[doc = #resp_doc]
            #resp_derive
            #large
            #names_allow
            pub enum #resp { #(#variants)* }

            impl IntoResponse for #resp {
                fn into_response(self) -> Response {
                    match self { #(#arms)* }
                }
            }

            #(#body_enums)*
        }
    });
    let authenticator_method = if api.security_schemes.is_empty() {
        quote!()
    } else {
        quote! {
            /// Checks the credentials of every request (AuthVO). The default is the authenticator
            /// of the flags: the credentials of `--auth-tokens FILE` and the bearer tokens of the
            /// OpenID Connect issuers of `--oidc-issuer URL`, or none without either. Override
            /// it to plug in your own validation; an error stops the server at start-up with
            /// its message.
            fn authenticator(&self, config: &rt::serve::Config) -> Result<std::sync::Arc<dyn rt::auth::Authenticator>, rt::serve::StartError> {
                rt::auth::configured(config)
            }
        }
    };
    let has = |kind: Vosi| api.operations.iter().any(|op| op.vosi == Some(kind));
    let availability_method = if has(Vosi::Availability) {
        quote! {
            /// What VOSI availability reports (VOSI 1.1 §3.3). The default: available since the
            /// server started. Override it to report a backend that is down or planned
            /// maintenance (`downAt`, `backAt`), with notes for people. Whatever it says, the
            /// server reports not available while one of its readiness checks fails (its job
            /// store, say).
            fn vosi_availability(&self) -> impl Future<Output = rt::vosi::Availability> + Send {
                async { rt::vosi::Availability::up() }
            }
        }
    } else {
        quote!()
    };
    let capability_method = if has(Vosi::Capabilities) {
        quote! {
            /// The registry extension of the capability `standard_id` in VOSI capabilities
            /// (VOResource 1.1 §3.2.1): TAPRegExt's languages, output formats and limits,
            /// SimpleDALRegExt's `maxSR` or `testQuery`. The default: none, a plain capability.
            fn vosi_capability(&self, standard_id: &str) -> Option<rt::vosi::Extension> {
                let _ = standard_id;
                None
            }
        }
    } else {
        quote!()
    };
    let imports = if served.is_empty() && !has(Vosi::Availability) && !has(Vosi::Capabilities) {
        quote!()
    } else if served.is_empty() {
        quote!(use ivoagen_runtime::codegen as rt;)
    } else {
        quote! {
            use ivoagen_runtime::codegen as rt;
            use rt::axum::response::{IntoResponse, Response};
        }
    };
    quote! {
        #imports

        #[doc = #title_doc]
        ///
        /// Implement this trait; the generated `main` serves it with [`crate::server`] (every
        /// route, the job list and the command line's flags), tests with [`crate::router`]. An
        /// operation that fails in a way the API does not declare returns an
        /// [`ivoagen_runtime::Error`] of the kind of failure; the runtime writes it in the
        /// operation's error format.
        pub trait Api: Send + Sync + 'static {
            /// Command-line flags of the service's own, each with a value and an environment
            /// variable, offered by `--help` beside the runtime's; the values given reach
            /// `Service::new` in `config.service`. None by default.
            const FLAGS: &'static [ivoagen_runtime::codegen::serve::Flag] = &[];

            #(#methods)*
            #job_method
            #availability_method
            #capability_method
            #authenticator_method
        }

        #(#types)*
    }
}

/// A bound on the size of a value of `ty` on a 64-bit target; `None` when not known here.
fn size(ty: &Ty) -> Option<usize> {
    Some(match ty {
        Ty::Bool => 1,
        Ty::I32 | Ty::F32 | Ty::Date => 4,
        Ty::I64 | Ty::F64 => 8,
        Ty::DateTime => 12,
        Ty::Uuid | Ty::Body => 16,
        Ty::String | Ty::Vec(_) | Ty::Map(_) => 24,
        Ty::Binary | Ty::Json => 32,
        Ty::Option(inner) => size(inner)? + 8,
        Ty::Named(_) | Ty::Dali(_) => return None,
    })
}

/// Whether fields of these sizes may make a variant large enough for clippy's
/// `large_enum_variant` (200 bytes more than another): a size not known here (a model or a
/// DALI value), or about 150 bytes or more in all.
fn large(sizes: impl IntoIterator<Item = Option<usize>>) -> bool {
    let total: Option<usize> = sizes.into_iter().sum();
    total.is_none_or(|bytes| bytes + 2 >= 150)
}

/// Whether the variant of `r` may be large (see [`large`]); an enum of bodies counts as unknown.
fn may_be_large(r: &Response) -> bool {
    let body = match r.body_enum {
        Some(_) => vec![None],
        None => r.bodies.iter().map(|b| size(&b.ty)).collect(),
    };
    let headers = r.headers.iter().map(|h| size(&h.ty).map(|n| if h.required { n } else { n + 8 }));
    large(body.into_iter().chain(headers))
}

fn status_doc(r: &Response) -> String {
    match r.status {
        Status::Code(c) => format!(" {c}."),
        Status::Range(d) => format!(" Any {d}xx status."),
        Status::Default => " Any other status.".to_owned(),
    }
}

fn response_variant(rust: &Rust, r: &Response) -> TokenStream {
    let name = ident(&r.variant);
    let mut doc = vec![status_doc(r)];
    if let Some(d) = &r.doc {
        doc.extend(d.lines().map(|l| format!(" {}", l.trim_end())));
    }
    let doc = doc.iter().map(|d| quote!(#[doc = #d]));
    let needs_status = !matches!(r.status, Status::Code(_));
    let body_ty = match (&r.body_enum, r.bodies.first()) {
        (Some(name), _) => Some(ident(name).into_token_stream()),
        (None, Some(b)) => Some(rust.ty(&b.ty)),
        (None, None) => None,
    };
    if !needs_status && r.headers.is_empty() {
        return match body_ty {
            Some(t) => quote!(#(#doc)* #name(#t),),
            None => quote!(#(#doc)* #name,),
        };
    }
    let mut fields = Vec::new();
    if needs_status {
        fields.push(quote!(/// The status code to send.
            status: rt::http::StatusCode,));
    }
    if let Some(t) = body_ty {
        fields.push(quote!(/// The body.
            body: #t,));
    }
    for h in &r.headers {
        let hname = ident(&h.name);
        let ty = rust.ty(&h.ty);
        let ty = if h.required { ty } else { quote!(Option<#ty>) };
        let hdoc = format!(" The `{}` header.", h.api_name);
        fields.push(quote!(#[doc = #hdoc] #hname: #ty,));
    }
    quote!(#(#doc)* #name { #(#fields)* },)
}

/// `body`, a value of `b`'s type, written with `status` as `b` says.
fn write_body(b: &ResponseBody, status: &TokenStream, body: TokenStream) -> TokenStream {
    let media = &b.media_type;
    match b.kind {
        ResponseKind::Json => quote!(rt::response::json(#status, #media, &#body)),
        ResponseKind::Xml => {
            let root = b.xml_root.as_deref().unwrap_or("value");
            quote!(rt::response::xml(#status, #media, #root, &#body))
        }
        ResponseKind::Text => quote!(rt::response::text(#status, #media, #body)),
        ResponseKind::Binary => quote!(rt::response::body(#status, #media, #body)),
    }
}

/// The enum of a response that declares several media types: one variant per media type, the
/// media types in order, and how each is written.
fn body_enum(rust: &Rust, op: &Operation, r: &Response) -> Option<TokenStream> {
    let name = ident(r.body_enum.as_ref()?);
    let doc = format!(" The body of [`{}::{}`]: one variant per media type the description declares.", op.response_type, r.variant);
    let variants = r.bodies.iter().map(|b| {
        let variant = ident(&b.variant);
        let ty = rust.ty(&b.ty);
        let doc = format!(" `{}`.", b.media_type);
        quote!(#[doc = #doc] #variant(#ty),)
    });
    let arms = r.bodies.iter().map(|b| {
        let variant = ident(&b.variant);
        let write = write_body(b, &quote!(status), quote!(body));
        quote!(Self::#variant(body) => #write,)
    });
    let media_types = r.bodies.iter().map(|b| b.media_type.as_str());
    let streams = r.bodies.iter().any(|b| b.ty == Ty::Body);
    let derive = if streams { quote!(#[derive(Debug)]) } else { quote!(#[derive(Debug, Clone, PartialEq)]) };
    let large = if r.bodies.iter().any(|b| large([size(&b.ty)])) {
        quote!(#[allow(clippy::large_enum_variant, reason = "built once per request and sent at once; boxing would only add an allocation")])
    } else {
        quote!()
    };
    let variant_names: Vec<&str> = r.bodies.iter().map(|b| b.variant.as_str()).collect();
    let names_allow = variant_names_allow(r.body_enum.as_deref().unwrap_or_default(), &variant_names);
    Some(quote! {
        #[doc = #doc]
        ///
        /// The service chooses one: [`ivoagen_runtime::response::negotiate`] picks the media type
        /// DALI's `RESPONSEFORMAT` asks for among [`Self::MEDIA_TYPES`].
        #derive
        #large
        #names_allow
        pub enum #name { #(#variants)* }

        impl #name {
            /// The media types, in the description's order: the first is the default.
            pub const MEDIA_TYPES: &[&str] = &[#(#media_types),*];

            fn respond(self, status: rt::http::StatusCode) -> Response {
                match self { #(#arms)* }
            }
        }
    })
}

fn response_arm(r: &Response) -> TokenStream {
    let name = ident(&r.variant);
    let status = match r.status {
        Status::Code(c) => quote!(rt::response::status(#c)),
        _ => quote!(status),
    };
    let build = |body: TokenStream| -> TokenStream {
        match (&r.body_enum, r.bodies.first()) {
            (Some(_), _) => quote!(#body.respond(#status)),
            (None, Some(b)) => write_body(b, &status, body),
            (None, None) => quote!(rt::response::empty(#status)),
        }
    };
    let needs_status = !matches!(r.status, Status::Code(_));
    if !needs_status && r.headers.is_empty() {
        return match r.bodies.first() {
            Some(_) => {
                let b = build(quote!(body));
                quote!(Self::#name(body) => #b,)
            }
            None => {
                let b = build(quote!());
                quote!(Self::#name => #b,)
            }
        };
    }
    let mut bindings = Vec::new();
    if needs_status {
        bindings.push(quote!(status));
    }
    if !r.bodies.is_empty() {
        bindings.push(quote!(body));
    }
    let mut header_stmts = Vec::new();
    for h in &r.headers {
        let hname = ident(&h.name);
        let wire = &h.api_name;
        bindings.push(quote!(#hname));
        header_stmts.push(if h.required {
            quote!(let response = rt::response::header(response, #wire, #hname);)
        } else {
            quote! {
                let response = match #hname {
                    Some(value) => rt::response::header(response, #wire, value),
                    None => response,
                };
            }
        });
    }
    let b = build(quote!(body));
    if header_stmts.is_empty() {
        return quote!(Self::#name { #(#bindings),* } => #b,);
    }
    // The last header's statement is the arm's value.
    let last = r.headers.last().map(|h| {
        let hname = ident(&h.name);
        let wire = &h.api_name;
        if h.required {
            quote!(rt::response::header(response, #wire, #hname))
        } else {
            quote!(match #hname { Some(value) => rt::response::header(response, #wire, value), None => response })
        }
    });
    header_stmts.pop();
    quote! {
        Self::#name { #(#bindings),* } => {
            let response = #b;
            #(#header_stmts)*
            #last
        }
    }
}
