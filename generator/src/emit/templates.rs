//! Non-Rust files (and the small `main.rs`) rendered from the minijinja templates in
//! `templates/`, embedded at build time; and the service scaffold the user owns.

use super::{File, MARKER, Options, RuntimeDependency, unparse, vendor};
use super::rust::ident;
use crate::ir::Api;
use minijinja::{Environment, UndefinedBehavior, context};
use quote::quote;
use serde::Serialize;

const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml.j2", include_str!("../../templates/Cargo.toml.j2")),
    ("Dockerfile.j2", include_str!("../../templates/Dockerfile.j2")),
    ("dockerignore.j2", include_str!("../../templates/dockerignore.j2")),
    ("check.sh.j2", include_str!("../../templates/check.sh.j2")),
    ("workflow.yml.j2", include_str!("../../templates/workflow.yml.j2")),
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

/// How to install this ivoagen: a build that carries the runtime comes from the repository (and
/// generates the same files only when installed the same way); the published package from the
/// registry.
fn install_command() -> String {
    let version = env!("CARGO_PKG_VERSION");
    if vendor::available() {
        format!("cargo install --locked --git {} --tag v{version} ivoagen", env!("CARGO_PKG_REPOSITORY"))
    } else {
        format!("cargo install --locked ivoagen@{version}")
    }
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
    let runtime_line = options.runtime.cargo_line();
    let (runtime_kind, runtime_path) = match &options.runtime {
        RuntimeDependency::Vendored => ("vendored", vendor::DIR.to_owned()),
        RuntimeDependency::Version(_) => ("registry", String::new()),
        RuntimeDependency::Path(p) => ("path", p.replace('\\', "/")),
    };
    // The directory holding both the crate and a runtime at a relative path: as many levels up
    // as the path climbs.
    let context_up = runtime_path.split('/').take_while(|c| *c == ".." || *c == ".").filter(|c| *c == "..").count();
    let context = if context_up == 0 { ".".to_owned() } else { vec![".."; context_up].join("/") };
    let operations: Vec<OperationView> = api
        .operations
        .iter()
        .map(|op| OperationView { method: op.method.to_uppercase(), path: &op.path, api_name: &op.api_name, name: &op.name })
        .collect();
    let ctx = context! {
        command => options.command,
        ci => options.ci,
        command_args => options.command.strip_prefix("ivoagen ").unwrap_or(&options.command),
        marker => MARKER,
        crate_name => options.crate_name,
        crate_ident => crate_ident(&options.crate_name),
        title => api.title.replace('"', "'"),
        description => api.description,
        version => api.version,
        runtime_line => runtime_line,
        runtime_kind => runtime_kind,
        runtime_path => runtime_path,
        runtime_absolute => runtime_path.starts_with('/'),
        context => context,
        context_up => context_up,
        ivoagen_version => env!("CARGO_PKG_VERSION"),
        install => install_command(),
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
    let manifest = File { managed_line: Some(options.runtime.cargo_line()), ..File::user(render("Cargo.toml.j2")?) };
    let mut files = vec![
        ("Cargo.toml".into(), manifest),
        ("Dockerfile".into(), File::user(render("Dockerfile.j2")?)),
        (".dockerignore".into(), File::user(render("dockerignore.j2")?)),
        ("README.md".into(), File::generated(render("README.md.j2")?)),
        ("src/main.rs".into(), File::generated(main)),
        ("src/service.rs".into(), File::user(scaffold(api, options)?)),
    ];
    if options.ci {
        files.push(("ci/ivoagen-check.sh".into(), File { executable: true, ..File::generated(render("check.sh.j2")?) }));
        files.push((".github/workflows/ivoagen.yml".into(), File::generated(render("workflow.yml.j2")?)));
    }
    if options.runtime == RuntimeDependency::Vendored {
        files.extend(vendor::lock(&options.crate_name, &options.runtime).map(|lock| ("Cargo.lock".to_owned(), File::user(lock))));
    }
    Ok(files)
}

/// The service, as first written: every operation answers 501 until it is implemented.
fn scaffold(api: &Api, options: &Options) -> Result<String, String> {
    let served: Vec<_> = api.operations.iter().filter(|op| op.served()).collect();
    let methods = served.iter().map(|op| {
        let name = ident(&op.name);
        let req = ident(&op.request_type);
        let resp = ident(&op.response_type);
        let api_name = &op.api_name;
        quote! {
            async fn #name(&self, _request: api::#req) -> Result<api::#resp, rt::Error> {
                Err(rt::Error::not_implemented(#api_name))
            }
        }
    });
    let job_method = api.uws.as_ref().map(|uws| {
        let op = &api.operations[uws.operation];
        let name = ident(&op.job_method);
        let req = ident(&op.request_type);
        let message = format!("jobs of `{}` are not implemented", op.api_name);
        quote! {
            async fn #name(&self, _request: api::#req, _results: std::sync::Arc<rt::uws::engine::ResultWriter>) -> Result<(), rt::uws::JobError> {
                Err(rt::uws::JobError { fatal: true, message: #message.to_owned() })
            }
        }
    });
    let imports = if served.is_empty() { quote!(use crate::api::Api; use ivoagen_runtime as rt;) } else { quote!(use crate::api::{self, Api}; use ivoagen_runtime as rt;) };
    let tokens = quote! {
        #imports

        /// The service. Keep here what the operations share (configuration, connections).
        #[derive(Debug, Clone)]
        pub struct Service;

        impl Service {
            /// Builds the service when the server starts; an error stops the server, its
            /// message on one line.
            pub fn new(_config: &rt::serve::Config) -> Result<Self, String> {
                Ok(Service)
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
