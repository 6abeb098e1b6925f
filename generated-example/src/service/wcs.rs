//! World coordinates of FITS images (Greisen & Calabretta 2002, Calabretta & Greisen 2002): the
//! celestial axes through a zenithal projection (TAN, SIN, ARC, STG, ZEA), with SIP distortion
//! (Shupe et al. 2005) on TAN, and linear spectral (WAVE, FREQ), time and STOKES axes.
//!
//! Pixel coordinates are FITS ones: 1-based, pixel `n` covering `[n - 0.5, n + 0.5]`.

use crate::service::fits::Header;

const C: f64 = 299_792_458.0;

/// A zenithal projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// Gnomonic.
    Tan,
    /// Orthographic (without the slant parameters PV2_1, PV2_2).
    Sin,
    /// Zenithal equidistant.
    Arc,
    /// Stereographic.
    Stg,
    /// Zenithal equal area.
    Zea,
}

impl Projection {
    fn parse(code: &str) -> Option<Projection> {
        Some(match code {
            "TAN" => Projection::Tan,
            "SIN" => Projection::Sin,
            "ARC" => Projection::Arc,
            "STG" => Projection::Stg,
            "ZEA" => Projection::Zea,
            _ => return None,
        })
    }

    /// Native latitude θ (degrees) → radius R_θ in the projection plane (degrees), if the point
    /// projects.
    fn radius(self, theta: f64) -> Option<f64> {
        let r = match self {
            Projection::Tan => (theta > 1e-9).then(|| (90.0 - theta).to_radians().tan().to_degrees())?,
            Projection::Sin => (theta >= 0.0).then(|| theta.to_radians().cos().to_degrees())?,
            Projection::Arc => 90.0 - theta,
            Projection::Stg => (theta > -90.0).then(|| 2.0 * ((90.0 - theta) / 2.0).to_radians().tan().to_degrees())?,
            Projection::Zea => 2.0 * ((90.0 - theta) / 2.0).to_radians().sin().to_degrees(),
        };
        Some(r)
    }

    /// Radius R_θ (degrees) → native latitude θ (degrees), if R is inside the projection.
    fn theta(self, r: f64) -> Option<f64> {
        let rr = r.to_radians();
        let theta = match self {
            Projection::Tan => 90.0 - rr.atan().to_degrees(),
            Projection::Sin => (rr <= 1.0).then(|| rr.acos().to_degrees())?,
            Projection::Arc => (r <= 180.0).then_some(90.0 - r)?,
            Projection::Stg => 90.0 - 2.0 * (rr / 2.0).atan().to_degrees(),
            Projection::Zea => (rr / 2.0 <= 1.0).then(|| 90.0 - 2.0 * (rr / 2.0).asin().to_degrees())?,
        };
        Some(theta)
    }
}

/// The celestial part of a WCS: two pixel axes, a linear transformation and a projection.
#[derive(Debug, Clone, PartialEq)]
pub struct Celestial {
    /// The longitude (RA) axis, 0-based.
    pub lon_axis: usize,
    /// The latitude (Dec) axis, 0-based.
    pub lat_axis: usize,
    crpix: [f64; 2],
    /// CRVAL of (lon, lat): the projection's reference point, degrees.
    crval: [f64; 2],
    /// The CD matrix (degrees per pixel), rows the intermediate (lon, lat) coordinates.
    cd: [[f64; 2]; 2],
    inverse: [[f64; 2]; 2],
    projection: Projection,
    /// LONPOLE, degrees.
    phi_p: f64,
    /// SIP distortion (`-SIP`), if any.
    sip: Option<Sip>,
}

/// SIP distortion polynomials (Shupe et al. 2005): pixel offsets `(u, v)` from CRPIX become
/// `(u + f(u, v), v + g(u, v))` before the CD matrix. The inverse polynomials (`AP`, `BP`), when
/// given, are only the first guess: the inverse is solved with the forward ones, to far below a
/// thousandth of a pixel, as astropy's `all_world2pix` does.
#[derive(Debug, Clone, PartialEq)]
pub struct Sip {
    /// `A_p_q` and `B_p_q`: `(p, q, a, b)`.
    forward: Vec<(i32, i32, f64, f64)>,
    /// `AP_p_q` and `BP_p_q`, if the header has them.
    inverse: Vec<(i32, i32, f64, f64)>,
}

