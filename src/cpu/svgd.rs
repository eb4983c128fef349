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

/// The particles' mean per dimension (`svgd_phi_center`).
pub fn centre(x: &[f64], d: usize) -> Vec<f64> {
    let n = x.len() / d;
    (0..d)
        .map(|a| (0..n).map(|i| x[i * d + a]).sum::<f64>() / n as f64)
        .collect()
}

/// The column records of `svgd_phi_shuffle` (`svgd_phi_pack`), `padded` of them, each
/// 2⌈d/4⌉ + 1 vec4 flattened: u_j = 2L·xc_j and w_j = s_j − (2/h)·xc_j (zero padded to
/// ⌈d/4⌉·4), then (e_j, 0, 0, 0) with e_j = −L‖xc_j‖²; xc = x − mean, L = log₂e / h. Records
/// past n have u = w = 0 and e = −1e30 (a kernel value of 0).
pub fn shuffle_records(x: &[f64], score: &[f64], d: usize, h: f64, padded: usize) -> Vec<f64> {
    let n = x.len() / d;
    let c = centre(x, d);
    let d4 = d.div_ceil(4) * 4;
    let l = std::f64::consts::LOG2_E / h;
    let mut out = Vec::with_capacity(padded * (2 * d4 + 4));
    for j in 0..padded {
        if j >= n {
            out.extend(std::iter::repeat_n(0.0, 2 * d4));
            out.extend([-1e30, 0.0, 0.0, 0.0]);
            continue;
        }
        let xc: Vec<f64> = (0..d4)
            .map(|a| if a < d { x[j * d + a] - c[a] } else { 0.0 })
            .collect();
        out.extend(xc.iter().map(|v| 2.0 * l * v));
        out.extend((0..d4).map(|a| {
            if a < d {
                score[j * d + a] - 2.0 / h * xc[a]
            } else {
                0.0
            }
        }));
        out.extend([-l * xc.iter().map(|v| v * v).sum::<f64>(), 0.0, 0.0, 0.0]);
    }
    out
}
