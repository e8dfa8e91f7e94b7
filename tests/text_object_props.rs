//! Property tests for the text and object encoders against independent parsers written here: a
//! `Label: value` splitter for the text format and the key/value object style, and a small JSON
//! parser for the Json object style.
//!
//! Random field contents (separators, `\ | = : , ;`, quotes, CR/LF/TAB, control characters,
//! Unicode, pieces of the formats' own syntax) are encoded with random valid separators. The
//! parsers must give back exactly the expected labels and values: in text and key/value, LF, CR
//! and TAB survive (as escapes) and every other control character is a space; in JSON every
//! character survives. No output holds a control byte. Cut messages stay within the limit, are
//! valid UTF-8 and never end inside an escape; text and key/value cuts are a prefix of the full
//! message, and a cut JSON message is still one valid object. Every field is whole but maybe
//! the last free-text one.

mod alert_gen;

use alert_gen::{AlertCase, Kind, alert_case, has_control_byte, is_control};
use otrelay::encode::Encoded;
use otrelay::encode::object::{ObjectEncoder, ObjectOptions, ObjectStyle};
use otrelay::encode::text::{TextEncoder, TextOptions};
use otrelay::encode::time::{AlertClock, parse_timezone};
use proptest::prelude::*;

/// Which encoder and layout a case runs.
#[derive(Clone, Debug)]
enum Format {
    Text { separator: String, legacy: bool },
    KeyValue { separator: String },
    Json,
}

#[derive(Clone, Debug)]
struct Case {
    alert: AlertCase,
    format: Format,
}

fn separator() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        ", ", "; ", " | ", ",", " ; ", "#", ",,", " ,x", "&& ", ";é",
    ])
    .prop_map(str::to_owned)
}

fn case() -> impl Strategy<Value = Case> {
    let format = prop_oneof![
        (separator(), any::<bool>())
            .prop_map(|(separator, legacy)| Format::Text { separator, legacy }),
        separator().prop_map(|separator| Format::KeyValue { separator }),
        Just(Format::Json),
    ];
    (alert_case(), format).prop_map(|(alert, format)| Case { alert, format })
}

impl Case {
    fn encode(&self, out: &mut Vec<u8>, limit: usize) -> Encoded {
        let clock = AlertClock::new(parse_timezone(self.alert.zone).expect("known zone"));
        let alert = self.alert.alert();
        let sensor = &self.alert.sensor;
        match &self.format {
            Format::Text { separator, legacy } => {
                let opts = TextOptions {
                    separator: separator.clone(),
                    legacy_labels: *legacy,
                };
                assert_eq!(opts.validate(), Ok(()));
                TextEncoder::new(&opts, sensor, clock).encode(&alert, out, limit)
            }
            Format::KeyValue { separator } => {
                let opts = ObjectOptions {
                    style: ObjectStyle::KeyValue,
                    separator: separator.clone(),
                };
                assert_eq!(opts.validate(), Ok(()));
                ObjectEncoder::new(&opts, sensor, clock).encode(&alert, out, limit)
            }
            Format::Json => {
                let opts = ObjectOptions {
                    style: ObjectStyle::Json,
                    separator: String::new(),
                };
                ObjectEncoder::new(&opts, sensor, clock).encode(&alert, out, limit)
            }
        }
    }

