//! The trainer as a library: CD, PCD and SteinCD learn an RBM whose answer is known.
//!
//! Data are drawn exactly from a small "true" Gaussian-Bernoulli RBM (h from its marginal over
//! the 2^H states, then x | h ~ N(b + Bh, I)); each algorithm starts from the authors'
//! initialisation and must close most of the gap in exact held-out log-likelihood between the
//! initial model and the true one. The exact log-likelihoods come from the f64 reference
//! (`cpu::rbm`), so the test checks the learning, not the evaluation kernels.

use anyhow::{ensure, Result};
use stein::cpu::rbm as cpu_rbm;
use stein::io::target::SplitMix64;
use stein::model::rbm::{RbmKernels, RbmModel, RbmShape};
use stein::train::{init_theta, Algo, Sampler, TrainConfig, Trainer};

use super::common::gpu;

const SHAPE: RbmShape = RbmShape { d: 4, h: 2 };

/// The true model: two well separated hidden directions, offsets and hidden biases.
fn true_theta() -> Vec<f64> {
    let s = SHAPE;
    let mut t = vec![0.0; s.len()];
    let bm = [[1.5, 0.0], [1.0, -1.0], [0.0, 1.5], [-0.5, 0.5]];
    for (a, row) in bm.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            t[s.b_mat(a, j)] = v;
        }
    }
    for (a, &v) in [0.5, -0.5, 0.25, 0.0].iter().enumerate() {
        t[s.b(a)] = v;
    }
    t[s.c(0)] = 0.3;
    t[s.c(1)] = -0.2;
    t
}

/// `n` exact draws: h from p(h) ∝ exp(cᵀh + ½‖b + Bh‖²), then x = b + Bh + ξ.
fn draw(theta: &[f64], n: usize, seed: u64) -> Vec<f32> {
    let s = SHAPE;
    let states: Vec<Vec<f64>> = (0..1u32 << s.h)
        .map(|code| {
            (0..s.h)
                .map(|j| if code >> j & 1 == 1 { 1.0 } else { -1.0 })
                .collect()
        })
        .collect();
    let mean = |h: &[f64]| -> Vec<f64> {
        (0..s.d)
            .map(|a| theta[s.b(a)] + (0..s.h).map(|j| theta[s.b_mat(a, j)] * h[j]).sum::<f64>())
            .collect()
    };
    let logw: Vec<f64> = states
        .iter()
        .map(|h| {
            let ch: f64 = (0..s.h).map(|j| theta[s.c(j)] * h[j]).sum();
            ch + 0.5 * mean(h).iter().map(|m| m * m).sum::<f64>()
        })
        .collect();
    let mx = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logw.iter().map(|l| (l - mx).exp()).collect();
    let total: f64 = w.iter().sum();
    let mut rng = SplitMix64::new(seed);
    let mut x = Vec::with_capacity(n * s.d);
    for _ in 0..n {
        let mut u = rng.next_f64() * total;
        let mut k = 0;
        while k + 1 < w.len() && u >= w[k] {
            u -= w[k];
            k += 1;
        }
        for m in mean(&states[k]) {
            x.push((m + rng.next_normal()) as f32);
        }
    }
    x
}

/// Exact mean log-likelihood of `x` under θ, in f64.
fn loglik(theta: &[f64], x: &[f32]) -> f64 {
    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let f = cpu_rbm::energy(theta, SHAPE, &x64);
    f.iter().sum::<f64>() / f.len() as f64 - cpu_rbm::log_partition(theta, SHAPE)
}

/// Trains `algo` for `steps` updates on `train` and returns the learned θ.
fn learn(cfg: TrainConfig, train: &[f32]) -> Result<Vec<f64>> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(Vec::new());
    };
    let rk = RbmKernels::new(ctx)?;
    let model = RbmModel {
        kernels: &rk,
        shape: SHAPE,
    };
    let theta0 = init_theta(SHAPE, cfg.seed);
    let steps = cfg.steps;
    let mut t = Trainer::new(ctx, k, model, &theta0, cfg)?;
    let n = train.len() / SHAPE.d;
    for s in 0..steps {
        // Log (read back) every 100 updates, as a run would: the metrics must stay finite.
        if let Some((gap, norm)) = t.step(train, n, (s + 1) % 100 == 0)? {
            ensure!(
                gap.is_finite() && norm.is_finite(),
                "update {s}: gap {gap}, norm {norm}"
            );
        }
    }
    Ok(t.theta()?.iter().map(|&v| f64::from(v)).collect())
}

/// Shared by the three algorithms: the data, the true and initial log-likelihoods, and the
/// check that training closes at least `share` of the gap without passing the true model by
/// more than the held-out sample's noise.
fn closes_the_gap(algo: Algo, sampler: Sampler, share: f64) -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let truth = true_theta();
    let train = draw(&truth, 4000, 11);
    let valid = draw(&truth, 4000, 12);
    let mut cfg = TrainConfig::paper(SHAPE.h, algo);
    cfg.sampler = sampler;
    cfg.steps = 400;
    cfg.lr = 3e-2;
    cfg.seed = 5;
    cfg.svgd_step = 0.5;
    let init: Vec<f64> = init_theta(SHAPE, cfg.seed)
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let (ll_true, ll_init) = (loglik(&truth, &valid), loglik(&init, &valid));
    let learned = learn(cfg, &train)?;
    let ll = loglik(&learned, &valid);
    let closed = (ll - ll_init) / (ll_true - ll_init);
    eprintln!(
        "{algo:?}/{sampler:?}: held-out log-lik. init {ll_init:.4}, learned {ll:.4}, true {ll_true:.4} ({:.0} % of the gap)",
        100.0 * closed
    );
    ensure!(
        ll_true - ll_init > 0.5,
        "the test's true model is too close to the initial one ({ll_true} against {ll_init})"
    );
    ensure!(
        closed >= share,
        "{algo:?} closed {:.0} % of the held-out log-likelihood gap (init {ll_init:.4}, learned {ll:.4}, true {ll_true:.4}); want at least {:.0} %",
        100.0 * closed,
        100.0 * share
    );
    // 4000 held-out rows: a learned model scores above the truth only by the sample's noise.
    ensure!(
        ll <= ll_true + 0.05,
        "{algo:?} scores {ll:.4} on held-out data, above the true model's {ll_true:.4}"
    );
    Ok(())
}

#[test]
fn cd_learns_a_known_rbm() -> Result<()> {
    closes_the_gap(Algo::Cd, Sampler::Gibbs, 0.9)
}

#[test]
fn pcd_learns_a_known_rbm() -> Result<()> {
    closes_the_gap(Algo::Pcd, Sampler::Gibbs, 0.9)
}

#[test]
fn stein_cd_learns_a_known_rbm() -> Result<()> {
    closes_the_gap(Algo::SteinCd, Sampler::Gibbs, 0.9)
}
