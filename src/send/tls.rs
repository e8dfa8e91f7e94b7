//! Syslog over TLS (RFC 5425): certificate settings, the rustls client configuration built from
//! them at start-up, the per-connection TLS session the TCP link drives, and the blocking
//! one-shot send for `otrelay test-message`.
//!
//! Where it sits: `TlsOptions::build` runs when the sender starts (and from `otrelay check`), so
//! a missing file, a bad PEM block or a wrong key passphrase stops otrelay before anything is
//! read. `Session` runs on the sender thread inside `tcp::TcpLink`, which owns the socket, the
//! back-off and the replay; this file only turns plaintext batches into TLS records and feeds
//! received records to rustls. What must hold there: nothing blocks, nothing is logged per
//! message, and every ciphertext byte the link counts is a byte that was (or will be) written to
//! the socket in order, so stream positions stay comparable with SIOCOUTQ.
//
// Ciphertext positions. SIOCOUTQ counts TLS record bytes, not syslog bytes. So a batch's
// `stream_end` on a TLS connection is the ciphertext offset just past the record that carries
// its last byte. rustls encrypts application data as soon as it is written (after the
// handshake), so right after a batch's last plaintext byte goes in, every record produced so
// far is moved out of rustls into `Session::out`; `produced` (all ciphertext of the connection,
// handshake included) is then exactly that offset. `out` is drained to the socket in order and
// `sent` counts those bytes, so `sent - SIOCOUTQ` is the acknowledged ciphertext position and
// the TCP link's replay rule applies unchanged: a batch is released once its ciphertext end is
// acknowledged past the replay overlap, at-least-once as for plain TCP. Any record rustls adds
// on its own (a key update) only moves later positions further out, which delays release and
// never releases early.
//
// Allocation. rustls (buffered API) allocates one buffer per outgoing TLS record (at most
// 16 KiB of plaintext, so about fifty 300-byte alerts) and frees it once copied into `out`;
// nothing is allocated per alert. `out` is allocated once per connection with room for
// `FEED` plaintext bytes plus record overhead and never grows, because plaintext is only
// written while `out` has that much room.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme};

use super::{SendError, sys};

/// Plaintext handed to rustls in one step; four full records.
pub(crate) const FEED: usize = 64 * 1024;

/// Room in `Session::out`: one feed, its record overhead with a wide margin, and handshake
/// messages (certificate chains) that arrive before any feed.
const OUT_CAPACITY: usize = 2 * FEED + 64 * 1024;

/// PEM label of an encrypted PKCS#8 key (RFC 5958).
const ENCRYPTED_KEY_LABEL: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";

/// Where the certificate authorities that vouch for the receiver come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CaSource {
    /// The operating system's store (`/etc/ssl/certs` and friends; `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` override it).
    #[default]
    System,
    /// A PEM bundle of one or more CA certificates.
    File(PathBuf),
}

/// How much of the receiver's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// Chain to a trusted CA and the name in `server_name` (or the host).
    #[default]
    Full,
    /// Chain to a trusted CA; any name is accepted.
    ChainOnly,
    /// Nothing is checked: anyone on the path can read and alter the alerts.
    None,
}

/// TLS settings of one destination.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// Trusted certificate authorities.
    pub ca: CaSource,
    /// Client certificate chain (PEM, leaf first), for receivers that require one.
    pub client_cert: Option<PathBuf>,
    /// Private key of `client_cert` (PEM: PKCS#8, PKCS#1, SEC1, or encrypted PKCS#8).
    pub client_key: Option<PathBuf>,
    /// Name of an environment variable holding the passphrase of an encrypted key.
    pub key_passphrase_env: Option<String>,
    /// File whose content (without a trailing newline) is the passphrase of an encrypted key.
    pub key_passphrase_file: Option<PathBuf>,
    /// Certificate checking.
    pub verify: Verify,
    /// Name sent as SNI and checked against the certificate; the destination host if unset.
    pub server_name: Option<String>,
}

/// A validated TLS client configuration, ready for any number of connections.
#[derive(Clone)]
pub struct TlsSetup {
    /// Shared rustls configuration.
    config: Arc<ClientConfig>,
    /// SNI and verified name.
    server_name: ServerName<'static>,
}

