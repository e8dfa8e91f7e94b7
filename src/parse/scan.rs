//! The byte-level JSON scanner under the alert parser: whitespace, strings, numbers, literals,
//! and validating skips over values otrelay does not keep.
//!
//! Pipeline position: called by [`super::parse_alert`] on the pipeline thread, once per alert
//! line, on bytes that are already known to be valid UTF-8. Nothing here allocates; every
//! function moves one cursor forward through the borrowed line and stops at the first problem,
//! recording it as a [`ParseError`] carrying the byte offset where it was seen.
//!
//! Functions fail with [`Stop`], which carries nothing: the error itself is kept in the scanner
//! ([`Scanner::fault`]). A `Result` with a 48-byte `ParseError` in it was returned through
//! memory, and the caller stalled reading it back after every out-of-line call; with `Stop` most
//! results fit in two registers.
//!
//! Invariant: `pos <= buf.len()` at all times. [`Scanner::peek`] returns 0 at the end of the line,
//! which is never a byte the grammar accepts outside a string, so callers need no separate
//! end-of-line test.

use super::keys::KnownKey;
use super::{ParseError, RejectReason};
use crate::alert::{RawStr, hex4};

/// Deepest nesting of objects and arrays accepted in a line, the alert object itself included.
///
/// The skipper keeps one bit per open container in a `u64`, so the limit must stay below 64.
pub(super) const MAX_DEPTH: u32 = 63;

/// A scan or parse stopped at a problem; the scanner that stopped holds the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Stop;

/// A cursor over one alert line.
pub(super) struct Scanner<'a> {
    /// The line as text: string values are cut from it, so they are known to be UTF-8.
    text: &'a str,
    pos: usize,
    /// The problem that stopped the scan; meaningful only after a [`Stop`].
    fault: ParseError,
}