    fn parse(&self, msg: &str) -> Result<Vec<(String, String)>, String> {
        match &self.format {
            Format::Text { separator, .. } | Format::KeyValue { separator } => {
                parse_labelled(msg, separator)
            }
            Format::Json => parse_json_object(msg),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle

/// A labelled value: LF, CR and TAB survive, every other control character is a space.
fn labelled_value(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => c,
            c if is_control(c) => ' ',
            c => c,
        })
        .collect()
}

/// One expected field: label, value, and whether the value is written whole or not at all
/// (`N/A`, times, addresses, severity words, engine display names).
type Field = (String, String, bool);

/// A free-text value, or a whole `N/A` when absent.
fn text_or_na(v: Option<String>) -> (String, bool) {
    match v {
        Some(v) => (v, false),
        None => ("N/A".to_owned(), true),
    }
}

/// A fixed value (address), or `N/A`; whole either way.
fn fixed_or_na(v: Option<String>) -> (String, bool) {
    (v.unwrap_or_else(|| "N/A".to_owned()), true)
}

fn expected_fields(case: &Case) -> Vec<Field> {
    let a = &case.alert;
    let get = AlertCase::get;
    let engine = (a.engine(), a.engine_name.decoded.is_empty());
    let severity = (a.severity.name().to_owned(), true);
    // The sensor name is free text unless neither the alert nor the sensor has one.
    let sensor = text_or_na(a.sensor_name());
    // A MAC from the alert's MAC field is free text; one taken from the address is fixed.
    let mac = |field: &Option<alert_gen::Text>, mac: Option<String>| match field {
        Some(_) => text_or_na(mac),
        None => fixed_or_na(mac),
    };

    let mut fields: Vec<(&str, (String, bool))> = Vec::new();
    match &case.format {
        Format::Text { legacy, .. } => {
            let title = if *legacy {
                "Azure Defender for IoT Alert"
            } else {
                "Microsoft Defender for IoT Alert"
            };
            let src_ip = AlertCase::address(&a.source_address, Kind::Ip);
            let dst_ip = AlertCase::address(&a.destination_address, Kind::Ip);
            fields.push(("CyberX platform name", sensor));
            fields.push((title, (a.title.decoded.clone(), false)));
            fields.push(("Type", engine));
            fields.push(("Severity", severity));
            fields.push(("Source", text_or_na(get(&a.source_name))));
            fields.push(("Source IP", fixed_or_na(src_ip)));
            fields.push(("Destination", text_or_na(get(&a.destination_name))));
            fields.push(("Destination IP", fixed_or_na(dst_ip)));
            fields.push(("Protocol", text_or_na(get(&a.protocol))));
            fields.push(("Message", text_or_na(get(&a.message))));
            fields.push(("Alert group", text_or_na(get(&a.category))));
            if let Some(uuid) = get(&a.uuid) {
                fields.push(("UUID", (uuid, false)));
            }
        }
        Format::KeyValue { .. } | Format::Json => {
            fields.push(("Sensor name", sensor));
            fields.push(("Alert time", (a.time(), true)));
            fields.push(("Alert title", (a.title.decoded.clone(), false)));
            fields.push(("Alert message", text_or_na(get(&a.message))));
            fields.push(("Alert severity", severity));
            fields.push(("Alert type", engine));
            fields.push(("Protocol", text_or_na(get(&a.protocol))));
            fields.push(("Source_MAC", mac(&a.source_mac, a.source_mac())));
            fields.push((
                "Destination_MAC",
                mac(&a.destination_mac, a.destination_mac()),
            ));
            fields.push(("alert_group", text_or_na(get(&a.category))));
        }
    }

    let json = matches!(case.format, Format::Json);
    fields
        .into_iter()
        .map(|(k, (v, whole))| {
            let v = if json { v } else { labelled_value(&v) };
            (k.to_owned(), v, whole)
        })
        .collect()
}

fn expected(case: &Case) -> Vec<(String, String)> {
    expected_fields(case)
        .into_iter()
        .map(|(k, v, _)| (k, v))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The independent parsers

/// Splits `Label: value` pairs on every `separator` outside an escape, splits each pair at its
/// first `: `, and undoes `\\`, `\n`, `\r`, `\t` and `\<separator key>`.
fn parse_labelled(msg: &str, separator: &str) -> Result<Vec<(String, String)>, String> {
    if msg.is_empty() {
        return Ok(Vec::new());
    }
    let key = separator
        .chars()
        .find(|&c| c != ' ')
        .ok_or("separator has no key")?;

    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut rest = msg;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with(separator) {
            pieces.push(std::mem::take(&mut current));
            rest = &rest[separator.len()..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if c != '\\' {
            current.push(c);
            continue;
        }
        let e = rest.chars().next().ok_or("dangling backslash")?;
        rest = &rest[e.len_utf8()..];
        // Keep escapes marked until the pair is split, so an escaped `: ` cannot split it.
        current.push('\u{0}');
        current.push(e);
    }
    pieces.push(current);

    let mut pairs = Vec::new();
    for piece in pieces {
        let (label, value) = piece
            .split_once(": ")
            .ok_or_else(|| format!("pair without `: `: {piece:?}"))?;
        if label.contains('\u{0}') {
            return Err(format!("escape in label {label:?}"));
        }
        let mut out = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c != '\u{0}' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some(k) if k == key => out.push(k),
                other => return Err(format!("bad escape {other:?} in {value:?}")),
            }
        }
        pairs.push((label.to_owned(), out));
    }
    Ok(pairs)
}

/// A JSON reader for one object of string values (all the object encoder writes), strict
/// about RFC 8259 string syntax: no raw control character, only the standard escapes, paired
/// surrogates.
struct Json<'a> {
    s: &'a [u8],
    at: usize,
}

