//! RFC 3339 timestamps the way sops (Go's `time` package) writes and re-reads them.
//!
//! No calendar crate: sops only needs "now" in UTC and Go's canonical re-formatting of a
//! parsed `lastmodified` (drop the fraction, `+00:00` becomes `Z`), which is pure text work.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SSZ` for the current UTC second, the form sops writes.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format_unix_utc(secs)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_unix_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Go's `t.Format(time.RFC3339)` of an RFC 3339 timestamp parsed with `time.Parse`: the
/// fraction is dropped and a zero offset becomes `Z`. This is the AAD of the sops MAC.
/// Returns `None` when the text is not RFC 3339.
pub fn canonical_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape_ok = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape_ok {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let zone = match rest {
        // Go prints any zero offset as `Z`.
        "Z" | "z" | "+00:00" | "-00:00" => "Z".to_string(),
        _ => {
            let z = rest.as_bytes();
            let ok = z.len() == 6
                && matches!(z[0], b'+' | b'-')
                && z[1..3].iter().all(u8::is_ascii_digit)
                && z[3] == b':'
                && z[4..6].iter().all(u8::is_ascii_digit);
            if !ok {
                return None;
            }
            rest.to_string()
        }
    };
    Some(format!("{}T{}{}", &s[..10], &s[11..19], zone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_leap_day() {
        assert_eq!(format_unix_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix_utc(1_795_829_854), "2026-11-28T01:37:34Z");
    }

    #[test]
    fn canonicalises_like_go() {
        assert_eq!(
            canonical_rfc3339("2024-01-01T12:00:00.5+02:00").as_deref(),
            Some("2024-01-01T12:00:00+02:00")
        );
        assert_eq!(
            canonical_rfc3339("2024-01-01T12:00:00+00:00").as_deref(),
            Some("2024-01-01T12:00:00Z")
        );
        assert_eq!(
            canonical_rfc3339("2026-11-28T01:37:34Z").as_deref(),
            Some("2026-11-28T01:37:34Z")
        );
        assert_eq!(canonical_rfc3339("yesterday"), None);
        assert_eq!(canonical_rfc3339("2024-01-01 12:00:00Z"), None);
    }
}
