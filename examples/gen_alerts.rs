//! Deterministic alert workload for benchmarks and the `perf/` harness.
//!
//! `cargo run --release --example gen_alerts -- COUNT [SEED] > alerts.jsonl`
//!
//! The mix is fixed so that runs compare: 25 % Warning, 25 % Minor, 30 % Major, 20 % Critical;
//! 60 % of alerts carry one of five "filtered" protocols (Modbus, DNP3, Siemens S7, BACnet,
//! EtherNet/IP CIP) and 40 % one of five others, so a rule with `min_level = "Minor"` and those
//! five protocols forwards about 45 %. Messages contain escapes (`\n`, quotes) as real ones do.

use std::io::{self, BufWriter, Write};

const FILTERED: [&str; 5] = ["Modbus", "DNP3", "Siemens S7", "BACnet", "EtherNet/IP CIP"];
const OTHER: [&str; 5] = ["HTTP", "DNS", "SMB / CIFS", "ICMP", "SSH"];
const ENGINES: [&str; 5] = [
    "Policy Violation",
    "Protocol Violation",
    "Malware",
    "Anomaly",
    "Operational",
];
const TITLES: [(&str, &str); 6] = [
    ("Internet Access Detected", "Internet Access"),
    (
        "Illegal MODBUS Operation (Exception Raised by Master)",
        "Illegal Commands",
    ),
    ("Address Scan Detected", "Scan"),
    ("Unauthorized PLC Programming", "Programming"),
    (
        "Suspicion of Malicious Activity (Stuxnet)",
        "Suspicion of Malware",
    ),
    ("An S7 Stop PLC Command was Sent", "Restart/ Stop Commands"),
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0x5eed);
    let mut rng = XorShift(seed | 1);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());

    for id in 1..=count {
        let severity = match rng.below(100) {
            0..=24 => "Warning",
            25..=49 => "Minor",
            50..=79 => "Major",
            _ => "Critical",
        };
        let protocol = if rng.below(100) < 60 {
            FILTERED[rng.below(5) as usize]
        } else {
            OTHER[rng.below(5) as usize]
        };
        let engine = ENGINES[rng.below(5) as usize];
        let (title, category) = TITLES[rng.below(6) as usize];
        let time = 1_700_000_000_000u64 + id * 37;
        let (a, b, c) = (rng.below(254) + 1, rng.below(254) + 1, rng.below(254) + 1);
        writeln!(
            out,
            "{{\"id\":{id},\"time\":{time},\"title\":\"{title}\",\"message\":\"Device 10.{a}.{b}.{c} \
             triggered \\\"{title}\\\" on {protocol}.\\nIt is recommended to notify the security \
             officer of the incident.\",\"severity\":\"{severity}\",\"engine\":\"{engine}\",\
             \"sourceDevice\":{a},\"destinationDevice\":{b},\"sourceDeviceAddress\":\"10.{a}.{b}.{c}\",\
             \"destinationDeviceAddress\":\"10.{c}.{b}.{a}\",\"remediationSteps\":[],\
             \"additionalInformation\":null,\"protocol\":\"{protocol}\",\"category\":\"{category}\",\
             \"sourceMac\":\"00:80:F4:{a:02X}:{b:02X}:{c:02X}\",\"destinationMac\":null,\
             \"sourceName\":\"HMI-{a}\",\"destinationName\":\"PLC-{b}\",\"uuid\":\"1-{time}\",\
             \"sensorName\":\"sensor-plant-01\"}}"
        )?;
    }
    out.flush()
}
