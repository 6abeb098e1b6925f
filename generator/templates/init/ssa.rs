//! The spectrum search: `ivoagen init` wrote this file once and never overwrites it. It answers
//! one sample spectrum to every query; replace `SAMPLE` with a search of your spectra.

use crate::api::{self, Api};
use ivoagen_runtime as rt;

/// SSA 1.1's mandatory fields (§4.2.2), found by utype: utype, datatype, arraysize, UCD, unit,
/// and the sample spectrum's value.
const SAMPLE: &[(&str, &str, &str, &str, &str, &str)] = &[
    ("Access.Reference", "char", "*", "meta.ref.url", "", "https://example.org/data/spectrum-1.fits"),
    ("Access.Format", "char", "*", "meta.code.mime", "", "application/fits"),
    ("Dataset.DataModel", "char", "*", "meta.id", "", "Spectrum-1.0"),
    ("Dataset.Length", "long", "", "meta.number", "", "2048"),
    ("DataID.Title", "char", "*", "meta.title;meta.dataset", "", "Sample spectrum of M31"),
    ("Curation.Publisher", "char", "*", "meta.curation", "", "Example Observatory"),
    ("Char.SpatialAxis.Coverage.Location.Value", "double", "2", "pos.eq", "deg", "10.6847 41.269"),
    ("Char.SpatialAxis.Coverage.Bounds.Extent", "double", "", "instr.fov", "deg", "0.001"),
    ("Char.SpectralAxis.Coverage.Location.Value", "double", "", "instr.bandpass", "m", "5.5e-7"),
    ("Char.SpectralAxis.Coverage.Bounds.Extent", "double", "", "instr.bandwidth", "m", "2e-7"),
    ("Char.TimeAxis.Coverage.Location.Value", "double", "", "time.epoch", "d", "60000.15"),
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

impl Api for Service {
    /// The spectra matching the query (here: the sample, unless `MAXREC=0`), with the
    /// `QUERY_STATUS` and `SERVICE_PROTOCOL` INFOs SSA requires.
    async fn query_spectra(&self, request: api::QuerySpectraRequest) -> Result<api::QuerySpectraResponse, rt::Error> {
        let fields: String = SAMPLE
            .iter()
            .enumerate()
            .map(|(i, (utype, datatype, size, ucd, unit, _))| {
                let size = if size.is_empty() { String::new() } else { format!(r#" arraysize="{size}""#) };
                let unit = if unit.is_empty() { String::new() } else { format!(r#" unit="{unit}""#) };
                format!("<FIELD name=\"f{i}\" datatype=\"{datatype}\"{size} ucd=\"{ucd}\" utype=\"ssa:{utype}\"{unit}/>\n")
            })
            .collect();
        let rows = if request.maxrec == Some(0) {
            String::new()
        } else {
            let cells: String = SAMPLE.iter().map(|(.., value)| format!("<TD>{}</TD>", rt::xml::escape(value))).collect();
            format!("<TR>{cells}</TR>\n")
        };
        Ok(api::QuerySpectraResponse::Ok(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" xmlns:ssa="http://www.ivoa.net/xml/DalSsap/v1.0">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="OK"/>
<INFO name="SERVICE_PROTOCOL" value="1.1">SSAP</INFO>
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
