//! The one error type of the dataset loaders.
//!
//! Its `Display` is always a single line: `<file>[: line N]: <cause>`, so the CLI can print it
//! as is.

use std::fmt;
use std::path::{Path, PathBuf};

/// A dataset could not be loaded: which file, where in it (text formats), and why.
#[derive(Debug)]
pub struct DatasetError {
    /// The file or folder the problem is in (for a missing file: the path that was looked for).
    pub path: PathBuf,
    /// 1-based line number, for text formats.
    pub line: Option<usize>,
    pub kind: ErrorKind,
}

/// Why a dataset could not be loaded. Each variant's text is the cause part of the message.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file exists but could not be read.
    Io(std::io::Error),
    /// A file or folder the dataset needs is not there; the text says what it is.
    Missing(String),
    /// The folder exists but holds nothing.
    EmptyFolder,
    /// The folder holds no layout kiln recognises; the text says what was looked for.
    UnknownFormat(String),
    /// A binary file ends before the data it announces.
    Truncated(String),
    /// Text, JSON or a binary header that does not parse.
    Malformed(String),
    /// NaN or infinity (or a degenerate value, e.g. a zero quaternion) where a pose or an
    /// intrinsic must be finite.
    NonFinite(String),
    /// A camera model kiln does not know, or knows but does not support.
    UnsupportedCamera(String),
    /// An image that cannot be decoded.
    Image(String),
    /// Files that contradict each other: counts, image sizes, ids.
    Inconsistent(String),
}

impl DatasetError {
    pub fn new(path: impl Into<PathBuf>, kind: ErrorKind) -> Self {
        DatasetError {
            path: path.into(),
            line: None,
            kind,
        }
    }

    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            DatasetError::new(path, ErrorKind::Missing("file not found".into()))
        } else {
            DatasetError::new(path, ErrorKind::Io(e))
        }
    }

    pub(crate) fn malformed(path: &Path, msg: impl Into<String>) -> Self {
        DatasetError::new(path, ErrorKind::Malformed(msg.into()))
    }

    pub(crate) fn missing(path: &Path, msg: impl Into<String>) -> Self {
        DatasetError::new(path, ErrorKind::Missing(msg.into()))
    }

    pub(crate) fn truncated(path: &Path, msg: impl Into<String>) -> Self {
        DatasetError::new(path, ErrorKind::Truncated(msg.into()))
    }

    pub(crate) fn non_finite(path: &Path, msg: impl Into<String>) -> Self {
        DatasetError::new(path, ErrorKind::NonFinite(msg.into()))
    }

    pub(crate) fn inconsistent(path: &Path, msg: impl Into<String>) -> Self {
        DatasetError::new(path, ErrorKind::Inconsistent(msg.into()))
    }

    pub(crate) fn unsupported(path: &Path, msg: impl Into<String>) -> Self {
        DatasetError::new(path, ErrorKind::UnsupportedCamera(msg.into()))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "cannot read: {e}"),
            ErrorKind::Missing(s) => write!(f, "{s}"),
            ErrorKind::EmptyFolder => write!(f, "folder is empty"),
            ErrorKind::UnknownFormat(s) => write!(f, "unknown dataset format: {s}"),
            ErrorKind::Truncated(s) => write!(f, "truncated file: {s}"),
            ErrorKind::Malformed(s) => write!(f, "malformed: {s}"),
            ErrorKind::NonFinite(s) => write!(f, "non-finite value: {s}"),
            ErrorKind::UnsupportedCamera(s) => write!(f, "unsupported camera: {s}"),
            ErrorKind::Image(s) => write!(f, "cannot decode image: {s}"),
            ErrorKind::Inconsistent(s) => write!(f, "inconsistent dataset: {s}"),
        }
    }
}

impl fmt::Display for DatasetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.path.display().to_string();
        if let Some(line) = self.line {
            s.push_str(&format!(": line {line}"));
        }
        s.push_str(": ");
        s.push_str(&self.kind.to_string());
        // One line, whatever a nested error (image decoder, OS) put in its message.
        let one_line: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        f.write_str(&one_line.join("; "))
    }
}

impl std::error::Error for DatasetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
