//! From SODA filters to the smallest box of pixels that holds them (SODA 1.0 §3.3).
//!
//! A spatial region's box is found from its boundary: sampled densely on the sky, projected
//! through the image's WCS, clipped to the image, plus any image corner the region contains.
//! The bounding box of region ∩ image is the bounding box of that set.

use crate::service::fits::{Image, PixelBox};
use crate::service::wcs::{self, Axis, Wcs};

/// A spatial filter, ICRS degrees.
#[derive(Debug, Clone, PartialEq)]
pub enum Region {
    /// Centre and radius.
    Circle { lon: f64, lat: f64, radius: f64 },
    /// Longitude and latitude intervals (±infinity allowed); a longitude interval whose first bound
    /// exceeds the second wraps through 0.
    Range { lon: (f64, f64), lat: (f64, f64) },
    /// Vertices joined by great circles.
    Polygon(Vec<(f64, f64)>),
}

/// One combination of filters (SODA §3.3–3.6): each `None` constrains nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// POS, CIRCLE or POLYGON.
    pub region: Option<Region>,
    /// BAND: wavelength interval, metres.
    pub band: Option<(f64, f64)>,
    /// TIME: MJD interval.
    pub time: Option<(f64, f64)>,
    /// POL: Stokes codes (all of them form one filter).
    pub pol: Option<Vec<i32>>,
}

/// A filter that cannot be applied to a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Unusable(pub String);

type V3 = [f64; 3];

fn vector(lon: f64, lat: f64) -> V3 {
    let (l, b) = (lon.to_radians(), lat.to_radians());
    [b.cos() * l.cos(), b.cos() * l.sin(), b.sin()]
}

fn lonlat(v: V3) -> (f64, f64) {
    let lon = v[1].atan2(v[0]).to_degrees().rem_euclid(360.0);
    let lat = v[2].clamp(-1.0, 1.0).asin().to_degrees();
    (lon, lat)
}

fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn normalize(a: V3) -> V3 {
    let n = dot(a, a).sqrt();
    [a[0] / n, a[1] / n, a[2] / n]
}

/// The angular distance between two points, degrees.
pub fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    dot(vector(a.0, a.1), vector(b.0, b.1)).clamp(-1.0, 1.0).acos().to_degrees()
}

