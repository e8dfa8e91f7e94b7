//! Exclusion rules, system notifications and `otrelay explain`, through the binary, against
//! receivers on 127.0.0.1.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any setup error")]

mod util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use otrelay::send::Framing;
use util::TcpReceiver;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otrelay-filters-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const ALERTS: &str = include_str!("../examples/alerts.jsonl");

/// A system notification (a sensor lost its management console).
const SYSTEM: &str = r#"{"time":1700000300000,"kind":"system","title":"Sensor not communicating with on-premises management console","message":"Check network connectivity or certificate validation.","severity":"Major","engine":"Operational","uuid":"sys-1","sensorName":"sensor-plant-01"}"#;

fn config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("otrelay.toml");
    std::fs::write(
        &path,
        format!(
            "dead_letter = \"{}\"\n[sensor]\nname = \"sensor-plant-01\"\n{body}",
            dir.join("dl.log").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn exclusions_and_system_notifications_decide_what_arrives() {
    let dir = scratch("run");
    let alerts_rx = TcpReceiver::start(Framing::Lf);
    let system_rx = TcpReceiver::start(Framing::Lf);
    let input = dir.join("alerts.jsonl");
    std::fs::write(&input, format!("{ALERTS}{SYSTEM}\n")).unwrap();

    // The scanner exclusion removes alert 3 (source 10.10.10.22); the Stuxnet exclusion removes
    // alert 8 by title within a one-off window that contains its time; the nightly exclusion
    // lies outside every alert's time of day in Berlin and removes nothing.
    let cfg = config(
        &dir,
        &format!(
            "[[source]]\nkind = \"file\"\npath = \"{}\"\n\
             [[exclusion]]\nname = \"scanner\"\ndevices = [\"10.10.10.0/24\"]\ndevice_role = \"source\"\n\
             [[exclusion]]\nname = \"stuxnet-drill\"\ntitles = [\"Suspicion of Malicious Activity (Stuxnet)\"]\n\
             timezone = \"UTC\"\nstart = \"2023-11-14T22:00:00\"\nend = \"2023-11-14T23:00:00\"\n\
             [[exclusion]]\nname = \"nightly\"\ntimezone = \"Europe/Berlin\"\ndaily_start = \"03:00\"\ndaily_end = \"03:05\"\n\
             [[rule]]\nname = \"alerts\"\n[[rule.action]]\nkind = \"cef\"\nhost = \"127.0.0.1\"\nport = {}\ntransport = \"tcp\"\n\
             [[rule]]\nname = \"system\"\nsystem_notifications = true\nalert_notifications = false\n\
             [[rule.action]]\nkind = \"netwitness\"\nhost = \"127.0.0.1\"\nport = {}\ntransport = \"tcp\"\n",
            input.display(),
            alerts_rx.addr.port(),
            system_rx.addr.port()
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_otrelay"))
        .args(["run", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let alerts = alerts_rx.wait_for(7, Duration::from_secs(30));
    let system = system_rx.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(200));
    let alerts = alerts_rx.wait_for(alerts.len() + 1, Duration::from_millis(100));
    let titles: Vec<String> = alerts
        .iter()
        .map(|m| {
            String::from_utf8_lossy(m)
                .split('|')
                .nth(5)
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(titles.len(), 7, "{titles:?}");
    assert!(
        !titles
            .iter()
            .any(|t| t == "Address Scan Detected" || t.contains("Stuxnet"))
    );
    assert_eq!(system.len(), 1);
    assert!(String::from_utf8_lossy(&system[0]).contains("UUID=sys-1"));

    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("10 parsed, 0 rejected, 2 excluded, 8 forwarded"),
        "{summary}"
    );
    assert!(
        summary.contains("exclusion \"scanner\": 1 excluded"),
        "{summary}"
    );
    assert!(
        summary.contains("exclusion \"nightly\": 0 excluded"),
        "{summary}"
    );
}

#[test]
fn explain_names_the_deciding_exclusion_rule_and_condition() {
    let dir = scratch("explain");
    let cfg = config(
        &dir,
        "[[exclusion]]\nname = \"scanner\"\ntitles = [\"Address Scan Detected\"]\n\
         [[rule]]\nname = \"nw\"\nmin_level = \"Minor\"\nprotocols = [\"DNP3\", \"S7\"]\n\
         [[rule.action]]\nkind = \"netwitness\"\nhost = \"127.0.0.1\"\n\
         [[rule]]\nname = \"siem\"\nmin_level = \"Major\"\n\
         [[rule.action]]\nkind = \"cef\"\nhost = \"127.0.0.1\"\ntransport = \"tcp\"\ntimezone = \"Europe/Berlin\"\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_otrelay"))
        .args(["explain", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(ALERTS.as_bytes()).unwrap();
    stdin.write_all(b"\n{\"time\":1}\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();

    let block = |n: usize| -> String {
        let start = text.find(&format!("line {n}: ")).unwrap();
        let end = text[start + 1..]
            .find("\nline ")
            .map_or(text.len(), |e| start + 1 + e);
        text[start..end].to_owned()
    };
    let first = block(1);
    assert!(
        first.contains("rule \"nw\": no: protocol BACnet not in {DNP3,S7}"),
        "{first}"
    );
    assert!(first.contains("rule \"siem\": matches"), "{first}");
    assert!(first.contains("=> cef tcp://127.0.0.1:514: <9>"), "{first}");
    assert!(
        first.contains("start=Nov 05 2017 12:24:37 "),
        "time in the action's zone: {first}"
    );

    let third = block(3);
    assert!(
        third.contains("exclusion \"scanner\": excludes it"),
        "{third}"
    );
    assert!(
        third.contains("=> not forwarded: excluded by \"scanner\""),
        "{third}"
    );

    let fourth = block(4);
    assert!(
        fourth.contains("rule \"nw\": no: level Warning is below Minor"),
        "{fourth}"
    );
    assert!(
        fourth.contains("=> not forwarded: no rule matches"),
        "{fourth}"
    );

    let bad = block(11);
    assert!(bad.contains("rejected (missing_field)"), "{bad}");
}
