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
pub mod ir;
pub mod load;
pub mod lower;
pub mod naming;
pub mod write;

use diagnostics::Diagnostic;
use emit::File;
use load::{FileSystem, SourceMap};
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
    let (mut doc, mut diagnostics) = load::load(fs, spec).map_err(|(sources, diagnostics)| Failure { diagnostics, sources })?;
    if let Some(profile) = profile {
        augment::augment(&mut doc, profile);
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
    let (mut doc, _) = load::load(fs, spec).map_err(|(sources, diagnostics)| Failure { diagnostics, sources })?;
    augment::augment(&mut doc, profile);
    Ok(format!("{}\n", serde_json::to_string_pretty(&load::bundle(&doc)).unwrap_or_default()))
}
