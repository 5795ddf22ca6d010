//! The one way a user's file is opened and the one error it can give:
//! policies, scenarios, traces and snapshots alike. Each kind validates
//! its own content after [`parse_file`]; what it finds wrong becomes a
//! [`FileError::Invalid`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::{FileKind, MAX_DEPTH, ReadError, clip, nesting_over, yaml};

/// A file a user handed in that cannot be used, and where it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not read: missing, too large, not text.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Not the file's format, or a value of the wrong type: where (line
    /// and column, if the parser knows them), which field, and why.
    #[error(
        "{}{}: {}{message}",
        path.display(),
        location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default(),
        field_prefix(field)
    )]
    Parse {
        path: PathBuf,
        location: Option<(usize, usize)>,
        /// The field, where the message does not already name it (a
        /// snapshot's JSON path, e.g. `shards[0].starting_hash_key`).
        field: String,
        message: String,
    },
    /// Parsed, but not valid: a policy lists all its problems (it is
    /// checked as a whole), the other kinds name the first.
    #[error("{}: {}", path.display(), Problems { kind: *kind, problems })]
    Invalid {
        path: PathBuf,
        kind: FileKind,
        problems: Vec<String>,
    },
}

impl FileError {
    /// A file of `kind` at `path` found invalid for one reason.
    pub fn invalid(path: &Path, kind: FileKind, problem: impl Into<String>) -> FileError {
        FileError::Invalid {
            path: path.to_owned(),
            kind,
            problems: vec![problem.into()],
        }
    }
}

/// How many problems of an invalid policy are listed; the rest are counted.
const SHOWN_PROBLEMS: usize = 5;

/// A policy's problems one `  - item` per line, the first
/// [`SHOWN_PROBLEMS`] of them; another file's one problem as it is.
struct Problems<'a> {
    kind: FileKind,
    problems: &'a [String],
}

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != FileKind::Policy {
            return f.write_str(&self.problems.join("; "));
        }
        write!(f, "invalid {}:", self.kind)?;
        for item in self.problems.iter().take(SHOWN_PROBLEMS) {
            write!(f, "\n  - {item}")?;
        }
        if self.problems.len() > SHOWN_PROBLEMS {
            write!(
                f,
                "\n  - … and {} more",
                self.problems.len() - SHOWN_PROBLEMS
            )?;
        }
        Ok(())
    }
}

fn field_prefix(field: &str) -> String {
    // "?" marks a position the parser could not name (a syntax error).
    if field.is_empty() || field == "." || field.contains('?') {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// serde_json ends messages with " at line L column C"; the position is
/// shown in front instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Opens `text`, the content of a file of `kind` at `path` (which only
/// names it in messages): refuses nesting deeper than `MAX_DEPTH` (32) before
/// any parser sees it (saying how deep the kind needs to go, `needs`),
/// then reads it as JSON (a snapshot) or YAML (the rest), naming the
/// line, column and field of the first value that does not fit.
pub fn parse_file<T: DeserializeOwned>(
    text: &str,
    path: &Path,
    kind: FileKind,
    needs: usize,
) -> Result<T, FileError> {
    let json = kind == FileKind::Snapshot;
    if let Some(line) = nesting_over(text, MAX_DEPTH) {
        let levels = if json {
            "objects and arrays"
        } else {
            "mappings and lists"
        };
        return Err(FileError::Parse {
            path: path.to_owned(),
            location: Some((line, 1)),
            field: String::new(),
            message: format!(
                "nested deeper than {MAX_DEPTH} levels of {levels}; a {kind} needs {needs}"
            ),
        });
    }
    if json {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            FileError::Parse {
                path: path.to_owned(),
                location: Some((inner.line(), inner.column())),
                field: clip(&field, 200),
                message: clip(&strip_position(&inner.to_string()), 300),
            }
        })
    } else {
        yaml::from_str(text).map_err(|e| FileError::Parse {
            path: path.to_owned(),
            location: e.location,
            field: String::new(),
            message: e.message,
        })
    }
}
