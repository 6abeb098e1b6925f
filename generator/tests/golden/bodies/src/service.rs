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
    async fn create_job(
        &self,
        _request: api::CreateJobRequest,
    ) -> Result<api::CreateJobResponse, rt::Error> {
        Err(rt::Error::not_implemented("createJob"))
    }
    async fn upload(
        &self,
        _request: api::UploadRequest,
    ) -> Result<api::UploadResponse, rt::Error> {
        Err(rt::Error::not_implemented("upload"))
    }
    async fn put_note(
        &self,
        _request: api::PutNoteRequest,
    ) -> Result<api::PutNoteResponse, rt::Error> {
        Err(rt::Error::not_implemented("putNote"))
    }
    async fn put_image(
        &self,
        _request: api::PutImageRequest,
    ) -> Result<api::PutImageResponse, rt::Error> {
        Err(rt::Error::not_implemented("putImage"))
    }
    async fn get_image(
        &self,
        _request: api::GetImageRequest,
    ) -> Result<api::GetImageResponse, rt::Error> {
        Err(rt::Error::not_implemented("getImage"))
    }
}
