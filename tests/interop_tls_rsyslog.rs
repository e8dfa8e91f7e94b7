//! Interoperability with rsyslog's TLS listener (imtcp with the gtls driver, GnuTLS): a private
//! rsyslogd started by the test on a free 127.0.0.1 port receives otrelay's messages over TLS
//! and writes each raw message to a file, which must hold every message byte for byte. With a
//! wrong CA nothing may arrive. Needs `rsyslog` and `rsyslog-gnutls`; set
//! OTRELAY_SKIP_INTEROP=1 to skip where they cannot be installed.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test at once"
)]

mod util;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use otrelay::send::{CaSource, Framing, Sender, TlsOptions, Transport};
use util::{PATIENCE, Pki, TempDir, dest, numbered, send_numbered};

/// Where Debian installs the daemon.
const RSYSLOGD: &[&str] = &["/usr/sbin/rsyslogd", "/sbin/rsyslogd"];

/// The rsyslogd binary, or `None` when the test is to be skipped; panics with install advice
/// when rsyslog or its GnuTLS driver is missing.
fn rsyslogd() -> Option<PathBuf> {
    if std::env::var("OTRELAY_SKIP_INTEROP").as_deref() == Ok("1") {
        eprintln!("OTRELAY_SKIP_INTEROP=1: rsyslog interop test skipped");
        return None;
    }
    let bin = RSYSLOGD.iter().map(PathBuf::from).find(|p| p.exists());
    let gtls = Path::new("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
        || Path::new("/usr/lib/rsyslog/lmnsd_gtls.so").exists()
        || Path::new("/usr/lib/aarch64-linux-gnu/rsyslog/lmnsd_gtls.so").exists();
    match bin {
        Some(b) if gtls => Some(b),
        _ => panic!(
            "rsyslogd with TLS support is missing: install it with \
             `apt-get install -y rsyslog rsyslog-gnutls` (or set OTRELAY_SKIP_INTEROP=1)"
        ),
    }
}

/// A private rsyslogd listening with TLS; killed on drop.
struct Rsyslog {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Rsyslog {
    /// Starts rsyslogd with the server certificate in `dir` and waits until it listens.
    fn start(bin: &Path, dir: &TempDir, ca: &Path, cert: &Path, key: &Path) -> Rsyslog {
        let port = util::free_port().port();
        let work = dir.path.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let out = dir.path.join("received.log");
        let conf = format!(
            r#"global(workDirectory="{work}"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}"
       maxMessageSize="64k")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
       StreamDriver.AuthMode="anon")
template(name="raw" type="string" string="%rawmsg%\n")
input(type="imtcp" port="{port}" address="127.0.0.1")
action(type="omfile" file="{out}" template="raw" asyncWriting="off" flushOnTXEnd="on")
"#,
            work = work.display(),
            ca = ca.display(),
            cert = cert.display(),
            key = key.display(),
            out = out.display(),
        );
        let conf_path = dir.write("rsyslog.conf", conf);
        let pid = dir.path.join("rsyslogd.pid");
        let child = Command::new(bin)
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(&pid)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let mut r = Rsyslog { child, port, out };

        // Listening once a TCP connect succeeds (that probe is not a TLS session; rsyslog
        // logs and drops it).
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = r.child.try_wait() {
                panic!("rsyslogd exited at start: {status}");
            }
            assert!(Instant::now() < end, "rsyslogd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// The messages written so far (one per line).
    fn lines(&self) -> Vec<Vec<u8>> {
        let data = std::fs::read(&self.out).unwrap_or_default();
        data.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Waits until at least `n` lines are in the file (or `timeout`).
    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.lines();
            if got.len() >= n || Instant::now() >= end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CA, server certificate and key files for the daemon.
fn pki_files(dir: &TempDir) -> (Pki, PathBuf, PathBuf, PathBuf) {
    let pki = Pki::new("rsyslog interop CA");
    let server = pki.issue(&["localhost"]);
    let ca = dir.write("ca.pem", &pki.ca.cert_pem);
    let cert = dir.write("server.pem", &server.cert_pem);
    let key = dir.write("server.key", &server.key_pem);
    (pki, ca, cert, key)
}

#[test]
fn rsyslog_receives_every_message_intact() {
    const N: usize = 5_000;
    let Some(bin) = rsyslogd() else { return };
    let dir = TempDir::new("rsyslog-ok");
    let (_pki, ca, cert, key) = pki_files(&dir);
    let rsyslog = Rsyslog::start(&bin, &dir, &ca, &cert, &key);

    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], rsyslog.port));
    let mut d = dest(Transport::Tls, addr, Framing::OctetCounting);
    d.tls = Some(TlsOptions {
        ca: CaSource::File(ca),
        server_name: Some("localhost".into()),
        ..TlsOptions::default()
    });
    let sender = Sender::start(vec![d], None).unwrap();
    send_numbered(&sender, 0, 0..N, 180);
    let got = rsyslog.wait_for(N, PATIENCE);
    let report = sender.shutdown(Duration::from_secs(10));

    assert_eq!(got.len(), N, "{report}");
    for (i, line) in got.iter().enumerate() {
        assert_eq!(
            line,
            &numbered(i, 180),
            "message {i} differs: {:?}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(report.destinations[0].stats.tls_failures, 0);
    assert!(report.destinations[0].undelivered.is_empty());
}

#[test]
fn rsyslog_is_refused_with_a_wrong_ca() {
    let Some(bin) = rsyslogd() else { return };
    let dir = TempDir::new("rsyslog-wrong-ca");
    let (_pki, ca, cert, key) = pki_files(&dir);
    let rsyslog = Rsyslog::start(&bin, &dir, &ca, &cert, &key);

    let other = Pki::new("not the rsyslog CA");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], rsyslog.port));
    let mut d = dest(Transport::Tls, addr, Framing::OctetCounting);
    d.tls = Some(TlsOptions {
        ca: CaSource::File(dir.write("other.pem", &other.ca.cert_pem)),
        server_name: Some("localhost".into()),
        ..TlsOptions::default()
    });
    let sender = Sender::start(vec![d], None).unwrap();
    send_numbered(&sender, 0, 0..100, 120);

    let end = Instant::now() + PATIENCE;
    while sender.stats()[0].snapshot().tls_failures < 2 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let report = sender.shutdown(Duration::from_millis(100));

    assert!(report.destinations[0].stats.tls_failures >= 2, "{report}");
    assert_eq!(report.destinations[0].undelivered.len(), 100);
    assert!(
        rsyslog.lines().is_empty(),
        "messages arrived through a refused session"
    );
}
