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

/// The particle records of `ksd_pack`, each 2⌈d/4⌉ + 1 vec4 flattened: xc_i = x_i − mean and
/// a_i = s_i − (2/h)·xc_i (each zero padded to ⌈d/4⌉·4), then (‖xc_i‖², (2/h)·a_i·xc_i, 0, 0).
/// With them u_ij = k(‖r‖²)·(a_i·a_j + (2/h)²·xc_i·xc_j + g_i + g_j + 2d/h) and
/// ‖r‖² = nrm_i + nrm_j − 2·xc_i·xc_j ([`ksd_from_records`]).
pub fn ksd_records(x: &[f64], score: &[f64], d: usize, h: f64) -> Vec<f64> {
    let n = x.len() / d;
    let c = super::svgd::centre(x, d);
    let d4 = d.div_ceil(4) * 4;
    let h1 = 2.0 / h;
    let mut out = Vec::with_capacity(n * (2 * d4 + 4));
    for i in 0..n {
        let xc: Vec<f64> = (0..d4)
            .map(|a| if a < d { x[i * d + a] - c[a] } else { 0.0 })
            .collect();
        let a: Vec<f64> = (0..d4)
            .map(|k| {
                if k < d {
                    score[i * d + k] - h1 * xc[k]
                } else {
                    0.0
                }
            })
            .collect();
        out.extend(&xc);
        out.extend(&a);
        let nrm = xc.iter().map(|v| v * v).sum::<f64>();
        let g = h1 * a.iter().zip(&xc).map(|(p, q)| p * q).sum::<f64>();
        out.extend([nrm, g, 0.0, 0.0]);
    }
    out
}

/// The Stein kernel u_ij from two of [`ksd_records`]' records (`d` dimensions): the form
/// `ksd_shuffle` evaluates, equal to [`stein_kernel`] in exact arithmetic.
pub fn ksd_from_records(ri: &[f64], rj: &[f64], d: usize, h: f64) -> f64 {
    let d4 = d.div_ceil(4) * 4;
    let dot = |o: usize| (0..d).map(|k| ri[o + k] * rj[o + k]).sum::<f64>();
    let (xx, aa) = (dot(0), dot(d4));
    let h1 = 2.0 / h;
    let sq = (ri[2 * d4] + rj[2 * d4] - 2.0 * xx).max(0.0);
    rbf(sq, h) * (aa + h1 * h1 * xx + ri[2 * d4 + 1] + rj[2 * d4 + 1] + h1 * d as f64)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bilinear form of the records is the Stein kernel, pair by pair, for offset clouds
    /// and every padding of d.
    #[test]
    fn the_records_give_the_stein_kernel() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for (n, d, h) in [(1, 1, 0.7), (3, 2, 1.5), (5, 5, 4.0), (4, 17, 30.0)] {
            let x: Vec<f64> = (0..n * d).map(|_| 3.0 + 4.0 * next()).collect();
            let s: Vec<f64> = (0..n * d).map(|_| 2.0 * next()).collect();
            let rec = ksd_records(&x, &s, d, h);
            let len = rec.len() / n;
            assert_eq!(len, 4 * (2 * d.div_ceil(4) + 1));
            for i in 0..n {
                for j in 0..n {
                    let want = stein_kernel(&x, &s, d, h, i, j);
                    let got =
                        ksd_from_records(&rec[i * len..][..len], &rec[j * len..][..len], d, h);
                    assert!(
                        (got - want).abs() <= 1e-12 * (1.0 + want.abs()),
                        "n={n} d={d} ({i}, {j}): {got} against {want}"
                    );
                }
            }
        }
    }
}
