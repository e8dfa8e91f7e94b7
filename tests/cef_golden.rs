//! Golden bytes for the CEF encoder and the syslog header: the nine spec §1.8 alerts in both
//! flavors, the spec's §3.2 reference line, and the RFC 3164 / RFC 5424 envelopes.

mod spec_alerts;

use otrelay::alert::{Alert, RawStr};
use otrelay::encode::Encoded;
use otrelay::encode::cef::{CefEncoder, CefFlavor, CefOptions};
use otrelay::encode::syslog::{HeaderOptions, HeaderStyle, SyslogHeader};
use otrelay::encode::time::{AlertClock, parse_timezone};
use spec_alerts::{raw, sensor, spec_alerts};

/// Per alert: time zone, Microsoft product, title field, severity number, the documented
/// extension, and the standard keys the NetWitness flavor appends.
struct Golden {
    zone: &'static str,
    product: &'static str,
    title: &'static str,
    severity: &'static str,
    documented: &'static str,
    standard: &'static str,
}

const GOLDEN: [Golden; 9] = [
    Golden {
        zone: "UTC",
        product: "sensor-plant-01",
        title: "Internet Access Detected",
        severity: "8",
        documented: "msg=Device 192.168.0.13 tried to access an external IP address which is an \
            address in the Internet and is not allowed by policy. It is recommended to notify the \
            security officer of the incident. protocol=BACnet severity=Major \
            type=Policy Violation UUID=1-1509881077000 start=Nov 05 2017 11:24:37 \
            src_ip=192.168.0.13 src_mac=00:1D:9C:C7:B0:70 dst_ip=170.60.50.201 \
            cat=Internet Access",
        standard: "rt=1509881077000 src=192.168.0.13 dst=170.60.50.201 smac=00:1D:9C:C7:B0:70 \
            shost=192.168.0.13 dhost=170.60.50.201 app=BACnet externalId=1-1509881077000 \
            dvchost=sensor-plant-01",
    },
    Golden {
        zone: "UTC",
        product: "sensor-plant-01",
        title: "Illegal MODBUS Operation (Exception Raised by Master)",
        severity: "8",
        documented: r"msg=A MODBUS master 192.168.110.131 attempted to initiate an illegal operation.\nThe operation is considered to be illegal since it incorporated function code #129 which should not be used by a master.\nIt is recommended to notify the security officer of the incident. protocol=Modbus severity=Major type=Protocol Violation UUID=1-1505651605000 start=Sep 17 2017 12:33:25 src_ip=192.168.110.131 src_mac=00:80:F4:01:02:03 dst_ip=192.168.110.10 dst_mac=00:80:F4:0A:0B:0C cat=Illegal Commands",
        standard: "rt=1505651605000 src=192.168.110.131 dst=192.168.110.10 \
            smac=00:80:F4:01:02:03 dmac=00:80:F4:0A:0B:0C shost=HMI-2 dhost=PLC-7 app=Modbus \
            externalId=1-1505651605000 dvchost=sensor-plant-01",
    },
    Golden {
        zone: "Europe/Moscow",
        product: "sensor-plant-01",
        title: "Address Scan Detected",
        severity: "10",
        documented: r"msg=Address scan detected.\nScanning address: 10.10.10.22\nScanned subnet: 10.11.0.0/16\nScanned addresses: 10.11.1.1, 10.11.20.1, 10.11.20.10...\nIt is recommended to notify the security officer of the incident. protocol=ICMP severity=Critical type=Anomaly UUID=1-1594808260000 start=Jul 15 2020 13:17:40 src_ip=10.10.10.22 src_mac=00:50:56:AA:01:16 cat=Scan",
        standard: "rt=1594808260000 src=10.10.10.22 smac=00:50:56:AA:01:16 shost=ENG-WS-3 \
            app=ICMP externalId=1-1594808260000 dvchost=sensor-plant-01",
    },
    Golden {
        zone: "UTC",
        product: "sensor-plant-01",
        title: "Traffic Detected on Sensor Interface",
        severity: "1",
        documented: "msg=The sensor resumed detecting network traffic on ens224. \
            severity=Warning type=Operational UUID=1-1594808245000 start=Jul 15 2020 10:17:25 \
            cat=Sensor traffic",
        standard: "rt=1594808245000 externalId=1-1594808245000 dvchost=sensor-plant-01",
    },
    Golden {
        zone: "UTC",
        product: "sensor-plant-01",
        title: "Suspicion of Unresponsive MODBUS Device",
        severity: "4",
        documented: "msg=Outstation device 10.13.10.1 (Protocol Address 53) seems to be \
            unresponsive to MODBUS requests. protocol=Modbus severity=Minor type=Operational \
            UUID=1-1594808285000 start=Jul 15 2020 10:18:05 src_ip=10.13.10.1 cat=Unresponsive",
        standard: "rt=1594808285000 src=10.13.10.1 shost=RTU-53 app=Modbus \
            externalId=1-1594808285000 dvchost=sensor-plant-01",
    },
    Golden {
        zone: "UTC",
        product: "sensor Agent",
        title: "Device is Suspected to be Disconnected (Unresponsive)",
        severity: "8",
        documented: "msg=Device 192.168.2.2 is suspected to be disconnected (unresponsive). \
            severity=Major type=Operational UUID=5-1557059334000 start=May 05 2019 12:28:54 \
            src_ip=192.168.2.2 cat=Unresponsive",
        standard: "rt=1557059334000 src=192.168.2.2 shost=192.168.2.2 \
            externalId=5-1557059334000 dvchost=sensor-plant-01",
    },
    Golden {
        zone: "UTC",
        product: "sensor-plant-01",
        title: "Unauthorized PLC Programming",
        severity: "10",
        documented: "msg=Source device 10.1.1.50 performed a programming operation on PLC \
            10.1.1.20 but is not defined as a programming device. protocol=Siemens S7 \
            severity=Critical type=Policy Violation UUID=1-1700000000000 \
            start=Nov 14 2023 22:13:20 src_ip=10.1.1.50 src_mac=3C:52:82:11:22:33 \
            dst_ip=10.1.1.20 dst_mac=00:1B:1B:44:55:66 cat=Programming",
        standard: "rt=1700000000000 src=10.1.1.50 dst=10.1.1.20 smac=3C:52:82:11:22:33 \
            dmac=00:1B:1B:44:55:66 shost=LAPTOP-17 dhost=S7-1500-A app=Siemens S7 \
            externalId=1-1700000000000 dvchost=sensor-plant-01",
    },
    Golden {
        zone: "UTC",
        product: "sensor-plant-01",
        title: "Suspicion of Malicious Activity (Stuxnet)",
        severity: "10",
        documented: "msg=Suspicious network activity was detected. This activity may be \
            associated with an attack exploiting a method used by known malware. \
            protocol=SMB / CIFS severity=Critical type=Malware UUID=1-1700000100000 \
            start=Nov 14 2023 22:15:00 src_ip=10.1.1.50 dst_ip=10.1.2.9 \
            cat=Suspicion of Malware",
        standard: "rt=1700000100000 src=10.1.1.50 dst=10.1.2.9 shost=LAPTOP-17 dhost=HIST-01 \
            app=SMB / CIFS externalId=1-1700000100000 dvchost=sensor-plant-01",
    },
    Golden {
        zone: "UTC",
        product: "sensor-plant-01",
        title: "An S7 Stop PLC Command was Sent",
        severity: "1",
        documented: "msg=Device 10.1.1.50 sent a Stop PLC command to 10.1.1.20. \
            protocol=Siemens S7 severity=Warning type=Operational UUID=1-1700000200000 \
            start=Nov 14 2023 22:16:40 src_ip=10.1.1.50 dst_ip=10.1.1.20 \
            cat=Restart/ Stop Commands",
        standard: "rt=1700000200000 src=10.1.1.50 dst=10.1.1.20 shost=LAPTOP-17 \
            dhost=S7-1500-A app=Siemens S7 externalId=1-1700000200000 dvchost=sensor-plant-01",
    },
];

