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
    async fn open(
        &self,
        _request: api::OpenRequest,
    ) -> Result<api::OpenResponse, rt::Error> {
        Err(rt::Error::not_implemented("open"))
    }
    async fn survey(
        &self,
        _request: api::SurveyRequest,
    ) -> Result<api::SurveyResponse, rt::Error> {
        Ok(api::SurveyResponse::Ok("survey\n".to_owned()))
    }
    async fn staff(
        &self,
        _request: api::StaffRequest,
    ) -> Result<api::StaffResponse, rt::Error> {
        Err(rt::Error::not_implemented("staff"))
    }
}
