//! DALI value types (DALI 1.1 §3.3, 1.2) and the SODA `POS` shape, parsed from their parameter
//! syntax and written back in it.
//!
//! Coordinates are ICRS degrees. Parsing checks what the standard fixes: longitude in [0, 360],
//! latitude in [-90, 90], radius in (0, 180], polygons of at least three vertices, intervals with
//! `lo ≤ hi` where `-Inf`/`+Inf` are allowed. Polygons have at most [`Polygon::MAX_VERTICES`]
//! vertices. Each failure is a sentence naming what was expected.

use crate::params::FromParam;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

fn number(t: &str, what: &str) -> Result<f64, String> {
    if let Some(n) = plain_decimal(t) {
        return Ok(n);
    }
    match t {
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        t => t.parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| format!("{what}: `{t}` is not a number")),
    }
}

/// `t` as a float when it is a plain decimal (`-12.345`) of at most 15 digits. Both the digits
/// as an integer and the power of ten are then exact doubles, and IEEE division rounds their
/// quotient correctly: the value `str::parse` gives (Clinger's fast path), without its general
/// machinery, which costs most of what parsing a DALI shape costs. Anything else is `None`.
fn plain_decimal(t: &str) -> Option<f64> {
    const POWERS: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];
    let (negative, text) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        rest => (false, rest),
    };
    if text.len() > 16 {
        return None;
    }
    let (mut digits, mut count, mut fraction, mut dot) = (0u64, 0, 0, false);
    for &b in text {
        match b {
            b'0'..=b'9' => {
                digits = digits * 10 + u64::from(b - b'0');
                count += 1;
                fraction += usize::from(dot);
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if count == 0 || count > 15 {
        return None;
    }
    let value = digits as f64 / POWERS[fraction];
    Some(if negative { -value } else { value })
}

/// Exactly `N` plain decimals separated by ASCII whitespace, read in one pass over the bytes:
/// the common case of [`fixed`], `None` for anything else.
fn plain_decimals<const N: usize>(value: &str) -> Option<[f64; N]> {
    let bytes = value.as_bytes();
    let mut out = [0.0; N];
    let mut i = 0;
    for slot in &mut out {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let start = i;
        while bytes.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
            i += 1;
        }
        // `start` and `i` are at ASCII bytes or the ends: character boundaries.
        *slot = plain_decimal(&value[start..i])?;
    }
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    (i == bytes.len()).then_some(out)
}

/// Exactly `N` numbers, without allocating; the error names what was expected.
fn fixed<const N: usize>(value: &str, what: &str, expected: &str) -> Result<[f64; N], String> {
    if let Some(out) = plain_decimals(value) {
        return Ok(out);
    }
    let mut out = [0.0; N];
    let mut count = 0;
    for token in value.split_ascii_whitespace() {
        if count < N {
            out[count] = number(token, what)?;
        }
        count += 1;
    }
    if count == N { Ok(out) } else { Err(format!("{what}: expected `{expected}`, got {count} numbers")) }
}

fn longitude(v: f64, what: &str) -> Result<f64, String> {
    if (0.0..=360.0).contains(&v) { Ok(v) } else { Err(format!("{what}: longitude {v} is outside [0, 360]")) }
}

fn latitude(v: f64, what: &str) -> Result<f64, String> {
    if (-90.0..=90.0).contains(&v) { Ok(v) } else { Err(format!("{what}: latitude {v} is outside [-90, 90]")) }
}

fn fmt_number(f: &mut fmt::Formatter<'_>, v: f64) -> fmt::Result {
    if v == f64::INFINITY {
        f.write_str("+Inf")
    } else if v == f64::NEG_INFINITY {
        f.write_str("-Inf")
    } else {
        write!(f, "{v}")
    }
}

/// A circle: centre and radius in degrees (`lon lat radius`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    /// Longitude of the centre, [0, 360].
    pub lon: f64,
    /// Latitude of the centre, [-90, 90].
    pub lat: f64,
    /// Radius, (0, 180].
    pub radius: f64,
}

/// A polygon: at least three and at most [`Polygon::MAX_VERTICES`] vertices, counter-clockwise,
/// with an implicit closing edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    /// `(lon, lat)` of each vertex.
    pub vertices: Vec<(f64, f64)>,
}

