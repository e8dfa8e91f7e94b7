//! The nine example alerts of the domain spec (§1.8) as parsed `Alert` values, for the encoder
//! tests and benches. String fields hold the raw JSON-escaped bytes of the spec lines, exactly as
//! the parser would hand them over.

#![allow(dead_code)]

use otrelay::alert::{Alert, DetectionEngine, RawJson, RawStr, SensorIdentity, Severity};

/// A raw JSON string body, as the parser would wrap it.
pub fn raw(s: &'static str) -> RawStr<'static> {
    RawStr::new(s.as_bytes(), s.contains('\\'))
}

fn opt(s: &'static str) -> Option<RawStr<'static>> {
    Some(raw(s))
}

/// The sensor the examples come from.
pub fn sensor() -> SensorIdentity {
    SensorIdentity {
        name: "sensor-plant-01".to_owned(),
        hostname: "sensor-plant-01".to_owned(),
        version: "24.1.5".to_owned(),
    }
}

/// Alerts 1 to 9 of spec §1.8, in order.
pub fn spec_alerts() -> Vec<Alert<'static>> {
    use DetectionEngine as E;
    use Severity as S;

    let no_steps = Some(RawJson(b"[]"));
    vec![
        Alert {
            id: Some(1),
            time_ms: 1509881077000,
            title: raw("Internet Access Detected"),
            message: opt("Device 192.168.0.13 tried to access an external IP address which is an \
                          address in the Internet and is not allowed by policy. It is recommended \
                          to notify the security officer of the incident."),
            severity: S::Major,
            engine: E::PolicyViolation,
            engine_name: raw("Policy Violation"),
            source_device: Some(12),
            source_address: opt("192.168.0.13"),
            destination_address: opt("170.60.50.201"),
            remediation_steps: no_steps,
            additional_information: Some(RawJson(
                br#"{"description":"External Addresses","information":["170.60.50.201 over port BACnet (47808)"]}"#,
            )),
            protocol: opt("BACnet"),
            category: opt("Internet Access"),
            source_mac: opt("00:1D:9C:C7:B0:70"),
            source_name: opt("192.168.0.13"),
            destination_name: opt("170.60.50.201"),
            uuid: opt("1-1509881077000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
        Alert {
            id: Some(2),
            time_ms: 1505651605000,
            title: raw("Illegal MODBUS Operation (Exception Raised by Master)"),
            message: opt(r"A MODBUS master 192.168.110.131 attempted to initiate an illegal operation.\nThe operation is considered to be illegal since it incorporated function code #129 which should not be used by a master.\nIt is recommended to notify the security officer of the incident."),
            severity: S::Major,
            engine: E::ProtocolViolation,
            engine_name: raw("Protocol Violation"),
            source_device: Some(3),
            destination_device: Some(4),
            source_address: opt("192.168.110.131"),
            destination_address: opt("192.168.110.10"),
            remediation_steps: no_steps,
            protocol: opt("Modbus"),
            category: opt("Illegal Commands"),
            source_mac: opt("00:80:F4:01:02:03"),
            destination_mac: opt("00:80:F4:0A:0B:0C"),
            source_name: opt("HMI-2"),
            destination_name: opt("PLC-7"),
            uuid: opt("1-1505651605000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
        Alert {
            id: Some(3),
            time_ms: 1594808260000,
            title: raw("Address Scan Detected"),
            message: opt(r"Address scan detected.\nScanning address: 10.10.10.22\nScanned subnet: 10.11.0.0/16\nScanned addresses: 10.11.1.1, 10.11.20.1, 10.11.20.10...\nIt is recommended to notify the security officer of the incident."),
            severity: S::Critical,
            engine: E::Anomaly,
            engine_name: raw("Anomaly"),
            source_device: Some(4),
            source_address: opt("10.10.10.22"),
            remediation_steps: Some(RawJson(br#"["Verify the scanning device is authorized."]"#)),
            protocol: opt("ICMP"),
            category: opt("Scan"),
            source_mac: opt("00:50:56:AA:01:16"),
            source_name: opt("ENG-WS-3"),
            uuid: opt("1-1594808260000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
        Alert {
            id: Some(4),
            time_ms: 1594808245000,
            title: raw("Traffic Detected on Sensor Interface"),
            message: opt("The sensor resumed detecting network traffic on ens224."),
            severity: S::Warning,
            engine: E::Operational,
            engine_name: raw("Operational"),
            source_device: Some(0),
            destination_device: Some(0),
            remediation_steps: no_steps,
            category: opt("Sensor traffic"),
            uuid: opt("1-1594808245000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
        Alert {
            id: Some(5),
            time_ms: 1594808285000,
            title: raw("Suspicion of Unresponsive MODBUS Device"),
            message: opt("Outstation device 10.13.10.1 (Protocol Address 53) seems to be \
                          unresponsive to MODBUS requests."),
            severity: S::Minor,
            engine: E::Operational,
            engine_name: raw("Operational"),
            source_device: Some(194),
            destination_device: Some(0),
            source_address: opt("10.13.10.1"),
            remediation_steps: no_steps,
            protocol: opt("Modbus"),
            category: opt("Unresponsive"),
            source_name: opt("RTU-53"),
            uuid: opt("1-1594808285000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
        Alert {
            id: Some(6),
            time_ms: 1557059334000,
            title: raw("Device is Suspected to be Disconnected (Unresponsive)"),
            message: opt("Device 192.168.2.2 is suspected to be disconnected (unresponsive)."),
            severity: S::Major,
            engine: E::Operational,
            engine_name: raw("Operational"),
            source_device: Some(22),
            source_address: opt("192.168.2.2"),
            remediation_steps: no_steps,
            category: opt("Unresponsive"),
            source_name: opt("192.168.2.2"),
            uuid: opt("5-1557059334000"),
            sensor_name: opt("sensor Agent"),
            ..Alert::default()
        },
        Alert {
            id: Some(7),
            time_ms: 1700000000000,
            title: raw("Unauthorized PLC Programming"),
            message: opt("Source device 10.1.1.50 performed a programming operation on PLC \
                          10.1.1.20 but is not defined as a programming device."),
            severity: S::Critical,
            engine: E::PolicyViolation,
            engine_name: raw("Policy Violation"),
            source_device: Some(41),
            destination_device: Some(20),
            source_address: opt("10.1.1.50"),
            destination_address: opt("10.1.1.20"),
            remediation_steps: no_steps,
            protocol: opt("Siemens S7"),
            category: opt("Programming"),
            source_mac: opt("3C:52:82:11:22:33"),
            destination_mac: opt("00:1B:1B:44:55:66"),
            source_name: opt("LAPTOP-17"),
            destination_name: opt("S7-1500-A"),
            uuid: opt("1-1700000000000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
        Alert {
            id: Some(8),
            time_ms: 1700000100000,
            title: raw("Suspicion of Malicious Activity (Stuxnet)"),
            message: opt("Suspicious network activity was detected. This activity may be \
                          associated with an attack exploiting a method used by known malware."),
            severity: S::Critical,
            engine: E::Malware,
            engine_name: raw("Malware"),
            source_device: Some(41),
            destination_device: Some(55),
            source_address: opt("10.1.1.50"),
            destination_address: opt("10.1.2.9"),
            remediation_steps: no_steps,
            protocol: opt("SMB / CIFS"),
            category: opt("Suspicion of Malware"),
            source_name: opt("LAPTOP-17"),
            destination_name: opt("HIST-01"),
            uuid: opt("1-1700000100000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
        Alert {
            id: Some(9),
            time_ms: 1700000200000,
            title: raw("An S7 Stop PLC Command was Sent"),
            message: opt("Device 10.1.1.50 sent a Stop PLC command to 10.1.1.20."),
            severity: S::Warning,
            engine: E::Operational,
            engine_name: raw("Operational"),
            source_device: Some(41),
            destination_device: Some(20),
            source_address: opt("10.1.1.50"),
            destination_address: opt("10.1.1.20"),
            remediation_steps: no_steps,
            protocol: opt("Siemens S7"),
            category: opt("Restart/ Stop Commands"),
            source_name: opt("LAPTOP-17"),
            destination_name: opt("S7-1500-A"),
            uuid: opt("1-1700000200000"),
            sensor_name: opt("sensor-plant-01"),
            ..Alert::default()
        },
    ]
}
