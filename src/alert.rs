//! The alert as the rest of the pipeline sees it: a borrowed view into the intake buffer.
//!
//! Pipeline position: produced by [`crate::parse`] on the pipeline thread, read by
//! [`crate::rules`] and the encoders on the same thread, and dropped before the intake block it
//! borrows from goes back to its pool. Nothing here allocates.
//!
//! String fields are [`RawStr`]: the bytes between the quotes of a JSON string, still escaped.
//! The parser has already checked that they are valid UTF-8 and that every escape is well formed,
//! so decoding them later cannot fail. Encoders decode and re-escape in one pass with
//! [`RawStr::chunks`]; no field is ever materialised into a `String`.

use std::fmt;

/// The sensor's alert level, ordered as the "minimal alert level" of a forwarding rule compares it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Lowest level; CEF severity 1.
    #[default]
    Warning = 0,
    /// CEF severity 4.
    Minor = 1,
    /// CEF severity 8.
    Major = 2,
    /// Highest level; CEF severity 10.
    Critical = 3,
}

impl Severity {
    /// All levels, lowest first; the index of each is its rank.
    pub const ALL: [Severity; 4] = [
        Severity::Warning,
        Severity::Minor,
        Severity::Major,
        Severity::Critical,
    ];

    /// Parses the sensor's spelling, ignoring ASCII case.
    pub fn from_name(name: &[u8]) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// The sensor's spelling (`Warning`, `Minor`, `Major`, `Critical`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "Warning",
            Severity::Minor => "Minor",
            Severity::Major => "Major",
            Severity::Critical => "Critical",
        }
    }

    /// The integer the sensor puts in the CEF header severity field.
    pub fn cef_number(self) -> u8 {
        match self {
            Severity::Warning => 1,
            Severity::Minor => 4,
            Severity::Major => 8,
            Severity::Critical => 10,
        }
    }

    /// Position in [`Severity::ALL`].
    pub fn rank(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who the sensor is, for message headers when an alert does not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorIdentity {
    /// Sensor name; CEF Device Product when the alert has no `sensorName`.
    pub name: String,
    /// Host name put into the syslog header.
    pub hostname: String,
    /// Sensor software version; CEF Device Version.
    pub version: String,
}

impl Default for SensorIdentity {
    fn default() -> Self {
        SensorIdentity {
            name: "sensor".to_owned(),
            hostname: "sensor".to_owned(),
            version: "24.1.5".to_owned(),
        }
    }
}

/// The detection engine that raised an alert.
///
/// The sensor documents five engines. An alert naming any other engine is still forwarded, as
/// [`DetectionEngine::Other`], and only rules that accept any engine match it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DetectionEngine {
    /// `Policy Violation`.
    PolicyViolation = 0,
    /// `Protocol Violation`.
    ProtocolViolation = 1,
    /// `Malware`.
    Malware = 2,
    /// `Anomaly`.
    Anomaly = 3,
    /// `Operational`.
    Operational = 4,
    /// Any engine name the sensor documentation does not list.
    #[default]
    Other = 5,
}

impl DetectionEngine {
    /// The five documented engines.
    pub const KNOWN: [DetectionEngine; 5] = [
        DetectionEngine::PolicyViolation,
        DetectionEngine::ProtocolViolation,
        DetectionEngine::Malware,
        DetectionEngine::Anomaly,
        DetectionEngine::Operational,
    ];

    /// Number of distinct values, `Other` included; sizes the rule tables.
    pub const COUNT: usize = 6;

