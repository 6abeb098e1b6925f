//! The job list of a generated server in one call: [`mount`] opens the store, starts the engine
//! with the service's job function, checks new jobs' parameters as the synchronous operation
//! does, and puts the UWS routes behind the operation's authentication.

use super::engine::{Engine, JobFuture, ResultWriter, Runner};
use super::http::{Check, Identify, Settings};
use super::results::ResultStore;
use super::store::{JobStore, PostgresStore, SqliteStore, redacted};
use super::{Job, JobError};
use crate::auth::{AuthLayer, Gate};
use crate::serve::{Config, StartError};
use crate::RequestError;
use crate::ivoa::ErrorFormat;
use axum::Router;
use http::request::Parts;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Reads a job's parameters (as the head of a request) into the operation's typed request.
type Extract<Req> = Arc<dyn Fn(Parts) -> Pin<Box<dyn Future<Output = Result<Req, RequestError>> + Send>> + Send + Sync>;

/// What a job list needs from the generated code: where it is, how a job's parameters are read
/// and what runs a job. Built with [`JobList::new`]; served by [`mount`].
pub struct JobList {
    path: &'static str,
    runner: Arc<dyn Runner>,
    settings: Settings,
    identify: Identify,
    gate: Option<Arc<Gate>>,
    limiter: crate::quota::Limiter,
    idempotent: bool,
}

impl JobList {
    /// The job list at `path` (below the base path) of `service`: `extract` reads a job's
    /// parameters into the operation's request (as the synchronous operation does), `run` runs
    /// one job. Jobs are anonymous until [`JobList::identify`] says otherwise.
    pub fn new<S, Req, E, EF, R, RF>(path: &'static str, service: Arc<S>, extract: E, run: R) -> JobList
    where
        S: Send + Sync + 'static,
        Req: Send + 'static,
        E: Fn(Parts) -> EF + Send + Sync + 'static,
        EF: Future<Output = Result<Req, RequestError>> + Send + 'static,
        R: Fn(Arc<S>, Req, Arc<ResultWriter>) -> RF + Send + Sync + 'static,
        RF: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let extract: Extract<Req> = Arc::new(move |parts| Box::pin(extract(parts)));
        let check_extract = extract.clone();
        let check: Check = Arc::new(move |pairs| {
            let request = check_extract(super::parts_of(&pairs));
            Box::pin(async move { request.await.map(drop) })
        });
        let runner = Arc::new(Jobs { service, extract, run: Arc::new(run) });
        JobList { path, runner, settings: Settings { check: Some(check), ..Settings::default() }, identify: super::http::anonymous(), gate: None, limiter: crate::quota::Limiter::off(), idempotent: false }
    }

    /// The job list at `path` whose jobs `runner` runs, taking any parameters.
    pub fn with_runner(path: &'static str, runner: Arc<dyn Runner>) -> JobList {
        JobList { path, runner, settings: Settings::default(), identify: super::http::anonymous(), gate: None, limiter: crate::quota::Limiter::off(), idempotent: false }
    }

    /// Who owns a new job (the authenticated identity, say).
    pub fn identify(mut self, identify: Identify) -> JobList {
        self.identify = identify;
        self
    }

    /// Writes the job API's errors, and failed jobs' error documents, in `format` (SODA text by
    /// default; a DALI VOTable for TAP, whose `/error` is a VOTable, TAP 1.1 §3.3).
    pub fn errors(mut self, format: ErrorFormat) -> JobList {
        self.settings.format = format;
        self
    }

