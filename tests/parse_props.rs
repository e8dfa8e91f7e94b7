//! Property tests for the alert parser against an oracle.
//!
//! Random alerts are built as plain Rust values, written out by a small serializer that picks
//! escapes, key case, aliases, member order, whitespace and unknown members (with nested values)
//! at random, parsed, and every decoded field is compared with the value that was written.
//! Random and mutated byte strings must never panic, and whatever they yield must keep the
//! `RawStr` invariant.

use otrelay::alert::{Alert, AlertKind, DetectionEngine, RawStr, Severity};
use otrelay::parse::parse_alert;
use proptest::prelude::*;

/// Deterministic choices for the serializer (xorshift64*), seeded by proptest.
struct Choices(u64);

impl Choices {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An optional field as written: left out, `null`, or a value.
#[derive(Clone, Debug)]
enum Opt<T> {
    Absent,
    Null,
    Value(T),
}

impl<T: Clone> Opt<T> {
    fn expected(&self) -> Option<T> {
        match self {
            Opt::Value(v) => Some(v.clone()),
            _ => None,
        }
    }
}

fn opt<T: std::fmt::Debug + Clone + 'static>(
    value: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Opt<T>> {
    prop_oneof![
        1 => Just(Opt::Absent),
        1 => Just(Opt::Null),
        3 => value.prop_map(Opt::Value),
    ]
}

/// A JSON value for unknown members and the raw-kept fields.
#[derive(Clone, Debug)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Characters that stress the string scanner: quotes, backslashes, controls, non-ASCII.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => proptest::sample::select(vec![
            '"', '\\', '/', '\n', '\r', '\t', '\u{8}', '\u{c}', '\u{0}', '\u{1f}', ' ', '{', '}',
            '[', ']', ':', ',', '\u{7f}', '\u{e9}', '\u{2028}', '\u{fffd}', '\u{1F600}',
            '\u{10FFFF}',
        ]),
        1 => any::<char>(),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..40).prop_map(|v| v.into_iter().collect())
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::Int),
        (any::<i32>(), 0u32..1000, -30i32..30)
            .prop_map(|(i, f, e)| Json::Float(format!("{i}.{f}e{e}"))),
        text().prop_map(Json::Str),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
            prop::collection::vec((text(), inner), 0..5).prop_map(Json::Object),
        ]
    })
}

/// One generated alert and the choices used to write it.
#[derive(Clone, Debug)]
struct Case {
    id: Opt<i64>,
    time: i64,
    time_with_fraction: bool,
    title: String,
    message: Opt<String>,
    severity: Severity,
    engine: String,
    kind: Opt<bool>,
    source_device: Opt<i64>,
    destination_device: Opt<i64>,
    strings: Vec<Opt<String>>,
    remediation: Opt<Json>,
    additional: Opt<Json>,
    unknown: Vec<(String, Json)>,
    seed: u64,
}

/// Optional string fields in `Case::strings` order: canonical key, optional alias.
const STRING_FIELDS: [(&str, Option<&str>); 11] = [
    ("sourceDeviceAddress", None),
    ("destinationDeviceAddress", None),
    ("protocol", None),
    ("category", Some("alertGroup")),
    ("sourceMac", Some("sourceDeviceMac")),
    ("destinationMac", Some("destinationDeviceMac")),
    ("sourceName", None),
    ("destinationName", None),
    ("uuid", None),
    ("sensorName", None),
    ("message", None),
];

fn case() -> impl Strategy<Value = Case> {
    let engine = prop_oneof![
        proptest::sample::select(vec![
            "Policy Violation".to_owned(),
            "PROTOCOL_VIOLATION".to_owned(),
            "malware".to_owned(),
            "Anomaly".to_owned(),
            "operational".to_owned(),
        ]),
        text(),
    ];
    (
        (opt(any::<i64>()), 0..=i64::MAX, any::<bool>(), text()),
        (
            opt(text()),
            proptest::sample::select(Severity::ALL.to_vec()),
            engine,
        ),
        (opt(any::<bool>()), opt(any::<i64>()), opt(any::<i64>())),
        prop::collection::vec(opt(text()), 10),
        (opt(json()), opt(json())),
        prop::collection::vec((text(), json()), 0..4),
        any::<u64>(),
    )
        .prop_map(
            |(
                (id, time, time_with_fraction, title),
                (message, severity, engine),
                (kind, source_device, destination_device),
                strings,
                (remediation, additional),
                unknown,
                seed,
            )| Case {
                id,
                time,
                time_with_fraction,
                title,
                message,
                severity,
                engine,
                kind,
                source_device,
                destination_device,
                strings,
                remediation,
                additional,
                unknown,
                seed: seed | 1,
            },
        )
}

/// Writes JSON with random whitespace and escapes.
struct Writer {
    out: String,
    choices: Choices,
}

impl Writer {
    fn ws(&mut self) {
        let pick = ["", "", "", " ", "\t", "\r\n", "  \n"];
        let i = self.choices.below(pick.len() as u64) as usize;
        self.out.push_str(pick[i]);
    }

