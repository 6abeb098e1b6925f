//! Property-based fuzzing (proptest) of the DALI value parsers and of the parameter layer, run
//! as ordinary tests in CI:
//!
//! - text built from the grammar's pieces, the examples in `specs/`, timestamp-like text and
//!   arbitrary Unicode, then edited, goes through every parser: each returns `Ok` or `Err`, never
//!   panics; what it accepts is valid (finite or deliberately infinite numbers in their ranges,
//!   3 to [`Polygon::MAX_VERTICES`] vertices, `lo ≤ hi`) and reads back the same after being
//!   written (`parse(to_string(parse(s))) == parse(s)`);
//! - valid values, built directly, are written and read back bit for bit;
//! - a query string built from arbitrary pairs gives back every value of every name, in order;
//!   any query string decodes as the URL standard's parser decodes it, and the name filter never
//!   hides a parameter that is there, whatever the case of its name.
//!
//! Deterministic by default (a fixed seed); `IVOAGEN_FUZZ_SEED` (a number, or `random`) and
//! `IVOAGEN_FUZZ_CASES` change the run. A failure proptest finds is shrunk and recorded in
//! `runtime/proptest-regressions/dali_fuzz.txt` (committed), replayed first on every run; each
//! one is also kept below as a named test.

use http::request::Parts;
use ivoagen_runtime::dali::{Circle, Interval, Point, Polygon, Range, Shape, Timestamp};
use ivoagen_runtime::codegen::{Location, RawRequest, Style, params};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use std::fmt::{Debug, Display};
use std::str::FromStr;

/// The run's configuration: `cases` unless `IVOAGEN_FUZZ_CASES` says otherwise, a fixed seed
/// unless `IVOAGEN_FUZZ_SEED` gives one (or `random`).
fn config(cases: u32) -> ProptestConfig {
    let seed = match std::env::var("IVOAGEN_FUZZ_SEED").as_deref() {
        Ok("random") => RngSeed::Random,
        Ok(n) => RngSeed::Fixed(n.parse().expect("IVOAGEN_FUZZ_SEED is a number or `random`")),
        Err(_) => RngSeed::Fixed(0x0da1_1f22),
    };
    ProptestConfig {
        cases: std::env::var("IVOAGEN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases),
        rng_seed: seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/dali_fuzz.txt")))),
        ..ProptestConfig::default()
    }
}

const NUMBERS: &[&str] = &[
    "0", "1", "-1", "+1", "10.68", "41.27", "0.1", "180", "-90", "90", "360", "360.0000000001", "-0", "-0.0", "+0", "1e3",
    "1E-3", "1e400", "-1e400", "1e-400", "Inf", "+Inf", "-Inf", "inf", "-inf", "NaN", "nan", "infinity", "1.", ".5", ".", "-",
    "+", "1.2.3", "123456789012345", "1234567890123456", "0.000000000000001", "179.99999999999999", "90.000000000000001",
    "4.9e-324", "1.7976931348623157e308", "00000000000000000001", "1_0", "0x10", "１", "٣",
];

const SEPARATORS: &[&str] = &[" ", " ", " ", "  ", "\t", "\n", "\u{a0}", "\u{2003}", ",", ""];

const WORDS: &[&str] = &["CIRCLE", "RANGE", "POLYGON", "circle", "range", "polygon", "Circle", "POINT", "BOX", ""];

const TIMES: &[&str] = &[
    "2020-01-01", "2020-01-01T00:00:00", "2020-01-01T00:00:00Z", "2020-01-01T23:59:59.999", "2020-02-30", "2020-13-01",
    "2020-01-01T24:00:00", "2020-01-01T23:59:60", "0000-01-01", "9999-12-31T23:59:59.999999999", "+2020-01-01",
    "2020-1-1", "2020-01-01t00:00:00", "2020-01-01T00:00:00+01:00", "2020-01-01T00:00:00.", "2020-01-01 00:00:00",
    "2020-01-01T00:00:00.0000000001", "2020-01-01T00:00:00.123456", "2016-12-31T23:59:60.5Z", "-0001-01-01",
];

/// Example values from the repository's specs (`CIRCLE 12 34 0.5`, …): the corpus.
fn spec_examples() -> Vec<String> {
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(specs).into_iter().flatten().flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path()) else { continue };
        for line in text.lines() {
            for word in ["CIRCLE ", "RANGE ", "POLYGON ", "circle ", "range ", "polygon "] {
                if let Some(at) = line.find(word) {
                    let value: String = line[at..].chars().take_while(|c| !matches!(c, '\'' | '"' | ']' | '`' | ',')).collect();
                    out.push(value.trim().to_owned());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    assert!(!out.is_empty(), "the specs have DALI examples");
    out
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(NUMBERS).prop_map(str::to_owned),
        2 => any::<f64>().prop_map(|v| v.to_string()),
        2 => (-400.0..400.0f64).prop_map(|v| v.to_string()),
        1 => (0u32..=360, 0u32..100_000).prop_map(|(i, f)| format!("{i}.{f}")),
        1 => "[-+]?[0-9]{0,20}(\\.[0-9]{0,20})?([eE][-+]?[0-9]{1,4})?",
    ]
}

/// An optional keyword, then up to 12 numbers with separators.
fn grammar() -> impl Strategy<Value = String> {
    let word = prop::option::of((prop::sample::select(WORDS), prop::sample::select(SEPARATORS)));
    (word, prop::collection::vec((number(), prop::sample::select(SEPARATORS)), 0..12)).prop_map(|(word, numbers)| {
        let mut s = word.map(|(w, sep)| format!("{w}{sep}")).unwrap_or_default();
        for (i, (n, sep)) in numbers.iter().enumerate() {
            if i > 0 {
                s.push_str(sep);
            }
            s.push_str(n);
        }
        s
    })
}

/// A polygon near the vertex cap: a few vertices either side of it.
fn near_the_cap() -> impl Strategy<Value = String> {
    (Polygon::MAX_VERTICES - 2..=Polygon::MAX_VERTICES + 2, any::<bool>()).prop_map(|(n, keyword)| {
        let body = (0..n).map(|i| format!("{} {}", 10 + i % 50, 40 + i % 7)).collect::<Vec<_>>().join(" ");
        if keyword { format!("POLYGON {body}") } else { body }
    })
}

/// One edit on character boundaries (the parsers take `&str`).
#[derive(Debug, Clone)]
enum Edit {
    Remove(prop::sample::Index),
    Insert(prop::sample::Index, String),
    Truncate(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    let piece = prop_oneof![number(), prop::sample::select(SEPARATORS).prop_map(str::to_owned), "\\PC{1,3}"];
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Remove),
        (any::<prop::sample::Index>(), piece).prop_map(|(at, piece)| Edit::Insert(at, piece)),
        any::<prop::sample::Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: String, edits: Vec<Edit>) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        match edit {
            Edit::Remove(at) if !chars.is_empty() => {
                chars.remove(at.index(chars.len()));
            }
            Edit::Remove(_) => {}
            Edit::Insert(at, piece) => {
                let at = at.index(chars.len() + 1);
                chars.splice(at..at, piece.chars());
            }
            Edit::Truncate(at) => chars.truncate(at.index(chars.len() + 1)),
        }
    }
    chars.into_iter().collect()
}