/// A coordinate range (`lon1 lon2 lat1 lat2`); infinite bounds mean "unbounded".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Longitude bounds.
    pub lon: (f64, f64),
    /// Latitude bounds.
    pub lat: (f64, f64),
}

/// A numeric interval (`lo hi`), either end possibly infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// A point (`lon lat`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Longitude, [0, 360].
    pub lon: f64,
    /// Latitude, [-90, 90].
    pub lat: f64,
}

/// A region: SODA's `POS` (`CIRCLE …`, `RANGE …`, `POLYGON …`), also DALI 1.2's `shape`
/// (the same keywords in lower case).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `CIRCLE lon lat r`.
    Circle(Circle),
    /// `RANGE lon1 lon2 lat1 lat2`.
    Range(Range),
    /// `POLYGON lon1 lat1 lon2 lat2 …`.
    Polygon(Polygon),
}

/// A DALI timestamp: `YYYY-MM-DD['T'hh:mm:ss[.SSS]]`, UTC (a trailing `Z` is accepted).
///
/// Precise to the nanosecond: fractional seconds are read to nine digits (further digits are
/// dropped) and written with three (DALI's `.SSS`), or six or nine when the value has more, so
/// what is read is written back exactly: `2024-01-02T03:04:05.5` as `…05.500Z`,
/// `…05.123456` as `…05.123456Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub chrono::NaiveDateTime);

impl FromStr for Circle {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let [lon, lat, radius] = fixed::<3>(value, "circle", "lon lat radius")?;
        if !(radius > 0.0 && radius <= 180.0) {
            return Err(format!("circle: radius {radius} is outside (0, 180]"));
        }
        Ok(Circle { lon: longitude(lon, "circle")?, lat: latitude(lat, "circle")?, radius })
    }
}

impl Polygon {
    /// The most vertices a polygon may have: 1,000. Footprints clients send have tens to a few
    /// hundred; every vertex costs whatever plans or tests against the polygon, so parsing refuses
    /// more (the numbers past the cap are counted, not read), for every service and endpoint.
    pub const MAX_VERTICES: usize = 1000;
}

impl FromStr for Polygon {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let mut tokens = value.split_ascii_whitespace();
        let mut n = Vec::new();
        for token in tokens.by_ref() {
            if n.len() == 2 * Polygon::MAX_VERTICES {
                // Counted, not read: the numbers past the cap are never parsed.
                let count = n.len() + 1 + tokens.count();
                return Err(format!("polygon: {} vertices, but a polygon has at most {}", count.div_ceil(2), Polygon::MAX_VERTICES));
            }
            n.push(number(token, "polygon")?);
        }
        if n.len() < 6 || n.len() % 2 != 0 {
            return Err(format!("polygon: expected at least three `lon lat` pairs, got {} numbers", n.len()));
        }
        let vertices = n
            .chunks(2)
            .map(|p| Ok((longitude(p[0], "polygon")?, latitude(p[1], "polygon")?)))
            .collect::<Result<_, String>>()?;
        Ok(Polygon { vertices })
    }
}

impl FromStr for Range {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let [lon1, lon2, lat1, lat2] = fixed::<4>(value, "range", "lon1 lon2 lat1 lat2")?;
        let lon_ok = |v: f64| v.is_infinite() || (0.0..=360.0).contains(&v);
        let lat_ok = |v: f64| v.is_infinite() || (-90.0..=90.0).contains(&v);
        if !(lon_ok(lon1) && lon_ok(lon2)) {
            return Err("range: longitudes must be in [0, 360] or infinite".to_owned());
        }
        if !(lat_ok(lat1) && lat_ok(lat2)) || lat1 > lat2 {
            return Err("range: latitudes must be in [-90, 90] or infinite, lower first".to_owned());
        }
        Ok(Range { lon: (lon1, lon2), lat: (lat1, lat2) })
    }
}

impl FromStr for Interval {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let [lo, hi] = fixed::<2>(value, "interval", "lo hi")?;
        if lo > hi {
            return Err(format!("interval: lower bound {lo} is above upper bound {hi}"));
        }
        Ok(Interval { lo, hi })
    }
}

impl FromStr for Point {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let [lon, lat] = fixed::<2>(value, "point", "lon lat")?;
        Ok(Point { lon: longitude(lon, "point")?, lat: latitude(lat, "point")? })
    }
}

