//! The CEF message body: header fields and extension, in the sensor's documented layout.
//!
//! Pipeline position: each CEF or NetWitness action owns one [`CefEncoder`]; the pipeline thread
//! calls [`CefEncoder::encode`] for every alert the action's rules matched, right after the
//! syslog header, writing into the preallocated batch buffer.
//!
//! What must hold: no allocation per alert. Every configured string (vendor, product, version,
//! event class, sensor host) is escaped once in [`CefEncoder::new`]; alert fields are decoded from
//! their JSON form and escaped in the same pass, straight into the output, by
//! [`super::escape::BoundedWriter`], which also enforces the message limit.

// Layout (spec §3.2, §3.6, §4)
//
//   CEF:0|vendor|product|version|event class|title|1/4/8/10|msg=… protocol=… severity=… type=…
//   UUID=… start=… src_ip=… src_mac=… dst_ip=… dst_mac=… cat=…
//
// Keys whose value the alert lacks are left out; `type` falls back to the engine's display name
// when the alert spelled none. The NetWitness flavor appends the standard keys that NetWitness'
// base CEF parser maps to meta (`rt src dst smac dmac shost dhost app externalId dvchost`),
// because that parser ignores the sensor's own `src_ip`/`src_mac`/`UUID` keys.
//
// Truncation: when the message would pass the limit, free-text values (`msg`, names, `cat`, …)
// are cut on a character boundary and outside any escape; structured values (time, addresses,
// numbers, the severity word) are written whole or not at all, since half a timestamp or half an
// address would be misread rather than merely short. A key whose value got no byte at all is
// taken back, and the keys after the cut are dropped. The header always keeps room for its
// closing `|severity|`; if the limit is smaller than the header without a title, the title is
// cut to fit, and below that only a cut prefix of the header is written.
//
// Field limits (spec §5.1, ArcSight's CEF standard): with `field_limits`, values of the standard
// keys are cut to their documented maximum in characters before escaping: `msg`, `cat`,
// `shost` and `dhost` 1023, `app` 31, `externalId` 40, `dvchost` 100. The sensor's own keys
// (`protocol`, `UUID`, `src_ip`, …) have no documented limit and are left whole. A value whose
// JSON form is no longer than its limit cannot decode to more characters, so only longer ones
// are decoded, into a buffer the encoder owns, to find where the limit falls.

use crate::alert::{Alert, RawStr, SensorIdentity};

use super::Encoded;
use super::escape::{BoundedWriter, Field, Full, append};
use super::time::{ALERT_TIME_LEN, AlertClock};

/// Which key set and default header strings to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CefFlavor {
    /// The sensor's documented "Syslog server (CEF format)" output.
    #[default]
    Microsoft,
    /// The sensor's NetWitness action: CyberX header strings plus the standard CEF keys.
    NetWitness,
}

/// Header strings that override the flavor's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CefOptions {
    /// Key set and defaults.
    pub flavor: CefFlavor,
    /// Device Vendor; defaults to `Microsoft Defender for IoT` or `CyberX`.
    pub vendor: Option<String>,
    /// Device Product; defaults to the alert's sensor name (Microsoft) or `CyberX platform`.
    pub product: Option<String>,
    /// Device Version; defaults to the sensor version.
    pub version: Option<String>,
    /// Device Event Class ID; defaults to `Microsoft Defender for IoT Alert` or
    /// `CyberX platform Alert`.
    pub event_class: Option<String>,
    /// Cut standard keys to the CEF standard's maximum lengths (`msg` 1023 characters, …).
    /// Off in `Default`; otrelay's config turns it on unless `field_limits = false`.
    pub field_limits: bool,
}

/// Maximum lengths in characters of the standard keys otrelay writes (ArcSight CEF standard).
const MSG_MAX: usize = 1023;
const CAT_MAX: usize = 1023;
const HOST_MAX: usize = 1023;
const APP_MAX: usize = 31;
const EXTERNAL_ID_MAX: usize = 40;
const DVCHOST_MAX: usize = 100;

/// `|severity|` after the title, indexed by [`crate::alert::Severity::rank`].
const SEVERITY_FIELDS: [&[u8]; 4] = [b"|1|", b"|4|", b"|8|", b"|10|"];

