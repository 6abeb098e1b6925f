//! The cone search: `ivoagen init` wrote this file once and never overwrites it. It searches
//! three sample objects near M31; replace `CATALOGUE` with your catalogue.

use crate::api::{self, Api};
use ivoagen_runtime as rt;

/// The sample catalogue: an identifier, right ascension and declination (ICRS degrees).
const CATALOGUE: &[(&str, f64, f64)] = &[("M31", 10.6847, 41.2690), ("M32", 10.6743, 40.8652), ("M110", 10.0921, 41.6853)];

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

/// The angle between two directions given in degrees, in degrees.
fn separation((ra1, dec1): (f64, f64), (ra2, dec2): (f64, f64)) -> f64 {
    let (dec1, dec2) = (dec1.to_radians(), dec2.to_radians());
    let cos = dec1.sin() * dec2.sin() + dec1.cos() * dec2.cos() * (ra1 - ra2).to_radians().cos();
    cos.clamp(-1.0, 1.0).acos().to_degrees()
}

impl Api for Service {
    /// The cone search's registry extension in VOSI capabilities (SimpleDALRegExt 1.1 §2.1): the
    /// largest radius, whether VERB is honoured and a query that finds rows.
    fn vosi_capability(&self, standard_id: &str) -> Option<rt::vosi::Extension> {
        use rt::vosi::{Element, Extension};
        (standard_id == "ivo://ivoa.net/std/ConeSearch").then(|| {
            Extension::new("cs", "ConeSearch", "http://www.ivoa.net/xml/ConeSearch/v1.0")
                .element(Element::leaf("maxSR", 180))
                .element(Element::leaf("maxRecords", CATALOGUE.len()))
                .element(Element::leaf("verbosity", false))
                .element(Element::new("testQuery").child(Element::leaf("ra", 10.68)).child(Element::leaf("dec", 41.27)).child(Element::leaf("sr", 0.5)))
        })
    }

    /// The rows within `SR` degrees of (`RA`, `DEC`), in a VOTable with the three columns SCS
    /// 1.03 requires; `SR=0` gets the columns only.
    async fn cone_search(&self, request: api::ConeSearchRequest) -> Result<api::ConeSearchResponse, rt::Error> {
        let centre = (request.ra, request.dec);
        let rows: String = CATALOGUE
            .iter()
            .filter(|(_, ra, dec)| request.sr > 0.0 && separation(centre, (*ra, *dec)) <= request.sr)
            .map(|(id, ra, dec)| format!("<TR><TD>{}</TD><TD>{ra}</TD><TD>{dec}</TD></TR>\n", rt::xml::escape(id)))
            .collect();
        Ok(api::ConeSearchResponse::Ok(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<TABLE name="results">
<FIELD name="id" datatype="char" arraysize="*" ucd="ID_MAIN"/>
<FIELD name="ra" datatype="double" unit="deg" ucd="POS_EQ_RA_MAIN"/>
<FIELD name="dec" datatype="double" unit="deg" ucd="POS_EQ_DEC_MAIN"/>
<DATA><TABLEDATA>
{rows}</TABLEDATA></DATA>
</TABLE>
</RESOURCE>
</VOTABLE>
"#
        )))
    }
}