/// Text for the parsers: mostly almost right, some anything at all.
fn dali_text() -> impl Strategy<Value = String> {
    let base = prop_oneof![
        2 => prop::sample::select(spec_examples()),
        2 => prop::sample::select(TIMES).prop_map(str::to_owned),
        2 => "[0-9+-]{1,6}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9]{0,12})?)?Z?",
        6 => grammar(),
        1 => near_the_cap(),
        1 => any::<String>(),
    ];
    (base, prop::collection::vec(edit(), 0..3)).prop_map(|(text, edits)| apply(text, edits))
}

/// Parsing never panics (a panic fails the property), and an accepted value reads back the same
/// after being written; the value accepted, if any.
fn round_trip<T: FromStr<Err = String> + Display + Debug + PartialEq + Clone>(input: &str) -> Result<Option<T>, TestCaseError> {
    let Ok(value) = input.parse::<T>() else { return Ok(None) };
    let written = value.to_string();
    prop_assert_eq!(written.parse::<T>(), Ok(value.clone()), "{} {:?} was written as {:?}", std::any::type_name::<T>(), input, written);
    Ok(Some(value))
}

fn lon_ok(v: f64) -> bool {
    (0.0..=360.0).contains(&v)
}

fn lat_ok(v: f64) -> bool {
    (-90.0..=90.0).contains(&v)
}

fn valid_circle(c: &Circle) -> bool {
    lon_ok(c.lon) && lat_ok(c.lat) && c.radius > 0.0 && c.radius <= 180.0
}

fn valid_polygon(p: &Polygon) -> bool {
    (3..=Polygon::MAX_VERTICES).contains(&p.vertices.len()) && p.vertices.iter().all(|&(lon, lat)| lon_ok(lon) && lat_ok(lat))
}

fn valid_range(r: &Range) -> bool {
    let lon = |v: f64| v.is_infinite() || lon_ok(v);
    let lat = |v: f64| v.is_infinite() || lat_ok(v);
    lon(r.lon.0) && lon(r.lon.1) && lat(r.lat.0) && lat(r.lat.1) && r.lat.0 <= r.lat.1
}