    /// Parses the display name (`Policy Violation`) or the API enum (`POLICY_VIOLATION`),
    /// ignoring ASCII case. Unknown names map to `Other`.
    //
    // Runs for every alert. The length and first letter pick the one engine the name can be, as
    // `parse::keys` does for keys. A byte-by-byte loop over all five engines cost 72 more
    // instructions per alert (of 4596) under callgrind, parsing the spec samples.
    pub fn from_name(name: &[u8]) -> DetectionEngine {
        let Some(&first) = name.first() else {
            return DetectionEngine::Other;
        };
        let (engine, canonical, space): (DetectionEngine, &[u8], Option<usize>) =
            match (name.len(), first | 0x20) {
                (16, b'p') => (
                    DetectionEngine::PolicyViolation,
                    b"policy violation",
                    Some(6),
                ),
                (18, b'p') => (
                    DetectionEngine::ProtocolViolation,
                    b"protocol violation",
                    Some(8),
                ),
                (7, b'm') => (DetectionEngine::Malware, b"malware", None),
                (7, b'a') => (DetectionEngine::Anomaly, b"anomaly", None),
                (11, b'o') => (DetectionEngine::Operational, b"operational", None),
                _ => return DetectionEngine::Other,
            };
        // The API enum writes the space as `_`.
        let space_ok = space.is_none_or(|at| matches!(name[at], b' ' | b'_'));
        if space_ok && eq_letters(name, canonical) {
            engine
        } else {
            DetectionEngine::Other
        }
    }

    /// Parses a name from the config, where unknown engines are an error.
    pub fn from_config_name(name: &str) -> Option<DetectionEngine> {
        match DetectionEngine::from_name(name.as_bytes()) {
            DetectionEngine::Other => None,
            known => Some(known),
        }
    }

    /// The display name used in `type=`.
    pub fn name(self) -> &'static str {
        match self {
            DetectionEngine::PolicyViolation => "Policy Violation",
            DetectionEngine::ProtocolViolation => "Protocol Violation",
            DetectionEngine::Malware => "Malware",
            DetectionEngine::Anomaly => "Anomaly",
            DetectionEngine::Operational => "Operational",
            DetectionEngine::Other => "Other",
        }
    }

    /// Index into per-engine tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Compares `input` with `canonical`, made of lower-case ASCII letters and spaces, ignoring ASCII
/// case in the letters and not comparing the spaces at all (the caller checks them). Both have
/// the same length, at least 4.
///
/// Whole words, overlapping at the end: OR-ing `0x20` into a byte gives a lower-case letter only
/// for that letter in either case, so the compare is exact for the letters.
#[inline]
fn eq_letters(input: &[u8], canonical: &[u8]) -> bool {
    debug_assert!(input.len() == canonical.len() && input.len() >= 4);
    let n = input.len();
    if n < 8 {
        let half = |s: &[u8], at: usize| u64::from(word4(s, at));
        return eq_letters_word(half(input, 0), half(canonical, 0))
            && eq_letters_word(half(input, n - 4), half(canonical, n - 4));
    }
    let mut at = 0;
    while at + 8 < n {
        if !eq_letters_word(word8(input, at), word8(canonical, at)) {
            return false;
        }
        at += 8;
    }
    eq_letters_word(word8(input, n - 8), word8(canonical, n - 8))
}

/// [`eq_letters`] for one word, with the input's bytes zero-extended into a `u64`.
#[inline]
fn eq_letters_word(input: u64, canonical: u64) -> bool {
    // Letters have bit 6 set and a space has not: `0x20` marks the lanes to lower-case, `0xFF`
    // the lanes (spaces) to leave out.
    let letters = (canonical & 0x4040_4040_4040_4040) >> 1;
    let spaces = ((!canonical & 0x4040_4040_4040_4040) >> 6) * 0xFF;
    (input | letters | spaces) == (canonical | spaces)
}

/// Eight bytes of `s` from `at`, little-endian; callers keep `at + 8 <= s.len()`.
#[inline]
pub(crate) fn word8(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Four bytes of `s` from `at`, little-endian; callers keep `at + 4 <= s.len()`.
#[inline]
pub(crate) fn word4(s: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&s[at..at + 4]);
    u32::from_le_bytes(w)
}

