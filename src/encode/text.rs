//! The "Syslog text message" body: `Label: value` pairs joined by a configurable separator.
//!
//! Pipeline position: each text action owns one [`TextEncoder`]; the pipeline thread calls
//! [`TextEncoder::encode`] for every alert the action's rules matched, right after the syslog
//! header, writing into the preallocated batch buffer. The labelled-value writer here is shared
//! with the key/value style of [`super::object`].
//!
//! What must hold: no allocation per alert. The separator is validated and the sensor name
//! escaped once, in [`TextEncoder::new`]; alert values are decoded from their JSON form and
//! escaped in the same pass, straight into the output, by [`super::escape::BoundedWriter`],
//! which also enforces the message limit.

// Layout (spec §3.4)
//
//   CyberX platform name: sensor-plant-01, Microsoft Defender for IoT Alert: Address Scan
//   Detected, Type: Anomaly, Severity: Critical, Source: ENG-WS-3, Source IP: 10.10.10.22,
//   Destination: N/A, Destination IP: N/A, Protocol: ICMP, Message: …, Alert group: Scan,
//   UUID: 1-1594808260000
//
// Every label but `UUID` is always written, with `N/A` when the alert lacks the value; `UUID`
// only when the alert has one. `legacy_labels` spells the title label `Azure Defender for IoT
// Alert`, the form older sensors sent and some SIEM parsers key on. `Source IP` and
// `Destination IP` come from the same address classification as CEF; an address that is not
// an IP prints `N/A`. The spec also lists optional `Protocol:`/`Address:` labels after each IP;
// otrelay writes the one `Protocol` label shown here.
//
// Escaping. The separator is undocumented, so it is configurable, and a value must never be
// able to fake a pair boundary. The separator's first non-space byte (its "key": `,` for the
// default `, `) is escaped in values as `\,`, and `\` itself as `\\`. Then no unescaped copy of
// the separator can start inside a value: its key byte would be escaped there, and the bytes
// before the key in the separator are spaces, which are never the key. LF, CR and TAB become
// `\n`, `\r`, `\t`, so line structure survives without a raw control byte; every other control
// character (C0, DEL, C1) becomes one space. A reader splits on the separator outside escapes,
// splits each pair at its first `: ` (no label contains one) and undoes the five escapes.
//
// Because labels and the fixed values (`N/A`, times, addresses, severity words) are written
// unescaped, the key may not be `:`, `_`, `.`, `-` or `/`, which occur in them; it must be ASCII
// punctuation and the separator may hold no control character and no `\`.
//
// Truncation: free-text values are cut on a character boundary and outside any escape; fixed
// values are written whole or not at all; a pair whose value got no byte is taken back.

use crate::alert::{Alert, RawStr, SensorIdentity};

use super::Encoded;
use super::cef::Address;
use super::escape::{BoundedWriter, Full, Pairs, Rules};
use super::time::AlertClock;

/// Default pair separator of the text format.
pub const DEFAULT_TEXT_SEPARATOR: &str = ", ";

/// Layout options for one text action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextOptions {
    /// Written between pairs; defaults to `, `.
    pub separator: String,
    /// Label the title `Azure Defender for IoT Alert` instead of
    /// `Microsoft Defender for IoT Alert`.
    pub legacy_labels: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            separator: DEFAULT_TEXT_SEPARATOR.to_owned(),
            legacy_labels: false,
        }
    }
}

impl TextOptions {
    /// Checks the separator.
    ///
    /// # Errors
    ///
    /// A message naming the problem when the separator is empty or all spaces, holds a control
    /// character or `\`, or its first non-space character is not ASCII punctuation or is one of
    /// `: _ . - /`.
    pub fn validate(&self) -> Result<(), String> {
        separator_key(&self.separator).map(|_| ())
    }
}