impl fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSetup")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsOptions {
    /// Loads and checks every file and builds the client configuration for a receiver at
    /// `host` (used as the server name unless `server_name` is set).
    ///
    /// # Errors
    ///
    /// `SendError::Tls` naming the file or setting at fault: an unreadable or empty CA bundle,
    /// no system CAs, a certificate without key (or the reverse), a key that is not PEM, an
    /// encrypted key without passphrase or with a wrong one, a key that does not match the
    /// certificate, a server name that is not a DNS name or an address.
    pub fn build(&self, host: &str) -> Result<TlsSetup, SendError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let name = self.server_name.as_deref().unwrap_or(host);
        let server_name = ServerName::try_from(name.to_owned()).map_err(|_| {
            tls_err(
                "server_name",
                format!("{name:?} is not a valid server name"),
            )
        })?;

        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("configuration", e.to_string()))?;
        let verifier = self.verifier(&provider)?;
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);

        let config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = load_certs(cert, "client certificate")?;
                let key_der = self.load_key(key)?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    let what = format!("client certificate {}", cert.display());
                    tls_err(
                        &what,
                        format!("does not fit the key {}: {e}", key.display()),
                    )
                })?
            }
            (Some(_), None) => {
                return Err(tls_err(
                    "client_cert",
                    "is set but client_key is not".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(tls_err(
                    "client_key",
                    "is set but client_cert is not".into(),
                ));
            }
        };
        Ok(TlsSetup {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The start-up warning for a destination whose receiver is not fully verified.
    pub fn weak_verification_warning(&self, dest: &str) -> Option<String> {
        let what = match self.verify {
            Verify::Full => return None,
            Verify::ChainOnly => "the receiver's certificate name is NOT checked (verify = chain)",
            Verify::None => "the receiver's certificate is NOT checked at all (verify = none)",
        };
        Some(format!(
            "otrelay: WARN: destination {dest}: {what}; anyone able to intercept the \
             connection can read or alter the alerts"
        ))
    }

    /// The certificate verifier for `verify`.
    fn verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, SendError> {
        if self.verify == Verify::None {
            let algorithms = provider.signature_verification_algorithms;
            return Ok(Arc::new(AcceptAnything { algorithms }));
        }

        let roots = self.roots()?;
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                .build()
                .map_err(|e| tls_err("CA certificates", e.to_string()))?;
        Ok(match self.verify {
            Verify::ChainOnly => Arc::new(AnyName { inner: webpki }),
            Verify::Full | Verify::None => webpki,
        })
    }

    /// The trusted CAs, from the system store or a bundle.
    fn roots(&self) -> Result<RootCertStore, SendError> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            CaSource::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let mut reason = "no usable CA certificate found".to_owned();
                    if let Some(e) = found.errors.first() {
                        reason = format!("{reason} ({e})");
                    }
                    return Err(tls_err("system CA store", reason));
                }
            }
            CaSource::File(path) => {
                for cert in load_certs(path, "CA bundle")? {
                    roots.add(cert).map_err(|e| {
                        tls_err(&format!("CA bundle {}", path.display()), e.to_string())
                    })?;
                }
            }
        }
        Ok(roots)
    }

    /// Reads the client key, decrypting an encrypted PKCS#8 key with the passphrase.
    fn load_key(&self, path: &Path) -> Result<PrivateKeyDer<'static>, SendError> {
        let what = format!("client key {}", path.display());
        let pem = std::fs::read(path).map_err(|e| tls_err(&what, e.to_string()))?;

        let encrypted = pem
            .windows(ENCRYPTED_KEY_LABEL.len())
            .any(|w| w == ENCRYPTED_KEY_LABEL.as_bytes());
        if !encrypted {
            return PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| tls_err(&what, format!("no usable private key: {e}")));
        }

        let passphrase = self.passphrase(&what)?;
        let text = std::str::from_utf8(&pem)
            .map_err(|_| tls_err(&what, "is not a text PEM file".into()))?;
        let (_, doc) = pkcs8::SecretDocument::from_pem(text)
            .map_err(|e| tls_err(&what, format!("bad encrypted key PEM: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| tls_err(&what, format!("bad encrypted key: {e}")))?;
        let plain = info.decrypt(passphrase.as_bytes()).map_err(|_| {
            tls_err(
                &what,
                "cannot decrypt: wrong passphrase or damaged key".into(),
            )
        })?;
        Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )))
    }

    /// The passphrase of an encrypted key, from the environment or a file (never argv).
    fn passphrase(&self, what: &str) -> Result<String, SendError> {
        match (&self.key_passphrase_env, &self.key_passphrase_file) {
            (Some(_), Some(_)) => Err(tls_err(
                what,
                "set key_passphrase_env or key_passphrase_file, not both".into(),
            )),
            (Some(var), None) => std::env::var(var).map_err(|_| {
                tls_err(
                    what,
                    format!("passphrase variable {var} is not set (or not UTF-8)"),
                )
            }),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    tls_err(what, format!("passphrase file {}: {e}", file.display()))
                })?;
                Ok(text.trim_end_matches(['\r', '\n']).to_owned())
            }
            (None, None) => Err(tls_err(
                what,
                "is encrypted but neither key_passphrase_env nor key_passphrase_file is set".into(),
            )),
        }
    }
}