/// Whether the alert came from a detection engine or is an appliance-health notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AlertKind {
    /// Raised by a detection engine (the default when the alert has no `kind`).
    #[default]
    Alert,
    /// A system notification such as a disconnected sensor or a failed backup.
    System,
}

/// The still-escaped contents of a JSON string, borrowed from the intake buffer.
///
/// Invariant (established by the parser, relied on by [`RawStr::chunks`]): `raw` is valid UTF-8,
/// contains no byte below 0x20 and no unescaped `"`, and every `\` starts a well-formed JSON
/// escape; `\u` surrogates come in valid pairs. Every constructor guarantees the UTF-8 part, so
/// decoding can rely on it; the rest is only relied on for the output to be meaningful.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RawStr<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> RawStr<'a> {
    /// Wraps bytes that should satisfy the type invariant.
    ///
    /// `escaped` says whether `raw` contains a backslash; when it is false, [`RawStr::chunks`]
    /// yields the bytes as one run without scanning them.
    ///
    /// Bytes that are not valid UTF-8 are replaced by a single U+FFFD, so that decoding never
    /// needs to check again. The rest of the invariant is not checked in release builds; a
    /// malformed escape decodes to replacement characters, never to undefined behaviour. The
    /// parser uses [`RawStr::from_json`], which skips the UTF-8 check.
    pub fn new(raw: &'a [u8], escaped: bool) -> RawStr<'a> {
        debug_assert_eq!(escaped, raw.contains(&b'\\'));
        match std::str::from_utf8(raw) {
            Ok(text) => RawStr::from_json(text, escaped),
            Err(_) => RawStr::literal("\u{FFFD}"),
        }
    }

    /// Wraps the still-escaped text of a JSON string, already known to be UTF-8.
    ///
    /// `escaped` says whether `raw` contains a backslash, as for [`RawStr::new`].
    pub fn from_json(raw: &'a str, escaped: bool) -> RawStr<'a> {
        debug_assert_eq!(escaped, raw.contains('\\'));
        RawStr {
            raw: raw.as_bytes(),
            escaped,
        }
    }

    /// Wraps a literal that needs no JSON unescaping (used for synthetic alerts).
    ///
    /// Backslashes and control characters in `s` are taken literally.
    pub fn literal(s: &'a str) -> RawStr<'a> {
        RawStr {
            raw: s.as_bytes(),
            escaped: false,
        }
    }

    /// The escaped bytes as they appeared in the input.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the raw bytes contain at least one JSON escape.
    pub fn is_escaped(&self) -> bool {
        self.escaped
    }

    /// Whether the decoded string is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Iterates over the decoded string as runs of unescaped text and single decoded characters.
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks {
            rest: self.raw,
            escaped: self.escaped,
        }
    }

    /// Decodes into `out`; meant for tests, config-time work and cold paths.
    pub fn decode_into(&self, out: &mut String) {
        for chunk in self.chunks() {
            match chunk {
                Chunk::Text(t) => out.push_str(t),
                Chunk::Char(c) => out.push(c),
            }
        }
    }

    /// Decodes into `buf` without allocating and returns the decoded bytes, or `None` when
    /// they do not fit; for short fields (keys, names, addresses) read on the hot path.
    pub fn decode_to<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let mut len = 0;
        let mut utf8 = [0u8; 4];
        for chunk in self.chunks() {
            let bytes = match chunk {
                Chunk::Text(t) => t.as_bytes(),
                Chunk::Char(c) => c.encode_utf8(&mut utf8).as_bytes(),
            };
            buf.get_mut(len..len + bytes.len())?.copy_from_slice(bytes);
            len += bytes.len();
        }
        Some(&buf[..len])
    }

    /// Decodes into a new `String`; meant for tests and cold paths only.
    pub fn to_string_lossy(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        self.decode_into(&mut out);
        out
    }

    /// Compares the decoded string with `other`, ignoring ASCII case, without allocating.
    pub fn eq_ignore_ascii_case(&self, other: &str) -> bool {
        if !self.escaped {
            return self.raw.eq_ignore_ascii_case(other.as_bytes());
        }
        let mut rest = other.as_bytes();
        let mut buf = [0u8; 4];
        for chunk in self.chunks() {
            let bytes = match chunk {
                Chunk::Text(t) => t.as_bytes(),
                Chunk::Char(c) => c.encode_utf8(&mut buf).as_bytes(),
            };
            if rest.len() < bytes.len() || !rest[..bytes.len()].eq_ignore_ascii_case(bytes) {
                return false;
            }
            rest = &rest[bytes.len()..];
        }
        rest.is_empty()
    }
}

