//! DataLink 1.1 `links` responses: for each ID, the dataset itself (`#this`) and a SODA service
//! descriptor (DataLink §4) whose input parameters advertise that dataset's ranges; each row says
//! who may use its link (`link_auth`, `link_authorized`).

use crate::service::archive::Dataset;
use crate::service::wcs::{self, Axis};
use ivoagen_runtime::codegen as rt;
use rt::xml::XmlWriter;

/// One row of the links table.
pub enum Link<'a> {
    /// The dataset, found, and the caller may have it; `proprietary` if only members of its
    /// groups may.
    Found { id: &'a str, dataset: &'a Dataset, proprietary: bool },
    /// An ID whose dataset cannot be had (none by that name, unreadable, damaged…), with its
    /// fault (`NotFoundFault: …`, DataLink §3.4).
    Fault { id: &'a str, message: String },
    /// A proprietary dataset the caller may not have, with its fault (`DefaultFault: …`).
    Refused { id: &'a str, message: String },
}

impl Link<'_> {
    /// The row's DataLink 1.1 `link_auth` and `link_authorized` (§3.2): whether its link needs
    /// authentication (the service takes anonymous and authenticated callers alike, so a public
    /// dataset's links are `optional`) and whether this caller may use it; empty (null) when
    /// there is no dataset to say it of.
    fn auth(&self) -> [&'static str; 2] {
        match self {
            Link::Found { proprietary: true, .. } => ["true", "true"],
            Link::Found { proprietary: false, .. } => ["optional", "true"],
            Link::Refused { .. } => ["true", "false"],
            Link::Fault { .. } => ["", ""],
        }
    }
}

const STRING: [(&str, &str); 2] = [("datatype", "char"), ("arraysize", "*")];

