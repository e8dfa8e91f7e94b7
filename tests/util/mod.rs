//! Loopback receivers and feeding helpers shared by the end-to-end tests.
//!
//! Every receiver binds 127.0.0.1, runs on its own threads, collects what it reads into a shared
//! list and stops when dropped. `wait_for(n, timeout)` returns once at least `n` messages have
//! arrived or the (generous) timeout has passed; tests assert on the messages, never on times.
//!
//! - `UdpReceiver::start()`: one datagram = one message, with a large SO_RCVBUF.
//! - `TcpReceiver::start(framing)` / `start_on(addr, framing)`: accepts any number of
//!   connections and parses RFC 6587 frames strictly; malformed input is recorded in `errors()`.
//! - `FlakyTcpReceiver::start(framing, per_connection, drops)`: accepts, reads at least
//!   `per_connection` messages, reads what is still readable, drops the connection, refuses
//!   connections for a moment, and does so `drops` times before it stays up.
//! - `TlsReceiver::start(config)` and `FlakyTlsReceiver::start(config, per_connection, drops)`:
//!   the same over TLS (rustls server, octet counting); failed handshakes are recorded in
//!   `tls_errors()`. `Pki` makes a CA and certificates with rcgen and writes PEM files to a
//!   `TempDir`; `server_config` builds the receiver's rustls configuration.
//! - `send_numbered` writes numbered messages through a `Sender`; `seq_of` reads the number back.
#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]
#![allow(
    clippy::unwrap_used,
    reason = "helpers fail the test on setup errors by design"
)]

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use otrelay::send::{Batch, DestinationConfig, Framing, SendReport, Sender, Transport};
use socket2::{Domain, Protocol, Socket, Type};

/// Generous bound for anything to arrive on loopback, even on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Read timeout of receiver threads, so they notice the stop flag.
const POLL_STEP: Duration = Duration::from_millis(20);

/// Messages collected by a receiver, shared with its threads.
#[derive(Clone, Default)]
struct Inbox {
    /// Messages in arrival order.
    messages: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Protocol violations seen (malformed frames).
    errors: Arc<Mutex<Vec<String>>>,
}

impl Inbox {
    fn push_all(&self, batch: &mut Vec<Vec<u8>>) {
        self.messages.lock().unwrap().append(batch);
    }

    fn error(&self, e: String) {
        self.errors.lock().unwrap().push(e);
    }

    fn len(&self) -> usize {
        self.messages.lock().unwrap().len()
    }

    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let end = Instant::now() + timeout;
        while self.len() < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.messages.lock().unwrap().clone()
    }

    /// Waits until every message in `0..n` arrived at least once (or `timeout`).
    fn wait_for_all(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let end = Instant::now() + timeout;
        loop {
            let got = self.messages.lock().unwrap().clone();
            if missing(&got, n).is_empty() || Instant::now() >= end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Malformed frames seen so far.
    fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// Stop flag and threads of a receiver; stops and joins on drop.
#[derive(Default)]
struct Threads {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Collects UDP datagrams sent to `addr`.
pub struct UdpReceiver {
    /// Where to send.
    pub addr: SocketAddr,
    inbox: Inbox,
    _threads: Threads,
}

impl UdpReceiver {
    /// Binds 127.0.0.1 on a free port with a receive buffer as large as the kernel allows.
    pub fn start() -> UdpReceiver {
        let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        set_big_recv_buffer(&sock, 64 << 20);
        sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let socket: UdpSocket = sock.into();
        socket.set_read_timeout(Some(POLL_STEP)).unwrap();
        let addr = socket.local_addr().unwrap();

        let inbox = Inbox::default();
        let mut threads = Threads::default();
        let (stop, inbox2) = (Arc::clone(&threads.stop), inbox.clone());
        threads.handles.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match socket.recv(&mut buf) {
                    Ok(n) => got.push(buf[..n].to_vec()),
                    Err(_) => inbox2.push_all(&mut got),
                }
                if got.len() >= 256 {
                    inbox2.push_all(&mut got);
                }
            }
            inbox2.push_all(&mut got);
        }));
        UdpReceiver {
            addr,
            inbox,
            _threads: threads,
        }
    }

    /// Waits until `n` datagrams arrived (or `timeout`) and returns all received so far.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.inbox.wait_for(n, timeout)
    }
}

