//! Kernelized Stein discrepancy with the RBF kernel (algorithms.md §1).

use super::{sqdist, svgd::rbf};

/// Stein kernel u(x_i, x_j) = k [s_i·s_j + (2/h)(s_i − s_j)·r + 2d/h − 4‖r‖²/h²], r = x_i − x_j.
pub fn stein_kernel(x: &[f64], score: &[f64], d: usize, h: f64, i: usize, j: usize) -> f64 {
    let sq = sqdist(x, d, i, j);
    let k = rbf(sq, h);
    let mut ss = 0.0;
    let mut sr = 0.0;
    for a in 0..d {
        let r = x[i * d + a] - x[j * d + a];
        ss += score[i * d + a] * score[j * d + a];
        sr += (score[i * d + a] - score[j * d + a]) * r;
    }
    k * (ss + 2.0 / h * sr + 2.0 * d as f64 / h - 4.0 * sq / (h * h))
}

/// KSD² as a V-statistic (1/n² Σ_{i,j} u_ij) and a U-statistic (i ≠ j, 1/(n(n−1))); the
/// U-statistic is NaN for n = 1.
pub fn ksd2(x: &[f64], score: &[f64], d: usize, h: f64) -> (f64, f64) {
    let n = x.len() / d;
    let mut all = 0.0;
    let mut diag = 0.0;
    for i in 0..n {
        for j in 0..n {
            let u = stein_kernel(x, score, d, h, i, j);
            all += u;
            if i == j {
                diag += u;
            }
        }
    }
    let nf = n as f64;
    let u_stat = if n > 1 {
        (all - diag) / (nf * (nf - 1.0))
    } else {
        f64::NAN
    };
    (all / (nf * nf), u_stat)
}
