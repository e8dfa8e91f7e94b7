//! Deterministic alert workload for benchmarks and the `perf/` harness.
//!
//! `cargo run --release --example gen_alerts -- COUNT [SEED] [--message-len BYTES] > alerts.jsonl`
//!
//! The mix is fixed so that runs compare: 25 % Warning, 25 % Minor, 30 % Major, 20 % Critical;
//! 60 % of alerts carry one of five "filtered" protocols (Modbus, DNP3, Siemens S7, BACnet,
//! EtherNet/IP CIP) and 40 % one of five others, so a rule with `min_level = "Minor"` and those
//! five protocols forwards about 45 %. Messages contain escapes (`\n`, quotes) as real ones do.
//!
//! `--message-len BYTES` pads (or cuts) every decoded `message` to exactly BYTES bytes, so the
//! cost of the message length can be measured alone; the other fields keep their sizes. The
//! random draws do not depend on it, so the same alerts are forwarded at every length.

use std::fmt::Write as _;
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

/// Padding text for long messages: plain words with an `=` and a quote now and then, so that
/// long messages still exercise the CEF and JSON escapes.
const FILLER: &str = " Observed function code 0x10 (write multiple registers) with count=120 \
                      from an engineering station that is \"not\" in the baseline.";

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

struct Args {
    count: u64,
    seed: u64,
    message_len: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut message_len = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--message-len" {
            let v = args.next().ok_or("--message-len needs a value")?;
            message_len = Some(v.parse().map_err(|_| format!("bad --message-len {v}"))?);
        } else {
            positional.push(a);
        }
    }
    let num = |i: usize, default: u64| -> Result<u64, String> {
        positional.get(i).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("bad number {v}"))
        })
    };
    Ok(Args {
        count: num(0, 1_000_000)?,
        seed: num(1, 0x5eed)?,
        message_len,
    })
}

/// Appends `s` to `out` as the inside of a JSON string (only `"`, `\` and LF occur here).
fn push_json(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn main() -> io::Result<()> {
    let args = parse_args().map_err(io::Error::other)?;
    let mut rng = XorShift(args.seed | 1);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut message = String::new();
    let mut escaped = String::new();

    for id in 1..=args.count {
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

        // The decoded message first, then its JSON form; every character is ASCII, so cutting
        // at any byte keeps it valid.
        message.clear();
        let _ = write!(
            message,
            "Device 10.{a}.{b}.{c} triggered \"{title}\" on {protocol}.\nIt is recommended to \
             notify the security officer of the incident."
        );
        if let Some(len) = args.message_len {
            while message.len() < len {
                message.push_str(FILLER);
            }
            message.truncate(len);
        }
        escaped.clear();
        push_json(&mut escaped, &message);

        writeln!(
            out,
            "{{\"id\":{id},\"time\":{time},\"title\":\"{title}\",\"message\":\"{escaped}\",\
             \"severity\":\"{severity}\",\"engine\":\"{engine}\",\
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