impl Region {
    /// Whether the region contains a point.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        match self {
            Region::Circle { lon: l, lat: b, radius } => distance((*l, *b), (lon, lat)) <= *radius,
            Region::Range { lon: (l1, l2), lat: (b1, b2) } => {
                let in_lat = *b1 <= lat && lat <= *b2;
                let in_lon = if l2 - l1 >= 360.0 || l1.is_infinite() || l2.is_infinite() {
                    true
                } else {
                    let (l1, l2, lon) = (l1.rem_euclid(360.0), l2.rem_euclid(360.0), lon.rem_euclid(360.0));
                    if l1 <= l2 { l1 <= lon && lon <= l2 } else { lon >= l1 || lon <= l2 }
                };
                in_lat && in_lon
            }
            Region::Polygon(vertices) => {
                // Gnomonic projection about the centre of the vertices, then a planar test.
                let Some(centre) = polygon_centre(vertices) else { return false };
                let p = vector(lon, lat);
                if dot(p, centre) <= 0.0 {
                    return false;
                }
                let plane: Vec<(f64, f64)> = vertices.iter().map(|&(l, b)| gnomonic(centre, vector(l, b))).collect();
                let (x, y) = gnomonic(centre, p);
                let mut inside = false;
                for i in 0..plane.len() {
                    let (a, b) = (plane[i], plane[(i + 1) % plane.len()]);
                    if (a.1 > y) != (b.1 > y) && x < a.0 + (y - a.1) * (b.0 - a.0) / (b.1 - a.1) {
                        inside = !inside;
                    }
                }
                inside
            }
        }
    }

    /// The boundary of a circle or a range as closed loops of points, for pixels of `scale`
    /// degrees: close enough that the chords stray less than 0.05 pixel from a circle, and 2 pixels
    /// apart along other edges (at most 20,000 points per loop). None for a polygon, whose edges
    /// [`spatial_box`] walks itself.
    pub fn boundary(&self, scale: f64) -> Vec<Vec<(f64, f64)>> {
        let step = 2.0 * scale;
        let count = |length: f64| ((length / step).ceil() as usize).clamp(8, 20_000);
        match self {
            Region::Circle { lon, lat, radius } => {
                // A chord of a circle of R pixels strays R (1 - cos(π / n)) from the arc.
                let r_pixels = radius.to_radians().sin().to_degrees() / scale;
                let n = if r_pixels <= 0.05 { 16 } else { (std::f64::consts::PI / (1.0 - 0.05 / r_pixels).acos()).ceil() as usize };
                let n = n.clamp(16, 20_000);
                vec![(0..=n).map(|i| circle_point((*lon, *lat), *radius, 2.0 * std::f64::consts::PI * i as f64 / n as f64)).collect()]
            }
            Region::Range { lon: (l1, l2), lat: (b1, b2) } => {
                let (b1, b2) = (b1.max(-90.0), b2.min(90.0));
                let full = l2 - l1 >= 360.0 || l1.is_infinite() || l2.is_infinite();
                let parallel = |b: f64, from: f64, to: f64| -> Vec<(f64, f64)> {
                    let n = count((to - from).abs() * b.to_radians().cos().max(1e-12));
                    (0..=n).map(|i| (from + (to - from) * i as f64 / n as f64, b)).collect()
                };
                let meridian = |l: f64, from: f64, to: f64| -> Vec<(f64, f64)> {
                    let n = count((to - from).abs());
                    (0..=n).map(|i| (l, from + (to - from) * i as f64 / n as f64)).collect()
                };
                if full {
                    [b1, b2].into_iter().filter(|b| b.abs() < 90.0).map(|b| parallel(b, 0.0, 360.0)).collect()
                } else {
                    let (l1, mut l2) = (l1.rem_euclid(360.0), l2.rem_euclid(360.0));
                    if l2 < l1 {
                        l2 += 360.0;
                    }
                    let mut loop_ = parallel(b1, l1, l2);
                    loop_.extend(meridian(l2, b1, b2));
                    loop_.extend(parallel(b2, l2, l1));
                    loop_.extend(meridian(l1, b2, b1));
                    vec![loop_]
                }
            }
            // Polygons are walked edge by edge, refined only near the image: see `PolygonWalk`.
            Region::Polygon(_) => Vec::new(),
        }
    }
}

/// The point `radius` degrees from `centre` at `bearing` radians east of north.
fn circle_point(centre: (f64, f64), radius: f64, bearing: f64) -> (f64, f64) {
    let (l0, b0, r) = (centre.0.to_radians(), centre.1.to_radians(), radius.to_radians());
    let b = (b0.sin() * r.cos() + b0.cos() * r.sin() * bearing.cos()).clamp(-1.0, 1.0).asin();
    let l = l0 + (bearing.sin() * r.sin() * b0.cos()).atan2(r.cos() - b0.sin() * b.sin());
    (l.to_degrees().rem_euclid(360.0), b.to_degrees())
}

