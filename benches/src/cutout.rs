//! The cutout benchmark's server and in-process measurements, for `cargo xtask bench cutout`:
//!
//! - `cutout-bench data DIR`: writes `DIR/bench.fits`, 4096² float32 with a TAN WCS (1″ pixels).
//! - `cutout-bench big DIR`: writes `DIR/big.fits`, 16384² float32 (1 GiB).
//! - `cutout-bench noisy DIR SIDE`: writes `DIR/noisy.fits`, SIDE² float32 with the same 1″ TAN
//!   WCS, each pixel 1000 plus noise of σ = 100 down to the last mantissa bit (what lossless
//!   compression barely shrinks), written row by row.
//! - `cutout-bench cpu DIR COUNT [ID]`: makes COUNT cutouts of the benchmark box of dataset ID
//!   (`bench` by default; `benchz` is its tile-compressed copy) in this process (the dataset
//!   lookup, the WCS planning, the header and the pixels, into memory) and prints the box as a
//!   FITS section and the wall time per cutout in microseconds.
//! - `cutout-bench serve DIR`: serves the SODA server on one worker thread, plus `/static`, the
//!   same server sending a precomputed body of the benchmark cutout's size.

use ivoagen_runtime::codegen as rt;
use rt::axum::{Router, routing};
use soda_cutout_server::service::{Service, archive::Archive, cutout, fits, sample};
use std::path::PathBuf;
use std::time::Instant;

/// The benchmark box: a circle of 181″ at the image centre, 362 pixels across.
pub const CIRCLE: (f64, f64, f64) = (150.0, 2.2, 181.0 / 3600.0);

fn cut(archive: &Archive, id: &str, out: &mut Vec<u8>) -> fits::PixelBox {
    let dataset = archive.get(id).expect("the benchmark's dataset exists");
    let filters = cutout::Filters { region: Some(cutout::Region::Circle { lon: CIRCLE.0, lat: CIRCLE.1, radius: CIRCLE.2 }), ..Default::default() };
    let pixels = cutout::plan(&dataset.image, &dataset.wcs, &filters).expect("usable").expect("overlaps");
    let header = fits::cutout_header(&dataset.image, &pixels);
    out.clear();
    out.reserve(fits::cutout_len(&header, &dataset.image, &pixels) as usize);
    fits::write_cutout(&dataset.reader(true), &dataset.image, &pixels, &header, out).expect("readable");
    pixels
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.get(1).ok_or("usage: cutout-bench data|big|noisy|cpu|serve DIR [COUNT|SIDE]")?);
    match args[0].as_str() {
        "data" => sample::write_image(&dir.join("bench.fits"), 4096, CIRCLE.0, CIRCLE.1, 1.0 / 3600.0).map_err(|e| e.to_string()),
        "big" => sample::write_image(&dir.join("big.fits"), 16384, CIRCLE.0, CIRCLE.1, 1.0 / 3600.0).map_err(|e| e.to_string()),
        "noisy" => {
            let side: usize = args.get(2).and_then(|c| c.parse().ok()).ok_or("noisy needs a SIDE")?;
            write_noisy(&dir.join("noisy.fits"), side).map_err(|e| e.to_string())
        }
        "cpu" => {
            let count: u32 = args.get(2).and_then(|c| c.parse().ok()).ok_or("cpu needs a COUNT")?;
            let id = args.get(3).map_or("bench", String::as_str);
            let archive = Archive::new(dir, None);
            let mut out = Vec::new();
            let pixels = cut(&archive, id, &mut out);
            let start = Instant::now();
            for _ in 0..count {
                cut(&archive, id, &mut out);
            }
            let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(count);
            let section: Vec<String> = pixels.iter().map(|(a, b)| format!("{a}:{b}")).collect();
            println!("{} {} {us:.2}", section.join(","), out.len());
            Ok(())
        }
        "serve" => {
            let archive = Archive::new(dir.clone(), None);
            let mut body = Vec::new();
            cut(&archive, "bench", &mut body);
            let body = rt::Bytes::from(body);
            let config = rt::serve::Config { data_dir: dir, data_dir_given: true, base_path: "/soda".into(), ..Default::default() };
            let runtime = rt::tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().map_err(|e| e.to_string())?;
            let service = Service::new(&config)?;
            runtime.block_on(async move {
                let app = Router::new()
                    .route("/static", routing::get(move || {
                        let body = body.clone();
                        async move { rt::response::bytes_body(rt::http::StatusCode::OK, "application/fits", body) }
                    }))
                    .merge(soda_cutout_server::router_at(service, "/soda"));
                let app = rt::serve::mount(app, &config);
                let listener = rt::tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
                eprintln!("listening on http://{}/", listener.local_addr().map_err(|e| e.to_string())?);
                rt::serve::serve(listener, app, std::future::pending()).await.map_err(|e| e.to_string())
            })
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

/// Writes `path`: a `side`² float32 image centred on the benchmark circle with 1″ pixels (TAN),
/// each pixel 1000 plus roughly Gaussian noise of σ = 100 (the sum of four uniforms from a
/// xorshift64* generator, the same every run), row by row: memory stays at one row.
fn write_noisy(path: &std::path::Path, side: usize) -> std::io::Result<()> {
    use std::io::Write;
    let card = |k: &str, v: &str| fits::value_card(k, v, None);
    let centre = fits::format_number((side as f64 + 1.0) / 2.0);
    let header = fits::Header::from_cards([
        card("SIMPLE", "T"),
        card("BITPIX", "-32"),
        card("NAXIS", "2"),
        card("NAXIS1", &side.to_string()),
        card("NAXIS2", &side.to_string()),
        card("OBJECT", &fits::quoted("noise")),
        card("RADESYS", &fits::quoted("ICRS")),
        card("CTYPE1", &fits::quoted("RA---TAN")),
        card("CTYPE2", &fits::quoted("DEC--TAN")),
        card("CRPIX1", &centre),
        card("CRPIX2", &centre),
        card("CRVAL1", &fits::format_number(CIRCLE.0)),
        card("CRVAL2", &fits::format_number(CIRCLE.1)),
        card("CD1_1", &fits::format_number(-1.0 / 3600.0)),
        card("CD1_2", "0"),
        card("CD2_1", "0"),
        card("CD2_2", &fits::format_number(1.0 / 3600.0)),
    ]);
    let part = path.with_extension("fits.part");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&part)?);
    out.write_all(&header.to_bytes())?;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut row = Vec::with_capacity(side * 4);
    for _ in 0..side {
        row.clear();
        for _ in 0..side {
            let gauss = (uniform() + uniform() + uniform() + uniform() - 2.0) * 3f64.sqrt();
            row.extend_from_slice(&((1000.0 + 100.0 * gauss) as f32).to_be_bytes());
        }
        out.write_all(&row)?;
    }
    let len = side * side * 4;
    out.write_all(&vec![0u8; fits::padded(len) - len])?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(part, path)
}