/// Sets SO_RCVBUF, using SO_RCVBUFFORCE when permitted (root), else the capped request.
fn set_big_recv_buffer(sock: &Socket, bytes: usize) {
    let val = bytes as libc::c_int;
    // SAFETY: valid fd, pointer to a c_int and its size.
    let forced = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if forced != 0 {
        let _ = sock.set_recv_buffer_size(bytes);
    }
}

/// Strict RFC 6587 frame parser for one connection.
pub struct FrameParser {
    framing: Framing,
    buf: Vec<u8>,
}

impl FrameParser {
    /// A parser for `framing`.
    pub fn new(framing: Framing) -> FrameParser {
        FrameParser {
            framing,
            buf: Vec::new(),
        }
    }

    /// Appends bytes and moves every complete message to `out`; `Err` on a malformed frame.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), String> {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            let rest = &self.buf[pos..];
            let frame = match self.framing {
                Framing::Lf => rest.iter().position(|&b| b == b'\n').map(|i| (0, i, i + 1)),
                Framing::OctetCounting => octet_frame(rest)?,
            };
            let Some((start, end, next)) = frame else {
                break;
            };
            out.push(rest[start..end].to_vec());
            pos += next;
        }
        self.buf.drain(..pos);
        Ok(())
    }

    /// Bytes of an incomplete trailing frame.
    pub fn leftover(&self) -> usize {
        self.buf.len()
    }
}

/// Parses `MSG-LEN SP MSG` at the start of `rest`: `Ok(None)` when incomplete.
fn octet_frame(rest: &[u8]) -> Result<Option<(usize, usize, usize)>, String> {
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == rest.len() {
        if digits > 9 {
            return Err("length field too long".into());
        }
        return Ok(None);
    }
    if digits == 0 || rest[0] == b'0' {
        return Err(format!(
            "bad length field starting {:?}",
            &rest[..rest.len().min(12)]
        ));
    }
    if rest[digits] != b' ' {
        return Err("length not followed by a space".into());
    }
    let len: usize = std::str::from_utf8(&rest[..digits])
        .unwrap()
        .parse()
        .unwrap();
    let start = digits + 1;
    if rest.len() < start + len {
        return Ok(None);
    }
    Ok(Some((start, start + len, start + len)))
}

/// Accepts connections and collects framed messages.
pub struct TcpReceiver {
    /// Where to connect.
    pub addr: SocketAddr,
    inbox: Inbox,
    connections: Arc<AtomicUsize>,
    _threads: Threads,
}

impl TcpReceiver {
    /// Listens on a free port of 127.0.0.1.
    pub fn start(framing: Framing) -> TcpReceiver {
        TcpReceiver::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), framing)
    }

    /// Listens on `addr` (e.g. one from `free_port`, for a receiver that starts late).
    pub fn start_on(addr: SocketAddr, framing: Framing) -> TcpReceiver {
        let listener = listen(addr, None);
        let addr = listener.local_addr().unwrap();
        let inbox = Inbox::default();
        let connections = Arc::new(AtomicUsize::new(0));
        let mut threads = Threads::default();

        let (stop, inbox2, conns) = (
            Arc::clone(&threads.stop),
            inbox.clone(),
            Arc::clone(&connections),
        );
        threads.handles.push(std::thread::spawn(move || {
            let mut readers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        conns.fetch_add(1, Ordering::SeqCst);
                        let (stop, inbox) = (Arc::clone(&stop), inbox2.clone());
                        readers.push(std::thread::spawn(move || {
                            let mut parser = FrameParser::new(framing);
                            read_frames(&stream, &mut parser, &inbox, &stop, usize::MAX)
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for r in readers {
                let _ = r.join();
            }
        }));
        TcpReceiver {
            addr,
            inbox,
            connections,
            _threads: threads,
        }
    }

    /// Waits until `n` messages arrived (or `timeout`) and returns all received so far.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.inbox.wait_for(n, timeout)
    }

    /// Malformed frames seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.inbox.errors()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A nonblocking listener on `addr` (SO_REUSEADDR), optionally with a small receive buffer.
fn listen(addr: SocketAddr, recv_buffer: Option<usize>) -> TcpListener {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    sock.set_reuse_address(true).unwrap();
    if let Some(size) = recv_buffer {
        sock.set_recv_buffer_size(size).unwrap();
    }
    sock.bind(&addr.into()).unwrap();
    sock.listen(16).unwrap();
    sock.set_nonblocking(true).unwrap();
    sock.into()
}

/// Reads and parses one connection until EOF, stop, or at least `limit` messages; returns how
/// many messages it collected. A malformed frame is recorded and ends the connection.
fn read_frames(
    mut stream: &TcpStream,
    parser: &mut FrameParser,
    inbox: &Inbox,
    stop: &AtomicBool,
    limit: usize,
) -> usize {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(POLL_STEP)).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = Vec::new();
    let mut total = 0;

    while !stop.load(Ordering::SeqCst) && total < limit {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if let Err(e) = parser.push(&buf[..n], &mut got) {
                    inbox.error(e);
                    return total;
                }
                total += got.len();
                inbox.push_all(&mut got);
            }
            Err(e) if is_timeout(&e) => {}
            Err(_) => break,
        }
    }
    total
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A TCP receiver that drops the connection `drops` times, each after `per_connection`
/// messages, refusing connections for a moment after each drop.
pub struct FlakyTcpReceiver {
    /// Where to connect.
    pub addr: SocketAddr,
    inbox: Inbox,
    drops_done: Arc<AtomicUsize>,
    _threads: Threads,
}