impl Json<'_> {
    fn eat(&mut self, b: u8) -> Result<(), String> {
        if self.s.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", char::from(b), self.at))
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.at..self.at + 4).ok_or("short \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|e| e.to_string())?;
        self.at += 4;
        u32::from_str_radix(text, 16).map_err(|e| e.to_string())
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.at).ok_or("unterminated string")?;
            self.at += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                0..0x20 => return Err(format!("raw control byte {b:#x}")),
                b'\\' => {
                    let e = *self.s.get(self.at).ok_or("dangling backslash")?;
                    self.at += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return Err(format!("bad escape {:?}", char::from(e))),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b => out.push(b),
            }
        }
    }

    fn unicode(&mut self) -> Result<char, String> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high).ok_or_else(|| format!("bad code point {high:#x}"));
        }
        self.eat(b'\\')?;
        self.eat(b'u')?;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return Err("unpaired surrogate".to_owned());
        }
        let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
        char::from_u32(c).ok_or_else(|| "bad surrogate pair".to_owned())
    }
}

fn parse_json_object(msg: &str) -> Result<Vec<(String, String)>, String> {
    let mut p = Json {
        s: msg.as_bytes(),
        at: 0,
    };
    p.eat(b'{')?;
    let mut pairs = Vec::new();
    if p.eat(b'}').is_err() {
        loop {
            let key = p.string()?;
            p.eat(b':')?;
            let value = p.string()?;
            pairs.push((key, value));
            if p.eat(b',').is_err() {
                p.eat(b'}')?;
                break;
            }
        }
    }
    if p.at != msg.len() {
        return Err(format!("trailing bytes after the object at {}", p.at));
    }
    Ok(pairs)
}

fn ends_in_odd_backslashes(bytes: &[u8]) -> bool {
    bytes.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn encoded_fields_parse_back(case in case()) {
        let mut out = Vec::new();
        let status = case.encode(&mut out, usize::MAX);
        prop_assert_eq!(status, Encoded::Complete);
        prop_assert!(!has_control_byte(&out, &[]), "control byte in {:?}", out);

        let msg = String::from_utf8(out).expect("UTF-8");
        let parsed = case.parse(&msg).map_err(|e| TestCaseError::fail(format!("{e}: {msg}")))?;
        prop_assert_eq!(parsed, expected(&case));
    }

    #[test]
    fn cut_messages_stay_clean(case in case(), slack in 0usize..400, below in any::<bool>()) {
        let mut full = Vec::new();
        let _ = case.encode(&mut full, usize::MAX);
        let limit = if below { full.len().saturating_sub(slack) } else { full.len() + slack };

        // Something already in the buffer must be left alone.
        let mut out = b"<9>".to_vec();
        let status = case.encode(&mut out, limit);
        prop_assert_eq!(&out[..3], b"<9>");
        let out = &out[3..];

        prop_assert!(out.len() <= limit);
        prop_assert_eq!(status == Encoded::Complete, limit >= full.len());
        prop_assert_eq!(status == Encoded::Complete, out == &full[..]);
        prop_assert!(!has_control_byte(out, &[]));
        let msg = std::str::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;

        let json = matches!(case.format, Format::Json);
        if json && limit < 2 {
            prop_assert!(out.is_empty());
            return Ok(());
        }
        if !json {
            prop_assert!(full.starts_with(out));
            prop_assert!(!ends_in_odd_backslashes(out));
        }

        let whole = case.parse(std::str::from_utf8(&full).expect("UTF-8")).expect("full parses");
        let fixed = expected_fields(&case);
        let cut = case.parse(msg).map_err(|e| TestCaseError::fail(format!("{e}: {msg}")))?;
        prop_assert!(cut.len() <= whole.len());
        if let Some((last, before)) = cut.split_last() {
            prop_assert_eq!(before, &whole[..before.len()]);
            let (key, value) = &whole[before.len()];
            prop_assert_eq!(&last.0, key);
            prop_assert!(value.starts_with(last.1.as_str()));
            // Fixed values are whole; a cut value keeps at least one character.
            if fixed[before.len()].2 {
                prop_assert_eq!(&last.1, value);
            } else if !value.is_empty() {
                prop_assert!(!last.1.is_empty());
            }
        }
    }
}