/// Longest text accepted as an IP or MAC address; IPv6 text is at most 45 bytes.
const ADDRESS_MAX: usize = 48;

/// Encodes alerts as CEF for one action.
pub struct CefEncoder {
    flavor: CefFlavor,
    /// `CEF:0|vendor|`, escaped.
    head: Vec<u8>,
    /// Fixed or fallback product, escaped.
    product: Vec<u8>,
    /// Whether the alert's `sensorName` replaces `product` when present.
    product_from_alert: bool,
    /// `|version|event class|`, escaped.
    tail: Vec<u8>,
    /// The sensor host for `dvchost=`, escaped (NetWitness only).
    dvchost: Vec<u8>,
    clock: AlertClock,
    /// Whether the standard keys are cut to their maximum lengths.
    field_limits: bool,
    /// Decoded copy of a value longer than its limit, reused from alert to alert.
    scratch: String,
}

impl CefEncoder {
    /// Prepares the fixed parts of every message.
    pub fn new(opts: &CefOptions, sensor: &SensorIdentity, clock: AlertClock) -> CefEncoder {
        let (vendor, class) = match opts.flavor {
            CefFlavor::Microsoft => (
                "Microsoft Defender for IoT",
                "Microsoft Defender for IoT Alert",
            ),
            CefFlavor::NetWitness => ("CyberX", "CyberX platform Alert"),
        };
        let vendor = opts.vendor.as_deref().unwrap_or(vendor);
        let class = opts.event_class.as_deref().unwrap_or(class);
        let version = opts.version.as_deref().unwrap_or(&sensor.version);
        let (product, product_from_alert) = match (&opts.product, opts.flavor) {
            (Some(p), _) => (p.as_str(), false),
            (None, CefFlavor::Microsoft) => (sensor.name.as_str(), true),
            (None, CefFlavor::NetWitness) => ("CyberX platform", false),
        };

        let mut head = b"CEF:0|".to_vec();
        escape_into(&mut head, Field::Header, vendor);
        head.push(b'|');
        let mut product_bytes = Vec::new();
        escape_into(&mut product_bytes, Field::Header, product);
        let mut tail = b"|".to_vec();
        escape_into(&mut tail, Field::Header, version);
        tail.push(b'|');
        escape_into(&mut tail, Field::Header, class);
        tail.push(b'|');
        let mut dvchost = Vec::new();
        let hostname = match sensor.hostname.char_indices().nth(DVCHOST_MAX) {
            Some((cut, _)) if opts.field_limits => &sensor.hostname[..cut],
            _ => sensor.hostname.as_str(),
        };
        escape_into(&mut dvchost, Field::Extension, hostname);

        CefEncoder {
            flavor: opts.flavor,
            head,
            product: product_bytes,
            product_from_alert,
            tail,
            dvchost,
            clock,
            field_limits: opts.field_limits,
            scratch: String::new(),
        }
    }

    /// A free-text value of a standard key, cut to `max` characters when field limits are on.
    fn limited(
        &mut self,
        ext: &Extension,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: Option<RawStr<'_>>,
        max: usize,
    ) -> Result<(), Full> {
        let Some(raw) = value else { return Ok(()) };
        if !self.field_limits || raw.raw().len() <= max {
            return ext.text(w, key, value);
        }
        self.scratch.clear();
        raw.decode_into(&mut self.scratch);
        match self.scratch.char_indices().nth(max) {
            Some((cut, _)) => ext.decoded(w, key, &self.scratch[..cut]),
            None => ext.text(w, key, value),
        }
    }

    /// Appends one CEF message (no syslog header, no framing) to `out`, writing at most `limit`
    /// bytes; returns [`Encoded::Truncated`] when it had to cut.
    pub fn encode(&mut self, alert: &Alert<'_>, out: &mut Vec<u8>, limit: usize) -> Encoded {
        super::escape::bounded(out, limit, |w| self.write(alert, w))
    }

    fn write(&mut self, alert: &Alert<'_>, w: &mut BoundedWriter<'_>) -> Result<(), Full> {
        self.write_header(alert, w)?;

        let src = Address::classify(alert.source_address);
        let dst = Address::classify(alert.destination_address);
        let ext = Extension { start: w.len() };
        self.write_documented(alert, &src, &dst, &ext, w)?;
        if self.flavor == CefFlavor::NetWitness {
            self.write_standard(alert, &src, &dst, &ext, w)?;
        }
        Ok(())
    }

