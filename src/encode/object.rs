//! The "Syslog object" body: the sensor's ten object fields, as `Key: value` pairs or as one JSON
//! object.
//!
//! Pipeline position: each object action owns one [`ObjectEncoder`]; the pipeline thread calls
//! [`ObjectEncoder::encode`] for every alert the action's rules matched, right after the syslog
//! header, writing into the preallocated batch buffer.
//!
//! What must hold: no allocation per alert. The separator and the value rules are set up once in
//! [`ObjectEncoder::new`]; alert values are decoded from their JSON form and escaped in the same
//! pass, straight into the output, by [`super::escape::BoundedWriter`], which also enforces the
//! message limit. No raw control byte is ever written in either style.

// Layout (spec §3.5)
//
//   KeyValue: Sensor name: sensor-plant-01; Alert time: Jul 15 2020 13:17:40; Alert title: …;
//             Alert message: …; Alert severity: Critical; Alert type: Anomaly; Protocol: ICMP;
//             Source_MAC: 00:50:56:AA:01:16; Destination_MAC: N/A; alert_group: Scan
//   Json:     {"Sensor name":"sensor-plant-01","Alert time":"Jul 15 2020 13:17:40",…}
//
// The field names are the sensor's, odd spellings included. Every field is always written, `N/A`
// when the alert lacks the value (a JSON string, too, so readers see one type per key). `Alert
// time` is the alert time in the action's zone, as in CEF `start` and LEEF `devTime`. The spec
// describes `Source_MAC` as "IP address, name, vendor, or OS of the source device"; otrelay puts
// the MAC there, from the alert's MAC field or a MAC-shaped address, as CEF does.
//
// KeyValue values are escaped as in the text format (`text.rs`): the separator's key byte and
// `\` are backslash-escaped, LF/CR/TAB become `\n`/`\r`/`\t`, other controls a space. Json
// values are RFC 8259 strings: `"` and `\` escaped, LF/CR/TAB as `\n`/`\r`/`\t`, every other
// control character (C0, DEL, C1) as `\u00XX`, so a JSON reader gets every character back.
//
// Truncation: free-text values are cut on a character boundary and outside any escape, fixed
// values (time, MACs, severity) are written whole or not at all, and a field whose value got no
// byte is taken back. In the Json style room is kept for the closing `"` and `}`, so a cut
// message is still one valid JSON object, holding the fields that fit.

use crate::alert::{Alert, SensorIdentity};

use super::Encoded;
use super::cef::Address;
use super::escape::{BoundedWriter, Full, Pairs, Rules};
use super::text::{Labelled, alert_sensor_name, escape_name, separator_rules};
use super::time::{ALERT_TIME_LEN, AlertClock};

/// Default pair separator of the key/value style.
pub const DEFAULT_OBJECT_SEPARATOR: &str = "; ";

/// How the object is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ObjectStyle {
    /// `Key: value` pairs joined by the separator.
    #[default]
    KeyValue,
    /// One JSON object with string values.
    Json,
}

/// Layout options for one object action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectOptions {
    /// Key/value pairs or JSON.
    pub style: ObjectStyle,
    /// Written between pairs in the key/value style; defaults to `; `. Unused for JSON.
    pub separator: String,
}

impl Default for ObjectOptions {
    fn default() -> Self {
        ObjectOptions {
            style: ObjectStyle::KeyValue,
            separator: DEFAULT_OBJECT_SEPARATOR.to_owned(),
        }
    }
}

impl ObjectOptions {
    /// Checks the separator of the key/value style (the same rules as the text format's).
    ///
    /// # Errors
    ///
    /// A message naming the problem, as for [`super::text::TextOptions::validate`]; never for
    /// the Json style.
    pub fn validate(&self) -> Result<(), String> {
        match self.style {
            ObjectStyle::KeyValue => super::text::separator_key(&self.separator).map(|_| ()),
            ObjectStyle::Json => Ok(()),
        }
    }
}

/// Field keys in layout order: everything written before each value.
struct Keys {
    sensor_name: &'static [u8],
    time: &'static [u8],
    title: &'static [u8],
    message: &'static [u8],
    severity: &'static [u8],
    engine: &'static [u8],
    protocol: &'static [u8],
    source_mac: &'static [u8],
    destination_mac: &'static [u8],
    group: &'static [u8],
}

const KEY_VALUE_KEYS: Keys = Keys {
    sensor_name: b"Sensor name: ",
    time: b"Alert time: ",
    title: b"Alert title: ",
    message: b"Alert message: ",
    severity: b"Alert severity: ",
    engine: b"Alert type: ",
    protocol: b"Protocol: ",
    source_mac: b"Source_MAC: ",
    destination_mac: b"Destination_MAC: ",
    group: b"alert_group: ",
};

const JSON_KEYS: Keys = Keys {
    sensor_name: br#""Sensor name":""#,
    time: br#""Alert time":""#,
    title: br#""Alert title":""#,
    message: br#""Alert message":""#,
    severity: br#""Alert severity":""#,
    engine: br#""Alert type":""#,
    protocol: br#""Protocol":""#,
    source_mac: br#""Source_MAC":""#,
    destination_mac: br#""Destination_MAC":""#,
    group: br#""alert_group":""#,
};

