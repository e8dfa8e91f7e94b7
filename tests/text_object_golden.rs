//! Golden bytes for the text and object encoders: the nine spec §1.8 alerts as text (both label
//! sets) and as objects (key/value and JSON), the spec's §3.4 text sample, separators, escaping
//! and truncation.

mod spec_alerts;

use otrelay::alert::{Alert, RawStr};
use otrelay::encode::Encoded;
use otrelay::encode::object::{ObjectEncoder, ObjectOptions, ObjectStyle};
use otrelay::encode::text::{TextEncoder, TextOptions};
use otrelay::encode::time::{AlertClock, parse_timezone};
use spec_alerts::{sensor, spec_alerts};

/// Per alert, the values as the formats print them before escaping (`N/A` for missing data).
struct Golden {
    sensor: &'static str,
    zone: &'static str,
    time: &'static str,
    title: &'static str,
    engine: &'static str,
    severity: &'static str,
    source: &'static str,
    source_ip: &'static str,
    destination: &'static str,
    destination_ip: &'static str,
    protocol: &'static str,
    /// The message with its newlines already written as `\n`, which every format here uses.
    message: &'static str,
    group: &'static str,
    uuid: &'static str,
    source_mac: &'static str,
    destination_mac: &'static str,
}

const SENSOR: &str = "sensor-plant-01";

const GOLDEN: [Golden; 9] = [
    Golden {
        sensor: SENSOR,
        zone: "UTC",
        time: "Nov 05 2017 11:24:37",
        title: "Internet Access Detected",
        engine: "Policy Violation",
        severity: "Major",
        source: "192.168.0.13",
        source_ip: "192.168.0.13",
        destination: "170.60.50.201",
        destination_ip: "170.60.50.201",
        protocol: "BACnet",
        message: "Device 192.168.0.13 tried to access an external IP address which is an address \
                  in the Internet and is not allowed by policy. It is recommended to notify the \
                  security officer of the incident.",
        group: "Internet Access",
        uuid: "1-1509881077000",
        source_mac: "00:1D:9C:C7:B0:70",
        destination_mac: "N/A",
    },
    Golden {
        sensor: SENSOR,
        zone: "UTC",
        time: "Sep 17 2017 12:33:25",
        title: "Illegal MODBUS Operation (Exception Raised by Master)",
        engine: "Protocol Violation",
        severity: "Major",
        source: "HMI-2",
        source_ip: "192.168.110.131",
        destination: "PLC-7",
        destination_ip: "192.168.110.10",
        protocol: "Modbus",
        message: r"A MODBUS master 192.168.110.131 attempted to initiate an illegal operation.\nThe operation is considered to be illegal since it incorporated function code #129 which should not be used by a master.\nIt is recommended to notify the security officer of the incident.",
        group: "Illegal Commands",
        uuid: "1-1505651605000",
        source_mac: "00:80:F4:01:02:03",
        destination_mac: "00:80:F4:0A:0B:0C",
    },
    Golden {
        sensor: SENSOR,
        zone: "Europe/Moscow",
        time: "Jul 15 2020 13:17:40",
        title: "Address Scan Detected",
        engine: "Anomaly",
        severity: "Critical",
        source: "ENG-WS-3",
        source_ip: "10.10.10.22",
        destination: "N/A",
        destination_ip: "N/A",
        protocol: "ICMP",
        message: r"Address scan detected.\nScanning address: 10.10.10.22\nScanned subnet: 10.11.0.0/16\nScanned addresses: 10.11.1.1, 10.11.20.1, 10.11.20.10...\nIt is recommended to notify the security officer of the incident.",
        group: "Scan",
        uuid: "1-1594808260000",
        source_mac: "00:50:56:AA:01:16",
        destination_mac: "N/A",
    },
    Golden {
        sensor: SENSOR,
        zone: "UTC",
        time: "Jul 15 2020 10:17:25",
        title: "Traffic Detected on Sensor Interface",
        engine: "Operational",
        severity: "Warning",
        source: "N/A",
        source_ip: "N/A",
        destination: "N/A",
        destination_ip: "N/A",
        protocol: "N/A",
        message: "The sensor resumed detecting network traffic on ens224.",
        group: "Sensor traffic",
        uuid: "1-1594808245000",
        source_mac: "N/A",
        destination_mac: "N/A",
    },
    Golden {
        sensor: SENSOR,
        zone: "UTC",
        time: "Jul 15 2020 10:18:05",
        title: "Suspicion of Unresponsive MODBUS Device",
        engine: "Operational",
        severity: "Minor",
        source: "RTU-53",
        source_ip: "10.13.10.1",
        destination: "N/A",
        destination_ip: "N/A",
        protocol: "Modbus",
        message: "Outstation device 10.13.10.1 (Protocol Address 53) seems to be unresponsive to \
                  MODBUS requests.",
        group: "Unresponsive",
        uuid: "1-1594808285000",
        source_mac: "N/A",
        destination_mac: "N/A",
    },
    Golden {
        sensor: "sensor Agent",
        zone: "Europe/Moscow",
        time: "May 05 2019 15:28:54",
        title: "Device is Suspected to be Disconnected (Unresponsive)",
        engine: "Operational",
        severity: "Major",
        source: "192.168.2.2",
        source_ip: "192.168.2.2",
        destination: "N/A",
        destination_ip: "N/A",
        protocol: "N/A",
        message: "Device 192.168.2.2 is suspected to be disconnected (unresponsive).",
        group: "Unresponsive",
        uuid: "5-1557059334000",
        source_mac: "N/A",
        destination_mac: "N/A",
    },
    Golden {
        sensor: SENSOR,
        zone: "UTC",
        time: "Nov 14 2023 22:13:20",
        title: "Unauthorized PLC Programming",
        engine: "Policy Violation",
        severity: "Critical",
        source: "LAPTOP-17",
        source_ip: "10.1.1.50",
        destination: "S7-1500-A",
        destination_ip: "10.1.1.20",
        protocol: "Siemens S7",
        message: "Source device 10.1.1.50 performed a programming operation on PLC 10.1.1.20 but \
                  is not defined as a programming device.",
        group: "Programming",
        uuid: "1-1700000000000",
        source_mac: "3C:52:82:11:22:33",
        destination_mac: "00:1B:1B:44:55:66",
    },
    Golden {
        sensor: SENSOR,
        zone: "UTC",
        time: "Nov 14 2023 22:15:00",
        title: "Suspicion of Malicious Activity (Stuxnet)",
        engine: "Malware",
        severity: "Critical",
        source: "LAPTOP-17",
        source_ip: "10.1.1.50",
        destination: "HIST-01",
        destination_ip: "10.1.2.9",
        protocol: "SMB / CIFS",
        message: "Suspicious network activity was detected. This activity may be associated with \
                  an attack exploiting a method used by known malware.",
        group: "Suspicion of Malware",
        uuid: "1-1700000100000",
        source_mac: "N/A",
        destination_mac: "N/A",
    },
    Golden {
        sensor: SENSOR,
        zone: "UTC",
        time: "Nov 14 2023 22:16:40",
        title: "An S7 Stop PLC Command was Sent",
        engine: "Operational",
        severity: "Warning",
        source: "LAPTOP-17",
        source_ip: "10.1.1.50",
        destination: "S7-1500-A",
        destination_ip: "10.1.1.20",
        protocol: "Siemens S7",
        message: "Device 10.1.1.50 sent a Stop PLC command to 10.1.1.20.",
        group: "Restart/ Stop Commands",
        uuid: "1-1700000200000",
        source_mac: "N/A",
        destination_mac: "N/A",
    },
];