    /// `CEF:0|vendor|product|version|class|title|severity|`, keeping room for the severity.
    fn write_header(&self, alert: &Alert<'_>, w: &mut BoundedWriter<'_>) -> Result<(), Full> {
        let severity = SEVERITY_FIELDS[alert.severity.rank()];
        let end = w.end();
        w.set_end(end.saturating_sub(severity.len()));

        let prefix = self.write_prefix(alert, w);
        if prefix.is_err() {
            w.set_end(end);
            return prefix;
        }
        let title = w.raw(Field::Header, alert.title);
        w.set_end(end);
        w.whole(severity)?;
        title
    }

    fn write_prefix(&self, alert: &Alert<'_>, w: &mut BoundedWriter<'_>) -> Result<(), Full> {
        w.escaped(&self.head)?;
        match alert.sensor_name {
            Some(name) if self.product_from_alert && !name.is_empty() => {
                w.raw(Field::Header, name)?
            }
            _ => w.escaped(&self.product)?,
        }
        w.escaped(&self.tail)
    }

    /// The keys the sensor documents, in its order.
    fn write_documented(
        &mut self,
        alert: &Alert<'_>,
        src: &Address,
        dst: &Address,
        ext: &Extension,
        w: &mut BoundedWriter<'_>,
    ) -> Result<(), Full> {
        self.limited(ext, w, b" msg=", alert.message, MSG_MAX)?;
        ext.text(w, b" protocol=", alert.protocol)?;
        ext.whole(w, b" severity=", alert.severity.name().as_bytes())?;
        if alert.engine_name.is_empty() {
            ext.whole(w, b" type=", alert.engine.name().as_bytes())?;
        } else {
            ext.text(w, b" type=", Some(alert.engine_name))?;
        }
        ext.text(w, b" UUID=", alert.uuid)?;

        let key = ext.key(w, b" start=");
        let out = w.reserve(key.len() + ALERT_TIME_LEN)?;
        append(out, key);
        self.clock.write(alert.time_ms, out);

        ext.whole(w, b" src_ip=", src.ip())?;
        ext.mac(w, b" src_mac=", alert.source_mac, src)?;
        ext.whole(w, b" dst_ip=", dst.ip())?;
        ext.mac(w, b" dst_mac=", alert.destination_mac, dst)?;
        self.limited(ext, w, b" cat=", alert.category, CAT_MAX)
    }

    /// The standard CEF keys NetWitness' base parser maps (spec §4).
    fn write_standard(
        &mut self,
        alert: &Alert<'_>,
        src: &Address,
        dst: &Address,
        ext: &Extension,
        w: &mut BoundedWriter<'_>,
    ) -> Result<(), Full> {
        let mut ms = itoa::Buffer::new();
        ext.whole(w, b" rt=", ms.format(alert.time_ms).as_bytes())?;
        ext.whole(w, b" src=", src.ip())?;
        ext.whole(w, b" dst=", dst.ip())?;
        ext.mac(w, b" smac=", alert.source_mac, src)?;
        ext.mac(w, b" dmac=", alert.destination_mac, dst)?;
        self.limited(ext, w, b" shost=", alert.source_name, HOST_MAX)?;
        self.limited(ext, w, b" dhost=", alert.destination_name, HOST_MAX)?;
        self.limited(ext, w, b" app=", alert.protocol, APP_MAX)?;
        self.limited(ext, w, b" externalId=", alert.uuid, EXTERNAL_ID_MAX)?;

        ext.escaped(w, b" dvchost=", &self.dvchost)
    }
}

/// Escapes a configured string at start-up.
fn escape_into(out: &mut Vec<u8>, field: Field, s: &str) {
    let mut w = BoundedWriter::new(out, usize::MAX);
    // An unbounded writer cannot run out of room.
    let _ = w.text(field, s);
}

/// Writes `key=value` pairs, the first without its leading space.
struct Extension {
    /// Buffer position where the extension starts.
    start: usize,
}

impl Extension {
    /// `key` (which starts with a space) as it must be written at the current position.
    fn key<'k>(&self, w: &BoundedWriter<'_>, key: &'k [u8]) -> &'k [u8] {
        if w.len() == self.start {
            &key[1..]
        } else {
            key
        }
    }