/// The byte of `separator` that values escape: its first non-space byte.
///
/// # Errors
///
/// As for [`TextOptions::validate`].
pub(super) fn separator_key(separator: &str) -> Result<u8, String> {
    let bad = |why: &str| Err(format!("separator {separator:?} {why}"));
    if separator
        .chars()
        .any(|c| c.is_control() || ('\u{80}'..='\u{9f}').contains(&c))
    {
        return bad("holds a control character");
    }
    if separator.contains('\\') {
        return bad("holds `\\`, which starts escapes in values");
    }

    let Some(&key) = separator.as_bytes().iter().find(|&&b| b != b' ') else {
        return bad("needs a character other than spaces");
    };
    if !key.is_ascii_punctuation() {
        return bad("must start, after any spaces, with ASCII punctuation such as `,` or `;`");
    }
    if b":_.-/".contains(&key) {
        return bad("must not start with `:`, `_`, `.`, `-` or `/`, which labels and values use");
    }
    Ok(key)
}

/// The separator and its value rules, or the given defaults when `separator` is refused.
pub(super) fn separator_rules(separator: &str, default: &str) -> (Vec<u8>, Rules) {
    let (separator, key) = match separator_key(separator) {
        Ok(key) => (separator, key),
        // The defaults are constants that pass the check; `,` only guards against an edit.
        Err(_) => (default, separator_key(default).unwrap_or(b',')),
    };
    (separator.as_bytes().to_vec(), Rules::labelled(key))
}

/// Writes one labelled value per field, `N/A` when the alert lacks it.
///
/// `key` is everything before the value (`Type: ` or `"Alert type":"`) and `close` everything
/// after it (`"` for JSON, else nothing).
pub(super) struct Labelled<'a> {
    pub(super) pairs: Pairs<'a>,
    pub(super) rules: &'a Rules,
    pub(super) close: &'static [u8],
}

impl Labelled<'_> {
    /// A free-text alert value, or `N/A`.
    pub(super) fn text(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: Option<RawStr<'_>>,
    ) -> Result<(), Full> {
        match value {
            Some(v) => self.pairs.raw(w, key, self.rules, v, self.close),
            None => self.na(w, key),
        }
    }

    /// A fixed value (address, severity word, engine name) written whole, or `N/A` if empty.
    ///
    /// Fixed values hold no byte the rules escape: no control character, `\`, `"` or
    /// separator key (which [`separator_key`] keeps apart from them).
    pub(super) fn word(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), Full> {
        if value.is_empty() {
            return self.na(w, key);
        }
        self.pairs.whole(w, key, value, self.close)
    }

    /// The engine as the alert spelled it, else its display name.
    pub(super) fn engine(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        alert: &Alert<'_>,
    ) -> Result<(), Full> {
        if alert.engine_name.is_empty() {
            self.word(w, key, alert.engine.name().as_bytes())
        } else {
            self.text(w, key, Some(alert.engine_name))
        }
    }

    /// A MAC: the alert's MAC field if present, else the address if it is a MAC, else `N/A`.
    pub(super) fn mac(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        mac: Option<RawStr<'_>>,
        address: &Address,
    ) -> Result<(), Full> {
        match mac {
            Some(_) => self.text(w, key, mac),
            None => self.word(w, key, address.mac()),
        }
    }

    /// A value escaped at start-up, or `N/A` if empty.
    pub(super) fn escaped(
        &self,
        w: &mut BoundedWriter<'_>,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), Full> {
        if value.is_empty() {
            return self.na(w, key);
        }
        self.pairs.escaped(w, key, value, self.close)
    }

    fn na(&self, w: &mut BoundedWriter<'_>, key: &[u8]) -> Result<(), Full> {
        self.pairs.whole(w, key, b"N/A", self.close)
    }
}

/// The sensor name an alert is labelled with: its own `sensorName` unless absent or empty.
pub(super) fn alert_sensor_name<'a>(alert: &Alert<'a>) -> Option<RawStr<'a>> {
    alert.sensor_name.filter(|name| !name.is_empty())
}

/// Encodes alerts as labelled text for one action.
pub struct TextEncoder {
    separator: Vec<u8>,
    rules: Rules,
    /// `Microsoft Defender for IoT Alert: ` or the legacy spelling.
    title_label: &'static [u8],
    /// The configured sensor name, escaped (empty prints `N/A`).
    sensor_name: Vec<u8>,
}

