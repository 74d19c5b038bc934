//! Role session names derived from user names.
//!
//! STS accepts role session names and source identities of 2 to 64 characters from
//! `[A-Za-z0-9_+=,.@-]`. The derivation is injective, so distinct users never share a name:
//!
//! - every allowed character except `=` stays as it is, which keeps e-mail addresses readable;
//! - `=` and every byte of any other character become `=` and two upper-case hex digits, so in
//!   an escaped name `=` is always followed by two hex digits;
//! - a one-character name gets a trailing `=`, which no escaped name ends with;
//! - a name longer than 64 characters becomes its first 38 characters, `=_` and 24 hex digits
//!   of the SHA-256 of the user name. `=_` never occurs in an escaped name, so such a name
//!   cannot equal an escaped one, and two of them are equal only if the hashes collide.

use sha2::{Digest, Sha256};

/// Maximum length of a role session name that STS accepts.
pub const MAX_LEN: usize = 64;
const PREFIX_LEN: usize = 38;
const HASH_HEX_LEN: usize = 24;

/// Derives the role session name, also used as the source identity, for a user.
pub fn session_name(user: &str) -> String {
    let mut escaped = String::with_capacity(user.len());
    for ch in user.chars() {
        if ch != '=' && is_allowed(ch) {
            escaped.push(ch);
        } else {
            let mut buffer = [0u8; 4];
            for byte in ch.encode_utf8(&mut buffer).bytes() {
                escaped.push_str(&format!("={byte:02X}"));
            }
        }
    }
    if escaped.len() < 2 {
        escaped.push('=');
    }
    if escaped.len() <= MAX_LEN {
        return escaped;
    }
    let mut cut = PREFIX_LEN;
    // Never cut an escape sequence in two: back up to its `=`.
    if let Some(position) = escaped[cut - 2..cut].rfind('=') {
        cut = cut - 2 + position;
    }
    let digest = Sha256::digest(user.as_bytes());
    let hash: String = digest
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()
        .chars()
        .take(HASH_HEX_LEN)
        .collect();
    format!("{}=_{hash}", &escaped[..cut])
}

fn is_allowed(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || matches!(ch, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// Tells whether `name` is a valid role session name.
#[cfg(test)]
fn is_valid(name: &str) -> bool {
    (2..=MAX_LEN).contains(&name.len()) && name.chars().all(is_allowed)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn readable_names_stay_unchanged() {
        assert_eq!(session_name("dev.one@example.com"), "dev.one@example.com");
        assert_eq!(session_name("00u1a2b3c4d5e6f7g8h9"), "00u1a2b3c4d5e6f7g8h9");
    }

    #[test]
    fn disallowed_characters_are_escaped() {
        assert_eq!(session_name("a b"), "a=20b");
        assert_eq!(session_name("a=b"), "a=3Db");
        assert_eq!(session_name("josé"), "jos=C3=A9");
        assert_eq!(session_name("x"), "x=");
    }

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        let user = format!("{}@example.com", "a".repeat(80));
        let name = session_name(&user);
        assert_eq!(name.len(), MAX_LEN);
        assert!(name.starts_with(&"a".repeat(38)), "{name}");
        assert!(name.contains("=_"), "{name}");
        assert!(is_valid(&name), "{name}");
    }

    #[test]
    fn shortening_never_splits_an_escape() {
        for offset in 0..4 {
            let user = format!("{}{}", "a".repeat(35 + offset), "é".repeat(20));
            let name = session_name(&user);
            let prefix = name.split("=_").next().expect("prefix");
            for (position, _) in prefix.match_indices('=') {
                let escape = prefix.get(position + 1..position + 3).unwrap_or("");
                assert!(
                    escape.len() == 2 && escape.chars().all(|c| c.is_ascii_hexdigit()),
                    "{name} cuts the escape at {position}"
                );
            }
            assert!(is_valid(&name), "{name}");
        }
    }

    #[test]
    fn distinct_users_get_distinct_names() {
        let users = [
            "a b",
            "a=20b",
            "a-b",
            "a_b",
            "a",
            "a=",
            "ab",
            "AB",
            "dev@example.com",
            "dev-example.com",
            "josé",
            "jos=C3=A9",
            "jos=c3=a9",
        ];
        let mut seen = BTreeMap::new();
        for user in users {
            let name = session_name(user);
            assert!(is_valid(&name), "{user} gave invalid {name}");
            if let Some(other) = seen.insert(name.clone(), user) {
                panic!("{user} and {other} share the session name {name}");
            }
        }
        let long_a = format!("{}1", "x".repeat(70));
        let long_b = format!("{}2", "x".repeat(70));
        assert_ne!(session_name(&long_a), session_name(&long_b));
    }
}
