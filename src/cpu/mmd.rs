//! Unbiased MMD² with the RBF kernel k(a, b) = exp(−‖a − b‖²/h), in f64 (reference of
//! `mmd_rows` + [`crate::mmd`]):
//!
//! MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/(nm) Σ_{i,j} k(x_i, y_j)

/// MMD²_u between `x` `[n, d]` and `y` `[m, d]` (n, m >= 2).
pub fn mmd2_unbiased(x: &[f64], y: &[f64], d: usize, h: f64) -> f64 {
    let (n, m) = (x.len() / d, y.len() / d);
    let k = |a: &[f64], b: &[f64]| {
        let s: f64 = a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum();
        (-s / h).exp()
    };
    let sum = |u: &[f64], v: &[f64], skip_diag: bool| {
        let mut t = 0.0;
        for (i, a) in u.chunks_exact(d).enumerate() {
            for (j, b) in v.chunks_exact(d).enumerate() {
                if !(skip_diag && i == j) {
                    t += k(a, b);
                }
            }
        }
        t
    };
    let (n, m) = (n as f64, m as f64);
    sum(x, x, true) / (n * (n - 1.0)) + sum(y, y, true) / (m * (m - 1.0))
        - 2.0 * sum(x, y, false) / (n * m)
}
