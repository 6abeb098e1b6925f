//! The image search: `ivoagen init` wrote this file once and never overwrites it. It answers one
//! sample ObsCore record to every query; replace `sample_record` with a search of your images.

use crate::api::{self, Api};
use ivoagen_runtime as rt;

/// ObsCore's mandatory columns (ObsCore 1.1 §3): name, datatype, UCD, unit, and the sample value.
const COLUMNS: &[(&str, &str, &str, &str, &str)] = &[
    ("dataproduct_type", "char", "meta.code.class", "", "image"),
    ("calib_level", "int", "meta.code;obs.calib", "", "2"),
    ("obs_collection", "char", "meta.id", "", "sample"),
    ("obs_id", "char", "meta.id", "", "sample-1"),
    ("obs_publisher_did", "char", "meta.ref.ivoid", "", "ivo://example.org/data?sample-1"),
    ("access_url", "char", "meta.ref.url", "", "https://example.org/data/sample-1.fits"),
    ("access_format", "char", "meta.code.mime", "", "application/fits"),
    ("access_estsize", "long", "phys.size;meta.file", "kbyte", "4096"),
    ("target_name", "char", "meta.id;src", "", "M31"),
    ("s_ra", "double", "pos.eq.ra", "deg", "10.6847"),
    ("s_dec", "double", "pos.eq.dec", "deg", "41.269"),
    ("s_fov", "double", "phys.angSize;instr.fov", "deg", "0.3"),
    ("s_region", "char", "pos.outline;obs.field", "", "POLYGON 10.5 41.1 10.9 41.1 10.9 41.4 10.5 41.4"),
    ("s_resolution", "double", "pos.angResolution", "arcsec", "1"),
    ("s_xel1", "long", "meta.number", "", "1024"),
    ("s_xel2", "long", "meta.number", "", "1024"),
    ("t_min", "double", "time.start;obs.exposure", "d", "60000.1"),
    ("t_max", "double", "time.end;obs.exposure", "d", "60000.2"),
    ("t_exptime", "double", "time.duration;obs.exposure", "s", "600"),
    ("t_resolution", "double", "time.resolution", "s", "600"),
    ("t_xel", "long", "meta.number", "", "1"),
    ("em_min", "double", "em.wl;stat.min", "m", "5e-7"),
    ("em_max", "double", "em.wl;stat.max", "m", "6e-7"),
    ("em_res_power", "double", "spect.resolution", "", "5.5"),
    ("em_xel", "long", "meta.number", "", "1"),
    ("o_ucd", "char", "meta.ucd", "", "phot.flux.density;em.opt"),
    ("pol_states", "char", "meta.code;phys.polarization", "", "/I/"),
    ("pol_xel", "long", "meta.number", "", "1"),
    ("facility_name", "char", "meta.id;instr.tel", "", "Sample Telescope"),
    ("instrument_name", "char", "meta.id;instr", "", "Sample Camera"),
];

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

/// The one sample record, a row of `COLUMNS`' values.
fn sample_record() -> String {
    let cells: String = COLUMNS.iter().map(|(.., value)| format!("<TD>{}</TD>", rt::xml::escape(value))).collect();
    format!("<TR>{cells}</TR>\n")
}

impl Api for Service {
    /// The ObsCore records matching the query (here: the sample, unless `MAXREC=0`).
    async fn query(&self, request: api::QueryRequest) -> Result<api::QueryResponse, rt::Error> {
        let fields: String = COLUMNS
            .iter()
            .map(|(name, datatype, ucd, unit, _)| {
                let size = if *datatype == "char" { r#" arraysize="*""# } else { "" };
                let unit = if unit.is_empty() { String::new() } else { format!(r#" unit="{unit}""#) };
                format!("<FIELD name=\"{name}\" datatype=\"{datatype}\"{size} ucd=\"{ucd}\" utype=\"obscore:{name}\"{unit}/>\n")
            })
            .collect();
        let rows = if request.maxrec == Some(0) { String::new() } else { sample_record() };
        Ok(api::QueryResponse::Ok(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="OK"/>
<TABLE name="results">
{fields}<DATA><TABLEDATA>
{rows}</TABLEDATA></DATA>
</TABLE>
</RESOURCE>
</VOTABLE>
"#
        )))
    }
}
