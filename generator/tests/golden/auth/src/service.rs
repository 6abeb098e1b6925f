//! The service: ivoagen created this file once and never overwrites it.
//! (Created by `ivoagen generate generator/tests/features/auth.yaml -o generator/tests/golden/auth --crate-name golden-auth --runtime-path ../../../../runtime`.)

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
    async fn open(
        &self,
        _request: api::OpenRequest,
    ) -> Result<api::OpenResponse, rt::Error> {
        Err(rt::Error::not_implemented("open"))
    }
    async fn optional(
        &self,
        _request: api::OptionalRequest,
    ) -> Result<api::OptionalResponse, rt::Error> {
        Err(rt::Error::not_implemented("optional"))
    }
    async fn required(
        &self,
        _request: api::RequiredRequest,
    ) -> Result<api::RequiredResponse, rt::Error> {
        Err(rt::Error::not_implemented("required"))
    }
    async fn sync(
        &self,
        _request: api::SyncRequest,
    ) -> Result<api::SyncResponse, rt::Error> {
        Err(rt::Error::not_implemented("sync"))
    }
}
