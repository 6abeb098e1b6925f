//! Example values for the generated tests: the spec's own examples when they satisfy the schema,
//! values made from the schema otherwise, and values that break exactly one constraint.
//!
//! The checks here mirror what the runtime enforces, so a test built from them asserts the real
//! behaviour of the generated server rather than a guess.

use crate::ir::*;
use serde_json::{Value, json};

/// The rules `value` breaks as a value of `ty` with `constraints` (empty: it conforms).
pub fn violations(api: &Api, value: &Value, ty: &Ty, c: &Constraints) -> Vec<&'static str> {
    let mut out = Vec::new();
    check(api, value, ty, c, &mut out, 0);
    out
}

fn check(api: &Api, value: &Value, ty: &Ty, c: &Constraints, out: &mut Vec<&'static str>, depth: usize) {
    if depth > 16 {
        return;
    }
    if let Ty::Option(inner) = ty {
        if value.is_null() {
            return;
        }
        return check(api, value, inner, c, out, depth);
    }
    let type_ok = match ty {
        Ty::Bool => value.is_boolean(),
        Ty::I32 => value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        Ty::I64 => value.is_i64(),
        Ty::F32 | Ty::F64 => value.is_number(),
        Ty::String => value.is_string(),
        Ty::Date => value.as_str().is_some_and(is_date),
        Ty::DateTime => value.as_str().is_some_and(is_date_time),
        Ty::Uuid => value.as_str().is_some_and(is_uuid),
        Ty::Binary | Ty::Body => value.is_string(),
        Ty::Dali(kind) => value.as_str().is_some_and(|s| dali_ok(*kind, s)),
        Ty::Json => true,
        Ty::Vec(_) => value.is_array(),
        Ty::Map(_) => value.is_object(),
        Ty::Option(_) => true,
        Ty::Named(id) => named_ok(api, *id, value, out, depth),
    };
    if !type_ok {
        out.push(if matches!(ty, Ty::Named(id) if matches!(api.types[id.0].kind, TypeKind::StringEnum{..})) { "enum" } else { "type" });
        return;
    }
    if let Some(n) = value.as_f64() {
        if let Some((m, excl)) = c.minimum {
            if (excl && n <= m) || (!excl && n < m) {
                out.push(if excl { "exclusiveMinimum" } else { "minimum" });
            }
        }
        if let Some((m, excl)) = c.maximum {
            if (excl && n >= m) || (!excl && n > m) {
                out.push(if excl { "exclusiveMaximum" } else { "maximum" });
            }
        }
        if let Some(f) = c.multiple_of {
            let q = n / f;
            if (q - q.round()).abs() >= 1e-9 {
                out.push("multipleOf");
            }
        }
    }
    if let (Some(s), Ty::String) = (value.as_str(), ty) {
        let len = s.chars().count() as u64;
        if c.min_length.is_some_and(|m| len < m) {
            out.push("minLength");
        }
        if c.max_length.is_some_and(|m| len > m) {
            out.push("maxLength");
        }
        if let Some(p) = &c.pattern {
            if regex::Regex::new(p).is_ok_and(|re| !re.is_match(s)) {
                out.push("pattern");
            }
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if c.min_items.is_some_and(|m| len < m) {
            out.push("minItems");
        }
        if c.max_items.is_some_and(|m| len > m) {
            out.push("maxItems");
        }
        if c.unique_items && items.iter().enumerate().any(|(i, v)| items[..i].contains(v)) {
            out.push("uniqueItems");
        }
        if let Ty::Vec(item) = ty {
            let item_c = c.items.as_deref().cloned().unwrap_or_default();
            for v in items {
                check(api, v, item, &item_c, out, depth + 1);
            }
        }
    }
    if let (Some(map), Ty::Map(v_ty)) = (value.as_object(), ty) {
        if let Some((min, max)) = c.properties {
            let len = map.len() as u64;
            if min.is_some_and(|m| len < m) || max.is_some_and(|m| len > m) {
                out.push("properties");
            }
        }
        for v in map.values() {
            check(api, v, v_ty, &Constraints::default(), out, depth + 1);
        }
    }
    if let Some(expected) = &c.constant {
        if !same_number_or_value(value, expected) {
            out.push("const");
        }
    }
    if let Some(allowed) = &c.one_of {
        if !allowed.iter().any(|a| same_number_or_value(value, a)) {
            out.push("enum");
        }
    }
}

fn same_number_or_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn named_ok(api: &Api, id: TypeId, value: &Value, out: &mut Vec<&'static str>, depth: usize) -> bool {
    match &api.types[id.0].kind {
        TypeKind::StringEnum { variants } => value.as_str().is_some_and(|s| variants.iter().any(|v| v.api_name == s)),
        TypeKind::Struct { fields, additional, deny_unknown } => {
            let Some(map) = value.as_object() else { return false };
            for f in fields {
                match map.get(&f.api_name) {
                    None if f.required && !matches!(f.ty, Ty::Option(_)) => out.push("required"),
                    None => {}
                    Some(v) => check(api, v, &f.ty, &f.constraints, out, depth + 1),
                }
            }
            for (k, v) in map {
                if fields.iter().any(|f| &f.api_name == k) {
                    continue;
                }
                match additional {
                    Some(t) => check(api, v, t, &Constraints::default(), out, depth + 1),
                    None if *deny_unknown => out.push("additionalProperties"),
                    None => {}
                }
            }
            true
        }
        TypeKind::Union { variants, discriminator } => {
            // With a discriminator, only the variant its value names can accept the value.
            let tag = discriminator.as_ref().map(|d| value.get(d).and_then(Value::as_str));
            variants
                .iter()
                .filter(|v| tag.is_none_or(|tag| tag.is_some() && tag == v.tag.as_deref()))
                .any(|v| violations(api, value, &v.ty, &Constraints::default()).is_empty())
        }
        TypeKind::Tuple(tys) => value.as_array().is_some_and(|items| {
            items.len() == tys.len() && items.iter().zip(tys).all(|(v, t)| violations(api, v, t, &Constraints::default()).is_empty())
        }),
        TypeKind::Newtype(ty) => {
            check(api, value, ty, &Constraints::default(), out, depth + 1);
            true
        }
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && s.split('-').all(|p| p.bytes().all(|c| c.is_ascii_digit()))
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

fn is_date_time(s: &str) -> bool {
    // `get`: a non-ASCII character may straddle byte 10 or 19 (then it is no date-time).
    s.len() >= 20
        && s.get(..10).is_some_and(is_date)
        && matches!(s.as_bytes()[10], b'T' | b't')
        && (s.ends_with('Z') || s.ends_with('z') || s.get(19..).is_some_and(|zone| zone.contains(['+', '-'])))
}

/// The DALI syntax of `kind`, checked as the runtime's parsers check it (counts and ranges).
fn dali_ok(kind: DaliType, s: &str) -> bool {
    let numbers = |t: &str| -> Option<Vec<f64>> {
        t.split_ascii_whitespace()
            .map(|n| match n {
                "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
                "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
                n => n.parse::<f64>().ok().filter(|v| v.is_finite()),
            })
            .collect()
    };
    let lon = |v: f64| (0.0..=360.0).contains(&v);
    let lat = |v: f64| (-90.0..=90.0).contains(&v);
    let circle = |t: &str| matches!(numbers(t).as_deref(), Some([a, b, r]) if lon(*a) && lat(*b) && *r > 0.0 && *r <= 180.0);
    let polygon = |t: &str| numbers(t).is_some_and(|n| n.len() >= 6 && n.len() % 2 == 0 && n.chunks(2).all(|p| lon(p[0]) && lat(p[1])));
    let range = |t: &str| {
        matches!(numbers(t).as_deref(), Some([a, b, c, d])
            if [*a, *b].iter().all(|v| v.is_infinite() || lon(*v)) && [*c, *d].iter().all(|v| v.is_infinite() || lat(*v)) && c <= d)
    };
    match kind {
        DaliType::Circle => circle(s),
        DaliType::Polygon => polygon(s),
        DaliType::Range => range(s),
        DaliType::Interval => matches!(numbers(s).as_deref(), Some([lo, hi]) if lo <= hi),
        DaliType::Point => matches!(numbers(s).as_deref(), Some([a, b]) if lon(*a) && lat(*b)),
        DaliType::Shape => {
            let (keyword, rest) = s.trim().split_once(char::is_whitespace).unwrap_or((s, ""));
            match keyword.to_ascii_uppercase().as_str() {
                "CIRCLE" => circle(rest),
                "POLYGON" => polygon(rest),
                "RANGE" => range(rest),
                _ => false,
            }
        }
        DaliType::Timestamp => {
            let v = s.strip_suffix('Z').unwrap_or(s);
            is_date(v.get(..10).unwrap_or_default()) && (v.len() == 10 || v.as_bytes().get(10) == Some(&b'T'))
        }
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]) && groups.iter().all(|g| g.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// A value of `ty` that satisfies `constraints`, or `None` when none can be made (a pattern
/// that no simple candidate matches, say).
pub fn synthesize(api: &Api, ty: &Ty, c: &Constraints) -> Option<Value> {
    make(api, ty, c, 0).filter(|v| violations(api, v, ty, c).is_empty())
}

fn make(api: &Api, ty: &Ty, c: &Constraints, depth: usize) -> Option<Value> {
    if depth > 8 {
        return None;
    }
    if let Some(v) = &c.constant {
        return Some(v.clone());
    }
    if let Some(v) = c.one_of.as_ref().and_then(|a| a.first()) {
        return Some(v.clone());
    }
    Some(match ty {
        Ty::Option(inner) => return make(api, inner, c, depth),
        Ty::Bool => json!(true),
        Ty::I32 | Ty::I64 => {
            let n = number_in(c, true)?;
            json!(n as i64)
        }
        Ty::F32 | Ty::F64 => json!(number_in(c, false)?),
        Ty::String => {
            if let Some(p) = &c.pattern {
                let re = regex::Regex::new(p).ok()?;
                let candidates = ["a", "abc", "0", "1", "A1", "example", "09:00", "2024-01-01", "x@example.org", "ab-12", "ABC", "a1"];
                let fits = |s: &&str| {
                    re.is_match(s)
                        && c.min_length.is_none_or(|m| s.chars().count() as u64 >= m)
                        && c.max_length.is_none_or(|m| s.chars().count() as u64 <= m)
                };
                json!(candidates.iter().find(|s| fits(s))?)
            } else {
                let len = c.min_length.unwrap_or(0).max(c.max_length.map_or(7, |m| m.min(7))).max(1);
                let len = c.max_length.map_or(len, |m| len.min(m));
                json!("example".chars().cycle().take(len as usize).collect::<String>())
            }
        }
        Ty::Date => json!("2024-01-02"),
        Ty::DateTime => json!("2024-01-02T03:04:05Z"),
        Ty::Uuid => json!("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        Ty::Binary | Ty::Body => json!("example"),
        Ty::Dali(kind) => json!(match kind {
            DaliType::Circle => "10 20 0.5",
            DaliType::Polygon => "10 20 11 20 11 21",
            DaliType::Range => "10 11 20 21",
            DaliType::Interval => "1 2",
            DaliType::Point => "10 20",
            DaliType::Shape => "CIRCLE 10 20 0.5",
            DaliType::Timestamp => "2024-01-02T03:04:05",
        }),
        Ty::Json => json!({}),
        Ty::Map(_) => json!({}),
        Ty::Vec(item) => {
            let n = c.min_items.unwrap_or(1).max(1).min(c.max_items.unwrap_or(u64::MAX));
            let item_c = c.items.as_deref().cloned().unwrap_or_default();
            let mut items = Vec::new();
            for i in 0..n {
                let mut v = make(api, item, &item_c, depth + 1)?;
                if c.unique_items {
                    // Distinct items for distinct positions.
                    if let Some(s) = v.as_str() {
                        v = json!(format!("{s}{i}"));
                    } else if let Some(x) = v.as_i64() {
                        v = json!(x + i as i64);
                    }
                }
                items.push(v);
            }
            Value::Array(items)
        }
        Ty::Named(id) => match &api.types[id.0].kind {
            TypeKind::StringEnum { variants } => json!(variants.first()?.api_name),
            TypeKind::Struct { fields, .. } => {
                let mut map = serde_json::Map::new();
                for f in fields.iter().filter(|f| f.required && !matches!(f.ty, Ty::Option(_))) {
                    map.insert(f.api_name.clone(), make(api, &f.ty, &f.constraints, depth + 1)?);
                }
                Value::Object(map)
            }
            TypeKind::Union { variants, discriminator } => variants.iter().find_map(|v| {
                let mut value = make(api, &v.ty, &Constraints::default(), depth + 1)?;
                // The discriminating property names the variant.
                if let (Some(property), Some(tag), Value::Object(map)) = (discriminator, &v.tag, &mut value) {
                    map.insert(property.clone(), json!(tag));
                }
                Some(value)
            })?,
            TypeKind::Tuple(tys) => Value::Array(tys.iter().map(|t| make(api, t, &Constraints::default(), depth + 1)).collect::<Option<_>>()?),
            TypeKind::Newtype(ty) => make(api, ty, &Constraints::default(), depth + 1)?,
        },
    })
}

fn number_in(c: &Constraints, integer: bool) -> Option<f64> {
    let step = if integer { 1.0 } else { 0.5 };
    let lo = c.minimum.map(|(m, excl)| if excl { if integer { m.floor() + 1.0 } else { m + step } } else if integer { m.ceil() } else { m });
    let hi = c.maximum.map(|(m, excl)| if excl { if integer { m.ceil() - 1.0 } else { m - step } } else if integer { m.floor() } else { m });
    let mut n = match (lo, hi) {
        (Some(lo), _) => lo,
        (None, Some(hi)) => hi.min(1.0),
        (None, None) => 1.0,
    };
    if let Some(f) = c.multiple_of {
        n = (n / f).ceil() * f;
    }
    if hi.is_some_and(|hi| n > hi) {
        return None;
    }
    Some(n)
}

/// Values that break `rule` and nothing else, for a value of `ty` with `constraints`.
pub fn violating(api: &Api, ty: &Ty, c: &Constraints, rule: &'static str) -> Vec<Value> {
    violating_candidates(api, ty, c, rule).unwrap_or_default()
}

fn violating_candidates(api: &Api, ty: &Ty, c: &Constraints, rule: &'static str) -> Option<Vec<Value>> {
    let base = ty.unwrap_option();
    let candidates: Vec<Value> = match rule {
        "minimum" | "exclusiveMinimum" => c.minimum.map(|(m, excl)| {
            let v = if excl { m } else if base.is_number() && matches!(base, Ty::I32 | Ty::I64) { m - 1.0 } else { m - 0.5 };
            vec![number(base, v)]
        })?,
        "maximum" | "exclusiveMaximum" => c.maximum.map(|(m, excl)| {
            let v = if excl { m } else if matches!(base, Ty::I32 | Ty::I64) { m + 1.0 } else { m + 0.5 };
            vec![number(base, v)]
        })?,
        "maxLength" => vec![json!("a".repeat(c.max_length? as usize + 1)), json!("0".repeat(c.max_length? as usize + 1))],
        "minLength" => vec![json!("a".repeat(c.min_length?.saturating_sub(1) as usize))],
        "pattern" => ["", "!", "~~~", " ", "zz", "0", "ZZZZZZZZ", "a b"].iter().map(|s| json!(s)).collect(),
        "enum" => vec![json!("not-a-listed-value")],
        // Values of the right shape but out of range first: they exercise the parser's checks.
        "type" => ["10 20 0", "10 95 1", "400 0", "5 4", "CIRCLE 10 20 0", "2024-13-45", "nonsense"].iter().map(|s| json!(s)).collect(),
        _ => return None,
    };
    Some(candidates.into_iter().filter(|v| violations(api, v, base, c) == [rule]).collect())
}

fn number(ty: &Ty, v: f64) -> Value {
    if matches!(ty, Ty::I32 | Ty::I64) { json!(v as i64) } else { json!(v) }
}

/// The rules a parameter declares that a test can break one at a time.
pub fn breakable_rules(api: &Api, ty: &Ty, c: &Constraints) -> Vec<&'static str> {
    let mut rules = Vec::new();
    if let Some((_, excl)) = c.minimum {
        rules.push(if excl { "exclusiveMinimum" } else { "minimum" });
    }
    if let Some((_, excl)) = c.maximum {
        rules.push(if excl { "exclusiveMaximum" } else { "maximum" });
    }
    if *ty.unwrap_option() == Ty::String {
        if c.min_length.is_some() {
            rules.push("minLength");
        }
        if c.max_length.is_some() {
            rules.push("maxLength");
        }
        if c.pattern.is_some() {
            rules.push("pattern");
        }
    }
    if let Ty::Named(id) = ty.unwrap_option() {
        if matches!(api.types[id.0].kind, TypeKind::StringEnum { .. }) {
            rules.push("enum");
        }
    }
    if let Ty::Dali(_) = ty.unwrap_option() {
        rules.push("type");
    }
    rules
}

/// Picks, for every parameter, request body and response body, the first example that satisfies
/// its schema, or makes one. Examples that do not satisfy the schema are dropped (the spec is
/// wrong, not the server).
pub fn choose(api: &mut Api) {
    let snapshot = api.clone();
    for op in &mut api.operations {
        for p in &mut op.params {
            p.example = p
                .example
                .take()
                .filter(|e| wire_ok(&snapshot, e, p))
                .or_else(|| synthesize(&snapshot, &p.ty, &p.constraints).filter(|e| wire_ok(&snapshot, e, p)));
        }
        if let Some(body) = &mut op.body {
            body.example = body
                .example
                .take()
                .filter(|e| violations(&snapshot, e, &body.ty, &Constraints::default()).is_empty())
                .or_else(|| synthesize(&snapshot, &body.ty, &Constraints::default()));
        }
        for body in op.responses.iter_mut().flat_map(|r| r.bodies.iter_mut()) {
            body.example = body
                .example
                .take()
                .filter(|e| violations(&snapshot, e, &body.ty, &Constraints::default()).is_empty())
                .or_else(|| synthesize(&snapshot, &body.ty, &Constraints::default()));
        }
    }
}

/// Whether an example of a parameter can be written on the wire and read back as the same value.
fn wire_ok(api: &Api, example: &Value, p: &Param) -> bool {
    if !violations(api, example, &p.ty, &p.constraints).is_empty() {
        return false;
    }
    match (&p.shape, example) {
        (ParamShape::Array(style), Value::Array(items)) => {
            let sep = match style {
                ArrayStyle::Exploded => return true,
                ArrayStyle::Comma => ',',
                ArrayStyle::Space => ' ',
                ArrayStyle::Pipe => '|',
            };
            !items.is_empty() && items.iter().all(|i| !scalar_text(i).contains(sep) && !scalar_text(i).is_empty())
        }
        (ParamShape::Scalar, v) => {
            let text = scalar_text(v);
            match p.location {
                // Header values lose surrounding white space; cookie values cannot hold separators.
                Location::Header => text.trim() == text,
                Location::Cookie => !text.contains([';', '=', ' ']),
                _ => true,
            }
        }
        _ => true,
    }
}

/// How a scalar example is written in a parameter.
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{FileId, Span};

    /// An API whose only type, `TypeId(0)`, is the string enum `Band` (`radio`, `optical`).
    fn api() -> Api {
        let band = TypeDef {
            name: "Band".into(),
            api_name: "Band".into(),
            doc: None,
            kind: TypeKind::StringEnum { variants: ["radio", "optical"].map(|v| Variant { name: v.into(), api_name: v.into() }).into() },
            span: Span::start_of(FileId::ROOT),
            xml: None,
            reachable: false,
        };
        Api {
            title: "t".into(),
            version: "1".into(),
            description: None,
            operations: Vec::new(),
            types: vec![band],
            openapi_json: String::new(),
            uws: None,
            base_path: String::new(),
            security_schemes: Vec::new(),
        }
    }

    fn constraints(f: impl FnOnce(&mut Constraints)) -> Constraints {
        let mut c = Constraints::default();
        f(&mut c);
        c
    }

    #[test]
    fn made_values_satisfy_every_constraint_or_none_is_made() {
        let api = api();
        let cases = [
            (Ty::I64, constraints(|c| (c.minimum, c.multiple_of) = (Some((3.0, true)), Some(2.0))), json!(4)),
            (Ty::F64, constraints(|c| c.maximum = Some((0.0, true))), json!(-0.5)),
            (Ty::String, constraints(|c| (c.min_length, c.max_length) = (Some(9), Some(9))), json!("exampleex")),
            (Ty::String, constraints(|c| c.pattern = Some("^[0-9]{4}-".into())), json!("2024-01-01")),
            (Ty::Vec(Box::new(Ty::String)), constraints(|c| (c.min_items, c.unique_items) = (Some(2), true)), json!(["example0", "example1"])),
            (Ty::Named(TypeId(0)), Constraints::default(), json!("radio")),
            (Ty::Option(Box::new(Ty::Dali(DaliType::Circle))), Constraints::default(), json!("10 20 0.5")),
        ];
        for (ty, c, expected) in cases {
            assert_eq!(synthesize(&api, &ty, &c), Some(expected), "{ty:?} {c:?}");
        }
        let impossible = constraints(|c| (c.minimum, c.maximum) = (Some((5.0, false)), Some((4.0, false))));
        assert_eq!(synthesize(&api, &Ty::I64, &impossible), None);
        assert_eq!(synthesize(&api, &Ty::String, &constraints(|c| c.pattern = Some("^q{3}$".into()))), None, "no candidate matches");
    }

    #[test]
    fn each_broken_rule_is_named() {
        let api = api();
        let bounded = constraints(|c| (c.minimum, c.maximum) = (Some((1.0, false)), Some((10.0, true))));
        assert_eq!(violations(&api, &json!(0), &Ty::I64, &bounded), ["minimum"]);
        assert_eq!(violations(&api, &json!(10), &Ty::I64, &bounded), ["exclusiveMaximum"]);
        assert_eq!(violations(&api, &json!(5), &Ty::I64, &bounded), Vec::<&str>::new());
        assert_eq!(violations(&api, &json!(1_i64 << 40), &Ty::I32, &Constraints::default()), ["type"]);
        assert_eq!(violations(&api, &json!("infrared"), &Ty::Named(TypeId(0)), &Constraints::default()), ["enum"]);
        assert_eq!(violations(&api, &json!(null), &Ty::Option(Box::new(Ty::I64)), &bounded), Vec::<&str>::new());
        assert_eq!(violations(&api, &json!("10 20"), &Ty::Dali(DaliType::Circle), &Constraints::default()), ["type"]);
    }

    #[test]
    fn violating_values_break_their_rule_and_nothing_else() {
        let api = api();
        let text = constraints(|c| (c.min_length, c.max_length, c.pattern) = (Some(2), Some(4), Some("^[a-z]+$".into())));
        let number = constraints(|c| (c.minimum, c.maximum) = (Some((0.0, true)), Some((9.0, false))));
        for (ty, c) in [(Ty::String, &text), (Ty::F64, &number), (Ty::I64, &number), (Ty::Named(TypeId(0)), &Constraints::default()), (Ty::Dali(DaliType::Point), &Constraints::default())] {
            let rules = breakable_rules(&api, &ty, c);
            assert!(!rules.is_empty(), "{ty:?}");
            for rule in rules {
                let values = violating(&api, &ty, c, rule);
                assert!(!values.is_empty(), "{ty:?} {rule}");
                for value in values {
                    assert_eq!(violations(&api, &value, &ty, c), [rule], "{ty:?} {value}");
                }
            }
        }
    }

    #[test]
    fn an_example_that_breaks_its_schema_or_cannot_travel_is_replaced() {
        let mut api = api();
        let param = |name: &str, location: Location, example: Value| Param {
            api_name: name.into(),
            name: name.into(),
            location,
            required: true,
            shape: ParamShape::Scalar,
            ty: Ty::String,
            constraints: constraints(|c| c.max_length = Some(8)),
            doc: None,
            example: Some(example),
            default: None,
            span: Span::start_of(FileId::ROOT),
        };
        let spec = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      operationId: a\n      responses: {'204': {description: none}}\n";
        let mut op = crate::lower::lowered(spec).0.expect("lowered").operations.remove(0);
        op.params = vec![
            param("kept", Location::Query, json!("fine")),
            param("too_long", Location::Query, json!("far too long")),
            param("padded", Location::Header, json!(" x ")),
            param("separated", Location::Cookie, json!("a;b")),
        ];
        api.operations.push(op);
        choose(&mut api);
        let chosen: Vec<Option<Value>> = api.operations[0].params.iter().map(|p| p.example.clone()).collect();
        assert_eq!(chosen, [Some(json!("fine")), Some(json!("example")), Some(json!("example")), Some(json!("example"))]);
    }

    #[test]
    fn scalars_are_written_as_text() {
        assert_eq!(scalar_text(&json!("a b")), "a b");
        assert_eq!(scalar_text(&json!(1.5)), "1.5");
        assert_eq!(scalar_text(&json!(true)), "true");
    }

    #[test]
    fn a_discriminated_union_is_synthesised_with_its_tag_and_checked_against_it() {
        let yaml = "openapi: 3.1.0
info: { title: t, version: '1' }
paths: {}
components:
  schemas:
    Shape:
      oneOf: [{ $ref: '#/components/schemas/Circle' }, { $ref: '#/components/schemas/Square' }]
      discriminator: { propertyName: kind, mapping: { circle: '#/components/schemas/Circle', square: '#/components/schemas/Square' } }
    Circle: { type: object, required: [kind, radius], properties: { kind: { type: string }, radius: { type: number } } }
    Square: { type: object, required: [kind, side], properties: { kind: { type: string }, side: { type: number } } }
";
        let (api, diagnostics) = crate::lower::lowered(yaml);
        let api = api.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let shape = api.types.iter().position(|t| t.name == "Shape").expect("Shape is lowered");
        let ty = Ty::Named(TypeId(shape));
        let value = synthesize(&api, &ty, &Constraints::default()).expect("a shape can be made");
        assert_eq!(value, json!({ "kind": "circle", "radius": 1.0 }));
        let none = Constraints::default();
        assert!(violations(&api, &json!({ "kind": "square", "side": 1.0 }), &ty, &none).is_empty());
        assert!(!violations(&api, &json!({ "kind": "square", "radius": 1.0 }), &ty, &none).is_empty(), "a circle tagged as a square");
        assert!(!violations(&api, &json!({ "kind": "example", "radius": 1.0 }), &ty, &none).is_empty(), "a tag no variant has");
    }

    #[test]
    fn a_response_keeps_a_valid_example_and_gets_a_made_one_for_an_invalid_one() {
        let yaml = "openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /a:
    get:
      operationId: a
      responses:
        '200': { description: ok, content: { text/plain: { schema: { type: string }, example: all well } } }
        '400': { description: bad, content: { application/json: { schema: { type: integer }, example: one } } }
";
        let (api, diagnostics) = crate::lower::lowered(yaml);
        let mut api = api.unwrap_or_else(|| panic!("{diagnostics:?}"));
        choose(&mut api);
        let examples: Vec<Option<&Value>> = api.operations[0].responses.iter().map(|r| r.bodies.first().and_then(|b| b.example.as_ref())).collect();
        assert_eq!(examples, [Some(&json!("all well")), Some(&json!(1))], "`one` is no integer");
    }
}
