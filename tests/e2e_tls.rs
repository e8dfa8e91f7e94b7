//! TLS through the binary: config keys, client certificates with an encrypted key, a refused
//! CA, and `test-message` over TLS, against rustls receivers on 127.0.0.1.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any setup error")]

mod util;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use util::{Pki, TempDir, TlsReceiver, server_config};

const ALERTS: &str = include_str!("../examples/alerts.jsonl");

fn otrelay(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_otrelay"));
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn config(dir: &TempDir, port: u16, tls: &str) -> std::path::PathBuf {
    let input = dir.write("alerts.jsonl", ALERTS.repeat(100));
    dir.write(
        "otrelay.toml",
        format!(
            "dead_letter = \"{}\"\n[sensor]\nname = \"sensor-plant-01\"\n[pipeline]\ndrain_timeout_ms = 1500\n\
             [[source]]\nkind = \"file\"\npath = \"{}\"\n\
             [[rule]]\nname = \"tls\"\n[[rule.action]]\nkind = \"netwitness\"\nhost = \"localhost\"\n\
             port = {port}\ntransport = \"tls\"\n{tls}\n",
            dir.path.join("dl.log").display(),
            input.display()
        ),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn client_certificate_with_encrypted_key_over_tls() {
    let dir = TempDir::new("e2e-tls");
    let pki = Pki::new("otrelay test CA");
    let server = pki.issue(&["localhost"]);
    let client = pki.issue(&["otrelay-client"]);
    let receiver = TlsReceiver::start(server_config(&server, Some(&pki)));
    let ca = dir.write("ca.pem", &pki.ca.cert_pem);
    let cert = dir.write("client.pem", &client.cert_pem);
    let key = dir.write("client.key", client.encrypted_key_pem("s3cret"));
    let cfg = config(
        &dir,
        receiver.addr.port(),
        &format!(
            "ca = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\nkey_passphrase_env = \"OTRELAY_KEY_PASS\"\n",
            path(&ca),
            path(&cert),
            path(&key)
        ),
    );
    let env = [("OTRELAY_KEY_PASS", "s3cret")];

    let out = otrelay(&["check", "--config", path(&cfg)], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = otrelay(
        &["check", "--config", path(&cfg)],
        &[("OTRELAY_KEY_PASS", "wrong")],
    );
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rule[0].action[0].tls") && err.contains("client.key"),
        "{err}"
    );

    let out = otrelay(&["run", "--config", path(&cfg)], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = receiver.wait_for(900, Duration::from_secs(30));
    assert_eq!(got.len(), 900);
    assert!(String::from_utf8_lossy(&got[0]).contains("CEF:0|CyberX|CyberX platform|"));

    let out = otrelay(
        &["test-message", "--config", path(&cfg), "--rule", "tls"],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = receiver.wait_for(901, Duration::from_secs(30));
    assert!(String::from_utf8_lossy(&got[900]).contains("|otrelay test message|"));
}

#[test]
fn wrong_ca_sends_nothing_and_keeps_the_messages() {
    let dir = TempDir::new("e2e-tls-ca");
    let pki = Pki::new("the receiver's CA");
    let other = Pki::new("some other CA");
    let receiver = TlsReceiver::start(server_config(&pki.issue(&["localhost"]), None));
    let ca = dir.write("other.pem", &other.ca.cert_pem);
    let cfg = config(
        &dir,
        receiver.addr.port(),
        &format!("ca = \"{}\"\n", path(&ca)),
    );

    let out = otrelay(&["run", "--config", path(&cfg)], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "undelivered messages fail the run"
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("900 undelivered"), "{summary}");
    assert!(!summary.contains(" 0 tls failures"), "{summary}");
    assert_eq!(receiver.received(), 0);
    let dead = std::fs::read_to_string(dir.path.join("dl.log")).unwrap();
    assert_eq!(
        dead.lines()
            .filter(|l| l.contains("reason=undelivered"))
            .count(),
        900
    );
}