impl<'a> Scanner<'a> {
    /// Starts at the first byte of `text`.
    pub(super) fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            pos: 0,
            fault: invalid_json(0, "no error"),
        }
    }

    /// The error recorded by the last [`Stop`].
    pub(super) fn fault(&self) -> ParseError {
        self.fault
    }

    /// Records `error` and stops.
    #[cold]
    pub(super) fn fail(&mut self, error: ParseError) -> Stop {
        self.fault = error;
        Stop
    }

    /// Records an `InvalidJson` error at `offset` and stops.
    #[cold]
    fn fail_at(&mut self, offset: usize, detail: &'static str) -> Stop {
        self.fail(invalid_json(offset, detail))
    }

    /// The line's bytes; the grammar is scanned byte by byte.
    #[inline]
    fn buf(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// Offset of the cursor in the line.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes from `start` up to the cursor.
    pub(super) fn span(&self, start: usize) -> &'a [u8] {
        &self.buf()[start..self.pos]
    }

    /// Whether the cursor has reached the end of the line.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.buf().len()
    }

    /// The byte under the cursor, or 0 at the end of the line.
    #[inline]
    pub(super) fn peek(&self) -> u8 {
        self.buf().get(self.pos).copied().unwrap_or(0)
    }

    /// Moves past the byte under the cursor; callers have just peeked it.
    #[inline]
    pub(super) fn bump(&mut self) {
        debug_assert!(self.pos < self.buf().len());
        self.pos += 1;
    }

    /// Skips JSON whitespace and returns the next byte (0 at the end of the line).
    #[inline]
    pub(super) fn skip_ws(&mut self) -> u8 {
        // Sensor output is compact, so the first byte is almost never whitespace.
        let mut c = self.peek();
        while matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
            c = self.peek();
        }
        c
    }

    /// Records an `InvalidJson` error at the cursor and stops.
    #[cold]
    pub(super) fn error(&mut self, detail: &'static str) -> Stop {
        self.fail_at(self.pos, detail)
    }

    /// Scans the string whose opening quote is under the cursor and leaves the cursor after its
    /// closing quote.
    ///
    /// Checks everything [`RawStr`] promises: no raw control byte, every escape well formed and
    /// every `\u` surrogate paired. UTF-8 validity was checked for the whole line up front.
    //
    // `inline(always)`: as an out-of-line call, returning the 40-byte `Result` through memory
    // stalled the caller; `cargo bench --bench parse` went from 1.8 to 3.1 M alerts/s (spec
    // samples) when inlined.
    #[inline(always)]
    pub(super) fn string(&mut self) -> Result<RawStr<'a>, Stop> {
        debug_assert_eq!(self.peek(), b'"');
        let start = self.pos + 1;
        let mut at = start;
        let mut escaped = false;

        loop {
            // One vector pass finds the closing quote, a backslash or a raw control byte.
            let rest = &self.buf()[at..];
            let Some(i) = find_special(rest) else {
                return Err(self.fail_at(self.buf().len(), "unterminated string"));
            };
            at += i;

            match self.buf()[at] {
                b'"' => {
                    self.pos = at + 1;
                    // Both ends sit next to an ASCII quote, so the slice is on char boundaries.
                    return Ok(RawStr::from_json(&self.text[start..at], escaped));
                }
                b'\\' => {
                    escaped = true;
                    at = escape_end(self.buf(), at).map_err(|detail| self.fail_at(at, detail))?;
                }
                _ => return Err(self.fail_at(at, "control character in string")),
            }
        }
    }

    /// Scans the number under the cursor and returns its value truncated toward zero, or `None`
    /// when the number is valid JSON but does not fit an `i64`.
    #[inline]
    pub(super) fn integer(&mut self) -> Result<Option<i64>, Stop> {
        let negative = self.peek() == b'-';
        if negative {
            self.pos += 1;
        }

        // Integer part: `0` or a non-zero digit followed by digits, per the JSON grammar.
        let int_start = self.pos;
        let mut magnitude = Some(0u64);
        match self.peek() {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                // Any 19 digits fit a `u64`, so the common case needs no overflow check per
                // digit; a longer run is summed again with checks.
                let mut m = 0u64;
                while let d @ b'0'..=b'9' = self.peek() {
                    m = m.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    self.pos += 1;
                }
                magnitude = if self.pos - int_start <= 19 {
                    Some(m)
                } else {
                    checked_digits(&self.buf()[int_start..self.pos])
                };
            }
            _ => return Err(self.error("expected a digit")),
        }
        let int_end = self.pos;

        if matches!(self.peek(), b'.' | b'e' | b'E') {
            magnitude = self.fraction_and_exponent(int_start, int_end)?;
        }

        Ok(magnitude.and_then(|m| {
            if negative {
                0i64.checked_sub_unsigned(m)
            } else {
                i64::try_from(m).ok()
            }
        }))
    }

    /// Scans the fraction and exponent after the integer digits `buf[int_start..int_end]` and
    /// returns the magnitude truncated toward zero, `None` when it overflows a `u64`.
    ///
    /// Kept out of line: the sensor writes times and ids as plain integers.
    #[cold]
    fn fraction_and_exponent(
        &mut self,
        int_start: usize,
        int_end: usize,
    ) -> Result<Option<u64>, Stop> {
        let mut frac = int_end..int_end;
        if self.peek() == b'.' {
            self.pos += 1;
            let start = self.pos;
            self.digits("expected a digit after '.'")?;
            frac = start..self.pos;
        }

        let mut exponent = 0i64;
        if matches!(self.peek(), b'e' | b'E') {
            self.pos += 1;
            let negative = self.peek() == b'-';
            if matches!(self.peek(), b'+' | b'-') {
                self.pos += 1;
            }
            let start = self.pos;
            self.digits("expected a digit in the exponent")?;
            for &d in &self.buf()[start..self.pos] {
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i64::from(d - b'0'));
            }
            if negative {
                exponent = -exponent;
            }
        }

        let int = &self.buf()[int_start..int_end];
        Ok(truncate(int, &self.buf()[frac], exponent))
    }

    /// Skips one or more digits, failing with `detail` when there is none.
    fn digits(&mut self, detail: &'static str) -> Result<(), Stop> {
        if !self.peek().is_ascii_digit() {
            return Err(self.error(detail));
        }
        while self.peek().is_ascii_digit() {
            self.pos += 1;
        }
        Ok(())
    }

    /// Moves past `key` and returns true when it is next in the line.
    ///
    /// Four word compares, inlined: a `starts_with` here cost a `memcmp` call per key, which was
    /// 6 % of the pipeline thread under `perf record`.
    #[inline]
    pub(super) fn eat_key(&mut self, key: &KnownKey) -> bool {
        let hit = match self.buf().get(self.pos..self.pos + KnownKey::MAX) {
            Some(ahead) => {
                let mut diff = 0;
                for (i, chunk) in ahead.chunks_exact(8).enumerate() {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    diff |= (u64::from_le_bytes(word) ^ key.words[i]) & key.masks[i];
                }
                diff == 0
            }
            // Near the end of the line; rare, as the last key is followed by its value.
            None => self.buf()[self.pos..].starts_with(key.text),
        };
        if hit {
            self.pos += key.text.len();
        }
        hit
    }

    /// Moves past `word` (`true`, `false` or `null`) when it is under the cursor.
    #[inline]
    pub(super) fn literal(&mut self, word: &'static [u8]) -> Result<(), Stop> {
        if self.buf().get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// Skips and validates one value of any type, starting under the cursor. `depth` is the
    /// nesting depth of the container holding the value (1 for members of the alert object).
    pub(super) fn skip_value(&mut self, depth: u32) -> Result<(), Stop> {
        match self.peek() {
            b'{' | b'[' => self.skip_container(depth),
            _ => self.skip_scalar(),
        }
    }

    /// Skips a string, number or literal.
    fn skip_scalar(&mut self) -> Result<(), Stop> {
        match self.peek() {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.integer().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => Err(self.error("expected a value")),
        }
    }

    /// Skips the object or array under the cursor, nested ones included, without recursion.
    ///
    /// `kinds` is a stack of one bit per open container (1 = object), top at bit 0, so the
    /// closing byte and the need for a key are known without any allocation.
    fn skip_container(&mut self, depth: u32) -> Result<(), Stop> {
        let mut kinds = 0u64;
        let mut open = 0u32;

        loop {
            // The cursor is at the start of a value.
            let c = self.peek();
            if c == b'{' || c == b'[' {
                if depth + open >= MAX_DEPTH {
                    return Err(self.error("objects and arrays nested too deeply"));
                }
                let is_object = c == b'{';
                kinds = kinds << 1 | u64::from(is_object);
                open += 1;
                self.pos += 1;

                if self.skip_ws() != closing(is_object) {
                    if is_object {
                        self.member_key()?;
                    }
                    self.skip_ws();
                    continue;
                }
                self.pos += 1;
                kinds >>= 1;
                open -= 1;
            } else {
                self.skip_scalar()?;
            }

            // A value has ended: close containers until one continues with another element.
            loop {
                if open == 0 {
                    return Ok(());
                }
                let is_object = kinds & 1 == 1;
                let c = self.skip_ws();
                if c == b',' {
                    self.pos += 1;
                    self.skip_ws();
                    if is_object {
                        self.member_key()?;
                        self.skip_ws();
                    }
                    break;
                }
                if c != closing(is_object) {
                    return Err(self.error(if is_object {
                        "expected ',' or '}' in object"
                    } else {
                        "expected ',' or ']' in array"
                    }));
                }
                self.pos += 1;
                kinds >>= 1;
                open -= 1;
            }
        }
    }

    /// Scans an object key and the `:` after it, leaving the cursor after the colon.
    fn member_key(&mut self) -> Result<(), Stop> {
        if self.peek() != b'"' {
            return Err(self.error("expected a key"));
        }
        self.string()?;
        if self.skip_ws() != b':' {
            return Err(self.error("expected ':' after key"));
        }
        self.pos += 1;
        Ok(())
    }
}

