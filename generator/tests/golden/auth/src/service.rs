//! The service: ivoagen created this file once and never overwrites it.
//! (Created by `cargo xtask codegen`.) The end-to-end authentication tests serve it: the three
//! modalities answer 200, `sync` stays unimplemented (501).

use crate::api::{self, Api};
use ivoagen_runtime as rt;
/// The service. Keep here what the operations share (configuration, connections).
#[derive(Debug, Clone)]
pub struct Service;
impl Service {
    /// Builds the service when the server starts; an error stops the server, its
    /// message on one line.
    pub fn new(_config: &rt::serve::Config) -> Result<Self, String> {
        Ok(Service)
    }
}
impl Api for Service {
    async fn open(
        &self,
        _request: api::OpenRequest,
    ) -> Result<api::OpenResponse, rt::Error> {
        Ok(api::OpenResponse::Ok("open\n".to_owned()))
    }
    async fn optional(
        &self,
        _request: api::OptionalRequest,
    ) -> Result<api::OptionalResponse, rt::Error> {
        Ok(api::OptionalResponse::Ok("optional\n".to_owned()))
    }
    async fn required(
        &self,
        _request: api::RequiredRequest,
    ) -> Result<api::RequiredResponse, rt::Error> {
        Ok(api::RequiredResponse::Ok("required\n".to_owned()))
    }
    async fn sync(
        &self,
        _request: api::SyncRequest,
    ) -> Result<api::SyncResponse, rt::Error> {
        Err(rt::Error::not_implemented("sync"))
    }
}