fn encoder(flavor: CefFlavor, zone: &str) -> CefEncoder {
    let clock = AlertClock::new(parse_timezone(zone).expect("known zone"));
    let opts = CefOptions {
        flavor,
        field_limits: true,
        ..CefOptions::default()
    };
    CefEncoder::new(&opts, &sensor(), clock)
}

fn encode(enc: &mut CefEncoder, alert: &Alert<'_>, limit: usize) -> (String, Encoded) {
    let mut out = Vec::new();
    let status = enc.encode(alert, &mut out, limit);
    assert!(out.len() <= limit);
    (String::from_utf8(out).expect("CEF output is UTF-8"), status)
}

#[test]
fn spec_alerts_microsoft_flavor() {
    for (alert, g) in spec_alerts().iter().zip(&GOLDEN) {
        let mut enc = encoder(CefFlavor::Microsoft, g.zone);
        let expected = format!(
            "CEF:0|Microsoft Defender for IoT|{}|24.1.5|Microsoft Defender for IoT Alert|{}|{}|{}",
            g.product, g.title, g.severity, g.documented
        );
        assert_eq!(encode(&mut enc, alert, 8192), (expected, Encoded::Complete));
    }
}

#[test]
fn spec_alerts_netwitness_flavor() {
    for (alert, g) in spec_alerts().iter().zip(&GOLDEN) {
        let mut enc = encoder(CefFlavor::NetWitness, g.zone);
        let expected = format!(
            "CEF:0|CyberX|CyberX platform|24.1.5|CyberX platform Alert|{}|{}|{} {}",
            g.title, g.severity, g.documented, g.standard
        );
        assert_eq!(encode(&mut enc, alert, 8192), (expected, Encoded::Complete));
    }
}