impl FlakyTcpReceiver {
    /// Starts on a free port. The receive buffer is kept small (16 KiB) so that what the
    /// kernel acknowledged but the receiver never read stays inside the sender's replay
    /// overlap.
    pub fn start(framing: Framing, per_connection: usize, drops: usize) -> FlakyTcpReceiver {
        let first = listen(SocketAddr::from(([127, 0, 0, 1], 0)), Some(16 << 10));
        let addr = first.local_addr().unwrap();
        let inbox = Inbox::default();
        let drops_done = Arc::new(AtomicUsize::new(0));
        let mut threads = Threads::default();

        let (stop, inbox2, done) = (
            Arc::clone(&threads.stop),
            inbox.clone(),
            Arc::clone(&drops_done),
        );
        threads.handles.push(std::thread::spawn(move || {
            let mut listener = Some(first);
            for _ in 0..drops {
                let l = listener
                    .take()
                    .unwrap_or_else(|| listen(addr, Some(16 << 10)));
                let Some(stream) = accept_until(&l, &stop) else {
                    return;
                };
                let mut parser = FrameParser::new(framing);
                read_frames(&stream, &mut parser, &inbox2, &stop, per_connection);
                drain_readable(&stream, &mut parser, &inbox2);

                // Close both; connections are refused until the listener comes back.
                drop(stream);
                drop(l);
                done.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(150));
            }

            // Stay up from now on, for any number of connections.
            let l = listener
                .take()
                .unwrap_or_else(|| listen(addr, Some(16 << 10)));
            while let Some(stream) = accept_until(&l, &stop) {
                let mut parser = FrameParser::new(framing);
                read_frames(&stream, &mut parser, &inbox2, &stop, usize::MAX);
            }
        }));
        FlakyTcpReceiver {
            addr,
            inbox,
            drops_done,
            _threads: threads,
        }
    }

    /// Waits until `n` messages arrived (or `timeout`) and returns all received so far.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.inbox.wait_for(n, timeout)
    }

    /// Waits until every message in `0..n` arrived at least once (or `timeout`).
    pub fn wait_for_all(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.inbox.wait_for_all(n, timeout)
    }

    /// Malformed frames seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.inbox.errors()
    }

    /// Connections dropped on purpose so far.
    pub fn drops(&self) -> usize {
        self.drops_done.load(Ordering::SeqCst)
    }
}

/// Waits for one connection on the nonblocking listener, or `None` on stop.
fn accept_until(l: &TcpListener, stop: &AtomicBool) -> Option<TcpStream> {
    while !stop.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((s, _)) => return Some(s),
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    None
}

