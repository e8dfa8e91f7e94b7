//! Unit tests for the alert parser: the spec's sample lines, every reject reason with its offset,
//! and truncation at every byte.

use super::*;
use crate::alert::Severity;

/// The nine example alerts of spec §1.8, one per line.
const SAMPLES: &str = include_str!("../../examples/alerts.jsonl");

/// The S3 example from spec §1.1: lower-case `additionalinformation`, no protocol.
const S3_EXAMPLE: &str = r#"{"engine":"Policy Violation","severity":"Major","title":"Internet Access Detected","additionalinformation":{"information":["170.60.50.201 over port BACnet (47808)"],"description":"External Addresses"},"sourceDevice":null,"destinationDevice":null,"time":1509881077000,"message":"Device 192.168.0.13 tried to access an external IP address which is an address in the Internet and is not allowed by policy. It is recommended to notify the security officer of the incident.","id":1}"#;

/// The smallest alert that parses.
const MINIMAL: &str = r#"{"time":1,"title":"t","severity":"Minor","engine":"Malware"}"#;

fn samples() -> Vec<&'static str> {
    SAMPLES.lines().collect()
}

fn text(s: Option<RawStr<'_>>) -> Option<String> {
    s.map(|s| s.to_string_lossy())
}

fn parse(line: &str) -> Alert<'_> {
    match parse_alert(line.as_bytes()) {
        Ok(alert) => alert,
        Err(e) => panic!("{e}: {line}"),
    }
}

fn reject(line: &[u8]) -> ParseError {
    match parse_alert(line) {
        Ok(alert) => panic!("accepted {alert:?}: {}", String::from_utf8_lossy(line)),
        Err(e) => e,
    }
}