/// The spec's reference line (§3.2), with the syslog header, except that the message is the
/// §1.8 message of alert 3 rather than the shortened one the reference shows.
#[test]
fn spec_reference_line() {
    const REFERENCE: &str = r"<9>Jul 15 10:17:41 sensor-plant-01 CEF:0|Microsoft Defender for IoT|sensor-plant-01|24.1.5|Microsoft Defender for IoT Alert|Address Scan Detected|10|msg=Address scan detected.\nScanning address: 10.10.10.22\nScanned subnet: 10.11.0.0/16\nIt is recommended to notify the security officer of the incident. protocol=ICMP severity=Critical type=Anomaly UUID=1-1594808260000 start=Jul 15 2020 13:17:40 src_ip=10.10.10.22 src_mac=00:50:56:AA:01:16 cat=Scan";
    let expected = REFERENCE.replace(
        r"10.11.0.0/16\nIt",
        r"10.11.0.0/16\nScanned addresses: 10.11.1.1, 10.11.20.1, 10.11.20.10...\nIt",
    );

    let mut header = SyslogHeader::new(&HeaderOptions {
        hostname: "sensor-plant-01".to_owned(),
        ..HeaderOptions::default()
    })
    .expect("valid header");
    let mut enc = encoder(CefFlavor::Microsoft, "Europe/Moscow");
    let mut out = Vec::new();
    header.write(1594808261, &mut out);
    let status = enc.encode(&spec_alerts()[2], &mut out, 1024);
    assert_eq!(status, Encoded::Complete);
    assert_eq!(String::from_utf8(out).expect("UTF-8"), expected);
}

#[test]
fn options_override_the_header_strings() {
    let opts = CefOptions {
        flavor: CefFlavor::Microsoft,
        vendor: Some("Ven|dor".to_owned()),
        product: Some(r"Pro\duct".to_owned()),
        version: Some("9.9".to_owned()),
        event_class: Some("Class\nX".to_owned()),
        field_limits: true,
    };
    let clock = AlertClock::new(parse_timezone("UTC").expect("UTC"));
    let mut enc = CefEncoder::new(&opts, &sensor(), clock);
    let alert = Alert {
        title: RawStr::literal("T|t"),
        engine_name: RawStr::literal("Quantum"),
        ..Alert::default()
    };
    let (s, status) = encode(&mut enc, &alert, 1024);
    assert_eq!(status, Encoded::Complete);
    assert_eq!(
        s,
        r"CEF:0|Ven\|dor|Pro\\duct|9.9|Class X|T\|t|1|severity=Warning type=Quantum start=Jan 01 1970 00:00:00"
    );
}

#[test]
fn address_fields_hold_ips_or_macs() {
    let mut enc = encoder(CefFlavor::NetWitness, "UTC");
    let alert = Alert {
        title: raw("t"),
        engine_name: raw("Anomaly"),
        source_address: Some(raw("00:50:56:aa:01:16")),
        destination_address: Some(raw("fe80::1")),
        ..Alert::default()
    };
    let (s, _) = encode(&mut enc, &alert, 1024);
    assert!(
        s.contains(" src_mac=00:50:56:aa:01:16 dst_ip=fe80::1 "),
        "{s}"
    );
    assert!(
        s.contains(" dst=fe80::1 smac=00:50:56:aa:01:16 dvchost="),
        "{s}"
    );
    assert!(!s.contains("src_ip="), "{s}");

    // An explicit MAC wins; an address that is neither goes nowhere.
    let alert = Alert {
        source_address: Some(raw("00:50:56:aa:01:16")),
        source_mac: Some(raw("11:22:33:44:55:66")),
        destination_address: Some(raw("PLC-7")),
        ..alert
    };
    let (s, _) = encode(&mut enc, &alert, 1024);
    assert!(s.contains(" src_mac=11:22:33:44:55:66 rt="), "{s}");
    assert!(
        !s.contains("00:50:56") && !s.contains("PLC-7") && !s.contains("dst"),
        "{s}"
    );
}

