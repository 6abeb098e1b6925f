//! The service: ivoagen created this file once and never overwrites it.
//! (Created by `cargo xtask codegen`.)
//!
//! The SODA cutout core: requests in, FITS cutouts out, read from the files of the data directory.

pub mod archive;
pub mod buffers;
pub mod cutout;
pub mod datalink;
pub mod fits;
pub mod hcompress;
pub mod rights;
pub mod sample;
pub mod tiles;
pub mod wcs;

use crate::api::{self, Api};
use archive::{Archive, Dataset, Missing};
use buffers::Buffers;
use cutout::{Filters, Region};
use rights::{Denied, Granted, Rights};
use ivoagen_runtime::codegen as rt;
use rt::ivoa::Fault;
use std::sync::Arc;

/// Cutouts up to this size are built in memory and sent at once; larger ones stream.
const IN_MEMORY: u64 = 1 << 20;
/// The most cutouts one asynchronous job makes.
const MAX_COMBINATIONS: usize = 1000;

/// The service: the archive of FITS files it cuts.
#[derive(Debug, Clone)]
pub struct Service {
    archive: Arc<Archive>,
    /// Who may have the proprietary datasets (the data directory's `proprietary.txt`).
    rights: Arc<Rights>,
    /// The buffers small cutouts are written into, reused once sent.
    buffers: Arc<Buffers>,
    /// `SODA_ASYNC_NO_OVERLAP=fail`: a job with a combination that does not overlap its data fails
    /// instead of recording a text/plain error result.
    fail_jobs_without_overlap: bool,
    /// `--async-results combined`: an async job writes all its cutouts as the extensions of one
    /// FITS file, rather than one file per cutout.
    combined: bool,
}

impl Service {
    /// Builds the service when the server starts. Without `--data-dir`, the default directory
    /// gets the sample datasets. Sample data that cannot be written, a data-rights policy that
    /// cannot be read, or a `SODA_OPEN_DATASETS` that is not a positive number, stops the server.
    pub fn new(config: &rt::serve::Config) -> Result<Self, String> {
        if !config.data_dir_given {
            sample::ensure(&config.data_dir)
                .map_err(|e| format!("cannot write the sample data to {}: {e}", config.data_dir.display()))?;
        }
        let fail = std::env::var("SODA_ASYNC_NO_OVERLAP").is_ok_and(|v| v == "fail");
        let cap = match std::env::var("SODA_OPEN_DATASETS") {
            Ok(v) => v.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("SODA_OPEN_DATASETS=`{v}` is not a positive number"))?,
            Err(_) => archive::OPEN_DATASETS,
        };
        let archive = Archive::with_cap(config.data_dir.clone(), config.authority.clone(), cap);
        let rights = Rights::open(&config.data_dir).map_err(|e| format!("the data-rights policy: {e}"))?;
        let combined = match config.service.get("async-results").map(String::as_str) {
            None | Some("each") => false,
            Some("combined") => true,
            Some(other) => return Err(format!("--async-results: `{other}` is not each or combined")),
        };
        Ok(Service { archive: Arc::new(archive), rights: Arc::new(rights), buffers: Buffers::new(buffers::KEPT, IN_MEMORY as usize), fail_jobs_without_overlap: fail, combined })
    }
}

impl Service {
    /// Whether `caller` may have the dataset `id` names, and why. An ID that names no dataset
    /// passes: reading it says what is wrong with it.
    fn allowed(&self, id: &str, caller: &rt::auth::Caller) -> Result<Granted, Denied> {
        match self.archive.name_of(id) {
            Ok(name) => self.rights.check(name, caller),
            Err(_) => Ok(Granted::Public),
        }
    }
}

/// The answer to a caller who may not have a dataset: 401 (with the challenges) to an anonymous
/// one, 403 `AuthorizationError` to an identity in none of its groups.
fn refused(denied: Denied) -> rt::Error {
    match denied {
        Denied::Anonymous(m) => rt::Error::new(Fault::Authentication, m),
        Denied::NotMember(m) => rt::Error::new(Fault::Authorization, m),
        Denied::Unreadable(m) => rt::Error::unavailable(m),
    }
}

