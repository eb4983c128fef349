//! The kernel bandwidth h, one abstraction for every algorithm: the exact median of
//! algorithms.md §1, its sampled estimate, or a fixed h, selected on the device.
//!
//! [`BandwidthSelector`] serves a set of `n` particles in `d` dimensions (SVGD's particles,
//! SteinCD's data batch, SteinGAN's generated batch). Its result is a [`Selected`]: h on the
//! host where the selection produced it there, or (h, 1/h) in a device buffer that φ reads
//! ([`crate::kernels::Kernels::record_svgd_phi_with`]), so a step with the median
//! bandwidth can stay in one encoder. Which of the two:
//! - [`Placement::Encoder`] (training batches, written into the step's encoder): the median
//!   is recorded into that encoder, no readback: [`BatchMedian`] where the batch fits one
//!   selection workgroup, [`DeviceMedian`] beyond. Callers that need h on the host (`host_h`)
//!   get it read back.
//! - [`Placement::Host`] (the SVGD engine): a step records [`DeviceMedian`] into its encoder
//!   ([`BandwidthSelector::record_median`]) and h stays on the device; where the host asks
//!   for h (a KSD, `phi`, a logged step) the same selection runs with one readback and is
//!   kept until the particles move, h = med / log(n + 1) in f64. Past what the device path
//!   serves (n > 92 681, or llvmpipe's loop limit) the host-driven [`MedianSelector`] runs.
//!
//! The f64 sort of all n² distances (`cpu::median`) is the test oracle only: no hot path uses it.

use anyhow::{ensure, Result};

use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::kernels::{Kernels, PhiBandwidth};
use crate::median::{BatchMedian, DeviceMedian, MedianResult, MedianSelector};

/// How the kernel bandwidth h is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bandwidth {
    /// h = med / log(n + 1), med the exact median of all n² squared distances.
    Median,
    /// The same with med estimated from a sample of 2²⁰ pairs (opt-in; exact for n ≤ 2048;
    /// see [`MedianSelector::median_sampled`]).
    MedianSampled,
    /// A fixed h.
    Fixed(f64),
}

/// h = med / log(n + 1) (algorithms.md §1); h = 1 when med = 0 (all particles equal).
pub fn from_median(med: f64, n: usize) -> f64 {
    if med > 0.0 {
        med / log_n1(n)
    } else {
        1.0
    }
}

/// log(n + 1) in f64, the bandwidth's divisor: one expression, so that the device's software
/// binary64 (`median_finish`, `median_small`, given its bits) divides by the same number.
pub fn log_n1(n: usize) -> f64 {
    ((n as f64) + 1.0).ln()
}

/// Where a selector leaves the median bandwidth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the host, in f64 (the caller reports h); the particles are already on the device
    /// when [`BandwidthSelector::select`] is called, so nothing recorded is submitted.
    Host,
    /// The particles are written into the step's encoder: the median is recorded after them
    /// where the batch allows it (h stays on the device), else the encoder is submitted and
    /// the exact selector's passes run. `host_h`: the caller needs h on the host (φ
    /// normalised by its row sums), so always the latter.
    Encoder {
        /// Whether h is needed on the host.
        host_h: bool,
    },
}

/// The bandwidth of one φ pass.
#[derive(Clone, Copy, Debug)]
pub struct Selected {
    /// h on the host; `None` when it stays on the device ([`BandwidthSelector::device_h`]).
    pub h: Option<f64>,
    /// The median computation, when the selector ran the exact selector's passes.
    pub median: Option<MedianResult>,
}

/// The in-encoder selections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnDevice {
    Batch,
    Exact,
}

/// Selects h for a set of `n` particles in `d` dimensions; see the module doc.
pub struct BandwidthSelector {
    n: usize,
    d: usize,
    placement: Placement,
    /// The in-encoder selection (made on first use where it fits).
    batch: Option<BatchMedian>,
    /// The exact selector's buffers (made on first use).
    passes: Option<MedianSelector>,
    /// The selection recorded into an encoder for any n it fits ([`DeviceMedian::fits`];
    /// made on first use).
    device: Option<DeviceMedian>,
    /// Which in-encoder selection wrote the device h last.
    device_last: Option<OnDevice>,
    /// The last step's device median, read before a host query's selection overwrote the
    /// device state ([`BandwidthSelector::last_device_median`]).
    step_result: Option<MedianResult>,
    /// The last host selection, kept until [`BandwidthSelector::moved`]: a KSD between steps
    /// and the next step share it.
    kept: Option<(Bandwidth, MedianResult)>,
    /// Medians computed (one per position of the particles asked at).
    computed: u64,
}

