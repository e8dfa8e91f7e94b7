//! End-to-end TLS tests of the send stage (RFC 5425) on 127.0.0.1, with certificates made by
//! rcgen in each test: ordered delivery, forced octet counting, hostname and chain checks in
//! each verification mode, client certificates (plain and encrypted keys), clear start-up
//! errors, reconnects with replay, and `send_once`.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test at once"
)]

mod util;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use otrelay::send::{
    CaSource, DestinationConfig, Framing, SendError, Sender, TlsOptions, Transport, Verify,
    send_once,
};
use util::{
    FlakyTlsReceiver, PATIENCE, Pki, TempDir, TlsReceiver, assert_survived_drops, dest, numbered,
    self_signed, send_numbered, seq_of, server_config,
};

/// A TLS destination for `rx` verified as `name`, trusting the CA bundle `ca`.
fn tls_dest(addr: std::net::SocketAddr, name: &str, ca: PathBuf) -> DestinationConfig {
    // LF is configured on purpose: TLS must use octet counting regardless.
    let mut d = dest(Transport::Tls, addr, Framing::Lf);
    d.tls = Some(TlsOptions {
        ca: CaSource::File(ca),
        server_name: Some(name.to_owned()),
        ..TlsOptions::default()
    });
    d
}

/// Waits until the destination counted a TLS failure (or `PATIENCE` passed).
fn wait_for_tls_failure(sender: &Sender) -> u64 {
    let end = Instant::now() + PATIENCE;
    loop {
        let n = sender.stats()[0].snapshot().tls_failures;
        if n > 0 || Instant::now() >= end {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `n` messages to `rx` through `d` and asserts they all arrive in order, once each.
fn delivers_in_order(rx: &TlsReceiver, d: DestinationConfig, n: usize) {
    let sender = Sender::start(vec![d], None).unwrap();
    send_numbered(&sender, 0, 0..n, 150);
    let got = rx.wait_for(n, PATIENCE);
    let report = sender.shutdown(Duration::from_secs(10));

    assert_eq!(rx.errors(), Vec::<String>::new());
    assert_eq!(got.len(), n, "{report}");
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, m)| seq_of(m) == i && m == &numbered(i, 150))
    );
    let d = &report.destinations[0];
    assert_eq!(d.stats.messages_sent, n as u64);
    assert_eq!(d.stats.tls_failures, 0);
    assert!(d.undelivered.is_empty());
}

/// Starts a sender that must be refused, checks nothing arrives and every message is reported
/// undelivered.
fn refused(rx: &TlsReceiver, d: DestinationConfig) {
    const N: usize = 200;
    let sender = Sender::start(vec![d], None).unwrap();
    send_numbered(&sender, 0, 0..N, 100);
    let failures = wait_for_tls_failure(&sender);
    std::thread::sleep(Duration::from_millis(100));
    let report = sender.shutdown(Duration::from_millis(100));

    assert!(failures > 0, "no tls failure counted: {report}");
    assert_eq!(rx.received(), 0, "a refused connection delivered messages");
    // (`connected` may be true: under TLS 1.3 a refused client certificate is only reported
    // after the client finished its side of the handshake.)
    assert_eq!(report.destinations[0].undelivered.len(), N, "{report}");
    assert!(report.to_string().contains("tls failures"));
}

#[test]
fn hundred_thousand_messages_arrive_in_order() {
    let pki = Pki::new("otrelay test CA");
    let rx = TlsReceiver::start(server_config(&pki.issue(&["localhost"]), None));
    let dir = TempDir::new("tls-order");
    let ca = dir.write("ca.pem", &pki.ca.cert_pem);
    delivers_in_order(&rx, tls_dest(rx.addr, "localhost", ca), 100_000);
    assert_eq!(rx.tls_errors(), Vec::<String>::new());
}

#[test]
fn hostname_is_verified_unless_chain_only() {
    let pki = Pki::new("otrelay test CA");
    let rx = TlsReceiver::start(server_config(&pki.issue(&["localhost"]), None));
    let dir = TempDir::new("tls-name");
    let ca = dir.write("ca.pem", &pki.ca.cert_pem);

    // Full verification: the certificate is for localhost, not otherhost.
    refused(&rx, tls_dest(rx.addr, "otherhost", ca.clone()));

    // Chain only: the same certificate passes under any name.
    let mut d = tls_dest(rx.addr, "otherhost", ca);
    if let Some(t) = d.tls.as_mut() {
        t.verify = Verify::ChainOnly;
    }
    delivers_in_order(&rx, d, 1_000);
}

