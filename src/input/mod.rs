//! Guards for everything a user hands the controller: files are read only
//! up to a size limit and checked for nesting depth before any parser sees
//! them, and values are quoted into messages short and escaped.
//!
//! Parsers are linear in their input only up to a point: serde_yaml takes
//! seconds on a few hundred kilobytes of nested `{a: {a: ...`, and a
//! message that echoes a megabyte-long value is no message. Every limit
//! here is named in the error it causes.

mod file;
pub mod yaml;

pub use file::{FileError, parse_file};

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub(crate) use crate::model::{clip, quote, yaml_scalar};

/// The largest policy file read, in bytes: room for 100,000 stream
/// entries.
pub(crate) const MAX_POLICY_BYTES: u64 = 16 * 1024 * 1024;
/// The largest scenario file read, in bytes.
pub(crate) const MAX_SCENARIO_BYTES: u64 = 1024 * 1024;
/// The largest snapshot read, in bytes: 20,000 shards with a day of three
/// metrics each fit.
pub(crate) const MAX_SNAPSHOT_BYTES: u64 = 512 * 1024 * 1024;
/// The largest trace read, in bytes: a year of per-minute rows fits.
pub(crate) const MAX_TRACE_BYTES: u64 = 64 * 1024 * 1024;
/// The deepest nesting of mappings and lists accepted in a policy,
/// scenario or snapshot. Real ones nest 5 or 6 deep.
pub(crate) const MAX_DEPTH: usize = 32;

/// What kind of file is read, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Policy,
    Scenario,
    Snapshot,
    Trace,
}

impl FileKind {
    /// The size limit for this kind of file.
    pub fn max_bytes(self) -> u64 {
        match self {
            FileKind::Policy => MAX_POLICY_BYTES,
            FileKind::Scenario => MAX_SCENARIO_BYTES,
            FileKind::Snapshot => MAX_SNAPSHOT_BYTES,
            FileKind::Trace => MAX_TRACE_BYTES,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Policy => "policy",
            FileKind::Scenario => "scenario",
            FileKind::Snapshot => "snapshot",
            FileKind::Trace => "trace",
        })
    }
}

/// A file that could not be read as text within its limits.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {kind} {}", path.display())]
    Io {
        kind: FileKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{kind} {} is larger than the {} bytes a {kind} may have; is it the right file?",
        path.display(),
        kind.max_bytes()
    )]
    TooLarge { kind: FileKind, path: PathBuf },
    #[error("{kind} {} is not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotText {
        kind: FileKind,
        path: PathBuf,
        offset: usize,
    },
}

