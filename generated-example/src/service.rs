//! The service: ivoagen created this file once and never overwrites it.
//! (Created by `cargo xtask codegen`.)

use crate::api::{self, Api};
use ivoagen_runtime::codegen as rt;
/// The service. Keep here what the operations share (configuration, connections).
#[derive(Debug, Clone)]
pub struct Service;
impl Service {
    /// Builds the service when the server starts.
    pub fn new(_config: &rt::serve::Config) -> Self {
        Service
    }
}
impl Api for Service {
    async fn soda_sync(
        &self,
        _request: api::SodaSyncRequest,
    ) -> Result<api::SodaSyncResponse, rt::Error> {
        Err(rt::Error::not_implemented("sodaSync"))
    }
    async fn soda_sync_job(
        &self,
        _request: api::SodaSyncRequest,
        _results: std::sync::Arc<rt::uws::engine::ResultWriter>,
    ) -> Result<(), rt::uws::JobError> {
        Err(rt::uws::JobError {
            fatal: true,
            message: "jobs of `sodaSync` are not implemented".to_owned(),
        })
    }
}
