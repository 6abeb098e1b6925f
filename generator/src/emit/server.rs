//! `server.rs`: the router, one handler per operation (extraction and validation), and
//! `server()`, the whole server `main` runs.

use super::api::request_ident;
use super::rust::{Rust, ident, literal};
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeMap;

/// The `server` module: `router` and one handler per operation.
pub fn server_module(api: &Api) -> TokenStream {
    let mut rust = Rust::new(api);
    // Operations sharing a route are registered together.
    let mut routes: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    let mut order = Vec::new();
    for op in api.operations.iter().filter(|op| !op.uws) {
        if !routes.contains_key(op.route.as_str()) {
            order.push(op.route.as_str());
        }
        routes.entry(op.route.as_str()).or_default().push(op);
    }
    let route_calls = order.iter().map(|route| {
        let ops = &routes[route];
        let mut methods: Vec<(String, TokenStream)> = ops.iter().map(|op| (op.method.clone(), limited(op))).collect();
        // DALI-sync: the GET operation also answers POST with the parameters in a form body.
        for op in ops.iter().filter(|op| op.dali_sync && op.method == "get") {
            if !ops.iter().any(|o| o.method == "post") {
                methods.push(("post".to_owned(), limited(op)));
            }
        }
        // Operations sharing a path share the first one's security: each method's handler goes
        // behind the route's gate (one boxed service per method, where `route_layer` would box
        // the route twice).
        let gate = op_gate(api, ops[0], quote!(policy)).map(|_| ident(&ops[0].gate));
        let methods = methods.iter().enumerate().map(|(i, (method, handler))| {
            let handler = match &gate {
                Some(gate) => quote!(rt::auth::guard(&#gate, #handler)),
                None => handler.clone(),
            };
            let method = format_ident!("{}_service", method);
            if i == 0 { quote!(routing::#method(#handler)) } else { quote!(.#method(#handler)) }
        });
        quote!(.route(&[base_path, #route].concat(), #(#methods)*))
    });
    let gates: Vec<TokenStream> = order
        .iter()
        .filter_map(|route| {
            let op = routes[route][0];
            let gate = op_gate(api, op, quote!(policy))?;
            let name = ident(&op.gate);
            Some(quote!(let #name = #gate;))
        })
        .collect();
    let security_statics = security_statics(api);
    let secured = !api.security_schemes.is_empty();
    let policy_param = if secured { quote!(, policy: &rt::auth::Policy) } else { quote!() };
    // The rate limits count the service's operations, not VOSI's (monitors and registries).
    let uses_quota = api.operations.iter().any(|op| !op.uws && op.vosi.is_none());
    let quota_unused = if uses_quota { quote!() } else { quote!(let _ = quota;) };
    let router_at_body = if secured {
        quote! {
            let config = rt::serve::Config::default();
            // Without a command line the default authenticator cannot fail; one that does
            // authenticates nobody here, and `server` reports its error.
            let authenticator = service.authenticator(&config).unwrap_or_else(|_| Arc::new(rt::auth::Nobody));
            let policy = rt::auth::Policy::new(authenticator, &config);
            shared_router(Arc::new(service), base_path, &policy, &rt::quota::Limiter::off())
        }
    } else {
        quote!(shared_router(Arc::new(service), base_path, &rt::quota::Limiter::off()))
    };
    let handlers: Vec<TokenStream> = api
        .operations
        .iter()
        .filter(|op| !op.uws)
        .map(|op| match op.vosi {
            Some(kind) => vosi_handler(op, kind),
            None => handler(&mut rust, op),
        })
        .collect();
    let mut capabilities = Vec::new();
    for op in &api.operations {
        if let Some(id) = &op.standard_id {
            let path = op.access_path.as_ref().unwrap_or(&op.path);
            let version = match &op.interface_version {
                Some(v) => quote!(Some(#v)),
                None => quote!(None),
            };
            let entry = quote!(rt::vosi::Capability { standard_id: #id, path: #path, version: #version },);
            if !capabilities.iter().any(|c: &TokenStream| c.to_string() == entry.to_string()) {
                capabilities.push(entry);
            }
        }
    }
    if let Some(Uws { jobs, standard_id: Some(id), .. }) = &api.uws {
        capabilities.push(quote!(rt::vosi::Capability { standard_id: #id, path: #jobs, version: None },));
    }
    let capabilities = if api.operations.iter().any(|op| op.vosi == Some(Vosi::Capabilities)) {
        quote! {
            /// The capabilities VOSI lists: every endpoint with an `x-ivoa-standard-id`.
            const CAPABILITIES: &[rt::vosi::Capability] = &[#(#capabilities)*];
        }
    } else {
        quote!()
    };
    let statics = rust.pattern_statics();
    let served: Vec<&Operation> = api.operations.iter().filter(|op| op.served()).collect();
    let uses_raw = served.iter().any(|op| {
        !op.params.is_empty() || op.dali_sync || op.body.is_some()
    });
    let uses_location = served.iter().any(|op| {
        op.params.iter().any(|p| p.ty != Ty::Binary)
            || op.body.as_ref().is_some_and(|b| b.form_fields.iter().any(|f| f.ty != Ty::Binary))
    });
    let raw_import = match (uses_raw, uses_location) {
        (true, true) => quote!(use rt::{Location, RawRequest, RequestError};),
        (true, false) => quote!(use rt::{RawRequest, RequestError};),
        _ => quote!(use rt::RequestError;),
    };
    // Each served operation and each VOSI endpoint is an endpoint calling the service.
    let vosi = api.operations.iter().any(|op| op.vosi.is_some());
    let with_state = if served.is_empty() && !vosi { quote!(let _ = service;) } else { quote!() };
    let server_fn = server_fn(api);
    let imports = if served.is_empty() {
        quote! {
            use rt::axum::response::Response;
            use rt::axum::{Router, routing};
            use std::sync::Arc;
        }
    } else {
        quote! {
            use rt::axum::extract::Request;
            use rt::axum::response::{IntoResponse, Response};
            use rt::axum::{Router, routing};
            #raw_import
            use std::sync::Arc;
        }
    };
    quote! {
        use ivoagen_runtime::codegen as rt;
        #imports

        #statics
        #capabilities
        #security_statics

        /// The router serving every operation of `service`, and the API description at
        /// `/openapi.json`.
        pub fn router<S: crate::api::Api>(service: S) -> Router {
            router_at(service, "")
        }

        /// [`router`], with every route under `base_path` (`/soda`; empty for none). Cheaper
        /// than nesting, which rewrites the URI of every request. No rate limits: those of the
        /// command line come with [`server`].
        pub fn router_at<S: crate::api::Api>(service: S, base_path: &str) -> Router {
            #router_at_body
        }

        fn shared_router<S: crate::api::Api>(service: Arc<S>, base_path: &str #policy_param, quota: &rt::quota::Limiter) -> Router {
            #with_state
            #quota_unused
            #(#gates)*
            Router::new()
                #(#route_calls)*
                .route(&[base_path, "/openapi.json"].concat(), routing::get(openapi_json))
        }

        #server_fn

        async fn openapi_json() -> Response {
            rt::response::bytes_body(
                rt::http::StatusCode::OK,
                "application/json",
                rt::Bytes::from_static(crate::OPENAPI_JSON.as_bytes()),
            )
        }

        #(#handlers)*
    }
}

/// The tower service mounted for `op`: its handler, behind the rate limits unless it is VOSI.
fn limited(op: &Operation) -> TokenStream {
    let handler = ident(&op.name);
    let endpoint = quote!(rt::endpoint(#handler::<S>, &service));
    if op.vosi.is_some() {
        return endpoint;
    }
    let format = error_format(op);
    quote!(rt::quota::guard(quota, #format, #endpoint))
}

/// The `gate(…)` enforcing `op`'s security, when the document has security schemes.
fn op_gate(api: &Api, op: &Operation, policy: TokenStream) -> Option<TokenStream> {
    op_gate_as(api, op, policy, op.dali_sync)
}

/// [`op_gate`], saying whether the routes it guards are DALI-sync ones (which refuse GET under
/// `--refuse-sync-get`).
fn op_gate_as(api: &Api, op: &Operation, policy: TokenStream, sync: bool) -> Option<TokenStream> {
    let security = op.security.as_ref().filter(|_| !api.security_schemes.is_empty())?;
    let schemes = ident(&op.schemes_const);
    let modality = match security.modality {
        Modality::None => quote!(None),
        Modality::Optional => quote!(Optional),
        Modality::Required => quote!(Required),
    };
    let format = error_format(op);
    let groups = &op.groups;
    Some(quote!(gate(#policy, rt::auth::Modality::#modality, #schemes, #format, #sync, &[#(#groups),*])))
}

/// The security schemes as runtime values, each operation's list of them, and `gate`.
fn security_statics(api: &Api) -> TokenStream {
    if api.security_schemes.is_empty() {
        return quote!();
    }
    let n = api.security_schemes.len();
    let schemes = api.security_schemes.iter().map(|s| {
        let kind = match &s.kind {
            SchemeKind::Bearer => quote!(rt::auth::SchemeKind::Bearer),
            SchemeKind::Basic => quote!(rt::auth::SchemeKind::Basic),
            SchemeKind::Cookie(name) => quote!(rt::auth::SchemeKind::Cookie(#name)),
            SchemeKind::ClientCertificate => quote!(rt::auth::SchemeKind::ClientCertificate),
        };
        let challenge = &s.challenge;
        let params = s.parameters.iter().map(|(k, v)| quote!((#k, #v)));
        quote!(rt::auth::Scheme { kind: #kind, challenge: #challenge, parameters: &[#(#params),*] },)
    });
    let mut per_op = Vec::new();
    // The operations whose security a route layer uses: the first of each path, and the one whose
    // parameters UWS jobs take.
    let mut routes = std::collections::BTreeSet::new();
    let mut ops: Vec<&Operation> = api.operations.iter().filter(|op| !op.uws && routes.insert(op.route.as_str())).collect();
    if let Some(uws) = &api.uws {
        ops.push(&api.operations[uws.operation]);
    }
    let mut seen = std::collections::BTreeSet::new();
    for op in ops {
        let Some(security) = &op.security else { continue };
        let name = ident(&op.schemes_const);
        if !seen.insert(name.to_string()) {
            continue;
        }
        let indexes = security.schemes.iter().map(|&i| quote!(SCHEMES[#i]));
        let doc = format!(" The schemes `{}` accepts, in the order of its challenges.", op.api_name);
        per_op.push(quote!(#[doc = #doc] const #name: &[rt::auth::Scheme] = &[#(#indexes),*];));
    }
    let names = api.security_schemes.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", ");
    let schemes_doc = format!(" The security schemes of the API description ({names}), with their AuthVO challenges.");
    quote! {
        #[doc = #schemes_doc]
        const SCHEMES: [rt::auth::Scheme; #n] = [#(#schemes)*];
        #(#per_op)*

        /// The authentication middleware's settings for one route; `groups`: `x-ivoa-groups`.
        fn gate(policy: &rt::auth::Policy, modality: rt::auth::Modality, schemes: &'static [rt::auth::Scheme], format: rt::ErrorFormat, sync: bool, groups: &'static [&'static str]) -> Arc<rt::auth::Gate> {
            Arc::new(rt::auth::Gate::new(policy.clone(), modality, schemes, format, sync).with_groups(groups))
        }
    }
}

/// `server(service, config)`: what `main` serves — the router, for `x-ivoa-uws` the UWS job list
/// answered by the runtime's engine, whose jobs run the service's `…_job` method, and the
/// runtime's landing page and interactive docs (`rt::docs::merge`).
fn server_fn(api: &Api) -> TokenStream {
    let secured = !api.security_schemes.is_empty();
    let make_policy = if secured {
        quote! {
            // A bad token file stops the server rather than silently authenticating nobody.
            let policy = rt::auth::Policy::new(service.authenticator(config)?, config);
            // `--rate-limit`: one budget per caller across every operation.
            let quota = rt::quota::Limiter::new(config);
        }
    } else {
        quote! {
            // `--rate-limit`: one budget per caller across every operation.
            let quota = rt::quota::Limiter::new(config);
        }
    };
    let policy_arg = if secured { quote!(, &policy) } else { quote!() };
    let Some(uws) = &api.uws else {
        let router = if secured {
            quote! {
                #make_policy
                let router = shared_router(Arc::new(service), &config.base_path, &policy, &quota);
            }
        } else {
            quote! {
                #make_policy
                let router = shared_router(Arc::new(service), &config.base_path, &quota);
            }
        };
        return quote! {
            /// The whole server, as `main` runs it: the router, a landing page at `{base}/` and
            /// interactive docs at `{base}/docs` (unless `--no-docs`).
            pub async fn server<S: crate::api::Api>(service: S, config: &rt::serve::Config) -> Result<Router, rt::serve::StartError> {
                #router
                Ok(rt::docs::merge(router, config, crate::OPENAPI_JSON))
            }
        };
    };
    let op = &api.operations[uws.operation];
    // The job routes are UWS, not the DALI-sync operation: `--refuse-sync-get` leaves their GETs
    // (the job list, a job, its phase and results) alone.
    let gate = op_gate_as(api, op, quote!(&policy), false).map(|gate| quote!(.gate(#gate)));
    let identify = secured.then(|| quote!(.identify(Arc::new(rt::auth::owner))));
    // A job list of a VOTable-speaking operation (TAP) answers its errors, and failed jobs'
    // error documents, as VOTables; otherwise as UWS's text.
    let errors = matches!(op.error_format, ErrorFormat::DaliVotable | ErrorFormat::ScsVotable).then(|| {
        let format = error_format(op);
        quote!(.errors(#format))
    });
    // A case-insensitive operation's jobs keep each parameter under its declared name.
    let names = op.case_insensitive.then(|| {
        let names = op.params.iter().filter(|p| matches!(p.location, Location::Query | Location::Form)).map(|p| p.api_name.as_str());
        quote!(.names(&[#(#names),*]))
    });
    let extract = ident(&op.extractor);
    let job_method = ident(&op.job_method);
    let jobs = &uws.jobs;
    let takes_body = op.body.is_some() || op.dali_sync;
    let body_arg = if takes_body { quote!(, rt::axum::body::Body::empty()) } else { quote!() };
    let has_path = op.params.iter().any(|p| p.location == Location::Path);
    let path_arg = if has_path { quote!(, Vec::new()) } else { quote!() };
    quote! {
        /// The whole server, as `main` runs it: [`router_at`], a landing page at `{base}/`,
        /// interactive docs at `{base}/docs` (unless `--no-docs`), and the UWS job list at
        #[doc = concat!(" `", #jobs, "`, answered by the runtime's engine (jobs and results under `config.data_dir`).")]
        pub async fn server<S: crate::api::Api>(service: S, config: &rt::serve::Config) -> Result<Router, rt::serve::StartError> {
            #make_policy
            let service = Arc::new(service);
            // A job's parameters are read and checked as the operation reads them.
            let jobs = rt::uws::JobList::new(
                #jobs,
                service.clone(),
                |parts| async move { #extract(&parts #path_arg #body_arg).await },
                |service: Arc<S>, request, results| async move { service.#job_method(request, results).await },
            )
            #identify
            #errors
            #names
            .limit(&quota)
            #gate;
            let jobs = rt::uws::mount(config, jobs).await?;
            let router = shared_router(service, &config.base_path #policy_arg, &quota).merge(jobs);
            Ok(rt::docs::merge(router, config, crate::OPENAPI_JSON))
        }
    }
}

fn location(l: Location) -> TokenStream {
    match l {
        Location::Path => quote!(Location::Path),
        Location::Query => quote!(Location::Query),
        Location::Header => quote!(Location::Header),
        Location::Cookie => quote!(Location::Cookie),
        Location::Form => quote!(Location::Form),
    }
}

fn style(s: ArrayStyle) -> TokenStream {
    match s {
        ArrayStyle::Exploded => quote!(rt::Style::FormExploded),
        ArrayStyle::Comma => quote!(rt::Style::Comma),
        ArrayStyle::Space => quote!(rt::Style::Space),
        ArrayStyle::Pipe => quote!(rt::Style::Pipe),
    }
}

/// An expression of type `Result<Option<T>, RequestError>`-then-`?`: the value of one parameter
/// (or form field) named `wire`, before `required` is applied.
fn fetch(rust: &Rust, p: &Param, wire: &str) -> TokenStream {
    let loc = location(p.location);
    match &p.shape {
        ParamShape::Scalar if p.ty == Ty::Binary => quote!(rt::params::file(&raw, #wire)?),
        ParamShape::Scalar => {
            let ty = rust.ty(&p.ty);
            quote!(rt::params::single::<#ty>(&raw, #loc, #wire)?)
        }
        ParamShape::Array(s) => {
            let item = match &p.ty {
                Ty::Vec(item) => rust.ty(item),
                other => rust.ty(other),
            };
            let s = style(*s);
            quote!(rt::params::multi::<#item>(&raw, #loc, #wire, #s)?)
        }
        ParamShape::Json => {
            let ty = rust.ty(&p.ty);
            quote!(rt::params::single_json::<#ty>(&raw, #loc, #wire)?)
        }
        ParamShape::Object(object_style) => {
            let Ty::Named(id) = &p.ty else { return quote!(None) };
            let TypeKind::Struct { fields, additional, .. } = &rust.api.types[id.0].kind else { return quote!(None) };
            let key = |f: &Field| match object_style {
                ObjectStyle::Deep => format!("{}[{}]", p.api_name, f.api_name),
                ObjectStyle::Exploded => f.api_name.clone(),
            };
            let keys: Vec<String> = fields.iter().map(key).collect();
            let members = struct_from_fields(rust, fields, p.location, key);
            let ty = rust.ty(&p.ty);
            let extra = if additional.is_some() { quote!(additional_properties: Default::default(),) } else { quote!() };
            quote! {
                if rt::params::any_present(&raw, #loc, &[#(#keys),*]) {
                    Some(#ty { #members #extra })
                } else {
                    None
                }
            }
        }
    }
}

/// Field initialisers building a struct from separately given values.
fn struct_from_fields(rust: &Rust, fields: &[Field], loc: Location, key: impl Fn(&Field) -> String) -> TokenStream {
    let inits = fields.iter().map(|f| {
        let name = ident(&f.name);
        let wire = key(f);
        let ty = f.ty.unwrap_option().clone();
        let shape = match &ty {
            Ty::Binary => ParamShape::Scalar,
            Ty::Vec(_) => ParamShape::Array(ArrayStyle::Exploded),
            _ if matches!(ty, Ty::Named(id) if !matches!(rust.api.types[id.0].kind, TypeKind::StringEnum{..})) => ParamShape::Json,
            Ty::Map(_) | Ty::Json => ParamShape::Json,
            _ => ParamShape::Scalar,
        };
        let shape = match (&shape, &ty) {
            (ParamShape::Array(_), Ty::Vec(item)) if !matches!(**item, Ty::Bool | Ty::I32 | Ty::I64 | Ty::F32 | Ty::F64 | Ty::String | Ty::Date | Ty::DateTime | Ty::Uuid | Ty::Dali(_))
                && !matches!(**item, Ty::Named(id) if matches!(rust.api.types[id.0].kind, TypeKind::StringEnum{..})) => ParamShape::Json,
            _ => shape,
        };
        let p = Param {
            api_name: wire.clone(),
            name: f.name.clone(),
            location: loc,
            required: false,
            shape,
            ty: ty.clone(),
            constraints: Constraints::default(),
            doc: None,
            example: None,
            default: None,
            span: crate::source::Span::start_of(crate::source::FileId::ROOT),
        };
        let value = fetch(rust, &p, &wire);
        let required = f.required && !matches!(f.ty, Ty::Option(_));
        let value = if required { quote!(rt::params::required(#value, #wire)?) } else { value };
        let value = match (f.boxed, required) {
            (true, true) => quote!(Box::new(#value)),
            (true, false) => quote!((#value).map(Box::new)),
            _ => value,
        };
        quote!(#name: #value,)
    });
    quote!(#(#inits)*)
}

fn error_format(op: &Operation) -> TokenStream {
    match op.error_format {
        ErrorFormat::Json => quote!(rt::ErrorFormat::Json),
        ErrorFormat::SodaText => quote!(rt::ErrorFormat::SodaText),
        ErrorFormat::DaliVotable => quote!(rt::ErrorFormat::DaliVotable),
        ErrorFormat::ScsVotable => quote!(rt::ErrorFormat::ScsVotable),
    }
}

/// A VOSI endpoint, answered by the runtime with what the service says of itself.
fn vosi_handler(op: &Operation, kind: Vosi) -> TokenStream {
    let name = ident(&op.name);
    let doc = format!(" `{} {}` (`{}`): VOSI, answered by the runtime.", op.method.to_uppercase(), op.path, op.api_name);
    match kind {
        Vosi::Capabilities => quote! {
            #[doc = #doc]
            async fn #name<S: crate::api::Api>(service: Arc<S>, request: rt::axum::extract::Request) -> Response {
                rt::vosi::capabilities_response(CAPABILITIES, &request, |id| service.vosi_capability(id))
            }
        },
        Vosi::Availability => quote! {
            #[doc = #doc]
            async fn #name<S: crate::api::Api>(service: Arc<S>, request: rt::axum::extract::Request) -> Response {
                let health = rt::vosi::readiness(&request);
                rt::vosi::availability_answer(service.vosi_availability().await, health).await
            }
        },
    }
}

fn handler(rust: &mut Rust, op: &Operation) -> TokenStream {
    let name = ident(&op.name);
    let extract = ident(&op.extractor);
    let req = request_ident(op);
    let path_params: Vec<&Param> = op.params.iter().filter(|p| p.location == Location::Path).collect();
    let mut extract_decls = vec![quote!(parts: &rt::http::request::Parts)];
    let mut extract_args = vec![quote!(&parts)];
    let (path_read, path_value) = if path_params.is_empty() {
        (quote!(), quote!(Vec::new()))
    } else {
        let names = path_params.iter().map(|p| p.api_name.as_str());
        extract_decls.push(quote!(path: Vec<(String, String)>));
        extract_args.push(quote!(path));
        let read = quote! {
            let path = match rt::params::path_pairs(&mut parts, &[#(#names),*]).await {
                Ok(path) => path,
                Err(rejection) => return rejection,
            };
        };
        (read, quote!(path))
    };
    if op.body.is_some() || op.dali_sync {
        extract_decls.push(quote!(body: rt::axum::body::Body));
        extract_args.push(quote!(body));
    }
    let mut statements = Vec::new();
    let mut inits = Vec::new();
    let needs_body = op.body.is_some() || op.dali_sync;
    let raw_binding = if needs_body { quote!(let mut raw) } else { quote!(let raw) };
    let parts = if path_params.is_empty() { quote!(parts) } else { quote!(mut parts) };
    let parts_binding = if needs_body { quote!(let (#parts, body) = request.into_parts();) } else { quote!(let (#parts, _) = request.into_parts();) };
    if op.dali_sync && op.body.is_none() {
        // DALI-sync: a POST carries the same parameters in a form or multipart body.
        statements.push(quote!(rt::body::form_parameters(&mut raw, &parts.headers, body).await?;));
    }
    if let Some(body) = &op.body {
        statements.push(body_statements(rust, body));
        if body.required {
            statements.push(quote!(let body = body.ok_or_else(rt::body::missing)?;));
        }
        statements.push(quote!(rt::Validate::validate(&body, rt::validate::Path::Root("body"))?;));
    }
    for p in &op.params {
        let field = ident(&p.name);
        let wire = p.api_name.as_str();
        let value = fetch(rust, p, wire);
        let default = p.default.as_ref().and_then(|d| literal(&p.ty, d));
        let value = match default {
            _ if p.required => quote!(rt::params::required(#value, #wire)?),
            Some(default) if p.ty == Ty::String => quote!(#value.unwrap_or_else(|| #default.to_owned())),
            Some(default) => quote!(#value.unwrap_or(#default)),
            None => value,
        };
        statements.push(quote!(let #field = #value;));
        let ty = if p.always_present() { p.ty.clone() } else { Ty::Option(Box::new(p.ty.clone())) };
        if rust.has_checks(&ty, &p.constraints) {
            if p.always_present() {
                let checks = rust.checks(quote!(value), &ty, &p.constraints, quote!(#wire));
                statements.push(quote!({
                    let value = &#field;
                    #checks
                }));
            } else {
                let checks = rust.checks(quote!(value), &p.ty, &p.constraints, quote!(#wire));
                statements.push(quote! {
                    if let Some(value) = &#field {
                        #checks
                    }
                });
            }
        }
        inits.push(quote!(#field,));
    }
    if op.body.is_some() {
        inits.push(quote!(body,));
    }
    if op.caller {
        inits.push(quote!(caller: rt::auth::Caller::of(&parts.extensions),));
    }
    if op.base_url {
        inits.push(quote!(base_url: rt::serve::request_base_url(parts),));
    }
    if op.uploads {
        inits.push(quote!(uploads: rt::upload::Uploads::received(&raw, parts),));
    }
    // Statements about the body come first (a form body fills `raw`), parameters after.
    let mut builder = Vec::new();
    if op.case_insensitive {
        builder.push(quote!(.case_insensitive()));
    }
    if op.dali_sync {
        builder.push(quote!(.form_is_query()));
    }
    let raw_new = quote!(#raw_binding = RawRequest::new(parts, #path_value) #(#builder)*;);
    let uses_raw = !op.params.is_empty() || needs_body;
    let raw_new = if uses_raw { raw_new } else { quote!() };
    if !uses_raw && !needs_body && !op.base_url && !op.caller {
        extract_decls[0] = quote!(_parts: &rt::http::request::Parts);
    }
    let format = error_format(op);
    let api_name = &op.api_name;
    let doc = format!(" `{} {}` (`{api_name}`): extracts and checks the request, then calls the service.", op.method.to_uppercase(), op.path);
    quote! {
        #[doc = #doc]
        async fn #name<S: crate::api::Api>(service: Arc<S>, request: Request) -> Response {
            #parts_binding
            #path_read
            let request = match #extract(#(#extract_args),*).await {
                Ok(request) => request,
                Err(error) => return error.respond(#format),
            };
            match service.#name(request).await {
                Ok(response) => response.into_response(),
                Err(error) => error.respond(#format),
            }
        }

        async fn #extract(#(#extract_decls),*) -> Result<crate::api::#req, RequestError> {
            #raw_new
            #(#statements)*
            Ok(crate::api::#req { #(#inits)* })
        }
    }
}

/// The statements reading a declared body: the runtime reads it and dispatches on its content
/// type (`rt::body::receive`); each way the body can be read becomes one expression.
fn body_statements(rust: &Rust, body: &RequestBody) -> TokenStream {
    let ty = rust.ty(&body.ty);
    // A form or multipart body fills the parameters; it reads into a struct of its fields.
    let fields = match &body.ty {
        Ty::Named(id) => match &rust.api.types[id.0].kind {
            TypeKind::Struct { fields, additional, .. } => {
                let members = struct_from_fields(rust, fields, Location::Form, |f| f.api_name.clone());
                let extra = if additional.is_some() { quote!(additional_properties: Default::default(),) } else { quote!() };
                Some(quote!(#ty { #members #extra }))
            }
            _ => None,
        },
        _ => None,
    };
    // The runtime's `Kind` of each encoding; encodings that read alike share an expression.
    let mut encodings = Vec::new();
    let mut ways: Vec<(BodyWay, Vec<syn::Ident>)> = Vec::new();
    for e in &body.encodings {
        let (kind, way) = match e.kind {
            BodyKind::Json => ("Json", BodyWay::Json),
            BodyKind::Text => ("Text", BodyWay::Text),
            BodyKind::Binary => ("Binary", BodyWay::Binary),
            // Without a struct to read into, the media type is not accepted (415).
            BodyKind::Form if fields.is_some() => ("Form", BodyWay::Fields),
            BodyKind::Multipart if fields.is_some() => ("Multipart", BodyWay::Fields),
            BodyKind::Form | BodyKind::Multipart => continue,
        };
        let media = &e.media_type;
        let constructor = ident(&kind.to_lowercase());
        encodings.push(quote!(rt::body::Encoding::#constructor(#media),));
        let kind = ident(kind);
        match ways.iter_mut().find(|(w, _)| *w == way) {
            Some((_, kinds)) if !kinds.contains(&kind) => kinds.push(kind),
            Some(_) => {}
            None => ways.push((way, vec![kind])),
        }
    }
    let read_as = |way: &BodyWay| match way {
        BodyWay::Json => quote!(rt::body::json::<#ty>(&received.bytes)?),
        BodyWay::Text => quote!(rt::body::text(&received.bytes)?),
        BodyWay::Binary => quote!(received.bytes),
        BodyWay::Fields => fields.clone().unwrap_or_default(),
    };
    // A body read from the parameters it filled does not look at what was received.
    let received = match ways.as_slice() {
        [(BodyWay::Fields, _)] => quote!(_),
        _ => quote!(received),
    };
    let read = match ways.as_slice() {
        [(way, _)] => read_as(way),
        _ => {
            let covered: usize = ways.iter().map(|(_, kinds)| kinds.len()).sum();
            let arms = ways.iter().map(|(way, kinds)| {
                let read = read_as(way);
                quote!(#(rt::body::Kind::#kinds)|* => #read,)
            });
            // `receive` returns only the kinds above; any other is refused as it would be.
            let rest = (covered < BODY_KINDS).then(|| {
                let declared: Vec<&str> = body.encodings.iter().map(|e| e.media_type.as_str()).collect();
                quote!(_ => return Err(rt::body::unsupported(Some(received.media_type), &[#(#declared),*])),)
            });
            quote!(match received.kind { #(#arms)* #rest })
        }
    };
    quote! {
        let body: Option<#ty> = match rt::body::receive(&mut raw, &parts.headers, body, &[#(#encodings)*]).await? {
            None => None,
            Some(#received) => Some(#read),
        };
    }
}

/// How a received body becomes the request's value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyWay {
    Json,
    Text,
    Binary,
    /// A form or multipart body: a struct of the fields it added to the parameters.
    Fields,
}

/// How many variants `rt::body::Kind` has.
const BODY_KINDS: usize = 5;
