//! Score of a Gaussian mixture with diagonal covariances.

use crate::io::target::Gmm;

/// ∇ log p(x_i) for every row: Σ_k r_k(x) (μ_k − x) / σ_k², with responsibilities r_k from a
/// log-sum-exp (max subtracted), so particles far from every component stay finite.
pub fn score(gmm: &Gmm, x: &[f64], d: usize) -> Vec<f64> {
    let k = gmm.components();
    let n = x.len() / d;
    let mut out = vec![0.0; n * d];
    let mut logits = vec![0.0; k];
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        for (c, l) in logits.iter_mut().enumerate() {
            let mut q = 0.0;
            let mut logdet = 0.0;
            for ((&xa, &m), &s) in xi.iter().zip(&gmm.means[c]).zip(&gmm.stds[c]) {
                q += ((xa - m) / s).powi(2);
                logdet += (2.0 * std::f64::consts::PI * s * s).ln();
            }
            *l = gmm.weights[c].ln() - 0.5 * (logdet + q);
        }
        let lmax = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = logits.iter().map(|l| (l - lmax).exp()).sum();
        for (c, l) in logits.iter().enumerate() {
            let r = (l - lmax).exp() / total;
            for a in 0..d {
                let s = gmm.stds[c][a];
                out[i * d + a] += r * (gmm.means[c][a] - xi[a]) / (s * s);
            }
        }
    }
    out
}
