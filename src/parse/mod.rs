//! The alert parser: turns one JSON line from the sensor into a borrowed [`Alert`].
//!
//! Pipeline position: runs on the pipeline thread, once per line, between intake (which hands
//! over whole lines without their newline) and rule matching. The returned alert borrows the line,
//! so it must be dropped before the intake block goes back to its pool.
//!
//! What holds here: no allocation, no logging, no string search. Every string field is a
//! [`RawStr`] pointing into the line, already validated so that decoding it later cannot fail.
//! A rejected line yields a [`ParseError`] that says why and where; the caller counts it by
//! [`RejectReason::index`].
//
// How it works (spec §1.1 and §1.8, RFC 8259 for the grammar):
//
// 1. The whole line is checked as UTF-8 up front, with simdutf8's SIMD validator; only when it
//    fails does `std::str::from_utf8` run again to find the offset for the error. std's
//    validator alone cost about 570 instructions per ~600-byte alert under callgrind, about 6%
//    of the whole pipeline. Afterwards every sub-slice between two ASCII quotes is valid UTF-8
//    on its own, which is what `RawStr` needs.
// 2. One pass over the top-level object. Each member first tries the key the sensor writes next
//    (`keys::ORDER`) as one byte comparison of `"key":`; that hits for every key of a sensor
//    alert and halves the cost of key handling. Otherwise the key is scanned, 16 bytes at a
//    time, to its closing quote (a backslash or control byte stops the scan too), then
//    dispatched on its length and lower-cased first byte to at most one candidate field, which
//    is compared ignoring ASCII case (see `keys.rs`). A key written with escapes is decoded into
//    a small stack buffer first and then looked up the same way.
// 3. A known field's value is checked against its type and stored as a span, an integer or an
//    enum. A field seen twice, or a field and its alias, is a duplicate; a `u32` bit mask tracks
//    that, and a second mask records which fields were present and not `null`.
// 4. Values of unknown keys are skipped by a validating, non-recursive scanner (`scan.rs`) with a
//    bit stack for the open containers, so the line is still checked to be JSON and nesting is
//    bounded by `scan::MAX_DEPTH` (63 levels, the alert object included).
// 5. After the closing brace only whitespace may follow; then the required fields are checked.
//
// A wrongly typed field stops the parse at that field, so a line with several problems reports
// the first one in line order. `null` for a required field counts as missing. Duplicates are
// only detected among the keys otrelay keeps; repeated unknown keys pass.

mod keys;
mod scan;

use std::error::Error;
use std::fmt;

use crate::alert::{Alert, AlertKind, DetectionEngine, RawJson, RawStr};
use keys::Field;
use scan::{Scanner, Stop};

/// Why a line was rejected; each reason has its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// The line is not valid UTF-8.
    NotUtf8,
    /// The line is not one well-formed JSON object.
    InvalidJson,
    /// A required field (`time`, `title`, `severity`, `engine`) is absent or `null`.
    MissingField,
    /// `severity` is not one of Warning, Minor, Major, Critical.
    UnknownSeverity,
    /// A known field has a value of the wrong JSON type or out of range.
    WrongType,
    /// A known field (or a field and its alias) appears twice.
    DuplicateKey,
    /// The line exceeds the intake's line limit; produced by intake, not by the parser.
    TooLong,
}

impl RejectReason {
    /// Every reason, in [`RejectReason::index`] order.
    pub const ALL: [RejectReason; 7] = [
        RejectReason::NotUtf8,
        RejectReason::InvalidJson,
        RejectReason::MissingField,
        RejectReason::UnknownSeverity,
        RejectReason::WrongType,
        RejectReason::DuplicateKey,
        RejectReason::TooLong,
    ];

    /// Number of reasons; sizes per-reason counter arrays.
    pub const COUNT: usize = 7;