#[test]
fn certificate_from_another_ca_is_refused() {
    let (pki, other) = (Pki::new("receiver CA"), Pki::new("unrelated CA"));
    let rx = TlsReceiver::start(server_config(&pki.issue(&["localhost"]), None));
    let dir = TempDir::new("tls-wrong-ca");
    let wrong = dir.write("other.pem", &other.ca.cert_pem);

    refused(&rx, tls_dest(rx.addr, "localhost", wrong.clone()));
    assert!(!rx.tls_errors().is_empty(), "the receiver saw no refusal");

    // Chain-only checking still refuses a certificate from an untrusted CA.
    let mut d = tls_dest(rx.addr, "localhost", wrong);
    if let Some(t) = d.tls.as_mut() {
        t.verify = Verify::ChainOnly;
    }
    refused(&rx, d);
}

#[test]
fn verify_none_accepts_a_self_signed_certificate() {
    let rx = TlsReceiver::start(server_config(&self_signed(&["siem.example"]), None));
    let mut d = dest(Transport::Tls, rx.addr, Framing::OctetCounting);
    d.tls = Some(TlsOptions {
        verify: Verify::None,
        ..TlsOptions::default()
    });
    delivers_in_order(&rx, d, 1_000);
}

/// A receiver requiring client certificates from `pki`, its CA file and a client identity.
struct ClientAuth {
    rx: TlsReceiver,
    dir: TempDir,
    ca: PathBuf,
    client: util::Identity,
}

fn client_auth() -> ClientAuth {
    let pki = Pki::new("mutual CA");
    let rx = TlsReceiver::start(server_config(&pki.issue(&["localhost"]), Some(&pki)));
    let dir = TempDir::new("tls-client");
    let ca = dir.write("ca.pem", &pki.ca.cert_pem);
    let client = pki.issue(&["otrelay-client"]);
    ClientAuth {
        rx,
        dir,
        ca,
        client,
    }
}

#[test]
fn client_certificate_is_presented() {
    let t = client_auth();

    // Without a certificate the receiver refuses the session.
    refused(&t.rx, tls_dest(t.rx.addr, "localhost", t.ca.clone()));

    let mut d = tls_dest(t.rx.addr, "localhost", t.ca.clone());
    if let Some(o) = d.tls.as_mut() {
        o.client_cert = Some(t.dir.write("client.pem", &t.client.cert_pem));
        o.client_key = Some(t.dir.write("client.key", &t.client.key_pem));
    }
    delivers_in_order(&t.rx, d, 1_000);
}

#[test]
fn encrypted_client_key_with_passphrase_from_env_and_file() {
    let t = client_auth();
    let cert = t.dir.write("client.pem", &t.client.cert_pem);
    let key = t
        .dir
        .write("client.key", t.client.encrypted_key_pem("s3cret pass"));
    let base = TlsOptions {
        ca: CaSource::File(t.ca.clone()),
        server_name: Some("localhost".into()),
        client_cert: Some(cert),
        client_key: Some(key.clone()),
        ..TlsOptions::default()
    };

    // From an environment variable (a name no other test uses).
    // SAFETY: no other thread of this test binary reads or writes this variable.
    unsafe { std::env::set_var("OTRELAY_TEST_KEY_PASS", "s3cret pass") };
    let mut from_env = dest(Transport::Tls, t.rx.addr, Framing::OctetCounting);
    from_env.tls = Some(TlsOptions {
        key_passphrase_env: Some("OTRELAY_TEST_KEY_PASS".into()),
        ..base.clone()
    });
    delivers_in_order(&t.rx, from_env, 500);

    // From a file, with the trailing newline editors add.
    let pass_file = t.dir.write("pass.txt", "s3cret pass\n");
    let mut from_file = dest(Transport::Tls, t.rx.addr, Framing::OctetCounting);
    from_file.tls = Some(TlsOptions {
        key_passphrase_file: Some(pass_file),
        ..base.clone()
    });
    delivers_in_order(&t.rx, from_file, 500);

    // A wrong passphrase fails at start-up, naming the key file.
    let wrong_file = t.dir.write("wrong.txt", "not it\n");
    let wrong = TlsOptions {
        key_passphrase_file: Some(wrong_file),
        ..base.clone()
    };
    let err = wrong.build("localhost").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SendError::Tls { .. }), "{text}");
    assert!(text.contains(&key.display().to_string()), "{text}");
    assert!(text.contains("wrong passphrase"), "{text}");

    // And so does a missing passphrase.
    let err = base.build("localhost").unwrap_err().to_string();
    assert!(err.contains("is encrypted"), "{err}");
}

