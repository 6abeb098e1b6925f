//! Rendered diagnostics for broken specs, pinned by snapshots: what people read when a spec is
//! wrong must say where (file:line:col), what, and what to do.

use ivoagen::load::RealFs;
use std::path::Path;

fn render(spec: &str) -> String {
    let path = Path::new("tests/broken").join(spec);
    match ivoagen::analyse(&RealFs, &path) {
        Ok(_) => panic!("{spec} should not be accepted"),
        Err(failure) => {
            assert!(failure.diagnostics.iter().any(|d| d.is_error()), "{spec}: no error among {:?}", failure.diagnostics);
            failure.diagnostics.iter().map(|d| d.render(&failure.sources, false)).collect::<Vec<_>>().join("\n")
        }
    }
}

macro_rules! broken {
    ($($name:ident => $file:literal, $location:literal;)*) => {$(
        #[test]
        fn $name() {
            let rendered = render($file);
            assert!(rendered.starts_with($location), "expected a diagnostic at {}, got:\n{rendered}", $location);
            insta::assert_snapshot!(stringify!($name), rendered);
        }
    )*};
}

broken! {
    bad_yaml => "bad-yaml.yaml", "tests/broken/bad-yaml.yaml:11:";
    dangling_ref => "dangling-ref.yaml", "tests/broken/dangling-ref.yaml:14:23";
    missing_file => "missing-file.yaml", "tests/broken/missing-file.yaml:7:11";
    duplicate_operation_id => "duplicate-operation-id.yaml", "tests/broken/duplicate-operation-id.yaml:13:20";
    unknown_type => "unknown-type.yaml", "tests/broken/unknown-type.yaml:12:17";
    required_cycle => "required-cycle.yaml", "tests/broken/required-cycle.yaml:";
    ref_cycle => "ref-cycle.yaml", "tests/broken/ref-cycle.yaml:";
    not_openapi => "not-openapi.yaml", "tests/broken/not-openapi.yaml:1:1";
    bad_version => "bad-version.yaml", "tests/broken/bad-version.yaml:1:10";
    unenforced_security => "unenforced-security.yaml", "tests/broken/unenforced-security.yaml:13:15: warning";
    security_requirement => "security-requirement.yaml", "tests/broken/security-requirement.yaml:7:18";
}

/// An operation whose every requirement needs a scheme the runtime cannot read would be served
/// to anyone: it is refused, at its `security`, rather than generated without authentication.
#[test]
fn an_operation_only_an_unenforced_scheme_protects_is_refused() {
    let failure = ivoagen::analyse(&RealFs, Path::new("tests/broken/unenforced-security.yaml")).expect_err("must be refused");
    let errors: Vec<(&str, String)> = failure.diagnostics.iter().filter(|d| d.is_error()).map(|d| (d.code, d.location(&failure.sources))).collect();
    assert_eq!(errors, [("ivoagen::lower::security-unsupported", "tests/broken/unenforced-security.yaml:7:17".to_owned())]);
}

#[test]
fn swagger_2_is_refused_in_one_line() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/oai/v2.0/petstore.yaml");
    let failure = ivoagen::analyse(&RealFs, &path).expect_err("Swagger 2.0 must be refused");
    let [d] = failure.diagnostics.as_slice() else { panic!("one diagnostic expected: {:?}", failure.diagnostics) };
    assert_eq!(d.code, "ivoagen::load::swagger2");
    assert_eq!(d.message, "Swagger 2.0 documents are not supported");
    assert!(d.help.as_deref().is_some_and(|h| h.contains("OpenAPI 3")));
}

#[test]
fn missing_files_of_the_tap_draft_are_each_named() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/ivoa/tap-pr/openapi.yaml");
    let failure = ivoagen::analyse(&RealFs, &path).expect_err("the TAP draft refers to files it lacks");
    let missing: Vec<&str> = failure.diagnostics.iter().filter(|d| d.code == "ivoagen::load::missing-file").map(|d| d.message.as_str()).collect();
    assert!(missing.len() >= 2, "{missing:?}");
    assert!(missing.iter().any(|m| m.contains("include/UWS/")), "{missing:?}");
    assert!(missing.iter().any(|m| m.contains("include/VOSI/")), "{missing:?}");
    assert!(failure.diagnostics.iter().all(|d| d.span.is_some()), "every missing file is located");
}

/// Names that collide are renamed, each with a warning at its operationId (or schema) saying to
/// what and why; the spec is accepted (`tests/golden/collisions` proves that its crate builds).
#[test]
fn colliding_names_are_renamed_with_a_warning_each() {
    let path = Path::new("tests/features/collisions.yaml");
    let (api, diagnostics, sources) = ivoagen::analyse(&RealFs, path).expect("collisions are resolved, not refused");
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let renamed: Vec<&str> = diagnostics.iter().filter(|d| d.code == "ivoagen::lower::operation-name").map(|d| d.message.as_str()).collect();
    assert_eq!(renamed.len(), 9, "{renamed:#?}");
    let names: Vec<(&str, &str)> = api.operations.iter().map(|op| (op.api_name.as_str(), op.name.as_str())).collect();
    for expected in [("links", "links"), ("linksRequest", "links_request_2"), ("router", "router_2"), ("Api", "api"), ("submitJob", "submit_job_2")] {
        assert!(names.contains(&expected), "{expected:?} in {names:?}");
    }
    let models: Vec<(&str, &str)> = api.types.iter().map(|t| (t.api_name.rsplit('/').next().unwrap_or_default(), t.name.as_str())).collect();
    for expected in [("LinksRequest", "LinksRequest2"), ("Result", "Result2"), ("Option", "Option2"), ("Api", "Api2"), ("Service", "Service"), ("Ok", "Ok2")] {
        assert!(models.contains(&expected), "{expected:?} in {models:?}");
    }
    let retyped = diagnostics.iter().filter(|d| d.code == "ivoagen::lower::type-name").count();
    assert_eq!(retyped, 9, "LinksRequest, Result, Option, Box, Vec, String, Api, Default, Ok");
    let rendered = diagnostics.iter().filter(|d| d.code.starts_with("ivoagen::lower::operation-name") || d.code == "ivoagen::lower::type-name").map(|d| d.render(&sources, false)).collect::<Vec<_>>().join("\n");
    insta::assert_snapshot!("colliding_names", rendered);
}
