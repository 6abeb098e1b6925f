//! XML written by *generated* models (the `golden-uws` crate, generated from `specs/uws.yaml` alone),
//! from the `xml` objects of its schemas, validates against
//! the official UWS 1.1 schema: element order, qualified names, attributes, nil elements.

use ivoagen_runtime::xml;
use golden_uws::models::{ErrorSummary, ErrorSummaryType, ExecutionPhase, Job, JobRef, Jobs, Parameter, Parameters, ResultReference, Results};

fn validate(name: &str, document: &str) {
    ivoagen_e2e::xsd_validate("UWS-v1.1.xsd", name, document);
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
}

fn results() -> Results {
    Results {
        result: Some(vec![ResultReference {
            id: "cutout-1".into(),
            href: "http://127.0.0.1:8080/soda/async/j1/results/cutout-1".into(),
            size: Some(530_000),
            mime_type: Some("application/fits".into()),
        }]),
    }
}

#[test]
fn a_completed_job_validates() {
    let job = Job {
        version: "1.1".into(),
        job_id: "j1".into(),
        run_id: Some("my run".into()),
        owner_id: Some("alice".into()),
        phase: ExecutionPhase::Completed,
        quote: None,
        creation_time: at("2026-01-02T03:04:05Z"),
        start_time: Some(at("2026-01-02T03:04:06Z")),
        end_time: Some(at("2026-01-02T03:04:07.250Z")),
        execution_duration: 600,
        destruction: Some(at("2026-01-09T03:04:05Z")),
        parameters: Some(Parameters {
            parameter: Some(vec![
                Parameter { id: "ID".into(), by_reference: None, value: Some("m31 & <friends>".into()) },
                Parameter { id: "CIRCLE".into(), by_reference: Some(false), value: Some("10 20 0.5".into()) },
            ]),
        }),
        results: results(),
        error_summary: None,
    };
    let doc = xml::document(&job, "uws:job");
    validate("job.xml", &doc);
    assert!(doc.contains("<uws:endTime>2026-01-02T03:04:07.250Z</uws:endTime>"), "{doc}");
    assert!(doc.contains(r#"<uws:parameter id="ID">m31 &amp; &lt;friends&gt;</uws:parameter>"#), "{doc}");
    assert!(doc.contains(r#"xlink:href="http://127.0.0.1:8080/soda/async/j1/results/cutout-1""#), "{doc}");
}

#[test]
fn a_pending_anonymous_job_has_nil_elements_and_validates() {
    let job = Job {
        version: "1.1".into(),
        job_id: "j2".into(),
        run_id: None,
        owner_id: None,
        phase: ExecutionPhase::Error,
        quote: None,
        creation_time: at("2026-01-02T03:04:05Z"),
        start_time: None,
        end_time: None,
        execution_duration: 0,
        destruction: None,
        parameters: None,
        results: Results { result: None },
        error_summary: Some(ErrorSummary { type_: ErrorSummaryType::Fatal, has_detail: true, message: "the service restarted".into() }),
    };
    let doc = xml::document(&job, "uws:job");
    validate("pending.xml", &doc);
    assert!(doc.contains(r#"<uws:ownerId xsi:nil="true"/>"#), "{doc}");
    assert!(doc.contains(r#"<uws:errorSummary type="fatal" hasDetail="true">"#), "{doc}");
}

#[test]
fn job_lists_results_and_parameters_validate() {
    let jobs = Jobs {
        version: "1.1".into(),
        jobref: Some(vec![
            JobRef { id: "j1".into(), href: "http://h/async/j1".into(), phase: ExecutionPhase::Executing, run_id: None, owner_id: Some("alice".into()), creation_time: Some(at("2026-01-02T03:04:05Z")) },
            JobRef { id: "j2".into(), href: "http://h/async/j2".into(), phase: ExecutionPhase::Pending, run_id: Some("r".into()), owner_id: None, creation_time: None },
        ]),
    };
    validate("jobs.xml", &xml::document(&jobs, "uws:jobs"));
    validate("empty-jobs.xml", &xml::document(&Jobs { version: "1.1".into(), jobref: None }, "uws:jobs"));
    validate("results.xml", &xml::document(&results(), "uws:results"));
    let parameters = Parameters { parameter: Some(vec![Parameter { id: "POS".into(), by_reference: None, value: Some("CIRCLE 1 2 3".into()) }]) };
    validate("parameters.xml", &xml::document(&parameters, "uws:parameters"));
}