impl Sip {
    /// The highest order SIP allows here: a header asking more is refused rather than read slowly.
    const MAX_ORDER: i32 = 9;

    /// The SIP of a header (`A_ORDER`, `B_ORDER`, their coefficients, and `AP`/`BP` if present).
    fn from_header(header: &Header) -> Result<Sip, String> {
        let terms = |a: &str, b: &str| -> Result<Vec<(i32, i32, f64, f64)>, String> {
            let order = |key: &str| header.number(&format!("{key}_ORDER"));
            let n = match (order(a), order(b)) {
                (None, None) => return Ok(Vec::new()),
                (Some(x), Some(y)) => x.max(y),
                (Some(x), None) | (None, Some(x)) => x,
            };
            if !(0.0..=Self::MAX_ORDER as f64).contains(&n) {
                return Err(format!("{a}_ORDER {n} is not a SIP order (0 to {})", Self::MAX_ORDER));
            }
            let n = n as i32;
            let mut terms = Vec::new();
            for p in 0..=n {
                for q in 0..=(n - p) {
                    let coefficient = |key: &str| header.number(&format!("{key}_{p}_{q}")).unwrap_or(0.0);
                    let (ca, cb) = (coefficient(a), coefficient(b));
                    if ca != 0.0 || cb != 0.0 {
                        terms.push((p, q, ca, cb));
                    }
                }
            }
            Ok(terms)
        };
        let forward = terms("A", "B")?;
        if header.number("A_ORDER").is_none() || header.number("B_ORDER").is_none() {
            return Err("a -SIP projection without A_ORDER and B_ORDER".into());
        }
        Ok(Sip { forward, inverse: terms("AP", "BP")? })
    }

    /// `Σ c u^p v^q` of `terms`, both polynomials at once.
    fn eval(terms: &[(i32, i32, f64, f64)], u: f64, v: f64) -> (f64, f64) {
        terms.iter().fold((0.0, 0.0), |(f, g), &(p, q, a, b)| {
            let m = u.powi(p) * v.powi(q);
            (f + a * m, g + b * m)
        })
    }

    /// Pixel offsets from CRPIX → the distorted offsets the CD matrix takes.
    fn distort(&self, u: f64, v: f64) -> (f64, f64) {
        let (f, g) = Self::eval(&self.forward, u, v);
        (u + f, v + g)
    }

    /// The distorted offsets `(x, y)` → the pixel offsets from CRPIX: the inverse polynomials (or
    /// `(x, y)` itself) as the first guess, then Newton's method on the forward ones.
    fn undistort(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let (mut u, mut v) = if self.inverse.is_empty() {
            (x, y)
        } else {
            let (f, g) = Self::eval(&self.inverse, x, y);
            (x + f, y + g)
        };
        for _ in 0..50 {
            let (du_f, dv_f, du_g, dv_g) = self.forward.iter().fold((0.0, 0.0, 0.0, 0.0), |acc, &(p, q, a, b)| {
                let du = if p > 0 { p as f64 * u.powi(p - 1) * v.powi(q) } else { 0.0 };
                let dv = if q > 0 { q as f64 * u.powi(p) * v.powi(q - 1) } else { 0.0 };
                (acc.0 + a * du, acc.1 + a * dv, acc.2 + b * du, acc.3 + b * dv)
            });
            let (fx, fy) = self.distort(u, v);
            let (rx, ry) = (fx - x, fy - y);
            let (j11, j12, j21, j22) = (1.0 + du_f, dv_f, du_g, 1.0 + dv_g);
            let det = j11 * j22 - j12 * j21;
            if det == 0.0 || !det.is_finite() {
                return None;
            }
            let (step_u, step_v) = ((j22 * rx - j12 * ry) / det, (j11 * ry - j21 * rx) / det);
            u -= step_u;
            v -= step_v;
            if step_u.hypot(step_v) < 1e-11 {
                return (u.is_finite() && v.is_finite()).then_some((u, v));
            }
        }
        // Not converged: the point is far outside where the polynomials hold.
        None
    }
}

