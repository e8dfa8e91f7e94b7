//! The LEEF message body (versions 1.0 and 2.0), in the sensor's "Syslog server (LEEF format)"
//! layout with the standard LEEF keys QRadar maps.
//!
//! Pipeline position: each LEEF action owns one [`LeefEncoder`]; the pipeline thread calls
//! [`LeefEncoder::encode`] for every alert the action's rules matched, right after the syslog
//! header, writing into the preallocated batch buffer.
//!
//! What must hold: no allocation per alert. The header (vendor, product, version, event id and,
//! for LEEF 2.0, the delimiter) is escaped once in [`LeefEncoder::new`]; alert values are decoded
//! from their JSON form and cleaned in the same pass, straight into the output, by
//! [`super::escape::BoundedWriter`], which also enforces the message limit.

// Layout (spec §3.3, §5.2)
//
//   LEEF:1.0|vendor|product|version|event id|devTime=…<TAB>devTimeFormat=…<TAB>sev=…<TAB>cat=…
//   LEEF:2.0|vendor|product|version|event id|^|devTime=…^devTimeFormat=…^…
//
// Attributes, in order: devTime, devTimeFormat, sev, cat, title, msg, protocol, severity, type,
// start, src_ip, src, dst_ip, dst, srcMAC, dstMAC, UUID. Attributes the alert lacks are left
// out. `devTime` and `start` are the alert time in the action's zone, in the layout of the one
// real sensor LEEF sample (`May 05 2019 15:28:54`), which `devTimeFormat` names in Java
// SimpleDateFormat terms so QRadar can read it. `src_ip`/`dst_ip` are the sensor's own keys and
// `src`/`dst`/`srcMAC`/`dstMAC` the predefined LEEF keys QRadar maps to its address fields; both
// are written, from the same address classification as CEF (an address that is neither an IP
// nor a MAC goes nowhere).
//
// `sev` is the CEF header number (Warning 1, Minor 4, Major 8, Critical 10), which already lies
// on LEEF's 1–10 scale. The one real LEEF sample (a management console's QRadar action) shows
// `sev=2` for a Major alert beside an undocumented `score=81`; that console scale is unknown, so
// otrelay keeps the sensor's documented CEF numbers and the two formats agree.
//
// Escaping. LEEF defines no escape inside attribute values, and QRadar shows a value's bytes as
// they are, so values are cleaned rather than escaped: the delimiter, CR, LF, TAB and every other
// control character (C0, DEL, C1) become one space, and `\` stays as it is. A value therefore
// never contains the delimiter, so no text can end an attribute early or add one, and it never
// contains CR or LF, so no text can end the syslog message. Header fields follow the CEF header
// rules: `|` → `\|`, `\` → `\\`, controls → space.
//
// Truncation works as in CEF: free-text values are cut on a character boundary, structured
// values (times, addresses, the severity) are written whole or not at all, an attribute whose
// value got no byte is taken back, and the attributes after the cut are dropped. The header is
// a constant and is cut like a value if the limit is shorter than it.

use crate::alert::{Alert, RawStr, SensorIdentity};

use super::Encoded;
use super::cef::Address;
use super::escape::{BoundedWriter, Field, Full, Pairs, Rules};
use super::time::{ALERT_TIME_LEN, AlertClock};

/// Which LEEF version to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LeefVersion {
    /// LEEF 1.0: attributes separated by TAB.
    #[default]
    V1,
    /// LEEF 2.0: attributes separated by `delimiter`, which the header names.
    V2 {
        /// One ASCII byte: TAB or a printable character other than a letter, a digit, space,
        /// `=`, `|` or `\`.
        delimiter: u8,
    },
}

/// Header strings and version for one LEEF action.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LeefOptions {
    /// Version and delimiter.
    pub version: LeefVersion,
    /// Vendor; defaults to `Microsoft Defender for IoT`.
    pub vendor: Option<String>,
    /// Product; defaults to `Sensor`.
    pub product: Option<String>,
    /// Product version; defaults to the sensor version.
    pub product_version: Option<String>,
    /// Event id; defaults to `Microsoft Defender for IoT Alert`.
    pub event_id: Option<String>,
}