impl FromStr for Shape {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let value = value.trim();
        let (keyword, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        match keyword.to_ascii_uppercase().as_str() {
            "CIRCLE" => rest.parse().map(Shape::Circle),
            "RANGE" => rest.parse().map(Shape::Range),
            "POLYGON" => rest.parse().map(Shape::Polygon),
            _ => Err(format!("expected CIRCLE, RANGE or POLYGON, got `{keyword}`")),
        }
    }
}

impl FromStr for Timestamp {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let v = value.strip_suffix('Z').unwrap_or(value);
        let parsed = chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)));
        parsed.map(Timestamp).map_err(|_| format!("timestamp: expected YYYY-MM-DD['T'hh:mm:ss[.SSS]], got `{value}`"))
    }
}

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lon, self.lat, self.radius)
    }
}

impl fmt::Display for Polygon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (lon, lat)) in self.vertices.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{lon} {lat}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in [self.lon.0, self.lon.1, self.lat.0, self.lat.1].into_iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            fmt_number(f, v)?;
        }
        Ok(())
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_number(f, self.lo)?;
        f.write_str(" ")?;
        fmt_number(f, self.hi)
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.lon, self.lat)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Circle(c) => write!(f, "CIRCLE {c}"),
            Shape::Range(r) => write!(f, "RANGE {r}"),
            Shape::Polygon(p) => write!(f, "POLYGON {p}"),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use chrono::Timelike;
        let format = match self.0.nanosecond() {
            n if n % 1_000_000 == 0 => "%Y-%m-%dT%H:%M:%S%.3fZ",
            n if n % 1_000 == 0 => "%Y-%m-%dT%H:%M:%S%.6fZ",
            _ => "%Y-%m-%dT%H:%M:%S%.9fZ",
        };
        write!(f, "{}", self.0.format(format))
    }
}

