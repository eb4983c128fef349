//! Annealed importance sampling: the GPU against the f64 reference chain by chain (same random
//! streams), and both against normalisers known exactly (the RBM's 2^H-state sum, a Gaussian's
//! closed form).

use std::ops::ControlFlow;
use std::sync::OnceLock;

use anyhow::{ensure, Context, Result};
use stein::ais::{
    ais_log_partition, ais_log_partition_with_progress, AisConfig, AisKernels, AisResult,
};
use stein::cpu;
use stein::gpu::{GpuContext, GpuVec};
use stein::io::target::SplitMix64;
use stein::model::gaussian::DiagGaussianEnergy;
use stein::model::rbm::{RbmEnergy, RbmKernels, RbmShape};

use super::common::gpu;

/// The shared device with the AIS and RBM pipelines.
fn ais_gpu() -> Result<
    Option<(
        &'static GpuContext,
        &'static AisKernels,
        &'static RbmKernels,
    )>,
> {
    static K: OnceLock<(AisKernels, RbmKernels)> = OnceLock::new();
    let Some((ctx, _)) = gpu()? else {
        return Ok(None);
    };
    let (a, r) = K.get_or_init(|| {
        (
            AisKernels::new(ctx).expect("building the AIS pipelines"),
            RbmKernels::new(ctx).expect("building the RBM pipelines"),
        )
    });
    Ok(Some((ctx, a, r)))
}

/// An RBM with weights of a scale that makes p(x) clearly multimodal: B ~ N(0, w²),
/// b, c ~ N(0, 0.5²). Returns θ rounded to f32 (what the device holds) in f32 and f64.
fn rbm_theta(s: RbmShape, w: f64, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let mut rng = SplitMix64::new(seed);
    let th32: Vec<f32> = (0..s.len())
        .map(|q| {
            let scale = if q < s.d * s.h { w } else { 0.5 };
            (scale * rng.next_normal()) as f32
        })
        .collect();
    let th64 = th32.iter().map(|&v| f64::from(v)).collect();
    (th32, th64)
}

/// The two agreement criteria of an estimate with a known value, in one message.
fn check_estimate(got: &AisResult, exact: f64, sigmas: f64, abs: f64, what: &str) -> Result<()> {
    let err = got.log_z - exact;
    eprintln!(
        "{what}: AIS {:.5} ± {:.5}, exact {exact:.5}, error {err:+.5} ({:+.2} se), acceptance {:.3}, final ε {:.4}..{:.4}, {:.2} s",
        got.log_z,
        got.std_err,
        err / got.std_err,
        got.acceptance,
        got.final_step_sizes.iter().cloned().fold(f64::INFINITY, f64::min),
        got.final_step_sizes.iter().cloned().fold(0.0, f64::max),
        got.seconds
    );
    ensure!(
        got.std_err.is_finite() && got.std_err > 0.0,
        "{what}: standard error {}",
        got.std_err
    );
    ensure!(
        err.abs() <= sigmas * got.std_err && err.abs() <= abs,
        "{what}: AIS log Z = {} ± {} but exact {exact} (error {err:+}, {:.2} standard errors; allowed {sigmas} se and {abs} nats)",
        got.log_z,
        got.std_err,
        err / got.std_err
    );
    Ok(())
}

/// A small configuration for the chain-by-chain comparison: 3 runs of 8 chains, 100
/// temperatures, batches of 7 temperatures per submit (an awkward size).
fn tiny_config() -> AisConfig {
    AisConfig {
        temperatures: 100,
        runs: 3,
        chains: 8,
        seed: 11,
        initial_step: 0.1,
        temperatures_per_submit: 7,
        ..AisConfig::default()
    }
}

