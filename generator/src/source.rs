//! Source positions: the files read while loading a spec and places in them.
//!
//! Every phase reports against a [`Span`]; [`crate::diagnostics`] renders it through the
//! [`SourceMap`]. Nothing here reads a file: `load` adds the text it read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file in the [`SourceMap`]; the root spec is [`FileId::ROOT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(usize);

impl FileId {
    /// The spec loading started from: always the first file read.
    pub const ROOT: FileId = FileId(0);

    /// The position of the file in reading order, to index a list kept beside the map.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A place in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// Byte offset of the start.
    pub offset: usize,
    /// Length in bytes (0 for a point).
    pub len: usize,
}

impl Span {
    /// The start of `file`, for what belongs to a file as a whole.
    pub fn start_of(file: FileId) -> Span {
        Span { file, offset: 0, len: 0 }
    }
}

/// One loaded source file.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as it will be shown in diagnostics.
    pub name: String,
    /// The path used to read the file (and resolve references relative to it).
    pub path: PathBuf,
    /// The text.
    pub text: Arc<str>,
    line_starts: Vec<usize>,
}

/// Every file read while loading a spec.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
    /// The first file read from each path.
    by_path: HashMap<PathBuf, FileId>,
}

impl SourceMap {
    /// Adds a file and returns its id.
    pub fn add(&mut self, name: String, path: PathBuf, text: String) -> FileId {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let id = FileId(self.files.len());
        self.by_path.entry(path.clone()).or_insert(id);
        self.files.push(SourceFile { name, path, text: text.into(), line_starts });
        id
    }

    /// How many files have been added.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file has been added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The ids of the files added since `start` files were there, in reading order.
    pub fn ids_from(&self, start: usize) -> impl Iterator<Item = FileId> + use<> {
        (start..self.files.len()).map(FileId)
    }

    /// The file read from `path` (the path references are resolved against), if any.
    pub fn id_of(&self, path: &Path) -> Option<FileId> {
        self.by_path.get(path).copied()
    }

    /// Changes the path `id` is known by (the root's, made canonical after reading it).
    pub(crate) fn set_path(&mut self, id: FileId, path: PathBuf) {
        if self.by_path.get(&self.files[id.0].path) == Some(&id) {
            self.by_path.remove(&self.files[id.0].path);
        }
        self.by_path.entry(path.clone()).or_insert(id);
        self.files[id.0].path = path;
    }

    /// The file with id `id`.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let f = self.file(file);
        let line = f.line_starts.partition_point(|&start| start <= offset).max(1);
        let start = f.line_starts[line - 1];
        let col = f.text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        (line, col)
    }

    /// `file:line:col`.
    pub fn location(&self, span: Span) -> String {
        let (line, col) = self.line_col(span.file, span.offset);
        format!("{}:{line}:{col}", self.file(span.file).name)
    }

    /// The text of line `line` (1-based, without its newline); empty past the end.
    pub(crate) fn line_text(&self, file: FileId, line: usize) -> &str {
        let f = self.file(file);
        let Some(&start) = f.line_starts.get(line.wrapping_sub(1)) else { return "" };
        let end = f.line_starts.get(line).map_or(f.text.len(), |&next| next - 1);
        f.text.get(start..end).unwrap_or("").trim_end_matches('\r')
    }

    pub(crate) fn named_source(&self, span: Span) -> miette::NamedSource<Arc<str>> {
        let f = self.file(span.file);
        miette::NamedSource::new(f.name.clone(), f.text.clone()).with_language("yaml")
    }

    /// The byte offset of a 1-based line and column (in characters), clamped to the text.
    pub(crate) fn offset_of(&self, file: FileId, line: usize, col: usize) -> usize {
        let f = self.file(file);
        let start = f.line_starts.get(line.saturating_sub(1)).copied().unwrap_or(f.text.len());
        let rest = &f.text[start..];
        rest.char_indices().nth(col.saturating_sub(1)).map_or(f.text.len(), |(i, _)| start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_file_added_is_the_root() {
        let mut sources = SourceMap::default();
        let root = sources.add("a.yaml".into(), PathBuf::from("a.yaml"), "a: 1\n".into());
        let other = sources.add("b.yaml".into(), PathBuf::from("b.yaml"), "b: 2\n".into());
        assert_eq!(root, FileId::ROOT);
        assert_ne!(other, FileId::ROOT);
        assert_eq!(sources.id_of(Path::new("b.yaml")), Some(other));
        assert_eq!(sources.ids_from(1).collect::<Vec<_>>(), [other]);
    }

    #[test]
    fn positions_count_characters_and_lines_from_one() {
        let mut sources = SourceMap::default();
        let id = sources.add("s.yaml".into(), PathBuf::from("s.yaml"), "a: 1\nné: 2\r\nc: 3".into());
        let offset = "a: 1\nné".len();
        assert_eq!(sources.line_col(id, offset), (2, 3));
        assert_eq!(sources.location(Span { file: id, offset, len: 1 }), "s.yaml:2:3");
        assert_eq!(sources.offset_of(id, 2, 3), offset);
        assert_eq!(sources.line_text(id, 2), "né: 2");
        assert_eq!(sources.line_text(id, 9), "");
    }
}