/// The value of a run of decimal digits, or `None` when it overflows a `u64`.
#[cold]
fn checked_digits(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |m, &d| {
        m.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The byte that closes an object (`true`) or an array.
fn closing(is_object: bool) -> u8 {
    if is_object { b'}' } else { b']' }
}

/// An `InvalidJson` error.
#[cold]
pub(super) fn invalid_json(offset: usize, detail: &'static str) -> ParseError {
    ParseError {
        reason: RejectReason::InvalidJson,
        offset,
        field: None,
        detail,
    }
}

/// Validates the escape whose backslash is at `buf[at]` and returns the offset just after it, or
/// what is wrong with it (the error is reported at the backslash).
fn escape_end(buf: &[u8], at: usize) -> Result<usize, &'static str> {
    match buf.get(at + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(at + 2),
        Some(b'u') => {
            let code = hex_at(buf, at + 2).ok_or("invalid \\u escape")?;
            match code {
                0xD800..=0xDBFF => {
                    // A high surrogate is only valid when a low one follows immediately.
                    let low = match buf.get(at + 6..at + 8) {
                        Some(b"\\u") => hex_at(buf, at + 8),
                        _ => None,
                    };
                    match low {
                        Some(0xDC00..=0xDFFF) => Ok(at + 12),
                        _ => Err("unpaired surrogate in \\u escape"),
                    }
                }
                0xDC00..=0xDFFF => Err("unpaired surrogate in \\u escape"),
                _ => Ok(at + 6),
            }
        }
        _ => Err("invalid escape"),
    }
}

/// The four hex digits at `buf[at..]`, if there are four.
fn hex_at(buf: &[u8], at: usize) -> Option<u16> {
    hex4(buf.get(at..)?)
}

/// Offset of the first byte in `s` that ends a run of plain string text: `"`, `\\`, or a control
/// byte below 0x20.
///
/// SSE2 is part of the x86_64 baseline, so no runtime detection is needed. Measured with
/// `cargo bench --bench parse`: memchr2 plus a separate control-byte check cost about a third
/// more per alert, because most strings in an alert are shorter than 32 bytes and each memchr2
/// call pays its dispatch and setup.
#[inline]
fn find_special(s: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::find_special(s)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        find_special_scalar(s)
    }
}