impl Celestial {
    /// The pixel at world `(lon, lat)` degrees, if it projects.
    pub fn world_to_pixel(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let (a, d) = (lon.to_radians(), lat.to_radians());
        let (ap, dp) = (self.crval[0].to_radians(), self.crval[1].to_radians());
        let da = a - ap;
        // cos θ sin(φ - φp), cos θ cos(φ - φp), sin θ; atan2 keeps θ precise near the pole.
        let (east, north) = (-d.cos() * da.sin(), d.sin() * dp.cos() - d.cos() * dp.sin() * da.cos());
        let phi = self.phi_p + east.atan2(north).to_degrees();
        let theta = (d.sin() * dp.sin() + d.cos() * dp.cos() * da.cos()).atan2(east.hypot(north)).to_degrees();
        let r = self.projection.radius(theta)?;
        let (x, y) = (r * phi.to_radians().sin(), -r * phi.to_radians().cos());
        let m = &self.inverse;
        let (u, v) = (m[0][0] * x + m[0][1] * y, m[1][0] * x + m[1][1] * y);
        let (u, v) = match &self.sip {
            Some(sip) => sip.undistort(u, v)?,
            None => (u, v),
        };
        let (px, py) = (u + self.crpix[0], v + self.crpix[1]);
        (px.is_finite() && py.is_finite()).then_some((px, py))
    }

    /// The world `(lon, lat)` degrees at pixel `(x, y)`, lon in [0, 360).
    pub fn pixel_to_world(&self, px: f64, py: f64) -> Option<(f64, f64)> {
        let (dx, dy) = (px - self.crpix[0], py - self.crpix[1]);
        let (dx, dy) = match &self.sip {
            Some(sip) => sip.distort(dx, dy),
            None => (dx, dy),
        };
        let x = self.cd[0][0] * dx + self.cd[0][1] * dy;
        let y = self.cd[1][0] * dx + self.cd[1][1] * dy;
        let r = x.hypot(y);
        let phi = if r == 0.0 { 0.0 } else { x.atan2(-y).to_degrees() };
        let theta = self.projection.theta(r)?;
        let (t, p) = (theta.to_radians(), (phi - self.phi_p).to_radians());
        let dp = self.crval[1].to_radians();
        let (east, north) = (-t.cos() * p.sin(), t.sin() * dp.cos() - t.cos() * dp.sin() * p.cos());
        let lon = self.crval[0] + east.atan2(north).to_degrees();
        let lat = (t.sin() * dp.sin() + t.cos() * dp.cos() * p.cos()).atan2(east.hypot(north)).to_degrees();
        Some((lon.rem_euclid(360.0), lat))
    }

    /// The size of a pixel, degrees (the square root of the CD determinant).
    pub fn pixel_scale(&self) -> f64 {
        (self.cd[0][0] * self.cd[1][1] - self.cd[0][1] * self.cd[1][0]).abs().sqrt()
    }
}

/// A linear axis: `world = crval + cdelt * (pixel - crpix)`, in the units the kind names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear {
    crpix: f64,
    crval: f64,
    cdelt: f64,
}

impl Linear {
    /// The world value at a pixel.
    pub fn world(&self, pixel: f64) -> f64 {
        self.crval + self.cdelt * (pixel - self.crpix)
    }

    /// The pixel at a world value.
    pub fn pixel(&self, world: f64) -> f64 {
        self.crpix + (world - self.crval) / self.cdelt
    }
}

/// What an axis measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Axis {
    /// Celestial longitude or latitude (see [`Wcs::celestial`]).
    Celestial,
    /// Wavelength in metres.
    Wavelength(Linear),
    /// Frequency in hertz.
    Frequency(Linear),
    /// Time as MJD.
    Time(Linear),
    /// Stokes parameter codes (FITS WCS paper I, table 7).
    Stokes(Linear),
    /// Anything else: a filter never narrows it.
    Other,
}

/// The world coordinate system of an image.
#[derive(Debug, Clone, PartialEq)]
pub struct Wcs {
    /// The celestial axes, if the image has them in a projection this module knows.
    pub celestial: Option<Celestial>,
    /// Why the celestial axes cannot be used, when the image has some.
    pub celestial_problem: Option<String>,
    /// Each pixel axis, `NAXIS1` first.
    pub axes: Vec<Axis>,
    /// The time the data covers when no axis measures time (MJD-BEG/MJD-END, or MJD-OBS).
    pub time_coverage: Option<(f64, f64)>,
}

