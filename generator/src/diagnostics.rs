//! Diagnostics: every problem found in a spec, with where it is and what to do about it.
//!
//! Phases collect diagnostics rather than stopping at the first one, and the pipeline stops at a
//! phase boundary when any of them is an error. Rendering goes through `miette`, so a diagnostic
//! prints the offending lines of the YAML with a label under the exact node.

use crate::source::{SourceMap, Span};
use std::fmt;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Generation went on, with the documented fallback.
    Warning,
    /// Generation cannot produce correct code.
    Error,
}

/// One problem in a spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable code, such as `ivoagen::load::dangling-ref`, for searching the docs.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where it is, when it is somewhere in a file.
    pub span: Option<Span>,
    /// The text under the span's underline.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            label: "here".to_owned(),
            help: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, span: Option<Span>, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Self::error(code, span, message) }
    }

    /// Sets the label under the span.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the label of a recorded diagnostic.
    pub fn set_label(&mut self, label: impl Into<String>) -> &mut Self {
        self.label = label.into();
        self
    }

    /// Sets the hint of a recorded diagnostic.
    pub fn set_help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` of the diagnostic, or the empty string when it has no place.
    pub fn location(&self, sources: &SourceMap) -> String {
        self.span.map(|span| sources.location(span)).unwrap_or_default()
    }

    /// Renders the diagnostic as people read it: a `file:line:col: severity[code]: message` line,
    /// then the source lines with the label, then the hint. `color` adds ANSI colours.
    pub fn render(&self, sources: &SourceMap, color: bool) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        let location = self.location(sources);
        if !location.is_empty() {
            out.push_str(&location);
            out.push_str(": ");
        }
        out.push_str(&format!("{level}[{}]: {}\n", self.code, self.message));
        let Some(span) = self.span else {
            if let Some(help) = &self.help {
                out.push_str(&format!("  help: {help}\n"));
            }
            return out;
        };
        let (line, col) = sources.line_col(span.file, span.offset);
        if (line.saturating_sub(1)..=line + 1).any(|l| sources.line_text(span.file, l).len() > MAX_SNIPPET_LINE) {
            // miette cannot draw a label past column 65,535 (and such a line is unreadable):
            // show a window of the line around the place instead.
            out.push_str(&self.render_window(sources, span, line, col));
            return out;
        }
        let report = Rendered { diagnostic: self, source: sources.named_source(span) };
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
        let mut snippet = String::new();
        if handler.render_report(&mut snippet, &report).is_ok() {
            // miette's first lines repeat the message, which the location line already says.
            let start = snippet.lines().position(|l| l.contains("╭─[")).unwrap_or(0);
            out.extend(snippet.lines().skip(start).map(|l| format!("{}\n", l.trim_end())));
        }
        out
    }
}

/// Lines longer than this (in bytes; minified JSON) are shown as a window around the place.
const MAX_SNIPPET_LINE: usize = 1_000;

/// How many characters of a long line are shown on each side of the place.
const WINDOW: usize = 40;

impl Diagnostic {
    /// The snippet of a place on a very long line: a window of the line around it, the label
    /// under it, and the hint, drawn like miette's.
    fn render_window(&self, sources: &SourceMap, span: Span, line: usize, col: usize) -> String {
        let text = sources.line_text(span.file, line);
        let chars: Vec<char> = text.chars().collect();
        let at = (col - 1).min(chars.len());
        let from = at.saturating_sub(WINDOW);
        let to = (at + WINDOW.max(span.len.min(WINDOW))).min(chars.len());
        let excerpt: String = chars[from..to].iter().map(|&c| if c.is_control() { ' ' } else { c }).collect();
        let (lead, tail) = (if from > 0 { "…" } else { "" }, if to < chars.len() { "…" } else { "" });
        let number = line.to_string();
        let pad = " ".repeat(number.len());
        let under = " ".repeat(lead.chars().count() + at - from);
        let width = span.len.clamp(1, to.saturating_sub(at).max(1));
        let mut out = format!("{pad} ╭─[{}]\n", sources.location(span));
        out.push_str(&format!("{number} │ {lead}{excerpt}{tail}\n"));
        out.push_str(&format!("{pad} · {under}{}\n", "─".repeat(width)));
        out.push_str(&format!("{pad} · {under}╰── {}\n", self.label));
        out.push_str(&format!("{pad} ╰────\n"));
        if let Some(help) = &self.help {
            out.push_str(&format!("  help: {help}\n"));
        }
        out
    }
}

/// A diagnostic paired with its source, in the shape `miette` renders.
struct Rendered<'a> {
    diagnostic: &'a Diagnostic,
    source: miette::NamedSource<std::sync::Arc<str>>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Rendered<'_> {}

impl miette::Diagnostic for Rendered<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.diagnostic.span?;
        let label = miette::LabeledSpan::new(Some(self.diagnostic.label.clone()), span.offset, span.len.max(1));
        Some(Box::new(std::iter::once(label)))
    }
}

/// Diagnostics collected within one phase.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// The diagnostic recorded last.
    pub fn last_mut(&mut self) -> Option<&mut Diagnostic> {
        self.items.last_mut()
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// All diagnostics, in the order they were found.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }

    /// Appends another phase's diagnostics.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }
}