/// The five AIS kernels against `cpu::ais::ais`, chain by chain, on three configurations: the
/// tiny one (two waves, the second padded), one chain of one run in d = 1 with one
/// temperature a submit, and 5 runs of 13 chains in d = 17 (batches of 52 chains: four runs
/// a wave, then one).
#[test]
fn gpu_ais_matches_the_f64_reference_chain_by_chain() -> Result<()> {
    let Some((ctx, ak, rk)) = ais_gpu()? else {
        return Ok(());
    };
    let cases = [
        (RbmShape { d: 5, h: 3 }, tiny_config(), 16, 7),
        (
            RbmShape { d: 1, h: 1 },
            AisConfig {
                temperatures: 30,
                runs: 1,
                chains: 1,
                seed: 5,
                initial_step: 0.1,
                temperatures_per_submit: 1,
                ..AisConfig::default()
            },
            1,
            3,
        ),
        (
            RbmShape { d: 17, h: 4 },
            AisConfig {
                temperatures: 50,
                runs: 5,
                chains: 13,
                seed: 4,
                initial_step: 0.05,
                temperatures_per_submit: 11,
                ..AisConfig::default()
            },
            52,
            9,
        ),
    ];
    for (s, cfg, batch, theta_seed) in cases {
        ais_matches_chain_by_chain(ctx, ak, rk, s, &cfg, batch, theta_seed).with_context(|| {
            format!(
                "d = {}, H = {}, {} runs of {} chains",
                s.d, s.h, cfg.runs, cfg.chains
            )
        })?;
    }
    Ok(())
}

fn ais_matches_chain_by_chain(
    ctx: &GpuContext,
    ak: &AisKernels,
    rk: &RbmKernels,
    s: RbmShape,
    cfg: &AisConfig,
    batch: usize,
    theta_seed: u64,
) -> Result<()> {
    let (th32, th) = rbm_theta(s, 0.7, theta_seed);
    let cfg = cfg.clone();
    let want = cpu::ais::ais(
        &cfg,
        s.d,
        |x| cpu::rbm::energy(&th, s, x)[0],
        |x| cpu::rbm::score(&th, s, x),
    );
    // The reference's closest accept decision must be far from f32 rounding, or the GPU could
    // legitimately decide it the other way and the chains would part (a property of the
    // configuration, computed in f64 alone).
    ensure!(
        want.closest_call > 1e-4,
        "this configuration has an accept decision within {:e} of its threshold; f32 may flip it, choose another seed",
        want.closest_call
    );
    // A wave holds the whole runs that fit a batch (tiny: 16 chains = 2 runs of 8, so the 3
    // runs take two waves, the second one padded).
    let energy = RbmEnergy::new(ctx, rk, s, &th32, batch)?;
    let got = ais_log_partition(ctx, ak, &energy, &cfg)?;
    let waves = cfg.runs.div_ceil((batch / cfg.chains).max(1));
    ensure!(
        got.waves == waves,
        "expected {waves} waves, got {}",
        got.waves
    );
    ensure!(
        got.accepted == want.accepted,
        "accepted transitions per run: GPU {:?}, reference {:?}",
        got.accepted,
        want.accepted
    );
    for (r, (g, w)) in got
        .final_step_sizes
        .iter()
        .zip(&want.step_sizes)
        .enumerate()
    {
        // f32 products of up to 99 factors 1.02 / 0.98: a few ulps each.
        ensure!(
            (g - w).abs() <= 1e-5 * w,
            "run {r}: final step size {g} vs reference {w}"
        );
    }
    // Log-weights: f32 states, f and score along 99 transitions; ~1e-5 seen.
    let mut worst = (0, 0.0f64);
    for (i, (g, w)) in got.log_weights.iter().zip(&want.log_weights).enumerate() {
        let e = (g - w).abs();
        if e > worst.1 || e.is_nan() {
            worst = (i, e);
        }
    }
    eprintln!(
        "GPU vs reference: worst log-weight difference {:e} (chain {}), closest call {:e}",
        worst.1, worst.0, want.closest_call
    );
    ensure!(
        worst.1 <= 2e-4,
        "chain {}: log-weight {} on the GPU, {} in the reference",
        worst.0,
        got.log_weights[worst.0],
        want.log_weights[worst.0]
    );
    let (log_z, _, _) = cpu::ais::estimate(&want.log_weights, cfg.chains);
    ensure!(
        (got.log_z - log_z).abs() <= 2e-4,
        "estimate {} vs reference {log_z}",
        got.log_z
    );
    Ok(())
}