/// Adds to `bounds` the true extremes of a circle's boundary in pixels. The chords between the
/// `samples` (at bearings `2π i / n`) stray up to 0.05 pixel inside the arc, enough to miss a
/// pixel the circle touches. Near an extreme a coordinate is a parabola of the bearing, so the
/// parabola through the extreme sample and its neighbours gives the extreme's bearing, and one
/// more point projected there is on the arc within 1e-6 pixel of the extreme.
fn refine_circle(celestial: &wcs::Celestial, (centre, radius): ((f64, f64), f64), samples: &[Option<(f64, f64)>], (lo, hi): ((f64, f64), (f64, f64)), bounds: &mut Option<Bounds>) {
    let n = samples.len().saturating_sub(1);
    if n < 3 {
        return;
    }
    let inside = |p: (f64, f64)| lo.0 <= p.0 && p.0 <= hi.0 && lo.1 <= p.1 && p.1 <= hi.1;
    let step = 2.0 * std::f64::consts::PI / n as f64;
    // The first and last samples are the same point: index the loop modulo n.
    let sample = |i: usize| samples[i % n];
    // Each extreme: a coordinate, as the value to minimise (the negated one for a maximum).
    let objectives: [fn((f64, f64)) -> f64; 4] = [|p| p.0, |p| -p.0, |p| p.1, |p| -p.1];
    for objective in objectives {
        let best = (0..n).filter(|&i| sample(i).is_some_and(inside)).min_by(|&i, &j| objective(sample(i).unwrap()).total_cmp(&objective(sample(j).unwrap())));
        let Some(i) = best else { continue };
        let (Some(before), Some(at), Some(after)) = (sample(i + n - 1), sample(i), sample(i + 1)) else { continue };
        let (f0, f1, f2) = (objective(before), objective(at), objective(after));
        let curvature = f0 - 2.0 * f1 + f2;
        if curvature <= 0.0 {
            continue;
        }
        let offset = (0.5 * (f0 - f2) / curvature).clamp(-1.0, 1.0);
        let (l, b) = circle_point(centre, radius, (i as f64 + offset) * step);
        if let Some(p) = celestial.world_to_pixel(l, b)
            && inside(p)
        {
            Bounds::add(bounds, p);
        }
    }
}

/// The bounds of a circle that lies well inside the image (most cutouts), from 64 samples and its
/// refined extremes; `None` when it may reach the border, whose crossings need the dense walk of
/// [`Region::boundary`].
fn circle_within(celestial: &wcs::Celestial, (centre, radius): ((f64, f64), f64), (lo, hi): ((f64, f64), (f64, f64))) -> Option<Bounds> {
    const SAMPLES: usize = 64;
    let step = 2.0 * std::f64::consts::PI / SAMPLES as f64;
    let samples = (0..=SAMPLES)
        .map(|i| {
            let (l, b) = circle_point(centre, radius, i as f64 * step);
            celestial.world_to_pixel(l, b)
        })
        .collect::<Option<Vec<_>>>()?;
    // An arc strays from its chord by tan(step / 4) / 2 of the chord's length; four times that
    // (for the projection's distortion) and a pixel keep the whole circle off the border.
    let chord = samples.windows(2).map(|w| (w[0].0 - w[1].0).hypot(w[0].1 - w[1].1)).fold(0.0, f64::max);
    let margin = 2.0 * chord * (step / 4.0).tan() + 1.0;
    let mut bounds = None;
    for &(x, y) in &samples {
        if x < lo.0 + margin || x > hi.0 - margin || y < lo.1 + margin || y > hi.1 - margin {
            return None;
        }
        Bounds::add(&mut bounds, (x, y));
    }
    let samples: Vec<Option<(f64, f64)>> = samples.into_iter().map(Some).collect();
    refine_circle(celestial, (centre, radius), &samples, (lo, hi), &mut bounds);
    bounds
}

fn polygon_centre(vertices: &[(f64, f64)]) -> Option<V3> {
    let sum = vertices.iter().map(|&(l, b)| vector(l, b)).fold([0.0; 3], |s, v| [s[0] + v[0], s[1] + v[1], s[2] + v[2]]);
    let centre = normalize(sum);
    (centre.iter().all(|c| c.is_finite()) && vertices.iter().all(|&(l, b)| dot(vector(l, b), centre) > 1e-9)).then_some(centre)
}

/// Gnomonic projection of `p` on the plane tangent at `centre` (both unit vectors).
fn gnomonic(centre: V3, p: V3) -> (f64, f64) {
    let east = normalize(if centre[2].abs() > 0.999_999 { [1.0, 0.0, 0.0] } else { [-centre[1], centre[0], 0.0] });
    let north = [centre[1] * east[2] - centre[2] * east[1], centre[2] * east[0] - centre[0] * east[2], centre[0] * east[1] - centre[1] * east[0]];
    let d = dot(p, centre);
    (dot(p, east) / d, dot(p, north) / d)
}