    /// A string with each character written literally, as a short escape or as `\uXXXX`.
    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '\n' => Some("\\n"),
                '\r' => Some("\\r"),
                '\t' => Some("\\t"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                '/' => Some("\\/"),
                _ => None,
            };
            let must_escape = c == '"' || c == '\\' || c < ' ';
            match self.choices.below(4) {
                0 | 1 if !must_escape => self.out.push(c),
                2 if short.is_some() => self.out.push_str(short.unwrap_or_default()),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        let hex = if self.choices.below(2) == 0 {
                            format!("\\u{unit:04x}")
                        } else {
                            format!("\\u{unit:04X}")
                        };
                        self.out.push_str(&hex);
                    }
                }
            }
        }
        self.out.push('"');
    }

    /// A key with random ASCII case.
    fn key(&mut self, name: &str) {
        let cased: String = name
            .chars()
            .map(|c| {
                if self.choices.below(4) == 0 {
                    c.to_ascii_uppercase()
                } else if self.choices.below(4) == 0 {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect();
        self.string(&cased);
    }

    /// Writes `value` and returns the exact text written for it.
    fn json(&mut self, value: &Json) -> String {
        let start = self.out.len();
        match value {
            Json::Null => self.out.push_str("null"),
            Json::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => self.out.push_str(&i.to_string()),
            Json::Float(f) => self.out.push_str(f),
            Json::Str(s) => self.string(s),
            Json::Array(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.ws();
                    self.json(item);
                    self.ws();
                }
                self.out.push(']');
            }
            Json::Object(members) => {
                self.out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        self.out.push(',');
                    }
                    self.ws();
                    self.string(k);
                    self.ws();
                    self.out.push(':');
                    self.ws();
                    self.json(v);
                    self.ws();
                }
                self.out.push('}');
            }
        }
        self.out[start..].to_owned()
    }
}

