//! The median bandwidth of algorithms.md §1, by sorting all n² squared distances.

use super::sqdist;

/// Median of all n² squared pairwise distances, the n zero diagonal entries included; for an
/// even count the mean of the two middle values (NumPy's convention).
pub fn median_sqdist(x: &[f64], d: usize) -> f64 {
    let n = x.len() / d;
    let mut all = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            all.push(sqdist(x, d, i, j));
        }
    }
    all.sort_by(f64::total_cmp);
    let m = all.len();
    if m % 2 == 1 {
        all[m / 2]
    } else {
        0.5 * (all[m / 2 - 1] + all[m / 2])
    }
}

/// h = med / log(n + 1); h = 1 when med = 0 (all particles equal).
pub fn bandwidth_from_median(med: f64, n: usize) -> f64 {
    if med > 0.0 {
        med / ((n as f64) + 1.0).ln()
    } else {
        1.0
    }
}

/// The median bandwidth of the particles `x` (`[n, d]`).
pub fn median_bandwidth(x: &[f64], d: usize) -> f64 {
    bandwidth_from_median(median_sqdist(x, d), x.len() / d)
}
