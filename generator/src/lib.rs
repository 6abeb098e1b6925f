//! ivoagen: an OpenAPI-first server generator for IVOA services.
//!
//! The pipeline has one module per phase: [`load`] (YAML/JSON with spans, `$ref`s across files) →
//! [`lower`] (the [`ir`]) → [`emit`] (Rust and templates) → [`write`] (disk, or a diff in check
//! mode). [`generate`] runs the pure part: a spec in, a map of files out.
#![deny(missing_docs)]

pub mod augment;
pub mod diagnostics;
pub mod emit;
pub mod examples;
pub mod init;
pub mod ir;
pub mod load;
pub mod lower;
pub mod naming;
pub mod publish;
pub mod source;
pub mod write;

use diagnostics::Diagnostic;
use emit::File;
use load::{FileSystem, LoadOptions};
use source::SourceMap;
use std::collections::BTreeMap;
use std::path::Path;

pub use emit::{Options, Owner, RuntimeDependency};

/// A successful generation.
#[derive(Debug)]
pub struct Generated {
    /// The files of the crate, by path relative to the output directory.
    pub files: BTreeMap<String, File>,
    /// Warnings found on the way.
    pub diagnostics: Vec<Diagnostic>,
    /// The files that were read, for rendering diagnostics.
    pub sources: SourceMap,
}

/// A spec that cannot be generated from.
#[derive(Debug)]
pub struct Failure {
    /// Every diagnostic (at least one error).
    pub diagnostics: Vec<Diagnostic>,
    /// The files that were read, for rendering diagnostics.
    pub sources: SourceMap,
}

/// Loads and lowers the spec at `spec`: the IR and its warnings, or the diagnostics.
pub fn analyse(fs: &dyn FileSystem, spec: &Path) -> Result<(ir::Api, Vec<Diagnostic>, SourceMap), Failure> {
    analyse_with(fs, spec, None)
}

/// [`analyse`], after applying an IVOA profile to the spec.
pub fn analyse_with(fs: &dyn FileSystem, spec: &Path, profile: Option<augment::Profile>) -> Result<(ir::Api, Vec<Diagnostic>, SourceMap), Failure> {
    analyse_with_options(fs, spec, profile, &LoadOptions::default())
}

/// [`analyse_with`], loading with `load` (the folders `$ref`s may lead to, the limits).
pub fn analyse_with_options(
    fs: &dyn FileSystem,
    spec: &Path,
    profile: Option<augment::Profile>,
    load: &LoadOptions,
) -> Result<(ir::Api, Vec<Diagnostic>, SourceMap), Failure> {
    let (mut doc, mut diagnostics) = load::load_with(fs, spec, load).map_err(|(sources, diagnostics)| Failure { diagnostics, sources })?;
    let declared = match augment::declared(&doc) {
        Ok(declared) => declared,
        Err(error) => {
            diagnostics.push(*error);
            return Err(Failure { diagnostics, sources: doc.sources });
        }
    };
    if let Some(profile) = profile.or(declared) {
        diagnostics.extend(augment::augment(&mut doc, profile));
    }
    let (api, lowered) = lower::lower(&doc);
    diagnostics.extend(lowered);
    match api {
        Some(mut api) => {
            examples::choose(&mut api);
            Ok((api, diagnostics, doc.sources))
        }
        None => Err(Failure { diagnostics, sources: doc.sources }),
    }
}

/// Generates the crate for the spec at `spec`. Reads through `fs` only; writes nothing.
pub fn generate(fs: &dyn FileSystem, spec: &Path, options: &Options) -> Result<Generated, Failure> {
    let (api, diagnostics, sources) = analyse(fs, spec)?;
    render(&api, diagnostics, sources, options)
}

/// Emits the crate for an analysed API (see [`analyse`]).
pub fn render(api: &ir::Api, diagnostics: Vec<Diagnostic>, sources: SourceMap, options: &Options) -> Result<Generated, Failure> {
    match emit::emit(api, options) {
        Ok(files) => Ok(Generated { files: write::with_manifest(files, &options.command), diagnostics, sources }),
        Err(message) => {
            let mut diagnostics = diagnostics;
            diagnostics.push(Diagnostic::error("ivoagen::emit::internal", None, message).help("this is a bug in ivoagen; please report it with the spec"));
            Err(Failure { diagnostics, sources })
        }
    }
}

/// The default crate name for an API title: lower-case words joined by `-`.
pub fn crate_name(title: &str) -> String {
    let name = naming::field_name(title).replace('_', "-");
    let name = name.trim_matches('-').to_owned();
    if name.is_empty() { "api-server".to_owned() } else { name }
}

/// Whether `name` can be a package name whose library is a Rust identifier.
pub fn is_crate_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !naming::field_name(name).ends_with('_')
}