/// Reads what is readable right now (at most `DRAIN_LIMIT` bytes, or a fast sender would keep
/// it readable for ever) and keeps the complete frames; a trailing partial frame is lost with
/// the connection, as with a real receiver.
fn drain_readable(mut stream: &TcpStream, parser: &mut FrameParser, inbox: &Inbox) {
    const DRAIN_LIMIT: usize = 64 << 10;
    let mut buf = vec![0u8; 1 << 16];
    let mut got = Vec::new();
    let mut drained = 0;
    stream.set_nonblocking(true).unwrap();
    while drained < DRAIN_LIMIT {
        let Ok(n) = stream.read(&mut buf) else { break };
        drained += n;
        if n == 0 {
            break;
        }
        if let Err(e) = parser.push(&buf[..n], &mut got) {
            inbox.error(e);
            break;
        }
    }
    inbox.push_all(&mut got);
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A destination for tests: fast reconnects, otherwise defaults.
pub fn dest(transport: Transport, addr: SocketAddr, framing: Framing) -> DestinationConfig {
    let mut d = DestinationConfig::new(transport, &addr.ip().to_string(), addr.port());
    d.framing = framing;
    d.backoff_min = Duration::from_millis(10);
    d.backoff_max = Duration::from_millis(200);
    d.connect_timeout = Duration::from_secs(2);
    d
}

/// The numbered test message `seq`, padded with spaces and letters to `len` bytes (at least
/// the 20 bytes of the number part).
pub fn numbered(seq: usize, len: usize) -> Vec<u8> {
    let mut m = format!("<9>seq={seq:010} ").into_bytes();
    let mut i = 0;
    while m.len() < len {
        m.push(if i % 5 == 4 {
            b' '
        } else {
            b'a' + (i % 26) as u8
        });
        i += 1;
    }
    m
}

/// The number in a message made by `numbered`.
pub fn seq_of(msg: &[u8]) -> usize {
    std::str::from_utf8(&msg[7..17]).unwrap().parse().unwrap()
}

/// Sequence numbers in `0..n` that are not in `got`.
pub fn missing(got: &[Vec<u8>], n: usize) -> Vec<usize> {
    let mut seen = vec![false; n];
    for m in got {
        if let Some(s) = seen.get_mut(seq_of(m)) {
            *s = true;
        }
    }
    (0..n).filter(|&i| !seen[i]).collect()
}

/// Asserts what a run through a receiver that dropped `drops` connections must show: no
/// malformed frame, every message of `0..n` arrived, some were replayed, every drop led to a
/// reconnect, and nothing was left undelivered.
pub fn assert_survived_drops(
    report: &SendReport,
    errors: Vec<String>,
    got: &[Vec<u8>],
    n: usize,
    drops: usize,
) {
    assert_eq!(errors, Vec::<String>::new());
    assert_all_arrived(got, n);
    let stats = &report.destinations[0].stats;
    assert!(stats.replayed_messages > 0, "{stats:?}");
    assert!(stats.reconnects >= drops as u64, "{stats:?}");
    assert!(report.destinations[0].undelivered.is_empty());
}

/// Asserts every number in `0..n` is in `got`; reports only how many are missing and a few.
pub fn assert_all_arrived(got: &[Vec<u8>], n: usize) {
    let miss = missing(got, n);
    assert!(
        miss.is_empty(),
        "{} of {n} missing, first {:?}",
        miss.len(),
        &miss[..miss.len().min(8)]
    );
}

/// Writes messages `range` (each `len` bytes) to destination `dest` through `sender`, using
/// blocking `acquire`, and submits the last partial batch.
pub fn send_numbered(sender: &Sender, dest: usize, range: std::ops::Range<usize>, len: usize) {
    let mut batch: Batch = sender.acquire(dest);
    for seq in range {
        write_message(&mut batch, &numbered(seq, len));
        if batch.is_full() {
            sender.submit(batch);
            batch = sender.acquire(dest);
        }
    }
    sender.submit(batch);
}

/// Appends one message to a batch the way the encoder does.
pub fn write_message(batch: &mut Batch, msg: &[u8]) {
    let start = batch.begin();
    batch.buf().extend_from_slice(msg);
    batch.finish(start);
}

/// A directory under the system temp dir, removed with its content on drop.
pub struct TempDir {
    /// The directory.
    pub path: std::path::PathBuf,
}

impl TempDir {
    /// Creates a fresh directory named after `label`, the process and a counter.
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("otrelay-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    /// Writes `content` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> std::path::PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A certificate with its key, as PEM text and as rustls values.
pub struct Identity {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
    /// The certificate (DER).
    pub cert_der: rustls::pki_types::CertificateDer<'static>,
    /// The key pair (DER), for encrypting it in tests.
    pub key_der: Vec<u8>,
}

impl Identity {
    /// The key for rustls.
    pub fn key(&self) -> rustls::pki_types::PrivateKeyDer<'static> {
        rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into())
    }

    /// The key as an encrypted PKCS#8 PEM (PBES2: PBKDF2-SHA256, AES-256-CBC).
    pub fn encrypted_key_pem(&self, passphrase: &str) -> String {
        use pkcs8::der::pem::LineEnding;
        let info = pkcs8::PrivateKeyInfo::try_from(self.key_der.as_slice()).unwrap();
        let salt = [7u8; 16];
        let iv = [9u8; 16];
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).unwrap();
        let doc = info.encrypt_with_params(params, passphrase).unwrap();
        doc.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .unwrap()
            .to_string()
    }
}

