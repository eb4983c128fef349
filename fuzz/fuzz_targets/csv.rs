//! CSV training and evaluation data, standardised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stein::io::data::{decode_data, DataFormat, DataOptions};

fuzz_target!(|data: &[u8]| {
    let opts = DataOptions {
        raw_u8: false,
        standardize: true,
    };
    let _ = decode_data(data, DataFormat::Csv, "fuzz.csv", opts);
});