/// One member of the alert object, before shuffling.
enum Member<'c> {
    Str(&'static str, &'c Opt<String>),
    Raw(&'static str, &'c Opt<Json>),
    Int(&'static str, &'c Opt<i64>),
    Literal(&'static str, String),
    Unknown(String, &'c Json),
}

/// Serializes `case`; returns the line and the raw text written for the two raw-kept fields.
fn serialize(case: &Case) -> (String, Option<String>, Option<String>) {
    let mut choices = Choices(case.seed);
    let title = Opt::Value(case.title.clone());
    let severity = Opt::Value(severity_text(case, &mut choices));
    let engine = Opt::Value(case.engine.clone());
    let mut members = vec![
        Member::Str("title", &title),
        Member::Str("severity", &severity),
        Member::Str("engine", &engine),
    ];
    match case.kind {
        Opt::Absent => {}
        Opt::Null => members.push(Member::Literal("kind", "null".to_owned())),
        Opt::Value(true) => members.push(Member::Literal("kind", r#""system""#.to_owned())),
        Opt::Value(false) => members.push(Member::Literal("kind", r#""Alert""#.to_owned())),
    }

    let time = if case.time_with_fraction {
        format!("{}.{}", case.time, choices.below(1000))
    } else {
        case.time.to_string()
    };
    members.push(Member::Literal("time", time));
    members.push(Member::Int("id", &case.id));
    members.push(Member::Int("sourceDevice", &case.source_device));
    members.push(Member::Int("destinationDevice", &case.destination_device));
    members.push(Member::Raw("remediationSteps", &case.remediation));
    members.push(Member::Raw("additionalInformation", &case.additional));
    let message = std::iter::once(&case.message);
    for ((canonical, alias), value) in STRING_FIELDS.iter().zip(case.strings.iter().chain(message))
    {
        let key = match alias {
            Some(alias) if choices.below(2) == 0 => alias,
            _ => canonical,
        };
        members.push(Member::Str(key, value));
    }
    for (name, value) in &case.unknown {
        // A `-` keeps unknown keys apart from every key the parser knows.
        members.push(Member::Unknown(format!("x-{name}"), value));
    }

    // Shuffle with Fisher-Yates so the required fields land anywhere.
    for i in (1..members.len()).rev() {
        let j = choices.below(i as u64 + 1) as usize;
        members.swap(i, j);
    }

    let mut w = Writer {
        out: String::new(),
        choices,
    };
    let (mut remediation, mut additional) = (None, None);
    w.ws();
    w.out.push('{');
    let mut first = true;
    let mut separator = |w: &mut Writer| {
        if !first {
            w.out.push(',');
        }
        first = false;
        w.ws();
    };

    for member in &members {
        let (key, skip) = match member {
            Member::Str(k, v) => (k.to_string(), matches!(v, Opt::Absent)),
            Member::Raw(k, v) => (k.to_string(), matches!(v, Opt::Absent)),
            Member::Int(k, v) => (k.to_string(), matches!(v, Opt::Absent)),
            Member::Literal(k, _) => (k.to_string(), false),
            Member::Unknown(k, _) => (k.clone(), false),
        };
        if skip {
            continue;
        }
        separator(&mut w);
        match member {
            Member::Unknown(..) => w.string(&key),
            _ => w.key(&key),
        }
        w.ws();
        w.out.push(':');
        w.ws();
        match member {
            Member::Str(_, Opt::Value(s)) => w.string(s),
            Member::Int(_, Opt::Value(i)) => w.out.push_str(&i.to_string()),
            Member::Raw(k, Opt::Value(j)) => {
                // `null` means absent for the raw-kept fields as well.
                let raw = Some(w.json(j)).filter(|raw| raw != "null");
                if *k == "remediationSteps" {
                    remediation = raw;
                } else {
                    additional = raw;
                }
            }
            Member::Literal(_, text) => w.out.push_str(text),
            Member::Unknown(_, j) => {
                w.json(j);
            }
            _ => w.out.push_str("null"),
        }
        w.ws();
    }
    w.out.push('}');
    w.ws();
    (w.out, remediation, additional)
}

/// The severity name in a random ASCII case.
fn severity_text(case: &Case, choices: &mut Choices) -> String {
    match choices.below(3) {
        0 => case.severity.name().to_ascii_uppercase(),
        1 => case.severity.name().to_ascii_lowercase(),
        _ => case.severity.name().to_owned(),
    }
}

fn decoded(s: Option<RawStr<'_>>) -> Option<String> {
    s.map(|s| s.to_string_lossy())
}

/// Checks the promise `RawStr` makes to the encoders.
fn check_raw_str(s: RawStr<'_>) {
    let raw = s.raw();
    assert!(std::str::from_utf8(raw).is_ok());
    assert!(raw.iter().all(|&b| b >= 0x20));
    assert_eq!(s.is_escaped(), raw.contains(&b'\\'));
}

fn check_invariants(alert: &Alert<'_>) {
    let strings = [
        Some(alert.title),
        Some(alert.engine_name),
        alert.message,
        alert.source_address,
        alert.destination_address,
        alert.protocol,
        alert.category,
        alert.source_mac,
        alert.destination_mac,
        alert.source_name,
        alert.destination_name,
        alert.uuid,
        alert.sensor_name,
    ];
    for s in strings.into_iter().flatten() {
        check_raw_str(s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parses_what_the_oracle_wrote(case in case()) {
        let (line, remediation, additional) = serialize(&case);
        let alert = match parse_alert(line.as_bytes()) {
            Ok(alert) => alert,
            Err(e) => return Err(TestCaseError::fail(format!("{e}: {line}"))),
        };
        check_invariants(&alert);

        prop_assert_eq!(alert.time_ms, case.time);
        prop_assert_eq!(alert.id, case.id.expected());
        prop_assert_eq!(alert.source_device, case.source_device.expected());
        prop_assert_eq!(alert.destination_device, case.destination_device.expected());
        prop_assert_eq!(alert.title.to_string_lossy(), case.title.clone());
        prop_assert_eq!(alert.severity, case.severity);
        prop_assert_eq!(alert.engine_name.to_string_lossy(), case.engine.clone());
        prop_assert_eq!(alert.engine, DetectionEngine::from_name(case.engine.as_bytes()));
        let kind = if matches!(case.kind, Opt::Value(true)) {
            AlertKind::System
        } else {
            AlertKind::Alert
        };
        prop_assert_eq!(alert.kind, kind);

        let got = [
            alert.source_address,
            alert.destination_address,
            alert.protocol,
            alert.category,
            alert.source_mac,
            alert.destination_mac,
            alert.source_name,
            alert.destination_name,
            alert.uuid,
            alert.sensor_name,
            alert.message,
        ];
        let want = case.strings.iter().chain(std::iter::once(&case.message));
        for ((got, want), (name, _)) in got.into_iter().zip(want).zip(STRING_FIELDS) {
            prop_assert_eq!(decoded(got), want.expected(), "field {}", name);
        }

        let raw = |r: Option<otrelay::alert::RawJson<'_>>| {
            r.map(|r| String::from_utf8_lossy(r.0).into_owned())
        };
        prop_assert_eq!(raw(alert.remediation_steps), remediation);
        prop_assert_eq!(raw(alert.additional_information), additional);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(alert) = parse_alert(&bytes) {
            check_invariants(&alert);
        }
    }

    #[test]
    fn mutated_lines_never_panic(
        case in case(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut line = serialize(&case).0.into_bytes();
        for (at, byte, op) in edits {
            let i = at.index(line.len() + 1);
            match op {
                0 => line.insert(i, byte),
                1 if i < line.len() => line[i] = byte,
                _ if i < line.len() => {
                    line.remove(i);
                }
                _ => line.push(byte),
            }
        }
        if let Ok(alert) = parse_alert(&line) {
            check_invariants(&alert);
        }
    }
}