/// A test certificate authority.
pub struct Pki {
    /// The CA certificate.
    pub ca: Identity,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    /// A new self-signed CA called `name`.
    pub fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        let ca = Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        };
        Pki {
            ca,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate signed by this CA for `names` (DNS names or IP addresses), usable as
    /// server and client certificate.
    pub fn issue(&self, names: &[&str]) -> Identity {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names.clone()).unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}

/// A self-signed certificate for `names`, from no CA at all.
pub fn self_signed(names: &[&str]) -> Identity {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = rcgen::CertificateParams::new(names).unwrap();
    let cert = params.self_signed(&key).unwrap();
    Identity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().clone(),
        key_der: key.serialize_der(),
    }
}

/// A rustls server configuration presenting `id`; with `client_ca`, client certificates
/// signed by it are required.
pub fn server_config(id: &Identity, client_ca: Option<&Pki>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(pki) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki.ca.cert_der.clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(
        builder
            .with_single_cert(vec![id.cert_der.clone()], id.key())
            .unwrap(),
    )
}

/// Handshake outcomes of a TLS receiver.
#[derive(Clone, Default)]
struct TlsLog {
    /// Completed handshakes.
    handshakes: Arc<AtomicUsize>,
    /// Why handshakes or sessions failed.
    errors: Arc<Mutex<Vec<String>>>,
}

type TlsConn = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Reads one TLS connection (octet counting) until EOF, stop, or at least `limit` messages.
fn read_tls_frames(
    tls: &mut TlsConn,
    inbox: &Inbox,
    log: &TlsLog,
    stop: &AtomicBool,
    limit: usize,
) -> usize {
    tls.sock.set_nonblocking(false).unwrap();
    tls.sock.set_read_timeout(Some(POLL_STEP)).unwrap();
    let mut parser = FrameParser::new(Framing::OctetCounting);
    let mut buf = vec![0u8; 1 << 16];
    let mut got = Vec::new();
    let mut total = 0;
    let mut counted = false;

    while !stop.load(Ordering::SeqCst) && total < limit {
        let r = tls.read(&mut buf);
        if !counted && !tls.conn.is_handshaking() {
            counted = true;
            log.handshakes.fetch_add(1, Ordering::SeqCst);
        }
        match r {
            Ok(0) => break,
            Ok(n) => {
                if let Err(e) = parser.push(&buf[..n], &mut got) {
                    inbox.error(e);
                    return total;
                }
                total += got.len();
                inbox.push_all(&mut got);
            }
            Err(e) if is_timeout(&e) => {}
            Err(e) => {
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    log.errors.lock().unwrap().push(e.to_string());
                }
                break;
            }
        }
    }
    if total < limit {
        return total;
    }

    // Limit reached (flaky receiver): keep what is readable right now, then the caller drops
    // the connection; a trailing partial frame is lost, as with a real receiver.
    const DRAIN_LIMIT: usize = 64 << 10;
    tls.sock.set_nonblocking(true).unwrap();
    let mut drained = 0;
    while drained < DRAIN_LIMIT {
        match tls.read(&mut buf) {
            Ok(n) if n > 0 => {
                drained += n;
                if parser.push(&buf[..n], &mut got).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
    inbox.push_all(&mut got);
    total
}

/// Accepts TLS connections (one thread each) and collects octet-counted messages.
pub struct TlsReceiver {
    /// Where to connect.
    pub addr: SocketAddr,
    inbox: Inbox,
    log: TlsLog,
    _threads: Threads,
}

impl TlsReceiver {
    /// Listens on a free port of 127.0.0.1 with `config`.
    pub fn start(config: Arc<rustls::ServerConfig>) -> TlsReceiver {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)), None);
        let addr = listener.local_addr().unwrap();
        let (inbox, log) = (Inbox::default(), TlsLog::default());
        let mut threads = Threads::default();

        let (stop, inbox2, log2) = (Arc::clone(&threads.stop), inbox.clone(), log.clone());
        threads.handles.push(std::thread::spawn(move || {
            let mut readers = Vec::new();
            while let Some(stream) = accept_until(&listener, &stop) {
                let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let (stop, inbox, log) = (Arc::clone(&stop), inbox2.clone(), log2.clone());
                readers.push(std::thread::spawn(move || {
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    read_tls_frames(&mut tls, &inbox, &log, &stop, usize::MAX);
                }));
            }
            for r in readers {
                let _ = r.join();
            }
        }));
        TlsReceiver {
            addr,
            inbox,
            log,
            _threads: threads,
        }
    }

    /// Waits until `n` messages arrived (or `timeout`) and returns all received so far.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.inbox.wait_for(n, timeout)
    }

    /// Messages received so far.
    pub fn received(&self) -> usize {
        self.inbox.len()
    }

    /// Malformed frames seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.inbox.errors()
    }

    /// Failed handshakes and sessions seen so far.
    pub fn tls_errors(&self) -> Vec<String> {
        self.log.errors.lock().unwrap().clone()
    }

    /// Completed handshakes so far.
    pub fn handshakes(&self) -> usize {
        self.log.handshakes.load(Ordering::SeqCst)
    }
}