/// A dataset's pixels could not be read: a file cut short or a compressed stream that does not
/// decompress is damaged, anything else is the storage failing.
fn reading(id: &str, e: &std::io::Error) -> rt::Error {
    // Cut short, or a compressed stream that does not decompress: the file is damaged.
    let damaged = matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData);
    let fault = if damaged { Fault::Internal } else { Fault::Unavailable };
    rt::Error::new(fault, format!("reading dataset `{id}` failed: {e}"))
}

fn missing(error: Missing) -> rt::Error {
    match error {
        Missing::Invalid(m) => rt::Error::usage(m),
        Missing::NotFound(m) => rt::Error::not_found(m),
        Missing::Unavailable(m) => rt::Error::unavailable(m),
        Missing::Damaged(m) => rt::Error::internal(m),
        Missing::Unsupported(m) => rt::Error::with_status(rt::http::StatusCode::NOT_IMPLEMENTED, m),
        Missing::Denied(denied) => refused(denied),
    }
}

/// The spatial filters of a request, in the order given: POS, then CIRCLE, then POLYGON.
fn regions(request: &api::SodaSyncRequest) -> Vec<Region> {
    let mut regions = Vec::new();
    for shape in request.pos.iter().flatten() {
        regions.push(match shape {
            rt::dali::Shape::Circle(c) => Region::Circle { lon: c.lon, lat: c.lat, radius: c.radius },
            rt::dali::Shape::Range(r) => Region::Range { lon: r.lon, lat: r.lat },
            rt::dali::Shape::Polygon(p) => Region::Polygon(p.vertices.clone()),
        });
    }
    regions.extend(request.circle.iter().flatten().map(|c| Region::Circle { lon: c.lon, lat: c.lat, radius: c.radius }));
    regions.extend(request.polygon.iter().flatten().map(|p| Region::Polygon(p.vertices.clone())));
    regions
}

fn intervals(values: &Option<Vec<rt::dali::Interval>>) -> Vec<Option<(f64, f64)>> {
    match values {
        Some(v) if !v.is_empty() => v.iter().map(|i| Some((i.lo, i.hi))).collect(),
        _ => vec![None],
    }
}

fn pol(request: &api::SodaSyncRequest) -> Option<Vec<i32>> {
    request.pol.as_ref().filter(|p| !p.is_empty()).map(|labels| labels.iter().filter_map(|l| wcs::stokes_code(&l.to_string())).collect())
}

fn check_format(format: Option<&str>, accepted: &[&str], what: &str) -> Result<(), rt::Error> {
    match format {
        Some(f) if !accepted.iter().any(|a| a.eq_ignore_ascii_case(f.trim())) => Err(rt::Error::usage(format!("RESPONSEFORMAT `{f}` is not supported: {what}"))),
        _ => Ok(()),
    }
}

const FITS_FORMATS: [&str; 3] = ["application/fits", "fits", "image/fits"];

/// Every ID × spatial × BAND × TIME combination of a request (SODA §3.1), POL applying to all.
fn combinations(request: &api::SodaSyncRequest) -> Vec<(String, Filters)> {
    let mut regions: Vec<Option<Region>> = regions(request).into_iter().map(Some).collect();
    if regions.is_empty() {
        regions.push(None);
    }
    let (bands, times, pol) = (intervals(&request.band), intervals(&request.time), pol(request));
    let mut all = Vec::new();
    for id in &request.id {
        for region in &regions {
            for band in &bands {
                for time in &times {
                    all.push((id.clone(), Filters { region: region.clone(), band: *band, time: *time, pol: pol.clone() }));
                }
            }
        }
    }
    all
}

/// What a cutout comes to before any pixel is read.
enum Plan {
    Cut { dataset: Arc<Dataset>, parts: Vec<Part>, length: u64 },
    NoOverlap(String),
}

/// One image of a cutout: the extension it is cut from (none: the dataset's only image), its
/// box and its header.
struct Part {
    extension: Option<usize>,
    pixels: fits::PixelBox,
    header: fits::Header,
}

