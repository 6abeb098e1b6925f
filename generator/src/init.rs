//! `ivoagen init`: a new service from a template — a starting spec of one IVOA standard (from
//! `specs/`, carried inside the binary) and, for the data-access standards, a service stub that
//! answers a small valid result, so that the crate serves as soon as it is built.

use crate::emit::File;
use std::collections::BTreeMap;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/specs.rs"));
}

/// The services `init` can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Simple Cone Search 1.03.
    Scs,
    /// SIA 2.0.
    Sia,
    /// SSA 1.1.
    Ssa,
    /// DataLink 1.1.
    Datalink,
    /// TAP 1.1 (sync, async on UWS, VOSI tables, TAPRegExt capabilities).
    Tap,
    /// SODA 1.0 (sync, async on UWS, DataLink); its stub answers 501 until implemented.
    Soda,
}

impl Service {
    /// Every template with its name.
    pub const ALL: [(&'static str, Service); 6] =
        [("scs", Service::Scs), ("sia", Service::Sia), ("ssa", Service::Ssa), ("datalink", Service::Datalink), ("tap", Service::Tap), ("soda", Service::Soda)];

    /// The template's name, which is also its spec's file name without `.yaml`.
    pub fn name(self) -> &'static str {
        Service::ALL.iter().find(|(_, s)| *s == self).map_or("scs", |(name, _)| name)
    }

    /// The spec files the template needs: its own and those it refers to.
    fn spec_files(self) -> &'static [&'static str] {
        match self {
            Service::Scs => &["scs.yaml", "vosi.yaml"],
            Service::Sia => &["sia.yaml", "dali.yaml", "vosi.yaml"],
            Service::Ssa => &["ssa.yaml", "vosi.yaml"],
            Service::Datalink => &["datalink.yaml", "vosi.yaml"],
            Service::Tap => &["tap.yaml", "dali.yaml", "uws.yaml", "vosi.yaml"],
            Service::Soda => &["soda.yaml", "dali.yaml", "uws.yaml", "vosi.yaml"],
        }
    }

    /// The service stub written as `src/service.rs` (none: the generator's scaffold).
    pub fn stub(self) -> Option<&'static str> {
        match self {
            Service::Scs => Some(include_str!("../templates/init/scs.rs")),
            Service::Sia => Some(include_str!("../templates/init/sia.rs")),
            Service::Ssa => Some(include_str!("../templates/init/ssa.rs")),
            Service::Datalink => Some(include_str!("../templates/init/datalink.rs")),
            Service::Tap => Some(include_str!("../templates/init/tap.rs")),
            Service::Soda => None,
        }
    }
}

impl std::str::FromStr for Service {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let names: Vec<&str> = Service::ALL.iter().map(|(name, _)| *name).collect();
        Service::ALL.iter().find(|(name, _)| *name == s).map(|(_, service)| *service).ok_or_else(|| format!("unknown service `{s}`: use {}", names.join(", ")))
    }
}

/// The folder of the crate that holds the spec files.
pub const SPEC_DIR: &str = "spec";

/// The template's spec files, by path relative to the crate (under [`SPEC_DIR`]); `None` when
/// this build of ivoagen lacks one of them (a package built without `generator/specs/`).
pub fn spec_files(service: Service) -> Option<BTreeMap<String, String>> {
    service
        .spec_files()
        .iter()
        .map(|file| embedded::SPECS.iter().find(|(name, _)| name == file).map(|(name, text)| (format!("{SPEC_DIR}/{name}"), (*text).to_owned())))
        .collect()
}

/// The spec's path relative to the crate.
pub fn spec_path(service: Service) -> String {
    format!("{SPEC_DIR}/{}.yaml", service.name())
}

/// The generated crate's files with the template's own added: the spec files and the stub,
/// both the user's (written once, never overwritten).
pub fn with_template(mut files: BTreeMap<String, File>, service: Service, specs: &BTreeMap<String, String>) -> BTreeMap<String, File> {
    for (path, text) in specs {
        files.insert(path.clone(), File::user(text.clone()));
    }
    if let Some(stub) = service.stub() {
        files.insert("src/service.rs".to_owned(), File::user(stub));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Every template's spec generates without a diagnostic, and its stub is Rust that parses
    /// and implements the methods the generated trait declares (the e2e test builds and serves
    /// them).
    #[test]
    fn every_template_generates_cleanly_and_its_stub_names_the_trait_methods() {
        for (name, service) in Service::ALL {
            let specs = spec_files(service).expect("the package carries the specs");
            let fs: BTreeMap<PathBuf, String> = specs.iter().map(|(path, text)| (PathBuf::from(path), text.clone())).collect();
            let (api, diagnostics, _) = crate::analyse(&fs, std::path::Path::new(&spec_path(service))).unwrap_or_else(|f| panic!("{name}: {:?}", f.diagnostics));
            assert!(diagnostics.is_empty(), "{name}: {diagnostics:?}");
            let Some(stub) = service.stub() else { continue };
            let file = syn::parse_file(stub).unwrap_or_else(|e| panic!("{name}: {e}"));
            let implemented: Vec<String> = file
                .items
                .iter()
                .filter_map(|item| match item {
                    syn::Item::Impl(i) if i.trait_.is_some() => Some(i.items.iter().filter_map(|m| if let syn::ImplItem::Fn(f) = m { Some(f.sig.ident.to_string()) } else { None })),
                    _ => None,
                })
                .flatten()
                // The provided methods a stub may override.
                .filter(|name| !["vosi_capability", "vosi_availability", "authenticator"].contains(&name.as_str()))
                .collect();
            let mut required: Vec<String> = api.operations.iter().filter(|op| op.served()).map(|op| op.name.clone()).collect();
            required.extend(api.uws.as_ref().map(|uws| api.operations[uws.operation].job_method.clone()));
            let mut implemented = implemented;
            implemented.sort();
            required.sort();
            assert_eq!(implemented, required, "{name}");
        }
    }
}
