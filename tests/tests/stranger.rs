//! ivoagen as a stranger uses it: installed with `cargo install --locked` into a root of its own,
//! run on specs in a folder outside this repository **with no flags**, and every crate it writes
//! built on its own (clippy-clean, tests passing), offline, with nothing of this repository but
//! what the installed binary carries.
//!
//! Every crate shares one target directory, so the registry's crates compile once; each crate's
//! copy of the runtime compiles once per crate.

use ivoagen_e2e::{cargo, install_ivoagen, root, target_dir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The corpus: real OpenAPI documents nobody here wrote (provenance in tests/corpus/PROVENANCE.md).
const CORPUS: &[&str] = &[
    "oai/v3.0/api-with-examples.yaml",
    "oai/v3.0/callback-example.yaml",
    "oai/v3.0/link-example.yaml",
    "oai/v3.0/petstore-expanded.yaml",
    "oai/v3.0/petstore.yaml",
    "oai/v3.0/uspto.yaml",
    "oai/v3.1/non-oauth-scopes.yaml",
    "oai/v3.1/tictactoe.yaml",
    "oai/v3.1/webhook-example.yaml",
    "museum/openapi.yaml",
];

/// `ivoagen`, installed once per test run with `cargo install --locked` into its own root.
fn ivoagen() -> &'static Path {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(|| install_ivoagen("install"))
}

