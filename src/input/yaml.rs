//! The one module that parses and writes YAML.
//!
//! serde_yaml is deprecated upstream and its parser carries an
//! "unmaintained" advisory; keeping every YAML call here means swapping it
//! (for serde-saphyr or serde_norway) touches nothing else. Callers get a
//! plain [`YamlError`] with the parser's field path and position.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A YAML document that did not fit the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// The parser's message, led by the field path where it knows it
    /// (`streams[1].scale_up.threshold: ...`), without the position.
    pub message: String,
    /// 1-based line and column, where the parser knows them.
    pub location: Option<(usize, usize)>,
}

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    // serde_path_to_error knows the exact field (serde_yaml alone names only
    // the enclosing mapping when a value's own check fails).
    let de = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.location().map(|l| (l.line(), l.column()));
        let mut message = inner.to_string();
        // serde_yaml appends " at line L column C"; the caller shows the
        // position in front, compiler-style, instead.
        if let Some((line, column)) = location {
            let suffix = format!(" at line {line} column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        // serde_yaml leads with its own, shorter path; use the exact one.
        if let Some((prefix, rest)) = message.split_once(": ")
            && !prefix.contains(' ')
            && path.starts_with(prefix)
        {
            message = rest.to_owned();
        }
        // "?" marks a position the parser could not name (a syntax error).
        if path != "." && !path.contains('?') {
            message = format!("{path}: {message}");
        }
        let message = match did_you_mean(&message) {
            Some(field) => format!("{message}; did you mean `{field}`?"),
            None => message,
        };
        // Parsers quote the offending input whole, however long (each quote
        // is cut short); the list of a file's fields is kept whole.
        let message = crate::input::clip(&message, 1500);
        YamlError { message, location }
    })
}

/// For serde's "unknown field `X`, expected one of `a`, `b`, ...": the
/// expected field nearest `X`, if one is near (an edit or two, a third of
/// its length at most).
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest.split("expected one of ").nth(1)?;
    let candidates = expected.split('`').skip(1).step_by(2);
    candidates
        .map(|c| (edit_distance(field, c), c))
        .filter(|&(d, c)| d > 0 && d <= 2.max(c.len() / 3))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c.to_owned())
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(prev + usize::from(ca != cb));
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_yaml::to_string(value).map_err(|e| YamlError {
        message: e.to_string(),
        location: None,
    })
}
