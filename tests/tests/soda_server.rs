//! The bundled SODA server as a real process on a real socket: VOSI documents that validate
//! against the official schemas, SODA error labels and statuses, case-insensitive names, GET and
//! POST alike, and the public URL used behind a proxy.

use ivoagen_e2e::{Server, built, http, root, soda_error, xsd_validate};
use std::path::PathBuf;

fn binary() -> PathBuf {
    built("soda-cutout-server")
}

/// Starts the server with its own data directory, holding the sample datasets.
fn start(name: &str, args: &[&str]) -> Server {
    let data = root().join("target/e2e/data").join(name);
    let _ = std::fs::remove_dir_all(&data);
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    Server::start(&binary(), &all)
}

#[test]
fn vosi_documents_validate_and_name_every_endpoint() {
    let server = start("vosi", &[]);
    let caps = http(&server.addr, "GET", "/soda/capabilities", &[], b"");
    assert_eq!(caps.status, 200);
    assert_eq!(caps.header("content-type"), Some("application/xml"));
    let text = caps.text();
    xsd_validate("capabilities-wrapper.xsd", "capabilities.xml", &text);
    for (id, path) in [
        ("ivo://ivoa.net/std/SODA#sync-1.0", "/soda/sync"),
        ("ivo://ivoa.net/std/SODA#async-1.0", "/soda/async"),
        ("ivo://ivoa.net/std/VOSI#capabilities", "/soda/capabilities"),
        ("ivo://ivoa.net/std/VOSI#availability", "/soda/availability"),
        ("ivo://ivoa.net/std/DataLink#links-1.1", "/soda/links"),
    ] {
        assert!(text.contains(&format!("standardID=\"{id}\"")), "{text}");
        assert!(text.contains(&format!("http://{}{path}</accessURL>", server.addr)), "{text}");
    }
    let head = http(&server.addr, "HEAD", "/soda/capabilities", &[], b"");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let availability = http(&server.addr, "GET", "/soda/availability", &[], b"");
    assert_eq!(availability.status, 200);
    xsd_validate("VOSIAvailability-v1.0.xsd", "availability.xml", &availability.text());
    assert!(availability.text().contains("<vosi:available>true</vosi:available>"), "{}", availability.text());
    assert!(availability.text().contains("<vosi:upSince>"), "{}", availability.text());
}

#[test]
fn availability_says_when_the_data_cannot_be_read() {
    let server = start("availability-down", &[]);
    let data = root().join("target/e2e/data/availability-down");
    std::fs::remove_dir_all(&data).unwrap();
    let availability = http(&server.addr, "GET", "/soda/availability", &[], b"");
    assert_eq!(availability.status, 200, "VOSI answers 200 either way: the document says which");
    let text = availability.text();
    xsd_validate("VOSIAvailability-v1.0.xsd", "availability-down.xml", &text);
    assert!(text.contains("<vosi:available>false</vosi:available>"), "{text}");
    assert!(text.contains("<vosi:note>the data directory cannot be read: "), "{text}");
    // The service comes back with its data.
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    let text = http(&server.addr, "GET", "/soda/availability", &[], b"").text();
    assert!(text.contains("<vosi:available>true</vosi:available>"), "{text}");
}

#[test]
fn capabilities_use_the_public_url_behind_a_proxy() {
    let server = start("public-url", &["--public-url", "https://archive.example.org/soda"]);
    let text = http(&server.addr, "GET", "/soda/capabilities", &[], b"").text();
    assert!(text.contains("<accessURL use=\"full\">https://archive.example.org/soda/sync</accessURL>"), "{text}");
}