fn unit_factor(unit: &str, units: &[(&str, f64)], default: f64) -> Option<f64> {
    let unit = unit.trim();
    if unit.is_empty() {
        return Some(default);
    }
    units.iter().find(|(u, _)| *u == unit).map(|&(_, f)| f)
}

impl Wcs {
    /// Reads the WCS of a header with `naxis` axes. Never fails: what cannot be used is recorded
    /// as [`Axis::Other`] or in `celestial_problem`.
    pub fn from_header(header: &Header, naxis: usize) -> Wcs {
        let key = |k: &str, i: usize| format!("{k}{i}");
        let num = |k: &str, i: usize, default: f64| header.number(&key(k, i)).unwrap_or(default);
        // The scale and rotation of axis i alone: CDi_i, or CDELTi * PCi_i.
        let diagonal = |i: usize| {
            header
                .number(&format!("CD{i}_{i}"))
                .unwrap_or_else(|| num("CDELT", i, 1.0) * header.number(&format!("PC{i}_{i}")).unwrap_or(1.0))
        };
        let linear = |i: usize, factor: f64| Linear { crpix: num("CRPIX", i, 0.0), crval: num("CRVAL", i, 0.0) * factor, cdelt: diagonal(i) * factor };
        let mut axes = vec![Axis::Other; naxis];
        let (mut lon, mut lat) = (None, None);
        let mut celestial_problem = None;
        for i in 1..=naxis {
            let ctype = header.text(&key("CTYPE", i)).unwrap_or_default().to_uppercase();
            let cunit = header.text(&key("CUNIT", i)).unwrap_or_default();
            let (base, code) = match ctype.split_once('-') {
                Some((b, rest)) => (b.to_owned(), rest.trim_start_matches('-').to_owned()),
                None => (ctype.clone(), String::new()),
            };
            axes[i - 1] = match base.as_str() {
                "RA" | "DEC" => {
                    if base == "RA" { lon = Some((i, code)) } else { lat = Some((i, code)) }
                    Axis::Celestial
                }
                "GLON" | "GLAT" | "ELON" | "ELAT" => {
                    celestial_problem = Some(format!("CTYPE{i} = '{ctype}': only RA/DEC (ICRS) axes can be cut by position"));
                    Axis::Other
                }
                "WAVE" if code.is_empty() => unit_factor(&cunit, &[("m", 1.0), ("cm", 1e-2), ("mm", 1e-3), ("um", 1e-6), ("nm", 1e-9), ("Angstrom", 1e-10)], 1.0)
                    .map_or(Axis::Other, |f| Axis::Wavelength(linear(i, f))),
                "FREQ" if code.is_empty() => unit_factor(&cunit, &[("Hz", 1.0), ("kHz", 1e3), ("MHz", 1e6), ("GHz", 1e9)], 1.0)
                    .map_or(Axis::Other, |f| Axis::Frequency(linear(i, f))),
                "TIME" | "UTC" | "TT" | "TAI" if code.is_empty() => {
                    let mjdref = header.number("MJDREF").or_else(|| Some(header.number("MJDREFI")? + header.number("MJDREFF").unwrap_or(0.0)));
                    let unit = if cunit.is_empty() { header.text("TIMEUNIT").unwrap_or_default() } else { cunit.clone() };
                    match (mjdref, unit_factor(&unit, &[("s", 1.0 / 86400.0), ("min", 1.0 / 1440.0), ("h", 1.0 / 24.0), ("d", 1.0)], 1.0 / 86400.0)) {
                        (Some(mjdref), Some(f)) => {
                            let mut l = linear(i, f);
                            l.crval += mjdref;
                            Axis::Time(l)
                        }
                        _ => Axis::Other,
                    }
                }
                "STOKES" => Axis::Stokes(linear(i, 1.0)),
                _ => Axis::Other,
            };
        }
        let celestial = match (lon, lat) {
            (Some((li, lcode)), Some((bi, bcode))) => {
                let system = header.text("RADESYS").unwrap_or_default();
                if lcode != bcode {
                    celestial_problem = Some(format!("the projections of CTYPE{li} and CTYPE{bi} differ"));
                    None
                } else if !matches!(system.as_str(), "" | "ICRS" | "FK5") {
                    celestial_problem = Some(format!("RADESYS = '{system}': only ICRS (or FK5 J2000) can be cut by position"));
                    None
                } else if [1, 2].iter().any(|&m| header.number(&format!("PV{bi}_{m}")).is_some_and(|v| v != 0.0)) {
                    celestial_problem = Some(format!("CTYPE{bi} = '{}': projection parameters PV{bi}_m are not supported", header.text(&key("CTYPE", bi)).unwrap_or_default()));
                    None
                } else {
                    let (code, sip) = match lcode.strip_suffix("-SIP") {
                        Some(code) => (code, true),
                        None => (lcode.as_str(), false),
                    };
                    match Projection::parse(code) {
                        None => {
                            let hint = if code == "TPV" { " (TPV distortion is not supported; SIP is)" } else { "" };
                            celestial_problem = Some(format!("projection `{lcode}` is not supported (TAN, SIN, ARC, STG, ZEA are, and TAN-SIP){hint}"));
                            None
                        }
                        Some(projection) if sip && projection != Projection::Tan => {
                            celestial_problem = Some(format!("projection `{lcode}`: SIP distortion is defined on TAN only"));
                            None
                        }
                        Some(projection) => Self::celestial(header, li, bi, projection, sip).map_err(|e| celestial_problem = Some(e)).ok(),
                    }
                }
            }
            (None, None) => None,
            _ => {
                celestial_problem = Some("the image has one celestial axis without the other".into());
                None
            }
        };
        let time_coverage = match (header.number("MJD-BEG"), header.number("MJD-END"), header.number("MJD-OBS")) {
            (Some(b), Some(e), _) => Some((b.min(e), b.max(e))),
            (_, _, Some(t)) => Some((t, t)),
            _ => None,
        };
        Wcs { celestial, celestial_problem, axes, time_coverage }
    }

