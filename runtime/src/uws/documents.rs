//! The UWS 1.1 XML documents (namespace `http://www.ivoa.net/xml/UWS/v1.0`, `version="1.1"`),
//! children in UWS.xsd's order, required elements nil when they have no value.

use super::{Job, Phase};
use crate::xml::XmlWriter;
use chrono::{DateTime, Utc};

const UWS: &str = "http://www.ivoa.net/xml/UWS/v1.0";
const XLINK: &str = "http://www.w3.org/1999/xlink";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// An instant as every UWS document writes it (RFC 3339, UTC, the fraction it has).
pub(super) fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn optional_instant(w: &mut XmlWriter, name: &str, t: Option<DateTime<Utc>>) {
    match t {
        Some(t) => w.leaf(name, &instant(t)),
        None => w.nil(name),
    };
}

fn root_attributes() -> [(&'static str, &'static str); 4] {
    [("xmlns:uws", UWS), ("xmlns:xlink", XLINK), ("xmlns:xsi", XSI), ("version", "1.1")]
}

/// `uws:job`; `job_url` is the job's absolute URL (results are under it).
pub fn job(job: &Job, job_url: &str) -> String {
    let mut w = XmlWriter::new();
    w.start("uws:job", &root_attributes());
    w.leaf("uws:jobId", &job.id);
    if let Some(run_id) = &job.run_id {
        w.leaf("uws:runId", run_id);
    }
    match &job.owner {
        Some(owner) => w.leaf("uws:ownerId", owner),
        None => w.nil("uws:ownerId"),
    };
    w.leaf("uws:phase", job.phase.as_str());
    w.nil("uws:quote");
    w.leaf("uws:creationTime", &instant(job.creation_time));
    optional_instant(&mut w, "uws:startTime", job.start_time);
    optional_instant(&mut w, "uws:endTime", job.end_time);
    w.leaf("uws:executionDuration", &job.execution_duration.to_string());
    optional_instant(&mut w, "uws:destruction", job.destruction);
    write_parameters(&mut w, job);
    write_results(&mut w, job, job_url);
    if let Some(error) = job.error.as_ref().filter(|_| job.phase == Phase::Error || job.phase == Phase::Aborted) {
        w.start("uws:errorSummary", &[("type", if error.fatal { "fatal" } else { "transient" }), ("hasDetail", "true")])
            .leaf("uws:message", &error.message)
            .end();
    }
    w.finish()
}

fn write_parameters(w: &mut XmlWriter, job: &Job) {
    w.start::<&str>("uws:parameters", &[]);
    for (name, value) in &job.parameters {
        w.text_element("uws:parameter", &[("id", name.as_str())], value);
    }
    w.end();
}

fn write_results(w: &mut XmlWriter, job: &Job, job_url: &str) {
    w.start::<&str>("uws:results", &[]);
    for r in &job.results {
        let href = format!("{job_url}/results/{}", r.id);
        let size = r.size.to_string();
        w.empty("uws:result", &[("id", r.id.as_str()), ("xlink:href", &href), ("size", &size), ("mime-type", &r.mime_type)]);
    }
    w.end();
}

/// `uws:jobs`: one `uws:jobref` per job; `jobs_url` is the job list's absolute URL.
pub fn jobs(jobs: &[Job], jobs_url: &str) -> String {
    let mut w = XmlWriter::new();
    w.start("uws:jobs", &root_attributes());
    for job in jobs {
        let href = format!("{jobs_url}/{}", job.id);
        w.start("uws:jobref", &[("id", job.id.as_str()), ("xlink:href", &href)]);
        w.leaf("uws:phase", job.phase.as_str());
        if let Some(run_id) = &job.run_id {
            w.leaf("uws:runId", run_id);
        }
        match &job.owner {
            Some(owner) => w.leaf("uws:ownerId", owner),
            None => w.nil("uws:ownerId"),
        };
        w.leaf("uws:creationTime", &instant(job.creation_time));
        w.end();
    }
    w.finish()
}

/// `uws:results` of a job.
pub fn results(job: &Job, job_url: &str) -> String {
    let mut w = XmlWriter::new();
    w.start("uws:results", &root_attributes()[..3]);
    for r in &job.results {
        let href = format!("{job_url}/results/{}", r.id);
        let size = r.size.to_string();
        w.empty("uws:result", &[("id", r.id.as_str()), ("xlink:href", &href), ("size", &size), ("mime-type", &r.mime_type)]);
    }
    w.finish()
}

/// `uws:parameters` of a job.
pub fn parameters(job: &Job) -> String {
    let mut w = XmlWriter::new();
    w.start("uws:parameters", &root_attributes()[..3]);
    for (name, value) in &job.parameters {
        w.text_element("uws:parameter", &[("id", name.as_str())], value);
    }
    w.finish()
}