    /// A free-text value, cut cleanly if it does not fit; nothing if absent.
    fn text(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: Option<RawStr<'_>>,
    ) -> Result<(), Full> {
        match value {
            Some(v) => self.cut(w, key, |w| w.raw(Field::Extension, v)),
            None => Ok(()),
        }
    }

    /// A decoded free-text value, escaped now and cut cleanly if it does not fit.
    fn decoded(&self, w: &mut BoundedWriter<'_>, key: &[u8], value: &str) -> Result<(), Full> {
        self.cut(w, key, |w| w.text(Field::Extension, value))
    }

    /// A value escaped at start-up, cut cleanly if it does not fit; nothing if empty.
    fn escaped(&self, w: &mut BoundedWriter<'_>, key: &[u8], value: &[u8]) -> Result<(), Full> {
        if value.is_empty() {
            return Ok(());
        }
        self.cut(w, key, |w| w.escaped(value))
    }

    /// Writes `key` and a value that may be cut; takes the key back if no value byte fit.
    fn cut(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: impl FnOnce(&mut BoundedWriter<'_>) -> Result<(), Full>,
    ) -> Result<(), Full> {
        let key = self.key(w, key);
        let mark = w.len();
        w.whole(key)?;
        let written = value(w);
        if written.is_err() && w.len() == mark + key.len() {
            w.rollback(mark);
        }
        written
    }

    /// A structured value that needs no escaping, written whole or not at all; nothing if empty.
    fn whole(&self, w: &mut BoundedWriter<'_>, key: &[u8], value: &[u8]) -> Result<(), Full> {
        if value.is_empty() {
            return Ok(());
        }
        let key = self.key(w, key);
        let out = w.reserve(key.len() + value.len())?;
        append(out, key);
        append(out, value);
        Ok(())
    }

    /// The MAC key: the alert's MAC field if present, else the address if it is a MAC.
    fn mac(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        mac: Option<RawStr<'_>>,
        address: &Address,
    ) -> Result<(), Full> {
        match mac {
            Some(_) => self.text(w, key, mac),
            None => self.whole(w, key, address.mac()),
        }
    }
}

/// What an address field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddressKind {
    Ip,
    Mac,
    Neither,
}

/// An address field, classified (shared with the LEEF, text and object encoders, so that every
/// format reads addresses alike). A field without escapes is borrowed as it is; only an escaped
/// one is decoded into a stack buffer.
pub(super) struct Address<'a> {
    text: AddressText<'a>,
    kind: AddressKind,
}

/// The decoded text of an address field.
enum AddressText<'a> {
    /// The field had no escapes: its raw bytes are the text.
    Borrowed(&'a [u8]),
    /// The field was decoded into `.0[..len]`.
    Decoded([u8; ADDRESS_MAX], usize),
}