impl BandwidthSelector {
    /// A selector for `n` particles in `d` dimensions. [`Placement::Host`] makes the exact
    /// selector's buffers now (their size is the engine's memory); the in-encoder selection is
    /// made on first use.
    pub fn new(
        ctx: &GpuContext,
        k: &Kernels,
        (n, d): (usize, usize),
        placement: Placement,
    ) -> Result<Self> {
        ensure!(n >= 1 && d >= 1, "bandwidth: needs n >= 1 and d >= 1");
        Ok(Self {
            n,
            d,
            placement,
            batch: None,
            // The host selector's buffers where the device path cannot serve n.
            passes: match placement {
                Placement::Host if !DeviceMedian::fits(ctx, n) => {
                    Some(MedianSelector::new(ctx, k, n, d)?)
                }
                _ => None,
            },
            device: match placement {
                Placement::Host if DeviceMedian::fits(ctx, n) => {
                    Some(DeviceMedian::new(ctx, k, n, d)?)
                }
                _ => None,
            },
            device_last: None,
            step_result: None,
            kept: None,
            computed: 0,
        })
    }

    /// Bytes of device memory held.
    pub fn device_bytes(&self) -> u64 {
        self.passes.as_ref().map_or(0, MedianSelector::device_bytes)
            + self.device.as_ref().map_or(0, DeviceMedian::device_bytes)
    }

    /// Medians computed so far.
    pub fn medians_computed(&self) -> u64 {
        self.computed
    }

    /// The particles moved: the kept median no longer holds.
    pub fn moved(&mut self) {
        self.kept = None;
    }

    /// The exact median of the current particles `x`, computed afresh by the selector's
    /// passes (benchmarks time this).
    pub fn median(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
    ) -> Result<MedianResult> {
        if DeviceMedian::fits(ctx, self.n) {
            // A step's median not yet read would be overwritten: keep it (one readback, on
            // the steps that ask for h anyway).
            if self.device_last == Some(OnDevice::Exact) && self.step_result.is_none() {
                self.step_result = Some(self.device(ctx, k)?.result(ctx)?);
            }
            let mut rec = Recorder::new(ctx);
            self.device(ctx, k)?.record(ctx, k, &mut rec, x)?;
            rec.submit(ctx);
            return self.device(ctx, k)?.result(ctx);
        }
        self.passes(ctx, k)?.median_sqdist(ctx, k, x)
    }

    fn device(&mut self, ctx: &GpuContext, k: &Kernels) -> Result<&mut DeviceMedian> {
        let (n, d) = (self.n, self.d);
        match &mut self.device {
            Some(p) => Ok(p),
            none => Ok(none.insert(DeviceMedian::new(ctx, k, n, d)?)),
        }
    }

    /// Records the exact median of `x` into `rec` (the step's encoder, after what wrote `x`),
    /// leaving h on the device for φ ([`BandwidthSelector::phi_bandwidth`]), where the device
    /// path serves n and no median of these particles is kept: returns whether it did. The
    /// SVGD engine's steps take it, so a step is one submit with no readback.
    pub fn record_median(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        rec: &mut Recorder,
        x: &GpuVec<f32>,
    ) -> Result<bool> {
        if self.kept.is_some() || !DeviceMedian::fits(ctx, self.n) {
            return Ok(false);
        }
        self.device(ctx, k)?.record(ctx, k, rec, x)?;
        self.device_last = Some(OnDevice::Exact);
        self.step_result = None;
        self.computed += 1;
        Ok(true)
    }

    /// What the last in-encoder exact median found (one readback; for the steps that log).
    pub fn last_device_median(&self, ctx: &GpuContext) -> Result<Option<MedianResult>> {
        match (&self.device, self.device_last, self.step_result) {
            (_, Some(OnDevice::Exact), Some(r)) => Ok(Some(r)),
            (Some(dm), Some(OnDevice::Exact), None) => dm.result(ctx).map(Some),
            _ => Ok(None),
        }
    }