#[test]
fn truncation_cuts_the_extension_then_the_title() {
    let alerts = spec_alerts();
    let mut enc = encoder(CefFlavor::Microsoft, "UTC");
    let head = "CEF:0|Microsoft Defender for IoT|sensor-plant-01|24.1.5|\
                Microsoft Defender for IoT Alert|";

    // Cut inside the message: the escape `\n` is never split.
    let full = encode(&mut enc, &alerts[1], 8192).0;
    let at = full.find(r"\n").expect("message has a newline") + 1;
    let (s, status) = encode(&mut enc, &alerts[1], at);
    assert_eq!(status, Encoded::Truncated);
    assert_eq!(s, full[..at - 1]);

    // Room for the header and `msg=` only: the key is taken back.
    let header = format!("{head}Illegal MODBUS Operation (Exception Raised by Master)|8|");
    let (s, status) = encode(&mut enc, &alerts[1], header.len() + 4);
    assert_eq!((s.as_str(), status), (header.as_str(), Encoded::Truncated));

    // Less than the header: the title is cut, the severity kept.
    let (s, status) = encode(&mut enc, &alerts[1], head.len() + 7 + 3);
    assert_eq!(status, Encoded::Truncated);
    assert_eq!(s, format!("{head}Illegal|8|"));
}

fn header(style: HeaderStyle) -> SyslogHeader {
    SyslogHeader::new(&HeaderOptions {
        style,
        hostname: "sensor Agent".to_owned(),
        app_name: "otrelay".to_owned(),
        ..HeaderOptions::default()
    })
    .expect("valid header")
}

fn render(h: &mut SyslogHeader, secs: i64) -> String {
    let mut out = Vec::new();
    h.write(secs, &mut out);
    assert_eq!(out.len(), h.max_len());
    String::from_utf8(out).expect("ASCII")
}

#[test]
fn rfc3164_header_pads_the_day_with_a_space() {
    let mut h = header(HeaderStyle::Rfc3164);
    // 2020-07-05T10:17:41Z and 2020-07-15T10:17:41Z.
    assert_eq!(
        render(&mut h, 1593944261),
        "<9>Jul  5 10:17:41 sensor_Agent "
    );
    assert_eq!(
        render(&mut h, 1594808261),
        "<9>Jul 15 10:17:41 sensor_Agent "
    );
}

#[test]
fn rfc5424_header() {
    let mut h = header(HeaderStyle::Rfc5424);
    assert_eq!(
        render(&mut h, 1593944261),
        "<9>1 2020-07-05T10:17:41Z sensor_Agent otrelay - - - "
    );
    let mut nil_app = SyslogHeader::new(&HeaderOptions {
        style: HeaderStyle::Rfc5424,
        app_name: String::new(),
        ..HeaderOptions::default()
    })
    .expect("valid header");
    assert_eq!(
        render(&mut nil_app, 0),
        "<9>1 1970-01-01T00:00:00Z sensor - - - - "
    );
}

#[test]
fn header_cache_is_per_second() {
    let mut h = header(HeaderStyle::Rfc3164);
    let first = render(&mut h, 1593944261);
    assert_eq!(render(&mut h, 1593944261), first);
    assert_eq!(
        render(&mut h, 1593944262),
        "<9>Jul  5 10:17:42 sensor_Agent "
    );
    // Going back in time (a clock step) renders again rather than reusing the cache.
    assert_eq!(render(&mut h, 1593944261), first);
}

#[test]
fn standard_keys_are_cut_to_the_cef_maximum_lengths() {
    let mut enc = encoder(CefFlavor::NetWitness, "UTC");
    let message = format!("{}\\n{}", "é".repeat(1000), "x".repeat(100));
    let protocol = "P".repeat(40);
    let uuid = "u".repeat(50);
    let alert = Alert {
        title: raw("t"),
        engine_name: raw("Anomaly"),
        message: Some(RawStr::new(message.as_bytes(), true)),
        protocol: Some(RawStr::literal(&protocol)),
        uuid: Some(RawStr::literal(&uuid)),
        ..Alert::default()
    };
    let (s, status) = encode(&mut enc, &alert, 65536);
    assert_eq!(status, Encoded::Complete);

    // 1000 é, the escaped newline (one character, two bytes) and 22 x: 1023 characters.
    let msg = format!("msg={}\\n{} ", "é".repeat(1000), "x".repeat(22));
    assert!(s.contains(&msg), "{s}");
    // The sensor's own keys stay whole; the standard ones are cut.
    assert!(s.contains(&format!(" protocol={protocol} ")), "{s}");
    assert!(s.contains(&format!(" app={} ", "P".repeat(31))), "{s}");
    assert!(s.contains(&format!(" UUID={uuid} ")), "{s}");
    assert!(
        s.contains(&format!(" externalId={} ", "u".repeat(40))),
        "{s}"
    );

    // Without field limits everything stays whole.
    let opts = CefOptions {
        flavor: CefFlavor::NetWitness,
        ..CefOptions::default()
    };
    let clock = AlertClock::new(parse_timezone("UTC").expect("UTC"));
    let mut unlimited = CefEncoder::new(&opts, &sensor(), clock);
    let (s, _) = encode(&mut unlimited, &alert, 65536);
    assert!(s.contains(&format!(" app={protocol} ")), "{s}");
    assert!(s.contains(&format!("{} protocol=", "x".repeat(100))), "{s}");
}
