//! Nothing a spec sends takes the generator down: each input here once made `ivoagen` panic,
//! overflow its stack, run for minutes, eat gigabytes or read files it had no business reading.
//! Each runs through the real binary and must end with an exit code and a located diagnostic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn ivoagen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ivoagen")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("ivoagen runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A fresh directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `ivoagen` and checks it exited with `code`, not a panic or a signal.
fn expect(args: &[&str], code: i32) -> String {
    let out = ivoagen(args);
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    assert_eq!(out.status.code(), Some(code), "{args:?}:\n{stderr}");
    stderr
}

fn generate(spec: &str, name: &str) -> (String, Duration) {
    let dir = scratch(name);
    let started = Instant::now();
    let stderr = expect(&["generate", spec, "-o", dir.to_str().unwrap(), "--runtime-path", "../runtime"], 0);
    (stderr, started.elapsed())
}

const HEAD: &str = r##"{"openapi":"3.1.0","info":{"title":"Hostile","version":"1"},"paths":{"/x":{"get":{"operationId":"x","responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/S0"}}}}}}}},"components":{"schemas":{"##;

/// A minified JSON spec (one line) whose schemas are `entries` after 2,000 padding schemas.
fn minified(dir: &Path, entries: &str) -> PathBuf {
    let padding: Vec<String> = (0..2000).map(|i| format!(r#""P{i}":{{"type":"string","description":"{}"}}"#, "x".repeat(50))).collect();
    let path = dir.join("wide.json");
    std::fs::write(&path, format!("{HEAD}{},{entries}}}}}}}", padding.join(","))).unwrap();
    path
}

#[test]
fn a_diagnostic_past_column_65535_is_rendered_at_its_line_and_column() {
    let dir = scratch("wide");
    let path = minified(&dir, r##""S0":{"$ref":"#/components/schemas/Nope"}"##);
    let written = std::fs::read_to_string(&path).unwrap();
    let col = written.find(r##""#/components/schemas/Nope""##).unwrap() + 1;
    assert!(col > 65_535 && written.len() > 64 * 1024);
    let stderr = expect(&["validate", path.to_str().unwrap()], 2);
    let location = format!("{}:1:{col}: error[ivoagen::load::dangling-ref]", path.display());
    assert!(stderr.starts_with(&location), "expected {location}:\n{stderr}");
    assert!(stderr.contains(r##"│ …"##) && stderr.contains("╰── this reference"), "{stderr}");
    assert!(stderr.len() < 2_000, "the snippet is a window, not the line:\n{stderr}");

    // A warning (a schema named after a prelude constructor) on the same kind of line.
    let path = minified(&dir, r#""S0":{"type":"string"},"Ok":{"type":"object","properties":{"a":{"type":"string"}}}"#);
    let stderr = expect(&["validate", path.to_str().unwrap()], 0);
    assert!(stderr.contains("warning[ivoagen::lower::type-name]"), "{stderr}");
    assert!(stderr.contains(&format!("{}:1:", path.display())), "{stderr}");
}

#[test]
fn non_finite_bounds_are_located_errors() {
    for (file, shown) in [("maximum-1e400.yaml", "1e400"), ("maximum-inf.yaml", ".inf"), ("maximum-nan.yaml", ".nan")] {
        let spec = format!("tests/hostile/{file}");
        let stderr = expect(&["generate", &spec, "-o", scratch("inf").to_str().unwrap()], 2);
        let location = format!("{spec}:10:43: error[ivoagen::load::not-finite]: `{shown}` is not a finite number");
        assert!(stderr.starts_with(&location), "expected {location}:\n{stderr}");
    }
}

#[test]
fn an_empty_array_example_with_item_constraints_generates() {
    let (stderr, _) = generate("tests/hostile/empty-array-example.yaml", "empty-example");
    assert!(stderr.contains("written"), "{stderr}");
    let tests = std::fs::read_to_string(scratch_path("empty-example").join("tests/api.rs")).unwrap();
    assert!(tests.contains("x_rejects_an_item_of_tag_breaking_max_length"), "{tests}");
    assert!(tests.contains("x_rejects_tag_breaking_max_items"), "{tests}");
}

fn scratch_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("hostile-{name}"))
}

/// A JSON spec of `n` schemas: `S{i}` refers to `S{i+1}` (directly, or through a required
/// property), the last a string; `reversed` writes them last first.
fn chain(dir: &Path, n: usize, through_property: bool, reversed: bool) -> PathBuf {
    let mut schemas: Vec<String> = (0..n)
        .map(|i| {
            let to = format!(r##"{{"$ref":"#/components/schemas/S{}"}}"##, i + 1);
            if through_property {
                format!(r#""S{i}":{{"type":"object","required":["next"],"properties":{{"next":{to}}}}}"#)
            } else {
                format!(r#""S{i}":{to}"#)
            }
        })
        .collect();
    schemas.push(format!(r#""S{n}":{{"type":"string"}}"#));
    if reversed {
        schemas.reverse();
    }
    let path = dir.join(format!("chain-{n}-{through_property}-{reversed}.json"));
    std::fs::write(&path, format!("{HEAD}\n{}\n}}}}}}\n", schemas.join(",\n"))).unwrap();
    path
}

#[test]
fn long_reference_chains_take_linear_time() {
    let dir = scratch("chains");
    let mut times = Vec::new();
    for n in [2_000, 4_000] {
        let spec = chain(&dir, n, false, false);
        let (_, took) = generate(spec.to_str().unwrap(), &format!("chain-{n}"));
        eprintln!("a chain of {n} references: {took:?}");
        times.push(took);
        assert!(took < Duration::from_secs(30), "a chain of {n} references took {took:?}");
    }
}

#[test]
fn schemas_nested_4000_deep_are_refused_not_a_stack_overflow() {
    let dir = scratch("nested");
    let spec = chain(&dir, 4_000, true, false);
    let stderr = expect(&["validate", spec.to_str().unwrap()], 2);
    assert!(stderr.contains("error[ivoagen::lower::too-deep]: schemas nest more than 128 deep here"), "{stderr}");
    assert!(stderr.contains(&format!("{}:", spec.display())), "located: {stderr}");

    // The same types written leaf first are lowered one level at a time: accepted, quickly.
    let spec = chain(&dir, 4_000, true, true);
    let started = Instant::now();
    let stderr = expect(&["validate", spec.to_str().unwrap()], 0);
    assert!(stderr.contains("4001 type(s)") || stderr.contains("4000 type(s)"), "{stderr}");
    eprintln!("4,000 nested types, leaf first: {:?}", started.elapsed());
}

#[test]
fn an_alias_bomb_is_stopped_at_the_alias_limit() {
    let started = Instant::now();
    let stderr = expect(&["validate", "tests/hostile/alias-bomb.yaml"], 2);
    assert!(stderr.starts_with("tests/hostile/alias-bomb.yaml:9:29: error[ivoagen::load::alias-limit]"), "{stderr}");
    assert!(stderr.contains("help:"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn deep_nesting_is_a_located_error() {
    let dir = scratch("deep");
    let path = dir.join("deep.json");
    std::fs::write(&path, format!(r#"{{"openapi":"3.1.0","x":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000))).unwrap();
    // The YAML scanner stops flow collections (`[`, `{`) at its own limit, located too.
    let stderr = expect(&["validate", path.to_str().unwrap()], 2);
    assert!(stderr.starts_with(&format!("{}:1:278: error[ivoagen::load::syntax]", path.display())), "{stderr}");
    assert!(stderr.contains("recursion limit exceeded"), "{stderr}");

    // Block mappings: the loader's limit.
    let path = dir.join("deep.yaml");
    let nested: String = (0..300).map(|depth| format!("{}a:\n", "  ".repeat(depth))).collect();
    std::fs::write(&path, format!("openapi: 3.1.0\ninfo: {{title: T, version: '1'}}\npaths: {{}}\nx:\n{}", nested.lines().map(|l| format!("  {l}\n")).collect::<String>())).unwrap();
    let stderr = expect(&["validate", path.to_str().unwrap()], 2);
    assert!(stderr.contains("error[ivoagen::load::too-deep]: mappings and sequences nest more than 256 deep here"), "{stderr}");
    assert!(stderr.starts_with(&format!("{}:260:", path.display())), "{stderr}");
}

#[test]
fn references_stay_in_the_spec_folder() {
    // An absolute path: refused, not read, nothing of it shown.
    let stderr = expect(&["generate", "tests/hostile/absolute-ref.yaml", "-o", scratch("etc").to_str().unwrap()], 2);
    assert!(stderr.starts_with("tests/hostile/absolute-ref.yaml:12:30: error[ivoagen::load::ref-outside]"), "{stderr}");
    assert!(!stderr.contains("/etc/passwd:") && !stderr.contains("root:"), "{stderr}");
    assert!(stderr.contains("--allow-ref-dir"), "{stderr}");

    // `../`: refused by every command, unless the folder is allowed.
    let spec = "tests/hostile/escape/root.yaml";
    for args in [vec!["validate", spec], vec!["augment", spec, "--profile", "dali"]] {
        let out = ivoagen(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("error[ivoagen::load::ref-outside]"), "{}", text(&out.stderr));
        assert!(!text(&out.stdout).contains("SECRET-CONTENT") && !text(&out.stderr).contains("SECRET-CONTENT"));
    }
    expect(&["validate", spec, "--allow-ref-dir", "tests/hostile/shared"], 0);
    let out = ivoagen(&["augment", spec, "--profile", "dali", "--allow-ref-dir", "tests/hostile/shared"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("SECRET-CONTENT"), "allowed: bundled");
    generate_allowed(spec);
    // Another folder is not enough.
    expect(&["validate", spec, "--allow-ref-dir", "tests/features"], 2);
}

#[test]
fn a_symbolic_link_does_not_lead_out_of_the_spec_folder() {
    use std::os::unix::fs::symlink;
    let dir = scratch("symlink");
    let (spec_dir, outside) = (dir.join("spec"), dir.join("outside"));
    std::fs::create_dir_all(spec_dir.join("parts")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.yaml"), "Thing:\n  type: string\n  description: SECRET-CONTENT\n").unwrap();
    std::fs::write(spec_dir.join("parts/thing.yaml"), "Thing:\n  type: string\n").unwrap();
    // A link to a file outside, a link to a folder outside, and a link that stays inside.
    symlink(outside.join("secret.yaml"), spec_dir.join("file-link.yaml")).unwrap();
    symlink(&outside, spec_dir.join("folder-link")).unwrap();
    symlink(spec_dir.join("parts/thing.yaml"), spec_dir.join("inside-link.yaml")).unwrap();
    let spec = |refs: &[&str]| {
        let mut text = String::from("openapi: 3.1.0\ninfo: {title: Links, version: '1'}\npaths: {}\ncomponents:\n  schemas:\n");
        for (i, r) in refs.iter().enumerate() {
            text.push_str(&format!("    S{i}: {{$ref: '{r}#/Thing'}}\n"));
        }
        let path = spec_dir.join("openapi.yaml");
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };

    let path = spec(&["file-link.yaml", "folder-link/secret.yaml", "inside-link.yaml"]);
    for args in [vec!["validate", path.as_str()], vec!["augment", path.as_str(), "--profile", "dali"]] {
        let out = ivoagen(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        // Each link out, at its reference; the link that stays inside is followed.
        assert!(stderr.starts_with(&format!("{path}:6:16: error[ivoagen::load::ref-outside]")), "{stderr}");
        assert!(stderr.contains(&format!("{path}:7:16: error[ivoagen::load::ref-outside]")), "{stderr}");
        assert_eq!(stderr.matches("error[").count(), 2, "{stderr}");
        assert!(!stderr.contains("SECRET-CONTENT") && !text(&out.stdout).contains("SECRET-CONTENT"), "{stderr}");
    }
    expect(&["validate", &spec(&["inside-link.yaml", "parts/thing.yaml"])], 0);
    // The folder the links lead to, allowed: followed.
    let path = spec(&["file-link.yaml", "folder-link/secret.yaml"]);
    expect(&["validate", &path, "--allow-ref-dir", outside.to_str().unwrap()], 0);
}

/// Generates with the folder allowed; the recorded command allows it too (relative to the
/// crate), so `--check` from the crate's directory passes.
fn generate_allowed(spec: &str) {
    let dir = scratch("allowed");
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime");
    expect(&["generate", spec, "-o", dir.to_str().unwrap(), "--runtime-path", runtime.to_str().unwrap(), "--allow-ref-dir", "tests/hostile/shared"], 0);
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    let command = lib.lines().find_map(|l| l.split("ivoagen generate ").nth(1)).expect("the header names the command");
    assert!(command.contains("--allow-ref-dir"), "{command}");
    let mut args: Vec<&str> = vec!["generate"];
    args.extend(command.trim_end_matches("`.").split(' '));
    args.push("--check");
    let out = Command::new(env!("CARGO_BIN_EXE_ivoagen")).args(&args).current_dir(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
}

#[test]
fn a_byte_order_mark_is_accepted_and_invalid_utf8_is_located() {
    let stderr = expect(&["validate", "tests/hostile/bom.yaml"], 0);
    assert!(stderr.contains("1 operation(s)"), "{stderr}");
    let stderr = expect(&["validate", "tests/hostile/not-utf8.yaml"], 2);
    assert!(stderr.starts_with("tests/hostile/not-utf8.yaml:2:17: error[ivoagen::load::not-utf8]"), "{stderr}");
}

#[test]
fn a_file_over_64_mib_is_refused() {
    let dir = scratch("large");
    let path = dir.join("large.yaml");
    let mut text = String::from("openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths: {}\nx: '");
    text.push_str(&"x".repeat(64 << 20));
    text.push_str("'\n");
    std::fs::write(&path, text).unwrap();
    let stderr = expect(&["validate", path.to_str().unwrap()], 2);
    assert!(stderr.contains("error[ivoagen::load::too-large]"), "{stderr}");
    assert!(stderr.contains("67108864 bytes"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A root spec whose response schema is `f0.yaml#/S`, and `n` files `f{i}.yaml` whose `S` refers
/// to the next file's `S` through `through` (`{next}` standing for the reference).
fn file_chain(dir: &Path, n: usize, through: &str) -> PathBuf {
    std::fs::write(
        dir.join("root.yaml"),
        "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n  /x:\n    get:\n      operationId: x\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'f0.yaml#/S'}\n",
    )
    .unwrap();
    for i in 0..n {
        let next = format!("{{$ref: 'f{}.yaml#/S'}}", i + 1);
        let text = if i + 1 < n { format!("S:\n{}\n", through.replace("{next}", &next)) } else { "S: {type: string}\n".to_owned() };
        std::fs::write(dir.join(format!("f{i}.yaml")), text).unwrap();
    }
    dir.join("root.yaml")
}

#[test]
fn bundling_other_files_is_bounded() {
    // 3,000 files, each referring to the next: bundling nested that deep overflowed the stack.
    let dir = scratch("file-chain");
    let root = file_chain(&dir, 3_000, "  type: object\n  properties:\n    next: {next}");
    for command in ["validate", "augment"] {
        let mut args = vec![command, root.to_str().unwrap()];
        if command == "augment" {
            args.extend(["--profile", "dali"]);
        }
        let stderr = expect(&args, 2);
        assert!(stderr.contains("error[ivoagen::load::bundle-limit]: bundling the files this reference leads to nests more than 512 deep"), "{stderr}");
    }
    // 30 files, each referring to the next twice: 2^30 copies once bundled.
    let dir = scratch("file-bomb");
    let root = file_chain(&dir, 30, "  type: array\n  prefixItems: [{next}, {next}]");
    let started = Instant::now();
    let stderr = expect(&["validate", root.to_str().unwrap()], 2);
    assert!(stderr.contains("error[ivoagen::load::bundle-limit]: bundling copies more than 2000000 nodes from other files"), "{stderr}");
    eprintln!("the file bomb was stopped in {:?}", started.elapsed());
}

#[test]
fn a_percent_sign_before_a_multibyte_character_is_no_escape() {
    let stderr = expect(&["validate", "tests/hostile/percent-escape.yaml"], 2);
    assert!(stderr.starts_with("tests/hostile/percent-escape.yaml:6:15: error[ivoagen::load::dangling-ref]"), "{stderr}");
}

#[test]
fn a_date_time_example_with_a_character_across_byte_10_is_checked_not_a_panic() {
    let (stderr, _) = generate("tests/hostile/date-time-example.yaml", "date-time");
    assert!(stderr.contains("written"), "{stderr}");
}
