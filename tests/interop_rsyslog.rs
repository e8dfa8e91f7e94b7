//! Interop with a real rsyslog (from apt): otrelay sends over UDP, TCP with LF framing and TCP
//! with octet counting to a private rsyslogd on 127.0.0.1, which writes what it parsed to a file.
//! Every message must arrive intact, with the PRI and host rsyslog's own parser saw.
//!
//! The test fails when rsyslogd is missing (`.ci/run` installs it), unless
//! `OTRELAY_SKIP_INTEROP=1` is set.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any setup error")]

mod util;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A private rsyslogd, killed when dropped.
struct Rsyslog {
    child: Child,
    out: PathBuf,
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rsyslogd() -> Option<PathBuf> {
    ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_rsyslog(dir: &Path, udp: u16, tcp: &[u16]) -> Rsyslog {
    let out = dir.join("received.log");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}" maxMessageSize="64k" parser.escapeControlCharacterTab="off")
module(load="imudp")
module(load="imtcp")
template(name="fields" type="string" string="%pri%\t%hostname%\t%rawmsg%\n")
ruleset(name="otrelay") {{
    action(type="omfile" file="{out}" template="fields")
}}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="otrelay" rcvbufSize="16m")
{tcp_inputs}"#,
            dir = dir.display(),
            out = out.display(),
            tcp_inputs = tcp
                .iter()
                .map(|p| format!(
                    "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{p}\" ruleset=\"otrelay\")\n"
                ))
                .collect::<String>(),
        ),
    )
    .unwrap();
    let child = Command::new(rsyslogd().unwrap())
        .args([
            "-n",
            "-f",
            conf.to_str().unwrap(),
            "-i",
            dir.join("pid").to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Rsyslog { child, out }
}

/// Waits until rsyslog listens on the TCP port.
fn wait_listening(port: u16) {
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "rsyslogd did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn otrelay_run(config: &Path) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_otrelay"))
        .args(["run", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The CEF part of a syslog line (from `CEF:` on).
fn body(line: &str) -> &str {
    &line[line.find("CEF:0|").unwrap()..]
}

/// The message after an RFC 3164 header `<9>Mmm dd HH:MM:SS sensor-plant-01 `.
fn after_header(line: &str) -> &str {
    let host = " sensor-plant-01 ";
    let at = line[15..].find(host).unwrap() + 15 + host.len();
    &line[at..]
}

#[test]
fn rsyslog_receives_udp_tcp_and_octet_counted_cef_intact() {
    if rsyslogd().is_none() {
        if std::env::var_os("OTRELAY_SKIP_INTEROP").is_some() {
            return;
        }
        panic!("rsyslogd is not installed: apt-get install -y rsyslog (or OTRELAY_SKIP_INTEROP=1)");
    }
    let dir = std::env::temp_dir().join(format!("otrelay-rsyslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // The spec's samples and 600 generated alerts with escapes in every field.
    let mut alerts = include_str!("../examples/alerts.jsonl").to_owned();
    for i in 0..600 {
        alerts.push_str(&format!(
            r#"{{"time":{},"title":"T|{i}\\x","message":"m=1\nm\\2 | \"q\" é","severity":"Major","engine":"Malware","sourceDeviceAddress":"10.1.{}.{}","protocol":"Modbus","uuid":"g-{i}","sensorName":"sensor-plant-01"}}"#,
            1_700_000_000_000u64 + i,
            i / 256,
            i % 256
        ));
        alerts.push('\n');
    }
    let input = dir.join("alerts.jsonl");
    std::fs::write(&input, &alerts).unwrap();
    let n = alerts.lines().count();

    let header = format!(
        "dead_letter = \"{}\"\n[sensor]\nname = \"sensor-plant-01\"\n[[source]]\nkind = \"file\"\npath = \"{}\"\n",
        dir.join("dl.log").display(),
        input.display()
    );

    // What otrelay writes, taken from a stdout run of the same alerts.
    let expect_conf = dir.join("expect.toml");
    std::fs::write(
        &expect_conf,
        format!("{header}[[rule]]\nname = \"a\"\n[[rule.action]]\nkind = \"cef\"\ntransport = \"stdout\"\n[[rule.action]]\nkind = \"netwitness\"\ntransport = \"stdout\"\n"),
    )
    .unwrap();
    let expected = otrelay_run(&expect_conf);
    let mut want: HashMap<String, usize> = HashMap::new();
    for line in String::from_utf8(expected.stdout).unwrap().lines() {
        *want.entry(body(line).to_owned()).or_default() += 1;
    }
    assert_eq!(want.values().sum::<usize>(), 2 * n);
    // The Microsoft bodies go out twice (UDP and octet-counted TCP), NetWitness once (LF TCP).
    for (b, count) in want.iter_mut() {
        if b.starts_with("CEF:0|Microsoft") {
            *count *= 2;
        }
    }

    let udp = util::free_port().port();
    let (tcp, tcp2) = (util::free_port().port(), util::free_port().port());
    let action = |kind: &str, port: u16, transport: &str, extra: &str| {
        format!(
            "[[rule.action]]\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             transport = \"{transport}\"\n{extra}\n"
        )
    };
    let conf = dir.join("otrelay.toml");

    // Actions on one host and port must agree on the framing: they share one connection.
    std::fs::write(
        &conf,
        format!(
            "{header}[[rule]]\nname = \"lf\"\n{}[[rule]]\nname = \"octet\"\n{}",
            action("netwitness", tcp, "tcp", ""),
            action("cef", tcp, "tcp", "framing = \"octet-counting\"")
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_otrelay"))
        .args(["run", "--config", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("disagree on the framing"));

    let rsyslog = start_rsyslog(&dir, udp, &[tcp, tcp2]);
    wait_listening(tcp);
    wait_listening(tcp2);
    std::fs::write(
        &conf,
        format!(
            "{header}[[rule]]\nname = \"udp\"\n{}[[rule]]\nname = \"lf\"\n{}\
             [[rule]]\nname = \"octet\"\n{}",
            action("cef", udp, "udp", ""),
            action("netwitness", tcp, "tcp", ""),
            action("cef", tcp2, "tcp", "framing = \"octet-counting\"")
        ),
    )
    .unwrap();
    otrelay_run(&conf);

    let end = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&rsyslog.out).unwrap_or_default();
        if text.lines().count() >= 3 * n || Instant::now() > end {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut got: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, '\t');
        assert_eq!(fields.next(), Some("9"), "PRI as rsyslog parsed it: {line}");
        assert_eq!(
            fields.next(),
            Some("sensor-plant-01"),
            "host as rsyslog parsed it: {line}"
        );
        *got.entry(body(fields.next().unwrap()).to_owned())
            .or_default() += 1;
    }
    assert_eq!(got.values().sum::<usize>(), 3 * n, "messages rsyslog wrote");
    assert_eq!(got, want);
}

#[test]
fn rsyslog_receives_leef_text_and_object_intact() {
    if rsyslogd().is_none() {
        if std::env::var_os("OTRELAY_SKIP_INTEROP").is_some() {
            return;
        }
        panic!("rsyslogd is not installed: apt-get install -y rsyslog (or OTRELAY_SKIP_INTEROP=1)");
    }
    let dir = std::env::temp_dir().join(format!("otrelay-rsyslog-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("alerts.jsonl");
    std::fs::write(&input, include_str!("../examples/alerts.jsonl")).unwrap();
    let n = 9;

    let formats = [
        ("leef", ""),
        ("leef", "leef_version = \"2.0\"\ndelimiter = \"^\""),
        ("text", ""),
        ("object", ""),
        ("object", "style = \"json\""),
    ];
    let header = format!(
        "dead_letter = \"{}\"\n[sensor]\nname = \"sensor-plant-01\"\n[[source]]\nkind = \"file\"\npath = \"{}\"\n[[rule]]\nname = \"all\"\n",
        dir.join("dl.log").display(),
        input.display()
    );

    // What otrelay writes, from a stdout run of the same actions.
    let mut stdout_actions = String::new();
    for (kind, extra) in formats {
        stdout_actions.push_str(&format!(
            "[[rule.action]]\nkind = \"{kind}\"\ntransport = \"stdout\"\ntimezone = \"Europe/Moscow\"\n{extra}\n"
        ));
    }
    let expect_conf = dir.join("expect.toml");
    std::fs::write(&expect_conf, format!("{header}{stdout_actions}")).unwrap();
    let expected = otrelay_run(&expect_conf);
    let mut want: HashMap<String, usize> = HashMap::new();
    for line in String::from_utf8(expected.stdout).unwrap().lines() {
        *want.entry(after_header(line).to_owned()).or_default() += 1;
    }
    assert_eq!(want.values().sum::<usize>(), formats.len() * n);
    assert!(
        want.keys()
            .any(|k| k.starts_with("LEEF:1.0|") && k.contains('\t'))
    );

    // The same actions over UDP (LEEF) and TCP (text, object) to rsyslog.
    let udp = util::free_port().port();
    let tcp = util::free_port().port();
    let rsyslog = start_rsyslog(&dir, udp, &[tcp]);
    wait_listening(tcp);
    let mut actions = String::new();
    for (kind, extra) in formats {
        let (port, transport) = if kind == "leef" {
            (udp, "udp")
        } else {
            (tcp, "tcp")
        };
        actions.push_str(&format!(
            "[[rule.action]]\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
             transport = \"{transport}\"\ntimezone = \"Europe/Moscow\"\n{extra}\n"
        ));
    }
    let conf = dir.join("otrelay.toml");
    std::fs::write(&conf, format!("{header}{actions}")).unwrap();
    otrelay_run(&conf);

    let end = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = std::fs::read_to_string(&rsyslog.out).unwrap_or_default();
        if text.lines().count() >= formats.len() * n || Instant::now() > end {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut got: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, '\t');
        assert_eq!(fields.next(), Some("9"), "{line}");
        assert_eq!(fields.next(), Some("sensor-plant-01"), "{line}");
        *got.entry(after_header(fields.next().unwrap()).to_owned())
            .or_default() += 1;
    }
    assert_eq!(got, want);
}
