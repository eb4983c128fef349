//! `.npy` arrays: the array reader, the particles reader and the data reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stein::io::data::{decode_data, DataFormat, DataOptions};

fuzz_target!(|data: &[u8]| {
    let _ = stein::io::npy::decode_npy(data);
    let _ = stein::io::npy::decode_matrix_f32(data, "fuzz.npy", "particles");
    let opts = DataOptions {
        raw_u8: false,
        standardize: true,
    };
    let _ = decode_data(data, DataFormat::Npy, "fuzz.npy", opts);
});
