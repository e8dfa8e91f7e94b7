//! Maps alert keys and small enumerated values (severity, kind) to what they mean, ignoring ASCII
//! case, without string search.
//!
//! Pipeline position: called by [`super::parse_alert`] on the pipeline thread for every key of
//! every alert line. Nothing here allocates. Dispatch is a `match` on the key's length and
//! lower-cased first byte, which picks at most one candidate; only that candidate is compared.
//!
//! The comparison lower-cases the input with `| 0x20` and compares with a lower-case canonical
//! name. That is exact because every canonical name is made of ASCII letters only: the only bytes
//! that become the letter `l` under `| 0x20` are `l` and `L`.

use crate::alert::{RawStr, Severity, word4, word8};

/// An alert field the parser keeps. Aliases map to the same field, so a key and its alias in one
/// alert are a duplicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Field {
    Id,
    Time,
    Title,
    Message,
    Severity,
    Engine,
    Kind,
    SourceDevice,
    DestinationDevice,
    SourceAddress,
    DestinationAddress,
    Protocol,
    Category,
    SourceMac,
    DestinationMac,
    SourceName,
    DestinationName,
    Uuid,
    SensorName,
    RemediationSteps,
    AdditionalInformation,
}

impl Field {
    /// The key as the sensor documentation spells it.
    pub(super) fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Time => "time",
            Field::Title => "title",
            Field::Message => "message",
            Field::Severity => "severity",
            Field::Engine => "engine",
            Field::Kind => "kind",
            Field::SourceDevice => "sourceDevice",
            Field::DestinationDevice => "destinationDevice",
            Field::SourceAddress => "sourceDeviceAddress",
            Field::DestinationAddress => "destinationDeviceAddress",
            Field::Protocol => "protocol",
            Field::Category => "category",
            Field::SourceMac => "sourceMac",
            Field::DestinationMac => "destinationMac",
            Field::SourceName => "sourceName",
            Field::DestinationName => "destinationName",
            Field::Uuid => "uuid",
            Field::SensorName => "sensorName",
            Field::RemediationSteps => "remediationSteps",
            Field::AdditionalInformation => "additionalInformation",
        }
    }

    /// This field's bit in the parser's seen/present masks.
    pub(super) fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A key as the sensor writes it, `"key":` included, packed for a compare without a call.
pub(super) struct KnownKey {
    /// The field the key names.
    pub(super) field: Field,
    /// `"key":`; at most [`KnownKey::MAX`] bytes.
    pub(super) text: &'static [u8],
    /// `"key":` in little-endian words, zero-padded.
    pub(super) words: [u64; 4],
    /// Which bits of `words` belong to the key.
    pub(super) masks: [u64; 4],
}

impl KnownKey {
    /// The longest `"key":` that fits the words.
    pub(super) const MAX: usize = 32;

    const fn new(field: Field, text: &'static [u8]) -> KnownKey {
        assert!(text.len() <= KnownKey::MAX);
        let mut words = [0u64; 4];
        let mut masks = [0u64; 4];
        let mut i = 0;
        while i < text.len() {
            words[i / 8] |= (text[i] as u64) << (i % 8 * 8);
            masks[i / 8] |= 0xff << (i % 8 * 8);
            i += 1;
        }
        KnownKey {
            field,
            text,
            words,
            masks,
        }
    }
}

/// The keys otrelay keeps, in the order the sensor writes them (spec §1.1), each spelled as in
/// the documentation between its quotes and followed by the colon.
///
/// The parser tries the next entry as a plain byte comparison before scanning a key; a hit names
/// exactly the same field that [`lookup`] would, without the scan and the case-folded compare.
/// Any other spelling, order or spacing takes the general path and loses nothing but time.
pub(super) static ORDER: [KnownKey; 20] = [
    KnownKey::new(Field::Id, b"\"id\":"),
    KnownKey::new(Field::Time, b"\"time\":"),
    KnownKey::new(Field::Title, b"\"title\":"),
    KnownKey::new(Field::Message, b"\"message\":"),
    KnownKey::new(Field::Severity, b"\"severity\":"),
    KnownKey::new(Field::Engine, b"\"engine\":"),
    KnownKey::new(Field::SourceDevice, b"\"sourceDevice\":"),
    KnownKey::new(Field::DestinationDevice, b"\"destinationDevice\":"),
    KnownKey::new(Field::SourceAddress, b"\"sourceDeviceAddress\":"),
    KnownKey::new(Field::DestinationAddress, b"\"destinationDeviceAddress\":"),
    KnownKey::new(Field::RemediationSteps, b"\"remediationSteps\":"),
    KnownKey::new(Field::AdditionalInformation, b"\"additionalInformation\":"),
    KnownKey::new(Field::Protocol, b"\"protocol\":"),
    KnownKey::new(Field::Category, b"\"category\":"),
    KnownKey::new(Field::SourceMac, b"\"sourceMac\":"),
    KnownKey::new(Field::DestinationMac, b"\"destinationMac\":"),
    KnownKey::new(Field::SourceName, b"\"sourceName\":"),
    KnownKey::new(Field::DestinationName, b"\"destinationName\":"),
    KnownKey::new(Field::Uuid, b"\"uuid\":"),
    KnownKey::new(Field::SensorName, b"\"sensorName\":"),
];