/// The spec at `spec` with `profile` applied, bundled into one JSON document (what `ivoagen
/// augment` prints).
pub fn augmented(fs: &dyn FileSystem, spec: &Path, profile: augment::Profile) -> Result<String, Failure> {
    augmented_with_options(fs, spec, profile, &LoadOptions::default())
}

/// [`augmented`], loading with `load`.
pub fn augmented_with_options(fs: &dyn FileSystem, spec: &Path, profile: augment::Profile, load: &LoadOptions) -> Result<String, Failure> {
    let (mut doc, _) = load::load_with(fs, spec, load).map_err(|(sources, diagnostics)| Failure { diagnostics, sources })?;
    augment::augment(&mut doc, profile);
    let bundled = load::try_bundle(&doc).map_err(|error| Failure { diagnostics: vec![*error], sources: std::mem::take(&mut doc.sources) })?;
    Ok(format!("{}\n", serde_json::to_string_pretty(&bundled).unwrap_or_default()))
}

/// `path` made absolute (against `cwd`) and normalised without touching the disk: `.` dropped,
/// `..` applied.
pub fn absolute(cwd: &Path, path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for component in cwd.join(path).components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The relative path from directory `from` to `to`, both absolute and normalised, written with
/// `/` (`to` itself when they share no root).
pub fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to_parts).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return to.to_string_lossy().replace('\\', "/");
    }
    let mut parts: Vec<String> = vec!["..".to_owned(); from.len() - common];
    parts.extend(to_parts[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() { ".".to_owned() } else { parts.join("/") }
}

/// The command that regenerates a crate, in one canonical form whatever the working directory
/// and spelling it was first run with: run in the crate's directory, the spec relative to it,
/// flags in a fixed order, defaults left out.
pub fn regenerate_command(spec_from_crate: &str, profile: Option<augment::Profile>, crate_name: Option<&str>, runtime: &RuntimeDependency) -> String {
    let mut command = format!("ivoagen generate {} -o .", quote(spec_from_crate));
    if let Some(profile) = profile {
        command.push_str(&format!(" --profile {profile}"));
    }
    if let Some(name) = crate_name {
        command.push_str(&format!(" --crate-name {}", quote(name)));
    }
    match runtime {
        RuntimeDependency::Vendored => {}
        RuntimeDependency::Path(path) => command.push_str(&format!(" --runtime-path {}", quote(path))),
        RuntimeDependency::Version(version) => command.push_str(&format!(" --runtime-version {}", quote(version))),
    }
    command
}

/// [`regenerate_command`] followed by `--allow-ref-dir DIR` for each folder (relative to the
/// crate, in the order given); the same command when there are none.
pub fn regenerate_command_allowing(command: String, allowed_ref_dirs_from_crate: &[String]) -> String {
    allowed_ref_dirs_from_crate.iter().fold(command, |command, dir| format!("{command} --allow-ref-dir {}", quote(dir)))
}

/// A word for a POSIX shell: as it is when that is safe, else single-quoted.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:@+=,".contains(c)) { s.to_owned() } else { format!("'{}'", s.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_made_relative() {
        let cwd = Path::new("/home/me/work");
        assert_eq!(absolute(cwd, Path::new("./specs/../spec.yaml")), Path::new("/home/me/work/spec.yaml"));
        assert_eq!(absolute(cwd, Path::new("/srv/x/./out/")), Path::new("/srv/x/out"));
        let crate_dir = absolute(cwd, Path::new("out/svc"));
        assert_eq!(relative_path(&crate_dir, &absolute(cwd, Path::new("spec.yaml"))), "../../spec.yaml");
        assert_eq!(relative_path(&crate_dir, &absolute(cwd, Path::new("out/svc/api.yaml"))), "api.yaml");
        assert_eq!(relative_path(&crate_dir, &crate_dir), ".");
    }

    #[test]
    fn the_command_is_canonical() {
        let version = RuntimeDependency::Version("0.1".into());
        assert_eq!(regenerate_command("../spec.yaml", None, None, &RuntimeDependency::Vendored), "ivoagen generate ../spec.yaml -o .");
        assert_eq!(
            regenerate_command("../my spec.yaml", Some(augment::Profile::Soda), Some("x"), &version),
            "ivoagen generate '../my spec.yaml' -o . --profile soda --crate-name x --runtime-version 0.1"
        );
        assert_eq!(
            regenerate_command_allowing("ivoagen generate ../spec.yaml -o .".into(), &["../../shared".into(), "../my dir".into()]),
            "ivoagen generate ../spec.yaml -o . --allow-ref-dir ../../shared --allow-ref-dir '../my dir'"
        );
    }
}