#[test]
fn spec_samples_parse() {
    let lines = samples();
    assert_eq!(lines.len(), 9);
    let alerts: Vec<Alert<'_>> = lines.iter().map(|l| parse(l)).collect();

    let a = &alerts[0];
    assert_eq!(a.id, Some(1));
    assert_eq!(a.time_ms, 1_509_881_077_000);
    assert_eq!(a.title.to_string_lossy(), "Internet Access Detected");
    assert_eq!(a.severity, Severity::Major);
    assert_eq!(a.engine, DetectionEngine::PolicyViolation);
    assert_eq!(a.engine_name.to_string_lossy(), "Policy Violation");
    assert_eq!(a.kind, AlertKind::Alert);
    assert_eq!(a.source_device, Some(12));
    assert_eq!(a.destination_device, None);
    assert_eq!(text(a.source_address).as_deref(), Some("192.168.0.13"));
    assert_eq!(
        text(a.destination_address).as_deref(),
        Some("170.60.50.201")
    );
    assert_eq!(text(a.protocol).as_deref(), Some("BACnet"));
    assert_eq!(text(a.category).as_deref(), Some("Internet Access"));
    assert_eq!(text(a.source_mac).as_deref(), Some("00:1D:9C:C7:B0:70"));
    assert_eq!(text(a.destination_mac), None);
    assert_eq!(text(a.uuid).as_deref(), Some("1-1509881077000"));
    assert_eq!(text(a.sensor_name).as_deref(), Some("sensor-plant-01"));
    assert_eq!(a.remediation_steps, Some(RawJson(b"[]")));
    let info = a.additional_information.map(|r| r.0);
    assert_eq!(
        info,
        Some(&br#"{"description":"External Addresses","information":["170.60.50.201 over port BACnet (47808)"]}"#[..])
    );

    let a = &alerts[1];
    assert_eq!(a.engine, DetectionEngine::ProtocolViolation);
    let message = text(a.message).unwrap_or_default();
    assert!(message.starts_with("A MODBUS master 192.168.110.131 attempted"));
    assert_eq!(message.lines().count(), 3, "escaped newlines decode");
    assert!(a.message.is_some_and(|m| m.is_escaped()));
    assert_eq!(a.additional_information, None);
    assert_eq!(text(a.destination_name).as_deref(), Some("PLC-7"));

    let a = &alerts[2];
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.engine, DetectionEngine::Anomaly);
    assert_eq!(
        a.remediation_steps,
        Some(RawJson(br#"["Verify the scanning device is authorized."]"#))
    );
    assert_eq!(text(a.destination_name), None);

    let a = &alerts[3];
    assert_eq!(a.severity, Severity::Warning);
    assert_eq!(a.engine, DetectionEngine::Operational);
    assert_eq!((a.source_device, a.destination_device), (Some(0), Some(0)));
    assert_eq!(text(a.protocol), None);
    assert_eq!(text(a.source_address), None);
    assert_eq!(text(a.category).as_deref(), Some("Sensor traffic"));

    let a = &alerts[4];
    assert_eq!(a.severity, Severity::Minor);
    assert_eq!(a.source_device, Some(194));
    assert_eq!(text(a.source_name).as_deref(), Some("RTU-53"));

    let a = &alerts[5];
    assert_eq!(a.time_ms, 1_557_059_334_000);
    assert_eq!(text(a.uuid).as_deref(), Some("5-1557059334000"));
    assert_eq!(text(a.sensor_name).as_deref(), Some("sensor Agent"));

    let a = &alerts[6];
    assert_eq!(a.engine, DetectionEngine::PolicyViolation);
    assert_eq!(text(a.protocol).as_deref(), Some("Siemens S7"));
    assert_eq!(
        text(a.destination_mac).as_deref(),
        Some("00:1B:1B:44:55:66")
    );

    let a = &alerts[7];
    assert_eq!(a.engine, DetectionEngine::Malware);
    assert_eq!(text(a.protocol).as_deref(), Some("SMB / CIFS"));
    assert_eq!(text(a.destination_name).as_deref(), Some("HIST-01"));

    let a = &alerts[8];
    assert_eq!(a.id, Some(9));
    assert_eq!(a.title.to_string_lossy(), "An S7 Stop PLC Command was Sent");
    assert_eq!(text(a.category).as_deref(), Some("Restart/ Stop Commands"));
}

#[test]
fn s3_example_parses() {
    let a = parse(S3_EXAMPLE);
    assert_eq!(a.id, Some(1));
    assert_eq!(a.severity, Severity::Major);
    assert_eq!(a.engine, DetectionEngine::PolicyViolation);
    assert_eq!(a.protocol, None);
    assert_eq!(a.source_device, None);
    let info = a.additional_information.map(|r| r.0).unwrap_or_default();
    assert!(info.starts_with(br#"{"information":["#));
    assert!(info.ends_with(br#""External Addresses"}"#));
}

#[test]
fn whitespace_case_aliases_and_kinds() {
    let line = " \t{ \"TIME\" : 1.7e12 , \"Title\":\"x\\u00e9\\ud83d\\ude00\",\r\n\
                \"SEVERITY\":\"critical\",\"engine\":\"POLICY_VIOLATION\",\"alertGroup\":\"Scan\",\
                \"sourceDeviceMac\":\"aa\",\"destinationDeviceMac\":\"bb\",\"kind\":\"System\",\
                \"extra\":{\"a\":[1,2,{\"b\":null}],\"c\":\"}\"},\"remediationSteps\":\"old\"}\r";
    let a = parse(line);
    assert_eq!(a.time_ms, 1_700_000_000_000);
    assert_eq!(a.title.to_string_lossy(), "x\u{e9}\u{1F600}");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.engine, DetectionEngine::PolicyViolation);
    assert_eq!(a.engine_name.to_string_lossy(), "POLICY_VIOLATION");
    assert_eq!(text(a.category).as_deref(), Some("Scan"));
    assert_eq!(text(a.source_mac).as_deref(), Some("aa"));
    assert_eq!(text(a.destination_mac).as_deref(), Some("bb"));
    assert_eq!(a.kind, AlertKind::System);
    assert_eq!(a.remediation_steps, Some(RawJson(br#""old""#)));

    let a = parse(r#"{"time":1,"title":"t","severity":"Minor","engine":"Quantum","kind":null}"#);
    assert_eq!(a.engine, DetectionEngine::Other);
    assert_eq!(a.kind, AlertKind::Alert);
    let a = parse(r#"{"time":2,"title":"t","severity":"Minor","engine":"Mal\u0077are"}"#);
    assert_eq!(a.engine, DetectionEngine::Malware);
    assert_eq!(a.engine_name.to_string_lossy(), "Malware");
}

#[test]
fn not_utf8_offset() {
    let mut line = MINIMAL.as_bytes().to_vec();
    line[22] = 0xFF;
    let e = reject(&line);
    assert_eq!((e.reason, e.offset), (RejectReason::NotUtf8, 22));
    assert_eq!(e.to_string(), "invalid UTF-8 at byte 22");
}

#[test]
fn invalid_json_offsets() {
    let cases: [(&str, usize, &str); 12] = [
        ("", 0, "expected '{' at the start of the alert"),
        ("[]", 0, "expected '{' at the start of the alert"),
        (r#"{"time" 1}"#, 8, "expected ':' after key"),
        (r#"{time:1}"#, 1, "expected a key"),
        (r#"{"time":1,}"#, 10, "expected a key"),
        (
            r#"{"time":1 "title":"t"}"#,
            10,
            "expected ',' or '}' after a value",
        ),
        (r#"{"time":01}"#, 9, "expected ',' or '}' after a value"),
        (r#"{"title":"a\qb"}"#, 11, "invalid escape"),
        (
            r#"{"title":"\udc00"}"#,
            10,
            "unpaired surrogate in \\u escape",
        ),
        (r#"{"x":[1,2}"#, 9, "expected ',' or ']' in array"),
        (r#"{"x":tru}"#, 5, "invalid literal"),
        (r#"{"x":1} x"#, 8, "unexpected data after the alert object"),
    ];
    for (line, offset, detail) in cases {
        let e = reject(line.as_bytes());
        assert_eq!(e.reason, RejectReason::InvalidJson, "{line}: {e}");
        assert_eq!(
            (e.offset, e.detail, e.field),
            (offset, detail, None),
            "{line}"
        );
    }

    let e = reject(b"{\"title\":\"a\tb\"}");
    assert_eq!((e.reason, e.offset), (RejectReason::InvalidJson, 11));
    assert_eq!(
        e.to_string(),
        "invalid JSON at byte 11: control character in string"
    );

    let e = reject(br#"{"title":x}"#);
    assert_eq!((e.reason, e.offset), (RejectReason::InvalidJson, 9));

    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(70), "]".repeat(70));
    let e = reject(deep.as_bytes());
    assert_eq!((e.reason, e.offset), (RejectReason::InvalidJson, 5 + 62));
}

#[test]
fn missing_fields() {
    let cases = [
        (r#"{}"#, "time", 1),
        (
            r#"{"time":null,"title":"t","severity":"Minor","engine":"e"}"#,
            "time",
            56,
        ),
        (r#"{"time":1,"severity":"Minor","engine":"e"}"#, "title", 41),
        (r#"{"time":1,"title":"t","engine":"e"}"#, "severity", 34),
        (r#"{"time":1,"title":"t","severity":"Minor"}"#, "engine", 40),
    ];
    for (line, field, offset) in cases {
        let e = reject(line.as_bytes());
        assert_eq!(e.reason, RejectReason::MissingField, "{line}");
        assert_eq!((e.field, e.offset), (Some(field), offset), "{line}");
    }
    let e = reject(b"{}");
    assert_eq!(e.to_string(), "missing field `time`");
}

#[test]
fn unknown_severity() {
    let line = r#"{"time":1,"title":"t","severity":"High","engine":"e"}"#;
    let e = reject(line.as_bytes());
    assert_eq!(e.reason, RejectReason::UnknownSeverity);
    assert_eq!((e.offset, e.field), (33, Some("severity")));
    assert_eq!(e.to_string(), "unknown severity at byte 33");
}

#[test]
fn wrong_types() {
    let cases = [
        (
            r#"{"time":"1"}"#,
            "time",
            8,
            "field `time` must be a number",
        ),
        (
            r#"{"time":-5}"#,
            "time",
            8,
            "field `time` must be a non-negative number",
        ),
        (
            r#"{"time":1e30}"#,
            "time",
            8,
            "field `time` must be an integer within 64 bits",
        ),
        (
            r#"{"title":5}"#,
            "title",
            9,
            "field `title` must be a string",
        ),
        (
            r#"{"severity":["Major"]}"#,
            "severity",
            12,
            "field `severity` must be a string",
        ),
        (r#"{"id":true}"#, "id", 6, "field `id` must be a number"),
        (
            r#"{"sourceDevice":"3"}"#,
            "sourceDevice",
            16,
            "field `sourceDevice` must be a number",
        ),
        (
            r#"{"alertGroup":{}}"#,
            "category",
            14,
            "field `category` must be a string",
        ),
        (
            r#"{"kind":"other"}"#,
            "kind",
            8,
            "field `kind` must be \"system\" or \"alert\"",
        ),
    ];
    for (line, field, offset, display) in cases {
        let e = reject(line.as_bytes());
        assert_eq!(e.reason, RejectReason::WrongType, "{line}");
        assert_eq!((e.field, e.offset), (Some(field), offset), "{line}");
        assert_eq!(e.to_string(), display);
    }
}

#[test]
fn duplicate_keys() {
    let cases = [
        (r#"{"time":1,"time":2}"#, "time", 10),
        (r#"{"category":"a","alertGroup":"b"}"#, "category", 16),
        (r#"{"protocol":null,"PROTOCOL":"x"}"#, "protocol", 17),
        (r#"{"title":"a","ti\u0074le":"b"}"#, "title", 13),
    ];
    for (line, field, offset) in cases {
        let e = reject(line.as_bytes());
        assert_eq!(e.reason, RejectReason::DuplicateKey, "{line}");
        assert_eq!((e.field, e.offset), (Some(field), offset), "{line}");
    }
    // Repeated unknown keys are not tracked.
    let line = r#"{"x":1,"x":2,"time":1,"title":"t","severity":"Minor","engine":"e"}"#;
    assert!(parse_alert(line.as_bytes()).is_ok());
}

#[test]
fn every_truncation_is_rejected() {
    for line in samples().into_iter().chain([S3_EXAMPLE, MINIMAL]) {
        let bytes = line.as_bytes();
        for cut in 0..bytes.len() {
            assert!(
                parse_alert(&bytes[..cut]).is_err(),
                "accepted prefix {cut} of {line}"
            );
        }
    }
}

#[test]
fn reject_reason_table() {
    for (i, reason) in RejectReason::ALL.into_iter().enumerate() {
        assert_eq!(reason.index(), i);
        assert!(
            reason
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }
    assert_eq!(RejectReason::ALL.len(), RejectReason::COUNT);
    assert_eq!(RejectReason::WrongType.name(), "wrong_type");
    assert_eq!(ParseError::too_long(8192).reason, RejectReason::TooLong);
}

#[test]
fn key_order_spelling_and_spacing_do_not_change_the_alert() {
    // The parser predicts the documented key order; every other order, spelling or spacing
    // must give the same alert through the general path, and resume prediction after it.
    let members: Vec<String> = keys::ORDER
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let name = std::str::from_utf8(key.text).unwrap();
            let value = match key.field {
                Field::Time | Field::Id | Field::SourceDevice | Field::DestinationDevice => {
                    format!("{}", 1000 + i)
                }
                Field::Severity => "\"Major\"".to_string(),
                Field::Engine => "\"Malware\"".to_string(),
                Field::RemediationSteps => "[\"a\",\"b\"]".to_string(),
                Field::AdditionalInformation => "{\"k\":[1,2]}".to_string(),
                _ => format!("\"v{i}\""),
            };
            format!("{name}{value}")
        })
        .collect();
    let line = |m: &[String]| format!("{{{}}}", m.join(","));
    let reference = format!("{:?}", parse(&line(&members)));

    let mut reversed = members.clone();
    reversed.reverse();
    let mut rotated = members.clone();
    rotated.rotate_left(7);
    let mut with_unknown = members.clone();
    for at in [0, 5, 12, 20] {
        with_unknown.insert(at, format!("\"extra{at}\":{{\"title\":\"no\"}}"));
    }
    let shouting: Vec<String> = members
        .iter()
        .map(|m| {
            let colon = m.find("\":").unwrap();
            format!("{}{}", m[..colon].to_uppercase(), &m[colon..])
        })
        .collect();
    let spaced: Vec<String> = members
        .iter()
        .map(|m| m.replacen("\":", "\" : ", 1))
        .collect();
    let mut skipped = members.clone();
    skipped.retain(|m| !m.starts_with("\"message\"") && !m.starts_with("\"uuid\""));

    for variant in [reversed, rotated, with_unknown, shouting, spaced] {
        let text = line(&variant);
        assert_eq!(format!("{:?}", parse(&text)), reference, "{text}");
    }
    let fewer_text = line(&skipped);
    let fewer = parse(&fewer_text);
    assert!(fewer.message.is_none() && fewer.uuid.is_none());
    assert_eq!(fewer.title.to_string_lossy(), "v2");

    // A predicted key seen again is still a duplicate.
    let mut twice = members.clone();
    twice.insert(3, members[2].clone());
    assert_eq!(
        reject(line(&twice).as_bytes()).reason,
        RejectReason::DuplicateKey
    );
}