    /// The snake_case name used for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::NotUtf8 => "not_utf8",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::UnknownSeverity => "unknown_severity",
            RejectReason::WrongType => "wrong_type",
            RejectReason::DuplicateKey => "duplicate_key",
            RejectReason::TooLong => "too_long",
        }
    }

    /// Position in [`RejectReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rejected line: the reason, where in the line it was seen, and a short explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Why the line was rejected.
    pub reason: RejectReason,
    /// Byte offset in the line where the problem was seen (the line length for a truncated
    /// line; the closing brace for a missing field).
    pub offset: usize,
    /// The JSON key involved, in its canonical spelling (`category` for `alertGroup`), if any.
    pub field: Option<&'static str>,
    /// Short human text: what was expected, or for `WrongType` what the field must be.
    pub detail: &'static str,
}

impl ParseError {
    /// The error intake reports for a line longer than its limit, seen at byte `offset`.
    pub fn too_long(offset: usize) -> ParseError {
        ParseError {
            reason: RejectReason::TooLong,
            offset,
            field: None,
            detail: "line exceeds the intake limit",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field.unwrap_or("?");
        match self.reason {
            RejectReason::NotUtf8 => write!(f, "invalid UTF-8 at byte {}", self.offset),
            RejectReason::InvalidJson => {
                write!(f, "invalid JSON at byte {}: {}", self.offset, self.detail)
            }
            RejectReason::MissingField => write!(f, "missing field `{field}`"),
            RejectReason::UnknownSeverity => write!(f, "unknown severity at byte {}", self.offset),
            RejectReason::WrongType => write!(f, "field `{field}` must be {}", self.detail),
            RejectReason::DuplicateKey => {
                write!(f, "duplicate field `{field}` at byte {}", self.offset)
            }
            RejectReason::TooLong => write!(f, "line too long at byte {}", self.offset),
        }
    }
}

impl Error for ParseError {}

/// Fields that must be present and not `null`, checked in this order.
const REQUIRED: [Field; 4] = [Field::Time, Field::Title, Field::Severity, Field::Engine];

/// Parses one alert line (without its trailing newline) into a borrowed view.
///
/// # Errors
///
/// Returns the first problem found, in line order; see [`RejectReason`] for the kinds.
pub fn parse_alert(line: &[u8]) -> Result<Alert<'_>, ParseError> {
    let Ok(text) = simdutf8::basic::from_utf8(line) else {
        let offset = std::str::from_utf8(line)
            .err()
            .map_or(0, |e| e.valid_up_to());
        return Err(ParseError {
            reason: RejectReason::NotUtf8,
            offset,
            field: None,
            detail: "invalid UTF-8 sequence",
        });
    };
    parse_alert_text(text)
}

/// [`parse_alert`] for a line already known to be UTF-8 (intake checks whole blocks at once).
///
/// # Errors
///
/// As for [`parse_alert`], except that `NotUtf8` cannot occur.
pub fn parse_alert_text(text: &str) -> Result<Alert<'_>, ParseError> {
    let mut s = Scanner::new(text);
    let mut alert = Alert::default();
    match parse_object(&mut s, &mut alert) {
        Ok(()) => Ok(alert),
        Err(Stop) => Err(s.fault()),
    }
}

/// Parses the alert object into `alert`; on [`Stop`] the scanner holds the error.
#[inline(always)]
fn parse_object<'a>(s: &mut Scanner<'a>, alert: &mut Alert<'a>) -> Result<(), Stop> {
    if s.skip_ws() != b'{' {
        return Err(s.error("expected '{' at the start of the alert"));
    }
    s.bump();

    let mut seen = 0u32;
    let mut present = 0u32;
    let mut next = 0;
    let mut c = s.skip_ws();
    let end = if c == b'}' {
        s.pos()
    } else {
        loop {
            // One member: key, colon, value, then ',' or '}'.
            if c != b'"' {
                return Err(s.error("expected a key"));
            }
            let key_at = s.pos();
            let predicted = keys::ORDER.get(next).filter(|key| s.eat_key(key));
            let field = match predicted {
                Some(key) => {
                    let field = key.field;
                    next += 1;
                    Some(field)
                }
                None => {
                    let key = s.string()?;
                    if s.skip_ws() != b':' {
                        return Err(s.error("expected ':' after key"));
                    }
                    s.bump();
                    let field = keys::lookup(key);
                    if let Some(after) = field.and_then(keys::order_after) {
                        next = after;
                    }
                    field
                }
            };
            s.skip_ws();

            match field {
                Some(field) => {
                    if seen & field.bit() != 0 {
                        return Err(duplicate(s, key_at, field));
                    }
                    seen |= field.bit();
                    if read_field(s, field, alert)? {
                        present |= field.bit();
                    }
                }
                None => s.skip_value(1)?,
            }

            match s.skip_ws() {
                b',' => {
                    s.bump();
                    c = s.skip_ws();
                }
                b'}' => break s.pos(),
                _ => return Err(s.error("expected ',' or '}' after a value")),
            }
        }
    };
    s.bump();

    // Only whitespace (a trailing `\r` included) may follow the object.
    s.skip_ws();
    if !s.at_end() {
        return Err(s.error("unexpected data after the alert object"));
    }
    for field in REQUIRED {
        if present & field.bit() == 0 {
            return Err(missing(s, end, field));
        }
    }
    Ok(())
}

