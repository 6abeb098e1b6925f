//! Checks of JSON Schema constraints at request time.
//!
//! Each function names the parameter (or body path) and the rule in its error, so a client learns
//! exactly what to fix. Numbers are compared as `f64`, which is exact for every integer a JSON
//! document can portably carry (|n| ≤ 2^53).

use crate::error::RequestError;
use regex::Regex;
use std::collections::BTreeMap;
use std::fmt;

/// Where a checked value sits: a parameter or the body, then items and properties. It is spelt
/// out (`body.pets[2].name`) only when an error names it, so checking costs no allocation.
#[derive(Debug, Clone, Copy)]
pub enum Path<'a> {
    /// A parameter, or `body`.
    Root(&'a str),
    /// An item of an array.
    Item(&'a Path<'a>, usize),
    /// A property of an object.
    Property(&'a Path<'a>, &'a str),
}

impl<'a> Path<'a> {
    /// Item `index` of the array at this path.
    pub fn item(&'a self, index: usize) -> Path<'a> {
        Path::Item(self, index)
    }

    /// Property `name` of the object at this path.
    pub fn property(&'a self, name: &'a str) -> Path<'a> {
        Path::Property(self, name)
    }
}

impl<'a> From<&'a str> for Path<'a> {
    fn from(root: &'a str) -> Self {
        Path::Root(root)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Item(parent, index) => write!(f, "{parent}[{index}]"),
            Path::Property(parent, name) => write!(f, "{parent}.{name}"),
        }
    }
}

/// A value whose schema has constraints beyond its Rust type. Generated models implement it;
/// containers pass the check on to their items.
pub trait Validate {
    /// Checks every constraint; `path` names the value in errors (`body`, `body.pets[2]`).
    fn validate(&self, path: Path<'_>) -> Result<(), RequestError>;
}

macro_rules! always_valid {
    ($($t:ty),*) => {$(
        impl Validate for $t {
            fn validate(&self, _: Path<'_>) -> Result<(), RequestError> { Ok(()) }
        }
    )*};
}

always_valid!(
    bool, i32, i64, u32, u64, f32, f64, String, serde_json::Value, uuid::Uuid, chrono::NaiveDate,
    chrono::DateTime<chrono::Utc>, bytes::Bytes
);

impl<T: Validate> Validate for Option<T> {
    fn validate(&self, path: Path<'_>) -> Result<(), RequestError> {
        self.as_ref().map_or(Ok(()), |v| v.validate(path))
    }
}

impl<T: Validate> Validate for Box<T> {
    fn validate(&self, path: Path<'_>) -> Result<(), RequestError> {
        (**self).validate(path)
    }
}

impl<T: Validate> Validate for Vec<T> {
    fn validate(&self, path: Path<'_>) -> Result<(), RequestError> {
        self.iter().enumerate().try_for_each(|(i, v)| v.validate(path.item(i)))
    }
}

impl<T: Validate> Validate for BTreeMap<String, T> {
    fn validate(&self, path: Path<'_>) -> Result<(), RequestError> {
        self.iter().try_for_each(|(k, v)| v.validate(path.property(k)))
    }
}

/// `minimum` (or, when `exclusive`, 3.1's numeric `exclusiveMinimum`).
pub fn minimum<'p>(path: impl Into<Path<'p>>, value: f64, limit: f64, exclusive: bool) -> Result<(), RequestError> {
    let path = path.into();
    let ok = if exclusive { value > limit } else { value >= limit };
    if ok {
        return Ok(());
    }
    let (rule, op) = if exclusive { ("exclusiveMinimum", ">") } else { ("minimum", "≥") };
    Err(RequestError::new(path.to_string(), rule, format!("`{path}` must be {op} {limit}, got {value}")))
}

/// `maximum` (or, when `exclusive`, 3.1's numeric `exclusiveMaximum`).
pub fn maximum<'p>(path: impl Into<Path<'p>>, value: f64, limit: f64, exclusive: bool) -> Result<(), RequestError> {
    let path = path.into();
    let ok = if exclusive { value < limit } else { value <= limit };
    if ok {
        return Ok(());
    }
    let (rule, op) = if exclusive { ("exclusiveMaximum", "<") } else { ("maximum", "≤") };
    Err(RequestError::new(path.to_string(), rule, format!("`{path}` must be {op} {limit}, got {value}")))
}

/// `multipleOf`.
pub fn multiple_of<'p>(path: impl Into<Path<'p>>, value: f64, factor: f64) -> Result<(), RequestError> {
    let path = path.into();
    let quotient = value / factor;
    if (quotient - quotient.round()).abs() < 1e-9 {
        return Ok(());
    }
    Err(RequestError::new(path.to_string(), "multipleOf", format!("`{path}` must be a multiple of {factor}, got {value}")))
}

