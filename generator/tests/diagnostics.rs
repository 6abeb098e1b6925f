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

/// Every diagnostic of the spec at `path`, whether it was refused or generated with warnings,
/// with the files read.
fn diagnose(path: &Path) -> (Vec<ivoagen::diagnostics::Diagnostic>, ivoagen::source::SourceMap) {
    match ivoagen::analyse(&RealFs, path) {
        Ok((_, diagnostics, sources)) => (diagnostics, sources),
        Err(failure) => (failure.diagnostics, failure.sources),
    }
}

/// One minimal spec per diagnostic code: the code is reported at the place given (the first
/// diagnostic of that code), and everything reported is pinned by a snapshot.
macro_rules! diagnosed {
    ($($name:ident => $file:literal, $code:literal at $location:literal;)*) => {$(
        #[test]
        fn $name() {
            let (diagnostics, sources) = diagnose(Path::new($file));
            let found = diagnostics.iter().find(|d| d.code == $code).unwrap_or_else(|| panic!("no {} among {diagnostics:?}", $code));
            assert_eq!(found.location(&sources), $location);
            let rendered = diagnostics.iter().map(|d| d.render(&sources, false)).collect::<Vec<_>>().join("\n");
            insta::assert_snapshot!(stringify!($name), rendered);
        }
    )*};
}

diagnosed! {
    unreadable_spec => "tests/broken/absent.yaml", "ivoagen::load::read" at "";
    empty_file => "tests/broken/empty.yaml", "ivoagen::load::empty" at "tests/broken/empty.yaml:1:1";
    swagger_2 => "../tests/corpus/oai/v2.0/petstore.yaml", "ivoagen::load::swagger2" at "../tests/corpus/oai/v2.0/petstore.yaml:1:10";
    not_a_mapping => "tests/broken/not-a-mapping.yaml", "ivoagen::load::not-a-mapping" at "tests/broken/not-a-mapping.yaml:1:1";
    not_utf8 => "tests/hostile/not-utf8.yaml", "ivoagen::load::not-utf8" at "tests/hostile/not-utf8.yaml:2:17";
    not_finite => "tests/hostile/maximum-1e400.yaml", "ivoagen::load::not-finite" at "tests/hostile/maximum-1e400.yaml:10:43";
    alias_limit => "tests/hostile/alias-bomb.yaml", "ivoagen::load::alias-limit" at "tests/hostile/alias-bomb.yaml:9:29";
    bad_ref => "tests/broken/bad-ref.yaml", "ivoagen::load::bad-ref" at "tests/broken/bad-ref.yaml:6:16";
    remote_ref => "tests/broken/remote-ref.yaml", "ivoagen::load::remote-ref" at "tests/broken/remote-ref.yaml:6:16";
    ref_outside => "tests/hostile/absolute-ref.yaml", "ivoagen::load::ref-outside" at "tests/hostile/absolute-ref.yaml:12:30";
    unknown_error_format => "tests/broken/error-format.yaml", "ivoagen::ivoa::error-format" at "tests/broken/error-format.yaml:3:22";
    incomplete_uws => "tests/broken/uws.yaml", "ivoagen::ivoa::uws" at "tests/broken/uws.yaml:3:15";
    bad_groups => "tests/broken/groups.yaml", "ivoagen::ivoa::groups" at "tests/broken/groups.yaml:7:31";
    groups_let_anonymous_callers_in => "tests/broken/groups-anonymous.yaml", "ivoagen::ivoa::groups-anonymous" at "tests/broken/groups-anonymous.yaml:8:22";
    unknown_vosi => "tests/broken/vosi.yaml", "ivoagen::ivoa::vosi" at "tests/broken/vosi.yaml:7:20";
    unknown_xtype => "tests/broken/xtype.yaml", "ivoagen::ivoa::xtype" at "tests/broken/xtype.yaml:8:49";
    allof_cycle => "tests/broken/allof-cycle.yaml", "ivoagen::lower::allof-cycle" at "tests/broken/allof-cycle.yaml:8:11";
    allof_union => "tests/broken/allof-union.yaml", "ivoagen::lower::allof-union" at "tests/broken/allof-union.yaml:8:13";
    body_media => "tests/broken/body-media.yaml", "ivoagen::lower::body-media" at "tests/broken/body-media.yaml:9:11";
    discriminator => "tests/broken/discriminator.yaml", "ivoagen::lower::discriminator" at "tests/broken/discriminator.yaml:10:7";
    form_body => "tests/broken/form-body.yaml", "ivoagen::lower::form-body" at "tests/broken/form-body.yaml:9:11";
    multi_type => "tests/broken/multi-type.yaml", "ivoagen::lower::multi-type" at "tests/broken/multi-type.yaml:9:18";
    param_in => "tests/broken/param-in.yaml", "ivoagen::lower::param-in" at "tests/broken/param-in.yaml:8:32";
    param_style => "tests/broken/param-style.yaml", "ivoagen::lower::param-style" at "tests/broken/param-style.yaml:8:11";
    bad_path => "tests/broken/path.yaml", "ivoagen::lower::path" at "tests/broken/path.yaml:4:3";
    path_param => "tests/broken/path-param.yaml", "ivoagen::lower::path-param" at "tests/broken/path-param.yaml:8:13";
    unchecked_pattern => "tests/broken/pattern.yaml", "ivoagen::lower::pattern" at "tests/broken/pattern.yaml:8:69";
    bad_status => "tests/broken/status.yaml", "ivoagen::lower::status" at "tests/broken/status.yaml:8:9";
    xml_body => "tests/broken/xml-body.yaml", "ivoagen::lower::xml-body" at "tests/broken/xml-body.yaml:9:11";
    unknown_standard => "tests/broken/standard.yaml", "ivoagen::ivoa::standard" at "tests/broken/standard.yaml:3:18";
    explicit_post_beside_dali_sync => "tests/broken/explicit-post.yaml", "ivoagen::ivoa::explicit-post" at "tests/broken/explicit-post.yaml:9:5";
    no_resource_for_the_standard => "tests/broken/no-resource.yaml", "ivoagen::ivoa::no-resource" at "tests/broken/no-resource.yaml:4:1";
    job_list_taken_over => "tests/broken/job-list.yaml", "ivoagen::ivoa::job-list" at "tests/broken/job-list.yaml:9:3";
    repaired_post => "tests/broken/repaired.yaml", "ivoagen::ivoa::repaired" at "tests/broken/repaired.yaml:11:5";
    no_job_list_for_tap => "tests/broken/no-jobs.yaml", "ivoagen::ivoa::no-jobs" at "tests/broken/no-jobs.yaml:4:1";
    sync_post_beside_dali_sync => "tests/broken/sync-post.yaml", "ivoagen::ivoa::sync-post" at "tests/broken/sync-post.yaml:9:5";
    vosi_head_left_out => "tests/features/standards.yaml", "ivoagen::ivoa::vosi-head" at "tests/features/standards.yaml:49:5";
    unroutable_paths_left_out => "tests/features/standards.yaml", "ivoagen::lower::unroutable" at "tests/features/standards.yaml:53:3";
    profile_disagrees => "tests/broken/profile-disagrees.yaml", "ivoagen::ivoa::profile-disagrees" at "tests/broken/profile-disagrees.yaml:9:59";
}