/// Reads the value of a known field into `alert`, with the cursor on its first byte. Returns
/// whether a value was stored (`false` for `null`).
//
// Each kind of value is read at one place, so that its reader can be inlined without copying
// the string scan into every arm. `null` leaves the slot as it is: it still holds its default,
// since a field seen before is a duplicate.
#[inline]
fn read_field<'a>(s: &mut Scanner<'a>, field: Field, alert: &mut Alert<'a>) -> Result<bool, Stop> {
    let at = s.pos();
    match field {
        Field::Id | Field::Time | Field::SourceDevice | Field::DestinationDevice => {
            let Some(value) = opt_integer(s, field)? else {
                return Ok(false);
            };
            match field {
                Field::Id => alert.id = Some(value),
                Field::SourceDevice => alert.source_device = Some(value),
                Field::DestinationDevice => alert.destination_device = Some(value),
                // `time`: a non-negative number of milliseconds; fractions are truncated.
                _ if value < 0 => {
                    return Err(wrong_type(s, at, Field::Time, "a non-negative number"));
                }
                _ => alert.time_ms = value,
            }
            return Ok(true);
        }
        Field::RemediationSteps | Field::AdditionalInformation => {
            let Some(value) = opt_raw(s)? else {
                return Ok(false);
            };
            if field == Field::RemediationSteps {
                alert.remediation_steps = Some(value);
            } else {
                alert.additional_information = Some(value);
            }
            return Ok(true);
        }
        _ => {}
    }

    let Some(value) = opt_string(s, field)? else {
        return Ok(false);
    };
    let slot = match field {
        Field::Title => {
            alert.title = value;
            return Ok(true);
        }
        Field::Severity => return read_severity(s, at, value, alert),
        Field::Engine => {
            read_engine(value, alert);
            return Ok(true);
        }
        Field::Kind => return read_kind(s, at, value, alert),
        Field::Message => &mut alert.message,
        Field::SourceAddress => &mut alert.source_address,
        Field::DestinationAddress => &mut alert.destination_address,
        Field::Protocol => &mut alert.protocol,
        Field::Category => &mut alert.category,
        Field::SourceMac => &mut alert.source_mac,
        Field::DestinationMac => &mut alert.destination_mac,
        Field::SourceName => &mut alert.source_name,
        Field::DestinationName => &mut alert.destination_name,
        Field::Uuid => &mut alert.uuid,
        Field::SensorName => &mut alert.sensor_name,
        // Read above.
        Field::Id
        | Field::Time
        | Field::SourceDevice
        | Field::DestinationDevice
        | Field::RemediationSteps
        | Field::AdditionalInformation => return Ok(false),
    };
    *slot = Some(value);
    Ok(true)
}

/// `severity`: one of the four sensor levels, any case; `at` is where the value starts.
fn read_severity(
    s: &mut Scanner<'_>,
    at: usize,
    value: RawStr<'_>,
    alert: &mut Alert<'_>,
) -> Result<bool, Stop> {
    let Some(severity) = keys::severity(value) else {
        return Err(s.fail(ParseError {
            reason: RejectReason::UnknownSeverity,
            offset: at,
            field: Some(Field::Severity.name()),
            detail: "expected Warning, Minor, Major or Critical",
        }));
    };
    alert.severity = severity;
    Ok(true)
}

