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
    async fn list_observations(
        &self,
        _request: api::ListObservationsRequest,
    ) -> Result<api::ListObservationsResponse, rt::Error> {
        Err(rt::Error::not_implemented("listObservations"))
    }
    async fn register_observation(
        &self,
        _request: api::RegisterObservationRequest,
    ) -> Result<api::RegisterObservationResponse, rt::Error> {
        Err(rt::Error::not_implemented("registerObservation"))
    }
    async fn get_observation(
        &self,
        _request: api::GetObservationRequest,
    ) -> Result<api::GetObservationResponse, rt::Error> {
        Err(rt::Error::not_implemented("getObservation"))
    }
}