/// Bounds of a set of points in a plane.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    min: (f64, f64),
    max: (f64, f64),
}

impl Bounds {
    fn add(bounds: &mut Option<Bounds>, (x, y): (f64, f64)) {
        let b = bounds.get_or_insert(Bounds { min: (x, y), max: (x, y) });
        b.min = (b.min.0.min(x), b.min.1.min(y));
        b.max = (b.max.0.max(x), b.max.1.max(y));
    }
}

/// Clips the segment `a`–`b` to the rectangle `lo`–`hi` (Liang–Barsky).
fn clip(a: (f64, f64), b: (f64, f64), lo: (f64, f64), hi: (f64, f64)) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a.0 - lo.0), (dx, hi.0 - a.0), (-dy, a.1 - lo.1), (dy, hi.1 - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 { t0 = t0.max(t) } else { t1 = t1.min(t) }
            if t0 > t1 {
                return None;
            }
        }
    }
    Some(((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy)))
}

/// The pixels `[first, last]` of an axis of `n` pixels whose extent meets the continuous
/// interval `[lo, hi]` of pixel coordinates, or `None` when they do not meet.
pub fn pixel_range(lo: f64, hi: f64, n: usize) -> Option<(usize, usize)> {
    if lo.is_nan() || hi.is_nan() || hi < 0.5 || lo > n as f64 + 0.5 {
        return None;
    }
    let first = (lo + 0.5).floor().max(1.0);
    let last = ((hi + 0.5).ceil() - 1.0).max(first).min(n as f64);
    (first <= last).then_some((first as usize, last as usize))
}

/// The most vertices a planned polygon may have: the cap the DALI parser enforces on every POLYGON
/// a client sends (README, "Limits"), checked again here for regions built any other way.
pub const MAX_VERTICES: usize = ivoagen_runtime::codegen::dali::Polygon::MAX_VERTICES;

/// The cap of the sky holding the image, as its centre and angular radius (radians, with a
/// margin), or `None` when part of the image's border has no world coordinates.
fn reach(celestial: &wcs::Celestial, lo: (f64, f64), hi: (f64, f64)) -> Option<(V3, f64)> {
    const SIDE: usize = 32;
    let centre = celestial.pixel_to_world((lo.0 + hi.0) / 2.0, (lo.1 + hi.1) / 2.0)?;
    let mut radius = 0.0f64;
    for k in 0..=SIDE {
        let t = k as f64 / SIDE as f64;
        let (x, y) = (lo.0 + t * (hi.0 - lo.0), lo.1 + t * (hi.1 - lo.1));
        for (px, py) in [(x, lo.1), (x, hi.1), (lo.0, y), (hi.0, y)] {
            radius = radius.max(distance(centre, celestial.pixel_to_world(px, py)?));
        }
    }
    // Between two samples the border strays at most a sample's spacing further; a zenithal
    // projection's scale changes across the image, hence the proportional margin too.
    let spacing = (hi.0 - lo.0).max(hi.1 - lo.1) / SIDE as f64;
    let radius = radius * 1.1 + (spacing + 4.0) * 2.0 * celestial.pixel_scale();
    (radius < 90.0).then(|| (vector(centre.0, centre.1), radius.to_radians()))
}

/// Finds the pixels a polygon's edges cross, halving each great-circle arc until its pieces are
/// at most two pixels long, but only where they can reach the image: the work is proportional to
/// the length of the edges inside the image in pixels (at most its size per edge), plus a
/// logarithm per edge; the memory is the depth of the halving.
struct PolygonWalk<'a> {
    celestial: &'a wcs::Celestial,
    lo: (f64, f64),
    hi: (f64, f64),
    /// Longer chords cross a projection's discontinuity.
    jump: f64,
    /// The longest piece, radians.
    step: f64,
    /// The cap of sky the image lies in.
    reach: Option<(V3, f64)>,
}