#[test]
fn sync_errors_carry_the_soda_labels() {
    let server = start("sync-errors", &[]);
    // A bad value, whatever the case of its name, in GET and in POST.
    soda_error(&http(&server.addr, "GET", "/soda/sync?ID=x&CIRCLE=12%2034%200", &[], b""), 400, "UsageError");
    soda_error(&http(&server.addr, "GET", "/soda/sync?id=x&cIrClE=12%2095%201", &[], b""), 400, "UsageError");
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    soda_error(&http(&server.addr, "POST", "/soda/sync", &form, b"Id=x&band=5+4"), 400, "UsageError");
    // A single-valued parameter given twice, across query and body too.
    soda_error(&http(&server.addr, "GET", "/soda/sync?ID=a&id=b", &[], b""), 400, "MultiValuedParamNotSupported");
    soda_error(&http(&server.addr, "POST", "/soda/sync?ID=a", &form, b"ID=b"), 400, "MultiValuedParamNotSupported");
    // ID is required; unknown parameters are ignored.
    soda_error(&http(&server.addr, "GET", "/soda/sync?CIRCLE=12%2034%200.5&FOO=bar", &[], b""), 400, "UsageError");
    // POL may repeat.
    let pol = http(&server.addr, "GET", "/soda/sync?ID=a&POL=I&pol=Q", &[], b"");
    assert_ne!(pol.status, 400, "{}", pol.text());
    // A content type the endpoint does not read.
    let json = http(&server.addr, "POST", "/soda/sync", &[("Content-Type", "application/json")], b"{}");
    assert_eq!(json.status, 415, "{}", json.text());
}