/// A folder outside the repository (and outside any Cargo workspace), empty; a test removes it
/// when it passes, and leaves it for a look when it fails.
fn outside(name: &str) -> PathBuf {
    // One folder per test, side by side: tests run at once, so none may remove a shared parent.
    let dir = std::env::temp_dir().join(format!("ivoagen-stranger-{}-{name}", std::process::id()));
    passed(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    dir
}

/// Removes a passed test's folder.
fn passed(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn run(dir: &Path, program: &Path, args: &[&str]) -> Output {
    Command::new(program).args(args).current_dir(dir).output().unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn succeeds(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed ({}):\n{}\n{}", out.status, text(&out.stdout), text(&out.stderr));
}

#[test]
fn every_corpus_spec_generates_without_flags_a_crate_that_builds_alone_clippy_clean_offline_and_passes_its_tests() {
    let ivoagen = ivoagen();
    let dir = outside("corpus");
    let mut ran = 0u64;
    for (i, spec) in CORPUS.iter().enumerate() {
        // The stranger's own spec, in their own folder.
        let folder = dir.join(format!("service-{i}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(root().join("tests/corpus").join(spec), folder.join("openapi.yaml")).unwrap();
        succeeds(&format!("ivoagen generate {spec}"), &run(&folder, ivoagen, &["generate", "openapi.yaml", "-o", "server"]));
        let server = folder.join("server");
        assert!(server.join("ivoagen-runtime/src/lib.rs").is_file(), "{spec}: the runtime is written beside the crate");

        let clippy = cargo(&server).args(["clippy", "--offline", "--quiet", "--all-targets", "--", "-D", "warnings"]).output().unwrap();
        succeeds(&format!("{spec}: cargo clippy"), &clippy);
        let test = cargo(&server).args(["test", "--offline", "--quiet"]).output().unwrap();
        succeeds(&format!("{spec}: cargo test"), &test);
        let passed: u64 = text(&test.stdout).lines().filter_map(|l| l.strip_prefix("test result: ok. ")).filter_map(|l| l.split(' ').next()?.parse::<u64>().ok()).sum();
        assert!(passed >= 1, "{spec}: no generated test ran:\n{}", text(&test.stdout));
        ran += passed;

        // Building resolved nothing new: the lock ivoagen wrote holds every version the crate needed.
        let lock = std::fs::read_to_string(server.join("Cargo.lock")).unwrap();
        assert!(lock.contains("name = \"ivoagen-runtime\""), "{spec}: {lock}");
        // A fresh crate is fresh for the CI script it carries.
        let check = Command::new("sh").arg(server.join("ci/ivoagen-check.sh")).env("IVOAGEN", ivoagen).current_dir(&dir).output().unwrap();
        succeeds(&format!("{spec}: ci/ivoagen-check.sh"), &check);
    }
    assert!(ran >= 2 * CORPUS.len() as u64, "only {ran} generated tests ran in {} crates", CORPUS.len());
    eprintln!("{} crates built alone, {ran} generated tests passed", CORPUS.len());
    passed(&dir);
}

#[test]
fn a_profiled_spec_builds_the_same_way() {
    let ivoagen = ivoagen();
    let dir = outside("profile");
    // The spec and the files it refers to.
    copy_tree(&root().join("tests/corpus/ivoa"), &dir.join("specs"), &[]);
    succeeds("generate --profile dali", &run(&dir, ivoagen, &["generate", "specs/dali-service.yaml", "-o", "svc", "--profile", "dali"]));
    let svc = dir.join("svc");
    succeeds("clippy", &cargo(&svc).args(["clippy", "--offline", "--quiet", "--all-targets", "--", "-D", "warnings"]).output().unwrap());
    succeeds("test", &cargo(&svc).args(["test", "--offline", "--quiet"]).output().unwrap());
    // The CI script regenerates with the same profile.
    let check = Command::new("sh").arg("ci/ivoagen-check.sh").env("IVOAGEN", ivoagen).current_dir(&svc).output().unwrap();
    succeeds("ci/ivoagen-check.sh", &check);
    assert!(std::fs::read_to_string(svc.join("ci/ivoagen-check.sh")).unwrap().contains("--profile dali --check"));
    passed(&dir);
}

#[test]
fn a_crate_generated_inside_another_workspace_builds() {
    let ivoagen = ivoagen();
    let dir = outside("workspace");
    // Someone's workspace, with a member of its own.
    std::fs::write(dir.join("Cargo.toml"), "[workspace]\nresolver = \"3\"\nmembers = [\"tools\"]\n").unwrap();
    std::fs::create_dir_all(dir.join("tools/src")).unwrap();
    std::fs::write(dir.join("tools/Cargo.toml"), "[package]\nname = \"tools\"\nversion = \"0.1.0\"\nedition = \"2021\"\n").unwrap();
    std::fs::write(dir.join("tools/src/lib.rs"), "//! Tools.\n").unwrap();
    std::fs::create_dir_all(dir.join("services")).unwrap();
    std::fs::copy(root().join("tests/corpus/oai/v3.0/petstore.yaml"), dir.join("services/petstore.yaml")).unwrap();
    succeeds("generate", &run(&dir.join("services"), ivoagen, &["generate", "petstore.yaml", "-o", "petstore"]));
    succeeds("cargo build in the generated crate", &cargo(&dir.join("services/petstore")).args(["build", "--offline", "--quiet"]).output().unwrap());
    succeeds("cargo build in the enclosing workspace", &cargo(&dir).args(["build", "--offline", "--quiet"]).output().unwrap());
    passed(&dir);
}

#[test]
fn the_dockerfile_build_runs_in_the_crate_directory_alone() {
    let ivoagen = ivoagen();
    let dir = outside("docker");
    std::fs::copy(root().join("tests/corpus/oai/v3.0/petstore-expanded.yaml"), dir.join("spec.yaml")).unwrap();
    succeeds("generate", &run(&dir, ivoagen, &["generate", "spec.yaml", "-o", "svc"]));
    let dockerfile = std::fs::read_to_string(dir.join("svc/Dockerfile")).unwrap();
    assert!(dockerfile.contains("docker build -t swagger-petstore ."), "the Dockerfile names its build command:\n{dockerfile}");

    // What `COPY . .` puts in the build stage: the crate directory, without what .dockerignore lists.
    let ignored: Vec<String> = std::fs::read_to_string(dir.join("svc/.dockerignore")).unwrap().lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).map(|l| l.trim_end_matches('/').to_owned()).collect();
    let context = dir.join("build-stage/src");
    copy_tree(&dir.join("svc"), &context, &ignored);
    // Each RUN step, as written, in that directory (only the target directory is shared, to save
    // compiling the registry's crates again; the copy is where `cargo build` resolves everything).
    let runs: Vec<&str> = dockerfile.lines().filter_map(|l| l.strip_prefix("RUN ")).collect();
    assert!(!runs.is_empty(), "{dockerfile}");
    for step in runs {
        let out = Command::new("sh").args(["-c", step]).current_dir(&context).env("CARGO_TARGET_DIR", target_dir()).env("CARGO_NET_OFFLINE", "true").env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0").output().unwrap();
        succeeds(&format!("RUN {step}"), &out);
    }
    // The binary the final stage copies runs.
    assert!(dockerfile.contains("COPY --from=build /src/target/release/swagger-petstore "), "{dockerfile}");
    let binary = target_dir().join("release/swagger-petstore");
    let version = run(&dir, &binary, &["--version"]);
    succeeds("the built server", &version);
    assert_eq!(text(&version.stdout).trim(), "swagger-petstore 0.1.0");
    passed(&dir);
}

/// The TAP PR's own description (an unmerged branch of the TAP standard), with stand-ins for the
/// `include/` files upstream lacks, under `--profile tap`: a crate that builds clippy-clean and
/// passes its tests, `/async` the runtime's job list rather than stubs.
#[test]
fn the_tap_prs_description_builds_under_the_tap_profile() {
    let ivoagen = ivoagen();
    let dir = outside("tap-pr");
    copy_tree(&root().join("tests/corpus/ivoa/tap-pr"), &dir, &[]);
    copy_tree(&root().join("tests/corpus/ivoa/tap-pr-includes"), &dir, &[]);
    let generated = run(&dir, ivoagen, &["generate", "openapi.yaml", "-o", "tap-pr-server", "--profile", "tap"]);
    succeeds("generate --profile tap", &generated);
    assert!(text(&generated.stderr).contains("ivoagen::ivoa::repaired"), "the bodiless POST /sync is served as DALI-sync, said:\n{}", text(&generated.stderr));
    let svc = dir.join("tap-pr-server");
    let api = std::fs::read_to_string(svc.join("src/api.rs")).unwrap();
    assert!(api.contains("fn get_sync_job(") && !api.contains("fn post_async("), "the job list is the runtime's:\n{api}");
    succeeds("clippy", &cargo(&svc).args(["clippy", "--offline", "--quiet", "--all-targets", "--", "-D", "warnings"]).output().unwrap());
    let test = cargo(&svc).args(["test", "--offline", "--quiet"]).output().unwrap();
    succeeds("test", &test);
    let ran: u64 = text(&test.stdout).lines().filter_map(|l| l.strip_prefix("test result: ok. ")).filter_map(|l| l.split(' ').next()?.parse::<u64>().ok()).sum();
    assert!(ran >= 10, "{ran} generated tests ran:\n{}", text(&test.stdout));
    passed(&dir);
}

fn copy_tree(from: &Path, to: &Path, ignored: &[String]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if ignored.contains(&name) {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to.join(&name), ignored);
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}
