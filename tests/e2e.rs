//! End to end through the `otrelay` binary: alert files in, real receivers on 127.0.0.1 out.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any setup error")]

mod util;

use std::collections::HashSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use otrelay::send::Framing;
use util::{FlakyTcpReceiver, TcpReceiver, UdpReceiver};

const WAIT: Duration = Duration::from_secs(60);

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("otrelay-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One alert line whose UUID is `u-<i>`; severity and protocol vary with `i`.
fn alert(i: usize) -> String {
    let severity = ["Warning", "Minor", "Major", "Critical"][i % 4];
    let protocol = ["Modbus", "DNP3", "HTTP"][i % 3];
    format!(
        r#"{{"id":{i},"time":{},"title":"Alert \"{i}\"","message":"line one\nline|two=x","severity":"{severity}","engine":"Protocol Violation","sourceDeviceAddress":"10.0.{}.{}","destinationDeviceAddress":"00:80:F4:0A:0B:0C","protocol":"{protocol}","category":"Illegal Commands","uuid":"u-{i}","sensorName":"sensor-plant-01"}}"#,
        1_700_000_000_000u64 + i as u64,
        i / 256 % 256,
        i % 256
    )
}

fn write_alerts(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("alerts.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        writeln!(f, "{}", alert(i)).unwrap();
    }
    f.flush().unwrap();
    path
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("otrelay.toml");
    let text = format!(
        "dead_letter = \"{}\"\n[sensor]\nname = \"sensor-plant-01\"\nversion = \"24.1.5\"\n{body}",
        dir.join("dead-letter.log").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn otrelay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otrelay"))
        .args(args)
        .output()
        .unwrap()
}

fn run(config: &Path) -> Output {
    let out = otrelay(&["run", "--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "otrelay run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn file_source(path: &Path) -> String {
    format!(
        "[[source]]\nkind = \"file\"\npath = \"{}\"\n",
        path.display()
    )
}

fn action(kind: &str, transport: &str, addr: SocketAddr, extra: &str) -> String {
    format!(
        "[[rule.action]]\nkind = \"{kind}\"\nhost = \"{}\"\nport = {}\ntransport = \"{transport}\"\n{extra}\n",
        addr.ip(),
        addr.port()
    )
}

/// The UUIDs found in messages (`UUID=u-<i>`).
fn uuids(messages: &[Vec<u8>]) -> Vec<usize> {
    messages
        .iter()
        .filter_map(|m| {
            let s = std::str::from_utf8(m).unwrap();
            let at = s.find("UUID=u-")? + "UUID=u-".len();
            let end = s[at..].find(' ').map_or(s.len(), |e| at + e);
            s[at..end].parse().ok()
        })
        .collect()
}

fn assert_exactly(messages: &[Vec<u8>], expected: &HashSet<usize>) {
    let got = uuids(messages);
    assert_eq!(got.len(), expected.len(), "message count");
    let set: HashSet<usize> = got.into_iter().collect();
    assert_eq!(&set, expected);
}

#[test]
fn udp_delivers_every_matching_alert() {
    let dir = scratch("udp");
    let receiver = UdpReceiver::start();
    let alerts = write_alerts(&dir, 20_000);
    let config = write_config(
        &dir,
        &format!(
            "{}[[rule]]\nname = \"minor\"\nmin_level = \"Minor\"\nprotocols = [\"modbus\", \"DNP3\"]\n{}",
            file_source(&alerts),
            action("cef", "udp", receiver.addr, "")
        ),
    );
    let out = run(&config);

    let expected: HashSet<usize> = (0..20_000).filter(|i| i % 4 != 0 && i % 3 != 2).collect();
    let got = receiver.wait_for(expected.len(), WAIT);
    assert_exactly(&got, &expected);
    let first = std::str::from_utf8(&got[0]).unwrap();
    assert!(first.starts_with("<9>"), "{first}");
    assert!(
        first.contains(" sensor-plant-01 CEF:0|Microsoft Defender for IoT|sensor-plant-01|24.1.5|")
    );
    assert!(first.contains(r"msg=line one\nline|two\=x "), "{first}");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("20000 parsed"), "{summary}");
}

#[test]
fn tcp_lf_and_octet_counting_deliver_in_order() {
    for framing in [Framing::Lf, Framing::OctetCounting] {
        let dir = scratch(&format!("tcp-{framing:?}"));
        let receiver = TcpReceiver::start(framing);
        let alerts = write_alerts(&dir, 30_000);
        let framing_key = match framing {
            Framing::Lf => "framing = \"lf\"",
            Framing::OctetCounting => "framing = \"octet-counting\"",
        };
        let config = write_config(
            &dir,
            &format!(
                "{}[[rule]]\nname = \"all\"\n{}",
                file_source(&alerts),
                action("netwitness", "tcp", receiver.addr, framing_key)
            ),
        );
        run(&config);

        let got = receiver.wait_for(30_000, WAIT);
        assert!(receiver.errors().is_empty(), "{:?}", receiver.errors());
        assert_eq!(
            uuids(&got),
            (0..30_000).collect::<Vec<_>>(),
            "{framing:?} order"
        );
        let m = std::str::from_utf8(&got[7]).unwrap();
        assert!(
            m.contains("CEF:0|CyberX|CyberX platform|24.1.5|CyberX platform Alert|"),
            "{m}"
        );
        assert!(
            m.contains(" src=10.0.0.7 ") && m.contains(" dmac=00:80:F4:0A:0B:0C "),
            "{m}"
        );
        assert!(
            !m.contains("dst_ip="),
            "a MAC address must not land in an IP key: {m}"
        );
    }
}

#[test]
fn tcp_receiver_that_keeps_dropping_gets_everything_at_least_once() {
    let dir = scratch("flaky");
    let receiver = FlakyTcpReceiver::start(Framing::Lf, 4_000, 3);
    let alerts = write_alerts(&dir, 40_000);
    let config = write_config(
        &dir,
        &format!(
            "[pipeline]\nbackoff_min_ms = 20\nbackoff_max_ms = 200\n{}[[rule]]\nname = \"all\"\n{}",
            file_source(&alerts),
            action("cef", "tcp", receiver.addr, "")
        ),
    );
    let out = run(&config);

    let deadline = std::time::Instant::now() + WAIT;
    let mut got = receiver.wait_for(40_000, WAIT);
    while uuids(&got).into_iter().collect::<HashSet<_>>().len() < 40_000
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        got = receiver.wait_for(0, Duration::ZERO);
    }
    let seen: HashSet<usize> = uuids(&got).into_iter().collect();
    let missing: Vec<usize> = (0..40_000).filter(|i| !seen.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(receiver.drops(), 3);
    let summary = String::from_utf8_lossy(&out.stderr);
    let replayed = field(&summary, " replayed");
    let reconnects = field(&summary, " reconnects");
    assert!(replayed > 0 && reconnects >= 3, "{summary}");
    // Every duplicate the receiver saw was counted as replayed.
    assert!(
        (got.len() - 40_000) as u64 <= replayed,
        "{} duplicates, {replayed} replayed",
        got.len() - 40_000
    );
}

/// The number just before `label` in the summary's destination line.
fn field(summary: &str, label: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.contains("destination "))
        .unwrap();
    let at = line.find(label).unwrap();
    line[..at].rsplit(' ').next().unwrap().parse().unwrap()
}

/// Runs otrelay over `file` (saved in `dir`) with the `[pipeline]` settings given, forwarding
/// everything as CEF to `receiver`, and checks that alerts `0..alerts` each arrived once.
fn forward_file(
    dir: &Path,
    file: &[u8],
    pipeline: &str,
    receiver: &TcpReceiver,
    alerts: usize,
) -> Output {
    let path = dir.join("alerts.jsonl");
    std::fs::write(&path, file).unwrap();
    let config = write_config(
        dir,
        &format!(
            "[pipeline]\n{pipeline}\n{}[[rule]]\nname = \"all\"\n{}",
            file_source(&path),
            action("cef", "tcp", receiver.addr, "")
        ),
    );
    let out = run(&config);
    let got = receiver.wait_for(alerts, WAIT);
    assert_exactly(&got, &(0..alerts).collect());
    out
}

#[test]
fn malformed_lines_go_to_the_dead_letter_file_and_the_rest_arrives() {
    let dir = scratch("malformed");
    let receiver = TcpReceiver::start(Framing::Lf);
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"time\":1,\"title\":\"x\"".to_vec(), "invalid_json"),
        (b"{\"time\":1,\"title\":\"\xff\",\"severity\":\"Major\",\"engine\":\"Malware\"}".to_vec(), "not_utf8"),
        (b"{\"time\":1,\"title\":\"x\",\"severity\":\"Major\"}".to_vec(), "missing_field"),
        (b"{\"time\":1,\"title\":\"x\",\"severity\":\"High\",\"engine\":\"Malware\"}".to_vec(), "unknown_severity"),
        (b"{\"time\":\"now\",\"title\":\"x\",\"severity\":\"Major\",\"engine\":\"Malware\"}".to_vec(), "wrong_type"),
        (b"{\"time\":1,\"time\":2,\"title\":\"x\",\"severity\":\"Major\",\"engine\":\"Malware\"}".to_vec(), "duplicate_key"),
        (format!("{{\"time\":1,\"title\":\"{}\",\"severity\":\"Major\",\"engine\":\"Malware\"}}", "x".repeat(5000)).into_bytes(), "too_long"),
        (format!("{{\"time\":1,\"title\":\"{}\"}}", "y".repeat(300_000)).into_bytes(), "too_long"),
    ];
    let mut file = Vec::new();
    let mut bad_lines = Vec::new();
    let mut line = 0;
    for i in 0..1000 {
        file.extend_from_slice(alert(i).as_bytes());
        file.push(b'\n');
        line += 1;
        if i % 100 == 50 {
            let (bytes, reason) = &bad[(i / 100) % bad.len()];
            file.extend_from_slice(bytes);
            file.push(b'\n');
            line += 1;
            bad_lines.push((line, bytes.clone(), *reason));
        }
    }
    let out = forward_file(
        &dir,
        &file,
        "max_line = 4096\nblock_size = 65536",
        &receiver,
        1000,
    );

    let dead = std::fs::read(dir.join("dead-letter.log")).unwrap();
    let records: Vec<&[u8]> = dead
        .split(|&b| b == b'\n')
        .filter(|r| !r.is_empty())
        .collect();
    assert_eq!(records.len(), bad_lines.len());
    for (line_no, bytes, reason) in &bad_lines {
        // Lines longer than a block are rejected at intake, all others by the parser; both are
        // located by their line number.
        let wanted_head = format!("reason={reason} ");
        let wanted_line = format!(" line={line_no} ");
        let found = records.iter().any(|r| {
            let tab = r.iter().position(|&b| b == b'\t').unwrap();
            let head = String::from_utf8_lossy(&r[..tab]);
            &r[tab + 1..] == bytes.as_slice()
                && head.contains(&wanted_head)
                && head.contains(&wanted_line)
        });
        assert!(
            found,
            "line {line_no} ({reason}) not in the dead-letter file"
        );
    }
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("1000 forwarded"), "{summary}");
    assert!(summary.contains("too_long="), "{summary}");
}

