//! The config loader never panics: any text is either a valid config or a located error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = otrelay::Config::parse(text, "fuzz.toml") {
            // Rendering the error exercises the line/column computation too.
            let _ = e.to_string();
        }
    }
});
