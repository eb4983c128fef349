//! Annealed importance sampling (algorithms.md §4) in f64, written as the mathematics reads:
//! the reference for [`crate::ais`]. Same schedule, same step-size rule and the same random
//! numbers (the counter-based streams of [`super::hash`]), so the GPU's log-weights can be
//! compared with these chain by chain.
//!
//! Path: log π_t(x) = (1 − t)·log N(x; 0, I) + t·f(x), t_0 = 0 < … < t_{T−1} = 1. Chains start
//! at exact samples of π_0 = N(0, I). For k = 1 … T−1 each chain first adds
//! log π_k(x) − log π_{k−1}(x) = (t_k − t_{k−1})·(f(x) − log N(x; 0, I)) to its log-weight, then
//! makes one HMC transition that leaves π_k invariant (one leapfrog step, unit mass). Since
//! log N includes its normaliser (Z_0 = 1), E\[w\] = ∫ exp(f(x)) dx = Z_f.

use super::hash::{normal, pcg_hash, stream_key, uniform01};
use crate::ais::{AisConfig, ACCEPT_STREAM};

/// The sigmoid schedule: t_k = (σ(z_k) − σ(−4)) / (σ(4) − σ(−4)), z = linspace(−4, 4, T), with
/// t_0 = 0 and t_{T−1} = 1 set exactly. `temperatures` >= 2.
pub fn sigmoid_schedule(temperatures: usize) -> Vec<f64> {
    assert!(temperatures >= 2, "a schedule has at least t = 0 and t = 1");
    let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
    let (lo, hi) = (sigmoid(-4.0), sigmoid(4.0));
    let last = temperatures - 1;
    (0..temperatures)
        .map(|k| match k {
            0 => 0.0,
            k if k == last => 1.0,
            k => (sigmoid(-4.0 + 8.0 * k as f64 / last as f64) - lo) / (hi - lo),
        })
        .collect()
}

/// log N(x; 0, I) = −‖x‖²/2 − (d/2) log 2π.
pub fn log_normal(x: &[f64]) -> f64 {
    -0.5 * x.iter().map(|v| v * v).sum::<f64>()
        - 0.5 * x.len() as f64 * (2.0 * std::f64::consts::PI).ln()
}

/// log((1/n) Σ exp(v_i)), stable.
pub fn log_mean_exp(v: &[f64]) -> f64 {
    let mx = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !mx.is_finite() {
        return mx;
    }
    mx + (v.iter().map(|x| (x - mx).exp()).sum::<f64>() / v.len() as f64).ln()
}

/// The estimate from per-chain log-weights (chain c of run r at r·C + c): each run's
/// log-mean-exp of its C weights, their mean (log Z) and its standard error
/// std(per-run, ddof 1) / √R (NaN for one run).
pub fn estimate(log_weights: &[f64], chains: usize) -> (f64, f64, Vec<f64>) {
    let per_run: Vec<f64> = log_weights.chunks(chains).map(log_mean_exp).collect();
    let r = per_run.len() as f64;
    let mean = per_run.iter().sum::<f64>() / r;
    let var = per_run.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (r - 1.0);
    let std_err = if per_run.len() > 1 {
        (var / r).sqrt()
    } else {
        f64::NAN
    };
    (mean, std_err, per_run)
}

/// What the reference run produced.
#[derive(Clone, Debug)]
pub struct AisTrace {
    /// log w of every chain, chain c of run r at r·C + c.
    pub log_weights: Vec<f64>,
    /// Each run's step size after the last temperature.
    pub step_sizes: Vec<f64>,
    /// Accepted transitions per run, over all temperatures.
    pub accepted: Vec<u64>,
    /// The smallest |log u − log α| over all accept decisions. A computation in f32 can only
    /// decide differently where this is below its rounding error.
    pub closest_call: f64,
}