fn clock(zone: &str) -> AlertClock {
    AlertClock::new(parse_timezone(zone).expect("known zone"))
}

fn text(opts: &TextOptions, alert: &Alert<'_>, zone: &str, limit: usize) -> (String, Encoded) {
    let mut out = Vec::new();
    let status = TextEncoder::new(opts, &sensor(), clock(zone)).encode(alert, &mut out, limit);
    assert!(out.len() <= limit);
    (
        String::from_utf8(out).expect("text output is UTF-8"),
        status,
    )
}

fn object(opts: &ObjectOptions, alert: &Alert<'_>, zone: &str, limit: usize) -> (String, Encoded) {
    let mut out = Vec::new();
    let status = ObjectEncoder::new(opts, &sensor(), clock(zone)).encode(alert, &mut out, limit);
    assert!(out.len() <= limit);
    (
        String::from_utf8(out).expect("object output is UTF-8"),
        status,
    )
}

/// The text line for `g`; the only value of the spec alerts with a `,` is the message of alert 3.
fn text_line(g: &Golden, title_label: &str) -> String {
    let message = g.message.replace(", ", "\\, ");
    format!(
        "CyberX platform name: {}, {title_label}: {}, Type: {}, Severity: {}, Source: {}, \
         Source IP: {}, Destination: {}, Destination IP: {}, Protocol: {}, Message: {message}, \
         Alert group: {}, UUID: {}",
        g.sensor,
        g.title,
        g.engine,
        g.severity,
        g.source,
        g.source_ip,
        g.destination,
        g.destination_ip,
        g.protocol,
        g.group,
        g.uuid
    )
}