/// Byte-at-a-time [`find_special`], for other targets and short tails.
#[inline]
fn find_special_scalar(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// Sixteen bytes at a time; see [`super::find_special`].
    #[inline]
    pub(super) fn find_special(s: &[u8]) -> Option<usize> {
        if s.len() < 16 {
            return super::find_special_scalar(s);
        }

        let mut i = 0;
        while i + 16 <= s.len() {
            let mask = special_mask(s, i);
            if mask != 0 {
                return Some(i + mask.trailing_zeros() as usize);
            }
            i += 16;
        }

        // The last partial block is read as the final 16 bytes, ignoring the ones seen already.
        if i < s.len() {
            let last = s.len() - 16;
            let mask = special_mask(s, last) >> (i - last);
            if mask != 0 {
                return Some(i + mask.trailing_zeros() as usize);
            }
        }
        None
    }

    /// Bit `k` is set when `s[at + k]` is special, for `k` in `0..16`.
    #[inline]
    fn special_mask(s: &[u8], at: usize) -> u32 {
        assert!(at + 16 <= s.len());
        // SAFETY: SSE2 is enabled on every x86_64 target, and the assert above keeps the
        // 16-byte unaligned load inside `s`.
        unsafe {
            let v = _mm_loadu_si128(s.as_ptr().add(at).cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Unsigned `v <= 0x1F` is `min(v, 0x1F) == v`.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
            let any = _mm_or_si128(_mm_or_si128(quote, backslash), control);
            _mm_movemask_epi8(any) as u32
        }
    }
}

/// The integer part of `int.frac × 10^exponent`, or `None` when it overflows a `u64`.
fn truncate(int: &[u8], frac: &[u8], exponent: i64) -> Option<u64> {
    // The decimal point sits after `point` digits of `int ++ frac`; digits past it are dropped.
    let point = i64::try_from(int.len())
        .unwrap_or(i64::MAX)
        .saturating_add(exponent);
    let mut value = 0u64;
    let mut taken = 0i64;

    for &d in int.iter().chain(frac) {
        if taken >= point {
            return Some(value);
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        taken += 1;
    }

    // The point lies beyond the written digits: append zeros (none are needed for zero).
    while taken < point && value != 0 {
        value = value.checked_mul(10)?;
        taken += 1;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(text: &str) -> Result<Option<i64>, ParseError> {
        let mut s = Scanner::new(text);
        let value = s.integer().map_err(|Stop| s.fault())?;
        assert_eq!(s.pos(), text.len(), "number not fully consumed: {text}");
        Ok(value)
    }

    #[test]
    fn integers_and_truncated_floats() {
        assert_eq!(int("0"), Ok(Some(0)));
        assert_eq!(int("-17"), Ok(Some(-17)));
        assert_eq!(int("1509881077000"), Ok(Some(1_509_881_077_000)));
        assert_eq!(int("1509881077000.9"), Ok(Some(1_509_881_077_000)));
        assert_eq!(int("1.509881077e12"), Ok(Some(1_509_881_077_000)));
        assert_eq!(int("15E-1"), Ok(Some(1)));
        assert_eq!(int("-2.5"), Ok(Some(-2)));
        assert_eq!(int("0.0001e5"), Ok(Some(10)));
        assert_eq!(int("0e999999999999999999999"), Ok(Some(0)));
        assert_eq!(int("9223372036854775807"), Ok(Some(i64::MAX)));
        assert_eq!(int("-9223372036854775808"), Ok(Some(i64::MIN)));
        assert_eq!(int("9223372036854775808"), Ok(None));
        assert_eq!(int("1e19"), Ok(None));
        assert_eq!(int("123456789012345678901234567890"), Ok(None));
    }

    #[test]
    fn number_grammar_errors() {
        for bad in ["-", "1.", "1e", "1e+", ".5", "-x", "1.e3"] {
            let mut s = Scanner::new(bad);
            s.integer().expect_err(bad);
            let err = s.fault();
            assert_eq!(err.reason, RejectReason::InvalidJson, "{bad}");
        }
    }

    #[test]
    fn strings_validate_escapes() {
        let ok = [
            r#""""#,
            r#""a\"b""#,
            r#""\ud83d\ude00""#,
            r#""\u00e9\/\b\f\n\r\t""#,
        ];
        for text in ok {
            let mut s = Scanner::new(text);
            assert!(s.string().is_ok(), "{text}");
            assert_eq!(s.pos(), text.len());
        }
        let bad = [
            (r#""\x""#, 1),
            (r#""ab\u12""#, 3),
            (r#""\ud83d""#, 1),
            (r#""\ude00""#, 1),
            (r#""\ud83d\u0041""#, 1),
            ("\"a\u{1}\"", 2),
            ("\"abc", 4),
            ("\"ab\\", 3),
        ];
        for (text, offset) in bad {
            let mut s = Scanner::new(text);
            s.string().expect_err(text);
            let err = s.fault();
            assert_eq!(err.offset, offset, "{text}: {err}");
        }
    }

    #[test]
    fn vector_scan_matches_byte_scan() {
        // Every special byte at every position of slices long and short, so that both the
        // 16-byte blocks and the overlapping last block are exercised.
        for len in 0..70 {
            let plain = vec![b'a'; len];
            assert_eq!(find_special(&plain), None, "len {len}");
            for at in 0..len {
                for special in [b'"', b'\\', 0x00, 0x1F, b'\n'] {
                    let mut s = plain.clone();
                    s[at] = special;
                    if at + 1 < len {
                        s[len - 1] = b'"';
                    }
                    assert_eq!(
                        find_special(&s),
                        find_special_scalar(&s),
                        "len {len} at {at}"
                    );
                    assert_eq!(find_special(&s), Some(at), "len {len} at {at}");
                }
                let mut s = plain.clone();
                s[at] = 0x80;
                s[..at].fill(0x20);
                assert_eq!(find_special(&s), None, "0x80 and 0x20 are plain");
            }
        }
    }

    #[test]
    fn skips_nested_values() {
        let ok = r#"{"a":[1,{"b":null},[],{}],"c":"x\"y","d":-1.5e3,"e":true} "#;
        let mut s = Scanner::new(ok);
        assert_eq!(s.skip_value(1), Ok(()));
        assert_eq!(s.pos(), ok.len() - 1);

        for bad in [
            r#"{"a":1,}"#,
            "[1,]",
            "[1 2]",
            r#"{"a" 1}"#,
            "{1:2}",
            "[",
            r#"{"a":}"#,
        ] {
            let mut s = Scanner::new(bad);
            assert!(s.skip_value(1).is_err(), "{bad}");
        }
    }

    #[test]
    fn nesting_limit() {
        let depth = (MAX_DEPTH - 1) as usize;
        let ok = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(Scanner::new(&ok).skip_value(1), Ok(()));

        let deep = format!("{}{}", "[".repeat(depth + 1), "]".repeat(depth + 1));
        let mut s = Scanner::new(&deep);
        s.skip_value(1).expect_err("too deep");
        assert_eq!(s.fault().offset, depth);
    }
}
