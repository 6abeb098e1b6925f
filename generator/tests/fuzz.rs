//! Property-based fuzzing (proptest) of the loader and everything after it, run as ordinary tests
//! in CI. The corpus is every spec of this repository (`specs/`, `generator/tests/features/`,
//! `tests/corpus/`), and the inputs are:
//!
//! - a corpus file's bytes, mutated (bits flipped, ranges cut or repeated, cut short, hostile
//!   tokens and bytes inserted), read as the file itself (its `$ref`s to other files resolved);
//! - a corpus document's tree, mutated (a subtree replaced by a hostile value, removed or copied
//!   elsewhere), written as JSON, so that more of the cases reach lowering and emitting;
//!
//! each through load → (an IVOA profile) → lower → emit, and every diagnostic rendered. The
//! property: `Ok` or located diagnostics, never a panic.
//!
//! Deterministic by default (a fixed seed); `IVOAGEN_FUZZ_SEED` (a number, or `random`) and
//! `IVOAGEN_FUZZ_CASES` change the run. A failure proptest finds is shrunk and recorded in
//! `generator/proptest-regressions/fuzz.txt` (committed), replayed first on every run; each one
//! is also kept as a named test here or in `tests/hostile.rs`.

use ivoagen::augment::Profile;
use ivoagen::load::{FileSystem, RealFs};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The run's configuration: `cases` unless `IVOAGEN_FUZZ_CASES` says otherwise, a fixed seed
/// unless `IVOAGEN_FUZZ_SEED` gives one (or `random`). Shrinking is bounded in time: a failure
/// is reported within a minute even on a large spec.
fn config(cases: u32) -> ProptestConfig {
    let seed = match std::env::var("IVOAGEN_FUZZ_SEED").as_deref() {
        Ok("random") => RngSeed::Random,
        Ok(n) => RngSeed::Fixed(n.parse().expect("IVOAGEN_FUZZ_SEED is a number or `random`")),
        Err(_) => RngSeed::Fixed(0x1f0a_9e11),
    };
    ProptestConfig {
        cases: std::env::var("IVOAGEN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases),
        rng_seed: seed,
        max_shrink_time: 60_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/fuzz.txt")))),
        ..ProptestConfig::default()
    }
}

/// Tokens that once broke something, or might.
const TOKENS: &[&str] = &[
    "1e400", "-1e400", ".inf", ".nan", "-.inf", "0x7fffffffffffffff", "99999999999999999999999", "-0", "1e-400",
    "&a", "*a", "&b [*a, *a, *a]", "!!str", "!!binary", "? ", ": ", "- ", "[", "]", "{", "}", "[[[[[[[[", "{{{{",
    "$ref: '#/'", "$ref: '#/components/schemas/'", "$ref: '../x.yaml'", "$ref: '/etc/passwd'", "$ref: '#/paths/~1x'",
    "$ref: 'http://example.com/x'", "$ref: '#/components/schemas/%aé'", "$ref: '#/a/%%/%'", "%", "%é", "~", "~2", "#",
    "format: date-time", "format: date", "example: '2020-01-0éT00:00:00Z'", "example: 'é'", "example: 1e308", "{$ref: '#'}", "\u{feff}", "\t", "\r\n", "'", "\"", "\\", "\u{10ffff}", "é",
    "example: []", "example: {}", "example: null", "enum: []", "type: [null]", "items: {}", "required: [x]",
    "maxItems: 0", "minimum: 5\nmaximum: 1", "pattern: '('", "pattern: '(?=x)'", "format: int128", "default: []",
    "allOf: []", "oneOf: []", "anyOf: [{}]", "discriminator: {propertyName: x}", "x-ivoa-xtype: nope",
    "nullable: true", "in: path", "style: deepObject", "explode: false", "operationId: ''", "operationId: self",
];

/// Bytes that are not text, or end it early.
const BYTES: &[u8] = &[0xff, 0xc3, 0x80, 0x00, b'\t', 0xef, 0xbb, 0xbf];

/// The corpus: every spec of the repository under 100 kB, in a fixed order.
fn corpus() -> &'static [(PathBuf, Vec<u8>)] {
    static CORPUS: OnceLock<Vec<(PathBuf, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        let mut folders: Vec<PathBuf> = vec![root.join("../specs"), root.join("tests/features"), root.join("../tests/corpus")];
        while let Some(folder) = folders.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    folders.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
                    let bytes = std::fs::read(&path).unwrap();
                    if bytes.len() < 100_000 {
                        out.push((path, bytes));
                    }
                }
            }
        }
        out.sort();
        assert!(out.len() >= 10, "the corpus is the repository's specs: {}", out.len());
        out
    })
}

