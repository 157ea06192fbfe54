//! Scalar typing and rendering exactly as go-yaml v3 does it (`resolve.go`, `encode.go`), plus the
//! Go `strconv`/`time` behaviour it relies on.
//!
//! sops hashes unencrypted values as the typed values go-yaml produces, so every rule here is a
//! MAC-compatibility rule: `017` is octal 15, `09` is the float 9, `1e400` is a string (Go's
//! `ParseFloat` reports a range error), `2023-02-29` is a string (Go's `time.Parse` rejects it).

use super::value::{Text, Value};

/// The go-yaml v3 tags this module distinguishes (short form, as `shortTag` gives them).
pub(crate) const STR: &str = "!!str";
pub(crate) const INT: &str = "!!int";
pub(crate) const FLOAT: &str = "!!float";
pub(crate) const BOOL: &str = "!!bool";
pub(crate) const NULL: &str = "!!null";
pub(crate) const TIMESTAMP: &str = "!!timestamp";
pub(crate) const BINARY: &str = "!!binary";

const LONG_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// go-yaml's `shortTag`: `tag:yaml.org,2002:str` → `!!str`; anything else unchanged.
pub(crate) fn short_tag(tag: &str) -> String {
    match tag.strip_prefix(LONG_TAG_PREFIX) {
        Some(rest) => format!("!!{rest}"),
        None => tag.to_owned(),
    }
}

/// What go-yaml's `resolve` returns, before sops sees it.
#[derive(Debug, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    /// A positive integer above `i64::MAX`: go-yaml yields `uint64`, which sops rejects.
    Uint(u64),
    Float(f64),
    /// `time.MarshalText` form.
    Time(String),
    Str,
}

impl Resolved {
    fn tag(&self) -> &'static str {
        match self {
            Resolved::Null => NULL,
            Resolved::Bool(_) => BOOL,
            Resolved::Int(_) | Resolved::Uint(_) => INT,
            Resolved::Float(_) => FLOAT,
            Resolved::Time(_) => TIMESTAMP,
            Resolved::Str => STR,
        }
    }

    /// The tree value; `None` for `uint64`, which has no representation (sops rejects it).
    pub(crate) fn into_value(self, text: &str) -> Option<Value> {
        Some(match self {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(i) => Value::Int(i),
            Resolved::Uint(_) => return None,
            Resolved::Float(f) => Value::Float(f),
            Resolved::Time(t) => Value::Time(Text::new(t)),
            Resolved::Str => Value::Str(Text::new(text.to_owned())),
        })
    }
}

/// Why an explicitly tagged scalar could not be decoded as its tag.
#[derive(Debug, PartialEq)]
pub(crate) struct TagMismatch;

/// go-yaml's `resolve(tag, in)` for the resolvable tags (`""`, `!!str`, `!!int`, `!!float`,
/// `!!bool`, `!!null`, `!!timestamp`), including its deferred check that an explicit tag
/// matches what the text resolves to (`!!float 1` is the float 1).
pub(crate) fn resolve(tag: &str, s: &str) -> Result<Resolved, TagMismatch> {
    let r = resolve_untyped(tag, s);
    match tag {
        "" | STR | BINARY => Ok(r),
        FLOAT => match r {
            Resolved::Int(i) => Ok(Resolved::Float(i as f64)),
            Resolved::Uint(u) => Ok(Resolved::Float(u as f64)),
            Resolved::Float(_) => Ok(r),
            _ => Err(TagMismatch),
        },
        t if t == r.tag() => Ok(r),
        _ => Err(TagMismatch),
    }
}

