//! The Gaussian-Bernoulli RBM of algorithms.md §2 in f64. Parameters θ = [B (d×H, row-major),
//! b (d), c (H)]; hidden units h ∈ {−1, +1}^H.

use crate::model::rbm::RbmShape;

/// log(e^y + e^{−y}) = |y| + log1p(e^{−2|y|}).
pub fn log2cosh(y: f64) -> f64 {
    y.abs() + (-2.0 * y.abs()).exp().ln_1p()
}

/// Pre-activations y = Bᵀx + c for every row of `x` (`[n, d]` → `[n, H]`).
pub fn hidden(theta: &[f64], s: RbmShape, x: &[f64]) -> Vec<f64> {
    let n = x.len() / s.d;
    let mut y = vec![0.0; n * s.h];
    for i in 0..n {
        for j in 0..s.h {
            y[i * s.h + j] = theta[s.c(j)]
                + (0..s.d)
                    .map(|a| x[i * s.d + a] * theta[s.b_mat(a, j)])
                    .sum::<f64>();
        }
    }
    y
}

/// f(x) = bᵀx − ½‖x‖² + Σ_j log(e^{y_j} + e^{−y_j}) per row.
pub fn energy(theta: &[f64], s: RbmShape, x: &[f64]) -> Vec<f64> {
    let y = hidden(theta, s, x);
    (0..x.len() / s.d)
        .map(|i| {
            let vis: f64 = (0..s.d)
                .map(|a| x[i * s.d + a] * (theta[s.b(a)] - 0.5 * x[i * s.d + a]))
                .sum();
            vis + (0..s.h).map(|j| log2cosh(y[i * s.h + j])).sum::<f64>()
        })
        .collect()
}

/// s(x) = b − x + B tanh(y) per row.
pub fn score(theta: &[f64], s: RbmShape, x: &[f64]) -> Vec<f64> {
    let y = hidden(theta, s, x);
    let n = x.len() / s.d;
    let mut out = vec![0.0; n * s.d];
    for i in 0..n {
        for a in 0..s.d {
            out[i * s.d + a] = theta[s.b(a)] - x[i * s.d + a]
                + (0..s.h)
                    .map(|j| theta[s.b_mat(a, j)] * y[i * s.h + j].tanh())
                    .sum::<f64>();
        }
    }
    out
}

/// Σ_i w_i ∇_θ f(x_i): ∂f/∂B_aj = x_a tanh(y_j), ∂f/∂b_a = x_a, ∂f/∂c_j = tanh(y_j).
pub fn grad(theta: &[f64], s: RbmShape, x: &[f64], w: &[f64]) -> Vec<f64> {
    let y = hidden(theta, s, x);
    let mut g = vec![0.0; s.len()];
    for (i, &wi) in w.iter().enumerate() {
        for a in 0..s.d {
            let xa = x[i * s.d + a];
            g[s.b(a)] += wi * xa;
            for j in 0..s.h {
                g[s.b_mat(a, j)] += wi * xa * y[i * s.h + j].tanh();
            }
        }
        for j in 0..s.h {
            g[s.c(j)] += wi * y[i * s.h + j].tanh();
        }
    }
    g
}

/// The exact log normaliser: integrating x out,
/// log Z = (d/2) log 2π + logsumexp over h ∈ {±1}^H of [cᵀh + ½‖b + Bh‖²].
pub fn log_partition(theta: &[f64], s: RbmShape) -> f64 {
    assert!(s.h < 31, "exact log Z enumerates 2^H states");
    let mut terms = Vec::with_capacity(1 << s.h);
    for code in 0u32..(1u32 << s.h) {
        let hv: Vec<f64> = (0..s.h)
            .map(|j| if code >> j & 1 == 1 { 1.0 } else { -1.0 })
            .collect();
        let ch: f64 = (0..s.h).map(|j| theta[s.c(j)] * hv[j]).sum();
        let m2: f64 = (0..s.d)
            .map(|a| {
                (theta[s.b(a)] + (0..s.h).map(|j| theta[s.b_mat(a, j)] * hv[j]).sum::<f64>())
                    .powi(2)
            })
            .sum();
        terms.push(ch + 0.5 * m2);
    }
    let mx = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = mx + terms.iter().map(|t| (t - mx).exp()).sum::<f64>().ln();
    0.5 * s.d as f64 * (2.0 * std::f64::consts::PI).ln() + lse
}

/// One block-Gibbs sweep from x, as the GPU draws it: h_j = +1 iff
/// uniform01(hash(key, 2e)) < sigmoid(2y_j) (e = i·H + j), then
/// x_a = b_a + Σ_j B_aj h_j + normal(key ^ VISIBLE_STREAM, i·d + a). Returns (h, x).
pub fn gibbs(theta: &[f64], s: RbmShape, x: &[f64], key: u32) -> (Vec<f64>, Vec<f64>) {
    use super::hash::{normal, pcg_hash, uniform01};
    let y = hidden(theta, s, x);
    let hs: Vec<f64> = y
        .iter()
        .enumerate()
        .map(|(e, &yv)| {
            let u = uniform01(pcg_hash(key ^ pcg_hash(2 * e as u32)));
            if u < 1.0 / (1.0 + (-2.0 * yv).exp()) {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    let n = x.len() / s.d;
    let mut out = vec![0.0; n * s.d];
    for i in 0..n {
        for a in 0..s.d {
            let m = theta[s.b(a)]
                + (0..s.h)
                    .map(|j| theta[s.b_mat(a, j)] * hs[i * s.h + j])
                    .sum::<f64>();
            out[i * s.d + a] = m + normal(
                key ^ crate::model::rbm::VISIBLE_STREAM,
                (i * s.d + a) as u32,
            );
        }
    }
    (hs, out)
}