    fn passes(&mut self, ctx: &GpuContext, k: &Kernels) -> Result<&mut MedianSelector> {
        let (n, d) = (self.n, self.d);
        match &mut self.passes {
            Some(p) => Ok(p),
            none => Ok(none.insert(MedianSelector::new(ctx, k, n, d)?)),
        }
    }

    /// The bandwidth `rule` of the particles `x` (`[n, d]`). `rec`: the step's encoder, when
    /// `x` is written there (`None`: `x` is on the device already, and h comes from the
    /// exact selector's passes on the host's behalf). A fixed h records nothing; an
    /// in-encoder median records its passes into `rec` after what wrote `x` and leaves h on
    /// the device ([`BandwidthSelector::phi_bandwidth`]). Where the exact selector's passes
    /// run for an in-encoder selection, what `rec` holds is submitted first (they read `x`
    /// back on the way).
    pub fn select(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        rec: Option<&mut Recorder>,
        x: &GpuVec<f32>,
        rule: Bandwidth,
    ) -> Result<Selected> {
        if let Bandwidth::Fixed(h) = rule {
            ensure!(
                h > 0.0 && h.is_finite(),
                "bandwidth h = {h} must be positive and finite"
            );
            return Ok(Selected {
                h: Some(h),
                median: None,
            });
        }
        let rec = match rec {
            Some(rec)
                if self.placement == (Placement::Encoder { host_h: false })
                    && rule == Bandwidth::Median
                    && (BatchMedian::fits(ctx, self.n) || DeviceMedian::fits(ctx, self.n)) =>
            {
                rec
            }
            rec => return self.select_by_passes(ctx, k, rec, x, rule),
        };
        if !BatchMedian::fits(ctx, self.n) {
            // Past one selection workgroup: the exact selection, recorded all the same.
            self.device(ctx, k)?.record(ctx, k, rec, x)?;
            self.device_last = Some(OnDevice::Exact);
            self.step_result = None;
            self.computed += 1;
            return Ok(Selected {
                h: None,
                median: None,
            });
        }
        {
            let (n, d) = (self.n, self.d);
            let bm = match &mut self.batch {
                Some(b) => b,
                none => none.insert(BatchMedian::new(ctx, k, n, d)?),
            };
            bm.record(ctx, k, rec, x)?;
            self.device_last = Some(OnDevice::Batch);
            self.computed += 1;
            Ok(Selected {
                h: None,
                median: None,
            })
        }
    }

    /// The exact (or sampled) median by the selector's passes, kept for a host placement
    /// until the particles move; `rec`'s commands are submitted first.
    fn select_by_passes(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        rec: Option<&mut Recorder>,
        x: &GpuVec<f32>,
        rule: Bandwidth,
    ) -> Result<Selected> {
        let m = match self.kept {
            Some((kind, m)) if kind == rule => m,
            _ => {
                if let Some(rec) = rec {
                    // What wrote `x` into `rec` must land before the passes read it.
                    std::mem::replace(rec, Recorder::new(ctx)).submit(ctx);
                }
                self.computed += 1;
                if rule == Bandwidth::Median {
                    self.median(ctx, k, x)?
                } else {
                    self.passes(ctx, k)?.median_sampled(ctx, k, x)?
                }
            }
        };
        if !m.med.is_finite() {
            return Err(crate::run::Diverged(format!(
                "particles diverged (their median squared distance is {}); lower the step size",
                m.med
            ))
            .into());
        }
        if self.placement == Placement::Host {
            self.kept = Some((rule, m));
        }
        Ok(Selected {
            h: Some(from_median(m.med, self.n)),
            median: Some(m),
        })
    }

    /// The device buffer holding (h, 1/h) after an in-encoder selection.
    pub fn device_h(&self) -> Option<&GpuVec<f32>> {
        match self.device_last? {
            OnDevice::Batch => self.batch.as_ref().map(|b| &b.h),
            OnDevice::Exact => self.device.as_ref().map(|b| &b.h),
        }
    }

    /// Where φ reads the bandwidth `sel` selected: h on the host, or the device buffer.
    pub fn phi_bandwidth(&self, sel: &Selected) -> Result<PhiBandwidth<'_>> {
        match (sel.h, self.device_h()) {
            (Some(h), _) => Ok(PhiBandwidth::Host(h)),
            (None, Some(h)) => Ok(PhiBandwidth::Device(h)),
            (None, None) => anyhow::bail!("svgd_phi: the bandwidth was not selected"),
        }
    }
}