/// Shorthand for a `SendError::Tls`.
fn tls_err(what: &str, reason: String) -> SendError {
    SendError::Tls {
        what: what.to_owned(),
        reason,
    }
}

/// Every certificate of a PEM file; at least one.
fn load_certs(path: &Path, role: &str) -> Result<Vec<CertificateDer<'static>>, SendError> {
    let what = format!("{role} {}", path.display());
    let pem = std::fs::read(path).map_err(|e| tls_err(&what, e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&what, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err(&what, "holds no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// `Verify::ChainOnly`: the WebPKI checks, with a name mismatch forgiven. webpki checks the
/// chain (and revocation) before the name, so a name error means the chain was good.
#[derive(Debug)]
struct AnyName {
    /// The full verifier.
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match checked {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `Verify::None`: any certificate is accepted. The handshake signatures are still checked
/// against the presented key, so the session keys at least belong to that certificate.
#[derive(Debug)]
struct AcceptAnything {
    /// The provider's signature algorithms.
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Why a TLS connection failed on the sender thread.
#[derive(Debug)]
pub(crate) enum SessionError {
    /// The socket failed or closed.
    Io(io::Error),
    /// rustls refused the peer (certificate, alert, protocol error).
    Tls(rustls::Error),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Io(e) => write!(f, "{e}"),
            SessionError::Tls(e) => write!(f, "tls: {e}"),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SessionError::Io(e) => Some(e),
            SessionError::Tls(e) => Some(e),
        }
    }
}

/// One TLS connection's state on the sender thread: the rustls client and the ciphertext
/// waiting for the socket.
pub(crate) struct Session {
    /// rustls client state.
    conn: ClientConnection,
    /// Ciphertext taken out of rustls; `out[out_start..]` is not yet on the socket.
    out: Vec<u8>,
    /// Bytes of `out` already written to the socket.
    out_start: usize,
    /// Ciphertext produced on this connection (handshake included).
    produced: u64,
    /// Ciphertext written to the socket on this connection.
    sent: u64,
    /// Whether a record arrived after the handshake completed.
    heard_after_handshake: bool,
}

impl Session {
    /// Starts a client handshake; the ClientHello is ready in `out` at once.
    pub(crate) fn new(setup: &TlsSetup) -> Result<Session, SessionError> {
        let conn = ClientConnection::new(Arc::clone(&setup.config), setup.server_name.clone())
            .map_err(SessionError::Tls)?;
        let mut s = Session {
            conn,
            out: Vec::with_capacity(OUT_CAPACITY),
            out_start: 0,
            produced: 0,
            sent: 0,
            heard_after_handshake: false,
        };
        s.take_records();
        Ok(s)
    }

    /// True until the handshake has completed.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// True when application data should wait for the receiver to confirm the session.
    ///
    /// Under TLS 1.3 the client's side of the handshake ends before the server has checked the
    /// client certificate (or noticed that none came although it asked for one); a receiver
    /// that refuses answers with an alert one round trip later. Writing alerts before then
    /// would put them on a connection about to be refused, where the receiver's kernel
    /// acknowledges them although nobody reads them. TLS 1.2 servers decide before their
    /// Finished message, so there the handshake itself is the confirmation.
    pub(crate) fn needs_confirmation(&self) -> bool {
        self.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
    }

    /// True once the receiver sent anything after the handshake (usually session tickets),
    /// which it does only after accepting the client certificate.
    pub(crate) fn confirmed(&self) -> bool {
        self.heard_after_handshake
    }

    /// Ciphertext produced so far: the stream position of everything handed to `encrypt`.
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    /// Ciphertext written to the socket so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// The negotiated protocol version, for the connection log line.
    pub(crate) fn protocol(&self) -> &'static str {
        match self.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
            _ => "TLS",
        }
    }

    /// True when ciphertext waits for the socket.
    pub(crate) fn has_output(&self) -> bool {
        self.out_start < self.out.len()
    }

    /// True when `encrypt` may be given up to `FEED` bytes without `out` growing.
    pub(crate) fn can_feed(&self) -> bool {
        !self.conn.is_handshaking() && self.out.capacity() - self.unsent() >= FEED + FEED / 2
    }

    /// Encrypts up to `FEED` bytes of `plain`; returns how many were taken. The records are
    /// in `out` on return, so `produced` is the position just past them.
    pub(crate) fn encrypt(&mut self, plain: &[u8]) -> Result<usize, SessionError> {
        let chunk = &plain[..plain.len().min(FEED)];
        let taken = self.conn.writer().write(chunk).map_err(SessionError::Io)?;
        self.take_records();
        Ok(taken)
    }

    /// Writes pending ciphertext to `fd` until done or the socket is full (`WouldBlock` is
    /// returned as is).
    pub(crate) fn flush(&mut self, fd: &impl std::os::fd::AsRawFd) -> io::Result<()> {
        while self.has_output() {
            match sys::send_nosignal(fd, &self.out[self.out_start..]) {
                Ok(n) => {
                    self.out_start += n;
                    self.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_start = 0;
        Ok(())
    }

    /// Reads whatever the peer sent, lets rustls process it (handshake messages, tickets,
    /// alerts) and discards application data into `scratch`. Queues rustls's answers in `out`.
    pub(crate) fn read(
        &mut self,
        stream: &mut impl Read,
        scratch: &mut [u8],
    ) -> Result<(), SessionError> {
        loop {
            let after_handshake = !self.conn.is_handshaking();
            match self.conn.read_tls(stream) {
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "closed by peer");
                    return Err(SessionError::Io(e));
                }
                Ok(_) => {
                    self.process(scratch)?;
                    self.heard_after_handshake |= after_handshake;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(SessionError::Io(e)),
            }
        }
    }

    /// Processes buffered records; queues any alert rustls wants to send even on failure.
    fn process(&mut self, scratch: &mut [u8]) -> Result<(), SessionError> {
        let state = self.conn.process_new_packets();
        self.take_records();
        let state = state.map_err(SessionError::Tls)?;

        // Syslog receivers send no application data; drop whatever comes.
        let mut left = state.plaintext_bytes_to_read();
        while left > 0 {
            match self.conn.reader().read(scratch) {
                Ok(0) => break,
                Ok(n) => left = left.saturating_sub(n),
                Err(_) => break,
            }
        }
        if state.peer_has_closed() {
            let e = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed by peer (close_notify)",
            );
            return Err(SessionError::Io(e));
        }
        Ok(())
    }

    /// Queues a close_notify alert; the caller flushes it if it can.
    pub(crate) fn close(&mut self) {
        self.conn.send_close_notify();
        self.take_records();
    }

    /// Moves every record rustls has ready into `out`, counting them in `produced`.
    fn take_records(&mut self) {
        // Compact first, so appending stays within the allocation.
        if self.out_start > 0 {
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.out) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.produced += n as u64,
            }
        }
    }

    /// Ciphertext bytes in `out` not yet written.
    fn unsent(&self) -> usize {
        self.out.len() - self.out_start
    }
}

/// Blocking one-shot over TLS: connect, handshake, write one framed message, wait until the
/// peer's kernel acknowledged every ciphertext byte, and give the peer a moment to object
/// (a receiver that rejects the client certificate answers with an alert after the handshake).
pub(crate) fn send_once(
    addr: SocketAddr,
    send_buffer: Option<usize>,
    setup: &TlsSetup,
    framed: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    let connect_err = |source| SendError::Connect { addr, source };
    let handshake_err =
        |e: &dyn fmt::Display| tls_err(&format!("session with {addr}"), e.to_string());
    let end = Instant::now() + timeout;

    let sock = super::tcp::configured_socket(addr, send_buffer).map_err(connect_err)?;
    sock.connect_timeout(&addr.into(), timeout)
        .map_err(connect_err)?;
    let mut stream: std::net::TcpStream = sock.into();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(connect_err)?;
    let mut session = Session::new(setup).map_err(|e| handshake_err(&e))?;
    let mut scratch = [0u8; 1024];

    // Handshake, then the message, then until everything is acknowledged.
    let mut rest = framed;
    loop {
        session.flush(&stream).or_else(|e| match e.kind() {
            io::ErrorKind::WouldBlock => Ok(()),
            _ => Err(connect_err(e)),
        })?;
        if !session.is_handshaking() && !rest.is_empty() {
            let n = session.encrypt(rest).map_err(|e| handshake_err(&e))?;
            rest = &rest[n..];
            continue;
        }
        let done = rest.is_empty() && !session.has_output();
        if done && sys::unacked_bytes(&stream).map_err(connect_err)? == 0 {
            break;
        }
        if Instant::now() >= end {
            let e = io::Error::new(io::ErrorKind::TimedOut, "message not acknowledged");
            return Err(connect_err(e));
        }
        match session.read(&mut stream, &mut scratch) {
            Ok(()) => {}
            Err(SessionError::Io(e)) if is_timeout(&e) => {}
            Err(e) => return Err(handshake_err(&e)),
        }
    }

    // A refusal of the client certificate arrives as an alert right after the handshake.
    match session.read(&mut stream, &mut scratch) {
        Ok(()) => {}
        Err(SessionError::Io(e)) if is_timeout(&e) => {}
        Err(e) => return Err(handshake_err(&e)),
    }
    session.close();
    let _ = session.flush(&stream);
    Ok(())
}

/// True for the errors a socket read timeout produces.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
