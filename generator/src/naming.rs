//! Turning API names into Rust identifiers.
//!
//! One place decides how names are sanitised, so every phase agrees and collisions with Rust
//! keywords and prelude names are handled once.

use heck::{ToSnakeCase, ToUpperCamelCase};

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
    "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract",
    "become", "box", "do", "final", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Replaces everything that cannot be in an identifier by `_`, keeping word boundaries.
fn words(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// A type or variant name: `UpperCamelCase`, never empty, never starting with a digit.
pub fn type_name(name: &str) -> String {
    let mut out = words(name).to_upper_camel_case();
    if out.is_empty() {
        out.push_str("Value");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// A field, method or module name: `snake_case`, never empty, never a keyword.
pub fn field_name(name: &str) -> String {
    let mut out = words(name).to_snake_case();
    if out.is_empty() {
        out.push_str("value");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Makes `name` unique among `taken` by appending a number, and records it.
pub fn unique(name: String, taken: &mut std::collections::BTreeSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let unique = (2..).map(|n| format!("{name}{n}")).find(|c| !taken.contains(c)).unwrap_or(name);
    taken.insert(unique.clone());
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_and_keywords() {
        assert_eq!(type_name("pet-store"), "PetStore");
        assert_eq!(type_name("Self"), "Self_");
        assert_eq!(type_name("200"), "V200");
        assert_eq!(type_name(""), "Value");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("self"), "self_");
        assert_eq!(field_name("petId"), "pet_id");
        assert_eq!(field_name("@id"), "id");
        assert_eq!(field_name("1st"), "_1st");
        let mut taken = Default::default();
        assert_eq!(unique("Pet".into(), &mut taken), "Pet");
        assert_eq!(unique("Pet".into(), &mut taken), "Pet2");
    }
}
