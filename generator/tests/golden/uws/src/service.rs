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
    async fn list_jobs(
        &self,
        _request: api::ListJobsRequest,
    ) -> Result<api::ListJobsResponse, rt::Error> {
        Err(rt::Error::not_implemented("listJobs"))
    }
    async fn create_job(
        &self,
        _request: api::CreateJobRequest,
    ) -> Result<api::CreateJobResponse, rt::Error> {
        Err(rt::Error::not_implemented("createJob"))
    }
    async fn get_job(
        &self,
        _request: api::GetJobRequest,
    ) -> Result<api::GetJobResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJob"))
    }
    async fn post_job(
        &self,
        _request: api::PostJobRequest,
    ) -> Result<api::PostJobResponse, rt::Error> {
        Err(rt::Error::not_implemented("postJob"))
    }
    async fn delete_job(
        &self,
        _request: api::DeleteJobRequest,
    ) -> Result<api::DeleteJobResponse, rt::Error> {
        Err(rt::Error::not_implemented("deleteJob"))
    }
    async fn get_job_phase(
        &self,
        _request: api::GetJobPhaseRequest,
    ) -> Result<api::GetJobPhaseResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobPhase"))
    }
    async fn post_job_phase(
        &self,
        _request: api::PostJobPhaseRequest,
    ) -> Result<api::PostJobPhaseResponse, rt::Error> {
        Err(rt::Error::not_implemented("postJobPhase"))
    }
    async fn get_job_execution_duration(
        &self,
        _request: api::GetJobExecutionDurationRequest,
    ) -> Result<api::GetJobExecutionDurationResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobExecutionDuration"))
    }
    async fn post_job_execution_duration(
        &self,
        _request: api::PostJobExecutionDurationRequest,
    ) -> Result<api::PostJobExecutionDurationResponse, rt::Error> {
        Err(rt::Error::not_implemented("postJobExecutionDuration"))
    }
    async fn get_job_destruction(
        &self,
        _request: api::GetJobDestructionRequest,
    ) -> Result<api::GetJobDestructionResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobDestruction"))
    }
    async fn post_job_destruction(
        &self,
        _request: api::PostJobDestructionRequest,
    ) -> Result<api::PostJobDestructionResponse, rt::Error> {
        Err(rt::Error::not_implemented("postJobDestruction"))
    }
    async fn get_job_quote(
        &self,
        _request: api::GetJobQuoteRequest,
    ) -> Result<api::GetJobQuoteResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobQuote"))
    }
    async fn get_job_error(
        &self,
        _request: api::GetJobErrorRequest,
    ) -> Result<api::GetJobErrorResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobError"))
    }
    async fn get_job_results(
        &self,
        _request: api::GetJobResultsRequest,
    ) -> Result<api::GetJobResultsResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobResults"))
    }
    async fn get_job_parameters(
        &self,
        _request: api::GetJobParametersRequest,
    ) -> Result<api::GetJobParametersResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobParameters"))
    }
    async fn post_job_parameters(
        &self,
        _request: api::PostJobParametersRequest,
    ) -> Result<api::PostJobParametersResponse, rt::Error> {
        Err(rt::Error::not_implemented("postJobParameters"))
    }
    async fn get_job_owner(
        &self,
        _request: api::GetJobOwnerRequest,
    ) -> Result<api::GetJobOwnerResponse, rt::Error> {
        Err(rt::Error::not_implemented("getJobOwner"))
    }
}
