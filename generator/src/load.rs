//! Load phase: YAML or JSON text → a tree of [`Node`]s that remember where they came from, with
//! every `$ref` to another file followed and every reference checked.
//!
//! **Architecture invariant:** this is the only phase that reads files. Everything after it works
//! on the [`Document`] alone.

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::source::{FileId, SourceMap, Span};
use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A value in a spec with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it starts in its file (for a mapping or sequence: its first entry).
    pub span: Span,
}

/// A mapping key with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is.
    pub span: Span,
}

/// The value of a [`Node`]: the JSON data model.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in document order.
    Map(Vec<(Key, Node)>),
}

impl Node {
    /// The entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries().iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// The key node of entry `key` of a mapping (to point diagnostics at the key).
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.entries().iter().find(|(k, _)| k.name == key).map(|(k, _)| k.span)
    }

    /// The entries of a mapping (empty for anything else).
    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The items of a sequence (empty for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The non-negative integer, if this is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self.value {
            Value::Int(i) => u64::try_from(i).ok(),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Whether this is a mapping.
    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    /// The `$ref` of a reference object.
    pub fn reference(&self) -> Option<&str> {
        self.get("$ref").and_then(Node::as_str)
    }

    /// The value as JSON (key order kept).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect()),
        }
    }
}

/// A loaded spec: the root file and every file it references.
#[derive(Debug)]
pub struct Document {
    /// Every file, the root first.
    pub sources: SourceMap,
    /// The parsed tree of each file, in the order of [`FileId`]s (read through
    /// [`Document::root_of`] and [`Document::files`]).
    roots: Vec<Node>,
    /// Where each chain of references ends (from a target that is a reference to the target of
    /// the last reference), found once while checking them, so [`Document::resolve`] takes one
    /// step however long the chain.
    pub ends: BTreeMap<Target, Target>,
    /// Where every target of a reference is, as positions of entries and items from its file's
    /// root, so that [`Document::node`] does not search large mappings (`components/schemas`
    /// with thousands of entries) once per reference. Checked against the keys when used, so a
    /// tree changed since (by `augment`) falls back to searching.
    pub positions: HashMap<Target, Vec<usize>>,
}

/// How deeply [`try_bundle`] may nest, counting the mappings and sequences of every file inlined
/// on the way (each file is at most [`Limits::max_depth`] deep; a chain of files referring to the
/// next one inside nested schemas multiplies that).
pub const MAX_BUNDLE_DEPTH: usize = 512;

/// How many nodes [`try_bundle`] may copy from other files: a file referred to twice is copied
/// twice, so a few files that each refer to the next twice would otherwise grow exponentially.
pub const MAX_BUNDLE_NODES: usize = 2_000_000;

/// The root document as one JSON value: every reference to another file replaced by what it
/// refers to, so the document stands alone (it is what a generated server publishes). References
/// within the root file stay references; a reference cycle through other files is left as it is.
/// `Null` when a bundling limit is reached (see [`try_bundle`]).
pub fn bundle(doc: &Document) -> serde_json::Value {
    try_bundle(doc).unwrap_or(serde_json::Value::Null)
}

/// [`bundle`], or the error at the reference where [`MAX_BUNDLE_DEPTH`] or
/// [`MAX_BUNDLE_NODES`] was reached.
pub fn try_bundle(doc: &Document) -> Result<serde_json::Value, Box<Diagnostic>> {
    struct Walk<'a> {
        doc: &'a Document,
        stack: Vec<Target>,
        depth: usize,
        copied: usize,
        error: Option<Box<Diagnostic>>,
    }
    impl Walk<'_> {
        fn walk(&mut self, file: FileId, node: &Node, at: Span) -> serde_json::Value {
            if self.error.is_some() {
                return serde_json::Value::Null;
            }
            if !self.stack.is_empty() {
                self.copied += 1;
            }
            if self.depth >= MAX_BUNDLE_DEPTH || self.copied > MAX_BUNDLE_NODES {
                let message = if self.depth >= MAX_BUNDLE_DEPTH {
                    format!("bundling the files this reference leads to nests more than {MAX_BUNDLE_DEPTH} deep")
                } else {
                    format!("bundling copies more than {MAX_BUNDLE_NODES} nodes from other files")
                };
                self.error = Some(Box::new(
                    Diagnostic::error("ivoagen::load::bundle-limit", Some(at), message)
                        .label("this reference")
                        .help("a file referred to from many places is copied to each of them; refer to it once, from `components`, and use `#/components/…` references elsewhere"),
                ));
                return serde_json::Value::Null;
            }
            let doc = self.doc;
            if let Some(reference) = node.reference() {
                if let Some(target) = doc.target(file, reference) {
                    if target.file != FileId::ROOT && !self.stack.contains(&target) {
                        if let Some(resolved) = doc.node(&target) {
                            let span = node.get("$ref").map_or(node.span, |r| r.span);
                            self.stack.push(target.clone());
                            let value = self.walk(target.file, resolved, span);
                            self.stack.pop();
                            return value;
                        }
                    }
                    if target.file == FileId::ROOT && file != FileId::ROOT {
                        // A reference back into the root file, written from another file.
                        let mut json = node.to_json();
                        json["$ref"] = serde_json::Value::String(format!("#{}", target.pointer_text()));
                        return json;
                    }
                }
            }
            self.depth += 1;
            let value = match &node.value {
                Value::Seq(items) => serde_json::Value::Array(items.iter().map(|i| self.walk(file, i, at)).collect()),
                Value::Map(entries) => serde_json::Value::Object(entries.iter().map(|(k, v)| (k.name.clone(), self.walk(file, v, at))).collect()),
                _ => node.to_json(),
            };
            self.depth -= 1;
            value
        }
    }
    let mut walk = Walk { doc, stack: Vec::new(), depth: 0, copied: 0, error: None };
    let root = doc.root();
    let value = walk.walk(FileId::ROOT, root, root.span);
    match walk.error {
        Some(error) => Err(error),
        None => Ok(value),
    }
}

