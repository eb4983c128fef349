//! The unnormalised log-density f(x) of a trained model (RBM or MLP) at given points, and its
//! score ∇ₓf.
//!
//! ```no_run
//! use std::path::Path;
//! use stein::gpu::{AdapterChoice, GpuContext};
//! use stein::model::spec::ModelSpec;
//!
//! # fn main() -> anyhow::Result<()> {
//! let (spec, theta) = ModelSpec::load(Path::new("runs/ring8/model.safetensors"))?;
//! let ctx = GpuContext::new(&AdapterChoice::default())?;
//! let f = stein::run::energy::energies(&ctx, &spec, &theta, &[0.0, 0.0, 1.0, 2.0])?;
//! assert_eq!(f.len(), 2);
//! # Ok(())
//! # }
//! ```

use anyhow::{ensure, Result};

use crate::gpu::{GpuContext, GpuVec};
use crate::model::spec::{ModelKernels, ModelSpec};

/// f(xᵢ) of the model (`spec`, θ) at the rows of `x` (`[n, d]`, d the model's, in the
/// model's units: see [`crate::io::data::Transform::to_model`]), on the device.
pub fn energies(ctx: &GpuContext, spec: &ModelSpec, theta: &[f32], x: &[f32]) -> Result<Vec<f32>> {
    let (f, _) = evaluate(ctx, spec, theta, x)?;
    f.read(ctx)
}

/// f(xᵢ) and the score ∇ₓf(xᵢ) (`[n, d]`) of the model at the rows of `x`, as [`energies`]
/// (both in the model's units).
pub fn energies_and_scores(
    ctx: &GpuContext,
    spec: &ModelSpec,
    theta: &[f32],
    x: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let (f, score) = evaluate(ctx, spec, theta, x)?;
    Ok((f.read(ctx)?, score.read(ctx)?))
}

/// f and ∇ₓf at the rows of `x`, on the device (submitted, not read back).
fn evaluate(
    ctx: &GpuContext,
    spec: &ModelSpec,
    theta: &[f32],
    x: &[f32],
) -> Result<(GpuVec<f32>, GpuVec<f32>)> {
    let d = spec.dim();
    ensure!(
        d >= 1 && x.len().is_multiple_of(d),
        "points: {} values are not rows of the model's d = {d}",
        x.len()
    );
    let n = x.len() / d;
    let mk = ModelKernels::new(ctx)?;
    let energy = spec.energy(ctx, &mk, theta, n)?;
    let xb = GpuVec::from_slice(ctx, "points", x)?;
    let f = GpuVec::<f32>::nan_filled(ctx, "f", n)?;
    let score = GpuVec::<f32>::zeros(ctx, "score", n * d)?;
    let mut enc = crate::gpu::Recorder::new(ctx);
    energy.record_energy_score(ctx, &mut enc, &xb, &f, &score)?;
    enc.submit(ctx);
    Ok((f, score))
}
