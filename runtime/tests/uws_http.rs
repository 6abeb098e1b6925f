//! The UWS endpoints through the real router: the full job cycle, the UWS error statuses, and
//! owners kept apart. Documents are validated against UWS.xsd.

use axum::body::Body;
use http::{Request, StatusCode};
use ivoagen_runtime::uws::engine::{Config, Engine, JobFuture, ResultWriter, Runner};
use ivoagen_runtime::ivoa::ErrorFormat;
use ivoagen_runtime::uws::http::{Identify, Settings, routes_checked};
use ivoagen_runtime::uws::store::SqliteStore;
use ivoagen_runtime::uws::{Job, JobError};
use std::sync::Arc;
use tower::ServiceExt;

struct Cutout;

impl Runner for Cutout {
    fn run(&self, job: Job, results: Arc<ResultWriter>) -> JobFuture {
        Box::pin(async move {
            let id = job.parameters.iter().find(|(n, _)| n.eq_ignore_ascii_case("ID")).map(|(_, v)| v.clone()).unwrap_or_default();
            if id == "fail" {
                return Err(JobError { fatal: true, message: "UsageError: no such dataset".into() });
            }
            // The files the creating request sent come back as results.
            let uploads = results.uploads();
            for file in uploads.files() {
                results.put(&format!("upload-{}", file.name), file.content_type.as_deref().unwrap_or("application/octet-stream"), &file.content.bytes().unwrap()).map_err(|e| JobError { fatal: true, message: e.to_string() })?;
            }
            results.put("cutout", "application/fits", format!("cutout of {id}").as_bytes()).map_err(|e| JobError { fatal: true, message: e.to_string() })
        })
    }
}

fn data_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("ivoagen-uws-http-{}-{name}", std::process::id()))
}

async fn app(name: &str) -> axum::Router {
    app_with(name, Settings::default()).await
}

/// The job list at `/soda/async`, its errors in `format`, its parameters ID and CIRCLE.
async fn app_in(name: &str, format: ErrorFormat) -> axum::Router {
    app_with(name, Settings { format, names: &["ID", "CIRCLE"], ..Settings::default() }).await
}

async fn app_with(name: &str, settings: Settings) -> axum::Router {
    let data = data_dir(name);
    let _ = std::fs::remove_dir_all(&data);
    let store = Arc::new(SqliteStore::open(&data.join("jobs.sqlite")).unwrap());
    let engine = Engine::start(store, Arc::new(Cutout), Config::new(&data)).await.unwrap();
    let identify: Identify = Arc::new(|parts| parts.headers.get("x-user").and_then(|v| v.to_str().ok()).map(str::to_owned));
    routes_checked(engine, "/soda", "/async", identify, settings)
}

/// Sends `method uri` with a multipart body of `fields` and `files` (name, content type, bytes).
async fn send_multipart(app: &axum::Router, method: &str, uri: &str, fields: &[(&str, &str)], files: &[(&str, &str, &str)]) -> (StatusCode, Option<String>, String) {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
    }
    for (name, content_type, data) in files {
        body.push_str(&format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}.vot\"\r\nContent-Type: {content_type}\r\n\r\n{data}\r\n"));
    }
    body.push_str("--B--\r\n");
    let request = Request::builder().method(method).uri(uri).header("host", "archive.test").header("content-type", "multipart/form-data; boundary=B").body(Body::from(body)).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, location, String::from_utf8_lossy(&bytes).into_owned())
}

/// Waits until the job at `path` has ended; its document.
async fn ended(app: &axum::Router, path: &str) -> String {
    for _ in 0..50 {
        let (_, _, _, document) = send(app, "GET", &format!("{path}?WAIT=1"), None, None).await;
        if ["COMPLETED", "ERROR", "ABORTED"].iter().any(|p| document.contains(&format!("<uws:phase>{p}</uws:phase>"))) {
            return document;
        }
    }
    panic!("the job at {path} did not end");
}