/// Everything the parsers accept is valid and reads back the same.
fn check_all(input: &str) -> Result<(), TestCaseError> {
    if let Some(c) = round_trip::<Circle>(input)? {
        prop_assert!(valid_circle(&c), "{:?} accepted as {:?}", input, c);
    }
    if let Some(p) = round_trip::<Polygon>(input)? {
        prop_assert!(valid_polygon(&p), "{:?} accepted as {} vertices", input, p.vertices.len());
    }
    if let Some(r) = round_trip::<Range>(input)? {
        prop_assert!(valid_range(&r), "{:?} accepted as {:?}", input, r);
    }
    if let Some(i) = round_trip::<Interval>(input)? {
        prop_assert!(!i.lo.is_nan() && !i.hi.is_nan() && i.lo <= i.hi, "{:?} accepted as {:?}", input, i);
    }
    if let Some(p) = round_trip::<Point>(input)? {
        prop_assert!(lon_ok(p.lon) && lat_ok(p.lat), "{:?} accepted as {:?}", input, p);
    }
    if let Some(shape) = round_trip::<Shape>(input)? {
        let valid = match &shape {
            Shape::Circle(c) => valid_circle(c),
            Shape::Range(r) => valid_range(r),
            Shape::Polygon(p) => valid_polygon(p),
        };
        prop_assert!(valid, "{:?} accepted as {:?}", input, shape);
    }
    if let Some(t) = round_trip::<Timestamp>(input)? {
        // Written again, the same text: the written form is the canonical one.
        prop_assert_eq!(t.to_string().parse::<Timestamp>().map(|t| t.to_string()), Ok(t.to_string()));
    }
    Ok(())
}

/// Any double but NaN: both signs, normal, subnormal, zero and infinite.
fn not_nan() -> impl Strategy<Value = f64> {
    use prop::num::f64::{INFINITE, NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO | INFINITE
}

/// A query string holding `pairs`, encoded as browsers encode forms.
fn encode(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn parts(query: &str) -> Option<Parts> {
    let uri = format!("/x?{query}");
    http::Request::builder().uri(uri).body(()).ok().map(|r| r.into_parts().0)
}

proptest! {
    #![proptest_config(config(45_000))]

    #[test]
    fn dali_parsers_never_panic_accept_only_valid_values_and_round_trip(input in dali_text()) {
        check_all(&input)?;
    }
}

proptest! {
    #![proptest_config(config(12_000))]

    /// Valid values, written, read back bit for bit (negative zero included).
    #[test]
    fn valid_values_are_written_and_read_back_exactly(
        lon in prop_oneof![0.0..=360.0f64, Just(0.0), Just(360.0)],
        lat in prop_oneof![-90.0..=90.0f64, Just(-90.0), Just(90.0), Just(-0.0)],
        radius in prop_oneof![f64::MIN_POSITIVE..=180.0f64, Just(180.0), Just(5e-324)],
        vertices in prop::collection::vec((0.0..=360.0f64, -90.0..=90.0f64), 3..40),
        // Any number but NaN, put in order (a filter would reject half the cases).
        bounds in (not_nan(), not_nan()).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) }),
        // Years 0000 to 9999, DALI's four digits.
        seconds in -62_167_219_200i64..=253_402_300_799,
        nanos in prop_oneof![Just(0u32), (0u32..1000).prop_map(|ms| ms * 1_000_000), (0u32..1_000_000).prop_map(|us| us * 1000), 0u32..1_000_000_000],
    ) {
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits();
        let circle = Circle { lon, lat, radius };
        let back: Circle = circle.to_string().parse().map_err(TestCaseError::fail)?;
        prop_assert!(same(back.lon, lon) && same(back.lat, lat) && same(back.radius, radius), "{} read as {:?}", circle, back);
        let point = Point { lon, lat };
        prop_assert_eq!(point.to_string().parse::<Point>(), Ok(point));
        let polygon = Polygon { vertices };
        prop_assert_eq!(polygon.to_string().parse::<Polygon>(), Ok(polygon.clone()));
        let shape = Shape::Polygon(polygon);
        prop_assert_eq!(shape.to_string().parse::<Shape>(), Ok(shape));
        let interval = Interval { lo: bounds.0, hi: bounds.1 };
        let back: Interval = interval.to_string().parse().map_err(TestCaseError::fail)?;
        prop_assert!(same(back.lo, interval.lo) && same(back.hi, interval.hi), "{} read as {:?}", interval, back);
        let range = Range { lon: (lon, f64::INFINITY), lat: (f64::NEG_INFINITY, lat) };
        prop_assert_eq!(range.to_string().parse::<Range>(), Ok(range));
        let time = chrono::DateTime::from_timestamp(seconds, nanos).map(|t| Timestamp(t.naive_utc()));
        if let Some(time) = time {
            prop_assert_eq!(time.to_string().parse::<Timestamp>(), Ok(time), "{}", time);
        }
    }
}

