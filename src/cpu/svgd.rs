//! The SVGD direction, summed pair by pair as algorithms.md §1 writes it.

use super::sqdist;

/// RBF kernel exp(−‖x − y‖² / h) from the squared distance.
pub fn rbf(sq: f64, h: f64) -> f64 {
    (-sq / h).exp()
}

/// φ(x_i) = (1/n) Σ_j [k(x_j, x_i) s(x_j) + ∇_{x_j} k(x_j, x_i)] for one row i,
/// ∇_{x_j} k(x_j, x_i) = (2/h)(x_i − x_j) k(x_j, x_i).
pub fn phi_row(x: &[f64], score: &[f64], d: usize, h: f64, i: usize) -> Vec<f64> {
    let n = x.len() / d;
    let mut out = vec![0.0; d];
    for j in 0..n {
        let k = rbf(sqdist(x, d, i, j), h);
        for a in 0..d {
            out[a] += k * score[j * d + a] + 2.0 / h * (x[i * d + a] - x[j * d + a]) * k;
        }
    }
    out.iter().map(|v| v / n as f64).collect()
}

/// φ for every row (`[n, d]`).
pub fn phi(x: &[f64], score: &[f64], d: usize, h: f64) -> Vec<f64> {
    (0..x.len() / d)
        .flat_map(|i| phi_row(x, score, d, h, i))
        .collect()
}