/// The cutout of `filters` on dataset `id`. A multi-extension file is cut extension by
/// extension: each image extension with the axes the filters need is a candidate, and each that
/// the filters meet gives its own box; those they miss are left out, and when they miss every
/// candidate there is no overlap.
fn plan(archive: &Archive, id: &str, filters: &Filters) -> Result<Plan, rt::Error> {
    let dataset = archive.get(id).map_err(missing)?;
    let no_overlap = || Plan::NoOverlap(format!("the filters do not overlap dataset `{id}`"));
    if dataset.extensions.is_empty() {
        return match cutout::plan(&dataset.image, &dataset.wcs, filters) {
            Err(cutout::Unusable(m)) => Err(rt::Error::usage(format!("{id}: {m}"))),
            Ok(None) => Ok(no_overlap()),
            Ok(Some(pixels)) => {
                let header = fits::cutout_header(&dataset.image, &pixels);
                let length = fits::cutout_len(&header, &dataset.image, &pixels);
                Ok(Plan::Cut { dataset, parts: vec![Part { extension: None, pixels, header }], length })
            }
        };
    }
    let (mut parts, mut candidates, mut problem) = (Vec::new(), 0, None);
    for (i, extension) in dataset.extensions.iter().enumerate() {
        match cutout::plan(&extension.image, &extension.wcs, filters) {
            Err(cutout::Unusable(m)) => {
                problem.get_or_insert(m);
            }
            Ok(None) => candidates += 1,
            Ok(Some(pixels)) => {
                candidates += 1;
                parts.push(Part { extension: Some(i), header: fits::extension_header(&extension.image, &pixels), pixels });
            }
        }
    }
    if candidates == 0 {
        return Err(rt::Error::usage(format!("{id}: {}", problem.unwrap_or_else(|| "no extension can be cut".to_owned()))));
    }
    if parts.is_empty() {
        return Ok(no_overlap());
    }
    let primary = fits::multi_extension_primary(&dataset.primary).to_bytes().len() as u64;
    let length = primary + parts.iter().map(|p| fits::cutout_len(&p.header, image_of(&dataset, p), &p.pixels)).sum::<u64>();
    Ok(Plan::Cut { dataset, parts, length })
}

/// The image `part` is cut from.
fn image_of<'a>(dataset: &'a Dataset, part: &Part) -> &'a fits::Image {
    part.extension.map_or(&dataset.image, |i| &dataset.extensions[i].image)
}

/// Writes the cutout `parts` of `dataset` read through `reader`: one image as a FITS file, or
/// the primary header and each cut extension for a multi-extension file.
fn write_cutout(reader: &archive::Reader<'_>, dataset: &Dataset, parts: &[Part], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    if !dataset.extensions.is_empty() {
        out.write_all(&fits::multi_extension_primary(&dataset.primary).to_bytes())?;
    }
    for part in parts {
        fits::write_cutout(reader, image_of(dataset, part), &part.pixels, &part.header, out)?;
    }
    Ok(())
}

/// An async job of `--async-results combined`: every combination planned, the cut ones written in
/// order as the extensions of one file, `cutouts.fits`, after a primary HDU without data; those
/// that cut nothing listed, each with its label, in `errors.txt` (or failing the job, with
/// `SODA_ASYNC_NO_OVERLAP=fail`).
fn combined_job(archive: &Archive, all: &[(String, Filters)], results: &rt::uws::engine::ResultWriter, fail_without_overlap: bool) -> Result<(), rt::uws::JobError> {
    let failed = |error: rt::Error| rt::uws::JobError::from(error);
    let (mut cuts, mut problems) = (Vec::new(), String::new());
    for (n, (id, filters)) in all.iter().enumerate() {
        if results.is_cancelled() {
            return Err(failed(rt::Error::internal(format!("stopped before cutout {}", n + 1))));
        }
        let problem = match plan(archive, id, filters) {
            Ok(Plan::Cut { dataset, parts, .. }) => {
                cuts.push((dataset, parts));
                continue;
            }
            Ok(Plan::NoOverlap(m)) => rt::Error::not_found(m),
            Err(error) => error,
        };
        if fail_without_overlap {
            return Err(failed(problem));
        }
        problems.push_str(&format!("cutout {}: {}\n", n + 1, problem.labelled()));
    }
    if !cuts.is_empty() {
        results
            .put_with("cutouts.fits", "application/fits", |out| {
                out.write_all(&fits::combined_primary().to_bytes())?;
                for (dataset, parts) in &cuts {
                    for part in parts {
                        let image = image_of(dataset, part);
                        let header = fits::as_extension(&fits::inherited(&dataset.primary, &fits::Image { header: part.header.clone(), ..image.clone() }));
                        fits::write_cutout(&dataset.reader(false), image, &part.pixels, &header, out)?;
                    }
                }
                Ok(())
            })
            .map_err(|e| failed(rt::Error::internal(format!("the cutouts could not be written: {e}"))))?;
    }
    if !problems.is_empty() {
        results.put("errors.txt", "text/plain", problems.as_bytes()).map_err(|e| failed(rt::Error::internal(format!("errors.txt could not be written: {e}"))))?;
    }
    Ok(())
}