#[test]
fn spec_alerts_text() {
    for (alert, g) in spec_alerts().iter().zip(&GOLDEN) {
        let expected = text_line(g, "Microsoft Defender for IoT Alert");
        let got = text(&TextOptions::default(), alert, g.zone, 8192);
        assert_eq!(got, (expected, Encoded::Complete));
    }
}

#[test]
fn spec_alerts_text_legacy_labels() {
    let opts = TextOptions {
        legacy_labels: true,
        ..TextOptions::default()
    };
    for (alert, g) in spec_alerts().iter().zip(&GOLDEN) {
        let expected = text_line(g, "Azure Defender for IoT Alert");
        assert_eq!(
            text(&opts, alert, g.zone, 8192),
            (expected, Encoded::Complete)
        );
    }
}

/// The spec's §3.4 sample, with the §1.8 message of alert 3 rather than the shortened one the
/// sample shows, and `Protocol`, which the sample leaves out.
#[test]
fn spec_text_sample() {
    let expected = r"CyberX platform name: sensor-plant-01, Microsoft Defender for IoT Alert: Address Scan Detected, Type: Anomaly, Severity: Critical, Source: ENG-WS-3, Source IP: 10.10.10.22, Destination: N/A, Destination IP: N/A, Protocol: ICMP, Message: Address scan detected.\nScanning address: 10.10.10.22\nScanned subnet: 10.11.0.0/16\nScanned addresses: 10.11.1.1\, 10.11.20.1\, 10.11.20.10...\nIt is recommended to notify the security officer of the incident., Alert group: Scan, UUID: 1-1594808260000";
    let (s, _) = text(&TextOptions::default(), &spec_alerts()[2], "UTC", 1024);
    assert_eq!(s, expected);
}

#[test]
fn spec_alerts_object_key_value() {
    for (alert, g) in spec_alerts().iter().zip(&GOLDEN) {
        let expected = format!(
            "Sensor name: {}; Alert time: {}; Alert title: {}; Alert message: {}; \
             Alert severity: {}; Alert type: {}; Protocol: {}; Source_MAC: {}; \
             Destination_MAC: {}; alert_group: {}",
            g.sensor,
            g.time,
            g.title,
            g.message,
            g.severity,
            g.engine,
            g.protocol,
            g.source_mac,
            g.destination_mac,
            g.group
        );
        let got = object(&ObjectOptions::default(), alert, g.zone, 8192);
        assert_eq!(got, (expected, Encoded::Complete));
    }
}

#[test]
fn spec_alerts_object_json() {
    let opts = ObjectOptions {
        style: ObjectStyle::Json,
        ..ObjectOptions::default()
    };
    for (alert, g) in spec_alerts().iter().zip(&GOLDEN) {
        let expected = format!(
            r#"{{"Sensor name":"{}","Alert time":"{}","Alert title":"{}","Alert message":"{}","Alert severity":"{}","Alert type":"{}","Protocol":"{}","Source_MAC":"{}","Destination_MAC":"{}","alert_group":"{}"}}"#,
            g.sensor,
            g.time,
            g.title,
            g.message,
            g.severity,
            g.engine,
            g.protocol,
            g.source_mac,
            g.destination_mac,
            g.group
        );
        assert_eq!(
            object(&opts, alert, g.zone, 8192),
            (expected, Encoded::Complete)
        );
    }
}