macro_rules! string_value {
    ($($t:ty),*) => {$(
        impl FromParam for $t {
            fn from_param(value: &str) -> Result<Self, String> {
                value.parse()
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl crate::validate::Validate for $t {
            fn validate(&self, _: crate::validate::Path<'_>) -> Result<(), crate::RequestError> {
                Ok(())
            }
        }
    )*};
}

string_value!(Circle, Polygon, Range, Interval, Point, Shape, Timestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_of_fixed_agrees_with_the_general_one() {
        for value in ["12 34 0.5", "  12\t34\n0.5  ", "12 34", "12 34 0.5 1", "12 34 1e-1", "12 34 +Inf", "", "  ", "1 2 3", "a b c", "1 2 NaN", "1\u{a0}2 3"] {
            let general: Option<[f64; 3]> = value.split_ascii_whitespace().map(|t| number(t, "x").ok()).collect::<Option<Vec<f64>>>().and_then(|v| v.try_into().ok());
            assert_eq!(fixed::<3>(value, "x", "a b c").ok(), general, "{value:?}");
            if let Some(fast) = plain_decimals::<3>(value) {
                assert_eq!(Some(fast), general, "{value:?}");
            }
        }
    }

    #[test]
    fn plain_decimals_parse_to_the_bits_str_parse_gives() {
        let mut texts: Vec<String> = ["0", "-0", "+0", "0.0", "-0.0", "5.", ".5", "-.5", "+.5", ".", "-", "+", "", "1.2.3", "1e5", "--1", "+-1", "12a",
            "10.68", "41.27", "0.1", "0.3", "359.999999999999", "123456789012345", "1234567890123456", "0.000000000000001", "9999999999999999", "1.7976931348623157"]
            .map(str::to_owned)
            .to_vec();
        // Pseudo-random decimals of 1 to 18 digits, the dot anywhere, either sign.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + (state % 18) as usize;
            let mut text: String = (0..len).map(|i| char::from(b'0' + ((state >> (i * 3 % 60)) % 10) as u8)).collect();
            let dot = ((state >> 40) % (len as u64 + 2)) as usize;
            if dot <= len {
                text.insert(dot, '.');
            }
            match (state >> 50) % 3 {
                0 => text.insert(0, '-'),
                1 => text.insert(0, '+'),
                _ => {}
            }
            texts.push(text);
        }
        let mut fast = 0;
        for text in &texts {
            if let Some(value) = plain_decimal(text) {
                fast += 1;
                let parsed: f64 = text.parse().unwrap_or_else(|e| panic!("{text:?} took the fast path but does not parse: {e}"));
                assert_eq!(value.to_bits(), parsed.to_bits(), "{text:?}");
            }
        }
        assert!(fast > 100_000, "the fast path took only {fast} of {}", texts.len());
        for text in ["", ".", "-", "1e5", "1.2.3", "1234567890123456", "inf", "NaN"] {
            assert_eq!(plain_decimal(text), None, "{text:?}");
        }
    }

    #[test]
    fn circles_parse_and_check_ranges() {
        assert_eq!("12 34 0.5".parse::<Circle>(), Ok(Circle { lon: 12.0, lat: 34.0, radius: 0.5 }));
        assert!("12 34".parse::<Circle>().unwrap_err().contains("got 2 numbers"));
        assert!("12 95 1".parse::<Circle>().unwrap_err().contains("latitude"));
        assert!("12 34 0".parse::<Circle>().unwrap_err().contains("radius"));
        assert!("361 0 1".parse::<Circle>().unwrap_err().contains("longitude"));
        assert!("a b c".parse::<Circle>().is_err());
        assert!("1 2 NaN".parse::<Circle>().is_err());
    }

    #[test]
    fn shapes_accept_any_keyword_case() {
        assert_eq!("circle 12 34 0.5".parse::<Shape>(), "CIRCLE 12 34 0.5".parse::<Shape>());
        assert!("RANGE 0 +Inf -90 -Inf".parse::<Shape>().is_err());
        assert!(matches!("RANGE 0 +Inf -Inf 90".parse::<Shape>(), Ok(Shape::Range(_))));
        assert!(matches!("POLYGON 0 0 1 0 1 1".parse::<Shape>(), Ok(Shape::Polygon(p)) if p.vertices.len() == 3));
        assert!("POLYGON 0 0 1 0".parse::<Shape>().is_err());
        let most = "1 2 ".repeat(Polygon::MAX_VERTICES);
        assert!(matches!(format!("POLYGON {most}").parse::<Shape>(), Ok(Shape::Polygon(p)) if p.vertices.len() == Polygon::MAX_VERTICES));
        let error = format!("{most} 1 2").parse::<Polygon>().unwrap_err();
        assert!(error.contains("1001 vertices") && error.contains("at most 1000"), "{error}");
        // Past the cap, numbers are counted, not read: refused for its size, not for `x`.
        assert!(format!("{most} x").parse::<Polygon>().unwrap_err().contains("at most 1000"));
        assert!("BOX 1 2 3 4".parse::<Shape>().unwrap_err().contains("CIRCLE"));
    }

    #[test]
    fn intervals_allow_infinities_and_round_trip() {
        let i: Interval = "-Inf 300".parse().unwrap();
        assert_eq!(i, Interval { lo: f64::NEG_INFINITY, hi: 300.0 });
        assert_eq!(i.to_string(), "-Inf 300");
        assert!("5 4".parse::<Interval>().is_err());
        assert_eq!("5e-7 6e-7".parse::<Interval>().unwrap().to_string(), "0.0000005 0.0000006");
    }

    #[test]
    fn timestamps_take_dates_and_times() {
        assert_eq!("2024-01-02".parse::<Timestamp>().unwrap().to_string(), "2024-01-02T00:00:00.000Z");
        assert_eq!("2024-01-02T03:04:05.5Z".parse::<Timestamp>().unwrap().to_string(), "2024-01-02T03:04:05.500Z");
        assert!("2024-13-02".parse::<Timestamp>().is_err());
        // More digits than milliseconds: written with as many as the value needs, read back the same.
        for (text, written) in [
            ("2024-01-02T03:04:05.123456", "2024-01-02T03:04:05.123456Z"),
            ("2024-01-02T03:04:05.000000001Z", "2024-01-02T03:04:05.000000001Z"),
            ("2024-01-02T03:04:05.1234567", "2024-01-02T03:04:05.123456700Z"),
            ("2024-01-02T03:04:05.1234567891", "2024-01-02T03:04:05.123456789Z"),
        ] {
            let t: Timestamp = text.parse().unwrap();
            assert_eq!(t.to_string(), written);
            assert_eq!(written.parse::<Timestamp>(), Ok(t));
        }
    }
}