/// AIS with `f` and its gradient `score` (one point of dimension `d` each), every chain and
/// temperature in turn. Panics on a configuration that [`AisConfig::validate`] rejects.
pub fn ais(
    cfg: &AisConfig,
    d: usize,
    f: impl Fn(&[f64]) -> f64,
    score: impl Fn(&[f64]) -> Vec<f64>,
) -> AisTrace {
    cfg.validate().expect("valid AIS configuration");
    let (runs, chains) = (cfg.runs, cfg.chains);
    let n = runs * chains;
    assert!(
        (n * d) as u64 <= u64::from(u32::MAX),
        "random-stream counters are 32-bit"
    );
    let t = sigmoid_schedule(cfg.temperatures);
    let up_above = u64::from(cfg.up_above());
    let sq = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();

    // Exact samples of π_0 = N(0, I): stream 0, counter g·d + a for coordinate a of chain g.
    let key0 = stream_key(cfg.seed, 0);
    let mut x: Vec<Vec<f64>> = (0..n)
        .map(|g| (0..d).map(|a| normal(key0, (g * d + a) as u32)).collect())
        .collect();
    let mut fx: Vec<f64> = x.iter().map(|xi| f(xi)).collect();
    let mut gx: Vec<Vec<f64>> = x.iter().map(|xi| score(xi)).collect();
    let mut log_w = vec![0.0; n];
    let mut eps = vec![cfg.initial_step; runs];
    let mut accepted = vec![0u64; runs];
    let mut closest_call = f64::INFINITY;

    for k in 1..cfg.temperatures {
        let (tk, dt) = (t[k], t[k] - t[k - 1]);
        let key = stream_key(cfg.seed, k as u64);
        // log π_t up to a constant, and its gradient t ∇f(x) − (1 − t) x.
        let log_pi = |f: f64, x: &[f64]| tk * f - (1.0 - tk) * 0.5 * sq(x);
        let grad = |x: &[f64], s: &[f64]| -> Vec<f64> {
            x.iter()
                .zip(s)
                .map(|(xa, sa)| tk * sa - (1.0 - tk) * xa)
                .collect()
        };
        for r in 0..runs {
            let mut count = 0;
            for g in r * chains..(r + 1) * chains {
                // The importance weight at the current state, before the transition at t_k.
                log_w[g] += dt * (fx[g] - log_normal(&x[g]));
                // One leapfrog step: momentum from stream k, counter g·d + a.
                let e = eps[r];
                let p0: Vec<f64> = (0..d).map(|a| normal(key, (g * d + a) as u32)).collect();
                let ph: Vec<f64> = p0
                    .iter()
                    .zip(grad(&x[g], &gx[g]))
                    .map(|(p, gr)| p + 0.5 * e * gr)
                    .collect();
                let xp: Vec<f64> = x[g].iter().zip(&ph).map(|(xa, p)| xa + e * p).collect();
                let (fp, gp) = (f(&xp), score(&xp));
                let p1: Vec<f64> = ph
                    .iter()
                    .zip(grad(&xp, &gp))
                    .map(|(p, gr)| p + 0.5 * e * gr)
                    .collect();
                // Metropolis on H = −log π_t(x) + ‖p‖²/2 (a NaN log α rejects).
                let log_alpha =
                    log_pi(fp, &xp) - 0.5 * sq(&p1) - log_pi(fx[g], &x[g]) + 0.5 * sq(&p0);
                let u = uniform01(pcg_hash(key ^ ACCEPT_STREAM ^ pcg_hash(g as u32)));
                closest_call = closest_call.min((u.ln() - log_alpha).abs());
                if u.ln() < log_alpha {
                    (x[g], fx[g], gx[g]) = (xp, fp, gp);
                    count += 1;
                }
            }
            // The run's step size follows its acceptance (ais::AisConfig documents the rule).
            accepted[r] += count;
            let factor = if count > up_above {
                cfg.step_up
            } else {
                cfg.step_down
            };
            eps[r] = (eps[r] * factor).clamp(cfg.min_step, cfg.max_step);
        }
    }
    AisTrace {
        log_weights: log_w,
        step_sizes: eps,
        accepted,
        closest_call,
    }
}
