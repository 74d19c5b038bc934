//! Quoting for the POSIX shell commands that the kit prints.

/// Quotes `value` for a POSIX shell: unchanged when it holds only characters that need no
/// quoting, otherwise in single quotes with each `'` written as `'\''`.
pub(crate) fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// Joins the words of one command, each quoted, with line continuations before each option so
/// that long commands stay readable.
pub(crate) fn command(words: &[&str]) -> String {
    let mut line = String::new();
    for (index, word) in words.iter().enumerate() {
        if index > 0 {
            if word.starts_with("--") {
                line.push_str(" \\\n    ");
            } else {
                line.push(' ');
            }
        }
        line.push_str(&quote(word));
    }
    line
}