impl fmt::Debug for RawStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string_lossy())
    }
}

/// One piece of a decoded [`RawStr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// A run of text that contained no escape.
    Text(&'a str),
    /// The character one escape stood for.
    Char(char),
}

/// Iterator returned by [`RawStr::chunks`].
pub struct Chunks<'a> {
    rest: &'a [u8],
    escaped: bool,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        if self.rest.is_empty() {
            return None;
        }

        // Text up to the next backslash (or the end) is returned as one run.
        let run_len = if self.escaped {
            memchr::memchr(b'\\', self.rest).unwrap_or(self.rest.len())
        } else {
            self.rest.len()
        };
        if run_len > 0 {
            let (run, rest) = self.rest.split_at(run_len);
            self.rest = rest;
            return Some(Chunk::Text(as_str(run)));
        }

        let (c, used) = decode_escape(self.rest);
        self.rest = &self.rest[used..];
        Some(Chunk::Char(c))
    }
}

/// Views a run of a [`RawStr`] as `str` without checking it again.
///
/// Every run starts and ends at the string's ends, at a backslash, or after an escape, whose
/// bytes are all ASCII; so a run of valid UTF-8 text is itself valid UTF-8.
fn as_str(bytes: &[u8]) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: every `RawStr` constructor guarantees that its bytes are UTF-8 (`from_json` and
    // `literal` take `&str`, `new` checks), and `Chunks` only splits them at ASCII bytes: before
    // a backslash, or after an escape, of which `decode_escape` consumes ASCII bytes only.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

/// Decodes the escape at the start of `s` (which begins with `\`), returning the character and
/// the number of bytes consumed. Malformed input decodes to U+FFFD and consumes only the
/// backslash, so that the rest is decoded as text and no split falls inside a character.
fn decode_escape(s: &[u8]) -> (char, usize) {
    let Some(&kind) = s.get(1) else {
        return ('\u{FFFD}', 1);
    };
    let simple = match kind {
        b'"' => Some('"'),
        b'\\' => Some('\\'),
        b'/' => Some('/'),
        b'b' => Some('\u{8}'),
        b'f' => Some('\u{c}'),
        b'n' => Some('\n'),
        b'r' => Some('\r'),
        b't' => Some('\t'),
        _ => None,
    };
    if let Some(c) = simple {
        return (c, 2);
    }
    if kind != b'u' {
        return ('\u{FFFD}', 1);
    }

    let Some(high) = hex4(&s[2..]) else {
        return ('\u{FFFD}', 1);
    };
    if !(0xD800..0xDC00).contains(&high) {
        return (char::from_u32(u32::from(high)).unwrap_or('\u{FFFD}'), 6);
    }

    // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
    let low = if s.get(6) == Some(&b'\\') && s.get(7) == Some(&b'u') {
        hex4(&s[8..])
    } else {
        None
    };
    match low {
        Some(low) if (0xDC00..0xE000).contains(&low) => {
            let code = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
            (char::from_u32(code).unwrap_or('\u{FFFD}'), 12)
        }
        _ => ('\u{FFFD}', 6),
    }
}

/// Parses four hex digits.
pub(crate) fn hex4(s: &[u8]) -> Option<u16> {
    let digits = s.get(..4)?;
    let mut value = 0u16;
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return None,
        };
        value = value << 4 | u16::from(nibble);
    }
    Some(value)
}

