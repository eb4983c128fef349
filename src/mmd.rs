//! Sample quality: the unbiased MMD² between two samples (algorithms.md §4), RBF kernel
//! k(a, b) = exp(−‖a − b‖²/h) with the median bandwidth h = med, the median of all N² squared
//! distances of the pooled sample (N = n + m; the same exact selection as SVGD's bandwidth,
//! without SVGD's 1/log(N + 1) factor; h = 1 if med = 0). One tiled pass (`mmd_rows`) gives
//! each row its kernel sums over X and over Y with the diagonal left out; the host adds them in
//! f64 in row order. Memory O(N·d); deterministic.

use anyhow::{ensure, Result};

use crate::gpu::params::PairParams;
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::kernels::{pair_params, Kernels};
use crate::median::MedianSelector;

/// What [`mmd2`] computed.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Mmd {
    /// The unbiased MMD² (can be slightly negative when the samples agree).
    pub mmd2: f64,
    /// The bandwidth used.
    pub h: f64,
    /// Rows of the first and second sample.
    pub n: usize,
    /// Rows of the second sample.
    pub m: usize,
}

/// MMD²_u between `x` (`[n, d]`) and `y` (`[m, d]`); `h` None = the pooled median.
pub fn mmd2(
    ctx: &GpuContext,
    k: &Kernels,
    x: &[f32],
    y: &[f32],
    d: usize,
    h: Option<f64>,
) -> Result<Mmd> {
    ensure!(d >= 1, "mmd: d must be at least 1");
    ensure!(
        x.len().is_multiple_of(d) && y.len().is_multiple_of(d),
        "mmd: samples do not match d = {d}"
    );
    let (n, m) = (x.len() / d, y.len() / d);
    ensure!(
        n >= 2 && m >= 2,
        "mmd: the unbiased estimate needs at least 2 rows in each sample (got {n} and {m})"
    );
    let total = n + m;
    let z: Vec<f32> = x.iter().chain(y).copied().collect();
    let zb = GpuVec::from_slice(ctx, "mmd pooled sample", &z)?;
    let h = match h {
        Some(h) => {
            ensure!(h > 0.0 && h.is_finite(), "mmd: bandwidth must be positive");
            h
        }
        None => {
            let med = MedianSelector::new(ctx, k, total, d)?
                .median_sqdist(ctx, k, &zb)?
                .med;
            if med > 0.0 {
                med
            } else {
                1.0
            }
        }
    };
    let rows = GpuVec::<f32>::nan_filled(ctx, "mmd rows", 2 * total)?;
    let plan = k.mmd_plan(ctx, total, d)?;
    let base = PairParams {
        aux: n as u32,
        ..pair_params(total, d, h)
    };
    let g = k.mmd_rows.groups_for(ctx, total)?;
    let mut enc = Recorder::new(ctx);
    for &(j_begin, j_end, flags) in &plan {
        let u = enc.uniform(
            ctx,
            &PairParams {
                j_begin,
                j_end,
                flags,
                ..base
            },
        );
        k.mmd_rows
            .record_with(ctx, &mut enc, &u, &[&zb.buffer, &rows.buffer], g)?;
    }
    enc.submit(ctx);
    let r = rows.read(ctx)?;
    let (mut kxx, mut kyy, mut kxy) = (0.0f64, 0.0f64, 0.0f64);
    for i in 0..total {
        let (sx, sy) = (f64::from(r[2 * i]), f64::from(r[2 * i + 1]));
        if i < n {
            kxx += sx;
            kxy += sy;
        } else {
            kyy += sy;
        }
    }
    let (nf, mf) = (n as f64, m as f64);
    let mmd2 = kxx / (nf * (nf - 1.0)) + kyy / (mf * (mf - 1.0)) - 2.0 * kxy / (nf * mf);
    ensure!(
        mmd2.is_finite(),
        "mmd: non-finite result (NaN or inf in the samples?)"
    );
    Ok(Mmd { mmd2, h, n, m })
}
