//! Training checkpoints as `--resume` reads them, for the corpus's run (GRBM, d = 3, 4 hidden
//! units, batches of 8; the SteinGAN's generator 2-4-3).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stein::train::{CheckpointSizes, CheckpointState, TrainConfig};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = stein::io::safetensors::Tensors::decode(data) {
        if let Some(c) = t.metadata.get("config") {
            if let Ok(c) = serde_json::from_str::<TrainConfig>(c) {
                let _ = c.validate();
            }
        }
        let sizes = CheckpointSizes {
            params: 3 * 4 + 3 + 4,
            chains: 8 * 3,
            generator: t
                .tensors
                .contains_key("gen_eta")
                .then_some((2 + 1) * 4 + (4 + 1) * 3),
        };
        let _ = CheckpointState::read(&t, sizes);
    }
});