/// Reads `path` as text, refusing files over the limit for `kind` before
/// reading them whole.
pub(crate) fn read_text(path: &Path, kind: FileKind) -> Result<String, ReadError> {
    let io = |source| ReadError::Io {
        kind,
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let max = kind.max_bytes();
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from one above it,
    // whatever the metadata says (pipes and /proc files have no size).
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge {
            kind,
            path: path.to_owned(),
        });
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotText {
        kind,
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Whether `text` nests deeper than `max` levels as YAML or JSON, counted
/// before parsing: the 1-based line where it first does. Counts flow
/// brackets, block nesting by indentation and leading `- ` markers. A
/// quote is skipped only where it starts a scalar (at the start of a line's
/// content or after `[`, `{`, `,` or `:`), a comment only after a space: a
/// quote or `#` inside a plain scalar hides nothing. It may count more than
/// a parser would, never less.
pub(crate) fn nesting_over(text: &str, max: usize) -> Option<usize> {
    let mut flow = 0usize;
    // Indentation widths of the enclosing block levels.
    let mut blocks: Vec<usize> = Vec::new();
    // YAML breaks lines at CR as well as LF (and libyaml, being YAML 1.1,
    // at NEL, LS and PS too): a comment ends at any of them.
    // Lines are numbered by LF (as editors do); a CRLF is one break.
    let lines = text.split('\n').enumerate().flat_map(|(n, line)| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        line.split(['\r', '\u{85}', '\u{2028}', '\u{2029}'])
            .map(move |part| (n, part))
    });
    for (n, line) in lines {
        let trimmed = line.trim_start_matches(' ');
        let indent = line.len() - trimmed.len();
        let content = trimmed.trim_start();
        if flow == 0 && !content.is_empty() && !content.starts_with('#') {
            while blocks.last().is_some_and(|&w| w >= indent) {
                blocks.pop();
            }
            blocks.push(indent);
        }
        let mut dashes = 0;
        let mut rest = content;
        while let Some(r) = rest.strip_prefix("- ") {
            dashes += 1;
            rest = r.trim_start();
        }
        let (mut quote, mut escaped) = (None::<char>, false);
        // The last character outside quotes that is not white space.
        let mut last: Option<char> = None;
        let mut after_space = true;
        for c in rest.chars() {
            match quote {
                Some('"') if escaped => escaped = false,
                Some('"') if c == '\\' => escaped = true,
                Some(q) if c == q => {
                    quote = None;
                    last = Some(c);
                }
                Some(_) => {}
                None => {
                    match c {
                        '"' | '\'' if matches!(last, None | Some('[' | '{' | ',' | ':')) => {
                            quote = Some(c)
                        }
                        '#' if after_space => break,
                        '{' | '[' => flow += 1,
                        '}' | ']' => flow = flow.saturating_sub(1),
                        _ => {}
                    }
                    if !c.is_whitespace() {
                        last = Some(c);
                    }
                }
            }
            after_space = c.is_whitespace();
            if blocks.len() + dashes + flow > max {
                return Some(n + 1);
            }
        }
        if blocks.len() + dashes + flow > max {
            return Some(n + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_before_parsing() {
        assert_eq!(nesting_over(&"{a: ".repeat(40_000), MAX_DEPTH), Some(1));
        assert_eq!(nesting_over(&"[".repeat(33), 32), Some(1));
        assert_eq!(nesting_over("a: {b: [1, \"[[[[\"]}", 3), None);
        let blocks: String = (0..40).map(|i| format!("{}a:\n", "  ".repeat(i))).collect();
        assert_eq!(nesting_over(&blocks, MAX_DEPTH), Some(MAX_DEPTH + 1));
        let policy = "version: 1\ndefaults:\n  scale_up:\n    threshold: 0.8\nstreams:\n  - name: a\n    read: { enabled: true }\n";
        assert_eq!(nesting_over(policy, 6), None);
        assert_eq!(nesting_over("- - - - a", 3), Some(1));
        // A quote or `#` inside a plain scalar starts nothing.
        let hidden = format!("- ver'sion: x{}", "{a: ".repeat(100));
        assert_eq!(nesting_over(&hidden, MAX_DEPTH), Some(1));
        let hidden = format!("[a#b {}", "{a: ".repeat(100));
        assert_eq!(nesting_over(&hidden, MAX_DEPTH), Some(1));
        let hidden = format!("[b 'c {}", "{a: ".repeat(100));
        assert_eq!(nesting_over(&hidden, MAX_DEPTH), Some(1));
        // A comment ends at a carriage return, as YAML's lines do.
        let hidden = format!("# note\ry {}", "{a: ".repeat(100));
        assert_eq!(nesting_over(&hidden, MAX_DEPTH), Some(1));
        let crlf = format!("a: 1\r\nb: 2\r\n{}", "[".repeat(40));
        assert_eq!(nesting_over(&crlf, MAX_DEPTH), Some(3));
        // Quoted scalars and comments are skipped.
        assert_eq!(nesting_over("a: '[[[[[[' # {{{{{{", 3), None);
        assert_eq!(nesting_over("{\"k\": \"[[[[[[\"}", 3), None);
    }
}
