//! Random alerts for the LEEF, text and object property tests: field contents full of
//! delimiters, separators, `\ | = : , ; "`, CR/LF/TAB, other control characters, Unicode and
//! pieces of the formats' own syntax, handed to the encoders either JSON-escaped (as the parser
//! would) or as literals. Each field keeps its decoded text, which the tests' oracles start from.

#![allow(dead_code)]

use jiff::Timestamp;
use otrelay::alert::{Alert, DetectionEngine, RawStr, SensorIdentity, Severity};
use otrelay::encode::time::parse_timezone;
use proptest::prelude::*;

/// One string field: the decoded text and how it is handed to the encoder.
#[derive(Clone, Debug)]
pub struct Text {
    pub decoded: String,
    /// The JSON-escaped form, or `None` to pass the decoded text as a literal.
    pub json: Option<String>,
}

impl Text {
    pub fn raw(&self) -> RawStr<'_> {
        match &self.json {
            Some(j) => RawStr::new(j.as_bytes(), j.contains('\\')),
            None => RawStr::literal(&self.decoded),
        }
    }
}

/// JSON-escapes `chars`; the flag picks `\uXXXX` over the plain form where both are valid.
pub fn json_escape(chars: &[(char, bool)]) -> String {
    let mut out = String::new();
    for &(c, as_unicode) in chars {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' if !as_unicode => out.push_str("\\n"),
            '\r' if !as_unicode => out.push_str("\\r"),
            '\t' if !as_unicode => out.push_str("\\t"),
            '\u{8}' if !as_unicode => out.push_str("\\b"),
            '\u{c}' if !as_unicode => out.push_str("\\f"),
            '/' if as_unicode => out.push_str("\\/"),
            c if c < ' ' || as_unicode => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Pieces of the formats' own syntax that a value might use to fake a field.
const SNIPPETS: [&str; 10] = [
    ", Source IP: ",
    "; Alert time: ",
    "\tsrc=",
    "^dst=",
    "|LEEF:1.0|",
    "\",\"Protocol\":\"",
    "\\,",
    "\\n",
    "\r\n<9>",
    "N/A",
];

fn atom() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        4 => prop::sample::select(vec![
            '\\', '|', '=', ':', ',', ';', '^', '#', '\n', '\r', '"', '\t', '/', ' ', '{', '}',
        ]),
        4 => prop::char::range('a', 'z'),
        2 => prop::char::range('\u{0}', '\u{1f}'),
        2 => prop::sample::select(vec![
            '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{a0}', '©', 'é', '中', '😀', '\u{2028}',
        ]),
        1 => any::<char>(),
    ];
    prop_oneof![
        12 => chars.prop_map(String::from),
        1 => prop::sample::select(SNIPPETS.to_vec()).prop_map(str::to_owned),
    ]
}

pub fn text() -> impl Strategy<Value = Text> {
    (
        prop::collection::vec((atom(), any::<bool>()), 0..16),
        any::<bool>(),
    )
        .prop_map(|(atoms, as_json)| {
            let chars: Vec<(char, bool)> = atoms
                .iter()
                .flat_map(|(s, u)| s.chars().map(move |c| (c, *u)))
                .collect();
            Text {
                decoded: chars.iter().map(|&(c, _)| c).collect(),
                json: as_json.then(|| json_escape(&chars)),
            }
        })
}

/// A configured string.
pub fn plain() -> impl Strategy<Value = String> {
    text().prop_map(|t| t.decoded)
}

/// What an address field holds, known by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ip,
    Mac,
    Neither,
}

fn address() -> impl Strategy<Value = (Text, Kind)> {
    let fixed = |list: Vec<&'static str>, kind: Kind| {
        (prop::sample::select(list), any::<bool>(), any::<bool>()).prop_map(
            move |(s, unicode, as_json)| {
                let chars: Vec<(char, bool)> = s.chars().map(|c| (c, unicode)).collect();
                let text = Text {
                    decoded: s.to_owned(),
                    json: as_json.then(|| json_escape(&chars)),
                };
                (text, kind)
            },
        )
    };
    let ips = vec![
        "10.1.1.50",
        "192.168.110.131",
        "fe80::1",
        "2001:db8::8a2e:370:7334",
    ];
    let macs = vec!["00:1D:9C:C7:B0:70", "3c-52-82-11-22-33"];
    // Text without digits or `:`/`-` can never be read as an IP or a MAC.
    let garbage = (
        prop::collection::vec(
            prop::sample::select(vec!['a', ' ', ',', '\\', '\n', 'é']),
            0..12,
        ),
        any::<bool>(),
    )
        .prop_map(|(chars, as_json)| {
            let chars: Vec<(char, bool)> = chars.into_iter().map(|c| (c, false)).collect();
            let text = Text {
                decoded: chars.iter().map(|&(c, _)| c).collect(),
                json: as_json.then(|| json_escape(&chars)),
            };
            (text, Kind::Neither)
        });
    prop_oneof![fixed(ips, Kind::Ip), fixed(macs, Kind::Mac), garbage]
}

