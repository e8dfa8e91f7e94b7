//! Feeds arbitrary bytes to the alert parser; on success every string field must decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use otrelay::parse::parse_alert;

fuzz_target!(|line: &[u8]| {
    if let Ok(alert) = parse_alert(line) {
        let optional = [
            alert.message,
            alert.source_address,
            alert.destination_address,
            alert.protocol,
            alert.category,
            alert.source_mac,
            alert.destination_mac,
            alert.source_name,
            alert.destination_name,
            alert.uuid,
            alert.sensor_name,
        ];
        let strings = [Some(alert.title), Some(alert.engine_name)];
        for s in strings.into_iter().chain(optional).flatten() {
            // The parser promised valid UTF-8 and well-formed escapes: no replacement characters
            // unless the line itself spelled one.
            let text = s.to_string_lossy();
            let raw = std::str::from_utf8(s.raw()).expect("raw string is UTF-8");
            let spelled = raw.contains('\u{FFFD}') || raw.to_ascii_lowercase().contains("\\ufffd");
            assert!(!text.contains('\u{FFFD}') || spelled, "replacement in {raw:?}");
        }
    }
});
