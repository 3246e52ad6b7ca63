//! `Retry-After`: a number of seconds, or an HTTP-date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reads a `Retry-After` value: delay-seconds (`120`) or an HTTP-date in the
/// preferred IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), which is turned into
/// a delay from `now` (zero when it is past). `None` for anything else.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use sse_core::parse_retry_after;
///
/// let now = UNIX_EPOCH + Duration::from_secs(784_111_700);
/// assert_eq!(parse_retry_after(b"120", now), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after(b"Sun, 06 Nov 1994 08:49:37 GMT", now),
///     Some(Duration::from_secs(77)),
/// );
/// assert_eq!(parse_retry_after(b"soon", now), None);
/// ```
#[must_use]
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let value = value.trim_ascii();
    if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
        let seconds = value.iter().try_fold(0u64, |acc, &b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        });
        // More digits than a u64 holds: "a very long time".
        return Some(Duration::from_secs(seconds.unwrap_or(u64::MAX)));
    }
    let at = UNIX_EPOCH + Duration::from_secs(parse_imf_fixdate(value)?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` as seconds since the Unix epoch.
fn parse_imf_fixdate(value: &[u8]) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT" is 29 bytes.
    if value.len() != 29 || &value[3..5] != b", " || &value[25..] != b" GMT" {
        return None;
    }
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    if !DAYS.contains(&&value[..3]) || value[7] != b' ' || value[11] != b' ' {
        return None;
    }
    if value[16] != b' ' || value[19] != b':' || value[22] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = &value[range];
        digits.iter().try_fold(0u64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
        })
    };
    let day = number(5..7)?;
    let month = MONTHS.iter().position(|&m| m == &value[8..11])? as u64 + 1;
    let year = number(12..16)?;
    let (hour, minute, second) = (number(17..19)?, number(20..22)?, number(23..25)?);
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a date on or after it (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
