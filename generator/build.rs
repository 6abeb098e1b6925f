//! Carries `ivoagen-runtime` inside the `ivoagen` binary, so that a crate generated anywhere can
//! build with no other source of the runtime: its sources (and assets), its manifest with the
//! workspace's settings written out, and the `Cargo.lock` entries of its dependencies.
//!
//! The runtime is found beside the generator (`../runtime`), as in a checkout of the repository
//! (`cargo install --path generator`, `cargo install --git …`). A build of the published `ivoagen`
//! package has no runtime beside it; it then carries nothing and generated crates depend on the
//! published `ivoagen-runtime` of the same version.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("runtime.rs");
    let workspace = manifest_dir.parent().map(Path::to_path_buf).unwrap_or_default();
    let runtime = workspace.join("runtime");
    println!("cargo::rerun-if-changed={}", runtime.display());
    println!("cargo::rerun-if-changed={}", workspace.join("Cargo.toml").display());
    println!("cargo::rerun-if-changed={}", workspace.join("Cargo.lock").display());
    let code = if runtime.join("Cargo.toml").is_file() {
        match bundle(&workspace, &runtime) {
            Ok(code) => code,
            Err(e) => panic!("cannot bundle the runtime from {}: {e}", runtime.display()),
        }
    } else {
        "/// Whether this build carries the runtime's sources.\npub const VENDORED: bool = false;\n\
         /// The runtime's files.\npub const FILES: &[(&str, &[u8])] = &[];\n\
         /// The runtime's manifest.\npub const MANIFEST: &str = \"\";\n\
         /// The runtime's `Cargo.lock` entries.\npub const LOCK: &[(&str, &str, &str)] = &[];\n"
            .to_owned()
    };
    std::fs::write(&out, code).expect("OUT_DIR is writable");
    embed_specs(&manifest_dir.join("specs"));
}

/// The starting specs of `ivoagen init`: `generator/specs/`, the copy of the repository's
/// `specs/*.yaml` that `cargo xtask codegen` keeps (and `--check` checks), inside this package so
/// that an install from the published package carries them too.
fn embed_specs(specs: &Path) {
    println!("cargo::rerun-if-changed={}", specs.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("specs.rs");
    let mut names: Vec<PathBuf> = std::fs::read_dir(specs)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect())
        .unwrap_or_default();
    names.sort();
    let mut code = String::from("/// The specs of `specs/`, by file name.\npub const SPECS: &[(&str, &str)] = &[\n");
    for path in &names {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let _ = writeln!(code, "    ({name:?}, include_str!({:?})),", path.display().to_string());
    }
    code.push_str("];\n");
    std::fs::write(&out, code).expect("OUT_DIR is writable");
}

fn bundle(workspace: &Path, runtime: &Path) -> Result<String, String> {
    let mut files = Vec::new();
    for dir in ["src", "assets"] {
        collect(runtime, &runtime.join(dir), &mut files)?;
    }
    files.sort();
    let root: toml::Table = read_toml(&workspace.join("Cargo.toml"))?;
    let manifest: toml::Table = read_toml(&runtime.join("Cargo.toml"))?;
    let manifest = resolve(manifest, &root)?;
    let lock = lock_entries(&workspace.join("Cargo.lock"), "ivoagen-runtime")?;

    let mut code = String::from("/// Whether this build carries the runtime's sources.\npub const VENDORED: bool = true;\n");
    code.push_str("/// The runtime's files, by path relative to its directory.\npub const FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        let _ = writeln!(code, "    ({relative:?}, include_bytes!({absolute:?})),");
    }
    code.push_str("];\n");
    let _ = writeln!(code, "/// The runtime's manifest, the workspace's settings written out.\npub const MANIFEST: &str = {manifest:?};");
    code.push_str("/// The `Cargo.lock` entries of the runtime and its dependencies: name, version, entry.\npub const LOCK: &[(&str, &str, &str)] = &[\n");
    for (name, version, entry) in &lock {
        let _ = writeln!(code, "    ({name:?}, {version:?}, {entry:?}),");
    }
    code.push_str("];\n");
    Ok(code)
}

/// Every file under `dir`, as (path relative to `base` with `/`, absolute path).
fn collect(base: &Path, dir: &Path, files: &mut Vec<(String, String)>) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.is_dir() {
            collect(base, &path, files)?;
        } else {
            let relative = path.strip_prefix(base).map_err(|e| e.to_string())?;
            let relative = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let absolute = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
            files.push((relative, absolute.to_string_lossy().into_owned()));
        }
    }
    Ok(())
}

