//! RFC 3339 timestamps as the API writes them, and durations for people.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an RFC 3339 timestamp such as `2025-11-30T13:30:00Z`, `2025-11-30T13:30:00.25Z` or
/// `2025-11-30T15:30:00+02:00`. Returns `None` for anything else, and for times before 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|byte| byte.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut rest = &text[19..];
    let mut nanos: u32 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &fraction[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &fraction[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let offset = rest.get(1..)?;
            let (hours, minutes) = offset.split_once(':')?;
            if hours.len() != 2 || minutes.len() != 2 {
                return None;
            }
            let hours: i64 = hours.parse().ok()?;
            let minutes: i64 = minutes.parse().ok()?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 3600 + minutes * 60)
        }
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    let seconds = u64::try_from(seconds).ok()?;
    Some(UNIX_EPOCH + Duration::new(seconds, nanos))
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Converts a proleptic Gregorian date to days since 1970-01-01.
///
/// This is Howard Hinnant's `days_from_civil`
/// (<https://howardhinnant.github.io/date_algorithms.html>): years start on 1 March, so that
/// the leap day is the last day of a year, and are counted in 400-year eras.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Formats seconds as the largest units that fit, such as `2h`, `1h30m` or `45s`.
pub fn format_duration(seconds: i64) -> String {
    if seconds <= 0 {
        return "0s".into();
    }
    let (days, hours, minutes, secs) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    let mut text = String::new();
    for (value, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")] {
        if value > 0 {
            text.push_str(&format!("{value}{unit}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use eksgate_kube::exec::format_rfc3339;

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn parses_known_instants() {
        let cases = [
            ("1970-01-01T00:00:00Z", at(0)),
            ("2025-11-30T13:30:00Z", at(1_764_509_400)),
            ("2000-02-29T23:59:59Z", at(951_868_799)),
            ("2025-11-30T15:30:00+02:00", at(1_764_509_400)),
            ("2025-11-30T08:00:00-05:30", at(1_764_509_400)),
            (
                "2025-11-30T13:30:00.25Z",
                at(1_764_509_400) + Duration::from_millis(250),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_rfc3339(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn round_trips_with_the_formatter() {
        for seconds in [0, 951_782_400, 1_709_251_199, 4_102_444_800] {
            let time = at(seconds);
            assert_eq!(
                parse_rfc3339(&format_rfc3339(time)),
                Some(time),
                "{seconds}"
            );
        }
    }

    #[test]
    fn rejects_invalid_text() {
        let invalid = [
            "",
            "2025-11-30",
            "2025-11-30T13:30:00",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-11-30T24:00:00Z",
            "2025-11-30T13:30:00+2:00",
            "2025-11-30T13:30:00.Z",
            "1969-12-31T23:59:59Z",
            "2025-1a-30T13:30:00Z",
        ];
        for text in invalid {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(7200), "2h");
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(45), "45s");
        assert_eq!(format_duration(90_061), "1d1h1m1s");
        assert_eq!(format_duration(0), "0s");
    }
}
