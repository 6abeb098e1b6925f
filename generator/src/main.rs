//! The `ivoagen` command line.

use clap::{Parser, Subcommand};
use ivoagen::diagnostics::{Diagnostic, Severity};
use ivoagen::load::{LoadOptions, RealFs};
use ivoagen::source::SourceMap;
use ivoagen::augment::Profile;
use ivoagen::init::Service;
use ivoagen::{Options, RuntimeDependency};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// OpenAPI-first server generator for IVOA services.
///
/// Exit codes: 0 success; 1 `--check` found the output stale; 2 the spec has errors (or the
/// command line is wrong); 3 the output could not be written.
#[derive(Parser)]
#[command(name = "ivoagen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate (or, with --check, verify) a server crate from an OpenAPI 3.0/3.1 description.
    Generate {
        /// The OpenAPI document (YAML or JSON).
        spec: PathBuf,
        /// The directory of the generated crate.
        #[arg(short, long)]
        output: PathBuf,
        /// Write nothing; exit 1 if the directory is not what generation would produce.
        #[arg(long)]
        check: bool,
        /// The package name of the generated crate (default: from `info.title`).
        #[arg(long)]
        crate_name: Option<String>,
        /// Depend on ivoagen-runtime at this path (relative to the output directory) instead of
        /// the copy of the runtime written beside the crate.
        #[arg(long, conflicts_with = "runtime_version")]
        runtime_path: Option<String>,
        /// Depend on this version of the published ivoagen-runtime (crates.io) instead of the copy
        /// of the runtime written beside the crate.
        #[arg(long)]
        runtime_version: Option<String>,
        /// Apply an IVOA profile (dali, uws, soda, scs, sia, ssa, datalink) first (default: the spec's `x-ivoa-standard`).
        #[arg(long)]
        profile: Option<Profile>,
        /// Let `$ref`s lead into this folder too (besides the spec's own folder); repeatable.
        #[arg(long = "allow-ref-dir", value_name = "DIR")]
        allow_ref_dir: Vec<PathBuf>,
    },
    /// Write the spec with an IVOA profile's `x-ivoa-*` keys added, bundled into one JSON document.
    Augment {
        /// The OpenAPI document (YAML or JSON).
        spec: PathBuf,
        /// The profile: dali, uws, soda, scs, sia, ssa or datalink.
        #[arg(long)]
        profile: Profile,
        /// Where to write the augmented document (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Let `$ref`s lead into this folder too (besides the spec's own folder); repeatable.
        #[arg(long = "allow-ref-dir", value_name = "DIR")]
        allow_ref_dir: Vec<PathBuf>,
    },
    /// Start a new service from a template: a starting spec (in `NAME/spec/`) and the crate
    /// generated from it, with a service stub that answers a small valid result.
    Init {
        /// The standard: scs, sia, ssa, datalink or soda.
        #[arg(long)]
        service: Service,
        /// The folder to create; its name is the package name.
        name: PathBuf,
    },
    /// Print the diagnostics of a spec without generating anything.
    Validate {
        /// The OpenAPI document (YAML or JSON).
        spec: PathBuf,
        /// Let `$ref`s lead into this folder too (besides the spec's own folder); repeatable.
        #[arg(long = "allow-ref-dir", value_name = "DIR")]
        allow_ref_dir: Vec<PathBuf>,
    },
}

fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Prints the diagnostics of a generation; gives its files and regenerate command, or the exit
/// code of a generation that failed.
fn reported(generated: Result<(ivoagen::Generated, String), ivoagen::Failure>) -> Result<(ivoagen::Generated, String), ExitCode> {
    match generated {
        Ok((generated, command)) => {
            print(&generated.diagnostics, &generated.sources);
            Ok((generated, command))
        }
        Err(failure) => {
            print(&failure.diagnostics, &failure.sources);
            Err(ExitCode::from(2))
        }
    }
}

fn print(diagnostics: &[Diagnostic], sources: &SourceMap) {
    for d in diagnostics {
        eprint!("{}", d.render(sources, color()));
    }
    let errors = diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diagnostics.len() - errors;
    if errors + warnings > 0 {
        eprintln!("{errors} error(s), {warnings} warning(s)");
    }
}

