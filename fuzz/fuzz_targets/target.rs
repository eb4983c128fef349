//! Target distributions (JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stein::io::target::from_json_str(text, "fuzz.json");
    }
});