#[test]
fn ais_is_deterministic_and_independent_of_the_wave_size() -> Result<()> {
    let Some((ctx, ak, rk)) = ais_gpu()? else {
        return Ok(());
    };
    let s = RbmShape { d: 5, h: 3 };
    let (th32, _) = rbm_theta(s, 0.7, 7);
    let cfg = tiny_config();
    // One run per wave (three waves) and all runs in one wave, twice.
    let one = ais_log_partition(ctx, ak, &RbmEnergy::new(ctx, rk, s, &th32, 8)?, &cfg)?;
    let all = ais_log_partition(ctx, ak, &RbmEnergy::new(ctx, rk, s, &th32, 24)?, &cfg)?;
    let again = ais_log_partition(ctx, ak, &RbmEnergy::new(ctx, rk, s, &th32, 24)?, &cfg)?;
    ensure!(one.waves == 3 && all.waves == 1, "wave counts");
    ensure!(
        all.log_weights == again.log_weights,
        "a rerun gave other log-weights"
    );
    ensure!(
        one.log_weights == all.log_weights && one.accepted == all.accepted,
        "one run per wave and all in one wave differ: {:?} vs {:?}",
        &one.log_weights[..4],
        &all.log_weights[..4]
    );
    Ok(())
}

#[test]
fn acceptance_history_adds_up_over_many_workgroups_of_runs() -> Result<()> {
    let Some((ctx, ak, _)) = ais_gpu()? else {
        return Ok(());
    };
    // 150 runs: `ais_adapt` spans three workgroups, and the temperature counter that every
    // invocation reads must not move under them.
    let energy = DiagGaussianEnergy::new(ctx, &[0.0, 1.0], &[0.2, 0.5], 0.0, 300)?;
    let cfg = AisConfig {
        temperatures: 40,
        runs: 150,
        chains: 2,
        ..AisConfig::default()
    };
    let got = ais_log_partition(ctx, ak, &energy, &cfg)?;
    let per_temperature: f64 = got.acceptance_by_temperature.iter().sum::<f64>() * 300.0;
    let per_run: u64 = got.accepted.iter().sum();
    ensure!(
        got.acceptance_by_temperature.len() == 39
            && (per_temperature - per_run as f64).abs() < 1e-6,
        "accepted transitions: {per_temperature} by temperature, {per_run} by run"
    );
    ensure!(
        got.acceptance_by_temperature.iter().all(|&a| a > 0.0),
        "a temperature without accepted transitions: {:?}",
        got.acceptance_by_temperature
    );
    Ok(())
}

#[test]
fn ais_matches_the_exact_rbm_log_partition() -> Result<()> {
    let Some((ctx, ak, rk)) = ais_gpu()? else {
        return Ok(());
    };
    // d = 20, H = 6, B ~ N(0, 0.3²): the 64 components b + Bh are about 2.7 apart, their
    // weights spread over several nats. 20 runs × 100 chains, the default 1000 temperatures.
    let s = RbmShape { d: 20, h: 6 };
    let (th32, th) = rbm_theta(s, 0.3, 1);
    let theta = GpuVec::from_slice(ctx, "theta", &th32)?;
    let exact = rk.log_partition(ctx, s, &theta)?;
    let exact_cpu = cpu::rbm::log_partition(&th, s);
    ensure!(
        (exact - exact_cpu).abs() < 1e-4,
        "exact log Z: device {exact}, f64 {exact_cpu}"
    );
    let cfg = AisConfig {
        runs: 20,
        chains: 100,
        seed: 1,
        ..AisConfig::default()
    };
    let energy = RbmEnergy::new(ctx, rk, s, &th32, 2000)?;
    let got = ais_log_partition(ctx, ak, &energy, &cfg)?;
    check_estimate(&got, exact, 4.0, 0.1, "RBM d=20 H=6")?;
    // Unit-variance components: one leapfrog step of the largest ε = 0.5 still accepts ~95%,
    // so every run's ε ends at the clamp (the narrow Gaussian below exercises the target).
    ensure!(
        got.acceptance > 0.65 && got.final_step_sizes.iter().all(|&e| e == 0.5),
        "acceptance {} above the target but step sizes {:?} below the clamp",
        got.acceptance,
        got.final_step_sizes
    );
    Ok(())
}

