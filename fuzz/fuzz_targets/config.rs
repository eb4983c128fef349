//! `stein train --config` TOML files (the reader lives in the binary's `cli` module).
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../src/cli/mod.rs"]
mod cli;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cli::train::parse_config(text, "fuzz.toml", &|_| false);
    }
});
