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
    serde_yaml::from_str(text).map_err(|e| {
        let location = e.location().map(|l| (l.line(), l.column()));
        let mut message = e.to_string();
        // serde_yaml appends " at line L column C"; the caller places it
        // in front, compiler-style, instead.
        if let Some((line, column)) = location {
            let suffix = format!(" at line {line} column {column}");
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_owned();
            }
        }
        YamlError { message, location }
    })
}

pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_yaml::to_string(value).map_err(|e| YamlError {
        message: e.to_string(),
        location: None,
    })
}
