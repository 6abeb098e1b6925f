//! The service: ivoagen created this file once and never overwrites it.
//! (Created by `cargo xtask codegen`.)

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
    async fn links(
        &self,
        _request: api::LinksRequest,
    ) -> Result<api::LinksResponse, rt::Error> {
        Err(rt::Error::not_implemented("links"))
    }
    async fn links_by_form(
        &self,
        _request: api::LinksByFormRequest,
    ) -> Result<api::LinksByFormResponse, rt::Error> {
        Err(rt::Error::not_implemented("linksByForm"))
    }
}