async fn send(app: &axum::Router, method: &str, uri: &str, user: Option<&str>, form: Option<&str>) -> (StatusCode, Option<String>, String, String) {
    let mut request = Request::builder().method(method).uri(uri).header("host", "archive.test");
    if let Some(user) = user {
        request = request.header("x-user", user);
    }
    let body = match form {
        Some(form) => {
            request = request.header("content-type", "application/x-www-form-urlencoded");
            Body::from(form.to_owned())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, location, content_type, String::from_utf8_lossy(&bytes).into_owned())
}

fn validate(name: &str, document: &str) {
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&file, document).unwrap();
    let xsd = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xsd/UWS-v1.1.xsd");
    let out = std::process::Command::new("xmllint").args(["--noout", "--nonet", "--schema"]).arg(xsd).arg(&file).output().expect("xmllint");
    assert!(out.status.success(), "{name}: {}\n{document}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn the_full_job_cycle() {
    let app = app("cycle").await;
    // Creation: 303 to the job; PHASE=RUN in the query string starts it.
    let (status, location, _, _) = send(&app, "POST", "/soda/async?PHASE=RUN", Some("alice"), Some("id=m31&RUNID=r1&circle=10+20+0.5")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let job_url = location.unwrap();
    assert!(job_url.starts_with("http://archive.test/soda/async/"), "{job_url}");
    let path = job_url.trim_start_matches("http://archive.test");
    // WAIT=-1 until it ends.
    let mut document = String::new();
    for _ in 0..20 {
        let (status, _, content_type, body) = send(&app, "GET", &format!("{path}?WAIT=-1"), Some("alice"), None).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/xml"));
        document = body;
        if document.contains("<uws:phase>COMPLETED</uws:phase>") {
            break;
        }
    }
    assert!(document.contains("<uws:phase>COMPLETED</uws:phase>"), "{document}");
    assert!(document.contains("<uws:runId>r1</uws:runId>") && document.contains("<uws:ownerId>alice</uws:ownerId>"), "{document}");
    validate("cycle-job.xml", &document);
    let (_, _, _, results) = send(&app, "GET", &format!("{path}/results"), Some("alice"), None).await;
    validate("cycle-results.xml", &results);
    let href = format!("{job_url}/results/cutout");
    assert!(results.contains(&format!("xlink:href=\"{href}\"")), "{results}");
    let (status, _, content_type, bytes) = send(&app, "GET", href.trim_start_matches("http://archive.test"), Some("alice"), None).await;
    assert_eq!((status, content_type.as_str(), bytes.as_str()), (StatusCode::OK, "application/fits", "cutout of m31"));
    let (_, _, _, parameters) = send(&app, "GET", &format!("{path}/parameters"), Some("alice"), None).await;
    validate("cycle-parameters.xml", &parameters);
    assert!(parameters.contains(r#"<uws:parameter id="circle">10 20 0.5</uws:parameter>"#), "{parameters}");
    let (_, _, _, phase) = send(&app, "GET", &format!("{path}/phase"), Some("alice"), None).await;
    assert_eq!(phase, "COMPLETED");
    let (_, _, _, list) = send(&app, "GET", "/soda/async?PHASE=COMPLETED", Some("alice"), None).await;
    validate("cycle-jobs.xml", &list);
    // Delete: 303 to the list, then 404.
    let (status, location, _, _) = send(&app, "DELETE", path, Some("alice"), None).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some("http://archive.test/soda/async")));
    let (status, _, _, text) = send(&app, "GET", path, Some("alice"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.starts_with("Error: "), "{text}");
}

#[tokio::test]
async fn errors_of_the_job_api_have_the_uws_statuses() {
    let app = app("errors").await;
    let (_, location, _, _) = send(&app, "POST", "/soda/async", Some("alice"), Some("ID=m31")).await;
    let path = location.unwrap().trim_start_matches("http://archive.test").to_owned();
    let usage = |(status, _, content_type, text): (StatusCode, Option<String>, String, String)| {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        assert_eq!(content_type, "text/plain; charset=utf-8");
        assert!(text.starts_with("UsageError: "), "{text}");
    };
    usage(send(&app, "POST", &format!("{path}/phase"), Some("alice"), Some("PHASE=SLEEP")).await);
    usage(send(&app, "POST", &format!("{path}/destruction"), Some("alice"), Some("DESTRUCTION=tomorrow")).await);
    usage(send(&app, "POST", &format!("{path}/executionduration"), Some("alice"), Some("EXECUTIONDURATION=-5")).await);
    usage(send(&app, "GET", &format!("{path}?WAIT=soon"), Some("alice"), None).await);
    usage(send(&app, "POST", path.as_str(), Some("alice"), Some("ACTION=EXPLODE")).await);
    // The bounds the published description declares (specs/uws.yaml).
    usage(send(&app, "GET", &format!("{path}?WAIT=-2"), Some("alice"), None).await);
    usage(send(&app, "GET", &format!("{path}?WAIT=9223372036854775808"), Some("alice"), None).await);
    usage(send(&app, "GET", &format!("{path}?PHASE=SLEEPING"), Some("alice"), None).await);
    usage(send(&app, "GET", "/soda/async?LAST=9223372036854775808", Some("alice"), None).await);
    usage(send(&app, "POST", &format!("{path}/executionduration"), Some("alice"), Some("EXECUTIONDURATION=9223372036854775808")).await);
    let (status, _, _, _) = send(&app, "POST", &format!("{path}/executionduration"), Some("alice"), Some("EXECUTIONDURATION=9223372036854775807")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // A job that has not failed has an empty error, not 404 (which says there is no such job).
    let (status, _, _, text) = send(&app, "GET", &format!("{path}/error"), Some("alice"), None).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, ""));
    // Unknown job: 404.
    let (status, _, _, text) = send(&app, "GET", "/soda/async/nosuchjob/phase", Some("alice"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    // Another owner: 404 as for a job that does not exist (its existence is not revealed), and
    // absent from its list.
    let (status, _, _, text) = send(&app, "GET", path.as_str(), Some("bob"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.starts_with("Error: "), "{text}");
    let (status, _, _, _) = send(&app, "DELETE", path.as_str(), Some("bob"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, _, _, bobs) = send(&app, "GET", "/soda/async", Some("bob"), None).await;
    assert!(!bobs.contains("jobref"), "{bobs}");
    // Destruction accepted and echoed; parameters change only while PENDING.
    let (status, _, _, _) = send(&app, "POST", &format!("{path}/destruction"), Some("alice"), Some("DESTRUCTION=2030-01-02T03:04:05Z")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _, _) = send(&app, "POST", &format!("{path}/parameters"), Some("alice"), Some("ID=m33")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _, _) = send(&app, "POST", &format!("{path}/phase"), Some("alice"), Some("PHASE=ABORT")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _, text) = send(&app, "POST", &format!("{path}/parameters"), Some("alice"), Some("ID=m51")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    let (status, _, _, owner) = send(&app, "GET", &format!("{path}/owner"), Some("alice"), None).await;
    assert_eq!((status, owner.as_str()), (StatusCode::OK, "alice"));
}

#[tokio::test]
async fn a_jobs_files_are_kept_until_it_runs_and_removed_with_it() {
    let app = app("uploads").await;
    let (status, location, body) = send_multipart(&app, "POST", "/soda/async", &[("ID", "m31"), ("UPLOAD", "t1,param:t1"), ("PHASE", "RUN")], &[("t1", "application/x-votable+xml", "<VOTABLE/>")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let path = location.unwrap().trim_start_matches("http://archive.test").to_owned();
    let document = ended(&app, &path).await;
    assert!(document.contains("<uws:phase>COMPLETED</uws:phase>"), "{document}");
    validate("job-with-upload.xml", &document);
    assert!(document.contains(r#"mime-type="application/x-votable+xml""#), "{document}");
    let (status, _, content_type, result) = send(&app, "GET", &format!("{path}/results/upload-t1"), None, None).await;
    assert_eq!((status, content_type.as_str(), result.as_str()), (StatusCode::OK, "application/x-votable+xml", "<VOTABLE/>"));
    let id = path.rsplit('/').next().unwrap();
    let kept = data_dir("uploads").join("results").join(id).join(".uploads");
    assert!(kept.join("data/t1").is_file(), "kept in the job's folder");
    assert!(!document.contains(".uploads"), "not a result: {document}");
    let (status, _, _, _) = send(&app, "DELETE", &path, None, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!kept.exists(), "removed with the job");
    // A part name that could leave the job's folder is refused, and no job is made.
    let (status, _, body) = send_multipart(&app, "POST", "/soda/async", &[("ID", "m31")], &[("../t1", "text/plain", "x")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, _, _, list) = send(&app, "GET", "/soda/async", None, None).await;
    assert!(!list.contains("<uws:jobref"), "{list}");
}

#[tokio::test]
async fn a_votable_job_list_answers_errors_and_error_documents_as_votables() {
    let app = app_in("votable", ErrorFormat::DaliVotable).await;
    let (status, _, content_type, body) = send(&app, "GET", "/soda/async/nosuchjob", None, None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::NOT_FOUND, "application/x-votable+xml"));
    assert!(body.contains(r#"<INFO name="QUERY_STATUS" value="ERROR">"#), "{body}");
    let (_, location, _, _) = send(&app, "POST", "/soda/async?PHASE=RUN", None, Some("ID=fail")).await;
    let path = location.unwrap().trim_start_matches("http://archive.test").to_owned();
    let document = ended(&app, &path).await;
    assert!(document.contains("<uws:phase>ERROR</uws:phase>"), "{document}");
    let (status, _, content_type, error) = send(&app, "GET", &format!("{path}/error"), None, None).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "application/x-votable+xml"), "TAP 1.1 §3.3: {error}");
    assert!(error.contains(r#"value="ERROR">UsageError: no such dataset</INFO>"#), "{error}");
    // RUNID may be posted to the parameters, and /destruction says what the job says.
    let (status, _, _, _) = send(&app, "POST", &format!("{path}/parameters"), None, Some("RUNID=renamed")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, _, _, document) = send(&app, "GET", &path, None, None).await;
    assert!(document.contains("<uws:runId>renamed</uws:runId>"), "{document}");
    let (_, _, _, destruction) = send(&app, "GET", &format!("{path}/destruction"), None, None).await;
    assert!(document.contains(&format!("<uws:destruction>{destruction}</uws:destruction>")), "{destruction} in {document}");
}

#[tokio::test]
async fn a_job_keeps_each_parameter_under_its_declared_name() {
    let app = app_in("names", ErrorFormat::SodaText).await;
    let (_, location, _, _) = send(&app, "POST", "/soda/async", None, Some("id=m31&Circle=1+2+3&other=x")).await;
    let path = location.unwrap().trim_start_matches("http://archive.test").to_owned();
    let (_, _, _, _) = send(&app, "POST", &format!("{path}/parameters"), None, Some("circle=4+5+6")).await;
    let (_, _, _, parameters) = send(&app, "GET", &format!("{path}/parameters"), None, None).await;
    validate("parameters-named.xml", &parameters);
    assert!(parameters.contains(r#"<uws:parameter id="ID">m31</uws:parameter>"#), "{parameters}");
    assert!(parameters.contains(r#"<uws:parameter id="CIRCLE">4 5 6</uws:parameter>"#), "one CIRCLE, replaced: {parameters}");
    assert!(!parameters.contains(r#"id="Circle""#) && !parameters.contains(r#"id="circle""#), "{parameters}");
    assert!(parameters.contains(r#"<uws:parameter id="other">x</uws:parameter>"#), "an undeclared name is kept as sent: {parameters}");
}