/// An alert whose every string needs escaping in some format.
fn awkward() -> Alert<'static> {
    Alert {
        title: RawStr::literal("a, b; c\\d"),
        message: Some(RawStr::new(br#"l1\r\nl2\t\"q\"\u0007\u0085\u007f"#, true)),
        engine_name: RawStr::default(),
        source_address: Some(RawStr::literal("00-50-56-aa-01-16")),
        destination_address: Some(RawStr::literal("fe80::1")),
        sensor_name: Some(RawStr::literal("")),
        ..Alert::default()
    }
}

#[test]
fn text_escapes_the_separator_key_backslash_and_controls() {
    let (s, status) = text(&TextOptions::default(), &awkward(), "UTC", 1024);
    assert_eq!(status, Encoded::Complete);
    assert_eq!(
        s,
        r#"CyberX platform name: sensor-plant-01, Microsoft Defender for IoT Alert: a\, b; c\\d, Type: Other, Severity: Warning, Source: N/A, Source IP: N/A, Destination: N/A, Destination IP: fe80::1, Protocol: N/A, Message: l1\r\nl2\t"q"   , Alert group: N/A"#
    );

    let opts = TextOptions {
        separator: " | ".to_owned(),
        legacy_labels: false,
    };
    let (s, _) = text(&opts, &awkward(), "UTC", 1024);
    assert!(
        s.starts_with(
            r"CyberX platform name: sensor-plant-01 | Microsoft Defender for IoT Alert: a, b; c\\d | "
        ),
        "{s}"
    );
}

#[test]
fn object_styles_escape_their_own_way() {
    let (s, _) = object(&ObjectOptions::default(), &awkward(), "UTC", 1024);
    assert_eq!(
        s,
        r#"Sensor name: sensor-plant-01; Alert time: Jan 01 1970 00:00:00; Alert title: a, b\; c\\d; Alert message: l1\r\nl2\t"q"   ; Alert severity: Warning; Alert type: Other; Protocol: N/A; Source_MAC: 00-50-56-aa-01-16; Destination_MAC: N/A; alert_group: N/A"#
    );

    let json = ObjectOptions {
        style: ObjectStyle::Json,
        ..ObjectOptions::default()
    };
    let (s, _) = object(&json, &awkward(), "UTC", 1024);
    assert_eq!(
        s,
        r#"{"Sensor name":"sensor-plant-01","Alert time":"Jan 01 1970 00:00:00","Alert title":"a, b; c\\d","Alert message":"l1\r\nl2\t\"q\"\u0007\u0085\u007f","Alert severity":"Warning","Alert type":"Other","Protocol":"N/A","Source_MAC":"00-50-56-aa-01-16","Destination_MAC":"N/A","alert_group":"N/A"}"#
    );
}

#[test]
fn truncated_text_keeps_whole_pairs_and_escapes() {
    let alert = &spec_alerts()[2];
    let (full, _) = text(&TextOptions::default(), alert, "UTC", 8192);

    // A cut never splits `\,` or `\n`.
    for escape in [r"\,", r"\n"] {
        let at = full.find(escape).expect("escape in the message") + 1;
        let (s, status) = text(&TextOptions::default(), alert, "UTC", at);
        assert_eq!((s.as_str(), status), (&full[..at - 1], Encoded::Truncated));
    }

    // A label with no byte of its value is taken back, separator and all.
    let message = full.find(", Message: ").expect("message label");
    let limit = message + ", Message: ".len();
    let (s, status) = text(&TextOptions::default(), alert, "UTC", limit);
    assert_eq!((s.as_str(), status), (&full[..message], Encoded::Truncated));

    // `N/A` and addresses are written whole or not at all.
    let ip = full.find(", Source IP: ").expect("source IP label");
    let (s, _) = text(&TextOptions::default(), alert, "UTC", ip + 15);
    assert_eq!(s, full[..ip]);
}

#[test]
fn truncated_json_is_still_an_object() {
    let json = ObjectOptions {
        style: ObjectStyle::Json,
        ..ObjectOptions::default()
    };
    let alert = &spec_alerts()[1];
    let (full, _) = object(&json, alert, "UTC", 8192);

    // Inside the message, just after a `\n`: the string and the object are closed.
    let at = full.find(r"\n").expect("newline escape") + 2;
    let (s, status) = object(&json, alert, "UTC", at + 2);
    assert_eq!(status, Encoded::Truncated);
    assert_eq!(s, format!("{}\"}}", &full[..at]));

    // One byte short of the `\n`: it is left out, not split.
    let (s, _) = object(&json, alert, "UTC", at + 1);
    assert_eq!(s, format!("{}\"}}", &full[..at - 2]));

    // No room for the time: the object holds the sensor name only.
    let (s, _) = object(&json, alert, "UTC", 60);
    assert_eq!(s, r#"{"Sensor name":"sensor-plant-01"}"#);

    // Below two bytes nothing can be written; at two, an empty object.
    assert_eq!(
        object(&json, alert, "UTC", 1),
        (String::new(), Encoded::Truncated)
    );
    assert_eq!(
        object(&json, alert, "UTC", 2),
        ("{}".to_owned(), Encoded::Truncated)
    );
}

#[test]
fn configured_sensor_name_is_escaped_when_the_alert_has_none() {
    let mut alert = spec_alerts()[3];
    alert.sensor_name = None;
    let mut s = sensor();
    s.name = "plant \"A\", line 2\u{1}".to_owned();

    let mut out = Vec::new();
    let _ =
        TextEncoder::new(&TextOptions::default(), &s, clock("UTC")).encode(&alert, &mut out, 1024);
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(
        text.starts_with(r#"CyberX platform name: plant "A"\, line 2 , "#),
        "{text}"
    );

    let json = ObjectOptions {
        style: ObjectStyle::Json,
        ..ObjectOptions::default()
    };
    let mut out = Vec::new();
    let _ = ObjectEncoder::new(&json, &s, clock("UTC")).encode(&alert, &mut out, 1024);
    let obj = String::from_utf8(out).expect("UTF-8");
    assert!(
        obj.starts_with(r#"{"Sensor name":"plant \"A\", line 2\u0001","#),
        "{obj}"
    );
}
