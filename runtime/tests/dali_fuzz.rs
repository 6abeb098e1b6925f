//! A bounded fuzz run of the DALI value parsers as an ordinary test: values built from the
//! grammar's pieces and from the examples in `specs/`, then mutated. Every parser must return
//! `Ok` or `Err` (never panic), and what it accepts must read back the same after being written
//! (`parse(to_string(parse(s))) == parse(s)`). Deterministic: `IVOAGEN_FUZZ_SEED` and
//! `IVOAGEN_FUZZ_CASES` (default 20,000) change the run. (Timestamps are the exception to the
//! exact read-back: see `check_timestamp`.)

use ivoagen_runtime::dali::{Circle, Interval, Point, Polygon, Range, Shape, Timestamp};
use std::fmt::{Debug, Display};
use std::str::FromStr;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
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
];

/// Example values from the repository's specs (`CIRCLE 12 34 0.5`, …).
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
    out
}

fn value(rng: &mut Rng, examples: &[String]) -> String {
    let mut s = match rng.below(4) {
        0 if !examples.is_empty() => examples[rng.below(examples.len())].clone(),
        1 => rng.pick(TIMES).to_owned(),
        _ => {
            let mut s = String::new();
            if rng.below(2) == 0 {
                s.push_str(rng.pick(WORDS));
                s.push_str(rng.pick(SEPARATORS));
            }
            for i in 0..rng.below(9) {
                if i > 0 {
                    s.push_str(rng.pick(SEPARATORS));
                }
                s.push_str(rng.pick(NUMBERS));
            }
            s
        }
    };
    // Mutations on character boundaries (the parsers take `&str`).
    for _ in 0..rng.below(3) {
        let chars: Vec<char> = s.chars().collect();
        let at = rng.below(chars.len() + 1);
        s = match rng.below(4) {
            0 if !chars.is_empty() => chars.iter().enumerate().filter(|&(i, _)| i != at).map(|(_, c)| c).collect(),
            1 => chars[..at].iter().chain(rng.pick(NUMBERS).chars().collect::<Vec<_>>().iter()).chain(&chars[at..]).collect(),
            2 => chars[..at].iter().chain(rng.pick(SEPARATORS).chars().collect::<Vec<_>>().iter()).chain(&chars[at..]).collect(),
            _ => chars[..at].iter().collect(),
        };
    }
    s
}

/// Parsing never panics, and an accepted value reads back the same after being written.
fn check<T: FromStr<Err = String> + Display + Debug + PartialEq>(input: &str) -> bool {
    let parsed = std::panic::catch_unwind(|| input.parse::<T>()).unwrap_or_else(|_| panic!("{} panicked on {input:?}", std::any::type_name::<T>()));
    let Ok(value) = parsed else { return false };
    let written = value.to_string();
    let again = written.parse::<T>();
    assert_eq!(again.as_ref(), Ok(&value), "{} {input:?} was written as {written:?}", std::any::type_name::<T>());
    true
}

/// Timestamps are written to the millisecond (DALI's `.SSS`) though more digits are read: the
/// written form is a fixed point, within a millisecond of what was read.
fn check_timestamp(input: &str) -> bool {
    let parsed = std::panic::catch_unwind(|| input.parse::<Timestamp>()).unwrap_or_else(|_| panic!("Timestamp panicked on {input:?}"));
    let Ok(value) = parsed else { return false };
    let written = value.to_string();
    let again = written.parse::<Timestamp>().unwrap_or_else(|e| panic!("Timestamp {input:?} was written as {written:?}, which does not parse: {e}"));
    assert_eq!(again.to_string(), written, "Timestamp {input:?}: writing is not stable");
    let drift = (value.0 - again.0).num_nanoseconds().unwrap_or(i64::MAX).abs();
    assert!(drift < 1_000_000, "Timestamp {input:?} was written as {written:?}, {drift} ns away");
    true
}

#[test]
fn dali_parsers_never_panic_and_round_trip() {
    let seed = std::env::var("IVOAGEN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x0da1_1f22_u64);
    let cases: usize = std::env::var("IVOAGEN_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let examples = spec_examples();
    assert!(!examples.is_empty(), "the specs have DALI examples");
    let mut rng = Rng(seed | 1);
    let mut accepted = 0;
    for _ in 0..cases {
        let input = value(&mut rng, &examples);
        accepted += usize::from(check::<Circle>(&input));
        accepted += usize::from(check::<Polygon>(&input));
        accepted += usize::from(check::<Range>(&input));
        accepted += usize::from(check::<Interval>(&input));
        accepted += usize::from(check::<Point>(&input));
        accepted += usize::from(check::<Shape>(&input));
        accepted += usize::from(check_timestamp(&input));
    }
    eprintln!("{cases} values, {accepted} accepted by some parser");
    assert!(accepted > cases / 50, "the values must reach the parsers' success paths too: {accepted}");
}