impl TextEncoder {
    /// Prepares the separator and the fixed strings. A separator that fails
    /// [`TextOptions::validate`] does not stop the encoder: it becomes the default `, `.
    ///
    /// The layout carries no alert time (spec §3.4), so the clock is not kept; it is taken for
    /// the same constructor shape as the other encoders.
    pub fn new(opts: &TextOptions, sensor: &SensorIdentity, _clock: AlertClock) -> TextEncoder {
        let (separator, rules) = separator_rules(&opts.separator, DEFAULT_TEXT_SEPARATOR);
        let title_label: &'static [u8] = if opts.legacy_labels {
            b"Azure Defender for IoT Alert: "
        } else {
            b"Microsoft Defender for IoT Alert: "
        };
        let sensor_name = escape_name(&rules, &sensor.name);
        TextEncoder {
            separator,
            rules,
            title_label,
            sensor_name,
        }
    }

    /// Appends one text message (no syslog header, no framing) to `out`, writing at most
    /// `limit` bytes; returns [`Encoded::Truncated`] when it had to cut.
    pub fn encode(&mut self, alert: &Alert<'_>, out: &mut Vec<u8>, limit: usize) -> Encoded {
        super::escape::bounded(out, limit, |w| self.write(alert, w))
    }

    fn write(&self, alert: &Alert<'_>, w: &mut BoundedWriter<'_>) -> Result<(), Full> {
        let f = Labelled {
            pairs: Pairs::new(w.len(), &self.separator),
            rules: &self.rules,
            close: b"",
        };

        const NAME: &[u8] = b"CyberX platform name: ";
        match alert_sensor_name(alert) {
            Some(name) => f.text(w, NAME, Some(name))?,
            None => f.escaped(w, NAME, &self.sensor_name)?,
        }
        f.text(w, self.title_label, Some(alert.title))?;
        f.engine(w, b"Type: ", alert)?;
        f.word(w, b"Severity: ", alert.severity.name().as_bytes())?;

        let src = Address::classify(alert.source_address);
        let dst = Address::classify(alert.destination_address);
        f.text(w, b"Source: ", alert.source_name)?;
        f.word(w, b"Source IP: ", src.ip())?;
        f.text(w, b"Destination: ", alert.destination_name)?;
        f.word(w, b"Destination IP: ", dst.ip())?;
        f.text(w, b"Protocol: ", alert.protocol)?;
        f.text(w, b"Message: ", alert.message)?;
        f.text(w, b"Alert group: ", alert.category)?;
        match alert.uuid {
            Some(uuid) => f.text(w, b"UUID: ", Some(uuid)),
            None => Ok(()),
        }
    }
}

/// Escapes the configured sensor name at start-up.
pub(super) fn escape_name(rules: &Rules, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = BoundedWriter::new(&mut out, usize::MAX);
    // An unbounded writer cannot run out of room.
    let _ = w.text_with(rules, name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_are_checked() {
        for ok in [", ", "; ", ",", " | ", "  ;  ", "#", ",•"] {
            assert_eq!(
                TextOptions {
                    separator: ok.to_owned(),
                    legacy_labels: false
                }
                .validate(),
                Ok(()),
                "{ok:?}"
            );
        }
        for bad in [
            "", "   ", "a", "\t", ",\n", "\\", ": ", " - ", "/", "_", ".", "é", ",\u{85}",
        ] {
            assert!(separator_key(bad).is_err(), "{bad:?}");
        }
        assert_eq!(separator_key("  ; "), Ok(b';'));
        assert_eq!(
            separator_key(""),
            Err("separator \"\" needs a character other than spaces".to_owned())
        );
    }

    #[test]
    fn refused_separator_falls_back_to_the_default() {
        let (sep, rules) = separator_rules("x", "; ");
        assert_eq!(sep, b"; ");
        assert_eq!(rules, Rules::labelled(b';'));
    }

    #[test]
    fn sensor_name_is_escaped() {
        let rules = Rules::labelled(b',');
        assert_eq!(escape_name(&rules, "a,b\\c\n"), b"a\\,b\\\\c\\n");
    }
}
