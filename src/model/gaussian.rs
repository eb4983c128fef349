//! An unnormalised Gaussian with diagonal covariance as an [`Energy`](super::Energy): a model whose log Z is
//! known in closed form, to check samplers and evaluators (AIS) against.

use anyhow::{ensure, Result};

use crate::gpu::params::GmmParams;
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder};

/// f(x) = c − ½ Σ_a (x_a − μ_a)² / σ_a², with Z = exp(c) Π_a σ_a √(2π); batches of `n` rows.
pub struct DiagGaussianEnergy {
    kernel: Kernel,
    packed: GpuVec<f32>,
    mean: Vec<f64>,
    std: Vec<f64>,
    offset: f64,
    n: usize,
}

impl DiagGaussianEnergy {
    /// Mean μ, standard deviations σ (positive, finite), additive constant c, batch size n.
    pub fn new(ctx: &GpuContext, mean: &[f64], std: &[f64], offset: f64, n: usize) -> Result<Self> {
        let d = mean.len();
        ensure!(
            d >= 1 && std.len() == d,
            "gaussian energy: need d >= 1 and one σ per mean"
        );
        ensure!(n >= 1, "gaussian energy: empty batch");
        ensure!(
            std.iter().all(|s| *s > 0.0 && s.is_finite())
                && mean.iter().all(|m| m.is_finite())
                && offset.is_finite(),
            "gaussian energy: σ must be positive and every value finite"
        );
        ctx.check_loop("gaussian_energy (d per row)", d as u64 + 8)?;
        let mut packed: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        packed.extend(std.iter().map(|&s| (1.0 / (s * s)) as f32));
        packed.push(offset as f32);
        Ok(Self {
            kernel: Kernel::new(ctx, &shader::GAUSSIAN_ENERGY, 64)?,
            packed: GpuVec::from_slice(ctx, "gaussian mean, precision, offset", &packed)?,
            mean: mean.to_vec(),
            std: std.to_vec(),
            offset,
            n,
        })
    }

    /// log Z = c + Σ_a log(σ_a √(2π)), in f64.
    pub fn log_partition(&self) -> f64 {
        self.offset
            + self
                .std
                .iter()
                .map(|s| (s * (2.0 * std::f64::consts::PI).sqrt()).ln())
                .sum::<f64>()
    }

    /// f at one point, in f64.
    pub fn energy(&self, x: &[f64]) -> f64 {
        self.offset
            - 0.5
                * x.iter()
                    .zip(self.mean.iter().zip(&self.std))
                    .map(|(xa, (m, s))| ((xa - m) / s).powi(2))
                    .sum::<f64>()
    }

    /// ∇f at one point, in f64.
    pub fn score(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(xa, (m, s))| -(xa - m) / (s * s))
            .collect()
    }
}

impl super::Energy for DiagGaussianEnergy {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn batch(&self) -> usize {
        self.n
    }
    fn record_energy_score(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
        f: &GpuVec<f32>,
        score: &GpuVec<f32>,
    ) -> Result<()> {
        let nd = self.n * self.mean.len();
        ensure!(
            x.len >= nd && score.len >= nd && f.len >= self.n,
            "gaussian energy: buffers shorter than the batch of {} rows",
            self.n
        );
        let params = enc.uniform(
            ctx,
            &GmmParams {
                n: self.n as u32,
                d: self.mean.len() as u32,
                k: 1,
                _pad: 0,
            },
        );
        let g = self.kernel.groups_for(ctx, self.n)?;
        self.kernel.record_with(
            ctx,
            enc,
            &params,
            &[&self.packed.buffer, &x.buffer, &f.buffer, &score.buffer],
            g,
        )
    }
    fn device_bytes(&self) -> u64 {
        self.packed.bytes()
    }
}
