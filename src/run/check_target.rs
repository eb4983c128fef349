//! The gradient check of a target (`stein check-target`): its score at given particles
//! against central finite differences of its log-density, in f32 on the device for a WGSL
//! target (the user's `log_p`), in f64 on the host for the built-in targets.
//!
//! Step along coordinate k of particle x: h = ε^(1/3)·max(1, |x_k|) (ε of the precision the
//! log-density is evaluated in: h ≈ 4.9e-3 in f32, 6.1e-6 in f64), the difference divided by
//! the distance between the two points as rounded. The error of coordinate k of particle i is
//! relative to that particle's largest component: |g_ik − fd_ik| / max_k' max(|g_ik'|,
//! |fd_ik'|), so that a coordinate where the gradient is near zero does not blow up the
//! ratio. In f32 the finite differences carry about 2.4e-5·|log p| of rounding, so a correct
//! gradient stays well under the default tolerance of 1e-2 unless |log p| is very large
//! compared with the gradient; a wrong one is usually off by O(1).

use anyhow::{bail, ensure, Result};
use serde::Serialize;

use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::io::target::Target;
use crate::kernels::Kernels;
use crate::score::WgslScore;
use crate::svgd::{target_score, Score};

/// The tolerance of `stein check-target` when none is given.
pub const DEFAULT_TOLERANCE: f64 = 1e-2;

/// Values of the finite differences evaluated in one dispatch at most (f32 rows × d).
const ROW_VALUES: usize = 1 << 22;

/// What the check found: the worst relative error and where.
#[derive(Clone, Debug, Serialize)]
pub struct GradCheck {
    /// Particles checked.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Where the log-density was evaluated: `"f32 on the device"` or `"f64 on the host"`.
    pub precision: &'static str,
    /// The step rule of the central differences.
    pub step: String,
    /// Largest relative error.
    pub worst_rel_err: f64,
    /// Its particle (row of the particles file, from 0).
    pub particle: usize,
    /// Its coordinate (from 0).
    pub coordinate: usize,
    /// The score there.
    pub score: f64,
    /// The finite difference there.
    pub finite_difference: f64,
    /// The tolerance asked for.
    pub tolerance: f64,
    /// Whether the worst error is within the tolerance.
    pub passed: bool,
}

/// The score of `target` at the particles `x` (`[n, d]`) against central differences of its
/// log-density. Fails on a non-finite score or log-density (naming the particle); a gradient
/// outside `tolerance` is reported in the result (`passed: false`), not as an error.
pub fn check_target(
    ctx: &GpuContext,
    target: &Target,
    x: &[f32],
    n: usize,
    tolerance: f64,
) -> Result<GradCheck> {
    let d = target.dim();
    ensure!(
        tolerance > 0.0 && tolerance.is_finite(),
        "--tolerance {tolerance} must be a positive number"
    );
    ensure!(
        n >= 1 && x.len() == n * d,
        "check-target: {} values are not n rows of the target's d = {d}",
        x.len()
    );
    ensure!(
        x.iter().all(|v| v.is_finite()),
        "check-target: the particles contain NaN or inf; give finite particles"
    );
    let k = Kernels::new(ctx)?;
    let (score, fd, precision, step) = match target {
        Target::Wgsl(w) => {
            let s = WgslScore::new(ctx, w)?;
            let g = device_score(ctx, &k, &s, x, n)?;
            // The unperturbed particles first: an index mistake is named at its particle.
            s.log_p(ctx, x)?;
            let fd = wgsl_differences(ctx, &s, x, n, d)?;
            (g, fd, "f32 on the device", "h = 4.9e-3·max(1, |x_k|)")
        }
        _ => {
            let s = target_score(ctx, target)?;
            let g = device_score(ctx, &k, s.as_ref(), x, n)?;
            let fd = host_differences(target, x, n, d)?;
            (g, fd, "f64 on the host", "h = 6.1e-6·max(1, |x_k|)")
        }
    };
    let mut worst = (0.0, 0, 0);
    for i in 0..n {
        let row = i * d..(i + 1) * d;
        let scale = score[row.clone()]
            .iter()
            .map(|&v| f64::from(v).abs())
            .chain(fd[row.clone()].iter().map(|v| v.abs()))
            .fold(0.0, f64::max);
        for c in 0..d {
            let e = (f64::from(score[i * d + c]) - fd[i * d + c]).abs();
            let rel = if scale > 0.0 { e / scale } else { 0.0 };
            if rel > worst.0 {
                worst = (rel, i, c);
            }
        }
    }
    let (rel, i, c) = worst;
    Ok(GradCheck {
        n,
        d,
        precision,
        step: step.to_string(),
        worst_rel_err: rel,
        particle: i,
        coordinate: c,
        score: f64::from(score[i * d + c]),
        finite_difference: fd[i * d + c],
        tolerance,
        passed: rel <= tolerance,
    })
}