/// A raw JSON value (object or array) kept unparsed, borrowed from the intake buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RawJson<'a>(pub &'a [u8]);

impl fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", String::from_utf8_lossy(self.0))
    }
}

/// One alert, borrowed from the line it was parsed from.
///
/// Optional fields are `None` when the key was absent or `null`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Alert<'a> {
    /// Sensor-local alert id.
    pub id: Option<i64>,
    /// When the alert was raised, in milliseconds since the Unix epoch (UTC).
    pub time_ms: i64,
    /// The alert title, such as `Address Scan Detected`.
    pub title: RawStr<'a>,
    /// Free text; may contain newlines.
    pub message: Option<RawStr<'a>>,
    /// The alert level.
    pub severity: Severity,
    /// The engine that raised the alert.
    pub engine: DetectionEngine,
    /// The engine name exactly as the alert spelled it.
    pub engine_name: RawStr<'a>,
    /// Engine alert or system notification (`"kind": "system"`).
    pub kind: AlertKind,
    /// Source device id.
    pub source_device: Option<i64>,
    /// Destination device id.
    pub destination_device: Option<i64>,
    /// Source address, IP or MAC.
    pub source_address: Option<RawStr<'a>>,
    /// Destination address, IP or MAC.
    pub destination_address: Option<RawStr<'a>>,
    /// Detected protocol, such as `Modbus`.
    pub protocol: Option<RawStr<'a>>,
    /// Alert group (`category` or `alertGroup`).
    pub category: Option<RawStr<'a>>,
    /// Source MAC (`sourceMac` or `sourceDeviceMac`).
    pub source_mac: Option<RawStr<'a>>,
    /// Destination MAC (`destinationMac` or `destinationDeviceMac`).
    pub destination_mac: Option<RawStr<'a>>,
    /// Source device name.
    pub source_name: Option<RawStr<'a>>,
    /// Destination device name.
    pub destination_name: Option<RawStr<'a>>,
    /// Alert UUID, `<n>-<epoch ms>` on current sensors.
    pub uuid: Option<RawStr<'a>>,
    /// Name of the sensor that raised the alert.
    pub sensor_name: Option<RawStr<'a>>,
    /// `remediationSteps`: a JSON array (or a string on older consoles), unparsed.
    pub remediation_steps: Option<RawJson<'a>>,
    /// `additionalInformation`: a JSON object, unparsed.
    pub additional_information: Option<RawJson<'a>>,
}