    /// Keeps each job parameter under `names`' spelling (the operation's declared names), however
    /// the client spelt it: DALI names ignore case, and a job's parameters list each once.
    pub fn names(mut self, names: &'static [&'static str]) -> JobList {
        self.settings.names = names;
        self
    }

    /// Says the service's jobs are idempotent: a job whose process stopped while it executed
    /// (a restart, or a replica gone) is queued again instead of ending in ERROR.
    pub fn idempotent(mut self) -> JobList {
        self.idempotent = true;
        self
    }

    /// Counts every request to a job route against its caller's request-rate budget in
    /// `limiter` (inside the authentication of [`JobList::gate`]); refusals are written in the
    /// job list's error format.
    pub fn limit(mut self, limiter: &crate::quota::Limiter) -> JobList {
        self.limiter = limiter.clone();
        self
    }

    /// Puts every job route behind `gate`'s authentication.
    pub fn gate(mut self, gate: Arc<Gate>) -> JobList {
        self.gate = Some(gate);
        self
    }
}

/// The engine's view of a service's job function.
struct Jobs<S, Req, R> {
    service: Arc<S>,
    extract: Extract<Req>,
    run: Arc<R>,
}

impl<S, Req, R, RF> Runner for Jobs<S, Req, R>
where
    S: Send + Sync + 'static,
    Req: Send + 'static,
    R: Fn(Arc<S>, Req, Arc<ResultWriter>) -> RF + Send + Sync + 'static,
    RF: Future<Output = Result<(), JobError>> + Send + 'static,
{
    fn run(&self, job: Job, results: Arc<ResultWriter>) -> JobFuture {
        let (service, run, extract) = (self.service.clone(), self.run.clone(), self.extract.clone());
        Box::pin(async move {
            // The files the creating request sent, for the request's `uploads`.
            let writer = results.clone();
            let uploads = tokio::task::spawn_blocking(move || writer.uploads()).await.unwrap_or_default();
            let mut parts = super::parts_of(&job.parameters);
            parts.extensions.insert(uploads);
            // The job runs as its owner, in the groups the owner had when creating it.
            if let Some(owner) = job.owner {
                parts.extensions.insert(crate::auth::Identity(owner));
                parts.extensions.insert(crate::auth::Groups(job.groups.into()));
            }
            let request = extract(parts);
            // Checked at creation; a job restored from an older release may still be refused.
            let request = request.await.map_err(|e| JobError::from(crate::Error::usage(e.message)))?;
            run(service, request, results).await
        })
    }
}

/// The UWS routes of `jobs`, under `config.base_path`, answered by an engine started on the job
/// store in `config.data_dir` with the `--uws-*` limits.
pub async fn mount(config: &Config, jobs: JobList) -> Result<Router, StartError> {
    let store: Arc<dyn JobStore> = match config.job_store_path() {
        Some(path) => Arc::new(SqliteStore::open(&path).map_err(|error| StartError::JobStore { store: path.display().to_string(), error })?),
        None => {
            let url = config.job_store.as_deref().unwrap_or_default();
            Arc::new(PostgresStore::connect(url).await.map_err(|error| StartError::JobStore { store: redacted(url), error })?)
        }
    };
    // Ready while the store answers (`/readyz`).
    let probed = store.clone();
    config.health.check("job-store", move || {
        let store = probed.clone();
        async move { store.ping().await.map_err(|e| e.to_string()) }
    });
    let mut engine_config = super::engine::Config::from_serve(config);
    engine_config.requeue_on_restart = jobs.idempotent;
    let limits = &config.uws;
    engine_config.results = ResultStore::open(limits.result_store.as_deref(), limits.result_redirect, &config.data_dir).map_err(|e| StartError::Service(format!("--result-store: {e}")))?;
    let engine = Engine::start(store, jobs.runner, engine_config)
        .await
        .map_err(StartError::Engine)?;
    let format = jobs.settings.format;
    let router = super::http::routes_checked(engine, &config.base_path, jobs.path, jobs.identify, jobs.settings);
    let router = if jobs.limiter.is_on() { router.route_layer(crate::quota::Layer::new(&jobs.limiter, format)) } else { router };
    Ok(match jobs.gate {
        Some(gate) => router.route_layer(AuthLayer::new(gate)),
        None => router,
    })
}