/// Encodes alerts as sensor objects for one action.
pub struct ObjectEncoder {
    style: ObjectStyle,
    keys: &'static Keys,
    /// Written after each value: `"` for JSON, nothing for key/value.
    close: &'static [u8],
    separator: Vec<u8>,
    rules: Rules,
    /// The configured sensor name (empty prints `N/A`): escaped for key/value, where every
    /// escape is two bytes and a cut copy stays clean; kept as text for JSON, whose `\u00XX`
    /// escapes a cut could split, and escaped per message there.
    sensor_name: Vec<u8>,
    sensor_name_text: String,
    clock: AlertClock,
}

impl ObjectEncoder {
    /// Prepares the keys, the separator and the value rules. A separator that fails
    /// [`ObjectOptions::validate`] does not stop the encoder: it becomes the default `; `.
    pub fn new(opts: &ObjectOptions, sensor: &SensorIdentity, clock: AlertClock) -> ObjectEncoder {
        let name = sensor.name.as_str();
        let (keys, close, separator, rules) = match opts.style {
            ObjectStyle::KeyValue => {
                let (sep, rules) = separator_rules(&opts.separator, DEFAULT_OBJECT_SEPARATOR);
                (&KEY_VALUE_KEYS, &b""[..], sep, rules)
            }
            ObjectStyle::Json => (&JSON_KEYS, &b"\""[..], b",".to_vec(), Rules::json().clone()),
        };
        let sensor_name = match opts.style {
            ObjectStyle::KeyValue => escape_name(&rules, name),
            ObjectStyle::Json => Vec::new(),
        };

        ObjectEncoder {
            style: opts.style,
            keys,
            close,
            separator,
            rules,
            sensor_name,
            sensor_name_text: name.to_owned(),
            clock,
        }
    }

    /// Appends one object message (no syslog header, no framing) to `out`, writing at most
    /// `limit` bytes; returns [`Encoded::Truncated`] when it had to cut.
    pub fn encode(&mut self, alert: &Alert<'_>, out: &mut Vec<u8>, limit: usize) -> Encoded {
        super::escape::bounded(out, limit, |w| match self.style {
            ObjectStyle::KeyValue => self.write(alert, w),
            ObjectStyle::Json => self.write_json(alert, w),
        })
    }

    /// `{`, the fields, `}`, keeping room for the `}` so that a cut object is still closed.
    fn write_json(&mut self, alert: &Alert<'_>, w: &mut BoundedWriter<'_>) -> Result<(), Full> {
        let end = w.end();
        w.set_end(end.saturating_sub(1));
        w.whole(b"{")?;
        let fields = self.write(alert, w);
        w.set_end(end);
        w.whole(b"}")?;
        fields
    }

    fn write(&mut self, alert: &Alert<'_>, w: &mut BoundedWriter<'_>) -> Result<(), Full> {
        let (k, close) = (self.keys, self.close);
        let f = Labelled {
            pairs: Pairs::new(w.len(), &self.separator),
            rules: &self.rules,
            close,
        };

        match alert_sensor_name(alert) {
            Some(name) => f.text(w, k.sensor_name, Some(name))?,
            None if self.style == ObjectStyle::Json && !self.sensor_name_text.is_empty() => {
                let name = &self.sensor_name_text;
                f.pairs.text(w, k.sensor_name, &self.rules, name, close)?
            }
            // Key/value, or JSON with no configured name (which prints `N/A`).
            None => f.escaped(w, k.sensor_name, &self.sensor_name)?,
        }
        let clock = &mut self.clock;
        f.pairs
            .whole_with(w, k.time, ALERT_TIME_LEN, close, |out| {
                clock.write(alert.time_ms, out)
            })?;
        f.text(w, k.title, Some(alert.title))?;
        f.text(w, k.message, alert.message)?;
        f.word(w, k.severity, alert.severity.name().as_bytes())?;
        f.engine(w, k.engine, alert)?;
        f.text(w, k.protocol, alert.protocol)?;

        let src = Address::classify(alert.source_address);
        let dst = Address::classify(alert.destination_address);
        f.mac(w, k.source_mac, alert.source_mac, &src)?;
        f.mac(w, k.destination_mac, alert.destination_mac, &dst)?;
        f.text(w, k.group, alert.category)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_ignores_the_separator() {
        let opts = ObjectOptions {
            style: ObjectStyle::Json,
            separator: String::new(),
        };
        assert_eq!(opts.validate(), Ok(()));
        let opts = ObjectOptions {
            style: ObjectStyle::KeyValue,
            separator: String::new(),
        };
        assert!(opts.validate().is_err());
    }

    #[test]
    fn keys_differ_only_in_quoting() {
        let pairs = |k: &Keys| {
            [
                k.sensor_name,
                k.time,
                k.title,
                k.message,
                k.severity,
                k.engine,
                k.protocol,
                k.source_mac,
                k.destination_mac,
                k.group,
            ]
            .map(|b| std::str::from_utf8(b).expect("ASCII").to_owned())
        };
        for (kv, json) in pairs(&KEY_VALUE_KEYS).iter().zip(pairs(&JSON_KEYS)) {
            let name = kv.strip_suffix(": ").expect("key/value key ends in `: `");
            assert_eq!(json, format!("\"{name}\":\""));
        }
    }
}
