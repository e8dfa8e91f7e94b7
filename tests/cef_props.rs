//! Property tests for the CEF encoder against an independent CEF parser written here.
//!
//! Random field contents (escape-worthy bytes, quotes, tabs, control characters, Unicode,
//! emoji), given either as JSON-escaped raw strings or as literals, are encoded; the parser must
//! give back exactly the expected header fields and key/value pairs, with control characters
//! mapped to spaces as CEF escaping requires, and the output must hold no control byte. Cut
//! messages must stay within the limit, be valid UTF-8, never end in a dangling backslash, and
//! still parse as a prefix of the full message.

use jiff::Timestamp;
use otrelay::alert::{Alert, DetectionEngine, SensorIdentity, Severity};
use otrelay::encode::Encoded;
use otrelay::encode::cef::{CefEncoder, CefFlavor, CefOptions};
use otrelay::encode::time::{AlertClock, parse_timezone};
use proptest::prelude::*;

mod alert_gen;

// ---------------------------------------------------------------------------------------------
// Generated input

use alert_gen::{Text, is_control, json_escape};

fn atom() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(vec!['\\', '|', '=', '\n', '\r', '"', '\t', '/', ' ']),
        4 => prop::char::range('a', 'z'),
        2 => prop::char::range('\u{0}', '\u{1f}'),
        2 => prop::sample::select(vec![
            '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', '©', 'é', '中', '😀', '\u{2028}',
        ]),
        1 => any::<char>(),
    ]
}

fn text_from(chars: impl Strategy<Value = char>) -> impl Strategy<Value = Text> {
    (
        prop::collection::vec((chars, any::<bool>()), 0..20),
        any::<bool>(),
    )
        .prop_map(|(chars, as_json)| Text {
            decoded: chars.iter().map(|&(c, _)| c).collect(),
            json: as_json.then(|| json_escape(&chars)),
        })
}

fn text() -> impl Strategy<Value = Text> {
    text_from(atom())
}

/// What an address field holds, known by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ip,
    Mac,
    Neither,
}

fn address() -> impl Strategy<Value = (Text, Kind)> {
    let ips = vec![
        "10.1.1.50",
        "192.168.110.131",
        "fe80::1",
        "2001:db8::8a2e:370:7334",
        "::",
    ];
    let macs = vec![
        "00:1D:9C:C7:B0:70",
        "3c-52-82-11-22-33",
        "00:80:f4:0A:0B:0C",
    ];
    let fixed = |list: Vec<&'static str>, kind: Kind| {
        (
            prop::sample::select(list),
            prop::collection::vec(any::<bool>(), 24),
            any::<bool>(),
        )
            .prop_map(move |(s, spell, as_json)| {
                let chars: Vec<(char, bool)> = s.chars().zip(spell).collect();
                let text = Text {
                    decoded: s.to_owned(),
                    json: as_json.then(|| json_escape(&chars)),
                };
                (text, kind)
            })
    };
    // Free text without digits or `:`/`-` can never be read as an IP or a MAC.
    let garbage = text_from(prop::sample::select(vec![
        'a', 'z', ' ', '|', '=', '\\', '\n', 'é',
    ]))
    .prop_map(|t| (t, Kind::Neither));
    prop_oneof![fixed(ips, Kind::Ip), fixed(macs, Kind::Mac), garbage]
}

#[derive(Clone, Debug)]
struct Case {
    flavor: CefFlavor,
    zone: &'static str,
    vendor: Option<String>,
    product: Option<String>,
    version: Option<String>,
    event_class: Option<String>,
    sensor: SensorIdentity,
    time_ms: i64,
    severity: Severity,
    title: Text,
    engine_name: Text,
    message: Option<Text>,
    protocol: Option<Text>,
    uuid: Option<Text>,
    category: Option<Text>,
    source_mac: Option<Text>,
    destination_mac: Option<Text>,
    source_name: Option<Text>,
    destination_name: Option<Text>,
    sensor_name: Option<Text>,
    source_address: Option<(Text, Kind)>,
    destination_address: Option<(Text, Kind)>,
}

fn plain() -> impl Strategy<Value = String> {
    text().prop_map(|t| t.decoded)
}