#[test]
fn ais_matches_a_gaussian_normaliser() -> Result<()> {
    let Some((ctx, ak, _)) = ais_gpu()? else {
        return Ok(());
    };
    // 2-D, one narrow and one wide axis, off-centre, with an additive constant:
    // log Z = c + Σ log(σ_a √(2π)).
    let energy = DiagGaussianEnergy::new(ctx, &[1.5, -2.0], &[0.3, 2.5], 0.7, 2000)?;
    let cfg = AisConfig {
        runs: 20,
        chains: 100,
        seed: 2,
        ..AisConfig::default()
    };
    let got = ais_log_partition(ctx, ak, &energy, &cfg)?;
    check_estimate(&got, energy.log_partition(), 4.0, 0.05, "Gaussian 2-D")
}

#[test]
fn ais_step_size_settles_at_the_target_acceptance() -> Result<()> {
    let Some((ctx, ak, _)) = ais_gpu()? else {
        return Ok(());
    };
    // A narrow 3-D Gaussian (σ = 0.1): one leapfrog step is unstable past ε = 2σ, so the
    // adaptation has to find ε well inside [1e-4, 0.5].
    let energy = DiagGaussianEnergy::new(ctx, &[0.5, 0.0, -0.5], &[0.1; 3], 0.0, 400)?;
    let cfg = AisConfig {
        temperatures: 300,
        runs: 4,
        chains: 100,
        seed: 4,
        ..AisConfig::default()
    };
    let got = ais_log_partition(ctx, ak, &energy, &cfg)?;
    check_estimate(
        &got,
        energy.log_partition(),
        4.0,
        0.1,
        "Gaussian 3-D σ = 0.1",
    )?;
    // Over the last 100 temperatures (t > 0.9), where π_t hardly changes any more.
    let tail = &got.acceptance_by_temperature[199..];
    let late = tail.iter().sum::<f64>() / tail.len() as f64;
    eprintln!("narrow Gaussian: acceptance {late:.3} over the last 100 temperatures");
    ensure!(
        (0.6..0.7).contains(&late),
        "acceptance {late} over the last 100 temperatures is not near the 65% target"
    );
    ensure!(
        got.final_step_sizes
            .iter()
            .all(|&e| (0.01..0.2).contains(&e)),
        "final step sizes {:?}",
        got.final_step_sizes
    );
    Ok(())
}