/// The score at `x`, read back; fails on a non-finite value.
fn device_score(
    ctx: &GpuContext,
    k: &Kernels,
    s: &dyn Score,
    x: &[f32],
    n: usize,
) -> Result<Vec<f32>> {
    let d = s.dim();
    let xs = GpuVec::from_slice(ctx, "check-target particles", x)?;
    let out = GpuVec::nan_filled(ctx, "check-target score", n * d)?;
    let mut enc = Recorder::new(ctx);
    s.record(ctx, k, &mut enc, &xs, &out, n)?;
    enc.submit(ctx);
    let g = out.read(ctx)?;
    s.check(ctx)?;
    if let Some(j) = g.iter().position(|v| !v.is_finite()) {
        bail!(
            "the score is {} at particle {} coordinate {}; the target is not finite there",
            g[j],
            j / d,
            j % d
        );
    }
    Ok(g)
}

/// The step along a coordinate at `v`, for precision ε.
fn step(v: f64, eps: f64) -> f64 {
    eps.cbrt() * v.abs().max(1.0)
}

/// Central differences of the user's `log_p`, in f32 on the device: for a block of
/// coordinates at a time, each particle moved forward and back along each (2·n·block rows).
fn wgsl_differences(
    ctx: &GpuContext,
    s: &WgslScore,
    x: &[f32],
    n: usize,
    d: usize,
) -> Result<Vec<f64>> {
    let eps = f64::from(f32::EPSILON);
    let block = (ROW_VALUES / (2 * n * d).max(1)).clamp(1, d);
    let mut fd = vec![0.0; n * d];
    for c0 in (0..d).step_by(block) {
        let cs = c0..(c0 + block).min(d);
        let mut rows = Vec::with_capacity(2 * n * cs.len() * d);
        let mut gaps = Vec::with_capacity(n * cs.len());
        for i in 0..n {
            let p = &x[i * d..(i + 1) * d];
            for c in cs.clone() {
                let h = step(f64::from(p[c]), eps);
                let (up, down) = ((f64::from(p[c]) + h) as f32, (f64::from(p[c]) - h) as f32);
                for v in [up, down] {
                    rows.extend_from_slice(p);
                    let at = rows.len() - d + c;
                    rows[at] = v;
                }
                gaps.push(f64::from(up) - f64::from(down));
            }
        }
        let lp = s.log_p(ctx, &rows)?;
        for (j, gap) in gaps.iter().enumerate() {
            let (i, c) = (j / cs.len(), c0 + j % cs.len());
            let (a, b) = (lp[2 * j], lp[2 * j + 1]);
            ensure!(
                a.is_finite() && b.is_finite(),
                "log_p is {} at particle {i} moved by ±h along coordinate {c}; the target is not finite there",
                if a.is_finite() { b } else { a }
            );
            fd[i * d + c] = (f64::from(a) - f64::from(b)) / gap;
        }
    }
    Ok(fd)
}

/// Central differences of a built-in target's log-density, in f64 on the host.
fn host_differences(target: &Target, x: &[f32], n: usize, d: usize) -> Result<Vec<f64>> {
    let mut fd = vec![0.0; n * d];
    for i in 0..n {
        let mut p: Vec<f64> = x[i * d..(i + 1) * d]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        for c in 0..d {
            let v = p[c];
            let h = step(v, f64::EPSILON);
            let (up, down) = (v + h, v - h);
            p[c] = up;
            let a = target.log_density(&p);
            p[c] = down;
            let b = target.log_density(&p);
            p[c] = v;
            let (Some(a), Some(b)) = (a, b) else {
                bail!("check-target: the target has no host log-density");
            };
            ensure!(
                a.is_finite() && b.is_finite(),
                "the log-density is not finite at particle {i} moved along coordinate {c}"
            );
            fd[i * d + c] = (a - b) / (up - down);
        }
    }
    Ok(fd)
}