#[test]
fn short_lines_beyond_the_block_index_keep_their_numbers() {
    // Intake records at most 16 line ends per KiB of block; blank lines are 1 byte each, so
    // most lines of these 4 KiB blocks are found past the index, and must still be numbered.
    let dir = scratch("short-lines");
    let receiver = TcpReceiver::start(Framing::Lf);
    let mut file = Vec::new();
    let mut line = 0;
    let mut bad_lines = Vec::new();
    for i in 0..300 {
        for _ in 0..150 {
            file.extend_from_slice(b"\n");
            line += 1;
        }
        file.extend_from_slice(alert(i).as_bytes());
        file.extend_from_slice(b"\r\n");
        line += 1;
        if i % 50 == 7 {
            file.extend_from_slice(b"{\"time\":1}\n");
            line += 1;
            bad_lines.push(line);
        }
    }
    let out = forward_file(
        &dir,
        &file,
        "max_line = 2048\nblock_size = 4096",
        &receiver,
        300,
    );
    let dead = std::fs::read_to_string(dir.join("dead-letter.log")).unwrap();
    let numbers: Vec<u64> = dead
        .lines()
        .map(|r| {
            let at = r.find(" line=").unwrap() + 6;
            r[at..].split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(numbers, bad_lines);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("300 forwarded"), "{summary}");
    assert!(
        summary.contains(&format!("{} blank", 300 * 150)),
        "{summary}"
    );
}

#[test]
fn check_names_line_and_key_and_exits_78() {
    let dir = scratch("check");
    let good = write_config(
        &dir,
        "[[rule]]\nname = \"r\"\n[[rule.action]]\nkind = \"cef\"\ntransport = \"stdout\"\n",
    );
    let out = otrelay(&["check", "--config", good.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("config is valid"));

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nname = \"r\"\nmin_level = \"Minor\"\n[[rule.action]]\nkind = \"cef\"\n\
         host = \"127.0.0.1\"\ntimezone = \"Mars/Base\"\n",
    )
    .unwrap();
    let out = otrelay(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:7:") && err.contains("rule[0].action[0].timezone"),
        "{err}"
    );

    std::fs::write(&bad, "[[rule]]\nname = \"r\"\nmin_levle = \"Minor\"\n").unwrap();
    let out = otrelay(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3:") && err.contains("min_levle"),
        "{err}"
    );
}

#[test]
fn test_message_reports_each_action() {
    let dir = scratch("testmsg");
    let tcp = TcpReceiver::start(Framing::Lf);
    let udp = UdpReceiver::start();
    let closed = util::free_port();
    let config = write_config(
        &dir,
        &format!(
            "[[rule]]\nname = \"nw\"\nmin_level = \"Major\"\nprotocols = [\"DNP3\"]\n{}{}{}",
            action("netwitness", "tcp", tcp.addr, ""),
            action("cef", "udp", udp.addr, ""),
            action("cef", "tcp", closed, "")
        ),
    );
    let out = otrelay(&[
        "test-message",
        "--config",
        config.to_str().unwrap(),
        "--rule",
        "nw",
    ]);
    assert_eq!(out.status.code(), Some(1), "the closed port must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches(": sent").count(), 2, "{err}");
    assert_eq!(err.matches("FAILED").count(), 1, "{err}");

    for m in [tcp.wait_for(1, WAIT), udp.wait_for(1, WAIT)] {
        let m = String::from_utf8(m[0].clone()).unwrap();
        assert!(m.contains("|otrelay test message|8|"), "{m}");
        assert!(m.contains("protocol=DNP3 "), "{m}");
    }

    let out = otrelay(&[
        "test-message",
        "--config",
        config.to_str().unwrap(),
        "--rule",
        "nope",
    ]);
    assert!(!out.status.success());
}

#[test]
fn sigterm_stops_intake_drains_and_summarises() {
    let dir = scratch("sigterm");
    let receiver = TcpReceiver::start(Framing::Lf);
    let listen = util::free_port();
    let config = write_config(
        &dir,
        &format!(
            "[[source]]\nkind = \"tcp\"\nlisten = \"{listen}\"\n[[rule]]\nname = \"all\"\n{}",
            action("cef", "tcp", receiver.addr, "")
        ),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_otrelay"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Two clients, one of which ends with a line lacking its newline.
    let mut client = connect_retry(listen);
    let mut other = connect_retry(listen);
    for i in 0..500 {
        writeln!(client, "{}", alert(i)).unwrap();
    }
    write!(other, "{}", alert(500)).unwrap();
    drop(other);
    let got = receiver.wait_for(501, WAIT);
    assert_eq!(got.len(), 501);

    // SAFETY: `kill` with a valid pid and signal number has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("501 parsed"), "{summary}");
    assert!(summary.contains("2 connections"), "{summary}");
}

fn connect_retry(addr: SocketAddr) -> std::net::TcpStream {
    for _ in 0..200 {
        if let Ok(s) = std::net::TcpStream::connect(addr) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("otrelay did not listen on {addr}");
}

#[test]
fn test_message_works_for_every_format() {
    let dir = scratch("testmsg-formats");
    let tcp = TcpReceiver::start(Framing::OctetCounting);
    let udp = UdpReceiver::start();
    let mut actions = String::new();
    for (kind, extra) in [
        ("cef", ""),
        ("netwitness", ""),
        ("leef", "leef_version = \"2.0\"\ndelimiter = \"^\""),
        ("text", ""),
        ("object", "style = \"json\""),
    ] {
        actions.push_str(&action(
            kind,
            "tcp",
            tcp.addr,
            &format!("framing = \"octet-counting\"\n{extra}"),
        ));
        actions.push_str(&action(kind, "udp", udp.addr, extra));
    }
    let config = write_config(&dir, &format!("[[rule]]\nname = \"all\"\n{actions}"));
    let out = otrelay(&[
        "test-message",
        "--config",
        config.to_str().unwrap(),
        "--rule",
        "all",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches(": sent").count(), 10, "{err}");

    for got in [tcp.wait_for(5, WAIT), udp.wait_for(5, WAIT)] {
        let text: Vec<String> = got
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect();
        assert_eq!(text.len(), 5);
        assert!(
            text.iter().all(|m| m.contains("otrelay test message")),
            "{text:?}"
        );
        assert!(text.iter().any(|m| m.contains("LEEF:2.0|")), "{text:?}");
        assert!(
            text.iter()
                .any(|m| m.contains("\"Alert title\":\"otrelay test message\"")),
            "{text:?}"
        );
    }
}

#[test]
fn two_pipeline_workers_deliver_everything_and_number_rejected_lines() {
    let dir = scratch("workers");
    let receiver = TcpReceiver::start(Framing::Lf);
    let path = dir.join("alerts.jsonl");
    let mut file = String::new();
    let mut bad = Vec::new();
    for i in 0..50_000 {
        file.push_str(&alert(i));
        file.push('\n');
        if i % 5_000 == 17 {
            file.push_str(&format!("{{\"bad\":{i}\n"));
            bad.push(file.lines().count());
        }
    }
    std::fs::write(&path, &file).unwrap();
    let config = write_config(
        &dir,
        &format!(
            "[pipeline]\nworkers = 2\nblock_size = 131072\n{}[[rule]]\nname = \"all\"\n{}",
            file_source(&path),
            action("cef", "tcp", receiver.addr, "")
        ),
    );
    let out = run(&config);

    let got = receiver.wait_for(50_000, WAIT);
    assert_exactly(&got, &(0..50_000).collect());
    let dead = std::fs::read_to_string(dir.join("dead-letter.log")).unwrap();
    let mut lines: Vec<usize> = dead
        .lines()
        .map(|r| {
            let at = r.find(" line=").unwrap() + " line=".len();
            r[at..].split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    lines.sort_unstable();
    assert_eq!(lines, bad);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("50010 lines"), "{summary}");
}

#[test]
fn a_sender_per_worker_delivers_everything_once_and_reports_one_line_per_destination() {
    let dir = scratch("sender-per-worker");
    let udp = UdpReceiver::start();
    let tcp = TcpReceiver::start(Framing::Lf);
    let alerts = write_alerts(&dir, 30_000);
    let config = write_config(
        &dir,
        &format!(
            "[pipeline]\nworkers = 2\nsender_per_worker = true\nblock_size = 131072\n{}\
             [[rule]]\nname = \"all\"\n{}{}",
            file_source(&alerts),
            action("cef", "udp", udp.addr, ""),
            action("leef", "tcp", tcp.addr, "")
        ),
    );
    let out = run(&config);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let all: HashSet<usize> = (0..30_000).collect();
    assert_exactly(&udp.wait_for(30_000, WAIT), &all);
    assert_exactly(&tcp.wait_for(30_000, WAIT), &all);
    // Each worker had its own sender; the summary still has one line per destination, with
    // the counts of both.
    let summary = String::from_utf8_lossy(&out.stderr);
    for transport in ["udp", "tcp"] {
        let lines: Vec<&str> = summary
            .lines()
            .filter(|l| l.contains(&format!("destination {transport}://")))
            .collect();
        assert_eq!(lines.len(), 1, "{summary}");
        assert!(lines[0].contains(": 30000 messages sent"), "{}", lines[0]);
    }
}

#[test]
fn udp_and_stdin_sources_feed_the_pipeline() {
    let dir = scratch("sources");
    let receiver = TcpReceiver::start(Framing::Lf);
    let listen = util::free_port();
    let config = write_config(
        &dir,
        &format!(
            "[pipeline]\nmax_line = 2048\nblock_size = 8192\n\
             [[source]]\nkind = \"udp\"\nlisten = \"{listen}\"\n[[source]]\nkind = \"stdin\"\n\
             [[rule]]\nname = \"all\"\n{}",
            action("cef", "tcp", receiver.addr, "")
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_otrelay"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // stdin: 300 alerts, then end of input.
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..300 {
        writeln!(stdin, "{}", alert(i)).unwrap();
    }
    drop(stdin);

    // UDP: 200 alerts, one of them pretty-printed over several lines, one too long, one broken.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for i in 300..500 {
        let text = if i == 301 {
            alert(i).replace(",\"", ",\n  \"")
        } else {
            alert(i)
        };
        socket.send_to(text.as_bytes(), listen).unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    socket
        .send_to(
            format!("{{\"title\":\"{}\"}}", "x".repeat(3000)).as_bytes(),
            listen,
        )
        .unwrap();
    socket.send_to(b"{\"title\":\"a\nb\"}", listen).unwrap();

    let got = receiver.wait_for(500, WAIT);
    assert_exactly(&got, &(0..500).collect());
    std::thread::sleep(Duration::from_millis(200));

    // SAFETY: `kill` with a valid pid and signal number has no memory-safety preconditions.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("500 parsed, 2 rejected"), "{summary}");
    let dead = std::fs::read_to_string(dir.join("dead-letter.log")).unwrap();
    assert!(dead.contains("reason=too_long source=udp:"), "{dead}");
    // The raw newline inside a string became a TAB, which is still invalid JSON there.
    assert!(
        dead.contains("reason=invalid_json") && dead.contains("\t{\"title\":\"a\tb\"}"),
        "{dead}"
    );
}

#[test]
fn receiver_closing_after_the_last_message_is_not_a_failure() {
    let dir = scratch("clean-close");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let n = 20_000;
    let receiver = std::thread::spawn(move || {
        use std::io::Read;
        let (mut stream, _) = listener.accept().unwrap();
        let (mut buf, mut lines) = (vec![0u8; 1 << 16], 0);
        while lines < n {
            let got = stream.read(&mut buf).unwrap();
            assert!(got > 0, "otrelay closed early");
            lines += buf[..got].iter().filter(|&&b| b == b'\n').count();
        }
        // Everything read: a clean close (FIN), as a receiver that is done would do.
        drop(stream);
        lines
    });
    let alerts = write_alerts(&dir, n);
    let config = write_config(
        &dir,
        &format!(
            "[pipeline]\ndrain_timeout_ms = 2000\n{}[[rule]]\nname = \"all\"\n{}",
            file_source(&alerts),
            action("cef", "tcp", addr, "")
        ),
    );
    let out = run(&config);
    assert_eq!(receiver.join().unwrap(), n);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains(" 0 undelivered"), "{summary}");
    assert!(!dir.join("dead-letter.log").exists(), "{summary}");
}