/// A random alert with the sensor and zone it is encoded for.
#[derive(Clone, Debug)]
pub struct AlertCase {
    pub zone: &'static str,
    pub sensor: SensorIdentity,
    pub time_ms: i64,
    pub severity: Severity,
    pub title: Text,
    pub engine_name: Text,
    pub message: Option<Text>,
    pub protocol: Option<Text>,
    pub uuid: Option<Text>,
    pub category: Option<Text>,
    pub source_mac: Option<Text>,
    pub destination_mac: Option<Text>,
    pub source_name: Option<Text>,
    pub destination_name: Option<Text>,
    pub sensor_name: Option<Text>,
    pub source_address: Option<(Text, Kind)>,
    pub destination_address: Option<(Text, Kind)>,
}

pub fn alert_case() -> impl Strategy<Value = AlertCase> {
    let config = (
        prop::sample::select(vec![
            "UTC",
            "Europe/Moscow",
            "America/New_York",
            "Asia/Kolkata",
        ]),
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
    (config, fields, more).prop_map(|(c, f, m)| AlertCase {
        zone: c.0,
        sensor: SensorIdentity {
            name: c.1.0,
            hostname: c.1.1,
            version: c.1.2,
        },
        time_ms: c.2,
        severity: c.3,
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

impl AlertCase {
    pub fn alert(&self) -> Alert<'_> {
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

    /// The decoded text of an optional field.
    pub fn get(field: &Option<Text>) -> Option<String> {
        field.as_ref().map(|t| t.decoded.clone())
    }

    /// The address field's text if it is of `kind`.
    pub fn address(field: &Option<(Text, Kind)>, kind: Kind) -> Option<String> {
        field
            .as_ref()
            .filter(|(_, k)| *k == kind)
            .map(|(t, _)| t.decoded.clone())
    }

    pub fn source_mac(&self) -> Option<String> {
        Self::get(&self.source_mac).or_else(|| Self::address(&self.source_address, Kind::Mac))
    }

    pub fn destination_mac(&self) -> Option<String> {
        Self::get(&self.destination_mac)
            .or_else(|| Self::address(&self.destination_address, Kind::Mac))
    }

    /// The engine as the encoders print it.
    pub fn engine(&self) -> String {
        if self.engine_name.decoded.is_empty() {
            "Other".to_owned()
        } else {
            self.engine_name.decoded.clone()
        }
    }

    /// The sensor name as the encoders print it, `None` when neither the alert nor the sensor
    /// has one.
    pub fn sensor_name(&self) -> Option<String> {
        match Self::get(&self.sensor_name) {
            Some(name) if !name.is_empty() => Some(name),
            _ if !self.sensor.name.is_empty() => Some(self.sensor.name.clone()),
            _ => None,
        }
    }

    /// The alert time in the case's zone, rendered independently of the encoders' clock.
    pub fn time(&self) -> String {
        let tz = parse_timezone(self.zone).expect("known zone");
        Timestamp::from_millisecond(self.time_ms)
            .expect("in range")
            .to_zoned_datetime(tz)
            .strftime("%b %d %Y %H:%M:%S")
            .to_string()
    }
}

/// Whether a character is a control character (C0, DEL, C1).
pub fn is_control(c: char) -> bool {
    c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c)
}

/// Whether `bytes` hold a control byte other than those in `allowed`.
pub fn has_control_byte(bytes: &[u8], allowed: &[u8]) -> bool {
    let c1 = bytes
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]));
    c1 || bytes
        .iter()
        .any(|&b| (b < 0x20 || b == 0x7F) && !allowed.contains(&b))
}
