//! Test log-likelihood by numerical quadrature for d <= 2 (algorithms.md §4):
//! log Z = log ∫ exp(f(x)) dx on a box, by the midpoint rule on an m^d grid, f evaluated on
//! the device in batches through [`Energy`], the log-sum-exp taken on the host in f64.
//!
//! The box is the data's bounding box widened by `margin` times its extent on each side. Two
//! error figures come with the result: the change against the grid with half the points per
//! axis (the discretisation error is about a quarter of it for a smooth f, so it is a safe
//! bound), and how far the largest f on the box's border lies below the largest f inside (a
//! border within 20 nats of the peak means mass outside the box may be missed; the caller
//! should widen the box).

use anyhow::{ensure, Result};

use crate::gpu::{GpuContext, GpuVec};
use crate::model::Energy;

/// What [`log_partition_quadrature`] computed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Quadrature {
    /// log ∫ exp f over the box, midpoint rule with `points` per axis.
    pub log_z: f64,
    /// |log_z − the same with points/2 per axis|.
    pub grid_change: f64,
    /// Largest f on the box's border minus the largest f anywhere on the grid (≤ 0; far below
    /// zero means the box holds the mass).
    pub border_gap: f64,
    /// Lower corner of the box.
    pub lo: Vec<f64>,
    /// Upper corner of the box.
    pub hi: Vec<f64>,
    /// Points per axis.
    pub points: usize,
}

/// The box around `data` (`[N, d]`): its bounding box widened by `margin` × extent per side
/// (and by at least `min_pad`).
pub fn data_box(data: &[f32], d: usize, margin: f64, min_pad: f64) -> (Vec<f64>, Vec<f64>) {
    let mut lo = vec![f64::INFINITY; d];
    let mut hi = vec![f64::NEG_INFINITY; d];
    for row in data.chunks_exact(d) {
        for a in 0..d {
            lo[a] = lo[a].min(f64::from(row[a]));
            hi[a] = hi[a].max(f64::from(row[a]));
        }
    }
    for a in 0..d {
        let pad = (margin * (hi[a] - lo[a])).max(min_pad);
        lo[a] -= pad;
        hi[a] += pad;
    }
    (lo, hi)
}

/// f at the midpoints of an m^d grid on [lo, hi], row-major (last axis fastest), with the
/// cell volume.
pub fn grid_energies(
    ctx: &GpuContext,
    model: &dyn Energy,
    lo: &[f64],
    hi: &[f64],
    m: usize,
) -> Result<(Vec<f64>, f64)> {
    let d = model.dim();
    let total = m.pow(d as u32);
    let b = model.batch();
    let step: Vec<f64> = (0..d).map(|a| (hi[a] - lo[a]) / m as f64).collect();
    let xb = GpuVec::<f32>::zeros(ctx, "quadrature points", b * d)?;
    let fb = GpuVec::<f32>::nan_filled(ctx, "quadrature f", b)?;
    let sb = GpuVec::<f32>::zeros(ctx, "quadrature score", b * d)?;
    let mut out = Vec::with_capacity(total);
    let mut pts = vec![0f32; b * d];
    for start in (0..total).step_by(b) {
        for r in 0..b {
            // Past the end, repeat the last point (its f is dropped).
            let mut q = (start + r).min(total - 1);
            for a in (0..d).rev() {
                let ia = q % m;
                q /= m;
                pts[r * d + a] = (lo[a] + (ia as f64 + 0.5) * step[a]) as f32;
            }
        }
        xb.write(ctx, &pts)?;
        let mut enc = crate::gpu::Recorder::new(ctx);
        model.record_energy_score(ctx, &mut enc, &xb, &fb, &sb)?;
        enc.submit(ctx);
        let f = fb.read(ctx)?;
        out.extend(f.iter().take(total - start).map(|&v| f64::from(v)));
    }
    ensure!(
        out.iter().all(|v| v.is_finite()),
        "quadrature: the model gave a non-finite f on the grid (diverged parameters?)"
    );
    Ok((out, step.iter().product()))
}

/// Mean f over the rows of `data` (`[N, d]`), in batches of the model's size.
pub fn mean_energy(ctx: &GpuContext, model: &dyn Energy, data: &[f32]) -> Result<f64> {
    let (d, b) = (model.dim(), model.batch());
    ensure!(
        !data.is_empty() && data.len().is_multiple_of(d),
        "data does not match d = {d}"
    );
    let n = data.len() / d;
    let xb = GpuVec::<f32>::zeros(ctx, "eval x", b * d)?;
    let fb = GpuVec::<f32>::nan_filled(ctx, "eval f", b)?;
    let sb = GpuVec::<f32>::zeros(ctx, "eval score", b * d)?;
    let mut total = 0.0;
    for start in (0..n).step_by(b) {
        let len = b.min(n - start);
        let mut rows = data[start * d..(start + len) * d].to_vec();
        rows.resize(b * d, 0.0);
        xb.write(ctx, &rows)?;
        let mut enc = crate::gpu::Recorder::new(ctx);
        model.record_energy_score(ctx, &mut enc, &xb, &fb, &sb)?;
        enc.submit(ctx);
        total += fb.read(ctx)?[..len]
            .iter()
            .map(|&v| f64::from(v))
            .sum::<f64>();
    }
    Ok(total / n as f64)
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    mx + v.iter().map(|&x| (x - mx).exp()).sum::<f64>().ln()
}

/// log Z of exp(f) by the midpoint rule on `points`^d cells of [lo, hi] (d = 1 or 2).
pub fn log_partition_quadrature(
    ctx: &GpuContext,
    model: &dyn Energy,
    lo: &[f64],
    hi: &[f64],
    points: usize,
) -> Result<Quadrature> {
    let d = model.dim();
    ensure!(
        d == 1 || d == 2,
        "quadrature evaluation needs d <= 2 (this model has d = {d}); use AIS"
    );
    ensure!(
        lo.len() == d && hi.len() == d && (0..d).all(|a| hi[a] > lo[a]),
        "quadrature: the box must have d = {d} sides with hi > lo"
    );
    ensure!(
        (4..=1 << 14).contains(&points),
        "quadrature: points per axis must be in 4..=16384"
    );
    let (f, vol) = grid_energies(ctx, model, lo, hi, points)?;
    let log_z = log_sum_exp(&f) + vol.ln();
    let (f2, vol2) = grid_energies(ctx, model, lo, hi, points / 2)?;
    let log_z2 = log_sum_exp(&f2) + vol2.ln();
    let peak = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let border = (0..f.len())
        .filter(|&q| {
            let (i, j) = if d == 1 {
                (q, 0)
            } else {
                (q / points, q % points)
            };
            i == 0 || i + 1 == points || (d == 2 && (j == 0 || j + 1 == points))
        })
        .map(|q| f[q])
        .fold(f64::NEG_INFINITY, f64::max);
    Ok(Quadrature {
        log_z,
        grid_change: (log_z - log_z2).abs(),
        border_gap: border - peak,
        lo: lo.to_vec(),
        hi: hi.to_vec(),
        points,
    })
}
