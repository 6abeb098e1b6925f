//! Every OpenAPI 3.0/3.1 document of the outside corpus generates a crate that builds with
//! `cargo clippy -- -D warnings` and whose generated tests pass.

use ivoagen_e2e::{cargo, root, work_dir};

/// Documents generated as they are.
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

/// Plain documents generated with an IVOA profile.
const WITH_PROFILE: &[(&str, ivoagen::augment::Profile)] = &[("ivoa/dali-service.yaml", ivoagen::augment::Profile::Dali)];

fn crate_name(spec: &str) -> String {
    let stem = spec.trim_end_matches(".yaml").replace(['/', '.'], "-").replace("--", "-");
    format!("corpus-{}", stem.replace("v3-0", "v30").replace("v3-1", "v31"))
}

#[test]
fn the_corpus_generates_crates_that_build_clippy_clean_and_pass_their_tests() {
    let dir = work_dir().join("corpus");
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = root().join("runtime");
    let mut members = Vec::new();
    let all = CORPUS.iter().map(|s| (*s, None)).chain(WITH_PROFILE.iter().map(|(s, p)| (*s, Some(*p))));
    for (spec, profile) in all {
        let name = crate_name(spec);
        let options = ivoagen::Options {
            crate_name: name.clone(),
            runtime: ivoagen::RuntimeDependency::Path(runtime.to_string_lossy().into_owned()),
            command: format!("ivoagen generate tests/corpus/{spec}"),
        };
        let path = root().join("tests/corpus").join(spec);
        let generated = ivoagen::analyse_with(&ivoagen::load::RealFs, &path, profile)
            .and_then(|(api, diagnostics, sources)| ivoagen::render(&api, diagnostics, sources, &options))
            .unwrap_or_else(|failure| {
            let text: String = failure.diagnostics.iter().map(|d| d.render(&failure.sources, false)).collect();
            panic!("{spec} does not generate:\n{text}")
        });
        ivoagen::write::write(&dir.join(&name), &generated.files).expect("write");
        members.push(format!("\"{name}\""));
    }
    std::fs::write(dir.join("Cargo.toml"), format!("[workspace]\nresolver = \"3\"\nmembers = [{}]\n", members.join(", "))).unwrap();

    let clippy = cargo(&dir).args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]).output().unwrap();
    assert!(clippy.status.success(), "clippy failed:\n{}", String::from_utf8_lossy(&clippy.stderr));

    let test = cargo(&dir).args(["test", "--workspace", "--quiet"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "generated tests failed:\n{stdout}\n{}", String::from_utf8_lossy(&test.stderr));
    // Each crate's generated `tests/api.rs` ran and passed something.
    let passed: u64 = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(passed >= 2 * (CORPUS.len() + WITH_PROFILE.len()) as u64, "only {passed} generated tests ran:\n{stdout}");
}