/// Where a `$ref` leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The file.
    pub file: FileId,
    /// The JSON pointer inside it, unescaped, one entry per token.
    pub pointer: Vec<String>,
}

impl Target {
    /// `file#/a/b` for messages and identity.
    pub fn display(&self, doc: &Document) -> String {
        format!("{}#{}", doc.sources.file(self.file).name, self.pointer_text())
    }

    /// The JSON pointer, escaped (`/a/b~1c`).
    pub fn pointer_text(&self) -> String {
        self.pointer.iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect()
    }
}

impl Document {
    /// The root node of the root file.
    pub fn root(&self) -> &Node {
        &self.roots[FileId::ROOT.index()]
    }

    /// The root node of the root file, to change (as `augment` does).
    pub fn root_mut(&mut self) -> &mut Node {
        &mut self.roots[FileId::ROOT.index()]
    }

    /// The root node of `file`.
    pub fn root_of(&self, file: FileId) -> &Node {
        &self.roots[file.index()]
    }

    /// The root node of `file`, to change.
    pub fn root_of_mut(&mut self, file: FileId) -> &mut Node {
        &mut self.roots[file.index()]
    }

    /// Every file with its root node, the root file first.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &Node)> {
        self.sources.ids_from(0).zip(&self.roots)
    }

    /// The node a target names.
    pub fn node(&self, target: &Target) -> Option<&Node> {
        if let Some(node) = self.positions.get(target).and_then(|positions| self.at_positions(target, positions)) {
            return Some(node);
        }
        let mut node = self.root_of(target.file);
        for token in &target.pointer {
            node = match &node.value {
                Value::Map(_) => node.get(token)?,
                Value::Seq(items) => items.get(token.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    fn at_positions(&self, target: &Target, positions: &[usize]) -> Option<&Node> {
        let mut node = self.roots.get(target.file.index())?;
        for (token, &i) in target.pointer.iter().zip(positions) {
            node = match &node.value {
                Value::Map(entries) => entries.get(i).filter(|(k, _)| k.name == *token).map(|(_, v)| v)?,
                Value::Seq(items) => items.get(i).filter(|_| token.parse::<usize>().ok() == Some(i))?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Finds every target of a reference once, a mapping's keys indexed once for all the targets
    /// in it (see [`Document::positions`]).
    fn index_targets(&mut self) {
        let mut groups: BTreeMap<(FileId, Vec<String>), Vec<Target>> = BTreeMap::new();
        for (file, root) in self.files() {
            let mut refs = Vec::new();
            collect_refs(root, &mut refs);
            for (reference, _) in refs {
                if let Some(target) = self.target(file, &reference) {
                    if let Some((_, parent)) = target.pointer.split_last() {
                        groups.entry((target.file, parent.to_vec())).or_default().push(target);
                    }
                }
            }
        }
        let mut positions = HashMap::new();
        for ((file, parent), targets) in groups {
            let mut node = self.root_of(file);
            let mut path = Vec::new();
            let mut found = true;
            for token in &parent {
                let next = match &node.value {
                    Value::Map(entries) => entries.iter().position(|(k, _)| k.name == *token).map(|i| (i, &entries[i].1)),
                    Value::Seq(items) => token.parse::<usize>().ok().and_then(|i| items.get(i).map(|n| (i, n))),
                    _ => None,
                };
                let Some((i, next)) = next else {
                    found = false;
                    break;
                };
                path.push(i);
                node = next;
            }
            if !found {
                continue;
            }
            let mut keys: HashMap<&str, usize> = HashMap::new();
            for (i, (key, _)) in node.entries().iter().enumerate() {
                keys.entry(key.name.as_str()).or_insert(i);
            }
            for target in targets {
                let last = target.pointer.last().map_or("", String::as_str);
                let i = match &node.value {
                    Value::Map(_) => keys.get(last).copied(),
                    Value::Seq(items) => last.parse::<usize>().ok().filter(|&i| i < items.len()),
                    _ => None,
                };
                if let Some(i) = i {
                    let mut full = path.clone();
                    full.push(i);
                    positions.insert(target, full);
                }
            }
        }
        self.positions = positions;
    }

    /// Parses the `$ref` string `reference` written in `file`.
    pub fn target(&self, file: FileId, reference: &str) -> Option<Target> {
        let (path, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let file = if path.is_empty() {
            file
        } else {
            let wanted = resolve_relative(&self.sources.file(file).path, path);
            self.sources.id_of(&wanted).filter(|id| id.index() < self.roots.len())?
        };
        Some(Target { file, pointer: parse_pointer(fragment)? })
    }

    /// Follows `$ref`s from `node` (in `file`) to the node that is not a reference, returning it
    /// with its file and the target of the last reference followed.
    pub fn resolve<'a>(&'a self, file: FileId, node: &'a Node) -> (FileId, &'a Node, Option<Target>) {
        let (mut file, mut node, mut last) = (file, node, None);
        if let Some(target) = node.reference().and_then(|r| self.target(file, r)) {
            let end = self.ends.get(&target).unwrap_or(&target);
            if let Some(end_node) = self.node(end).filter(|n| n.reference().is_none()) {
                return (end.file, end_node, Some(end.clone()));
            }
        }
        for _ in 0..64 {
            let Some(reference) = node.reference() else { break };
            let Some(target) = self.target(file, reference) else { break };
            let Some(next) = self.node(&target) else { break };
            file = target.file;
            node = next;
            last = Some(target);
        }
        (file, node, last)
    }
}

fn parse_pointer(fragment: &str) -> Option<Vec<String>> {
    if fragment.is_empty() {
        return Some(Vec::new());
    }
    let rest = fragment.strip_prefix('/')?;
    Some(rest.split('/').map(|t| percent_decode(t).replace("~1", "/").replace("~0", "~")).collect())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            // `get`: the two bytes after `%` may cut a character (`%aé`), which is no escape.
            if let Some(b) = s.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// Joins `reference` to the directory of `from`, lexically (no file-system access), so that a
/// reference is resolved against the referring file and never against the working directory.
fn resolve_relative(from: &Path, reference: &str) -> PathBuf {
    let base = from.parent().unwrap_or(Path::new(""));
    let mut out = PathBuf::new();
    for component in base.join(reference).components() {
        match component {
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Reads files: the real file system, or a map of files for tests and in-memory use.
pub trait FileSystem {
    /// The text of `path`, or why it cannot be read.
    fn read(&self, path: &Path) -> Result<String, String>;

    /// The bytes of `path`, reading at most `limit + 1` bytes (so that a file over the limit is
    /// known to be without reading all of it).
    fn read_bytes(&self, path: &Path, limit: usize) -> Result<Vec<u8>, String> {
        let mut bytes = self.read(path)?.into_bytes();
        bytes.truncate(limit.saturating_add(1));
        Ok(bytes)
    }

    /// The path of the file or folder `path` names, with every symbolic link followed and `..`
    /// applied, when the file system has links (`None`: it has none, and paths compare as
    /// written). Where a `$ref` really leads is decided on this path.
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        let _ = path;
        None
    }
}

/// The real file system.
pub struct RealFs;

impl FileSystem for RealFs {
    fn read(&self, path: &Path) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }

    fn read_bytes(&self, path: &Path, limit: usize) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut bytes = Vec::new();
        file.take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1)).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }
}

/// The limits the loader enforces on what a spec may make it do. Each is checked as the input is
/// read, and breaking one is an error located where the limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file, in bytes (64 MiB).
    pub max_file_bytes: usize,
    /// How deeply mappings and sequences may nest in one file (256).
    pub max_depth: usize,
    /// How many nodes YAML aliases (`*name`) may copy into one file, in all (1,000,000): an
    /// "alias bomb" of a few hundred bytes otherwise grows to gigabytes.
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_file_bytes: 64 << 20, max_depth: 256, max_alias_nodes: 1_000_000 }
    }
}

/// How to load a spec.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Folders outside the root spec's folder that `$ref`s may lead to (`--allow-ref-dir`).
    pub allowed_ref_dirs: Vec<PathBuf>,
    /// The limits.
    pub limits: Limits,
}

impl FileSystem for BTreeMap<PathBuf, String> {
    fn read(&self, path: &Path) -> Result<String, String> {
        self.get(path).cloned().ok_or_else(|| "No such file or directory (os error 2)".to_owned())
    }
}

/// Loads the spec at `path` and every file it references, checking every `$ref`, with the
/// default [`LoadOptions`].
pub fn load(fs: &dyn FileSystem, path: &Path) -> Result<(Document, Vec<Diagnostic>), (SourceMap, Vec<Diagnostic>)> {
    load_with(fs, path, &LoadOptions::default())
}

/// Whether `path` is `dir` or inside it, compared lexically after making both absolute against
/// the current directory and applying `..` (no file-system access; symbolic links not followed).
fn is_within(path: &Path, dir: &Path) -> bool {
    let Ok(cwd) = std::env::current_dir() else { return false };
    let absolute = |p: &Path| resolve_relative(&cwd.join("x"), &p.to_string_lossy());
    absolute(path).starts_with(absolute(dir))
}

/// Whether the file `path` may be read: it is inside one of `dirs` as written and, on a file
/// system with symbolic links, where it really is too (a link inside the folder to a file
/// outside it is outside). A file that does not exist has no real place; reading it fails with
/// its own error.
fn may_read(fs: &dyn FileSystem, path: &Path, dirs: &[&Path]) -> bool {
    if !dirs.iter().any(|dir| is_within(path, dir)) {
        return false;
    }
    let Some(real) = fs.canonical(path) else { return true };
    dirs.iter().any(|dir| {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        fs.canonical(dir).is_some_and(|real_dir| real.starts_with(real_dir))
    })
}

/// Reads one file within the limits: its text (a UTF-8 byte-order mark dropped), or the
/// diagnostic saying why not, located when it can be (invalid UTF-8 at its line and column).
fn read_text(
    fs: &dyn FileSystem,
    sources: &mut SourceMap,
    path: &Path,
    name: String,
    limits: &Limits,
    at: Option<Span>,
) -> Result<FileId, Box<Diagnostic>> {
    let bytes = fs.read_bytes(path, limits.max_file_bytes).map_err(|e| Box::new(match at {
        None => Diagnostic::error("ivoagen::load::read", None, format!("cannot read `{}`: {e}", path.display()))
            .help("check the path; it is resolved against the current directory"),
        Some(span) => Diagnostic::error("ivoagen::load::missing-file", Some(span), format!("referenced file `{}` cannot be read: {e}", path.display()))
            .label("this reference")
            .help("references are resolved against the directory of the file that contains them"),
    }))?;
    if bytes.len() > limits.max_file_bytes {
        return Err(Box::new(Diagnostic::error(
            "ivoagen::load::too-large",
            at,
            format!("`{}` is larger than {} bytes, the largest file ivoagen reads", path.display(), limits.max_file_bytes),
        )
        .label("this reference")
        .help("split the description into files that refer to each other with `$ref`")));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf".as_slice()).map(<[u8]>::to_vec).unwrap_or(bytes);
    match String::from_utf8(bytes) {
        Ok(text) => Ok(sources.add(name, path.to_path_buf(), text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let invalid = e.as_bytes()[valid];
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let id = sources.add(name, path.to_path_buf(), text);
            Err(Box::new(Diagnostic::error(
                "ivoagen::load::not-utf8",
                Some(Span { offset: valid, ..Span::start_of(id) }),
                format!("the file is not UTF-8: byte 0x{invalid:02x} cannot start or continue a character"),
            )
            .label("the first invalid byte")
            .help("save the file as UTF-8 (YAML and JSON are UTF-8)")))
        }
    }
}

/// Loads the spec at `path` and every file it references, checking every `$ref`; `$ref`s may
/// only lead into the root spec's folder and `options.allowed_ref_dirs`, and every file is read
/// within `options.limits`.
pub fn load_with(fs: &dyn FileSystem, path: &Path, options: &LoadOptions) -> Result<(Document, Vec<Diagnostic>), (SourceMap, Vec<Diagnostic>)> {
    let mut sources = SourceMap::default();
    let mut roots = Vec::new();
    let mut diagnostics = Diagnostics::default();
    let limits = &options.limits;
    let root_path = resolve_relative(Path::new("./x"), &path.to_string_lossy());
    let root_dir = root_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let id = match read_text(fs, &mut sources, path, path.display().to_string(), limits, None) {
        Ok(id) => id,
        Err(d) => {
            diagnostics.push(*d);
            return Err((sources, diagnostics.into_vec()));
        }
    };
    sources.set_path(id, root_path);
    match parse(&sources, id, limits) {
        Ok(node) => roots.push(node),
        Err(d) => {
            diagnostics.push(*d);
            return Err((sources, diagnostics.into_vec()));
        }
    }
    // The folders `$ref`s may lead into: the root spec's, and those allowed.
    let dirs: Vec<&Path> = std::iter::once(root_dir.as_path()).chain(options.allowed_ref_dirs.iter().map(PathBuf::as_path)).collect();
    // Breadth-first over referenced files; `next` walks the files as they are added.
    let mut next = 0;
    while let Some(file) = sources.ids_from(next).next() {
        next += 1;
        let mut refs = Vec::new();
        collect_refs(&roots[file.index()], &mut refs);
        for (reference, span) in refs {
            let path_part = reference.split_once('#').map_or(reference.as_str(), |(p, _)| p);
            if path_part.is_empty() || path_part.contains("://") {
                continue;
            }
            let wanted = resolve_relative(&sources.file(file).path, path_part);
            if sources.id_of(&wanted).is_some() {
                continue;
            }
            if !may_read(fs, &wanted, &dirs) {
                // Not read: a spec must not make the generator read (and publish) other files.
                let folder = if root_dir.as_os_str().is_empty() { ".".to_owned() } else { root_dir.display().to_string() };
                diagnostics.push(
                    Diagnostic::error(
                        "ivoagen::load::ref-outside",
                        Some(span),
                        format!("`{path_part}` leads outside the spec's folder `{folder}`"),
                    )
                    .label("this reference")
                    .help("move the file into the spec's folder, or allow its folder with `--allow-ref-dir DIR`"),
                );
                continue;
            }
            let before = sources.len();
            match read_text(fs, &mut sources, &wanted, wanted.display().to_string(), limits, Some(span)) {
                Ok(id) => match parse(&sources, id, limits) {
                    Ok(node) => roots.push(node),
                    Err(d) => {
                        diagnostics.push(*d);
                        roots.push(Node { value: Value::Null, span: Span::start_of(id) });
                    }
                },
                Err(d) => {
                    diagnostics.push(*d);
                    // A file added only to locate its error (invalid UTF-8) still needs a root.
                    for id in sources.ids_from(before) {
                        roots.push(Node { value: Value::Null, span: Span::start_of(id) });
                    }
                }
            }
        }
    }
    let mut doc = Document { sources, roots, ends: BTreeMap::new(), positions: HashMap::new() };
    doc.index_targets();
    if diagnostics.has_errors() {
        return Err((doc.sources, diagnostics.into_vec()));
    }
    let ends = check_refs(&doc, &mut diagnostics);
    if diagnostics.has_errors() {
        return Err((doc.sources, diagnostics.into_vec()));
    }
    Ok((Document { ends, ..doc }, diagnostics.into_vec()))
}

fn collect_refs(node: &Node, out: &mut Vec<(String, Span)>) {
    match &node.value {
        Value::Map(entries) => {
            for (key, value) in entries {
                match (&*key.name, &value.value) {
                    ("$ref", Value::Str(s)) => out.push((s.clone(), value.span)),
                    // Examples are data, not spec: a `$ref` key inside one is not a reference.
                    ("example" | "value", _) => {}
                    _ => collect_refs(value, out),
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

/// What a reference chain from a target comes to.
#[derive(Clone)]
enum Chain {
    /// The target whose node is not a reference (or whose reference leads nowhere).
    End(Target),
    /// The chain comes back on itself; the targets of the cycle.
    Cycle(Arc<Vec<Target>>),
}

/// Every `$ref` must lead somewhere, and chains of references must end. Each target's chain is
/// followed once (`ends` remembers where it ends), so the whole check is linear in the number of
/// references however long the chains are; the ends are kept for [`Document::resolve`].
fn check_refs(doc: &Document, diagnostics: &mut Diagnostics) -> BTreeMap<Target, Target> {
    let mut chains: BTreeMap<Target, Chain> = BTreeMap::new();
    for (file, root) in doc.files() {
        let mut refs = Vec::new();
        collect_refs(root, &mut refs);
        for (reference, span) in refs {
            if reference.contains("://") {
                diagnostics.push(
                    Diagnostic::error("ivoagen::load::remote-ref", Some(span), format!("remote reference `{reference}` is not supported"))
                        .help("download the document and refer to it by a relative path"),
                );
                continue;
            }
            let Some(target) = doc.target(file, &reference) else {
                diagnostics.push(
                    Diagnostic::error("ivoagen::load::bad-ref", Some(span), format!("`{reference}` is not a valid reference"))
                        .help("a reference is `file.yaml#/json/pointer` or `#/json/pointer`"),
                );
                continue;
            };
            if doc.node(&target).is_none() {
                diagnostics.push(
                    Diagnostic::error("ivoagen::load::dangling-ref", Some(span), format!("`{reference}` points at nothing"))
                        .label("this reference")
                        .help(suggest_target(doc, &target)),
                );
                continue;
            }
            if let Chain::Cycle(cycle) = follow(doc, target.clone(), &mut chains) {
                // Shown from this reference's target when it is on the cycle.
                let at = cycle.iter().position(|t| *t == target).unwrap_or(0);
                let shown: Vec<String> = cycle[at..].iter().chain(&cycle[..at]).chain(cycle.get(at)).map(|t| t.display(doc)).collect();
                diagnostics.push(
                    Diagnostic::error("ivoagen::load::ref-cycle", Some(span), format!("reference cycle: {}", shown.join(" → ")))
                        .label("this reference never reaches a value")
                        .help("one of the references must lead to a schema, parameter or response"),
                );
            }
        }
    }
    chains
        .into_iter()
        .filter_map(|(from, chain)| match chain {
            Chain::End(end) if end != from => Some((from, end)),
            _ => None,
        })
        .collect()
}

/// Follows the chain of references from `start` (whose node exists), without recursion,
/// recording the outcome for every target on the way.
fn follow(doc: &Document, start: Target, chains: &mut BTreeMap<Target, Chain>) -> Chain {
    let mut path: Vec<Target> = Vec::new();
    let mut on_path: BTreeMap<Target, usize> = BTreeMap::new();
    let mut current = start;
    let outcome = loop {
        if let Some(known) = chains.get(&current) {
            break known.clone();
        }
        if let Some(&at) = on_path.get(&current) {
            break Chain::Cycle(Arc::new(path[at..].to_vec()));
        }
        let next = doc.node(&current).and_then(Node::reference).and_then(|r| doc.target(current.file, r)).filter(|t| doc.node(t).is_some());
        match next {
            Some(next) => {
                on_path.insert(current.clone(), path.len());
                path.push(current);
                current = next;
            }
            None => break Chain::End(current),
        }
    };
    if let Chain::End(end) = &outcome {
        chains.entry(end.clone()).or_insert_with(|| outcome.clone());
    }
    for target in path {
        chains.insert(target, outcome.clone());
    }
    outcome
}

fn suggest_target(doc: &Document, target: &Target) -> String {
    let (parent, last) = match target.pointer.split_last() {
        Some((last, parent)) => (parent.to_vec(), last.clone()),
        None => return "the file is empty".to_owned(),
    };
    let parent_target = Target { file: target.file, pointer: parent };
    let candidates: Vec<&str> = doc
        .node(&parent_target)
        .map(|n| n.entries().iter().map(|(k, _)| k.name.as_str()).collect())
        .unwrap_or_default();
    match candidates.iter().min_by_key(|c| edit_distance(c, &last)) {
        Some(best) if edit_distance(best, &last) <= 3 => format!("did you mean `{best}`?"),
        _ if candidates.is_empty() => format!("`{}` does not exist", parent_target.display(doc)),
        _ if candidates.len() > 20 => {
            format!("`{}` has: {}, … ({} more)", parent_target.display(doc), candidates[..20].join(", "), candidates.len() - 20)
        }
        _ => format!("`{}` has: {}", parent_target.display(doc), candidates.join(", ")),
    }
}

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb { previous } else { 1 + previous.min(row[j]).min(current) };
            previous = current;
        }
    }
    row[b.len()]
}

/// Parses one file (YAML 1.2, of which JSON is a subset) into a [`Node`] tree, within `limits`.
fn parse(sources: &SourceMap, file: FileId, limits: &Limits) -> Result<Node, Box<Diagnostic>> {
    let text = sources.file(file).text.clone();
    let mut builder = Builder { sources, file, limits, stack: Vec::new(), anchors: BTreeMap::new(), root: None, alias_nodes: 0, error: None, cursor: (0, 0) };
    let mut parser = Parser::new_from_str(&text);
    // Event by event (the parser keeps its own stack, so nesting cannot overflow ours), stopping
    // at the first event that breaks a limit.
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((event, mark)) => {
                builder.on_event(event, mark);
                if let Some(error) = builder.error.take() {
                    return Err(error);
                }
            }
            Err(e) => {
                let mark = e.marker();
                let offset = sources.offset_of(file, mark.line(), mark.col() + 1);
                let offset = offset.min(text.len());
                return Err(Box::new(
                    Diagnostic::error("ivoagen::load::syntax", Some(Span { offset, ..Span::start_of(file) }), format!("the file is not valid YAML or JSON: {}", e.info()))
                        .label("parsing stopped here")
                        .help("check the indentation and quoting around this place"),
                ));
            }
        }
    }
    match builder.root {
        Some(root) if root.is_map() => Ok(root),
        Some(root) => Err(Box::new(
            Diagnostic::error("ivoagen::load::not-a-mapping", Some(root.span), "the document is not a mapping")
                .help("an OpenAPI document is a mapping with an `openapi` key"),
        )),
        None => Err(Box::new(Diagnostic::error("ivoagen::load::empty", Some(Span::start_of(file)), "the file is empty"))),
    }
}

/// A mapping or sequence being built, with how many nodes it holds so far (itself included).
enum Frame {
    Seq(Vec<Node>, Span, usize, usize),
    Map(Vec<(Key, Node)>, Option<Key>, Span, usize, usize),
}

struct Builder<'a> {
    sources: &'a SourceMap,
    file: FileId,
    limits: &'a Limits,
    stack: Vec<Frame>,
    /// Anchored nodes with their node counts.
    anchors: BTreeMap<usize, (Node, usize)>,
    root: Option<Node>,
    /// Nodes copied by aliases so far.
    alias_nodes: usize,
    /// The first limit broken.
    error: Option<Box<Diagnostic>>,
    /// The character index and byte offset of the last mark placed.
    cursor: (usize, usize),
}

impl Builder<'_> {
    /// The place of a parser mark. Marks count characters; the byte offset is found by walking
    /// forward from the previous mark (marks mostly advance), so a long line costs its length
    /// once, not once per event.
    fn span(&mut self, mark: Marker) -> Span {
        let (chars, bytes) = self.cursor;
        let offset = if mark.index() >= chars {
            let text = &self.sources.file(self.file).text;
            let rest = &text[bytes..];
            let ahead = mark.index() - chars;
            let offset = rest.char_indices().nth(ahead).map_or(text.len(), |(i, _)| bytes + i);
            self.cursor = (mark.index(), offset);
            offset
        } else {
            self.sources.offset_of(self.file, mark.line(), mark.col() + 1)
        };
        Span { offset, ..Span::start_of(self.file) }
    }

    fn finish(&mut self, node: Node, anchor: usize, count: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), count));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(items, _, _, total)) => {
                *total += count;
                items.push(node);
            }
            Some(Frame::Map(entries, pending, _, _, total)) => {
                *total += count;
                match pending.take() {
                    Some(key) => entries.push((key, node)),
                    None => {
                        let name = match &node.value {
                            Value::Str(s) => s.clone(),
                            Value::Int(i) => i.to_string(),
                            Value::Float(f) => f.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Null => "null".to_owned(),
                            Value::Seq(_) | Value::Map(_) => "?".to_owned(),
                        };
                        *pending = Some(Key { name, span: node.span });
                    }
                }
            }
        }
    }

    fn open(&mut self, frame: Frame, span: Span) {
        if self.stack.len() >= self.limits.max_depth {
            self.error = Some(Box::new(
                Diagnostic::error(
                    "ivoagen::load::too-deep",
                    Some(span),
                    format!("mappings and sequences nest more than {} deep here", self.limits.max_depth),
                )
                .label("too deep")
                .help("an OpenAPI description never needs this depth; move nested schemas to `components` and refer to them"),
            ));
            return;
        }
        self.stack.push(frame);
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let span = self.span(mark);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let len = text.len();
                let shown = if matches!(style, TScalarStyle::Plain) && text.len() <= 40 { Some(text.clone()) } else { None };
                let value = scalar(text, style, tag.as_ref().map(|t| t.suffix.as_str()));
                if let Value::Float(f) = value {
                    if !f.is_finite() {
                        let written = shown.unwrap_or_default();
                        self.error = Some(Box::new(
                            Diagnostic::error("ivoagen::load::not-finite", Some(Span { len, ..span }), format!("`{written}` is not a finite number"))
                                .label(if f.is_nan() { "not a number" } else { "infinite" })
                                .help("JSON, and so OpenAPI, has no infinities or NaN (and a number beyond ±1.8e308 is infinite); leave the keyword out or write a finite bound"),
                        ));
                        return;
                    }
                }
                self.finish(Node { value, span: Span { len, ..span } }, anchor, 1);
            }
            Event::SequenceStart(anchor, _) => self.open(Frame::Seq(Vec::new(), span, anchor, 1), span),
            Event::MappingStart(anchor, _) => self.open(Frame::Map(Vec::new(), None, span, anchor, 1), span),
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, span, anchor, count)) = self.stack.pop() {
                    self.finish(Node { value: Value::Seq(items), span }, anchor, count);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, span, anchor, count)) = self.stack.pop() {
                    // The parser marks a block mapping after its first key; the key is where it starts.
                    let span = entries.first().map_or(span, |(k, _)| Span { len: 0, ..k.span });
                    self.finish(Node { value: Value::Map(entries), span }, anchor, count);
                }
            }
            Event::Alias(anchor) => {
                let (node, count) = self.anchors.get(&anchor).cloned().unwrap_or((Node { value: Value::Null, span }, 1));
                self.alias_nodes = self.alias_nodes.saturating_add(count);
                if self.alias_nodes > self.limits.max_alias_nodes {
                    self.error = Some(Box::new(
                        Diagnostic::error(
                            "ivoagen::load::alias-limit",
                            Some(span),
                            format!("YAML aliases copy more than {} nodes into this file", self.limits.max_alias_nodes),
                        )
                        .label("the alias that went over the limit")
                        .help("aliases that refer to anchors holding aliases multiply; write the repeated part once under `components` and use `$ref`"),
                    ));
                    return;
                }
                self.finish(node, 0, count);
            }
            _ => {}
        }
    }
}