fn read_toml(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.parse().map_err(|e| format!("{}: {e}", path.display()))
}

/// The runtime's manifest with every `workspace = true` replaced by the workspace's value, its
/// dev-dependencies dropped (the copy carries no tests) and publishing switched off (it is a copy).
fn resolve(mut manifest: toml::Table, root: &toml::Table) -> Result<String, String> {
    let workspace = root.get("workspace").and_then(|w| w.as_table()).ok_or("the workspace manifest has no [workspace]")?;
    let inherited = |table: &str, key: &str| -> Result<toml::Value, String> {
        workspace.get(table).and_then(|t| t.get(key)).cloned().ok_or(format!("[workspace.{table}] has no `{key}`"))
    };
    let is_inherited = |value: &toml::Value| value.get("workspace").and_then(toml::Value::as_bool) == Some(true);
    if let Some(package) = manifest.get_mut("package").and_then(|p| p.as_table_mut()) {
        for (key, value) in package.iter_mut() {
            if is_inherited(value) {
                *value = inherited("package", key)?;
            }
        }
        package.remove("readme");
        package.insert("publish".into(), toml::Value::Boolean(false));
    }
    if let Some(dependencies) = manifest.get_mut("dependencies").and_then(|d| d.as_table_mut()) {
        for (name, value) in dependencies.iter_mut() {
            if !is_inherited(value) {
                continue;
            }
            let mut resolved = match inherited("dependencies", name)? {
                toml::Value::String(version) => toml::Table::from_iter([("version".to_owned(), toml::Value::String(version))]),
                toml::Value::Table(table) => table,
                other => return Err(format!("[workspace.dependencies] `{name}` is {other}")),
            };
            for (key, local) in value.as_table().into_iter().flatten() {
                match key.as_str() {
                    "workspace" => {}
                    "features" => {
                        let features = resolved.entry("features").or_insert_with(|| toml::Value::Array(Vec::new()));
                        if let (Some(all), Some(more)) = (features.as_array_mut(), local.as_array()) {
                            for feature in more {
                                if !all.contains(feature) {
                                    all.push(feature.clone());
                                }
                            }
                        }
                    }
                    _ => {
                        resolved.insert(key.clone(), local.clone());
                    }
                }
            }
            *value = toml::Value::Table(resolved);
        }
    }
    manifest.remove("dev-dependencies");
    if let Some(lints) = manifest.get("lints") {
        if is_inherited(lints) {
            let all = workspace.get("lints").cloned().ok_or("[workspace.lints] is missing")?;
            manifest.insert("lints".into(), all);
        }
    }
    toml::to_string(&manifest).map_err(|e| e.to_string())
}

/// The lock entries of `package` and everything it depends on, in `Cargo.lock`'s own format.
fn lock_entries(lock: &Path, package: &str) -> Result<Vec<(String, String, String)>, String> {
    let lock = read_toml(lock)?;
    let packages = lock.get("package").and_then(|p| p.as_array()).ok_or("Cargo.lock has no packages")?;
    let field = |p: &toml::Value, key: &str| p.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let find = |reference: &str| {
        let mut words = reference.split(' ');
        let (name, version) = (words.next().unwrap_or_default(), words.next());
        packages.iter().find(|p| field(p, "name") == name && version.is_none_or(|v| field(p, "version") == v))
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut queue = vec![package.to_owned()];
    let mut entries = Vec::new();
    while let Some(reference) = queue.pop() {
        let entry = find(&reference).ok_or(format!("Cargo.lock has no package `{reference}`"))?;
        let (name, version) = (field(entry, "name"), field(entry, "version"));
        if !seen.insert((name.clone(), version.clone())) {
            continue;
        }
        let dependencies: Vec<String> = entry.get("dependencies").and_then(|d| d.as_array()).into_iter().flatten().filter_map(|d| d.as_str().map(str::to_owned)).collect();
        let mut text = format!("[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n");
        for key in ["source", "checksum"] {
            if entry.get(key).is_some() {
                let _ = writeln!(text, "{key} = \"{}\"", field(entry, key));
            }
        }
        if !dependencies.is_empty() {
            text.push_str("dependencies = [\n");
            for dependency in &dependencies {
                let _ = writeln!(text, " \"{dependency}\",");
            }
            text.push_str("]\n");
        }
        queue.extend(dependencies);
        entries.push((name, version, text));
    }
    entries.sort();
    Ok(entries)
}