impl LeefOptions {
    /// Checks the LEEF 2.0 delimiter.
    ///
    /// # Errors
    ///
    /// A message naming the problem when the delimiter is not ASCII, is a letter, a digit, a
    /// space, `=`, `|`, `\`, or a control character other than TAB.
    pub fn validate(&self) -> Result<(), String> {
        match self.version {
            LeefVersion::V1 => Ok(()),
            LeefVersion::V2 { delimiter } => check_delimiter(delimiter),
        }
    }

    /// The delimiter in effect; an invalid one falls back to TAB, as in LEEF 1.0.
    fn delimiter(&self) -> u8 {
        match self.version {
            LeefVersion::V2 { delimiter } if check_delimiter(delimiter).is_ok() => delimiter,
            _ => b'\t',
        }
    }
}

/// Why a LEEF 2.0 delimiter is refused.
fn check_delimiter(d: u8) -> Result<(), String> {
    let why = match d {
        b'\t' => return Ok(()),
        0x80.. => "is not ASCII",
        b'\r' | b'\n' => "is a line break",
        0..0x20 | 0x7F => "is a control character other than TAB",
        b' ' => "is a space, which attribute values are full of",
        b'=' => "is `=`, which separates keys from values",
        b'|' => "is `|`, which separates the header fields",
        b'\\' => "is `\\`, which escapes the header fields",
        _ if d.is_ascii_alphanumeric() => "is a letter or a digit",
        _ => return Ok(()),
    };
    Err(format!("LEEF 2.0 delimiter 0x{d:02x} {why}"))
}

/// `sev=` values, indexed by [`crate::alert::Severity::rank`]: the CEF header numbers.
const SEV: [&[u8]; 4] = [b"1", b"4", b"8", b"10"];

/// Encodes alerts as LEEF for one action.
pub struct LeefEncoder {
    /// `LEEF:1.0|vendor|product|version|event id|` (plus `delimiter|` for 2.0), escaped.
    header: Vec<u8>,
    /// The attribute separator, as a one-byte slice for [`Pairs`].
    delimiter: [u8; 1],
    /// How attribute values are cleaned.
    rules: Rules,
    clock: AlertClock,
}

impl LeefEncoder {
    /// Prepares the header and the value rules. Options that fail
    /// [`LeefOptions::validate`] do not stop the encoder: a refused delimiter becomes TAB.
    pub fn new(opts: &LeefOptions, sensor: &SensorIdentity, clock: AlertClock) -> LeefEncoder {
        let vendor = opts
            .vendor
            .as_deref()
            .unwrap_or("Microsoft Defender for IoT");
        let product = opts.product.as_deref().unwrap_or("Sensor");
        let version = opts.product_version.as_deref().unwrap_or(&sensor.version);
        let event_id = opts
            .event_id
            .as_deref()
            .unwrap_or("Microsoft Defender for IoT Alert");
        let delimiter = opts.delimiter();

        let mut header = match opts.version {
            LeefVersion::V1 => b"LEEF:1.0|".to_vec(),
            LeefVersion::V2 { .. } => b"LEEF:2.0|".to_vec(),
        };
        for field in [vendor, product, version, event_id] {
            escape_header(&mut header, field);
            header.push(b'|');
        }
        if let LeefVersion::V2 { .. } = opts.version {
            // The header names a TAB in hex; a printable delimiter stands for itself.
            if delimiter == b'\t' {
                header.extend_from_slice(b"x09");
            } else {
                header.push(delimiter);
            }
            header.push(b'|');
        }

        LeefEncoder {
            header,
            delimiter: [delimiter],
            rules: Rules::leef_value(delimiter),
            clock,
        }
    }

    /// Appends one LEEF message (no syslog header, no framing) to `out`, writing at most
    /// `limit` bytes; returns [`Encoded::Truncated`] when it had to cut.
    pub fn encode(&mut self, alert: &Alert<'_>, out: &mut Vec<u8>, limit: usize) -> Encoded {
        super::escape::bounded(out, limit, |w| self.write(alert, w))
    }

