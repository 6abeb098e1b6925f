//! A UWS server for the end-to-end tests: the runtime's engine and job API with a job that does
//! what its `MODE` parameter says — `sleep` runs until killed, anything else writes one result.
//! Serves `/uws/jobs` until killed; `--data-dir`, `--bind` as every generated server.

use ivoagen_runtime::codegen::{axum, serve, uws};
use std::sync::Arc;
use std::time::Duration;

struct Jobs;

impl uws::engine::Runner for Jobs {
    fn run(&self, job: uws::Job, results: Arc<uws::engine::ResultWriter>) -> uws::engine::JobFuture {
        Box::pin(async move {
            let mode = job.parameters.iter().find(|(n, _)| n.eq_ignore_ascii_case("MODE")).map(|(_, v)| v.clone());
            if mode.as_deref() == Some("sleep") {
                tokio_sleep().await;
            }
            let body = format!("result of job {}", job.id);
            results.put("out", "text/plain", body.as_bytes()).map_err(|e| uws::JobError { fatal: true, message: e.to_string() })
        })
    }
}

async fn tokio_sleep() {
    ivoagen_runtime::codegen::tokio::time::sleep(Duration::from_secs(3600)).await;
}

fn main() -> std::process::ExitCode {
    let program = serve::Program { name: "uws-test-server", version: env!("CARGO_PKG_VERSION"), about: "A UWS job list for the tests", base_path: "", uws: true, auth: false, sync: false };
    serve::main(program, |config| async move {
        let store = uws::store::SqliteStore::open(&config.job_store_path()).map_err(|e| e.to_string())?;
        let mut engine_config = uws::engine::Config::new(&config.data_dir);
        engine_config.execution_duration = 0;
        let engine = uws::engine::Engine::start(Arc::new(store), Arc::new(Jobs), engine_config).await.map_err(|e| format!("{e:?}"))?;
        let routes: axum::Router = uws::http::routes(engine, &config.base_path, "/uws/jobs", uws::http::anonymous());
        Ok(routes)
    })
}