impl Api for Service {
    const FLAGS: &'static [rt::serve::Flag] = &[rt::serve::Flag {
        name: "async-results",
        value_name: "each|combined",
        env: "SODA_ASYNC_RESULTS",
        help: "How an async job writes its cutouts: one FITS file each (SODA's default), or one file of them all as extensions [default: each]",
    }];

    /// Available while the data directory can be read; otherwise down, saying why.
    async fn vosi_availability(&self) -> rt::vosi::Availability {
        match self.archive.readable() {
            Ok(()) => rt::vosi::Availability::up(),
            Err(why) => rt::vosi::Availability::down(why),
        }
    }

    async fn soda_sync(&self, request: api::SodaSyncRequest) -> Result<api::SodaSyncResponse, rt::Error> {
        let multi = |what: &str| Err(rt::Error::multi_valued(format!("{what}; use the async endpoint (`async`, beside `sync`) for several cutouts")));
        if request.id.len() > 1 {
            return multi("sync cutouts take one ID");
        }
        if regions(&request).len() > 1 {
            return multi("sync cutouts take one spatial filter (POS, CIRCLE or POLYGON)");
        }
        if request.band.as_ref().is_some_and(|b| b.len() > 1) {
            return multi("sync cutouts take one BAND");
        }
        if request.time.as_ref().is_some_and(|t| t.len() > 1) {
            return multi("sync cutouts take one TIME");
        }
        check_format(request.responseformat.as_deref(), &FITS_FORMATS, "cutouts are application/fits")?;
        let (id, filters) = combinations(&request).remove(0);
        self.allowed(&id, &request.caller).map_err(refused)?;
        let (archive, buffers) = (self.archive.clone(), self.buffers.clone());
        // Plan, and make a small cutout at once, off the async threads: both read the file.
        let planned = rt::tokio::task::spawn_blocking(move || -> Result<Result<Vec<u8>, Plan>, rt::Error> {
            let planned = plan(&archive, &id, &filters)?;
            if let Plan::Cut { dataset, parts, length } = &planned
                && *length <= IN_MEMORY
            {
                let mut body = buffers.take(*length as usize);
                write_cutout(&dataset.reader(true), dataset, parts, &mut body).map_err(|e| reading(&id, &e))?;
                return Ok(Ok(body));
            }
            Ok(Err(planned))
        })
        .await
        .map_err(|e| rt::Error::internal(format!("the cutout task failed: {e}")))?;
        let (dataset, parts, length) = match planned {
            Err(error) => return Err(error),
            Ok(Ok(body)) => return Ok(api::SodaSyncResponse::Ok(rt::Body::from(Buffers::body(&self.buffers, body)))),
            Ok(Err(Plan::NoOverlap(_))) => return Ok(api::SodaSyncResponse::NoContent),
            Ok(Err(Plan::Cut { dataset, parts, length })) => (dataset, parts, length),
        };
        let (mut writer, body) = rt::response::streamed(Some(length), 256 * 1024);
        rt::tokio::task::spawn_blocking(move || {
            if let Err(e) = write_cutout(&dataset.reader(false), &dataset, &parts, &mut writer)
                && e.kind() != std::io::ErrorKind::BrokenPipe
            {
                writer.fail(e);
            }
        });
        Ok(api::SodaSyncResponse::Ok(body))
    }

    async fn soda_sync_job(
        &self,
        request: api::SodaSyncRequest,
        results: Arc<rt::uws::engine::ResultWriter>,
    ) -> Result<(), rt::uws::JobError> {
        let failed = |error: rt::Error| rt::uws::JobError::from(error);
        check_format(request.responseformat.as_deref(), &FITS_FORMATS, "cutouts are application/fits").map_err(failed)?;
        let all = combinations(&request);
        if all.len() > MAX_COMBINATIONS {
            return Err(failed(rt::Error::usage(format!("the parameters make {} cutouts; a job makes at most {MAX_COMBINATIONS}", all.len()))));
        }
        // The job runs as its owner: a dataset the owner may not have fails the whole job, before
        // any cutout is made.
        for id in &request.id {
            self.allowed(id, &request.caller).map_err(|denied| failed(refused(denied)))?;
        }
        let archive = self.archive.clone();
        let fail_without_overlap = self.fail_jobs_without_overlap;
        if self.combined {
            return rt::tokio::task::spawn_blocking(move || combined_job(&archive, &all, &results, fail_without_overlap))
                .await
                .map_err(|e| failed(rt::Error::internal(format!("the job's task failed: {e}"))))?;
        }
        rt::tokio::task::spawn_blocking(move || {
            for (n, (id, filters)) in all.iter().enumerate() {
                let n = n + 1;
                // Aborted, deleted, out of time or shutting down: stop before the next cutout
                // (a cutout being written stops too: the writer refuses its bytes).
                if results.is_cancelled() {
                    return Err(failed(rt::Error::internal(format!("stopped before cutout {n}"))));
                }
                let problem = match plan(&archive, id, filters) {
                    Ok(Plan::Cut { dataset, parts, .. }) => {
                        results
                            .put_with(&format!("cutout-{n}.fits"), "application/fits", |out| write_cutout(&dataset.reader(false), &dataset, &parts, out))
                            .map_err(|e| failed(rt::Error::internal(format!("cutout {n} ({id}) could not be written: {e}"))))?;
                        continue;
                    }
                    Ok(Plan::NoOverlap(m)) => rt::Error::not_found(m),
                    Err(error) => error,
                };
                if fail_without_overlap {
                    return Err(failed(problem));
                }
                results
                    .put(&format!("cutout-{n}.txt"), "text/plain", problem.labelled().as_bytes())
                    .map_err(|e| failed(rt::Error::internal(format!("result {n} could not be written: {e}"))))?;
            }
            Ok(())
        })
        .await
        .map_err(|e| failed(rt::Error::internal(format!("the job's task failed: {e}"))))?
    }

    async fn links(&self, request: api::LinksRequest) -> Result<api::LinksResponse, rt::Error> {
        const VOTABLE: [&str; 5] = ["votable", "application/x-votable+xml", "application/x-votable+xml;content=datalink", "text/xml", "application/xml"];
        check_format(request.responseformat.as_deref(), &VOTABLE, "links are a DataLink VOTable")?;
        let (archive, service) = (self.archive.clone(), self.clone());
        rt::tokio::task::spawn_blocking(move || {
            // Each ID, whether the caller has it as a member of its groups, and its dataset.
            let found: Vec<(String, bool, Result<Arc<Dataset>, Missing>)> = request
                .id
                .iter()
                .map(|id| match service.allowed(id, &request.caller) {
                    Ok(granted) => (id.clone(), granted == Granted::Member, archive.get(id)),
                    Err(denied) => (id.clone(), false, Err(Missing::Denied(denied))),
                })
                .collect();
            let links: Vec<datalink::Link<'_>> = found
                .iter()
                .map(|(id, proprietary, dataset)| match dataset {
                    Ok(dataset) => datalink::Link::Found { id, dataset, proprietary: *proprietary },
                    Err(Missing::Invalid(m)) => datalink::Link::Fault { id, message: format!("UsageFault: {m}") },
                    Err(Missing::NotFound(m)) => datalink::Link::Fault { id, message: format!("NotFoundFault: {m}") },
                    Err(Missing::Unavailable(m)) => datalink::Link::Fault { id, message: format!("TransientFault: {m}") },
                    Err(Missing::Damaged(m) | Missing::Unsupported(m)) => datalink::Link::Fault { id, message: format!("FatalFault: {m}") },
                    // DataLink's faults have no word for it: the default, saying which it is.
                    Err(Missing::Denied(Denied::Anonymous(m))) => datalink::Link::Refused { id, message: format!("DefaultFault: AuthenticationError: {m}") },
                    Err(Missing::Denied(Denied::NotMember(m))) => datalink::Link::Refused { id, message: format!("DefaultFault: AuthorizationError: {m}") },
                    Err(Missing::Denied(Denied::Unreadable(m))) => datalink::Link::Fault { id, message: format!("TransientFault: {m}") },
                })
                .collect();
            api::LinksResponse::Ok(datalink::document(&links, &request.base_url))
        })
        .await
        .map_err(|e| rt::Error::internal(format!("the links task failed: {e}")))
    }
}