/// Resolves a scalar by the YAML 1.2 core schema (which JSON's scalars also follow).
fn scalar(text: String, style: TScalarStyle, tag: Option<&str>) -> Value {
    if style != TScalarStyle::Plain || tag == Some("str") {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let is_int = {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if is_int {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let looks_numeric = text.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+' || b == b'.')
        && text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs(files: &[(&str, &str)]) -> BTreeMap<PathBuf, String> {
        files.iter().map(|(p, t)| (PathBuf::from(p), t.to_string())).collect()
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let fs = fs(&[("a.yaml", "a: 1\nb: 1.5\nc: true\nd: '1'\ne: ~\nf: 09:00\ng: 1e3\n")]);
        let (doc, _) = load(&fs, Path::new("a.yaml")).unwrap();
        let root = doc.root();
        assert_eq!(root.get("a").unwrap().value, Value::Int(1));
        assert_eq!(root.get("b").unwrap().value, Value::Float(1.5));
        assert_eq!(root.get("c").unwrap().value, Value::Bool(true));
        assert_eq!(root.get("d").unwrap().value, Value::Str("1".into()));
        assert_eq!(root.get("e").unwrap().value, Value::Null);
        assert_eq!(root.get("f").unwrap().value, Value::Str("09:00".into()));
        assert_eq!(root.get("g").unwrap().value, Value::Float(1000.0));
    }

    #[test]
    fn spans_point_at_values() {
        let fs = fs(&[("a.yaml", "openapi: 3.1.0\ninfo:\n  title: x\n")]);
        let (doc, _) = load(&fs, Path::new("a.yaml")).unwrap();
        let title = doc.root().get("info").unwrap().get("title").unwrap();
        assert_eq!(doc.sources.location(title.span), "a.yaml:3:10");
    }

    #[test]
    fn references_resolve_against_the_referring_file() {
        let fs = fs(&[
            ("spec/root.yaml", "a:\n  $ref: 'parts/p.yaml#/x'\n"),
            ("spec/parts/p.yaml", "x:\n  $ref: '../other.yaml#/y~1z'\n"),
            ("spec/other.yaml", "y/z: 42\n"),
        ]);
        let (doc, diags) = load(&fs, Path::new("spec/root.yaml")).unwrap();
        assert!(diags.is_empty());
        let (_, node, _) = doc.resolve(FileId::ROOT, doc.root().get("a").unwrap());
        assert_eq!(node.value, Value::Int(42));
    }

    #[test]
    fn json_loads_too() {
        let fs = fs(&[("a.json", "{\"openapi\": \"3.0.3\", \"n\": [1, 2.5, null]}")]);
        let (doc, _) = load(&fs, Path::new("a.json")).unwrap();
        assert_eq!(doc.root().get("n").unwrap().to_json(), serde_json::json!([1, 2.5, null]));
    }

    #[test]
    fn references_may_not_leave_the_root_folder() {
        let files = fs(&[
            ("root.yaml", "a:\n  $ref: '../up.yaml#/x'\nb:\n  $ref: 'sub/../../up.yaml#/x'\n"),
            ("../up.yaml", "x: 1\n"),
        ]);
        let (sources, diags) = load(&files, Path::new("root.yaml")).unwrap_err();
        let found: Vec<_> = diags.iter().map(|d| (d.code, d.location(&sources))).collect();
        assert_eq!(found, [("ivoagen::load::ref-outside", "root.yaml:2:9".to_owned()), ("ivoagen::load::ref-outside", "root.yaml:4:9".to_owned())]);
        let allowed = LoadOptions { allowed_ref_dirs: vec![PathBuf::from("..")], ..LoadOptions::default() };
        assert!(load_with(&files, Path::new("root.yaml"), &allowed).is_ok());
        let files = fs(&[("spec/root.yaml", "a:\n  $ref: 'parts/p.yaml#/x'\n"), ("spec/parts/p.yaml", "x: 1\n")]);
        assert!(load(&files, Path::new("spec/root.yaml")).is_ok(), "subfolders are inside");
    }

    #[test]
    fn references_are_judged_by_where_links_really_lead() {
        /// Files in memory with symbolic links: `spec/link.yaml` leads to `/elsewhere/x.yaml`,
        /// `spec/alias.yaml` to `spec/parts/p.yaml`.
        struct Linked(BTreeMap<PathBuf, String>);
        impl FileSystem for Linked {
            fn read(&self, path: &Path) -> Result<String, String> {
                self.0.read(path)
            }
            fn canonical(&self, path: &Path) -> Option<PathBuf> {
                let path = resolve_relative(Path::new("/work/x"), &path.to_string_lossy());
                Some(match path.to_str()? {
                    "/work/spec/link.yaml" => PathBuf::from("/elsewhere/x.yaml"),
                    "/work/spec/alias.yaml" => PathBuf::from("/work/spec/parts/p.yaml"),
                    _ => path,
                })
            }
        }
        let files = fs(&[
            ("spec/root.yaml", "a:\n  $ref: 'link.yaml#/x'\nb:\n  $ref: 'alias.yaml#/x'\n"),
            ("spec/link.yaml", "x: 1\n"),
            ("spec/alias.yaml", "x: 2\n"),
        ]);
        let (sources, diags) = load(&Linked(files.clone()), Path::new("spec/root.yaml")).unwrap_err();
        let found: Vec<_> = diags.iter().map(|d| (d.code, d.location(&sources))).collect();
        assert_eq!(found, [("ivoagen::load::ref-outside", "spec/root.yaml:2:9".to_owned())]);
        let allowed = LoadOptions { allowed_ref_dirs: vec![PathBuf::from("/elsewhere")], ..LoadOptions::default() };
        assert!(load_with(&Linked(files.clone()), Path::new("spec/root.yaml"), &allowed).is_ok());
        // Without links (the plain in-memory map), paths are judged as written.
        assert!(load(&files, Path::new("spec/root.yaml")).is_ok());
    }

    #[test]
    fn limits_are_located_errors() {
        let tight = LoadOptions { limits: Limits { max_file_bytes: 64, max_depth: 3, max_alias_nodes: 5 }, ..LoadOptions::default() };
        let code = |text: &str| {
            let files = fs(&[("a.yaml", text)]);
            let (sources, diags) = load_with(&files, Path::new("a.yaml"), &tight).unwrap_err();
            (diags[0].code, diags[0].location(&sources))
        };
        assert_eq!(code(&format!("a: '{}'\n", "x".repeat(80))).0, "ivoagen::load::too-large");
        assert_eq!(code("a:\n  b:\n    c:\n      d: 1\n"), ("ivoagen::load::too-deep", "a.yaml:4:8".to_owned()));
        assert_eq!(code("a: &a [1, 2, 3]\nb: [*a, *a]\n"), ("ivoagen::load::alias-limit", "a.yaml:2:9".to_owned()));
        assert_eq!(code("a: -.inf\n"), ("ivoagen::load::not-finite", "a.yaml:1:4".to_owned()));
    }

    #[test]
    fn a_bom_is_skipped_and_bad_utf8_located() {
        let files = fs(&[("a.yaml", "\u{feff}a: 1\n")]);
        let (doc, _) = load(&files, Path::new("a.yaml")).unwrap();
        assert_eq!(doc.root().get("a").unwrap().value, Value::Int(1));
        struct Bytes;
        impl FileSystem for Bytes {
            fn read(&self, _: &Path) -> Result<String, String> {
                Err("bytes only".into())
            }
            fn read_bytes(&self, _: &Path, _: usize) -> Result<Vec<u8>, String> {
                Ok(b"a: 1\nb: 'x\xc3\x28'\n".to_vec())
            }
        }
        let (sources, diags) = load(&Bytes, Path::new("a.yaml")).unwrap_err();
        assert_eq!((diags[0].code, diags[0].location(&sources)), ("ivoagen::load::not-utf8", "a.yaml:2:6".to_owned()));
    }

    #[test]
    fn cycles_and_dangling_refs_are_located() {
        let fs = fs(&[("a.yaml", "a:\n  $ref: '#/b'\nb:\n  $ref: '#/a'\nc:\n  $ref: '#/nope'\n")]);
        let (sources, diags) = load(&fs, Path::new("a.yaml")).unwrap_err();
        let codes: Vec<_> = diags.iter().map(|d| (d.code, d.location(&sources))).collect();
        assert!(codes.contains(&("ivoagen::load::ref-cycle", "a.yaml:2:9".to_owned())), "{codes:?}");
        assert!(codes.contains(&("ivoagen::load::dangling-ref", "a.yaml:6:9".to_owned())), "{codes:?}");
    }
}
