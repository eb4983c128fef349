//! Energy models p(x|θ) ∝ exp(f(x; θ)) (algorithms.md §2): f, its score ∇ₓf and the
//! parameter gradient of a weighted batch sum, on the device, with θ in one flat buffer.
//!
//! [`Energy`] is what samplers and evaluators (Langevin, SVGD, AIS, quadrature) need of a model:
//! f and ∇ₓf for a batch of a fixed size, recorded into an encoder, with θ on the device.

use anyhow::Result;

use crate::gpu::{GpuContext, GpuVec};

pub mod gaussian;
pub mod rbm;

/// A model's f and ∇ₓf for batches of a fixed size `batch()`, with its θ on the device.
pub trait Energy {
    /// Dimension d of x.
    fn dim(&self) -> usize;
    /// Rows per evaluation (the workspace was sized for it).
    fn batch(&self) -> usize;
    /// Records `f[i] = f(x_i)` (`[n]`) and `score[i] = ∇ₓf(x_i)` (`[n, d]`) for the first
    /// n = `batch()` rows of `x`. Only what is recorded before submit counts: nothing is read
    /// back.
    fn record_energy_score(
        &self,
        ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        x: &GpuVec<f32>,
        f: &GpuVec<f32>,
        score: &GpuVec<f32>,
    ) -> Result<()>;
    /// Bytes of device memory held.
    fn device_bytes(&self) -> u64 {
        0
    }
}