fn case() -> impl Strategy<Value = Case> {
    let config = (
        prop::sample::select(vec![CefFlavor::Microsoft, CefFlavor::NetWitness]),
        prop::sample::select(vec![
            "UTC",
            "Europe/Berlin",
            "America/New_York",
            "Asia/Kolkata",
        ]),
        prop::option::of(plain()),
        prop::option::of(plain()),
        prop::option::of(plain()),
        prop::option::of(plain()),
        (plain(), plain(), plain()),
        0i64..4_102_444_800_000,
        prop::sample::select(Severity::ALL.to_vec()),
    );
    let fields = (
        text(),
        text(),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    );
    let more = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(address()),
        prop::option::of(address()),
    );
    (config, fields, more).prop_map(|(c, f, m)| Case {
        flavor: c.0,
        zone: c.1,
        vendor: c.2,
        product: c.3,
        version: c.4,
        event_class: c.5,
        sensor: SensorIdentity {
            name: c.6.0,
            hostname: c.6.1,
            version: c.6.2,
        },
        time_ms: c.7,
        severity: c.8,
        title: f.0,
        engine_name: f.1,
        message: f.2,
        protocol: f.3,
        uuid: f.4,
        category: f.5,
        source_mac: f.6,
        destination_mac: f.7,
        source_name: m.0,
        destination_name: m.1,
        sensor_name: m.2,
        source_address: m.3,
        destination_address: m.4,
    })
}

impl Case {
    /// Field limits on for even times, off for odd ones: both halves get tested.
    fn field_limits(&self) -> bool {
        self.time_ms % 2 == 0
    }

    fn alert(&self) -> Alert<'_> {
        Alert {
            time_ms: self.time_ms,
            title: self.title.raw(),
            message: self.message.as_ref().map(Text::raw),
            severity: self.severity,
            engine: DetectionEngine::Other,
            engine_name: self.engine_name.raw(),
            source_address: self.source_address.as_ref().map(|(t, _)| t.raw()),
            destination_address: self.destination_address.as_ref().map(|(t, _)| t.raw()),
            protocol: self.protocol.as_ref().map(Text::raw),
            category: self.category.as_ref().map(Text::raw),
            source_mac: self.source_mac.as_ref().map(Text::raw),
            destination_mac: self.destination_mac.as_ref().map(Text::raw),
            source_name: self.source_name.as_ref().map(Text::raw),
            destination_name: self.destination_name.as_ref().map(Text::raw),
            uuid: self.uuid.as_ref().map(Text::raw),
            sensor_name: self.sensor_name.as_ref().map(Text::raw),
            ..Alert::default()
        }
    }

    fn encoder(&self) -> CefEncoder {
        let opts = CefOptions {
            flavor: self.flavor,
            vendor: self.vendor.clone(),
            product: self.product.clone(),
            version: self.version.clone(),
            event_class: self.event_class.clone(),
            field_limits: self.field_limits(),
        };
        let clock = AlertClock::new(parse_timezone(self.zone).expect("known zone"));
        CefEncoder::new(&opts, &self.sensor, clock)
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle: what the message must say

/// A header field after CEF escaping and unescaping: every control character is a space.
fn header_value(s: &str) -> String {
    s.chars()
        .map(|c| if is_control(c) { ' ' } else { c })
        .collect()
}

/// An extension value: newlines survive (as `\n`/`\r` escapes), other controls are spaces.
fn extension_value(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' => c,
            c if is_control(c) => ' ',
            c => c,
        })
        .collect()
}

fn expected_header(case: &Case) -> Vec<String> {
    let nw = case.flavor == CefFlavor::NetWitness;
    let vendor = case.vendor.clone().unwrap_or_else(|| {
        if nw {
            "CyberX"
        } else {
            "Microsoft Defender for IoT"
        }
        .to_owned()
    });
    let product = match (&case.product, &case.sensor_name) {
        (Some(p), _) => p.clone(),
        (None, _) if nw => "CyberX platform".to_owned(),
        (None, Some(name)) if !name.decoded.is_empty() => name.decoded.clone(),
        (None, _) => case.sensor.name.clone(),
    };
    let version = case
        .version
        .clone()
        .unwrap_or_else(|| case.sensor.version.clone());
    let class = case.event_class.clone().unwrap_or_else(|| {
        if nw {
            "CyberX platform Alert"
        } else {
            "Microsoft Defender for IoT Alert"
        }
        .to_owned()
    });
    let severity = match case.severity {
        Severity::Warning => "1",
        Severity::Minor => "4",
        Severity::Major => "8",
        Severity::Critical => "10",
    };
    let fields = [&vendor, &product, &version, &class, &case.title.decoded];
    let mut out = vec!["CEF:0".to_owned()];
    out.extend(fields.iter().map(|f| header_value(f)));
    out.push(severity.to_owned());
    out
}