/// The body of go-yaml's `resolve` without the deferred tag check.
fn resolve_untyped(tag: &str, s: &str) -> Resolved {
    // The first byte hints at what the scalar may be (go-yaml's `resolveTable`).
    let hint = match s.as_bytes().first() {
        None => b'N',
        Some(b'+' | b'-') => b'S',
        Some(b'0'..=b'9') => b'D',
        Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~') => b'M',
        Some(b'.') => b'.',
        Some(_) => 0,
    };
    if hint == 0 || tag == STR || tag == BINARY {
        return Resolved::Str;
    }
    match s {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match hint {
        b'.' => {
            // Go's ParseFloat on the raw text: only `.digits[e±digits]` can start with a dot.
            if let Some(f) = go_parse_dot_float(s) {
                return Resolved::Float(f);
            }
        }
        b'D' | b'S' => {
            if (tag.is_empty() || tag == TIMESTAMP)
                && let Some(t) = parse_timestamp(s)
            {
                return Resolved::Time(t);
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Ok(i) = go_parse_int(&plain) {
                return Resolved::Int(i);
            }
            if let Ok(u) = go_parse_uint(&plain) {
                return Resolved::Uint(u);
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = parse_finite_float(&plain)
            {
                return Resolved::Float(f);
            }
            // go-yaml's later `0b`/`0o` fallbacks only re-run parses that already failed above
            // (Go's base-0 ParseInt handles both prefixes), so they cannot succeed here.
        }
        _ => {}
    }
    Resolved::Str
}

/// go-yaml's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Parses a float the way Go does, failing where Go reports `ErrRange` (overflow to ±Inf).
fn parse_finite_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go `strconv.ParseFloat` for text starting with `.`: `.5`, `.5e3`, with Go's underscore rule.
fn go_parse_dot_float(s: &str) -> Option<f64> {
    if !go_underscore_ok(s) {
        return None;
    }
    let plain: String = s.chars().filter(|&c| c != '_').collect();
    let b = plain.as_bytes();
    let mut i = 1; // past the '.'
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    parse_finite_float(&plain)
}

/// Go `strconv.underscoreOK`: underscores only between digits (or after a base prefix).
fn go_underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut hex = false;
    if b.len() >= i + 2
        && b[i] == b'0'
        && matches!(b[i + 1].to_ascii_lowercase(), b'b' | b'o' | b'x')
    {
        hex = b[i + 1].eq_ignore_ascii_case(&b'x');
        i += 2;
        saw = b'0';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

#[derive(Debug, PartialEq)]
enum NumErr {
    Syntax,
    Range,
}

/// Go `strconv.ParseUint(s, 0, 64)` (no underscores: go-yaml removed them already).
fn go_parse_uint(s: &str) -> Result<u64, NumErr> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(NumErr::Syntax);
    }
    let (base, digits): (u64, &[u8]) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let mut n: u64 = 0;
    for &c in digits {
        let d = match c {
            b'0'..=b'9' => u64::from(c - b'0'),
            b'a'..=b'z' => u64::from(c - b'a') + 10,
            b'A'..=b'Z' => u64::from(c - b'A') + 10,
            _ => return Err(NumErr::Syntax),
        };
        if d >= base {
            return Err(NumErr::Syntax);
        }
        n = n
            .checked_mul(base)
            .and_then(|n| n.checked_add(d))
            .ok_or(NumErr::Range)?;
    }
    Ok(n)
}

/// Go `strconv.ParseInt(s, 0, 64)`.
fn go_parse_int(s: &str) -> Result<i64, NumErr> {
    let (neg, rest) = match s.as_bytes().first() {
        None => return Err(NumErr::Syntax),
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        Some(_) => (false, s),
    };
    let un = go_parse_uint(rest)?;
    const CUTOFF: u64 = 1 << 63;
    if neg {
        if un > CUTOFF {
            return Err(NumErr::Range);
        }
        Ok((un as i64).wrapping_neg())
    } else {
        i64::try_from(un).map_err(|_| NumErr::Range)
    }
}

/// go-yaml's `parseTimestamp`: the formats `2006-1-2T15:4:5.999999999Z07:00` (also with `t`),
/// `2006-1-2 15:4:5.999999999` and `2006-1-2`, with Go `time.Parse` range checks. Returns
/// Go's `time.MarshalText` (RFC 3339 with nanoseconds, trailing zeros trimmed).
pub(crate) fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    // Year: exactly four digits, then '-' (go-yaml's quick check and Go's "2006").
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let year = num(&b[..4]);
    let mut i = 5;
    let month = getnum(b, &mut i)?;
    expect(b, &mut i, b'-')?;
    let day = getnum(b, &mut i)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in(month, year) {
        return None;
    }
    let (mut hour, mut min, mut sec, mut nanos, mut offset) = (0, 0, 0, 0u32, Some(0i32));
    if i < b.len() {
        let with_zone = match b[i] {
            b'T' | b't' => true,
            b' ' => false,
            _ => return None,
        };
        i += 1;
        hour = getnum(b, &mut i)?;
        expect(b, &mut i, b':')?;
        min = getnum(b, &mut i)?;
        expect(b, &mut i, b':')?;
        sec = getnum(b, &mut i)?;
        if hour >= 24 || min >= 60 || sec >= 60 {
            return None;
        }
        // Fraction: '.' or ',' and at least one digit; Go keeps the first nine digits.
        if i + 1 < b.len() && matches!(b[i], b'.' | b',') && b[i + 1].is_ascii_digit() {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &b[start..i.min(start + 9)];
            nanos = num(frac) * 10u32.pow(9 - frac.len() as u32);
        }
        if with_zone {
            if b.get(i) == Some(&b'Z') {
                i += 1;
            } else {
                // "Z07:00": sign, two digits, ':', two digits (Go allows hours ≤ 24, minutes ≤ 60).
                let z = b.get(i..i + 6)?;
                let sign = match z[0] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                if z[3] != b':' || ![z[1], z[2], z[4], z[5]].iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let (h, m) = (num(&z[1..3]), num(&z[4..6]));
                if h > 24 || m > 60 {
                    return None;
                }
                offset = Some(sign * (h as i32 * 60 + m as i32));
                i += 6;
            }
        } else {
            offset = None;
        }
        if i != b.len() {
            return None;
        }
    }
    let mut out = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}");
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    match offset.unwrap_or(0) {
        0 => out.push('Z'),
        off => {
            let sign = if off < 0 { '-' } else { '+' };
            let abs = off.unsigned_abs();
            out.push_str(&format!("{sign}{:02}:{:02}", abs / 60, abs % 60));
        }
    }
    Some(out)
}