/// The corpus documents that load, as JSON trees (the ones `$ref`ing other files keep their
/// path, so that the references still resolve).
fn trees() -> &'static [(PathBuf, Value)] {
    static TREES: OnceLock<Vec<(PathBuf, Value)>> = OnceLock::new();
    TREES.get_or_init(|| {
        corpus()
            .iter()
            .filter_map(|(path, _)| ivoagen::load::load(&RealFs, path).ok().map(|(doc, _)| (path.clone(), doc.root().to_json())))
            .filter(|(_, tree)| tree.get("openapi").is_some())
            .collect()
    })
}

/// One byte-level mutation.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Delete(Index, usize),
    Repeat(Index, usize, Index),
    Truncate(Index),
    /// A token on a line of its own, indented like the line it goes before.
    LineToken(Index, Index),
    Token(Index, Index),
    Byte(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        1 => (any::<Index>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        1 => (any::<Index>(), 0usize..200).prop_map(|(at, n)| Mutation::Delete(at, n)),
        1 => (any::<Index>(), 0usize..400, any::<Index>()).prop_map(|(at, n, to)| Mutation::Repeat(at, n, to)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, t)| Mutation::LineToken(at, t)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, t)| Mutation::Token(at, t)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(at, b)| Mutation::Byte(at, b)),
    ]
}

fn mutate(text: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = text.to_vec();
    for m in mutations {
        let len = out.len();
        match m {
            Mutation::FlipBit(at, bit) if len > 0 => out[at.index(len)] ^= 1 << bit,
            Mutation::FlipBit(..) => {}
            Mutation::Delete(at, n) => {
                let at = at.index(len + 1);
                out.drain(at..(at + n).min(len));
            }
            Mutation::Repeat(at, n, to) => {
                let at = at.index(len + 1);
                let copy = out[at..(at + n).min(len)].to_vec();
                let to = to.index(len + 1);
                out.splice(to..to, copy);
            }
            Mutation::Truncate(at) => out.truncate(at.index(len + 1)),
            Mutation::LineToken(at, token) => {
                let at = at.index(len + 1);
                let line_start = out[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let indent = out[line_start..].iter().take_while(|&&b| b == b' ').count();
                let token = format!("{}{}\n", " ".repeat(indent), token.get(TOKENS));
                out.splice(line_start..line_start, token.into_bytes());
            }
            Mutation::Token(at, token) => {
                let at = at.index(len + 1);
                out.splice(at..at, token.get(TOKENS).bytes());
            }
            Mutation::Byte(at, byte) => out.insert(at.index(len + 1), *byte.get(BYTES)),
        }
    }
    out
}

/// Values that once broke lowering or emitting, or might: to put in a tree.
fn hostile_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(vec![1e308, -1e308, 5e-324, -0.0, 9_007_199_254_740_993.0]).prop_map(Value::from),
        prop::sample::select(TOKENS).prop_map(Value::from),
        prop::sample::select(vec![
            "string", "integer", "number", "boolean", "array", "object", "null", "int32", "int64", "date-time", "date", "uuid",
            "binary", "byte", "#/components/schemas/Nope", "#/components/schemas", "#", "#/", "", "é", "query", "path", "header",
            "cookie", "form", "application/json", "multipart/form-data", "text/plain", "circle", "polygon", "shape", "timestamp",
        ])
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    let keys = prop::sample::select(vec![
        "$ref", "type", "items", "properties", "required", "enum", "const", "example", "examples", "default", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems",
        "pattern", "allOf", "oneOf", "anyOf", "not", "nullable", "additionalProperties", "discriminator", "schema", "in",
        "name", "style", "explode", "content", "x-ivoa-xtype", "x-ivoa-sync", "x-ivoa-uws", "operationId", "responses",
        "parameters", "requestBody", "security", "200", "default", "x",
    ]);
    leaf.prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..5).prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// One tree-level mutation: the node at a pre-order position replaced, removed, or copied over
