//! `ivoagen init` for each data-access standard, as a stranger uses it: the installed CLI, a
//! folder outside the repository, and the generated servers, built once in the shared target
//! directory and run with their stubs, answering real clients: pyvo's `SCSService`,
//! `SIA2Service`, `SSAService`, `DatalinkResults` and `TAPService` (sync and async), and STILTS
//! (`votlint` on every VOTable sent, errors included; `datalinklint` on the DataLink service;
//! `cone` on the cone search; `taplint` on the TAP service).

use ivoagen_e2e::{Server, cargo, http, install_ivoagen, python, root, target_dir, work_dir};
use ivoagen_runtime::codegen::serde_json;
use std::process::{Command, Output};

/// The templates, with the package name each crate gets (distinct from every other test's, as the
/// target directory is shared).
const SERVICES: &[(&str, &str)] = &[("scs", "init-scs"), ("sia", "init-sia"), ("ssa", "init-ssa"), ("datalink", "init-datalink"), ("tap", "init-tap")];

/// The taplint stages the TAP template passes whole: tables metadata (schema and content),
/// capabilities (schema, TAP and TAPRegExt content), availability, sync GET and POST queries,
/// async queries and UWS behaviour. The template has no database, so neither TAP_SCHEMA (TMS,
/// TMC, MDQ, which reads TAP_SCHEMA's metadata), nor uploads, examples or ObsCore/ObsLocTAP.
const TAPLINT_STAGES: &str = "TMV TME CPV CAP AVV QGE QPO QAS UWS";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn succeeds(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed ({}):\n{}\n{}", out.status, text(&out.stdout), text(&out.stderr));
}

/// `stilts TASK ARGS…`; its output (STILTS reports on standard output).
fn stilts(args: &[&str]) -> String {
    let out = Command::new("stilts").args(args).output().expect("stilts is installed (cargo xtask ci installs the Debian package)");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stilts {args:?} failed:\n{all}");
    all
}

/// The lines of a votlint report that are errors.
fn errors(report: &str) -> Vec<&str> {
    report.lines().filter(|l| l.starts_with("ERROR")).collect()
}

/// Sends `GET target` and checks the answer is a VOTable votlint finds no error in.
fn votlint(server: &Server, target: &str, status: u16, name: &str) -> String {
    let response = http(&server.addr, "GET", target, &[], b"");
    assert_eq!(response.status, status, "{target}: {}", response.text());
    let file = work_dir().join(format!("standards-{name}.vot"));
    std::fs::write(&file, &response.body).expect("target/e2e is writable");
    let report = stilts(&["votlint", &format!("votable={}", file.display()), "ucd=true", "unit=true"]);
    assert!(errors(&report).is_empty(), "{target}: votlint errors:\n{report}\n{}", response.text());
    response.text()
}