impl<'a> Address<'a> {
    /// Decodes `value` (absent, too long or anything but an IP or MAC gives `Neither`).
    pub(super) fn classify(value: Option<RawStr<'a>>) -> Address<'a> {
        let neither = Address {
            text: AddressText::Borrowed(&[]),
            kind: AddressKind::Neither,
        };
        let Some(value) = value else {
            return neither;
        };
        let text = if value.is_escaped() {
            let mut buf = [0; ADDRESS_MAX];
            let Some(len) = value.decode_to(&mut buf).map(<[u8]>::len) else {
                return neither;
            };
            AddressText::Decoded(buf, len)
        } else {
            AddressText::Borrowed(value.raw())
        };

        let mut addr = Address {
            text,
            kind: AddressKind::Neither,
        };
        let bytes = addr.bytes();
        addr.kind = if bytes.len() > ADDRESS_MAX {
            AddressKind::Neither
        } else if is_mac(bytes) {
            AddressKind::Mac
        } else if is_ip(bytes) {
            AddressKind::Ip
        } else {
            AddressKind::Neither
        };
        addr
    }

    fn bytes(&self) -> &[u8] {
        match &self.text {
            AddressText::Borrowed(b) => b,
            AddressText::Decoded(buf, len) => &buf[..*len],
        }
    }

    pub(super) fn ip(&self) -> &[u8] {
        match self.kind {
            AddressKind::Ip => self.bytes(),
            _ => &[],
        }
    }

    pub(super) fn mac(&self) -> &[u8] {
        match self.kind {
            AddressKind::Mac => self.bytes(),
            _ => &[],
        }
    }
}

/// An IPv4 or IPv6 address in its usual text form.
///
/// IPv4 is checked by hand: `std`'s parser went through `from_utf8` and a general parser and
/// took a tenth of the encode time in `benches/encode.rs`. IPv6 is rare enough for `std`, which
/// does not allocate either.
fn is_ip(text: &[u8]) -> bool {
    if !text.contains(&b':') {
        return is_ipv4(text);
    }
    std::str::from_utf8(text).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Dotted quad: four decimal octets up to 255, without leading zeros (as `std` reads them).
fn is_ipv4(text: &[u8]) -> bool {
    let mut octets = 0;
    for part in text.split(|&b| b == b'.') {
        let valid = match part {
            [d] => d.is_ascii_digit(),
            [b'1'..=b'9', d] => d.is_ascii_digit(),
            [b'1', d, e] => d.is_ascii_digit() && e.is_ascii_digit(),
            [b'2', b'0'..=b'4', e] => e.is_ascii_digit(),
            [b'2', b'5', b'0'..=b'5'] => true,
            _ => false,
        };
        octets += 1;
        if !valid || octets > 4 {
            return false;
        }
    }
    octets == 4
}

/// Six hex pairs separated by one consistent `:` or `-` (`00:1D:9C:C7:B0:70`).
fn is_mac(text: &[u8]) -> bool {
    if text.len() != 17 {
        return false;
    }
    let sep = text[2];
    if sep != b':' && sep != b'-' {
        return false;
    }
    text.iter().enumerate().all(|(i, &b)| {
        if i % 3 == 2 {
            b == sep
        } else {
            b.is_ascii_hexdigit()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    #[test]
    fn severity_fields_match_the_cef_numbers() {
        for s in Severity::ALL {
            let field = SEVERITY_FIELDS[s.rank()];
            let number = std::str::from_utf8(&field[1..field.len() - 1]).expect("ASCII");
            assert_eq!(number, s.cef_number().to_string());
        }
    }

    #[test]
    fn ipv4_check_agrees_with_std() {
        let samples = [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1..2.3",
            "10.0.0.1 ",
            "249.250.199.100",
            "1.2.3.-4",
            "",
            "...",
            "300.0.0.0",
            "1.2.3.04",
        ];
        for s in samples {
            let std = s.parse::<std::net::Ipv4Addr>().is_ok();
            assert_eq!(is_ipv4(s.as_bytes()), std, "{s:?}");
        }
        for n in 0..=999 {
            let s = format!("1.2.3.{n}");
            let std = s.parse::<std::net::Ipv4Addr>().is_ok();
            assert_eq!(is_ipv4(s.as_bytes()), std, "{s:?}");
            let s = format!("1.2.3.{n:03}");
            let std = s.parse::<std::net::Ipv4Addr>().is_ok();
            assert_eq!(is_ipv4(s.as_bytes()), std, "{s:?}");
        }
    }

    #[test]
    fn addresses_are_classified() {
        let kind = |s: &str| Address::classify(Some(RawStr::literal(s))).kind;
        assert_eq!(kind("10.1.1.50"), AddressKind::Ip);
        assert_eq!(kind("fe80::1"), AddressKind::Ip);
        assert_eq!(kind("2001:db8::ff00:42:8329"), AddressKind::Ip);
        assert_eq!(kind("00:1D:9C:C7:B0:70"), AddressKind::Mac);
        assert_eq!(kind("00-1d-9c-c7-b0-70"), AddressKind::Mac);
        assert_eq!(kind("00:1D-9C:C7:B0:70"), AddressKind::Neither);
        assert_eq!(kind("PLC-7"), AddressKind::Neither);
        assert_eq!(kind(&"1".repeat(100)), AddressKind::Neither);
        assert_eq!(kind("::ffff:10.0.0.1"), AddressKind::Ip);
        let escaped = Address::classify(Some(RawStr::new(br"10.0.0.\u0031", true)));
        assert_eq!(escaped.ip(), b"10.0.0.1");
    }
}
