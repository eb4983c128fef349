//! The Stein direction of a set of particles, recorded by one piece for every algorithm:
//! score → bandwidth → φ, then the algorithm's update along φ.
//!
//! SVGD ([`crate::svgd::Svgd`]) moves its particles by an optimizer step along φ; SteinCD
//! ([`crate::train`]) takes one plain step from the data batch; SteinGAN back-propagates φ
//! through its generator; the hybrid does both. Each owns a [`SteinDirection`] for its set of
//! particles and records through it, so the bandwidth rule, the φ kernel choice and the
//! device-resident bandwidth are decided in one place.

use anyhow::Result;

use crate::bandwidth::{Bandwidth, BandwidthSelector, Placement, Selected};
use crate::gpu::params::UpdateParams;
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::kernels::{Kernels, PhiScratch};

/// φ of `n` particles in `d` dimensions, with its score buffer and bandwidth selector.
pub struct SteinDirection {
    n: usize,
    d: usize,
    /// ∇ log p at the particles, as the caller's score wrote it.
    pub score: GpuVec<f32>,
    /// φ at the particles.
    pub phi: GpuVec<f32>,
    scratch: PhiScratch,
    /// The bandwidth.
    pub bandwidth: BandwidthSelector,
}

impl SteinDirection {
    /// Buffers for `n` particles in `d` dimensions; `placement` says where the median
    /// bandwidth is selected ([`Placement`]).
    pub fn new(
        ctx: &GpuContext,
        k: &Kernels,
        (n, d): (usize, usize),
        placement: Placement,
    ) -> Result<Self> {
        Ok(Self {
            n,
            d,
            score: GpuVec::zeros(ctx, "score", n * d)?,
            phi: GpuVec::zeros(ctx, "phi", n * d)?,
            scratch: PhiScratch::new(ctx, k, n, d)?,
            bandwidth: BandwidthSelector::new(ctx, k, (n, d), placement)?,
        })
    }

    /// Bytes of device memory held (score, φ, φ's scratch, the selector).
    pub fn device_bytes(&self) -> u64 {
        self.score.bytes()
            + self.phi.bytes()
            + self.scratch.device_bytes()
            + self.bandwidth.device_bytes()
    }

    /// Records the score, the bandwidth `rule` and φ at `x` into `rec`: `score` records
    /// ∇ log p(x) into the buffer it is given ([`SteinDirection::score`]). Returns the
    /// bandwidth used.
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        rec: &mut Recorder,
        x: &GpuVec<f32>,
        rule: Bandwidth,
        score: impl FnOnce(&mut Recorder, &GpuVec<f32>) -> Result<()>,
    ) -> Result<Selected> {
        let sel = self.bandwidth.select(ctx, k, Some(&mut *rec), x, rule)?;
        score(rec, &self.score)?;
        self.record_phi(ctx, k, rec, x, &sel)?;
        Ok(sel)
    }

    /// Records φ alone at `x` with bandwidth `sel` ([`SteinDirection::score`] must hold the
    /// score at `x`).
    pub fn record_phi(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        rec: &mut Recorder,
        x: &GpuVec<f32>,
        sel: &Selected,
    ) -> Result<()> {
        let h = self.bandwidth.phi_bandwidth(sel)?;
        let nd = (self.n, self.d);
        k.record_svgd_phi_with(ctx, rec, x, &self.score, &self.scratch, &self.phi, nd, h)
    }

    /// Records the update `x ← update(x, φ)` with parameters `p` and optimizer state `state`
    /// (none: a plain step; one: AdaGrad's; two: Adam's moments).
    pub fn record_update(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        rec: &mut Recorder,
        p: UpdateParams,
        x: &GpuVec<f32>,
        state: &[&GpuVec<f32>],
    ) -> Result<()> {
        k.record_update(ctx, rec, p, &self.phi, x, state)
    }
}