#[test]
fn every_init_template_builds_serves_and_answers_pyvo_and_stilts() {
    let ivoagen = install_ivoagen("install-standards");
    let dir = std::env::temp_dir().join(format!("ivoagen-standards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
    for (service, package) in SERVICES {
        let out = Command::new(&ivoagen).args(["init", "--service", service, package]).current_dir(&dir).output().expect("ivoagen runs");
        succeeds(&format!("ivoagen init --service {service}"), &out);
        assert!(text(&out.stderr).contains("cargo run"), "init says what to do next:\n{}", text(&out.stderr));
    }
    // The crates, one after the other into one target directory: the registry's crates compile once.
    let started = std::time::Instant::now();
    for (_, package) in SERVICES {
        succeeds(&format!("{package}: cargo build"), &cargo(&dir.join(package)).args(["build", "--offline", "--quiet"]).output().expect("cargo runs"));
    }
    eprintln!("the {} init crates built in {:.0?}", SERVICES.len(), started.elapsed());

    for (service, package) in SERVICES {
        // Each server's data (the TAP job store) in a folder of its own, not the test's working directory.
        let data = dir.join(format!("{package}-data"));
        let server = Server::start(&target_dir().join("debug").join(package), &["--data-dir", data.to_str().expect("a UTF-8 path")]);
        let base = format!("http://{}/{service}", server.addr);
        let out = Command::new(python()).arg(root().join("tests/pyvo/standards.py")).args([service, &base.as_str()]).output().expect("python runs");
        succeeds(&format!("pyvo on {service}"), &out);
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{service}: {e}: {}", text(&out.stdout)));
        assert!(found["rows"].as_u64().is_some_and(|rows| rows >= 1), "{service}: no rows: {found}");
        let prefix = format!("/{service}");
        match *service {
            "scs" => {
                assert_eq!(found["ids"], serde_json::json!(["M31", "M32"]), "the two sample objects within 0.5°");
                votlint(&server, &format!("{prefix}/search?RA=10.68&DEC=41.27&SR=0.5"), 200, "scs");
                votlint(&server, &format!("{prefix}/search?RA=10.68&DEC=41.27&SR=0"), 200, "scs-metadata");
                let error = votlint(&server, &format!("{prefix}/search?RA=10.68&DEC=91&SR=0.5"), 400, "scs-error");
                assert!(error.contains(r#"<INFO name="Error" value="UsageError: "#), "SCS 1.03 §2 item 3: {error}");
                let caps = http(&server.addr, "GET", &format!("{prefix}/capabilities"), &[], b"").text();
                assert!(caps.contains(r#"standardID="ivo://ivoa.net/std/ConeSearch" xmlns:cs="http://www.ivoa.net/xml/ConeSearch/v1.0" xsi:type="cs:ConeSearch">"#), "the service's extension: {caps}");
                let compact: String = caps.lines().map(str::trim).collect();
                assert!(compact.contains("</interface><maxSR>180</maxSR><maxRecords>3</maxRecords><verbosity>false</verbosity><testQuery><ra>10.68</ra>"), "in SimpleDALRegExt's order: {caps}");
                let cone = stilts(&["cone", &format!("serviceurl={base}/search?"), "lon=10.68", "lat=41.27", "radius=0.5", "ofmt=csv"]);
                assert!(cone.contains("M31") && cone.contains("M32") && !cone.contains("M110"), "stilts cone:\n{cone}");
            }
            "sia" => {
                assert_eq!(found["dataproduct_type"], serde_json::json!(["image"]), "{found}");
                votlint(&server, &format!("{prefix}/query?POS=CIRCLE+10.68+41.27+0.5"), 200, "sia");
                votlint(&server, &format!("{prefix}/query?MAXREC=0"), 200, "sia-metadata");
                let error = votlint(&server, &format!("{prefix}/query?POS=CIRCLE+10.68+41.27"), 400, "sia-error");
                assert!(error.contains("QUERY_STATUS"), "{error}");
                let post = http(&server.addr, "POST", &format!("{prefix}/query"), &[("content-type", "application/x-www-form-urlencoded")], b"POS=CIRCLE+10.68+41.27+0.5");
                assert_eq!(post.status, 200, "SIA 2.0's query resource is DALI-sync: {}", post.text());
            }
            "ssa" => {
                assert_eq!(found["titles"], serde_json::json!(["Sample spectrum of M31"]), "{found}");
                let answer = votlint(&server, &format!("{prefix}/query?REQUEST=queryData&POS=10.68,41.27&SIZE=0.1&BAND=1E-7/3E-6&TIME=1998-05-21/1999-01-01"), 200, "ssa");
                assert!(answer.contains(r#"<INFO name="SERVICE_PROTOCOL" value="1.1">SSAP</INFO>"#), "{answer}");
                votlint(&server, &format!("{prefix}/query?request=QUERYDATA&BAND=V"), 200, "ssa-band-name");
                votlint(&server, &format!("{prefix}/query?REQUEST=queryData&POS=CIRCLE+10+41+1"), 400, "ssa-error");
            }
            "datalink" => {
                assert_eq!(found["this"], serde_json::json!(["https://example.org/data/sample-1.fits"]), "{found}");
                assert!(found["errors"][0].as_str().is_some_and(|e| e.starts_with("NotFoundFault")), "{found}");
                let links = votlint(&server, &format!("{prefix}/links?ID=ivo%3A%2F%2Fexample.org%2Fdata%3Fsample-1"), 200, "datalink");
                assert!(links.contains(r#"<INFO name="standardID" value="ivo://ivoa.net/std/DataLink#links-1.1"/>"#), "{links}");
                votlint(&server, &format!("{prefix}/links?RESPONSEFORMAT=text/csv"), 400, "datalink-error");
                let report = stilts(&["datalinklint", &format!("votable={base}/links?ID=ivo%3A%2F%2Fexample.org%2Fdata%3Fsample-1")]);
                assert!(report.contains("Totals: Errors: 0;") && report.contains("Failures: 0"), "datalinklint:\n{report}");
            }
            "tap" => {
                assert_eq!(found["sync_columns"], serde_json::json!(["id", "alpha"]), "columns named as the query says: {found}");
                assert_eq!(found["sync_ids"], serde_json::json!(["M31", "M32"]), "{found}");
                assert_eq!(found["async_ids"], serde_json::json!(["M31"]), "MAXREC=1 in an async job: {found}");
                assert_eq!(found["async_overflow"], true, "TAP 1.1 §4.4: {found}");
                assert_eq!(found["failed_phase"], "ERROR", "{found}");
                assert!(found["failed_error"].as_str().is_some_and(|e| e.contains("UsageError: this sample service answers only")), "the job's VOTable error document, read by pyvo: {found}");
                assert_eq!(found["tables"], serde_json::json!(["sample.objects"]), "{found}");
                // Multipart file parts reach the service as files, named by UPLOAD's param:PART,
                // in a sync request and in an async job (kept with the job, read when it runs).
                assert_eq!(
                    found["fits"],
                    serde_json::json!({"content_type": "application/fits", "columns": ["id", "delta"], "ids": ["M31", "M32", "M110"], "delta": [41.269, 40.8652, 41.6853], "unit": "deg"}),
                    "RESPONSEFORMAT=fits: a FITS binary table, read by astropy: {found}"
                );
                assert_eq!(found["uploaded_sync"], serde_json::json!(["A", "B", "C"]), "{found}");
                assert_eq!(found["uploaded_async"], serde_json::json!([1.5, 2.5, 3.5]), "{found}");
                assert_eq!(found["uploaded_big"], serde_json::json!([200000, 19999900000u64]), "a large upload, whole: {found}");
                let multipart = |upload: &str, part: &str| {
                    let body = format!("--B\r\nContent-Disposition: form-data; name=\"LANG\"\r\n\r\nADQL\r\n--B\r\nContent-Disposition: form-data; name=\"QUERY\"\r\n\r\nSELECT * FROM TAP_UPLOAD.t\r\n--B\r\nContent-Disposition: form-data; name=\"UPLOAD\"\r\n\r\n{upload}\r\n--B\r\nContent-Disposition: form-data; name=\"{part}\"; filename=\"t.vot\"\r\nContent-Type: application/x-votable+xml\r\n\r\n<VOTABLE/>\r\n--B--\r\n");
                    body.into_bytes()
                };
                let form = [("content-type", "multipart/form-data; boundary=B")];
                let missing = http(&server.addr, "POST", &format!("{prefix}/sync"), &form, &multipart("t,param:other", "t"));
                assert_eq!(missing.status, 400, "{}", missing.text());
                assert!(missing.text().contains("UsageError: UPLOAD `t,param:other`: the request has no file part `other`"), "{}", missing.text());
                let escaping = http(&server.addr, "POST", &format!("{prefix}/async"), &form, &multipart("t,param:../t", "../t"));
                assert_eq!(escaping.status, 400, "a part name a job cannot keep: {}", escaping.text());
                assert_eq!(found["languages"], serde_json::json!(["ADQL"]), "TAPRegExt, read by pyvo: {found}");
                // RESPONSEFORMAT (and FORMAT) choose among the declared media types.
                let query = "LANG=ADQL&QUERY=SELECT+id,ra+FROM+sample.objects";
                for (format, media, first_line) in [("csv", "text/csv", "id,ra"), ("text/csv", "text/csv", "id,ra"), ("tsv", "text/tab-separated-values", "id\tra")] {
                    for name in ["RESPONSEFORMAT", "format"] {
                        let answer = http(&server.addr, "GET", &format!("{prefix}/sync?{query}&{name}={format}"), &[], b"");
                        assert_eq!((answer.status, answer.header("content-type")), (200, Some(media)), "{name}={format}: {}", answer.text());
                        assert!(answer.text().starts_with(&format!("{first_line}\r\nM31")), "{name}={format}: {}", answer.text());
                    }
                }
                let votable = votlint(&server, &format!("{prefix}/sync?{query}&RESPONSEFORMAT=votable&MAXREC=2"), 200, "tap");
                assert!(votable.contains(r#"<INFO name="QUERY_STATUS" value="OVERFLOW"/>"#), "{votable}");
                let refused = votlint(&server, &format!("{prefix}/sync?{query}&RESPONSEFORMAT=html"), 400, "tap-format");
                assert!(refused.contains("UsageError: RESPONSEFORMAT `html` is not offered"), "{refused}");
                let post = http(&server.addr, "POST", &format!("{prefix}/sync"), &[("content-type", "application/x-www-form-urlencoded")], query.as_bytes());
                assert_eq!(post.status, 200, "TAP's sync resource is DALI-sync: {}", post.text());
                // The job list speaks VOTable too (TAP 1.1 §3.3): an unknown job.
                let missing = http(&server.addr, "GET", &format!("{prefix}/async/nosuchjob"), &[], b"");
                assert_eq!((missing.status, missing.header("content-type")), (404, Some("application/x-votable+xml")), "{}", missing.text());
                // The capability's access URL is the service's base (TAP 1.1 §2.4), interface 1.1.
                let caps = http(&server.addr, "GET", &format!("{prefix}/capabilities"), &[], b"").text();
                assert!(caps.contains(r#"<interface xsi:type="vs:ParamHTTP" role="std" version="1.1">"#) && caps.contains(&format!("<accessURL use=\"full\">{base}</accessURL>")), "{caps}");
                let report = stilts(&["taplint", &format!("tapurl={base}"), &format!("stages={TAPLINT_STAGES}"), "maxrepeat=20"]);
                let summary = report.lines().find(|l| l.starts_with("Totals:")).unwrap_or_default();
                assert!(summary.starts_with("Totals: Errors: 0;") && summary.contains("Failures: 0"), "taplint:\n{report}");
            }
            _ => unreachable!("the services are listed above"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