impl PolygonWalk<'_> {
    fn project(&self, v: V3) -> Option<(f64, f64)> {
        let (l, b) = lonlat(v);
        self.celestial.world_to_pixel(l, b)
    }

    /// The arc from `a` to `b` (unit vectors `angle` radians apart, less than π), whose pixels are `pa` and `pb`.
    fn arc(&self, a: V3, pa: Option<(f64, f64)>, b: V3, pb: Option<(f64, f64)>, angle: f64, bounds: &mut Option<Bounds>) {
        let middle = normalize([a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
        // Every point of the arc is within angle / 2 of its middle.
        if let Some((centre, radius)) = self.reach
            && dot(middle, centre).clamp(-1.0, 1.0).acos() > radius + angle / 2.0
        {
            return;
        }
        if angle <= self.step || !middle.iter().all(|c| c.is_finite()) {
            if let (Some(p), Some(q)) = (pa, pb)
                && (p.0 - q.0).hypot(p.1 - q.1) <= self.jump
                && let Some((p, q)) = clip(p, q, self.lo, self.hi)
            {
                Bounds::add(bounds, p);
                Bounds::add(bounds, q);
            }
            return;
        }
        let pm = self.project(middle);
        self.arc(a, pa, middle, pm, angle / 2.0, bounds);
        self.arc(middle, pm, b, pb, angle / 2.0, bounds);
    }
}

/// The box of the spatial filter on the celestial axes: `Ok(None)` when the region misses the
/// image.
fn spatial_box(image: &Image, celestial: &wcs::Celestial, region: &Region) -> Option<((usize, usize), (usize, usize))> {
    let (nx, ny) = (image.axes[celestial.lon_axis], image.axes[celestial.lat_axis]);
    let (lo, hi) = ((0.5, 0.5), (nx as f64 + 0.5, ny as f64 + 0.5));
    // Samples are about two pixels apart; a far longer step crosses a discontinuity.
    let jump = 100.0 + 4.0 * (nx + ny) as f64;
    if let Region::Circle { lon, lat, radius } = *region
        && let Some(b) = circle_within(celestial, ((lon, lat), radius), (lo, hi))
    {
        return Some((pixel_range(b.min.0, b.max.0, nx)?, pixel_range(b.min.1, b.max.1, ny)?));
    }
    let mut bounds = None;
    if let Region::Polygon(vertices) = region {
        let walk = PolygonWalk { celestial, lo, hi, jump, step: (2.0 * celestial.pixel_scale()).to_radians(), reach: reach(celestial, lo, hi) };
        for i in 0..vertices.len() {
            let (a, b) = (vertices[i], vertices[(i + 1) % vertices.len()]);
            let (a, b) = (vector(a.0, a.1), vector(b.0, b.1));
            walk.arc(a, walk.project(a), b, walk.project(b), dot(a, b).clamp(-1.0, 1.0).acos(), &mut bounds);
        }
    }
    for loop_ in region.boundary(celestial.pixel_scale()) {
        let projected: Vec<Option<(f64, f64)>> = loop_.iter().map(|&(l, b)| celestial.world_to_pixel(l, b)).collect();
        if let Region::Circle { lon, lat, radius } = *region {
            refine_circle(celestial, ((lon, lat), radius), &projected, (lo, hi), &mut bounds);
        }
        for pair in projected.windows(2) {
            let (Some(a), Some(b)) = (pair[0], pair[1]) else { continue };
            // A jump across a projection's discontinuity is not an edge of the region.
            if (a.0 - b.0).hypot(a.1 - b.1) > jump {
                continue;
            }
            if let Some((p, q)) = clip(a, b, lo, hi) {
                Bounds::add(&mut bounds, p);
                Bounds::add(&mut bounds, q);
            }
        }
    }
    for corner in [(lo.0, lo.1), (hi.0, lo.1), (lo.0, hi.1), (hi.0, hi.1)] {
        if let Some((l, b)) = celestial.pixel_to_world(corner.0, corner.1)
            && region.contains(l, b)
        {
            Bounds::add(&mut bounds, corner);
        }
    }
    let b = bounds?;
    Some((pixel_range(b.min.0, b.max.0, nx)?, pixel_range(b.min.1, b.max.1, ny)?))
}

/// The box of `filters` on `image`: `Ok(None)` when they do not overlap its data.
pub fn plan(image: &Image, wcs: &Wcs, filters: &Filters) -> Result<Option<PixelBox>, Unusable> {
    let mut pixels: PixelBox = image.axes.iter().map(|&n| (1, n)).collect();
    if let Some(region) = &filters.region {
        let Some(celestial) = &wcs.celestial else {
            return Err(Unusable(match &wcs.celestial_problem {
                Some(problem) => format!("this dataset cannot be cut by position: {problem}"),
                None => "this dataset has no celestial axes".to_owned(),
            }));
        };
        if let Region::Polygon(vertices) = region
            && vertices.len() > MAX_VERTICES
        {
            return Err(Unusable(format!("the polygon has {} vertices; this service takes at most {MAX_VERTICES}", vertices.len())));
        }
        if let Region::Polygon(vertices) = region
            && polygon_centre(vertices).is_none()
        {
            return Err(Unusable("the polygon does not fit in a hemisphere".to_owned()));
        }
        let Some((x, y)) = spatial_box(image, celestial, region) else { return Ok(None) };
        pixels[celestial.lon_axis] = x;
        pixels[celestial.lat_axis] = y;
    }
    for (i, axis) in wcs.axes.iter().enumerate() {
        let n = image.axes[i];
        let range = match (axis, filters.band, filters.time, &filters.pol) {
            (Axis::Wavelength(w), Some((lo, hi)), _, _) => Some(linear_range(w, lo, hi, n)),
            (Axis::Frequency(f), Some((lo, hi)), _, _) => {
                let (flo, fhi) = wcs::frequencies(lo, hi);
                Some(linear_range(f, flo, fhi, n))
            }
            (Axis::Time(t), _, Some((lo, hi)), _) => Some(linear_range(t, lo, hi, n)),
            (Axis::Stokes(s), _, _, Some(codes)) => {
                let kept: Vec<usize> = (1..=n).filter(|&p| codes.contains(&(s.world(p as f64).round() as i32))).collect();
                Some(kept.first().zip(kept.last()).map(|(&a, &b)| (a, b)))
            }
            _ => None,
        };
        match range {
            Some(Some(r)) => pixels[i] = r,
            Some(None) => return Ok(None),
            None => {}
        }
    }
    if let (Some((lo, hi)), Some((begin, end))) = (filters.time, wcs.time_coverage)
        && !wcs.axes.iter().any(|a| matches!(a, Axis::Time(_)))
        && (hi < begin || lo > end)
    {
        return Ok(None);
    }
    Ok(Some(pixels))
}

fn linear_range(axis: &wcs::Linear, lo: f64, hi: f64, n: usize) -> Option<(usize, usize)> {
    let (a, b) = (axis.pixel(lo), axis.pixel(hi));
    pixel_range(a.min(b), a.max(b), n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::fits::{Header, quoted, value_card};

    fn image(cards: &[(&str, &str)], axes: &[usize]) -> (Image, Wcs) {
        let mut all = vec![value_card("SIMPLE", "T", None), value_card("BITPIX", "-32", None), value_card("NAXIS", &axes.len().to_string(), None)];
        all.extend(axes.iter().enumerate().map(|(i, n)| value_card(&format!("NAXIS{}", i + 1), &n.to_string(), None)));
        all.extend(cards.iter().map(|(k, v)| value_card(k, v, None)));
        let header = Header::from_cards(all);
        let wcs = Wcs::from_header(&header, axes.len());
        (Image { header, pixel_size: 4, axes: axes.to_vec(), data_offset: 2880, tiled: None }, wcs)
    }

    fn tan() -> (Image, Wcs) {
        image(
            &[("CTYPE1", &quoted("RA---TAN")), ("CTYPE2", &quoted("DEC--TAN")), ("CRPIX1", "50.5"), ("CRPIX2", "50.5"), ("CRVAL1", "10"), ("CRVAL2", "20"), ("CDELT1", "-0.01"), ("CDELT2", "0.01")],
            &[100, 100],
        )
    }

    #[test]
    fn a_circle_at_the_reference_pixel_gives_a_centred_box() {
        let (img, wcs) = tan();
        let f = Filters { region: Some(Region::Circle { lon: 10.0, lat: 20.0, radius: 0.0995 }), ..Filters::default() };
        let b = plan(&img, &wcs, &f).unwrap().unwrap();
        // 0.0995° is 9.95 pixels either side of 50.5: pixels 41..=60.
        assert_eq!(b, vec![(41, 60), (41, 60)]);
    }

    #[test]
    fn regions_off_the_image_do_not_overlap_and_huge_ones_take_all() {
        let (img, wcs) = tan();
        let far = Filters { region: Some(Region::Circle { lon: 200.0, lat: -20.0, radius: 1.0 }), ..Filters::default() };
        assert_eq!(plan(&img, &wcs, &far).unwrap(), None);
        let huge = Filters { region: Some(Region::Circle { lon: 10.0, lat: 20.0, radius: 30.0 }), ..Filters::default() };
        assert_eq!(plan(&img, &wcs, &huge).unwrap(), Some(vec![(1, 100), (1, 100)]));
        let band = Filters { region: Some(Region::Range { lon: (f64::NEG_INFINITY, f64::INFINITY), lat: (19.9, 20.0) }), ..Filters::default() };
        let b = plan(&img, &wcs, &band).unwrap().unwrap();
        assert_eq!(b[0], (1, 100));
        assert!(b[1].0 >= 39 && b[1].0 <= 41 && b[1].1 >= 50 && b[1].1 <= 52, "{b:?}");
    }

    #[test]
    fn a_polygon_and_a_range_in_a_corner() {
        let (img, wcs) = tan();
        let c = wcs.celestial.as_ref().unwrap();
        let (l1, b1) = c.pixel_to_world(90.0, 5.0).unwrap();
        let (l2, b2) = c.pixel_to_world(120.0, 30.0).unwrap();
        let poly = Filters { region: Some(Region::Polygon(vec![(l1, b1), (l2, b1), (l2, b2), (l1, b2)])), ..Filters::default() };
        let b = plan(&img, &wcs, &poly).unwrap().unwrap();
        assert!(b[0].0 >= 89 && b[0].0 <= 90 && b[0].1 == 100 && b[1].0 <= 6 && b[1].1 >= 29, "{b:?}");
        let range = Filters { region: Some(Region::Range { lon: (l2, l1), lat: (b1, b2) }), ..Filters::default() };
        let r = plan(&img, &wcs, &range).unwrap().unwrap();
        assert!(r[0].1 == 100 && r[0].0 <= 90 && r[0].0 >= 88, "{r:?}");
        assert!(Region::Polygon(vec![(0.0, 0.0), (120.0, 0.0), (240.0, 0.0)]).contains(0.0, 90.0) || plan(&img, &wcs, &Filters { region: Some(Region::Polygon(vec![(0.0, 0.0), (120.0, 0.0), (240.0, 0.0)])), ..Filters::default() }).is_err());
    }

    /// In TAN, great circles are straight lines: the box of a polygon given by pixel vertices is
    /// the box of that pixel polygon clipped to the image.
    #[test]
    fn polygon_walks_find_the_clipped_box_however_long_the_edges() {
        let (img, wcs) = tan();
        let c = wcs.celestial.as_ref().unwrap();
        let (lo, hi) = ((0.5, 0.5), (100.5, 100.5));
        for pixels in [
            vec![(20.0, 20.0), (70.0, 25.0), (60.0, 80.0)],
            vec![(-3000.0, 40.0), (3000.0, 45.0), (3000.0, 60.0), (-3000.0, 55.0)],
            vec![(50.0, -2000.0), (52.0, 3000.0), (48.0, 3000.0)],
            vec![(90.0, 5.0), (400.0, 5.0), (400.0, 30.0), (90.0, 30.0)],
            vec![(-50.0, -50.0), (150.0, -50.0), (150.0, 150.0), (-50.0, 150.0)],
        ] {
            let mut expected = None;
            for i in 0..pixels.len() {
                if let Some((p, q)) = clip(pixels[i], pixels[(i + 1) % pixels.len()], lo, hi) {
                    Bounds::add(&mut expected, p);
                    Bounds::add(&mut expected, q);
                }
            }
            let vertices: Vec<(f64, f64)> = pixels.iter().map(|&(x, y)| c.pixel_to_world(x, y).unwrap()).collect();
            let region = Region::Polygon(vertices);
            for corner in [(lo.0, lo.1), (hi.0, lo.1), (lo.0, hi.1), (hi.0, hi.1)] {
                let (l, b) = c.pixel_to_world(corner.0, corner.1).unwrap();
                if region.contains(l, b) {
                    Bounds::add(&mut expected, corner);
                }
            }
            let e = expected.unwrap();
            let want = vec![pixel_range(e.min.0, e.max.0, 100).unwrap(), pixel_range(e.min.1, e.max.1, 100).unwrap()];
            let got = plan(&img, &wcs, &Filters { region: Some(region), ..Filters::default() }).unwrap().unwrap();
            for axis in 0..2 {
                assert!(got[axis].0.abs_diff(want[axis].0) <= 1 && got[axis].1.abs_diff(want[axis].1) <= 1, "{pixels:?}: {got:?} vs {want:?}");
            }
        }
        let many = Region::Polygon((0..=MAX_VERTICES).map(|k| c.pixel_to_world(50.0 + 30.0 * (k as f64 * 0.01).cos(), 50.0 + 30.0 * (k as f64 * 0.01).sin()).unwrap()).collect());
        assert!(plan(&img, &wcs, &Filters { region: Some(many), ..Filters::default() }).unwrap_err().0.contains("at most 1000"));
    }

    #[test]
    fn band_time_and_pol_slice_their_axes() {
        let (img, wcs) = image(
            &[("CTYPE3", &quoted("WAVE")), ("CRPIX3", "1"), ("CRVAL3", "5e-7"), ("CDELT3", "1e-8"), ("CTYPE4", &quoted("STOKES")), ("CRPIX4", "1"), ("CRVAL4", "1"), ("CDELT4", "1"), ("MJD-BEG", "60000"), ("MJD-END", "60001")],
            &[4, 4, 20, 4],
        );
        let f = |band, time, pol: Option<Vec<&str>>| Filters { band, time, pol: pol.map(|p| p.iter().map(|l| wcs::stokes_code(l).unwrap()).collect()), region: None };
        assert_eq!(plan(&img, &wcs, &f(Some((5.2e-7, 5.4e-7)), None, None)).unwrap().unwrap()[2], (3, 5));
        assert_eq!(plan(&img, &wcs, &f(Some((1.0, 2.0)), None, None)).unwrap(), None);
        assert_eq!(plan(&img, &wcs, &f(None, None, Some(vec!["Q", "U"]))).unwrap().unwrap()[3], (2, 3));
        assert_eq!(plan(&img, &wcs, &f(None, None, Some(vec!["RR"]))).unwrap(), None);
        assert_eq!(plan(&img, &wcs, &f(None, Some((60000.5, 70000.0)), None)).unwrap().unwrap(), vec![(1, 4), (1, 4), (1, 20), (1, 4)]);
        assert_eq!(plan(&img, &wcs, &f(None, Some((50000.0, 59999.0)), None)).unwrap(), None);
        let circle = Filters { region: Some(Region::Circle { lon: 1.0, lat: 1.0, radius: 1.0 }), ..Filters::default() };
        assert!(plan(&img, &wcs, &circle).unwrap_err().0.contains("no celestial axes"));
    }

    #[test]
    fn pixel_ranges_round_outwards() {
        assert_eq!(pixel_range(40.6, 60.4, 100), Some((41, 60)));
        assert_eq!(pixel_range(40.5, 60.5, 100), Some((41, 60)));
        assert_eq!(pixel_range(-5.0, 0.4, 100), None);
        assert_eq!(pixel_range(3.2, 3.2, 100), Some((3, 3)));
        assert_eq!(pixel_range(f64::NEG_INFINITY, f64::INFINITY, 100), Some((1, 100)));
    }
}
