//! Property tests for the LEEF encoder against an independent LEEF parser written here.
//!
//! Random field contents (delimiters, `\ | = : , ;`, quotes, CR/LF/TAB, control characters,
//! Unicode, pieces of LEEF syntax) and random header strings are encoded as LEEF 1.0 or 2.0 with
//! a random valid delimiter. The parser must give back exactly the expected header fields and
//! attributes, with the delimiter and every control character of a value turned into a space:
//! no value can add, end or split an attribute or the message. The output holds no control
//! byte but the TAB delimiter. Cut messages stay within the limit, are valid UTF-8, are a prefix
//! of the full message, and keep every attribute whole but maybe the last free-text one.

mod alert_gen;

use alert_gen::{AlertCase, Kind, alert_case, has_control_byte, is_control, plain};
use otrelay::encode::Encoded;
use otrelay::encode::leef::{LeefEncoder, LeefOptions, LeefVersion};
use otrelay::encode::time::{AlertClock, parse_timezone};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    alert: AlertCase,
    version: LeefVersion,
    vendor: Option<String>,
    product: Option<String>,
    product_version: Option<String>,
    event_id: Option<String>,
}

fn case() -> impl Strategy<Value = Case> {
    let version = prop_oneof![
        Just(LeefVersion::V1),
        prop::sample::select(b"^\t#~;,!\"|".to_vec())
            .prop_filter("valid delimiter", |&d| d != b'|')
            .prop_map(|delimiter| LeefVersion::V2 { delimiter }),
    ];
    (
        alert_case(),
        version,
        prop::option::of(plain()),
        prop::option::of(plain()),
        prop::option::of(plain()),
        prop::option::of(plain()),
    )
        .prop_map(
            |(alert, version, vendor, product, product_version, event_id)| Case {
                alert,
                version,
                vendor,
                product,
                product_version,
                event_id,
            },
        )
}

impl Case {
    fn encoder(&self) -> LeefEncoder {
        let opts = LeefOptions {
            version: self.version,
            vendor: self.vendor.clone(),
            product: self.product.clone(),
            product_version: self.product_version.clone(),
            event_id: self.event_id.clone(),
        };
        assert_eq!(opts.validate(), Ok(()));
        let clock = AlertClock::new(parse_timezone(self.alert.zone).expect("known zone"));
        LeefEncoder::new(&opts, &self.alert.sensor, clock)
    }

    fn delimiter(&self) -> char {
        match self.version {
            LeefVersion::V1 => '\t',
            LeefVersion::V2 { delimiter } => char::from(delimiter),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle

/// A header field after escaping and unescaping: every control character is a space.
fn header_value(s: &str) -> String {
    s.chars()
        .map(|c| if is_control(c) { ' ' } else { c })
        .collect()
}

/// An attribute value: the delimiter and every control character are spaces.
fn attribute_value(s: &str, delimiter: char) -> String {
    s.chars()
        .map(|c| {
            if is_control(c) || c == delimiter {
                ' '
            } else {
                c
            }
        })
        .collect()
}

fn expected_header(case: &Case) -> Vec<String> {
    let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_owned());
    let mut out = vec![
        match case.version {
            LeefVersion::V1 => "LEEF:1.0",
            LeefVersion::V2 { .. } => "LEEF:2.0",
        }
        .to_owned(),
        header_value(&or(&case.vendor, "Microsoft Defender for IoT")),
        header_value(&or(&case.product, "Sensor")),
        header_value(&or(&case.product_version, &case.alert.sensor.version)),
        header_value(&or(&case.event_id, "Microsoft Defender for IoT Alert")),
    ];
    if let LeefVersion::V2 { delimiter } = case.version {
        out.push(match delimiter {
            b'\t' => "x09".to_owned(),
            d => char::from(d).to_string(),
        });
    }
    out
}

/// Keys whose values are written whole or not at all (`type` is free text when the alert spells
/// the engine, so it is not listed).
const STRUCTURED: [&str; 9] = [
    "devTime",
    "devTimeFormat",
    "sev",
    "severity",
    "start",
    "src_ip",
    "src",
    "dst_ip",
    "dst",
];

fn expected_attributes(case: &Case) -> Vec<(String, String)> {
    let a = &case.alert;
    let d = case.delimiter();
    let mut out = Vec::new();
    let mut push = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            out.push((key.to_owned(), attribute_value(&v, d)));
        }
    };
    let sev = a.severity.cef_number().to_string();
    let src_ip = AlertCase::address(&a.source_address, Kind::Ip);
    let dst_ip = AlertCase::address(&a.destination_address, Kind::Ip);