fn field(w: &mut XmlWriter, name: &str, ucd: &str, extra: &[(&str, &str)]) {
    let mut attrs = vec![("name", name), ("ucd", ucd)];
    attrs.extend_from_slice(extra);
    w.empty("FIELD", &attrs);
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn numbers(values: &[f64]) -> String {
    values.iter().map(|v| format!("{v}")).collect::<Vec<_>>().join(" ")
}

/// The DataLink VOTable for `links`; `base_url` is the service's URL.
pub fn document(links: &[Link<'_>], base_url: &str) -> String {
    let mut w = XmlWriter::new();
    w.start("VOTABLE", &[("version", "1.4"), ("xmlns", "http://www.ivoa.net/xml/VOTable/v1.3")]);
    w.start("RESOURCE", &[("type", "results")]);
    w.empty("INFO", &[("name", "QUERY_STATUS"), ("value", "OK")]);
    // DataLink 1.1 §3: the results resource names the standard it answers.
    w.empty("INFO", &[("name", "standardID"), ("value", "ivo://ivoa.net/std/DataLink#links-1.1")]);
    w.start("TABLE", &[] as &[(&str, &str)]);
    field(&mut w, "ID", "meta.id;meta.main", &[("ID", "ID"), STRING[0], STRING[1]]);
    field(&mut w, "access_url", "meta.ref.url", &STRING);
    field(&mut w, "service_def", "meta.ref", &STRING);
    field(&mut w, "error_message", "meta.code.error", &STRING);
    field(&mut w, "semantics", "meta.code", &STRING);
    field(&mut w, "description", "meta.note", &STRING);
    field(&mut w, "content_type", "meta.code.mime", &STRING);
    field(&mut w, "content_length", "phys.size;meta.file", &[("datatype", "long"), ("unit", "byte")]);
    field(&mut w, "link_auth", "meta.code", &STRING);
    field(&mut w, "link_authorized", "meta.code", &[("datatype", "boolean")]);
    w.start("DATA", &[] as &[(&str, &str)]).start("TABLEDATA", &[] as &[(&str, &str)]);
    for (n, link) in links.iter().enumerate() {
        let [auth, authorized] = link.auth();
        let row = |w: &mut XmlWriter, cells: [&str; 8]| {
            w.start("TR", &[] as &[(&str, &str)]);
            for cell in cells.into_iter().chain([auth, authorized]) {
                w.leaf("TD", cell);
            }
            w.end();
        };
        match link {
            Link::Found { id, dataset, .. } => {
                let (this, length) = (format!("{base_url}/sync?ID={}", encode(id)), dataset.whole_len().to_string());
                row(&mut w, [id, &this, "", "", "#this", "The whole dataset", "application/fits", &length]);
                row(&mut w, [id, "", &format!("soda-{}", n + 1), "", "#cutout", "SODA cutouts of this dataset", "application/fits", ""]);
            }
            Link::Fault { id, message } | Link::Refused { id, message } => row(&mut w, [id, "", "", message, "#this", "", "", ""]),
        }
    }
    w.end().end().end().end();
    for (n, link) in links.iter().enumerate() {
        if let Link::Found { dataset, .. } = link {
            descriptor(&mut w, &format!("soda-{}", n + 1), dataset, base_url);
        }
    }
    w.end();
    w.finish()
}

/// The service descriptor of SODA sync for one dataset.
fn descriptor(w: &mut XmlWriter, id: &str, dataset: &Dataset, base_url: &str) {
    let sync = format!("{base_url}/sync");
    w.start("RESOURCE", &[("type", "meta"), ("utype", "adhoc:service"), ("ID", id)]);
    w.empty("PARAM", &[("name", "standardID"), STRING[0], STRING[1], ("value", "ivo://ivoa.net/std/SODA#sync-1.0")]);
    w.empty("PARAM", &[("name", "accessURL"), STRING[0], STRING[1], ("value", &sync)]);
    w.start("GROUP", &[("name", "inputParams")]);
    w.empty("PARAM", &[("name", "ID"), STRING[0], STRING[1], ("ucd", "meta.id;meta.dataset"), ("ref", "ID"), ("value", "")]);
    let (image, wcs) = (&dataset.image, &dataset.wcs);
    if let Some(c) = &wcs.celestial {
        let (nx, ny) = (image.axes[c.lon_axis] as f64, image.axes[c.lat_axis] as f64);
        let corners: Vec<(f64, f64)> = [(0.5, 0.5), (nx + 0.5, 0.5), (nx + 0.5, ny + 0.5), (0.5, ny + 0.5)]
            .iter()
            .filter_map(|&(x, y)| c.pixel_to_world(x, y))
            .collect();
        let centre = c.pixel_to_world((nx + 1.0) / 2.0, (ny + 1.0) / 2.0);
        let geometry = |w: &mut XmlWriter, name: &str, datatype: &str, arraysize: &str, xtype: &str, max: Option<String>| {
            w.start("PARAM", &[("name", name), ("datatype", datatype), ("arraysize", arraysize), ("xtype", xtype), ("unit", "deg"), ("ucd", "pos.outline;obs"), ("value", "")]);
            if let Some(max) = max {
                w.start("VALUES", &[] as &[(&str, &str)]).empty("MAX", &[("value", max)]).end();
            }
            w.end();
        };
        let bounding_circle = centre.map(|(l, b)| {
            let r = corners.iter().map(|&p| crate::service::cutout::distance((l, b), p)).fold(0.0, f64::max);
            numbers(&[l, b, r])
        });
        let footprint = (corners.len() == 4).then(|| numbers(&corners.iter().flat_map(|&(l, b)| [l, b]).collect::<Vec<_>>()));
        w.empty("PARAM", &[("name", "POS"), STRING[0], STRING[1], ("ucd", "pos.outline;obs"), ("xtype", "shape"), ("value", "")]);
        geometry(w, "CIRCLE", "double", "3", "circle", bounding_circle);
        geometry(w, "POLYGON", "double", "*", "polygon", footprint);
    }
    let interval = |w: &mut XmlWriter, name: &str, unit: &str, ucd: &str, range: Option<(f64, f64)>| {
        w.start("PARAM", &[("name", name), ("datatype", "double"), ("arraysize", "2"), ("xtype", "interval"), ("unit", unit), ("ucd", ucd), ("value", "")]);
        if let Some((lo, hi)) = range {
            w.start("VALUES", &[] as &[(&str, &str)]).empty("MIN", &[("value", lo.to_string())]).empty("MAX", &[("value", hi.to_string())]).end();
        }
        w.end();
    };
    let edges = |axis: &wcs::Linear, n: usize| {
        let (a, b) = (axis.world(0.5), axis.world(n as f64 + 0.5));
        (a.min(b), a.max(b))
    };
    let mut band = None;
    let mut time = wcs.time_coverage;
    let mut stokes = Vec::new();
    for (i, axis) in wcs.axes.iter().enumerate() {
        let n = image.axes[i];
        match axis {
            Axis::Wavelength(l) => band = Some(edges(l, n)),
            Axis::Frequency(l) => {
                let (lo, hi) = edges(l, n);
                band = Some((wcs::wavelength(hi), wcs::wavelength(lo)));
            }
            Axis::Time(l) => time = Some(edges(l, n)),
            Axis::Stokes(l) => stokes = (1..=n).filter_map(|p| wcs::stokes_label(l.world(p as f64).round() as i32)).collect(),
            Axis::Celestial | Axis::Other => {}
        }
    }
    interval(w, "BAND", "m", "em.wl;stat.interval", band);
    interval(w, "TIME", "d", "time.interval;obs.exposure", time);
    w.start("PARAM", &[("name", "POL"), STRING[0], STRING[1], ("ucd", "meta.code;phys.polarization"), ("value", "")]);
    if !stokes.is_empty() {
        w.start("VALUES", &[] as &[(&str, &str)]);
        for label in stokes {
            w.empty("OPTION", &[("value", label)]);
        }
        w.end();
    }
    w.end();
    w.end().end();
}
