//! Model and generator files (`eval`, `energy`, `sample`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = stein::io::safetensors::Tensors::decode(data) {
        let _ = stein::model::spec::ModelSpec::from_tensors(&t);
        let _ = stein::model::generator::GenSpec::from_tensors(&t);
    }
});
