//! Serves the same small body two ways, for `cargo xtask bench params`:
//!
//! - `/bare`: a bare axum handler;
//! - `/soda/sync`: the generated SODA router (mounted as a server mounts it, under `/soda`) —
//!   case-insensitive collection of every parameter,
//!   validation, typed parsing of `ID` and `CIRCLE` — calling a service that returns the body.
//!
//! It prints `listening on http://ADDR/` and serves until killed. One worker thread, so that the
//! load generator has the other core.

use ivoagen_runtime::codegen as rt;
use rt::axum::{Router, routing};
use soda_cutout_server::api::{self, Api};

const BODY: &[u8] = b"SIMPLE  =                    T / a small body, the same for both routes\n";

#[derive(Clone)]
struct Bench;

impl Api for Bench {
    async fn soda_sync(&self, request: api::SodaSyncRequest) -> Result<api::SodaSyncResponse, rt::Error> {
        // The typed values are there; touching them keeps the work honest.
        let radius = request.circle.as_ref().and_then(|c| c.first()).map_or(0.0, |c| c.radius);
        if request.id.is_empty() || radius < 0.0 {
            return Err(rt::Error::internal("impossible"));
        }
        Ok(api::SodaSyncResponse::Ok(rt::Body::from(rt::Bytes::from_static(BODY))))
    }

    async fn soda_sync_job(&self, _: api::SodaSyncRequest, _: std::sync::Arc<rt::uws::engine::ResultWriter>) -> Result<(), rt::uws::JobError> {
        Err(rt::uws::JobError { fatal: true, message: "the benchmark runs no jobs".into() })
    }

    async fn links(&self, _: api::LinksRequest) -> Result<api::LinksResponse, rt::Error> {
        Err(rt::Error::not_implemented("links"))
    }
}

async fn bare() -> rt::axum::response::Response {
    rt::response::bytes_body(rt::http::StatusCode::OK, "application/fits", rt::Bytes::from_static(BODY))
}

fn main() -> std::io::Result<()> {
    let runtime = rt::tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let app = Router::new()
            .route("/bare", routing::get(bare))
            .merge(soda_cutout_server::router_at(Bench, "/soda"));
        let listener = rt::tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        eprintln!("listening on http://{}/", listener.local_addr()?);
        rt::axum::serve(listener, app).await
    })
}
