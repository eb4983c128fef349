//! The SVGD direction, summed pair by pair as algorithms.md §1 writes it.

use super::sqdist;

/// RBF kernel exp(−‖x − y‖² / h) from the squared distance.
pub fn rbf(sq: f64, h: f64) -> f64 {
    (-sq / h).exp()
}

/// φ(x_i) = (1/n) Σ_j [k(x_j, x_i) s(x_j) + ∇_{x_j} k(x_j, x_i)],
/// ∇_{x_j} k(x_j, x_i) = (2/h)(x_i − x_j) k(x_j, x_i).
pub fn phi(x: &[f64], score: &[f64], d: usize, h: f64) -> Vec<f64> {
    let n = x.len() / d;
    let mut out = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..n {
            let k = rbf(sqdist(x, d, i, j), h);
            for a in 0..d {
                out[i * d + a] +=
                    k * score[j * d + a] + 2.0 / h * (x[i * d + a] - x[j * d + a]) * k;
            }
        }
        for a in 0..d {
            out[i * d + a] /= n as f64;
        }
    }
    out
}
