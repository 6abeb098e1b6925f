//! The links: `ivoagen init` wrote this file once and never overwrites it. It knows one sample
//! dataset; replace `DATASETS` with a lookup of yours.

use crate::api::{self, Api};
use ivoagen_runtime as rt;

/// The known datasets: an ID and the URL of its data.
const DATASETS: &[(&str, &str)] = &[("ivo://example.org/data?sample-1", "https://example.org/data/sample-1.fits")];

/// The service. Keep here what the operations share (configuration, connections).
#[derive(Debug, Clone)]
pub struct Service;

impl Service {
    /// Builds the service when the server starts; an error stops the server, its message on one
    /// line.
    pub fn new(_config: &rt::serve::Config) -> Result<Self, String> {
        Ok(Service)
    }
}

/// The row of one ID (DataLink 1.1 §3.2): the dataset itself (`#this`), or a `NotFoundFault`.
fn row(id: &str) -> String {
    let cells = match DATASETS.iter().find(|(known, _)| *known == id) {
        Some((_, url)) => [url, "", "", "The dataset", "#this", "application/fits", "4194304"],
        None => ["", "", "NotFoundFault: no dataset has this ID", "", "#this", "", ""],
    };
    let cells: String = std::iter::once(id).chain(cells).map(|cell| format!("<TD>{}</TD>", rt::xml::escape(cell))).collect();
    format!("<TR>{cells}</TR>\n")
}

impl Api for Service {
    /// At least one row per ID, in the order of the IDs; no ID gets an empty table.
    async fn links(&self, request: api::LinksRequest) -> Result<api::LinksResponse, rt::Error> {
        let rows: String = request.id.iter().flatten().map(|id| row(id)).collect();
        Ok(api::LinksResponse::Ok(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="standardID" value="ivo://ivoa.net/std/DataLink#links-1.1"/>
<TABLE name="links">
<FIELD name="ID" datatype="char" arraysize="*" ucd="meta.id;meta.main"/>
<FIELD name="access_url" datatype="char" arraysize="*" ucd="meta.ref.url"/>
<FIELD name="service_def" datatype="char" arraysize="*" ucd="meta.ref"/>
<FIELD name="error_message" datatype="char" arraysize="*" ucd="meta.code.error"/>
<FIELD name="description" datatype="char" arraysize="*" ucd="meta.note"/>
<FIELD name="semantics" datatype="char" arraysize="*" ucd="meta.code"/>
<FIELD name="content_type" datatype="char" arraysize="*" ucd="meta.code.mime"/>
<FIELD name="content_length" datatype="long" unit="byte" ucd="phys.size;meta.file"/>
<DATA><TABLEDATA>
{rows}</TABLEDATA></DATA>
</TABLE>
</RESOURCE>
</VOTABLE>
"#
        )))
    }
}