/// Index in [`ORDER`] of the entry that follows `field`, so that prediction resumes after a key
/// found by the general path.
#[cold]
pub(super) fn order_after(field: Field) -> Option<usize> {
    ORDER.iter().position(|k| k.field == field).map(|i| i + 1)
}

/// The field a key names, or `None` for keys otrelay ignores.
///
/// Keys written with escapes (`"ti\u0074le"`) are decoded first and then looked up like any other
/// key, so they cannot be used to slip a second `title` past the duplicate check.
#[inline]
pub(super) fn lookup(key: RawStr<'_>) -> Option<Field> {
    if !key.is_escaped() {
        return lookup_bytes(key.raw());
    }
    let mut buf = [0u8; SMALL];
    lookup_bytes(key.decode_to(&mut buf)?)
}

/// Looks up an unescaped key.
#[inline]
fn lookup_bytes(key: &[u8]) -> Option<Field> {
    let first = key.first()? | 0x20;
    let (field, canonical): (Field, &[u8]) = match (key.len(), first) {
        (2, b'i') => (Field::Id, b"id"),
        (4, b't') => (Field::Time, b"time"),
        (4, b'k') => (Field::Kind, b"kind"),
        (4, b'u') => (Field::Uuid, b"uuid"),
        (5, b't') => (Field::Title, b"title"),
        (6, b'e') => (Field::Engine, b"engine"),
        (7, b'm') => (Field::Message, b"message"),
        (8, b's') => (Field::Severity, b"severity"),
        (8, b'c') => (Field::Category, b"category"),
        (8, b'p') => (Field::Protocol, b"protocol"),
        (9, b's') => (Field::SourceMac, b"sourcemac"),
        (10, b's') if key[1] | 0x20 == b'o' => (Field::SourceName, b"sourcename"),
        (10, b's') => (Field::SensorName, b"sensorname"),
        (10, b'a') => (Field::Category, b"alertgroup"),
        (12, b's') => (Field::SourceDevice, b"sourcedevice"),
        (14, b'd') => (Field::DestinationMac, b"destinationmac"),
        (15, b's') => (Field::SourceMac, b"sourcedevicemac"),
        (15, b'd') => (Field::DestinationName, b"destinationname"),
        (16, b'r') => (Field::RemediationSteps, b"remediationsteps"),
        (17, b'd') => (Field::DestinationDevice, b"destinationdevice"),
        (19, b's') => (Field::SourceAddress, b"sourcedeviceaddress"),
        (20, b'd') => (Field::DestinationMac, b"destinationdevicemac"),
        (21, b'a') => (Field::AdditionalInformation, b"additionalinformation"),
        (24, b'd') => (Field::DestinationAddress, b"destinationdeviceaddress"),
        _ => return None,
    };
    eq_lower(key, canonical).then_some(field)
}

/// The severity a value names, ignoring ASCII case.
#[inline]
pub(super) fn severity(value: RawStr<'_>) -> Option<Severity> {
    let mut buf = [0u8; SMALL];
    let value = if value.is_escaped() {
        value.decode_to(&mut buf)?
    } else {
        value.raw()
    };

    let first = value.first()? | 0x20;
    let (severity, canonical): (Severity, &[u8]) = match (value.len(), first) {
        (7, b'w') => (Severity::Warning, b"warning"),
        (5, b'm') if value[1] | 0x20 == b'i' => (Severity::Minor, b"minor"),
        (5, b'm') => (Severity::Major, b"major"),
        (8, b'c') => (Severity::Critical, b"critical"),
        _ => return None,
    };
    eq_lower(value, canonical).then_some(severity)
}

/// Whether a `kind` value says `system` (`Some(true)`) or `alert` (`Some(false)`).
pub(super) fn is_system_kind(value: RawStr<'_>) -> Option<bool> {
    let mut buf = [0u8; SMALL];
    let value = if value.is_escaped() {
        value.decode_to(&mut buf)?
    } else {
        value.raw()
    };
    if eq_lower(value, b"system") {
        Some(true)
    } else if eq_lower(value, b"alert") {
        Some(false)
    } else {
        None
    }
}