/// `engine`: kept verbatim in `engine_name` and mapped to a [`DetectionEngine`].
fn read_engine<'a>(value: RawStr<'a>, alert: &mut Alert<'a>) {
    alert.engine_name = value;
    alert.engine = if value.is_escaped() {
        // An escaped name longer than the buffer matches no documented engine.
        let mut buf = [0u8; keys::SMALL];
        value
            .decode_to(&mut buf)
            .map_or(DetectionEngine::Other, |name| {
                DetectionEngine::from_name(name)
            })
    } else {
        DetectionEngine::from_name(value.raw())
    };
}

/// `kind`: `"system"` marks a system notification; `"alert"` and absence mean an engine alert.
fn read_kind(
    s: &mut Scanner<'_>,
    at: usize,
    value: RawStr<'_>,
    alert: &mut Alert<'_>,
) -> Result<bool, Stop> {
    alert.kind = match keys::is_system_kind(value) {
        Some(true) => AlertKind::System,
        Some(false) => AlertKind::Alert,
        None => return Err(wrong_type(s, at, Field::Kind, "\"system\" or \"alert\"")),
    };
    Ok(true)
}

/// A string value or `null`.
#[inline(always)]
fn opt_string<'a>(s: &mut Scanner<'a>, field: Field) -> Result<Option<RawStr<'a>>, Stop> {
    match s.peek() {
        b'"' => s.string().map(Some),
        b'n' => s.literal(b"null").map(|()| None),
        _ => Err(not_of_type(s, field, "a string")),
    }
}

/// A number (truncated to an integer) or `null`.
#[inline(always)]
fn opt_integer(s: &mut Scanner<'_>, field: Field) -> Result<Option<i64>, Stop> {
    let at = s.pos();
    match s.peek() {
        b'-' | b'0'..=b'9' => match s.integer()? {
            Some(value) => Ok(Some(value)),
            None => Err(wrong_type(s, at, field, "an integer within 64 bits")),
        },
        b'n' => s.literal(b"null").map(|()| None),
        _ => Err(not_of_type(s, field, "a number")),
    }
}

/// Any JSON value kept as its raw span, or `null`.
#[inline]
fn opt_raw<'a>(s: &mut Scanner<'a>) -> Result<Option<RawJson<'a>>, Stop> {
    if s.peek() == b'n' {
        return s.literal(b"null").map(|()| None);
    }
    let start = s.pos();
    s.skip_value(1)?;
    Ok(Some(RawJson(s.span(start))))
}

/// Stops for a value under the cursor that is not of the field's type: `WrongType` when it is
/// some other JSON value, `InvalidJson` when it cannot start a value at all.
#[cold]
fn not_of_type(s: &mut Scanner<'_>, field: Field, expected: &'static str) -> Stop {
    match s.peek() {
        b'{' | b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9' => {
            wrong_type(s, s.pos(), field, expected)
        }
        _ => s.error("expected a value"),
    }
}

/// Stops with a `WrongType` error.
#[cold]
fn wrong_type(s: &mut Scanner<'_>, offset: usize, field: Field, expected: &'static str) -> Stop {
    s.fail(ParseError {
        reason: RejectReason::WrongType,
        offset,
        field: Some(field.name()),
        detail: expected,
    })
}

/// Stops with a `DuplicateKey` error at the second occurrence's opening quote.
#[cold]
fn duplicate(s: &mut Scanner<'_>, offset: usize, field: Field) -> Stop {
    s.fail(ParseError {
        reason: RejectReason::DuplicateKey,
        offset,
        field: Some(field.name()),
        detail: "field appears more than once",
    })
}

/// Stops with a `MissingField` error, reported at the closing brace.
#[cold]
fn missing(s: &mut Scanner<'_>, offset: usize, field: Field) -> Stop {
    s.fail(ParseError {
        reason: RejectReason::MissingField,
        offset,
        field: Some(field.name()),
        detail: "required field is absent or null",
    })
}

#[cfg(test)]
mod tests;