/// another.
#[derive(Debug, Clone)]
enum TreeMutation {
    Replace(Index, Value),
    Remove(Index),
    Copy(Index, Index),
}

fn tree_mutation() -> impl Strategy<Value = TreeMutation> {
    prop_oneof![
        3 => (any::<Index>(), hostile_value()).prop_map(|(at, v)| TreeMutation::Replace(at, v)),
        1 => any::<Index>().prop_map(TreeMutation::Remove),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(from, to)| TreeMutation::Copy(from, to)),
    ]
}

/// How many nodes the tree has, the root included.
fn size(tree: &Value) -> usize {
    1 + match tree {
        Value::Array(items) => items.iter().map(size).sum(),
        Value::Object(map) => map.values().map(size).sum(),
        _ => 0,
    }
}

/// The node at pre-order position `n` (0: the root).
fn node_mut(tree: &mut Value, n: usize) -> Option<&mut Value> {
    if n == 0 {
        return Some(tree);
    }
    let mut n = n - 1;
    let children: Box<dyn Iterator<Item = &mut Value>> = match tree {
        Value::Array(items) => Box::new(items.iter_mut()),
        Value::Object(map) => Box::new(map.values_mut()),
        _ => return None,
    };
    for child in children {
        let s = size(child);
        if n < s {
            return node_mut(child, n);
        }
        n -= s;
    }
    None
}

fn mutate_tree(tree: &Value, mutations: &[TreeMutation]) -> Value {
    let mut tree = tree.clone();
    for m in mutations {
        let nodes = size(&tree);
        match m {
            // Not the root: the document stays an object, so the cases get past "not OpenAPI".
            TreeMutation::Replace(at, value) => {
                if let Some(node) = node_mut(&mut tree, 1 + at.index(nodes.max(2) - 1)) {
                    *node = value.clone();
                }
            }
            TreeMutation::Remove(at) => {
                if let Some(node) = node_mut(&mut tree, 1 + at.index(nodes.max(2) - 1)) {
                    *node = Value::Null;
                }
            }
            TreeMutation::Copy(from, to) => {
                let copied = node_mut(&mut tree, from.index(nodes)).map(|n| n.clone());
                if let (Some(copied), Some(node)) = (copied, node_mut(&mut tree, 1 + to.index(nodes.max(2) - 1)))
                    && size(&copied) < 20_000
                {
                    *node = copied;
                }
            }
        }
    }
    tree
}

/// One file replaced by the given bytes; every other file from the disk.
struct Mutated {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl FileSystem for Mutated {
    fn read(&self, path: &Path) -> Result<String, String> {
        if path == self.path { String::from_utf8(self.bytes.clone()).map_err(|e| e.to_string()) } else { RealFs.read(path) }
    }