/// Codes no spec can make ivoagen report, each with why: they mean a bug in ivoagen.
const NOT_FROM_A_SPEC: &[(&str, &str)] = &[
    ("ivoagen::emit::internal", "emitting produced Rust that does not parse"),
    ("ivoagen::lower::failed", "lowering gave up without saying why"),
];

/// Every code the generator can report, from its sources: each `"ivoagen::phase::name"` string.
fn codes_in(dir: &Path, out: &mut std::collections::BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("the sources are readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            codes_in(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("the source is UTF-8");
            for (start, _) in text.match_indices("\"ivoagen::") {
                let rest = &text[start + 1..];
                let code = &rest[..rest.find('"').unwrap_or(rest.len())];
                if code.split("::").count() == 3 && code.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '-') {
                    out.insert(code.to_owned());
                }
            }
        }
    }
}

/// A new diagnostic code must come with a test that makes ivoagen report it: a case here (or
/// a snapshot of one), or, for inputs too large to keep in the repository, `hostile.rs`.
#[test]
fn every_diagnostic_code_is_asserted_by_a_test() {
    let mut codes = std::collections::BTreeSet::new();
    codes_in(Path::new("src"), &mut codes);
    assert!(codes.contains("ivoagen::load::syntax") && codes.contains("ivoagen::lower::type-name"), "{codes:?}");
    for (code, _) in NOT_FROM_A_SPEC {
        assert!(codes.remove(*code), "{code} is no longer a code: remove it from NOT_FROM_A_SPEC");
    }
    let this = include_str!("diagnostics.rs");
    let hostile = include_str!("hostile.rs");
    let snapshots: Vec<String> = std::fs::read_dir("tests/snapshots")
        .expect("the snapshots are readable")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("diagnostics__")))
        .map(|p| std::fs::read_to_string(p).expect("a snapshot is UTF-8"))
        .collect();
    let missing: Vec<&String> = codes
        .iter()
        .filter(|code| {
            let shown = format!("[{code}]");
            !this.contains(&format!("\"{code}\" at")) && !hostile.contains(&shown) && !snapshots.iter().any(|s| s.contains(&shown))
        })
        .collect();
    assert!(missing.is_empty(), "no test makes ivoagen report {missing:?}: add a minimal spec to `diagnosed!`");
}