    push("devTime", Some(a.time()));
    push("devTimeFormat", Some("MMM dd yyyy HH:mm:ss".to_owned()));
    push("sev", Some(sev));
    push("cat", AlertCase::get(&a.category));
    push("title", Some(a.title.decoded.clone()));
    push("msg", AlertCase::get(&a.message));
    push("protocol", AlertCase::get(&a.protocol));
    push("severity", Some(a.severity.name().to_owned()));
    push("type", Some(a.engine()));
    push("start", Some(a.time()));
    push("src_ip", src_ip.clone());
    push("src", src_ip);
    push("dst_ip", dst_ip.clone());
    push("dst", dst_ip);
    push("srcMAC", a.source_mac());
    push("dstMAC", a.destination_mac());
    push("UUID", AlertCase::get(&a.uuid));
    out
}

// ---------------------------------------------------------------------------------------------
// The independent parser

#[derive(Debug)]
struct Parsed {
    header: Vec<String>,
    attributes: Vec<(String, String)>,
}

/// Parses a LEEF message whose header is complete.
fn parse(msg: &str) -> Result<Parsed, String> {
    // Header: `LEEF:x.y` and four fields (five for 2.0), each ended by an unescaped `|`.
    let mut header = Vec::new();
    let mut field = String::new();
    let mut chars = msg.char_indices();
    let mut header_len = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '|'))) => field.push(e),
                other => return Err(format!("bad header escape {other:?} at {i}")),
            },
            '|' => {
                header.push(std::mem::take(&mut field));
                let fields = if header[0] == "LEEF:2.0" { 6 } else { 5 };
                if header.len() == fields {
                    header_len = Some(i + 1);
                    break;
                }
            }
            c => field.push(c),
        }
    }
    let header_len = header_len.ok_or("header incomplete")?;
    let delimiter = match header.get(5).map(String::as_str) {
        None => '\t',
        Some("x09") => '\t',
        Some(d) if d.chars().count() == 1 => d.chars().next().ok_or("empty")?,
        Some(d) => return Err(format!("bad delimiter field {d:?}")),
    };

    // Attributes: split on the delimiter, key up to the first `=`.
    let body = &msg[header_len..];
    let mut attributes = Vec::new();
    if !body.is_empty() {
        for attr in body.split(delimiter) {
            let (key, value) = attr
                .split_once('=')
                .ok_or_else(|| format!("attribute without `=`: {attr:?}"))?;
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("bad key {key:?}"));
            }
            attributes.push((key.to_owned(), value.to_owned()));
        }
    }
    Ok(Parsed { header, attributes })
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encoded_fields_parse_back(case in case()) {
        let mut out = Vec::new();
        let status = case.encoder().encode(&case.alert.alert(), &mut out, usize::MAX);
        prop_assert_eq!(status, Encoded::Complete);
        let delimiter = case.delimiter() as u8;
        prop_assert!(!has_control_byte(&out, &[delimiter]), "control byte in {:?}", out);
        if delimiter != b'\t' {
            prop_assert!(!out.contains(&b'\t'));
        }

        let msg = String::from_utf8(out).expect("UTF-8");
        let parsed = parse(&msg).map_err(|e| TestCaseError::fail(format!("{e}: {msg:?}")))?;
        prop_assert_eq!(parsed.header, expected_header(&case));
        prop_assert_eq!(parsed.attributes, expected_attributes(&case));
    }

    #[test]
    fn cut_messages_stay_clean(case in case(), slack in 0usize..400, below in any::<bool>()) {
        let mut full = Vec::new();
        let _ = case.encoder().encode(&case.alert.alert(), &mut full, usize::MAX);
        let limit = if below { full.len().saturating_sub(slack) } else { full.len() + slack };

        // Something already in the buffer must be left alone.
        let mut out = b"<9>".to_vec();
        let status = case.encoder().encode(&case.alert.alert(), &mut out, limit);
        prop_assert_eq!(&out[..3], b"<9>");
        let out = &out[3..];

        prop_assert!(out.len() <= limit);
        prop_assert_eq!(status == Encoded::Complete, limit >= full.len());
        prop_assert!(full.starts_with(out));
        prop_assert!(!has_control_byte(out, &[case.delimiter() as u8]));
        let msg = std::str::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;

        let whole = parse(std::str::from_utf8(&full).expect("UTF-8")).expect("full parses");
        let Ok(cut) = parse(msg) else {
            // Only the header can be incomplete, and then nothing follows it.
            prop_assert!(!msg.contains("devTime="));
            return Ok(());
        };
        prop_assert_eq!(&cut.header, &whole.header);
        prop_assert!(cut.attributes.len() <= whole.attributes.len());
        if let Some((last, before)) = cut.attributes.split_last() {
            prop_assert_eq!(before, &whole.attributes[..before.len()]);
            let (key, value) = &whole.attributes[before.len()];
            prop_assert_eq!(&last.0, key);
            prop_assert!(value.starts_with(last.1.as_str()));
            // Structured values are whole; a cut value keeps at least one byte.
            if STRUCTURED.contains(&key.as_str()) || status == Encoded::Complete {
                prop_assert_eq!(&last.1, value);
            } else if !value.is_empty() {
                prop_assert!(!last.1.is_empty());
            }
        }
    }
}