/// Size of the stack buffer escaped keys and values are decoded into. Longer than every name
/// matched here; a longer decoded string cannot match and is reported as not matching.
pub(super) const SMALL: usize = 32;

/// Compares `input` with a lower-case, letters-only `canonical`, ignoring ASCII case.
///
/// Compares whole words (overlapping at the end) rather than bytes: `lookup_bytes` took about a
/// quarter of the parse time with a byte loop in `cargo bench --bench parse`, and half that with
/// words.
#[inline]
fn eq_lower(input: &[u8], canonical: &[u8]) -> bool {
    let n = input.len();
    if n != canonical.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word8(input, i) | LOWER8 != word8(canonical, i) {
                return false;
            }
            i += 8;
        }
        return word8(input, n - 8) | LOWER8 == word8(canonical, n - 8);
    }
    if n >= 4 {
        return word4(input, 0) | LOWER4 == word4(canonical, 0)
            && word4(input, n - 4) | LOWER4 == word4(canonical, n - 4);
    }
    input.iter().zip(canonical).all(|(&i, &c)| i | 0x20 == c)
}

/// `0x20` in every byte of a word: OR-ing it lower-cases ASCII letters.
const LOWER8: u64 = 0x2020_2020_2020_2020;
/// [`LOWER8`] for four bytes.
const LOWER4: u32 = 0x2020_2020;

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Field; 21] = [
        Field::Id,
        Field::Time,
        Field::Title,
        Field::Message,
        Field::Severity,
        Field::Engine,
        Field::Kind,
        Field::SourceDevice,
        Field::DestinationDevice,
        Field::SourceAddress,
        Field::DestinationAddress,
        Field::Protocol,
        Field::Category,
        Field::SourceMac,
        Field::DestinationMac,
        Field::SourceName,
        Field::DestinationName,
        Field::Uuid,
        Field::SensorName,
        Field::RemediationSteps,
        Field::AdditionalInformation,
    ];

    fn find(key: &str) -> Option<Field> {
        lookup(RawStr::new(key.as_bytes(), key.contains('\\')))
    }

    #[test]
    fn every_canonical_name_and_alias_resolves() {
        for field in ALL {
            let name = field.name();
            assert_eq!(find(name), Some(field), "{name}");
            assert_eq!(find(&name.to_ascii_uppercase()), Some(field), "{name}");
            assert_eq!(find(&name.to_ascii_lowercase()), Some(field), "{name}");
        }
        assert_eq!(find("alertGroup"), Some(Field::Category));
        assert_eq!(find("SOURCEDEVICEMAC"), Some(Field::SourceMac));
        assert_eq!(find("destinationDeviceMac"), Some(Field::DestinationMac));
        assert_eq!(
            find("additionalinformation"),
            Some(Field::AdditionalInformation)
        );
    }

    #[test]
    fn near_misses_are_unknown() {
        for key in [
            "",
            "i",
            "idx",
            "tim",
            "titles",
            "sourceNamf",
            "sensorNam3",
            "siteId",
        ] {
            assert_eq!(find(key), None, "{key}");
        }
        // `| 0x20` must not fold punctuation onto letters: '@' | 0x20 == '`'.
        assert_eq!(find("\u{7f}d"), None);
        assert_eq!(find("I\u{4}"), None);
    }

    #[test]
    fn escaped_keys_are_decoded() {
        assert_eq!(find(r"ti\u0074le"), Some(Field::Title));
        assert_eq!(find(r"\u0073ensorName"), Some(Field::SensorName));
        assert_eq!(find(r"title\n"), None);
        assert_eq!(find(&format!("{}\\n", "x".repeat(40))), None);
    }

    #[test]
    fn severities_and_kinds() {
        let s = |v: &str| severity(RawStr::new(v.as_bytes(), v.contains('\\')));
        assert_eq!(s("Warning"), Some(Severity::Warning));
        assert_eq!(s("MINOR"), Some(Severity::Minor));
        assert_eq!(s("major"), Some(Severity::Major));
        assert_eq!(s("Critical"), Some(Severity::Critical));
        assert_eq!(s(r"Maj\u006fr"), Some(Severity::Major));
        assert_eq!(s("Majo"), None);
        assert_eq!(s("High"), None);
        assert_eq!(s(""), None);

        let k = |v: &str| is_system_kind(RawStr::new(v.as_bytes(), v.contains('\\')));
        assert_eq!(k("system"), Some(true));
        assert_eq!(k("ALERT"), Some(false));
        assert_eq!(k("notification"), None);
    }
}