#[test]
fn cpu_reference_ais_matches_a_gaussian_normaliser() -> Result<()> {
    // The reference alone (no GPU): 1-D N(−1, 2²) scaled by e^{−0.3}.
    let (mu, sigma, c) = (-1.0, 2.0, -0.3);
    let cfg = AisConfig {
        runs: 20,
        chains: 50,
        seed: 3,
        ..AisConfig::default()
    };
    let trace = cpu::ais::ais(
        &cfg,
        1,
        |x| c - 0.5 * ((x[0] - mu) / sigma).powi(2),
        |x| vec![-(x[0] - mu) / (sigma * sigma)],
    );
    let (log_z, se, _) = cpu::ais::estimate(&trace.log_weights, cfg.chains);
    let exact = c + (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln();
    eprintln!("reference AIS 1-D Gaussian: {log_z:.5} ± {se:.5}, exact {exact:.5}");
    ensure!(
        (log_z - exact).abs() <= 4.0 * se && (log_z - exact).abs() <= 0.05,
        "reference AIS {log_z} ± {se}, exact {exact}"
    );
    Ok(())
}

#[test]
fn sigmoid_schedule_runs_from_zero_to_one() {
    for t in [2, 3, 10, 1000] {
        let s = cpu::ais::sigmoid_schedule(t);
        assert_eq!(s.len(), t);
        assert_eq!((s[0], s[t - 1]), (0.0, 1.0));
        assert!(s.windows(2).all(|w| w[1] > w[0]), "T = {t}: not increasing");
    }
    // Symmetric about the middle: t_k + t_{T−1−k} = 1.
    let s = cpu::ais::sigmoid_schedule(1000);
    assert!((0..1000).all(|k| (s[k] + s[999 - k] - 1.0).abs() < 1e-12));
    // Dense at both ends: the first step is ~ 20 times smaller than the middle one.
    assert!(s[1] - s[0] < (s[500] - s[499]) / 10.0);
}

#[test]
fn ais_rejects_bad_input_with_a_clear_error() -> Result<()> {
    let Some((ctx, ak, rk)) = ais_gpu()? else {
        return Ok(());
    };
    let s = RbmShape { d: 3, h: 2 };
    let (th32, _) = rbm_theta(s, 0.5, 1);
    let energy = RbmEnergy::new(ctx, rk, s, &th32, 20)?;
    let base = AisConfig {
        temperatures: 10,
        runs: 2,
        chains: 10,
        ..AisConfig::default()
    };
    let cases: Vec<(AisConfig, &str)> = vec![
        (
            AisConfig {
                chains: 0,
                ..base.clone()
            },
            "at least one chain per run",
        ),
        (
            AisConfig {
                runs: 0,
                ..base.clone()
            },
            "at least one run",
        ),
        (
            AisConfig {
                temperatures: 1,
                ..base.clone()
            },
            "at least 2 temperatures",
        ),
        (
            AisConfig {
                initial_step: 0.0,
                ..base.clone()
            },
            "initial step size 0 must lie in",
        ),
        (
            AisConfig {
                target_acceptance: 1.0,
                ..base.clone()
            },
            "target acceptance",
        ),
        (
            AisConfig {
                chains: 3,
                runs: 3,
                ..base.clone()
            },
            "positive multiple of the 3 chains per run",
        ),
    ];
    for (cfg, want) in cases {
        let err = ais_log_partition(ctx, ak, &energy, &cfg)
            .err()
            .with_context(|| format!("{cfg:?} was accepted"))?;
        let msg = format!("{err:#}");
        ensure!(msg.contains(want), "{cfg:?}: error `{msg}` lacks `{want}`");
    }
    // And the valid base configuration runs (one wave, one submit of 9 temperatures), with
    // progress reported up to the total.
    let mut calls = Vec::new();
    let ok = ais_log_partition_with_progress(ctx, ak, &energy, &base, &mut |done, total| {
        calls.push((done, total));
        ControlFlow::Continue(())
    })?;
    ensure!(ok.log_z.is_finite(), "log Z {}", ok.log_z);
    ensure!(calls == [(9, 9)], "progress calls {calls:?}");
    Ok(())
}

/// Asked to stop, AIS ends at the next batch of temperatures it waits for with the error
/// `Interrupted`, naming how far it got: an unfinished estimate is not returned.
#[test]
fn ais_stops_when_its_observer_asks() -> Result<()> {
    let Some((ctx, ak, rk)) = ais_gpu()? else {
        return Ok(());
    };
    let s = RbmShape { d: 3, h: 2 };
    let (th32, _) = rbm_theta(s, 0.5, 1);
    let energy = RbmEnergy::new(ctx, rk, s, &th32, 20)?;
    let cfg = AisConfig {
        temperatures: 41,
        runs: 2,
        chains: 10,
        temperatures_per_submit: 5,
        ..AisConfig::default()
    };
    let mut calls = Vec::new();
    let err = ais_log_partition_with_progress(ctx, ak, &energy, &cfg, &mut |done, total| {
        calls.push((done, total));
        if done >= 10 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .err()
    .context("AIS asked to stop returned an estimate")?;
    let stop = err
        .downcast_ref::<stein::run::Interrupted>()
        .with_context(|| format!("not Interrupted: {err:#}"))?;
    ensure!(
        (stop.done, stop.total) == (10, 40),
        "stopped at {stop:?}, calls {calls:?}"
    );
    ensure!(calls == [(5, 40), (10, 40)], "progress calls {calls:?}");
    Ok(())
}

#[test]
fn wave_chains_fit_the_device_limits() -> Result<()> {
    let Some((ctx, _, _)) = ais_gpu()? else {
        return Ok(());
    };
    let groups = u64::from(ctx.limits.max_compute_workgroups_per_dimension);
    for d in [1, 2, 100, 784, 3000] {
        for (runs, chains) in [(100, 100), (3, 7), (1, 1)] {
            let cfg = AisConfig {
                runs,
                chains,
                ..AisConfig::default()
            };
            let n = stein::ais::wave_chains(ctx, &cfg, d);
            let waves = runs.div_ceil(n / chains);
            ensure!(
                n.is_multiple_of(chains) && n >= chains && n <= runs * chains,
                "d = {d}, {runs} × {chains}: batch {n}"
            );
            // Fits, unless a single run is already too large; waves as even as possible.
            ensure!(
                n == chains || (n * d) as u64 <= 64 * groups,
                "d = {d}: batch {n} × d past 64 · {groups}"
            );
            ensure!(
                waves * (n / chains) - runs < waves,
                "d = {d}, {runs} runs: {waves} waves of {} runs",
                n / chains
            );
        }
    }
    Ok(())
}

/// MNIST-sized timing and accuracy (d = 784, H = 10, 100 × 100 chains, 1000 temperatures):
/// `cargo test --release ais_mnist -- --ignored --nocapture`. θ from `STEIN_AIS_MODEL` (a
/// `stein train` model.safetensors) or else the authors' initialisation B ~ U(−0.05, 0.05),
/// c = 0, with b the mean training image (`../shared/data/mnist-train-images.npy`).
#[test]
#[ignore = "minutes on lavapipe; run by hand"]
fn ais_mnist_sized_rbm_against_exact() -> Result<()> {
    let Some((ctx, ak, rk)) = ais_gpu()? else {
        return Ok(());
    };
    let s = RbmShape { d: 784, h: 10 };
    let th32: Vec<f32> = match std::env::var_os("STEIN_AIS_MODEL") {
        Some(path) => {
            let t = stein::io::safetensors::Tensors::read(std::path::Path::new(&path))?;
            let mut th = t.tensors["B"].1.clone();
            th.extend_from_slice(&t.tensors["b"].1);
            th.extend_from_slice(&t.tensors["c"].1);
            th
        }
        None => {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/data/mnist-train-images.npy");
            let (data, n, d) = stein::io::npy::read_matrix_f32(&path, "mnist")?;
            ensure!(d == s.d, "MNIST has d = {d}");
            let mut rng = SplitMix64::new(0);
            let mut th: Vec<f32> = (0..s.d * s.h)
                .map(|_| (0.1 * (rng.next_f64() - 0.5)) as f32)
                .collect();
            th.extend((0..d).map(|a| {
                (0..n).map(|i| f64::from(data[i * d + a])).sum::<f64>() as f32 / n as f32
            }));
            th.extend(std::iter::repeat_n(0.0, s.h));
            th
        }
    };
    ensure!(th32.len() == s.len(), "θ has {} values", th32.len());
    let theta = GpuVec::from_slice(ctx, "theta", &th32)?;
    let exact = rk.log_partition(ctx, s, &theta)?;
    let cfg = AisConfig::default();
    let batch = stein::ais::wave_chains(ctx, &cfg, s.d);
    let energy = RbmEnergy::new(ctx, rk, s, &th32, batch)?;
    let got = ais_log_partition_with_progress(ctx, ak, &energy, &cfg, &mut |done, total| {
        eprintln!("  {done} / {total} temperature steps");
        ControlFlow::Continue(())
    })?;
    eprintln!(
        "MNIST-sized RBM on {}: {} waves of {batch} chains",
        ctx.adapter_label(),
        got.waves
    );
    check_estimate(&got, exact, 4.0, 1.0, "RBM d=784 H=10")
}