/// `minLength` / `maxLength`, counted in characters as JSON Schema requires.
pub fn length<'p>(path: impl Into<Path<'p>>, value: &str, min: Option<u64>, max: Option<u64>) -> Result<(), RequestError> {
    // A string of n bytes has between n/4 and n characters: most values are within bounds by
    // their byte length alone, without counting.
    let bytes = value.len() as u64;
    if min.is_none_or(|min| bytes.div_ceil(4) >= min) && max.is_none_or(|max| bytes <= max) {
        return Ok(());
    }
    let path = path.into();
    let len = value.chars().count() as u64;
    if let Some(min) = min.filter(|&min| len < min) {
        return Err(RequestError::new(path.to_string(), "minLength", format!("`{path}` must have at least {min} characters, got {len}")));
    }
    if let Some(max) = max.filter(|&max| len > max) {
        return Err(RequestError::new(path.to_string(), "maxLength", format!("`{path}` must have at most {max} characters, got {len}")));
    }
    Ok(())
}

/// `pattern`: the regular expression must match somewhere in the value (ECMA-262 semantics:
/// patterns are not implicitly anchored).
pub fn pattern<'p>(path: impl Into<Path<'p>>, value: &str, regex: &Regex) -> Result<(), RequestError> {
    let path = path.into();
    if regex.is_match(value) {
        return Ok(());
    }
    Err(RequestError::new(path.to_string(), "pattern", format!("`{path}` must match the pattern `{}`", regex.as_str())))
}

/// `minItems` / `maxItems`.
pub fn items<'p>(path: impl Into<Path<'p>>, len: usize, min: Option<u64>, max: Option<u64>) -> Result<(), RequestError> {
    let path = path.into();
    let len = len as u64;
    if let Some(min) = min.filter(|&min| len < min) {
        return Err(RequestError::new(path.to_string(), "minItems", format!("`{path}` must have at least {min} items, got {len}")));
    }
    if let Some(max) = max.filter(|&max| len > max) {
        return Err(RequestError::new(path.to_string(), "maxItems", format!("`{path}` must have at most {max} items, got {len}")));
    }
    Ok(())
}

/// `minProperties` / `maxProperties`.
pub fn properties<'p>(path: impl Into<Path<'p>>, len: usize, min: Option<u64>, max: Option<u64>) -> Result<(), RequestError> {
    let path = path.into();
    let len = len as u64;
    if min.is_some_and(|min| len < min) || max.is_some_and(|max| len > max) {
        return Err(RequestError::new(path.to_string(), "properties", format!("`{path}` has {len} properties, outside the allowed range")));
    }
    Ok(())
}

/// `const`: the value must equal the one the schema fixes.
pub fn constant<'p, T: PartialEq + std::fmt::Debug>(path: impl Into<Path<'p>>, value: &T, expected: &T) -> Result<(), RequestError> {
    let path = path.into();
    if value == expected {
        return Ok(());
    }
    Err(RequestError::new(path.to_string(), "const", format!("`{path}` must be {expected:?}, got {value:?}")))
}

/// `enum` on a value whose Rust type is not itself an enum (numbers, for instance).
pub fn one_of<'p, T: PartialEq + std::fmt::Debug>(path: impl Into<Path<'p>>, value: &T, allowed: &[T]) -> Result<(), RequestError> {
    let path = path.into();
    if allowed.contains(value) {
        return Ok(());
    }
    Err(RequestError::new(path.to_string(), "enum", format!("`{path}` must be one of {allowed:?}, got {value:?}")))
}

/// `uniqueItems`.
pub fn unique<'p, T: PartialEq>(path: impl Into<Path<'p>>, items: &[T]) -> Result<(), RequestError> {
    let path = path.into();
    for (i, a) in items.iter().enumerate() {
        if items[..i].contains(a) {
            return Err(RequestError::new(path.to_string(), "uniqueItems", format!("`{path}` must not repeat items (item {i} does)")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_bounds_are_exclusive() {
        assert!(maximum("x", 10.0, 10.0, false).is_ok());
        assert_eq!(maximum("x", 10.0, 10.0, true).unwrap_err().rule, "exclusiveMaximum");
        assert!(minimum("x", 0.5, 0.0, true).is_ok());
        assert_eq!(minimum("x", 0.0, 0.0, true).unwrap_err().rule, "exclusiveMinimum");
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(length("x", "ééé", None, Some(3)).is_ok());
        assert_eq!(length("x", "éééé", None, Some(3)).unwrap_err().rule, "maxLength");
        assert_eq!(length("x", "", Some(1), None).unwrap_err().rule, "minLength");
        // Every bound around every length, against a count of characters, for one-, two-, three-
        // and four-byte characters.
        for c in ["a", "é", "€", "𝄞"] {
            for n in 0..10 {
                let value = c.repeat(n);
                for bound in 0..12 {
                    let bound = bound as u64;
                    assert_eq!(length("x", &value, Some(bound), None).is_ok(), n as u64 >= bound, "{value} min {bound}");
                    assert_eq!(length("x", &value, None, Some(bound)).is_ok(), n as u64 <= bound, "{value} max {bound}");
                }
            }
        }
    }

    #[test]
    fn nested_paths_name_the_item() {
        struct Positive(i64);
        impl Validate for Positive {
            fn validate(&self, path: Path<'_>) -> Result<(), RequestError> {
                minimum(path, self.0 as f64, 0.0, true)
            }
        }
        let err = vec![Positive(1), Positive(0)].validate("body.n".into()).unwrap_err();
        assert_eq!(err.parameter.as_deref(), Some("body.n[1]"));
    }
}
