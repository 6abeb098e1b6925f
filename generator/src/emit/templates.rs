//! Non-Rust files (and the small `main.rs`) rendered from the minijinja templates in
//! `templates/`, embedded at build time; and the service scaffold the user owns.

use super::{File, MARKER, Options, Owner, RuntimeDependency, unparse};
use super::rust::ident;
use crate::ir::Api;
use minijinja::{Environment, UndefinedBehavior, context};
use quote::{format_ident, quote};
use serde::Serialize;

const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml.j2", include_str!("../../templates/Cargo.toml.j2")),
    ("Dockerfile.j2", include_str!("../../templates/Dockerfile.j2")),
    ("README.md.j2", include_str!("../../templates/README.md.j2")),
    ("main.rs.j2", include_str!("../../templates/main.rs.j2")),
];

/// What the templates see of an operation.
#[derive(Serialize)]
struct OperationView<'a> {
    method: String,
    path: &'a str,
    api_name: &'a str,
    name: &'a str,
}

/// The crate name as a Rust identifier.
pub fn crate_ident(crate_name: &str) -> String {
    crate_name.replace('-', "_")
}

pub fn render(api: &Api, options: &Options) -> Result<Vec<(String, File)>, String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    for (name, source) in TEMPLATES {
        env.add_template(name, source).map_err(|e| format!("internal error in template {name}: {e}"))?;
    }
    let runtime = match &options.runtime {
        RuntimeDependency::Version(v) => format!("version = \"{v}\""),
        RuntimeDependency::Path(p) => format!("path = \"{}\"", p.replace('\\', "/")),
    };
    let operations: Vec<OperationView> = api
        .operations
        .iter()
        .map(|op| OperationView { method: op.method.to_uppercase(), path: &op.path, api_name: &op.api_name, name: &op.name })
        .collect();
    let ctx = context! {
        command => options.command,
        marker => MARKER,
        crate_name => options.crate_name,
        crate_ident => crate_ident(&options.crate_name),
        title => api.title.replace('"', "'"),
        description => api.description,
        version => api.version,
        runtime => runtime,
        operations => operations,
        base_path => api.base_path,
        // Rust string literals for main.rs (Debug escapes quotes, backslashes and controls).
        name_literal => format!("{:?}", options.crate_name),
        about_literal => format!("{:?}", api.title.lines().next().unwrap_or_default().trim()),
        base_path_literal => format!("{:?}", api.base_path),
        uws => api.uws.is_some(),
        auth => !api.security_schemes.is_empty(),
        sync => api.operations.iter().any(|op| op.dali_sync),
    };
    let render = |name: &str| -> Result<String, String> {
        env.get_template(name).and_then(|t| t.render(&ctx)).map_err(|e| format!("internal error rendering {name}: {e}"))
    };
    let main = render("main.rs.j2")?;
    // A template that produces Rust is parsed before it is written.
    syn::parse_file(&main).map_err(|e| format!("internal error: main.rs.j2 does not produce Rust: {e}"))?;
    Ok(vec![
        ("Cargo.toml".into(), File { contents: render("Cargo.toml.j2")?, owner: Owner::User }),
        ("Dockerfile".into(), File { contents: render("Dockerfile.j2")?, owner: Owner::User }),
        ("README.md".into(), File { contents: render("README.md.j2")?, owner: Owner::Generator }),
        ("src/main.rs".into(), File { contents: main, owner: Owner::Generator }),
        ("src/service.rs".into(), File { contents: scaffold(api, options)?, owner: Owner::User }),
    ])
}

/// The service, as first written: every operation answers 501 until it is implemented.
fn scaffold(api: &Api, options: &Options) -> Result<String, String> {
    let served: Vec<_> = api.operations.iter().filter(|op| op.served()).collect();
    let methods = served.iter().map(|op| {
        let name = ident(&op.name);
        let req = format_ident!("{}Request", op.type_name);
        let resp = format_ident!("{}Response", op.type_name);
        let api_name = &op.api_name;
        quote! {
            async fn #name(&self, _request: api::#req) -> Result<api::#resp, rt::Error> {
                Err(rt::Error::not_implemented(#api_name))
            }
        }
    });
    let job_method = api.uws.as_ref().map(|uws| {
        let op = &api.operations[uws.operation];
        let name = format_ident!("{}_job", op.name);
        let req = format_ident!("{}Request", op.type_name);
        let message = format!("jobs of `{}` are not implemented", op.api_name);
        quote! {
            async fn #name(&self, _request: api::#req, _results: std::sync::Arc<rt::uws::engine::ResultWriter>) -> Result<(), rt::uws::JobError> {
                Err(rt::uws::JobError { fatal: true, message: #message.to_owned() })
            }
        }
    });
    let imports = if served.is_empty() { quote!(use crate::api::Api; use ivoagen_runtime::codegen as rt;) } else { quote!(use crate::api::{self, Api}; use ivoagen_runtime::codegen as rt;) };
    let tokens = quote! {
        #imports

        /// The service. Keep here what the operations share (configuration, connections).
        #[derive(Debug, Clone)]
        pub struct Service;

        impl Service {
            /// Builds the service when the server starts.
            pub fn new(_config: &rt::serve::Config) -> Self {
                Service
            }
        }

        impl Api for Service {
            #(#methods)*
            #job_method
        }
    };
    Ok(format!(
        "//! The service: ivoagen created this file once and never overwrites it.\n//! (Created by `{}`.)\n\n{}",
        options.command,
        unparse(tokens)?
    ))
}