    fn read_bytes(&self, path: &Path, limit: usize) -> Result<Vec<u8>, String> {
        if path == self.path { Ok(self.bytes.iter().copied().take(limit.saturating_add(1)).collect()) } else { RealFs.read_bytes(path, limit) }
    }
}

fn profile() -> impl Strategy<Value = Option<Profile>> {
    prop_oneof![2 => Just(None), 1 => Just(Some(Profile::Dali)), 1 => Just(Some(Profile::Uws)), 1 => Just(Some(Profile::Soda))]
}

/// Load → profile → lower → emit, rendering every diagnostic (with and without colour). A panic
/// anywhere fails the property; `Ok` and diagnostics both pass. Whether the spec was accepted.
fn run(path: &Path, bytes: Vec<u8>, profile: Option<Profile>) -> bool {
    let options = ivoagen::Options {
        crate_name: "fuzzed".into(),
        runtime: ivoagen::RuntimeDependency::Path("../runtime".into()),
        command: "ivoagen generate spec.yaml -o .".into(),
        ci: false,
    };
    let fs = Mutated { path: path.to_path_buf(), bytes };
    match ivoagen::analyse_with(&fs, path, profile) {
        Ok((api, diagnostics, sources)) => {
            for (i, d) in diagnostics.iter().enumerate() {
                let _ = d.render(&sources, i % 2 == 0);
            }
            match ivoagen::render(&api, diagnostics, sources, &options) {
                Ok(_) => true,
                Err(failure) => {
                    // Emitting may refuse a spec, but only with a diagnostic that renders.
                    assert!(!failure.diagnostics.is_empty());
                    for d in &failure.diagnostics {
                        let _ = d.render(&failure.sources, false);
                    }
                    false
                }
            }
        }
        Err(failure) => {
            assert!(!failure.diagnostics.is_empty(), "a failure without a diagnostic");
            for d in &failure.diagnostics {
                let _ = d.render(&failure.sources, false);
            }
            false
        }
    }
}

proptest! {
    #![proptest_config(config(4_000))]

    #[test]
    fn mutated_spec_bytes_never_panic(
        file in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
        profile in profile(),
    ) {
        let (path, text) = file.get(corpus());
        run(path, mutate(text, &mutations), profile);
    }
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn mutated_spec_trees_never_panic(
        file in any::<Index>(),
        mutations in prop::collection::vec(tree_mutation(), 1..4),
        pretty in any::<bool>(),
        profile in profile(),
    ) {
        let (path, tree) = file.get(trees());
        let tree = mutate_tree(tree, &mutations);
        let text = if pretty { serde_json::to_vec_pretty(&tree) } else { serde_json::to_vec(&tree) };
        run(path, text.map_err(|e| TestCaseError::fail(e.to_string()))?, profile);
    }
}

/// Every corpus file unchanged (some are parts of a spec, not specs): none panics, and enough
/// of them generate that the mutated ones start from working specs.
#[test]
fn the_corpus_itself_never_panics() {
    let accepted = corpus().iter().filter(|(path, text)| run(path, text.clone(), None)).count();
    eprintln!("{accepted} of {} corpus files generate; {} are OpenAPI documents", corpus().len(), trees().len());
    assert!(accepted >= 20, "only {accepted} of {} corpus files generate", corpus().len());
    assert!(trees().len() >= accepted, "{} OpenAPI trees, {accepted} generated", trees().len());
}

// Inputs fuzzing found (also in `tests/hostile.rs`, through the binary), kept as named cases.

/// `%` before a multibyte character in a `$ref` (`#/components/schemas/%aé`) sliced a string
/// inside a character.
#[test]
fn a_percent_sign_before_a_multibyte_character_in_a_ref() {
    let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n    A: {$ref: '#/components/schemas/%aé'}\n";
    assert!(!run(Path::new("percent.yaml"), spec.as_bytes().to_vec(), None));
}

/// A date-time example with a multibyte character across byte 10 (`2020-01-0éT00:00:00Z`)
/// sliced a string inside a character in the example check.
#[test]
fn a_date_time_example_with_a_character_across_byte_10() {
    let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n    A: {type: string, format: date-time, example: '2020-01-0éT00:00:00Z'}\n";
    run(Path::new("date-time.yaml"), spec.as_bytes().to_vec(), None);
}