impl Default for RawStr<'_> {
    fn default() -> Self {
        RawStr {
            raw: b"",
            escaped: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: &str) -> String {
        RawStr::new(raw.as_bytes(), raw.contains('\\')).to_string_lossy()
    }

    #[test]
    fn decodes_simple_and_unicode_escapes() {
        assert_eq!(decode(r"a\nb\\c\/d\u00e9"), "a\nb\\c/d\u{e9}");
        assert_eq!(decode(r"\ud83d\ude00!"), "\u{1F600}!");
        assert_eq!(decode("plain"), "plain");
    }

    #[test]
    fn lone_surrogate_becomes_replacement() {
        assert_eq!(decode(r"\ud83dx"), "\u{FFFD}x");
    }

    #[test]
    fn broken_invariant_never_splits_a_character() {
        // Malformed escapes consume only the backslash; the rest decodes as text.
        assert_eq!(decode("\\\u{e9}x"), "\u{FFFD}\u{e9}x");
        assert_eq!(decode(r"\u12\q"), "\u{FFFD}u12\u{FFFD}q");
        assert_eq!(decode("end\\"), "end\u{FFFD}");
        // Bytes that are not UTF-8 become one replacement character.
        assert_eq!(RawStr::new(b"a\xffb", false).to_string_lossy(), "\u{FFFD}");
    }

    #[test]
    fn decode_to_fills_a_small_buffer_or_says_it_cannot() {
        let escaped = RawStr::new(br"10.0.0.\u0031\u00e9", true);
        let mut buf = [0u8; 16];
        assert_eq!(
            escaped.decode_to(&mut buf),
            Some("10.0.0.1\u{e9}".as_bytes())
        );
        let mut small = [0u8; 9];
        assert_eq!(escaped.decode_to(&mut small), None);
        assert_eq!(RawStr::literal("").decode_to(&mut small), Some(&b""[..]));
    }

    #[test]
    fn case_insensitive_compare_handles_escapes() {
        let s = RawStr::new(br"Mod\u0062us", true);
        assert!(s.eq_ignore_ascii_case("MODBUS"));
        assert!(!s.eq_ignore_ascii_case("MODBUSX"));
        assert!(!s.eq_ignore_ascii_case("MODBU"));
    }

    #[test]
    fn engine_names_accept_both_spellings() {
        assert_eq!(
            DetectionEngine::from_name(b"PROTOCOL_VIOLATION"),
            DetectionEngine::ProtocolViolation
        );
        assert_eq!(
            DetectionEngine::from_name(b"malware"),
            DetectionEngine::Malware
        );
        assert_eq!(
            DetectionEngine::from_name(b"Quantum"),
            DetectionEngine::Other
        );
    }

    #[test]
    fn engine_names_match_a_byte_by_byte_compare() {
        // The reference: each name byte, `_` read as a space, equals the display name's byte
        // ignoring ASCII case.
        fn reference(name: &[u8]) -> DetectionEngine {
            DetectionEngine::KNOWN
                .into_iter()
                .find(|engine| {
                    let display = engine.name().as_bytes();
                    display.len() == name.len()
                        && display.iter().zip(name).all(|(&d, &n)| {
                            let n = if n == b'_' { b' ' } else { n };
                            d.eq_ignore_ascii_case(&n)
                        })
                })
                .unwrap_or(DetectionEngine::Other)
        }

        let odd = [
            0u8, b' ', b'_', b'@', b'`', b'{', b'[', 0x7f, 0x80, 0xff, b'1',
        ];
        for engine in DetectionEngine::KNOWN {
            let name = engine.name();
            let spellings = [
                name.to_owned(),
                name.to_ascii_uppercase(),
                name.to_ascii_lowercase(),
                name.to_ascii_uppercase().replace(' ', "_"),
            ];
            for spelling in spellings {
                assert_eq!(DetectionEngine::from_name(spelling.as_bytes()), engine);
                for at in 0..spelling.len() {
                    for byte in odd
                        .iter()
                        .copied()
                        .chain(spelling.bytes().map(|b| b ^ 0x20))
                    {
                        let mut bytes = spelling.clone().into_bytes();
                        bytes[at] = byte;
                        assert_eq!(
                            DetectionEngine::from_name(&bytes),
                            reference(&bytes),
                            "{bytes:?}"
                        );
                    }
                }
                let longer = format!("{spelling}x");
                assert_eq!(
                    DetectionEngine::from_name(longer.as_bytes()),
                    DetectionEngine::Other
                );
                let shorter = &spelling.as_bytes()[..spelling.len() - 1];
                assert_eq!(DetectionEngine::from_name(shorter), DetectionEngine::Other);
            }
        }
        assert_eq!(DetectionEngine::from_name(b""), DetectionEngine::Other);
        assert_eq!(DetectionEngine::from_name(b"Other"), DetectionEngine::Other);
        assert_eq!(
            DetectionEngine::from_name(b"Policy\0Violation"),
            DetectionEngine::Other
        );
    }

    #[test]
    fn severity_order_and_numbers() {
        assert!(Severity::Minor > Severity::Warning);
        assert_eq!(Severity::from_name(b"CRITICAL"), Some(Severity::Critical));
        assert_eq!(Severity::Major.cef_number(), 8);
        assert_eq!(Severity::from_name(b"High"), None);
    }
}