fn expected_pairs(case: &Case) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut push = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            pairs.push((key.to_owned(), extension_value(v)));
        }
    };
    let text = |t: &Option<Text>| t.as_ref().map(|t| t.decoded.clone());
    // The CEF standard's maximum lengths, in characters, when the encoder applies them.
    let limit = |value: Option<String>, max: usize| {
        value.map(|v| {
            if case.field_limits() {
                v.chars().take(max).collect()
            } else {
                v
            }
        })
    };
    let addr = |a: &Option<(Text, Kind)>, want: Kind| {
        a.as_ref()
            .filter(|(_, k)| *k == want)
            .map(|(t, _)| t.decoded.clone())
    };
    let src_mac = text(&case.source_mac).or_else(|| addr(&case.source_address, Kind::Mac));
    let dst_mac =
        text(&case.destination_mac).or_else(|| addr(&case.destination_address, Kind::Mac));
    let src_ip = addr(&case.source_address, Kind::Ip);
    let dst_ip = addr(&case.destination_address, Kind::Ip);
    let engine = if case.engine_name.decoded.is_empty() {
        "Other".to_owned()
    } else {
        case.engine_name.decoded.clone()
    };
    let tz = parse_timezone(case.zone).expect("known zone");
    let start = Timestamp::from_millisecond(case.time_ms)
        .expect("in range")
        .to_zoned_datetime(tz)
        .strftime("%b %d %Y %H:%M:%S")
        .to_string();

    push("msg", limit(text(&case.message), 1023).as_deref());
    push("protocol", text(&case.protocol).as_deref());
    push("severity", Some(case.severity.name()));
    push("type", Some(&engine));
    push("UUID", text(&case.uuid).as_deref());
    push("start", Some(&start));
    push("src_ip", src_ip.as_deref());
    push("src_mac", src_mac.as_deref());
    push("dst_ip", dst_ip.as_deref());
    push("dst_mac", dst_mac.as_deref());
    push("cat", limit(text(&case.category), 1023).as_deref());
    if case.flavor == CefFlavor::NetWitness {
        push("rt", Some(&case.time_ms.to_string()));
        push("src", src_ip.as_deref());
        push("dst", dst_ip.as_deref());
        push("smac", src_mac.as_deref());
        push("dmac", dst_mac.as_deref());
        push("shost", limit(text(&case.source_name), 1023).as_deref());
        push(
            "dhost",
            limit(text(&case.destination_name), 1023).as_deref(),
        );
        push("app", limit(text(&case.protocol), 31).as_deref());
        push("externalId", limit(text(&case.uuid), 40).as_deref());
        let host = limit(Some(case.sensor.hostname.clone()), 100).unwrap_or_default();
        push("dvchost", (!host.is_empty()).then_some(host.as_str()));
    }
    pairs
}

// ---------------------------------------------------------------------------------------------
// The independent parser

#[derive(Debug)]
struct Parsed {
    header: Vec<String>,
    /// Byte length of the escaped title field, to know the shortest possible header.
    title_len: usize,
    /// Byte length of the whole header including its last `|`.
    header_len: usize,
    pairs: Vec<(String, String)>,
}

fn parse(msg: &str) -> Result<Parsed, String> {
    // Header: seven fields, each ended by an unescaped `|`.
    let mut header = Vec::new();
    let mut field = String::new();
    let mut field_start = 0;
    let mut title_len = 0;
    let mut chars = msg.char_indices();
    let mut header_len = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('\\' | '|'))) => field.push(e),
                other => return Err(format!("bad header escape {other:?} at {i}")),
            },
            '|' => {
                if header.len() == 5 {
                    title_len = i - field_start;
                }
                header.push(std::mem::take(&mut field));
                field_start = i + 1;
                if header.len() == 7 {
                    header_len = Some(i + 1);
                    break;
                }
            }
            c => field.push(c),
        }
    }
    let header_len = header_len.ok_or("header has fewer than seven fields")?;
    if header[0] != "CEF:0" {
        return Err(format!("bad version field {:?}", header[0]));
    }

    // Extension: every unescaped `=` ends a key, which starts after a space or at the start.
    let ext = &msg[header_len..];
    let bytes = ext.as_bytes();
    let mut keys = Vec::new(); // (key start, `=` position)
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' => {
                let start = bytes[..i]
                    .iter()
                    .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .map_or(0, |p| p + 1);
                if start == i || (start > 0 && bytes[start - 1] != b' ') {
                    return Err(format!("unescaped `=` without a key at {i}"));
                }
                keys.push((start, i));
                i += 1;
            }
            _ => i += 1,
        }
    }
    if !ext.is_empty() && keys.first().map(|k| k.0) != Some(0) {
        return Err("extension does not start with a key".to_owned());
    }

    let mut pairs = Vec::new();
    for (n, &(start, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(ext.len(), |next| next.0 - 1);
        pairs.push((
            ext[start..eq].to_owned(),
            unescape_value(&ext[eq + 1..end])?,
        ));
    }
    Ok(Parsed {
        header,
        title_len,
        header_len,
        pairs,
    })
}