/// `path` made absolute and canonical, through its longest existing ancestor (the output
/// directory may not exist yet).
fn resolve(path: &std::path::Path) -> std::io::Result<PathBuf> {
    let absolute = ivoagen::absolute(&std::env::current_dir()?, path);
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        match existing.canonicalize() {
            Ok(canonical) => return Ok(rest.iter().rev().fold(canonical, |p, c| p.join(c))),
            Err(_) => match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return Ok(absolute),
            },
        }
    }
}

/// A relative path as written, without `.` components and with `a/..` pairs removed.
fn normalise_relative(path: &str) -> String {
    let path = std::path::Path::new(path);
    if path.is_absolute() {
        return ivoagen::absolute(std::path::Path::new("/"), path).to_string_lossy().into_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if parts.last().is_some_and(|p| p != "..") => {
                parts.pop();
            }
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    if parts.is_empty() { ".".to_owned() } else { parts.join("/") }
}

/// The loader's options from the command line: the folders `$ref`s may also lead to.
fn load_options(allow_ref_dir: Vec<PathBuf>) -> LoadOptions {
    LoadOptions { allowed_ref_dirs: allow_ref_dir, ..LoadOptions::default() }
}

/// The stack of the thread that does the work. Every recursion over a spec is bounded (see the
/// README's "Limits"); the bounds fit in 2 MiB, and this is the margin.
const STACK_BYTES: usize = 64 << 20;

fn main() -> ExitCode {
    let worker = std::thread::Builder::new().name("ivoagen".into()).stack_size(STACK_BYTES).spawn(run);
    match worker.map(std::thread::JoinHandle::join) {
        Ok(Ok(code)) => code,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // No thread (a system out of resources): do the work on this one.
        Err(_) => run(),
    }
}

/// `ivoagen init --service SERVICE NAME`: the template's spec and stub, and the crate generated
/// from them, written to the new folder `NAME`.
fn init(service: Service, dir: &std::path::Path) -> ExitCode {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !ivoagen::is_crate_name(&name) {
        eprintln!("ivoagen: `{name}` is not a valid crate name: use letters, digits, `-` and `_`, starting with a letter");
        return ExitCode::from(2);
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        eprintln!("ivoagen: {} exists and is not empty; init writes only into a new or empty folder", dir.display());
        return ExitCode::from(3);
    }
    let Some(specs) = ivoagen::init::spec_files(service) else {
        eprintln!("ivoagen: this build carries no templates (it was built without generator/specs/); install ivoagen with `cargo install --locked ivoagen` or from a checkout");
        return ExitCode::from(2);
    };
    let spec = ivoagen::init::spec_path(service);
    let fs: std::collections::BTreeMap<PathBuf, String> = specs.iter().map(|(path, text)| (PathBuf::from(path), text.clone())).collect();
    let runtime = RuntimeDependency::default_for_this_build();
    let generated = ivoagen::analyse(&fs, std::path::Path::new(&spec)).and_then(|(api, diagnostics, sources)| {
        let given = Some(name.clone()).filter(|n| *n != ivoagen::crate_name(&api.title));
        let command = ivoagen::regenerate_command(&spec, None, given.as_deref(), &runtime);
        let options = Options { crate_name: name.clone(), runtime, command, ci: true };
        ivoagen::render(&api, diagnostics, sources, &options).map(|generated| (generated, options.command))
    });
    let (generated, command) = match reported(generated) {
        Ok(generated) => generated,
        Err(code) => return code,
    };
    let files = ivoagen::init::with_template(generated.files, service, &specs);
    match ivoagen::write::write(dir, &files) {
        Ok(report) => {
            eprintln!("{}: a {} service, {} files created from {spec}", dir.display(), service.name(), report.created.len() + report.written.len());
            eprintln!("next: cd {} && cargo run   (the service is src/service.rs; after editing {spec}, run `{command}` there)", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ivoagen: cannot write {}: {e}", dir.display());
            ExitCode::from(3)
        }
    }
}

fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Init { service, name } => init(service, &name),
        Command::Validate { spec, allow_ref_dir } => match ivoagen::analyse_with_options(&RealFs, &spec, None, &load_options(allow_ref_dir)) {
            Ok((api, diagnostics, sources)) => {
                print(&diagnostics, &sources);
                eprintln!("{}: {} operation(s), {} type(s)", spec.display(), api.operations.len(), api.types.len());
                ExitCode::SUCCESS
            }
            Err(failure) => {
                print(&failure.diagnostics, &failure.sources);
                ExitCode::from(2)
            }
        },
        Command::Augment { spec, profile, output, allow_ref_dir } => match ivoagen::augmented_with_options(&RealFs, &spec, profile, &load_options(allow_ref_dir)) {
            Ok(text) => match output {
                None => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Some(path) => match std::fs::write(&path, text) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("ivoagen: cannot write {}: {e}", path.display());
                        ExitCode::from(3)
                    }
                },
            },
            Err(failure) => {
                print(&failure.diagnostics, &failure.sources);
                ExitCode::from(2)
            }
        },
        Command::Generate { spec, output, check, crate_name, runtime_path, runtime_version, profile, allow_ref_dir } => {
            if let Some(name) = crate_name.as_deref().filter(|n| !ivoagen::is_crate_name(n)) {
                eprintln!("ivoagen: `{name}` is not a valid crate name: use letters, digits, `-` and `_`, starting with a letter");
                return ExitCode::from(2);
            }
            let runtime = match (runtime_path, runtime_version) {
                (Some(path), _) => RuntimeDependency::Path(normalise_relative(&path)),
                (None, Some(version)) => RuntimeDependency::Version(version),
                (None, None) => RuntimeDependency::default_for_this_build(),
            };
            let (spec_from_crate, allowed_from_crate) = match (resolve(&spec), resolve(&output)) {
                (Ok(spec), Ok(crate_dir)) => {
                    let allowed: std::io::Result<Vec<String>> = allow_ref_dir.iter().map(|dir| Ok(ivoagen::relative_path(&crate_dir, &resolve(dir)?))).collect();
                    match allowed {
                        Ok(allowed) => (ivoagen::relative_path(&crate_dir, &spec), allowed),
                        Err(e) => {
                            eprintln!("ivoagen: cannot resolve the paths given to --allow-ref-dir: {e}");
                            return ExitCode::from(3);
                        }
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("ivoagen: cannot resolve the paths of {} and {}: {e}", spec.display(), output.display());
                    return ExitCode::from(3);
                }
            };
            let generated = ivoagen::analyse_with_options(&RealFs, &spec, profile, &load_options(allow_ref_dir)).and_then(|(api, diagnostics, sources)| {
                // The crate name defaults to the title, known only once the spec is read; the
                // command names it only when it is not that default.
                let default_name = ivoagen::crate_name(&api.title);
                let given = crate_name.filter(|name| *name != default_name);
                let command = ivoagen::regenerate_command(&spec_from_crate, profile, given.as_deref(), &runtime);
                // The folders `$ref`s may lead to, relative to the crate, so `--check` reads the same files.
                let command = ivoagen::regenerate_command_allowing(command, &allowed_from_crate);
                let options = Options { crate_name: given.unwrap_or(default_name), runtime, command, ci: true };
                ivoagen::render(&api, diagnostics, sources, &options).map(|generated| (generated, options.command))
            });
            let (generated, command) = match reported(generated) {
                Ok(generated) => generated,
                Err(code) => return code,
            };
            if check {
                match ivoagen::write::check(&output, &generated.files) {
                    Ok(report) if report.is_fresh() => {
                        eprintln!("{}: up to date", output.display());
                        ExitCode::SUCCESS
                    }
                    Ok(report) => {
                        for (_, diff) in &report.stale {
                            print!("{diff}");
                        }
                        for path in &report.stale {
                            eprintln!("stale: {}", path.0);
                        }
                        for path in &report.missing {
                            eprintln!("missing: {path}");
                        }
                        for path in &report.orphaned {
                            eprintln!("orphaned: {path} (generated earlier, no longer produced by the spec)");
                        }
                        eprintln!("{} is out of date; run `{command}` in it", output.display());
                        ExitCode::from(1)
                    }
                    Err(e) => {
                        eprintln!("ivoagen: cannot read {}: {e}", output.display());
                        ExitCode::from(3)
                    }
                }
            } else {
                match ivoagen::write::write(&output, &generated.files) {
                    Ok(report) => {
                        eprintln!(
                            "{}: {} written, {} unchanged, {} created, {} removed",
                            output.display(),
                            report.written.len(),
                            report.unchanged.len(),
                            report.created.len(),
                            report.removed.len()
                        );
                        for path in &report.updated {
                            eprintln!("{}: updated the ivoagen-runtime dependency", output.join(path).display());
                        }
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("ivoagen: cannot write {}: {e}", output.display());
                        ExitCode::from(3)
                    }
                }
            }
        }
    }
}
