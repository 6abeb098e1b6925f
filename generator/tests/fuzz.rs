//! A bounded fuzz run as an ordinary test: the specs of this repository, mutated (bytes flipped,
//! ranges cut or repeated, hostile tokens inserted), through the loader, lowering and emitting.
//! Every case must end in `Ok` or diagnostics, never a panic. Deterministic (a fixed seed, or
//! `IVOAGEN_FUZZ_SEED`); `IVOAGEN_FUZZ_CASES` sets the number of cases (default 1,500), and the
//! run also stops after `IVOAGEN_FUZZ_SECONDS` (default 20).

use ivoagen::load::{FileSystem, RealFs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
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

fn mutate(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
    let mut out = text.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        let at = rng.below(len + 1);
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(200)).min(len);
                out.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(400)).min(len);
                let copy = out[at..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, copy);
            }
            3 => out.truncate(at),
            4 => {
                // A token at the start of a line, indented like the line before.
                let line_start = out[..at].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let indent = out[line_start..].iter().take_while(|&&b| b == b' ').count();
                let token = format!("{}{}\n", " ".repeat(indent), TOKENS[rng.below(TOKENS.len())]);
                out.splice(line_start..line_start, token.into_bytes());
            }
            5 if len > 0 => out.insert(at, [0xff, 0xc3, 0x80, 0x00, b'\t'][rng.below(5)]),
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.bytes());
            }
        }
    }
    out
}

/// The mutated root file; every other file from the disk.
struct Mutated {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl FileSystem for Mutated {
    fn read(&self, path: &Path) -> Result<String, String> {
        if path == self.path {
            String::from_utf8(self.bytes.clone()).map_err(|e| e.to_string())
        } else {
            RealFs.read(path)
        }
    }

    fn read_bytes(&self, path: &Path, limit: usize) -> Result<Vec<u8>, String> {
        if path == self.path { Ok(self.bytes.iter().copied().take(limit.saturating_add(1)).collect()) } else { RealFs.read_bytes(path, limit) }
    }
}

fn seeds() -> Vec<(PathBuf, Vec<u8>)> {
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
    out
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn mutated_specs_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 10, "the seeds are the repository's specs: {}", seeds.len());
    let seed = env_number("IVOAGEN_FUZZ_SEED", 0x1f0a_9e11);
    let cases = env_number("IVOAGEN_FUZZ_CASES", 1_500);
    let budget = Duration::from_secs(env_number("IVOAGEN_FUZZ_SECONDS", 20));
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    let options = ivoagen::Options {
        crate_name: "fuzzed".into(),
        runtime: ivoagen::RuntimeDependency::Path("../runtime".into()),
        command: "ivoagen generate spec.yaml -o .".into(),
        ci: false,
    };
    let (mut run, mut accepted, mut generated) = (0, 0, 0);
    while run < cases && started.elapsed() < budget {
        let (path, text) = &seeds[rng.below(seeds.len())];
        let fs = Mutated { path: path.clone(), bytes: mutate(&mut rng, text) };
        let case = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match ivoagen::analyse(&fs, path) {
                Ok((api, diagnostics, sources)) => {
                    // Every diagnostic renders (with and without colour).
                    for d in &diagnostics {
                        let _ = d.render(&sources, run % 2 == 0);
                    }
                    (true, ivoagen::render(&api, diagnostics, sources, &options).is_ok())
                }
                Err(failure) => {
                    for d in &failure.diagnostics {
                        let _ = d.render(&failure.sources, false);
                    }
                    (false, false)
                }
            }
        }));
        match case {
            Ok((ok, emitted)) => {
                accepted += usize::from(ok);
                generated += usize::from(emitted);
            }
            Err(_) => {
                let dump = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crash.yaml");
                std::fs::write(&dump, &fs.bytes).unwrap();
                panic!("case {run} (seed {seed:#x}, from {}) panicked; the input is in {}", path.display(), dump.display());
            }
        }
        run += 1;
    }
    eprintln!("{run} mutated specs in {:?}: {accepted} accepted, {generated} generated", started.elapsed());
    assert!(run >= 100, "too few cases ran: {run}");
}
