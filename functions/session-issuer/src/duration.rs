//! Durations written as `90m`, `1h30m`, `2d` or a number of seconds.

/// Parses a duration such as `45m`, `1h30m`, `2d` or `3600` (seconds) into seconds.
///
/// Units are `s`, `m`, `h` and `d`. Each unit may appear once, largest first.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let invalid = || {
        format!(
            "invalid duration {text:?}: write it like 90m, 1h30m, 8h, 2d or a number of seconds"
        )
    };
    if text.is_empty() {
        return Err(invalid());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map_err(|_| invalid());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    let mut last_unit_rank = usize::MAX;
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let (rank, seconds) = match ch {
            'd' => (3, 86_400),
            'h' => (2, 3_600),
            'm' => (1, 60),
            's' => (0, 1),
            _ => return Err(invalid()),
        };
        if digits.is_empty() || rank >= last_unit_rank {
            return Err(invalid());
        }
        let amount: i64 = digits.parse().map_err(|_| invalid())?;
        total = amount
            .checked_mul(seconds)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(invalid)?;
        digits.clear();
        last_unit_rank = rank;
    }
    if !digits.is_empty() {
        return Err(invalid());
    }
    Ok(total)
}

/// Formats seconds in the largest units that divide them, such as `1h30m`.
pub fn format_duration(seconds: i64) -> String {
    if seconds <= 0 {
        return "0s".into();
    }
    let mut rest = seconds;
    let mut text = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            text.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_units_and_seconds() {
        let cases = [
            ("3600", 3600),
            ("90m", 5400),
            ("1h30m", 5400),
            ("8h", 28_800),
            ("2d", 172_800),
            ("1d2h3m4s", 93_784),
            (" 15m ", 900),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn parse_rejects_malformed_text() {
        for text in [
            "",
            "h",
            "1x",
            "30m1h",
            "1h1h",
            "1.5h",
            "-1h",
            "1h 30m",
            "99999999999999999999d",
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains("invalid duration"), "{error}");
        }
    }

    #[test]
    fn format_uses_largest_units() {
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(86_400), "1d");
        assert_eq!(format_duration(61), "1m1s");
        assert_eq!(format_duration(0), "0s");
    }
}