/// `FlakyTcpReceiver` over TLS: drops the connection `drops` times, each after
/// `per_connection` messages, refusing connections for a moment after each drop.
pub struct FlakyTlsReceiver {
    /// Where to connect.
    pub addr: SocketAddr,
    inbox: Inbox,
    drops_done: Arc<AtomicUsize>,
    _threads: Threads,
}

impl FlakyTlsReceiver {
    /// Starts on a free port with a small (16 KiB) receive buffer, as `FlakyTcpReceiver`.
    pub fn start(
        config: Arc<rustls::ServerConfig>,
        per_connection: usize,
        drops: usize,
    ) -> FlakyTlsReceiver {
        let first = listen(SocketAddr::from(([127, 0, 0, 1], 0)), Some(16 << 10));
        let addr = first.local_addr().unwrap();
        let inbox = Inbox::default();
        let drops_done = Arc::new(AtomicUsize::new(0));
        let mut threads = Threads::default();

        let (stop, inbox2, done) = (
            Arc::clone(&threads.stop),
            inbox.clone(),
            Arc::clone(&drops_done),
        );
        threads.handles.push(std::thread::spawn(move || {
            let log = TlsLog::default();
            let mut listener = Some(first);
            for _ in 0..drops {
                let l = listener
                    .take()
                    .unwrap_or_else(|| listen(addr, Some(16 << 10)));
                let Some(stream) = accept_until(&l, &stop) else {
                    return;
                };
                let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                read_tls_frames(&mut tls, &inbox2, &log, &stop, per_connection);
                drop(tls);
                drop(l);
                done.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(150));
            }

            let l = listener
                .take()
                .unwrap_or_else(|| listen(addr, Some(16 << 10)));
            while let Some(stream) = accept_until(&l, &stop) {
                let conn = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                read_tls_frames(&mut tls, &inbox2, &log, &stop, usize::MAX);
            }
        }));
        FlakyTlsReceiver {
            addr,
            inbox,
            drops_done,
            _threads: threads,
        }
    }

    /// Waits until every message in `0..n` arrived at least once (or `timeout`).
    pub fn wait_for_all(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        self.inbox.wait_for_all(n, timeout)
    }

    /// Malformed frames seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.inbox.errors()
    }

    /// Connections dropped on purpose so far.
    pub fn drops(&self) -> usize {
        self.drops_done.load(Ordering::SeqCst)
    }
}