fn unescape_value(v: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('=') => out.push('='),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            other => return Err(format!("bad value escape {other:?} in {v:?}")),
        }
    }
    Ok(out)
}

fn no_control_bytes(bytes: &[u8]) -> bool {
    let c1 = bytes
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]));
    !c1 && bytes.iter().all(|&b| b >= 0x20 && b != 0x7F)
}

fn ends_in_odd_backslashes(bytes: &[u8]) -> bool {
    bytes.iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encoded_fields_parse_back(case in case()) {
        let mut out = Vec::new();
        let status = case.encoder().encode(&case.alert(), &mut out, usize::MAX);
        prop_assert_eq!(status, Encoded::Complete);
        prop_assert!(no_control_bytes(&out), "control byte in {:?}", out);

        let msg = String::from_utf8(out).expect("UTF-8");
        let parsed = parse(&msg).map_err(|e| TestCaseError::fail(format!("{e}: {msg}")))?;
        prop_assert_eq!(parsed.header, expected_header(&case));
        prop_assert_eq!(parsed.pairs, expected_pairs(&case));
    }

    #[test]
    fn cut_messages_stay_clean(case in case(), slack in 0usize..400, below in any::<bool>()) {
        let mut full = Vec::new();
        let _ = case.encoder().encode(&case.alert(), &mut full, usize::MAX);
        let limit = if below { full.len().saturating_sub(slack) } else { full.len() + slack };

        // Something already in the buffer must be left alone.
        let mut out = b"<9>".to_vec();
        let status = case.encoder().encode(&case.alert(), &mut out, limit);
        prop_assert_eq!(&out[..3], b"<9>");
        let out = &out[3..];

        prop_assert!(out.len() <= limit);
        prop_assert_eq!(status == Encoded::Complete, out == &full[..]);
        prop_assert_eq!(status == Encoded::Complete, limit >= full.len());
        prop_assert!(!ends_in_odd_backslashes(out));
        prop_assert!(no_control_bytes(out));
        let msg = std::str::from_utf8(out).map_err(|e| TestCaseError::fail(e.to_string()))?;

        let full = String::from_utf8(full).expect("UTF-8");
        let whole = parse(&full).expect("full message parses");
        let shortest_header = whole.header_len - whole.title_len;
        if limit < shortest_header {
            // Not even an empty title fits: only a clean prefix of the header can be written.
            prop_assert!(full.starts_with(msg));
            return Ok(());
        }

        let cut = parse(msg).map_err(|e| TestCaseError::fail(format!("{e}: {msg}")))?;
        let title = &cut.header[5];
        prop_assert!(whole.header[5].starts_with(title.as_str()));
        if cut.header_len < whole.header_len {
            // The title was cut: the severity stays, the extension goes.
            prop_assert_eq!(&cut.header[6], &whole.header[6]);
            prop_assert!(cut.pairs.is_empty());
            return Ok(());
        }

        // The extension was cut: a prefix of the message, whole pairs but maybe the last.
        prop_assert!(full.starts_with(msg));
        prop_assert_eq!(&cut.header, &whole.header);
        prop_assert!(cut.pairs.len() <= whole.pairs.len());
        if let Some((last, before)) = cut.pairs.split_last() {
            prop_assert_eq!(before, &whole.pairs[..before.len()]);
            let (key, value) = &whole.pairs[before.len()];
            prop_assert_eq!(&last.0, key);
            prop_assert!(value.starts_with(last.1.as_str()));
        }
    }
}