    fn write(&mut self, alert: &Alert<'_>, w: &mut BoundedWriter<'_>) -> Result<(), Full> {
        w.escaped(&self.header)?;
        let pairs = Pairs::new(w.len(), &self.delimiter);
        let attr = Attributes {
            pairs: &pairs,
            rules: &self.rules,
        };

        let clock = &mut self.clock;
        pairs.whole_with(w, b"devTime=", ALERT_TIME_LEN, b"", |out| {
            clock.write(alert.time_ms, out)
        })?;
        pairs.whole(w, b"devTimeFormat=", b"MMM dd yyyy HH:mm:ss", b"")?;
        pairs.whole(w, b"sev=", SEV[alert.severity.rank()], b"")?;
        attr.text(w, b"cat=", alert.category)?;
        attr.text(w, b"title=", Some(alert.title))?;
        attr.text(w, b"msg=", alert.message)?;
        attr.text(w, b"protocol=", alert.protocol)?;
        pairs.whole(w, b"severity=", alert.severity.name().as_bytes(), b"")?;
        if alert.engine_name.is_empty() {
            pairs.whole(w, b"type=", alert.engine.name().as_bytes(), b"")?;
        } else {
            attr.text(w, b"type=", Some(alert.engine_name))?;
        }
        pairs.whole_with(w, b"start=", ALERT_TIME_LEN, b"", |out| {
            clock.write(alert.time_ms, out)
        })?;

        let src = Address::classify(alert.source_address);
        let dst = Address::classify(alert.destination_address);
        attr.whole(w, b"src_ip=", src.ip())?;
        attr.whole(w, b"src=", src.ip())?;
        attr.whole(w, b"dst_ip=", dst.ip())?;
        attr.whole(w, b"dst=", dst.ip())?;
        attr.mac(w, b"srcMAC=", alert.source_mac, &src)?;
        attr.mac(w, b"dstMAC=", alert.destination_mac, &dst)?;
        attr.text(w, b"UUID=", alert.uuid)
    }
}

/// Escapes a header field at start-up.
fn escape_header(out: &mut Vec<u8>, s: &str) {
    let mut w = BoundedWriter::new(out, usize::MAX);
    // An unbounded writer cannot run out of room.
    let _ = w.text(Field::Header, s);
}

/// Writes optional attributes, leaving out the ones the alert lacks.
struct Attributes<'a> {
    pairs: &'a Pairs<'a>,
    rules: &'a Rules,
}

impl Attributes<'_> {
    /// A free-text value, cleaned and cut cleanly if it does not fit; nothing if absent.
    fn text(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: Option<RawStr<'_>>,
    ) -> Result<(), Full> {
        match value {
            Some(v) => self.pairs.raw(w, key, self.rules, v, b""),
            None => Ok(()),
        }
    }

    /// A structured value (an address) written whole; nothing if empty.
    fn whole(&self, w: &mut BoundedWriter<'_>, key: &[u8], value: &[u8]) -> Result<(), Full> {
        if value.is_empty() {
            return Ok(());
        }
        self.pairs.whole(w, key, value, b"")
    }

    /// The MAC attribute: the alert's MAC field if present, else the address if it is a MAC.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;

    #[test]
    fn sev_is_the_cef_number() {
        for s in Severity::ALL {
            assert_eq!(SEV[s.rank()], s.cef_number().to_string().as_bytes());
        }
    }

    #[test]
    fn delimiters_are_checked() {
        for ok in [b'^', b'\t', b'#', b'~', b';', b','] {
            assert_eq!(check_delimiter(ok), Ok(()), "{ok:#x}");
        }
        for bad in [
            b'a', b'Z', b'7', b'=', b'\r', b'\n', 0, 0x1B, 0x7F, b' ', b'|', b'\\', 0xC3,
        ] {
            assert!(check_delimiter(bad).is_err(), "{bad:#x}");
        }
        let err = LeefOptions {
            version: LeefVersion::V2 { delimiter: b'=' },
            ..LeefOptions::default()
        }
        .validate();
        assert_eq!(
            err,
            Err("LEEF 2.0 delimiter 0x3d is `=`, which separates keys from values".to_owned())
        );
    }

    #[test]
    fn refused_delimiter_falls_back_to_tab() {
        let opts = LeefOptions {
            version: LeefVersion::V2 { delimiter: b'x' },
            ..LeefOptions::default()
        };
        assert_eq!(opts.delimiter(), b'\t');
        let enc = LeefEncoder::new(
            &opts,
            &SensorIdentity::default(),
            AlertClock::new(jiff::tz::TimeZone::UTC),
        );
        assert!(enc.header.ends_with(b"|x09|"));
    }
}
