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
    async fn links_request_2(
        &self,
        _request: api::LinksRequest2Request,
    ) -> Result<api::LinksRequest2Response, rt::Error> {
        Err(rt::Error::not_implemented("linksRequest"))
    }
    async fn router_2(
        &self,
        _request: api::Router2Request,
    ) -> Result<api::Router2Response, rt::Error> {
        Err(rt::Error::not_implemented("router"))
    }
    async fn server_2(
        &self,
        _request: api::Server2Request,
    ) -> Result<api::Server2Response, rt::Error> {
        Err(rt::Error::not_implemented("server"))
    }
    async fn authenticator_2(
        &self,
        _request: api::Authenticator2Request,
    ) -> Result<api::Authenticator2Response, rt::Error> {
        Err(rt::Error::not_implemented("authenticator"))
    }
    async fn service_2(
        &self,
        _request: api::Service2Request,
    ) -> Result<api::Service2Response, rt::Error> {
        Err(rt::Error::not_implemented("service"))
    }
    async fn api(
        &self,
        _request: api::ApiRequest,
    ) -> Result<api::ApiResponse, rt::Error> {
        Err(rt::Error::not_implemented("Api"))
    }
    async fn into_2(
        &self,
        _request: api::Into2Request,
    ) -> Result<api::Into2Response, rt::Error> {
        Err(rt::Error::not_implemented("into"))
    }
    async fn new(
        &self,
        _request: api::NewRequest,
    ) -> Result<api::NewResponse, rt::Error> {
        Err(rt::Error::not_implemented("new"))
    }
    async fn next(
        &self,
        _request: api::NextRequest,
    ) -> Result<api::NextResponse, rt::Error> {
        Err(rt::Error::not_implemented("next"))
    }
    async fn default_2(
        &self,
        _request: api::Default2Request,
    ) -> Result<api::Default2Response, rt::Error> {
        Err(rt::Error::not_implemented("default"))
    }
    async fn clone_2(
        &self,
        _request: api::Clone2Request,
    ) -> Result<api::Clone2Response, rt::Error> {
        Err(rt::Error::not_implemented("clone"))
    }
    async fn from_file(
        &self,
        _request: api::FromFileRequest,
    ) -> Result<api::FromFileResponse, rt::Error> {
        Err(rt::Error::not_implemented("fromFile"))
    }
    async fn is_ready(
        &self,
        _request: api::IsReadyRequest,
    ) -> Result<api::IsReadyResponse, rt::Error> {
        Err(rt::Error::not_implemented("isReady"))
    }
    async fn to_text(
        &self,
        _request: api::ToTextRequest,
    ) -> Result<api::ToTextResponse, rt::Error> {
        Err(rt::Error::not_implemented("to_text"))
    }
    async fn result(
        &self,
        _request: api::ResultRequest,
    ) -> Result<api::ResultResponse, rt::Error> {
        Err(rt::Error::not_implemented("Result"))
    }
    async fn submit(
        &self,
        _request: api::SubmitRequest,
    ) -> Result<api::SubmitResponse, rt::Error> {
        Err(rt::Error::not_implemented("submit"))
    }
    async fn submit_job_2(
        &self,
        _request: api::SubmitJob2Request,
    ) -> Result<api::SubmitJob2Response, rt::Error> {
        Err(rt::Error::not_implemented("submitJob"))
    }
    async fn submit_job(
        &self,
        _request: api::SubmitRequest,
        _results: std::sync::Arc<rt::uws::engine::ResultWriter>,
    ) -> Result<(), rt::uws::JobError> {
        Err(rt::uws::JobError {
            fatal: true,
            message: "jobs of `submit` are not implemented".to_owned(),
        })
    }
}
