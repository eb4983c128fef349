//! safetensors files.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stein::io::safetensors::Tensors::decode(data);
});
