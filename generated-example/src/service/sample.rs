//! Sample data, so that a fresh server has something to cut: a 2-D image with a TAN WCS and a
//! cube with celestial (SIN), spectral (WAVE, metres) and STOKES axes and MJD-BEG/MJD-END.
//! Pixel values are smooth, deterministic functions of position, so cutouts are easy to check.

use crate::service::fits::{self, Header, quoted, value_card};
use std::path::Path;

/// The names (IDs) of the sample datasets.
pub const NAMES: [&str; 2] = ["sample-image", "sample-cube"];

/// Writes any sample dataset missing from `dir`.
pub fn ensure(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if !dir.join("sample-image.fits").exists() {
        write_image(&dir.join("sample-image.fits"), 1024, 10.68, 41.27, 1.0 / 3600.0)?;
    }
    if !dir.join("sample-cube.fits").exists() {
        write_cube(&dir.join("sample-cube.fits"))?;
    }
    Ok(())
}

fn card(k: &str, v: &str, c: &str) -> String {
    value_card(k, v, Some(c))
}

/// A `n`×`n` float32 image centred on (`ra`, `dec`) with pixels of `scale` degrees, TAN.
pub fn write_image(path: &Path, n: usize, ra: f64, dec: f64, scale: f64) -> std::io::Result<()> {
    let centre = (n as f64 + 1.0) / 2.0;
    let header = Header::from_cards([
        card("SIMPLE", "T", "conforms to FITS standard"),
        card("BITPIX", "-32", "IEEE single precision"),
        card("NAXIS", "2", "number of axes"),
        card("NAXIS1", &n.to_string(), ""),
        card("NAXIS2", &n.to_string(), ""),
        card("OBJECT", &quoted("sample image"), ""),
        card("RADESYS", &quoted("ICRS"), ""),
        card("CTYPE1", &quoted("RA---TAN"), ""),
        card("CTYPE2", &quoted("DEC--TAN"), ""),
        card("CUNIT1", &quoted("deg"), ""),
        card("CUNIT2", &quoted("deg"), ""),
        card("CRPIX1", &fits::format_number(centre), ""),
        card("CRPIX2", &fits::format_number(centre), ""),
        card("CRVAL1", &fits::format_number(ra), ""),
        card("CRVAL2", &fits::format_number(dec), ""),
        card("CD1_1", &fits::format_number(-scale), ""),
        card("CD1_2", "0", ""),
        card("CD2_1", "0", ""),
        card("CD2_2", &fits::format_number(scale), ""),
        card("MJD-OBS", "60000.25", "start of the observation"),
        card("BUNIT", &quoted("adu"), ""),
    ]);
    let mut data = Vec::with_capacity(n * n * 4);
    for y in 0..n {
        for x in 0..n {
            data.extend_from_slice(&image_value(x, y, n).to_be_bytes());
        }
    }
    fits::write_image(path, &header, &data)
}

/// The value of pixel `(x, y)` (0-based) of a sample image: a gradient, a ripple and a source.
fn image_value(x: usize, y: usize, n: usize) -> f32 {
    let (fx, fy) = (x as f32 / n as f32, y as f32 / n as f32);
    let (dx, dy) = (fx - 0.5, fy - 0.5);
    100.0 * fx + 50.0 * fy + 10.0 * (20.0 * fx).sin() * (20.0 * fy).cos() + 1000.0 * (-(dx * dx + dy * dy) * 200.0).exp()
}

fn write_cube(path: &Path) -> std::io::Result<()> {
    let (nx, ny, nw, ns) = (64usize, 64usize, 40usize, 4usize);
    let header = Header::from_cards([
        card("SIMPLE", "T", "conforms to FITS standard"),
        card("BITPIX", "-32", "IEEE single precision"),
        card("NAXIS", "4", "number of axes"),
        card("NAXIS1", &nx.to_string(), ""),
        card("NAXIS2", &ny.to_string(), ""),
        card("NAXIS3", &nw.to_string(), ""),
        card("NAXIS4", &ns.to_string(), ""),
        card("OBJECT", &quoted("sample cube"), ""),
        card("RADESYS", &quoted("ICRS"), ""),
        card("CTYPE1", &quoted("RA---SIN"), ""),
        card("CTYPE2", &quoted("DEC--SIN"), ""),
        card("CRPIX1", "32.5", ""),
        card("CRPIX2", "32.5", ""),
        card("CRVAL1", "83.82", ""),
        card("CRVAL2", "-5.39", ""),
        card("CDELT1", "-0.01", ""),
        card("CDELT2", "0.01", ""),
        card("CUNIT1", &quoted("deg"), ""),
        card("CUNIT2", &quoted("deg"), ""),
        card("CTYPE3", &quoted("WAVE"), "vacuum wavelength"),
        card("CUNIT3", &quoted("m"), ""),
        card("CRPIX3", "1", ""),
        card("CRVAL3", "5.0E-7", ""),
        card("CDELT3", "5.0E-9", ""),
        card("SPECSYS", &quoted("BARYCENT"), ""),
        card("CTYPE4", &quoted("STOKES"), ""),
        card("CRPIX4", "1", ""),
        card("CRVAL4", "1", "I, Q, U, V"),
        card("CDELT4", "1", ""),
        card("MJD-BEG", "60000", "start of the observation"),
        card("MJD-END", "60000.5", "end of the observation"),
        card("BUNIT", &quoted("Jy/beam"), ""),
    ]);
    let mut data = Vec::with_capacity(nx * ny * nw * ns * 4);
    for s in 0..ns {
        for w in 0..nw {
            for y in 0..ny {
                for x in 0..nx {
                    let v = image_value(x, y, nx) * (1.0 + w as f32 / nw as f32) / (1.0 + s as f32);
                    data.extend_from_slice(&v.to_be_bytes());
                }
            }
        }
    }
    fits::write_image(path, &header, &data)
}
