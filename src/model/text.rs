//! Values quoted into messages: short, escaped, whatever the input was.

/// How long a quoted value may be in a message, in characters.
pub(crate) const QUOTE_CHARS: usize = 80;

/// `value` quoted for a message: escaped like Rust's `{:?}`, at most
/// [`QUOTE_CHARS`] characters, with "…" where it was cut.
pub(crate) fn quote(value: &str) -> String {
    quote_at_most(value, QUOTE_CHARS)
}

/// `value` quoted whole, escaped like Rust's `{:?}`: control characters
/// (C0, DEL, C1), separators and the invisible characters that reorder
/// text (direction marks, embeddings, overrides, isolates) become
/// `\u{..}`, quotes and backslashes are escaped, and any script is kept.
/// For data that must be shown in full, such as partition keys.
pub(crate) fn quote_whole(value: &str) -> String {
    quote_at_most(value, usize::MAX)
}

fn quote_at_most(value: &str, max_chars: usize) -> String {
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// `value` as a YAML scalar to paste into a file: as it is when it is a
/// plain stream name (letters, digits and `_.-:/`, at most 128 characters,
/// as Kinesis allows), else [`quote`]d.
pub(crate) fn yaml_scalar(value: &str) -> String {
    let plain = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-:/".contains(c));
    if plain {
        value.to_owned()
    } else {
        quote(value)
    }
}

/// `message` with every quoted or backticked run longer than
/// [`QUOTE_CHARS`] cut short with "…", control characters escaped, and
/// the whole at most `max` bytes: for messages made by parsers, which
/// quote the input whole.
pub(crate) fn clip(message: &str, max: usize) -> String {
    let mut out = String::with_capacity(message.len().min(max + 8));
    let mut run = 0usize; // characters inside the current quote
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            Some(q) if c == q => {
                open = None;
                run = 0;
                out.push(c);
            }
            Some(_) => {
                run += 1;
                if run <= QUOTE_CHARS {
                    push_escaped(&mut out, c);
                } else if run == QUOTE_CHARS + 1 {
                    out.push('…');
                }
            }
            None => {
                if c == '"' || c == '`' {
                    open = Some(c);
                }
                push_escaped(&mut out, c);
            }
        }
        if out.len() > max {
            let mut cut = max;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            // Between words where there is a space in the last quarter,
            // so no word is cut in two.
            if let Some(space) = out[..cut].rfind(char::is_whitespace)
                && space >= cut - cut / 4
            {
                cut = space;
            }
            out.truncate(cut);
            out.push('…');
            return out;
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    if c == '\n' || !c.is_control() {
        out.push(c);
    } else {
        out.extend(c.escape_debug());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_short_and_escaped() {
        assert_eq!(quote("abc"), "\"abc\"");
        assert_eq!(quote("a\nb\u{1b}[31m"), "\"a\\nb\\u{1b}[31m\"");
        let long = "x".repeat(1_000_000);
        let q = quote(&long);
        assert_eq!(q.chars().count(), QUOTE_CHARS + 3);
        assert!(q.ends_with("…\""));
    }

    #[test]
    fn clipping_shortens_long_quotes_and_the_whole() {
        let message = format!(
            "invalid value: string \"{}\", expected a duration",
            "y".repeat(5000)
        );
        let clipped = clip(&message, 500);
        assert!(clipped.len() < 200, "{clipped}");
        assert!(clipped.ends_with("\", expected a duration"), "{clipped}");
        assert!(clipped.contains(&format!("\"{}…\"", "y".repeat(QUOTE_CHARS))));
        let unquoted = "z".repeat(10_000);
        assert_eq!(clip(&unquoted, 100).chars().count(), 101);
        // Words are not cut in two, where a space is near the cut.
        let words = "or set enable_enhanced_monitoring: true in the policy";
        assert_eq!(clip(words, 38), "or set enable_enhanced_monitoring:…");
        // A word longer than the last quarter is cut where it must be.
        assert_eq!(clip(words, 12), "or set enabl…");
        assert_eq!(clip("tab\there", 100), "tab\\there");
    }
}