#[test]
fn unusable_settings_fail_at_start_with_the_file_named() {
    let dir = TempDir::new("tls-bad");
    let missing = dir.path.join("nope.pem");
    let not_pem = dir.write("garbage.pem", "this is not a certificate\n");
    let pki = Pki::new("some CA");
    let cert = dir.write("c.pem", &pki.ca.cert_pem);

    let cases = [
        (
            TlsOptions {
                ca: CaSource::File(missing.clone()),
                ..TlsOptions::default()
            },
            missing.display().to_string(),
        ),
        (
            TlsOptions {
                ca: CaSource::File(not_pem.clone()),
                ..TlsOptions::default()
            },
            "holds no CERTIFICATE".to_owned(),
        ),
        (
            TlsOptions {
                ca: CaSource::File(cert.clone()),
                client_cert: Some(cert.clone()),
                client_key: Some(not_pem.clone()),
                ..TlsOptions::default()
            },
            format!("client key {}", not_pem.display()),
        ),
        (
            TlsOptions {
                ca: CaSource::File(cert.clone()),
                client_cert: Some(cert.clone()),
                ..TlsOptions::default()
            },
            "client_key".to_owned(),
        ),
    ];
    for (opts, expected) in cases {
        let err = opts.build("localhost").unwrap_err().to_string();
        assert!(err.contains(&expected), "{err:?} lacks {expected:?}");
    }

    // Sender::start fails the same way, before any connection.
    let mut d = DestinationConfig::new(Transport::Tls, "127.0.0.1", 6514);
    d.tls = Some(TlsOptions {
        ca: CaSource::File(missing.clone()),
        ..TlsOptions::default()
    });
    let err = Sender::start(vec![d], None).err().unwrap().to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
}

#[test]
fn every_message_arrives_across_dropped_tls_connections() {
    const N: usize = 60_000;
    const DROPS: usize = 3;
    let pki = Pki::new("flaky CA");
    let rx = FlakyTlsReceiver::start(
        server_config(&pki.issue(&["localhost"]), None),
        4_000,
        DROPS,
    );
    let dir = TempDir::new("tls-flaky");
    let ca = dir.write("ca.pem", &pki.ca.cert_pem);
    let sender = Sender::start(vec![tls_dest(rx.addr, "localhost", ca)], None).unwrap();

    send_numbered(&sender, 0, 0..N, 200);
    let got = rx.wait_for_all(N, PATIENCE);
    let end = Instant::now() + PATIENCE;
    while sender.stats()[0].snapshot().reconnects < DROPS as u64 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(rx.drops(), DROPS);
    let report = sender.shutdown(Duration::from_secs(10));

    assert_survived_drops(&report, rx.errors(), &got, N, DROPS);
}

#[test]
fn send_once_over_tls() {
    let pki = Pki::new("once CA");
    let rx = TlsReceiver::start(server_config(&pki.issue(&["localhost"]), None));
    let dir = TempDir::new("tls-once");
    let ca = dir.write("ca.pem", &pki.ca.cert_pem);

    let d = tls_dest(rx.addr, "localhost", ca);
    send_once(&d, b"<9>hello tls", Duration::from_secs(5)).unwrap();
    assert_eq!(rx.wait_for(1, PATIENCE), vec![b"<9>hello tls".to_vec()]);

    let other = Pki::new("other CA");
    let wrong = tls_dest(rx.addr, "localhost", dir.write("o.pem", &other.ca.cert_pem));
    let err = send_once(&wrong, b"<9>must not arrive", Duration::from_secs(5)).unwrap_err();
    assert!(matches!(err, SendError::Tls { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(rx.received(), 1);
}
