//! A small XML writer: elements, attributes and text, escaped correctly, nothing else.
//!
//! IVOA documents (VOTable errors, VOSI, UWS) are small and fixed in shape; writing them directly is
//! faster and clearer than going through a general serializer.

use std::fmt::Write;

/// Writes one XML document into a `String`.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
    open: Vec<String>,
    indent: bool,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    /// A document with the XML declaration written.
    pub fn new() -> Self {
        XmlWriter { out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), open: Vec::new(), indent: true }
    }

    fn pad(&mut self) {
        if self.indent {
            for _ in 0..self.open.len() {
                self.out.push_str("  ");
            }
        }
    }

    fn tag<V: AsRef<str>>(&mut self, name: &str, attrs: &[(&str, V)]) {
        self.pad();
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            let _ = write!(self.out, " {key}=\"");
            escape_into(&mut self.out, value.as_ref(), true);
            self.out.push('"');
        }
    }

    /// Opens an element that will have children.
    pub fn start<V: AsRef<str>>(&mut self, name: &str, attrs: &[(&str, V)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push_str(">\n");
        self.open.push(name.to_owned());
        self
    }

    /// Closes the innermost open element.
    pub fn end(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.pad();
            let _ = writeln!(self.out, "</{name}>");
        }
        self
    }

    /// An element with text content (escaped).
    pub fn text_element<V: AsRef<str>>(&mut self, name: &str, attrs: &[(&str, V)], text: &str) -> &mut Self {
        self.tag(name, attrs);
        self.out.push('>');
        escape_into(&mut self.out, text, false);
        let _ = writeln!(self.out, "</{name}>");
        self
    }

    /// An element without content.
    pub fn empty<V: AsRef<str>>(&mut self, name: &str, attrs: &[(&str, V)]) -> &mut Self {
        self.tag(name, attrs);
        self.out.push_str("/>\n");
        self
    }

    /// An element holding only text.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.text_element::<&str>(name, &[], text)
    }

    /// A nil element (`xsi:nil="true"`): required by the schema, without a value.
    pub fn nil(&mut self, name: &str) -> &mut Self {
        self.empty(name, &[("xsi:nil", "true")])
    }

    /// Closes every open element and returns the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }
}

/// A value written as the text of an element or attribute.
pub trait XmlText {
    /// The text.
    fn xml_text(&self) -> String;
}

macro_rules! display_text {
    ($($t:ty),*) => {$(
        impl XmlText for $t {
            fn xml_text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

display_text!(
    String, bool, i32, i64, u32, u64, f32, f64, uuid::Uuid, chrono::NaiveDate, serde_json::Value,
    crate::dali::Circle, crate::dali::Polygon, crate::dali::Range, crate::dali::Interval, crate::dali::Point,
    crate::dali::Shape, crate::dali::Timestamp
);

impl XmlText for chrono::DateTime<chrono::Utc> {
    /// UTC with a `Z`, as UWS requires (§2.2.1).
    fn xml_text(&self) -> String {
        self.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

impl<T: XmlText> XmlText for Box<T> {
    fn xml_text(&self) -> String {
        (**self).xml_text()
    }
}

/// A generated model written as XML from its schema's `xml` objects.
pub trait ToXml {
    /// Writes the value as the element `name`; `root` adds the namespace declarations.
    fn write_xml(&self, w: &mut XmlWriter, name: &str, root: bool);
}

impl<T: ToXml> ToXml for Box<T> {
    fn write_xml(&self, w: &mut XmlWriter, name: &str, root: bool) {
        (**self).write_xml(w, name, root);
    }
}

/// The whole document for `value` as root element `name`.
pub fn document<T: ToXml>(value: &T, name: &str) -> String {
    let mut w = XmlWriter::new();
    value.write_xml(&mut w, name, true);
    w.finish()
}

/// Escapes `text` for element content (or, with `attribute`, for a double-quoted attribute).
/// Characters XML 1.0 forbids (most C0 controls) are replaced by U+FFFD rather than producing a
/// document no parser accepts.
pub fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// `text` escaped for element content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text, false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_forbidden_characters() {
        let mut w = XmlWriter::new();
        w.start("a", &[("x", "1 \"<2>\" & 3")]).text_element::<&str>("b", &[], "x < y & \u{1}z").end();
        let doc = w.finish();
        assert!(doc.contains(r#"<a x="1 &quot;&lt;2&gt;&quot; &amp; 3">"#), "{doc}");
        assert!(doc.contains("<b>x &lt; y &amp; \u{FFFD}z</b>"), "{doc}");
    }
}