    fn celestial(header: &Header, li: usize, bi: usize, projection: Projection, sip: bool) -> Result<Celestial, String> {
        let num = |k: String| header.number(&k);
        let cd_given = [(li, li), (li, bi), (bi, li), (bi, bi)].iter().any(|(i, j)| num(format!("CD{i}_{j}")).is_some());
        let cd = if cd_given {
            let at = |i: usize, j: usize| num(format!("CD{i}_{j}")).unwrap_or(0.0);
            [[at(li, li), at(li, bi)], [at(bi, li), at(bi, bi)]]
        } else {
            let (s1, s2) = (num(format!("CDELT{li}")).unwrap_or(1.0), num(format!("CDELT{bi}")).unwrap_or(1.0));
            let pc_given = [(li, bi), (bi, li), (li, li), (bi, bi)].iter().any(|(i, j)| num(format!("PC{i}_{j}")).is_some());
            let pc = if pc_given {
                let at = |i: usize, j: usize| num(format!("PC{i}_{j}")).unwrap_or(if i == j { 1.0 } else { 0.0 });
                [[at(li, li), at(li, bi)], [at(bi, li), at(bi, bi)]]
            } else {
                let rho = num(format!("CROTA{bi}")).unwrap_or(0.0).to_radians();
                [[rho.cos(), -rho.sin() * s2 / s1], [rho.sin() * s1 / s2, rho.cos()]]
            };
            [[s1 * pc[0][0], s1 * pc[0][1]], [s2 * pc[1][0], s2 * pc[1][1]]]
        };
        let det = cd[0][0] * cd[1][1] - cd[0][1] * cd[1][0];
        if det == 0.0 || !det.is_finite() {
            return Err("the celestial CD matrix is singular".into());
        }
        let inverse = [[cd[1][1] / det, -cd[0][1] / det], [-cd[1][0] / det, cd[0][0] / det]];
        let crval = [num(format!("CRVAL{li}")).unwrap_or(0.0), num(format!("CRVAL{bi}")).unwrap_or(0.0)];
        // Zenithal projections have θ0 = 90°: LONPOLE defaults to 0° when δ0 ≥ θ0, else 180°.
        let phi_p = header.number("LONPOLE").unwrap_or(if crval[1] >= 90.0 { 0.0 } else { 180.0 });
        Ok(Celestial {
            lon_axis: li - 1,
            lat_axis: bi - 1,
            crpix: [num(format!("CRPIX{li}")).unwrap_or(0.0), num(format!("CRPIX{bi}")).unwrap_or(0.0)],
            crval,
            cd,
            inverse,
            projection,
            phi_p,
            sip: if sip { Some(Sip::from_header(header)?) } else { None },
        })
    }
}

