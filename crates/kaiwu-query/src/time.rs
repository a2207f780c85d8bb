//! `from`/`to` parameters: epoch milliseconds or RFC 3339.

use crate::{Error, Result};

/// Longest accepted input (an RFC 3339 time with nanoseconds and an offset is 35 bytes).
const MAX_LEN: usize = 40;

/// Parses epoch milliseconds (`1700000000000`, may be negative) or an RFC 3339 date-time
/// (`2024-05-01T08:00:00Z`, `2024-05-01T08:00:00.250+08:00`; `t`/space separator and `z`
/// accepted; sub-millisecond digits truncated) into epoch milliseconds.
pub fn parse_time(s: &str) -> Result<i64> {
    let bad = || {
        let shown: String = s.chars().take(MAX_LEN).collect();
        Error::Invalid(format!(
            "`{shown}` is not a time: expected epoch milliseconds or RFC 3339 \
             (e.g. 2024-05-01T08:00:00Z)"
        ))
    };
    if s.is_empty() || s.len() > MAX_LEN {
        return Err(bad());
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().map_err(|_| bad());
    }
    rfc3339(s.as_bytes()).ok_or_else(bad)
}

fn rfc3339(b: &[u8]) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        part.iter().all(u8::is_ascii_digit).then_some(())?;
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b[i] != c) || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // 60 allowed for a leap second; it reads as the next second.
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &b[start..i.min(start + 3)];
        millis = frac
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(3)
            .fold(0, |acc, d| acc * 10 + i64::from(d - b'0'));
    }
    let offset_min = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: &u8, b: &u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(h1, h2)?, two(m1, m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset_min * 60;
    Some(secs * 1000 + millis)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn epoch_ms_and_rfc3339() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_time("-5").unwrap(), -5);
        assert_eq!(parse_time("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            parse_time("2024-05-01T08:00:00Z").unwrap(),
            1_714_550_400_000
        );
        assert_eq!(
            parse_time("2024-05-01T16:00:00.25+08:00").unwrap(),
            1_714_550_400_250
        );
        assert_eq!(
            parse_time("2024-05-01t08:00:00.123456789z").unwrap(),
            1_714_550_400_123
        );
        assert_eq!(
            parse_time("2024-05-01 07:30:00-00:30").unwrap(),
            1_714_550_400_000
        );
        assert_eq!(
            parse_time("2024-02-29T00:00:00Z").unwrap(),
            1_709_164_800_000
        );
        assert_eq!(parse_time("1969-12-31T23:59:59.999Z").unwrap(), -1);
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "-",
            "12a",
            "2024-05-01",
            "2024-05-01T08:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T08:00:00.Z",
            "2024-05-01T08:00:00+0800",
            "2024-05-01X08:00:00Z",
            "99999999999999999999",
            "２０２４-05-01T08:00:00Z",
            &"9".repeat(100),
        ] {
            let e = parse_time(s).unwrap_err();
            assert!(e.to_string().contains("not a time"), "{s}: {e}");
        }
    }
}