fn num(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0, |n, d| n * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// Go `time.getnum(s, false)`: one or two digits.
fn getnum(b: &[u8], i: &mut usize) -> Option<u32> {
    let first = *b.get(*i).filter(|c| c.is_ascii_digit())?;
    *i += 1;
    let mut n = u32::from(first - b'0');
    if let Some(&c) = b.get(*i).filter(|c| c.is_ascii_digit()) {
        n = n * 10 + u32::from(c - b'0');
        *i += 1;
    }
    Some(n)
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    (b.get(*i) == Some(&c)).then(|| *i += 1)
}

fn days_in(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Plain-scalar text → value, as go-yaml v3 types an untagged plain scalar.
///
/// A positive integer above `i64::MAX` (go-yaml's `uint64`, rejected by sops) cannot be
/// represented and comes back as `Value::Str`; use [`is_uint64`] to detect it. `parse` reports
/// it as an error.
pub fn resolve_plain(s: &str) -> Value {
    match resolve_untyped("", s).into_value(s) {
        Some(v) => v,
        None => Value::Str(Text::new(s.to_owned())),
    }
}

/// Whether go-yaml would read this plain scalar as a `uint64` (which sops rejects).
pub fn is_uint64(s: &str) -> bool {
    matches!(resolve_untyped("", s), Resolved::Uint(_))
}

/// Whether go-yaml's encoder may write this string unquoted: it re-resolves to a string and is
/// neither a YAML 1.1 bool nor a base-60 float (`stringv`'s `canUsePlain`).
pub(crate) fn can_use_plain(s: &str) -> bool {
    resolve_untyped("", s) == Resolved::Str && !is_base60_float(s) && !is_old_bool(s)
}

/// go-yaml `isOldBool` (exact spellings only: `yEs` is not in the list).
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// go-yaml `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        // `[0-5]?[0-9]`: one digit, or two with the first in 0..=5.
        match (b.get(i), b.get(i + 1)) {
            (Some(a @ b'0'..=b'5'), Some(c)) if c.is_ascii_digit() => {
                let _ = a;
                i += 2;
            }
            (Some(a), _) if a.is_ascii_digit() => i += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// A float as sops serialises it for encryption and the MAC: Go
/// `strconv.FormatFloat(f, 'f', -1, 64)` (`1e21` → `1000000000000000000000`, `+Inf`, `NaN`).
pub fn float_to_sops(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f == f64::INFINITY {
        "+Inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        // Rust's Display is the shortest round-trip digits without an exponent, as Go's 'f', -1.
        format!("{f}")
    }
}

/// A float as go-yaml's encoder writes it: Go `strconv.FormatFloat(f, 'g', -1, 64)`, then
/// `.inf`, `-.inf`, `.nan` (`1e21` → `1e+21`, `1.0` → `1`, `1e6` → `1e+06`).
pub fn float_to_yaml(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let neg = f.is_sign_negative();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if f == 0.0 {
        out.push('0');
        return out;
    }
    // Shortest round-trip digits and decimal exponent, from Rust's `{:e}` ("1.2345e6").
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let nd = digits.len() as i32;
    let dp = exp + 1; // position of the decimal point relative to the digits
    // Go 'g' with shortest precision: %e when exp < -4 || exp >= 6 (eprec is 6 when shortest).
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else {
        let digit = |k: i32| -> char {
            if k >= 0 && k < nd {
                char::from(digits.as_bytes()[k as usize])
            } else {
                '0'
            }
        };
        if dp > 0 {
            for k in 0..dp {
                out.push(digit(k));
            }
        } else {
            out.push('0');
        }
        let decimals = (nd - dp).max(0);
        if decimals > 0 {
            out.push('.');
            for k in 0..decimals {
                out.push(digit(dp + k));
            }
        }
    }
    out
}

/// Go `base64.StdEncoding.DecodeString` as go-yaml uses it for `!!binary` (line breaks are
/// ignored, padding required, non-zero trailing bits tolerated).
pub(crate) fn decode_binary(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    let compact: zeroize::Zeroizing<String> =
        zeroize::Zeroizing::new(s.chars().filter(|&c| c != '\n' && c != '\r').collect());
    ENGINE.decode(compact.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Value {
        resolve_plain(s)
    }
    fn str_(s: &str) -> Value {
        Value::Str(Text::new(s.to_owned()))
    }
    fn time(s: &str) -> Value {
        Value::Time(Text::new(s.to_owned()))
    }

    /// sops-format.md §9.1, row by row, plus go-yaml corner cases.
    #[test]
    fn resolve_table() {
        for s in ["true", "True", "TRUE"] {
            assert_eq!(v(s), Value::Bool(true), "{s}");
        }
        for s in ["false", "False", "FALSE"] {
            assert_eq!(v(s), Value::Bool(false), "{s}");
        }
        for s in ["yes", "on", "y", "Yes", "no", "off", "n", "tRUE"] {
            assert_eq!(v(s), str_(s), "{s}");
        }
        for s in ["~", "null", "Null", "NULL", ""] {
            assert_eq!(v(s), Value::Null, "{s:?}");
        }
        assert_eq!(v("5432"), Value::Int(5432));
        assert_eq!(v("+5"), Value::Int(5));
        assert_eq!(v("-5"), Value::Int(-5));
        assert_eq!(v("0x1F"), Value::Int(31));
        assert_eq!(v("0X1f"), Value::Int(31));
        assert_eq!(v("0o17"), Value::Int(15));
        assert_eq!(v("017"), Value::Int(15));
        assert_eq!(v("0b101"), Value::Int(5));
        assert_eq!(v("1_000"), Value::Int(1000));
        assert_eq!(v("0"), Value::Int(0));
        // Go's ParseInt accepts "-0" as the integer 0, before any float parse.
        assert_eq!(v("-0"), Value::Int(0));
        assert_eq!(v("9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(v("-9223372036854775808"), Value::Int(i64::MIN));
        assert!(is_uint64("9223372036854775808"));
        assert!(is_uint64("18446744073709551615"));
        // Beyond uint64 (or negative beyond int64): ParseFloat accepts it.
        assert_eq!(
            v("18446744073709551616"),
            Value::Float(18446744073709551616.0)
        );
        assert_eq!(
            v("-9223372036854775809"),
            Value::Float(-9223372036854775809.0)
        );
        // Octal-looking with 8/9 fails ParseInt and becomes a float.
        assert_eq!(v("09"), Value::Float(9.0));
        assert_eq!(v("1.0"), Value::Float(1.0));
        assert_eq!(v("6.02e23"), Value::Float(6.02e23));
        assert_eq!(v("1e21"), Value::Float(1e21));
        assert_eq!(v(".5"), Value::Float(0.5));
        assert_eq!(v("-.5"), Value::Float(-0.5));
        assert_eq!(v("1."), Value::Float(1.0));
        assert_eq!(v("-0.0"), Value::Float(-0.0));
        assert_eq!(v(".inf"), Value::Float(f64::INFINITY));
        assert_eq!(v("+.INF"), Value::Float(f64::INFINITY));
        assert_eq!(v("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert!(matches!(v(".nan"), Value::Float(f) if f.is_nan()));
        // ParseFloat range error → string.
        assert_eq!(v("1e400"), str_("1e400"));
        for s in [
            "inf", "nan", "-.nan", "0x", "1e", "1.2.3", "+", "-", "1_", "abc", "1:30",
        ] {
            assert!(matches!(v(s), Value::Str(_) | Value::Int(_)), "{s}");
        }
        assert_eq!(v("0x"), str_("0x"));
        assert_eq!(v("1:30"), str_("1:30"));
        assert_eq!(v("<<"), str_("<<"));
        assert_eq!(v("2024-01-01"), time("2024-01-01T00:00:00Z"));
        assert_eq!(v("2024-1-2"), time("2024-01-02T00:00:00Z"));
        assert_eq!(v("2024-01-01 10:00:00"), time("2024-01-01T10:00:00Z"));
        assert_eq!(
            v("2006-01-02T15:04:05+07:00"),
            time("2006-01-02T15:04:05+07:00")
        );
        assert_eq!(
            v("2001-12-14t21:59:43.10-05:00"),
            time("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            v("2006-01-02T15:04:05.120+07:00"),
            time("2006-01-02T15:04:05.12+07:00")
        );
        assert_eq!(v("2024-01-01T00:00:00+00:00"), time("2024-01-01T00:00:00Z"));
        assert_eq!(
            v("2024-01-01T00:00:00.1234567891Z"),
            time("2024-01-01T00:00:00.123456789Z")
        );
        assert_eq!(v("2024-02-29"), time("2024-02-29T00:00:00Z"));
        // Not timestamps: invalid day, tz without colon, space + tz (YAML spec form).
        assert_eq!(v("2023-02-29"), str_("2023-02-29"));
        assert_eq!(
            v("2024-01-01T10:00:00+0700"),
            str_("2024-01-01T10:00:00+0700")
        );
        assert_eq!(
            v("2001-12-14 21:59:43.10 -5"),
            str_("2001-12-14 21:59:43.10 -5")
        );
        assert_eq!(v("2024-13-01"), str_("2024-13-01"));
    }

    #[test]
    fn explicit_tags() {
        assert_eq!(resolve(FLOAT, "1"), Ok(Resolved::Float(1.0)));
        assert_eq!(resolve(INT, "0x10"), Ok(Resolved::Int(16)));
        assert_eq!(resolve(INT, "abc"), Err(TagMismatch));
        assert_eq!(resolve(BOOL, "yes"), Err(TagMismatch));
        assert_eq!(resolve(NULL, "~"), Ok(Resolved::Null));
        assert_eq!(resolve(STR, "1"), Ok(Resolved::Str));
        assert_eq!(
            resolve(TIMESTAMP, "2024-01-01"),
            Ok(Resolved::Time("2024-01-01T00:00:00Z".into()))
        );
        assert_eq!(decode_binary("aGVs\nbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_binary("aGVsbG8"), None);
    }

    #[test]
    fn plain_allowed() {
        for s in ["hello", "a b", "yEs", "0x", "héllo"] {
            assert!(can_use_plain(s), "{s}");
        }
        for s in [
            "y",
            "yes",
            "ON",
            "42",
            "1e21",
            "true",
            "null",
            "",
            "1:30",
            "2024-01-01",
        ] {
            assert!(!can_use_plain(s), "{s}");
        }
    }

    #[test]
    fn floats() {
        let cases = [
            (1e21, "1e+21", "1000000000000000000000"),
            (0.75, "0.75", "0.75"),
            (1.0, "1", "1"),
            (6.02e23, "6.02e+23", "602000000000000000000000"),
            (123456.0, "123456", "123456"),
            (1234567.0, "1.234567e+06", "1234567"),
            (0.0001, "0.0001", "0.0001"),
            (0.00001, "1e-05", "0.00001"),
            (-0.0, "-0", "-0"),
            (2.5, "2.5", "2.5"),
            (1e100, "1e+100", &format!("1{}", "0".repeat(100))),
            (f64::INFINITY, ".inf", "+Inf"),
            (f64::NEG_INFINITY, "-.inf", "-Inf"),
            (f64::NAN, ".nan", "NaN"),
        ];
        for (f, yaml, sops) in cases {
            assert_eq!(float_to_yaml(f), yaml, "{f}");
            assert_eq!(float_to_sops(f), sops, "{f}");
        }
    }
}