/// The wavelength interval (metres) → the frequency interval (hertz).
pub fn frequencies(lo_m: f64, hi_m: f64) -> (f64, f64) {
    (C / hi_m, C / lo_m)
}

/// The wavelength (metres) of a frequency (hertz).
pub fn wavelength(hz: f64) -> f64 {
    C / hz
}

/// The FITS code of a Stokes label (WCS paper I table 7; POLI, POLF, POLA as in paper III).
pub fn stokes_code(label: &str) -> Option<i32> {
    Some(match label {
        "I" => 1,
        "Q" => 2,
        "U" => 3,
        "V" => 4,
        "POLI" => 5,
        "POLF" => 6,
        "POLA" => 7,
        "RR" => -1,
        "LL" => -2,
        "RL" => -3,
        "LR" => -4,
        "XX" => -5,
        "YY" => -6,
        "XY" => -7,
        "YX" => -8,
        _ => return None,
    })
}

/// The label of a Stokes code.
pub fn stokes_label(code: i32) -> Option<&'static str> {
    ["I", "Q", "U", "V", "POLI", "POLF", "POLA", "RR", "LL", "RL", "LR", "XX", "YY", "XY", "YX"]
        .into_iter()
        .find(|l| stokes_code(l) == Some(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::fits::{quoted, value_card};

    fn header(cards: &[(&str, &str)]) -> Header {
        Header::from_cards(cards.iter().map(|(k, v)| value_card(k, v, None)))
    }

    #[test]
    fn sip_round_trips_and_other_distortions_are_refused_saying_so() {
        let sip = |ctype1: &str, ctype2: &str, extra: &[(&str, &str)]| {
            let mut cards = vec![("CTYPE1", quoted(ctype1)), ("CTYPE2", quoted(ctype2)), ("CRPIX1", "100".into()), ("CRPIX2", "50".into()), ("CRVAL1", "10".into()), ("CRVAL2", "-30".into()), ("CD1_1", "-1e-4".into()), ("CD2_2", "1e-4".into())];
            cards.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
            Wcs::from_header(&Header::from_cards(cards.iter().map(|(k, v)| value_card(k, v, None))), 2)
        };
        let terms = [("A_ORDER", "2"), ("B_ORDER", "2"), ("A_2_0", "1e-5"), ("A_1_1", "-2e-5"), ("B_0_2", "3e-5"), ("B_1_1", "1e-5")];
        let wcs = sip("RA---TAN-SIP", "DEC--TAN-SIP", &terms);
        let c = wcs.celestial.unwrap_or_else(|| panic!("{:?}", wcs.celestial_problem));
        for (x, y) in [(1.0, 1.0), (200.0, 100.0), (100.0, 50.0), (-300.0, 400.0)] {
            let (lon, lat) = c.pixel_to_world(x, y).unwrap();
            let (bx, by) = c.world_to_pixel(lon, lat).unwrap();
            assert!((bx - x).abs() < 1e-8 && (by - y).abs() < 1e-8, "({x}, {y}) came back as ({bx}, {by})");
        }
        let tpv = sip("RA---TPV", "DEC--TPV", &[]);
        assert!(tpv.celestial.is_none() && tpv.celestial_problem.as_deref().is_some_and(|p| p.contains("TPV distortion is not supported; SIP is")), "{:?}", tpv.celestial_problem);
        let on_sin = sip("RA---SIN-SIP", "DEC--SIN-SIP", &terms);
        assert!(on_sin.celestial_problem.as_deref().is_some_and(|p| p.contains("SIP distortion is defined on TAN only")), "{:?}", on_sin.celestial_problem);
        let unordered = sip("RA---TAN-SIP", "DEC--TAN-SIP", &[("A_ORDER", "40"), ("B_ORDER", "2")]);
        assert!(unordered.celestial_problem.as_deref().is_some_and(|p| p.contains("A_ORDER 40 is not a SIP order")), "{:?}", unordered.celestial_problem);
    }

    #[test]
    fn round_trips_in_every_projection() {
        for code in ["TAN", "SIN", "ARC", "STG", "ZEA"] {
            for (crval2, rot) in [(41.2, 0.0), (-89.5, 30.0), (90.0, 0.0), (0.0, -75.0)] {
                let h = header(&[
                    ("CTYPE1", &quoted(&format!("RA---{code}"))),
                    ("CTYPE2", &quoted(&format!("DEC--{code}"))),
                    ("CRPIX1", "256.5"),
                    ("CRPIX2", "200"),
                    ("CRVAL1", "10.68"),
                    ("CRVAL2", &crval2.to_string()),
                    ("CDELT1", "-0.001"),
                    ("CDELT2", "0.001"),
                    ("CROTA2", &rot.to_string()),
                ]);
                let wcs = Wcs::from_header(&h, 2);
                let c = wcs.celestial.as_ref().unwrap_or_else(|| panic!("{code}: {:?}", wcs.celestial_problem));
                for (x, y) in [(1.0, 1.0), (256.5, 200.0), (512.0, 37.0), (100.0, 400.0)] {
                    let (lon, lat) = c.pixel_to_world(x, y).unwrap();
                    let (x2, y2) = c.world_to_pixel(lon, lat).unwrap();
                    assert!((x - x2).abs() < 1e-7 && (y - y2).abs() < 1e-7, "{code} {crval2} {rot}: ({x}, {y}) → ({lon}, {lat}) → ({x2}, {y2})");
                }
                let (lon, lat) = c.pixel_to_world(256.5, 200.0).unwrap();
                assert!((lat - crval2).abs() < 1e-9, "{code}: the reference pixel is at CRVAL");
                if crval2.abs() < 90.0 {
                    assert!(((lon - 10.68 + 180.0).rem_euclid(360.0) - 180.0).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn spectral_time_and_stokes_axes() {
        let h = header(&[
            ("CTYPE3", &quoted("WAVE")),
            ("CUNIT3", &quoted("nm")),
            ("CRPIX3", "1"),
            ("CRVAL3", "500"),
            ("CDELT3", "2"),
            ("CTYPE4", &quoted("STOKES")),
            ("CRPIX4", "1"),
            ("CRVAL4", "1"),
            ("CDELT4", "1"),
            ("CTYPE5", &quoted("TIME")),
            ("MJDREF", "60000"),
            ("CUNIT5", &quoted("d")),
            ("CRPIX5", "1"),
            ("CRVAL5", "0.5"),
            ("CDELT5", "0.25"),
        ]);
        let wcs = Wcs::from_header(&h, 5);
        let Axis::Wavelength(w) = wcs.axes[2] else { panic!("{:?}", wcs.axes) };
        assert!((w.world(3.0) - 504e-9).abs() < 1e-18);
        let Axis::Stokes(s) = wcs.axes[3] else { panic!() };
        assert_eq!(s.world(2.0), 2.0);
        let Axis::Time(t) = wcs.axes[4] else { panic!() };
        assert_eq!(t.world(3.0), 60001.0);
        assert_eq!(wcs.axes[0], Axis::Other);
        assert_eq!(stokes_label(stokes_code("YX").unwrap()), Some("YX"));
    }

    #[test]
    fn what_cannot_be_used_is_explained() {
        let h = header(&[("CTYPE1", &quoted("GLON-TAN")), ("CTYPE2", &quoted("GLAT-TAN"))]);
        assert!(Wcs::from_header(&h, 2).celestial_problem.unwrap().contains("RA/DEC"));
        let h = header(&[("CTYPE1", &quoted("RA---ZPN")), ("CTYPE2", &quoted("DEC--ZPN"))]);
        assert!(Wcs::from_header(&h, 2).celestial_problem.unwrap().contains("ZPN"));
        let h = header(&[("CTYPE1", &quoted("RA---TAN")), ("CTYPE2", &quoted("DEC--TAN")), ("CDELT1", "0"), ("CDELT2", "1")]);
        assert!(Wcs::from_header(&h, 2).celestial_problem.unwrap().contains("singular"));
    }
}
