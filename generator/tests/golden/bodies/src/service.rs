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
    /// The table `name`, in the format RESPONSEFORMAT asks for (the first declared by default).
    async fn get_table(
        &self,
        request: api::GetTableRequest,
    ) -> Result<api::GetTableResponse, rt::Error> {
        use api::GetTableOkBody as Body;
        let rows = [("M31", 10.68), ("M32", 10.67)];
        let name = rt::xml::escape(&request.name);
        let body = match rt::response::negotiate(request.responseformat.as_deref(), Body::MEDIA_TYPES)? {
            "text/csv" => Body::Csv(rows.iter().map(|(id, ra)| format!("{id},{ra}\n")).fold("id,ra\n".to_owned(), |all, row| all + &row)),
            "application/fits" => Body::Fits(rt::response::Body::from(vec![b' '; 2880])),
            "application/json" => Body::Json(crate::models::GetTableOkJsonBody { rows: rows.iter().map(|(id, _)| (*id).to_owned()).collect() }),
            _ => Body::Votable(format!("<VOTABLE version=\"1.4\"><RESOURCE type=\"results\" name=\"{name}\"/></VOTABLE>")),
        };
        Ok(api::GetTableResponse::Ok(body))
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