/// Runs the server with `args` and `env`, expecting it to refuse to start: its exit status and
/// its stderr.
fn refused(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = std::process::Command::new(binary())
        .args(args)
        .args(["--bind", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .output()
        .expect("the server runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn start_up_failures_are_one_line_and_a_failing_exit() {
    let data = root().join("target/e2e/data/start-up");
    let _ = std::fs::remove_dir_all(&data);
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    let data = data.to_str().unwrap();
    // The token file, read once by the authenticator the service provides.
    let missing = root().join("target/e2e/data/start-up/no-such-tokens");
    let (code, stderr) = refused(&["--data-dir", data, "--auth-tokens", missing.to_str().unwrap()], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("soda-cutout-server: --auth-tokens: "), "{stderr}");
    assert!(stderr.contains("no-such-tokens"), "{stderr}");
    // The service's own `Service::new`.
    let (code, stderr) = refused(&["--data-dir", data], &[("SODA_OPEN_DATASETS", "many")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr, "soda-cutout-server: cannot start the service: SODA_OPEN_DATASETS=`many` is not a positive number\n");
    // The service's own flag, offered by --help and checked by the service.
    let help = std::process::Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--async-results <each|combined>") && help.contains("[env: SODA_ASYNC_RESULTS]"), "{help}");
    let (code, stderr) = refused(&["--data-dir", data, "--async-results", "merged"], &[]);
    assert_eq!((code, stderr.as_str()), (Some(1), "soda-cutout-server: cannot start the service: --async-results: `merged` is not each or combined\n"));
}

#[test]
fn the_openapi_document_is_served() {
    let server = start("openapi", &[]);
    let doc = http(&server.addr, "GET", "/soda/openapi.json", &[], b"");
    assert_eq!(doc.status, 200);
    assert!(doc.text().contains("\"title\": \"SODA cutout service\""), "{}", doc.text());
}

#[test]
fn async_jobs_run_on_the_uws_engine() {
    let server = start("async", &[]);
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    // A bad parameter is refused at creation, as the sync operation would refuse it.
    soda_error(&http(&server.addr, "POST", "/soda/async", &form, b"ID=m31&CIRCLE=1+2+0"), 400, "UsageError");
    let created = http(&server.addr, "POST", "/soda/async?PHASE=RUN", &form, b"id=m31&circle=10+20+0.5");
    assert_eq!(created.status, 303, "{}", created.text());
    let job_url = created.header("location").unwrap().to_owned();
    assert!(job_url.starts_with(&format!("http://{}/soda/async/", server.addr)), "{job_url}");
    let path = job_url.trim_start_matches(&format!("http://{}", server.addr)).to_owned();
    let mut job = String::new();
    for _ in 0..30 {
        job = http(&server.addr, "GET", &format!("{path}?WAIT=-1"), &[], b"").text();
        if !job.contains("<uws:phase>QUEUED</uws:phase>") && !job.contains("<uws:phase>EXECUTING</uws:phase>") {
            break;
        }
    }
    xsd_validate("UWS-v1.1.xsd", "async-job.xml", &job);
    // The parameters as the description names them, however the client spelt them.
    assert!(job.contains(r#"<uws:parameter id="ID">m31</uws:parameter>"#) && job.contains(r#"<uws:parameter id="CIRCLE">10 20 0.5</uws:parameter>"#), "{job}");
    // No dataset is called m31: the job completes with one text/plain result saying so (SODA §3.1).
    assert!(job.contains("<uws:phase>COMPLETED</uws:phase>"), "{job}");
    let result = http(&server.addr, "GET", &format!("{path}/results/cutout-1.txt"), &[], b"");
    assert_eq!(result.status, 200);
    assert_eq!(result.header("content-type"), Some("text/plain"));
    assert!(result.text().starts_with("Error: no dataset has ID `m31`"), "{}", result.text());
    // A job whose parameters the service refuses fails, with its error document served with 200.
    // (RESPONSEFORMAT is checked at creation, as the description's pattern says; 11 BANDs × 100
    // TIMEs make more cutouts than a job makes, which only the service knows.)
    let many = (0..11).map(|b| format!("&BAND={b}e-7+{}e-7", b + 1)).chain((0..100).map(|t| format!("&TIME={t}+{}", t + 1))).collect::<String>();
    let created = http(&server.addr, "POST", "/soda/async?PHASE=RUN", &form, format!("ID=sample-image{many}").as_bytes());
    let failed = created.header("location").unwrap().trim_start_matches(&format!("http://{}", server.addr)).to_owned();
    let job = http(&server.addr, "GET", &format!("{failed}?WAIT=30&PHASE=QUEUED"), &[], b"").text();
    let job = if job.contains(">EXECUTING<") { http(&server.addr, "GET", &format!("{failed}?WAIT=30&PHASE=EXECUTING"), &[], b"").text() } else { job };
    assert!(job.contains("<uws:phase>ERROR</uws:phase>") && job.contains("1100 cutouts"), "{job}");
    let error = http(&server.addr, "GET", &format!("{failed}/error"), &[], b"");
    assert_eq!(error.status, 200, "a failed job's error document is served with 200");
    let list = http(&server.addr, "GET", "/soda/async", &[], b"");
    xsd_validate("UWS-v1.1.xsd", "async-jobs.xml", &list.text());
    assert!(list.text().contains(&format!("xlink:href=\"{job_url}\"")), "{}", list.text());
    assert_eq!(http(&server.addr, "DELETE", &path, &[], b"").status, 303);
    assert_eq!(http(&server.addr, "GET", &path, &[], b"").status, 404);
}

#[test]
fn pyvo_drives_the_uws_job_cycle() {
    let python = root().join("target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask ci`, which creates the venv with pyvo", python.display());
    let server = start("pyvo", &[]);
    let out = std::process::Command::new(python)
        .arg(root().join("tests/pyvo/uws_cycle.py"))
        .arg(format!("http://{}/soda/async", server.addr))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pyvo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("parse_job ok") && stdout.contains("deleted"), "{stdout}");
}

#[test]
fn a_thousand_concurrent_job_creations_over_http() {
    let server = start("many-jobs", &[]);
    let addr = server.addr.clone();
    let threads: Vec<_> = (0..50)
        .map(|t| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|i| {
                        let body = format!("ID=m{t}-{i}&RUNID=r{t}-{i}");
                        let r = http(&addr, "POST", "/soda/async", &[("Content-Type", "application/x-www-form-urlencoded")], body.as_bytes());
                        assert_eq!(r.status, 303, "{}", r.text());
                        r.header("location").unwrap().to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut locations = std::collections::BTreeSet::new();
    for t in threads {
        locations.extend(t.join().unwrap());
    }
    assert_eq!(locations.len(), 1000, "1,000 distinct jobs");
    let list = http(&server.addr, "GET", "/soda/async", &[], b"").text();
    assert_eq!(list.matches("<uws:jobref ").count(), 1000, "every job is listed");
    for t in 0..50 {
        for i in 0..20 {
            assert!(list.contains(&format!("<uws:runId>r{t}-{i}</uws:runId>")), "job r{t}-{i} is missing");
        }
    }
}