proptest! {
    #![proptest_config(config(7_000))]

    /// Every value of every name comes back, in order, from a query built from arbitrary pairs;
    /// `single` and `multi` find them whatever the case of the name asked for (DALI).
    #[test]
    fn a_query_gives_back_every_pair_it_was_built_from(
        pairs in prop::collection::vec(("[A-Za-z_]{1,3}|\\PC{0,4}", "\\PC{0,12}|[0-9 .+%&=-]{0,12}"), 0..12),
        flip in any::<prop::sample::Index>(),
    ) {
        let query = encode(&pairs);
        let head = parts(&query).ok_or_else(|| TestCaseError::fail(format!("{query:?} is not a URI query")))?;
        let raw = RawRequest::new(&head, Vec::new());
        for (name, _) in &pairs {
            let expected: Vec<&str> = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
            let got = raw.values(Location::Query, name);
            prop_assert_eq!(got.iter().map(|v| v.as_ref()).collect::<Vec<_>>(), expected.clone(), "{:?} in {:?}", name, query);
            let all: Option<Vec<String>> = params::multi(&raw, Location::Query, name, Style::FormExploded).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert_eq!(all.unwrap_or_default(), expected.iter().map(|v| v.to_string()).collect::<Vec<_>>());
        }
        // DALI: names compared ignoring ASCII case, through the name filter.
        let raw = RawRequest::new(&head, Vec::new()).case_insensitive();
        if let Some((name, _)) = pairs.get(flip.index(pairs.len().max(1))) {
            let asked: String = name.chars().map(|c| if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect();
            let expected: Vec<&str> = pairs.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
            match params::single::<String>(&raw, Location::Query, &asked) {
                Ok(Some(value)) => prop_assert_eq!(vec![value.as_str()], expected),
                Ok(None) => prop_assert!(false, "{:?} (asked as {:?}) not found in {:?}", name, asked, query),
                Err(_) => prop_assert!(expected.len() > 1, "{:?}: a multiplicity error for one value", asked),
            }
        }
    }

    /// Any query string: split and decoded exactly as the URL standard's parser does, and the
    /// typed readers return values or errors, never panic.
    #[test]
    fn any_query_decodes_as_the_url_standard_says(query in "([A-Za-z0-9=&+%._~-]|%[0-9A-Fa-f]{2}|%[0-9A-Fa-f]|%C3|%FF){0,40}") {
        let Some(head) = parts(&query) else { return Ok(()) };
        let raw = RawRequest::new(&head, Vec::new());
        let reference: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        for (name, _) in &reference {
            let expected: Vec<&str> = reference.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
            let got = raw.values(Location::Query, name);
            prop_assert_eq!(got.iter().map(|v| v.as_ref()).collect::<Vec<_>>(), expected, "{:?} in {:?}", name, query);
            let _ = params::multi::<f64>(&raw, Location::Query, name, Style::Comma);
            let _ = params::multi::<Circle>(&raw, Location::Query, name, Style::FormExploded);
            let _ = params::single::<Timestamp>(&raw, Location::Query, name);
            let _ = params::single::<i64>(&raw, Location::Query, name);
        }
    }
}

// Inputs that broke a parser or a property, found by fuzzing or reported, kept as named cases.

#[test]
fn a_polygon_over_the_cap_is_refused_before_its_numbers_are_read() {
    let over = "1 2 ".repeat(Polygon::MAX_VERTICES + 1);
    assert!(over.parse::<Polygon>().unwrap_err().contains("at most 1000"));
    assert!(format!("POLYGON {over}").parse::<Shape>().unwrap_err().contains("at most 1000"));
}

#[test]
fn a_timestamp_with_more_than_millisecond_digits_reads_back_exactly() {
    for text in ["2020-01-01T00:00:00.123456", "2020-01-01T00:00:00.000000001Z", "9999-12-31T23:59:59.999999999"] {
        let t: Timestamp = text.parse().unwrap();
        assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t), "{text}");
    }
}

#[test]
fn numbers_beyond_the_double_range_and_not_numbers_are_refused() {
    for text in ["1e400 0 1", "NaN 0 1", "0 nan 1", "0 0 1e-400", "0 0 infinity"] {
        assert!(text.parse::<Circle>().is_err(), "{text}");
    }
    assert!("-1e400 1".parse::<Interval>().is_err());
}
