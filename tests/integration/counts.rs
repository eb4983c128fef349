//! Queue submissions and readbacks per step (issue 21, item 2): an SVGD step and every
//! training algorithm's iteration is one submit with nothing read back; steps that log, take a
//! KSD or read particles are the exceptions, and their counts are pinned too.
//!
//! The counts are per device ([`GpuContext::counts`]), and the other tests share theirs, so
//! these tests open a device of their own and take turns on it (one lock).
//!
//! The exact median is recorded into the step's encoder ([`stein::median::DeviceMedian`]),
//! at every size it serves, for SVGD steps and training batches alike.

use std::sync::{Mutex, MutexGuard, OnceLock};

use anyhow::{ensure, Result};
use stein::bandwidth::Bandwidth;
use stein::gpu::{GpuContext, GpuCounts};
use stein::io::target::Gmm;
use stein::kernels::Kernels;
use stein::median::BatchMedian;
use stein::model::mlp::MlpKernels;
use stein::model::rbm::{RbmKernels, RbmModel, RbmShape};
use stein::svgd::{GmmScore, Optimizer, Svgd};
use stein::train::{init_theta, Algo, GenConfig, TrainConfig, Trainer};

use super::common::normals;

/// The lock a test holds while it counts, and the device it counts on.
type Turn = (MutexGuard<'static, ()>, &'static (GpuContext, Kernels));

/// A device for these tests alone, and the lock each test holds while it counts.
fn device() -> Result<Option<Turn>> {
    static DEV: OnceLock<Option<(GpuContext, Kernels)>> = OnceLock::new();
    static LOCK: Mutex<()> = Mutex::new(());
    // The shared device's check: no adapter fails (or skips) as every GPU test does.
    if super::common::gpu()?.is_none() {
        return Ok(None);
    }
    let dev = DEV.get_or_init(|| {
        let ctx = GpuContext::default_adapter().ok()?;
        let k = Kernels::new(&ctx).ok()?;
        Some((ctx, k))
    });
    let dev = dev
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("a second device could not be opened"))?;
    Ok(Some((LOCK.lock().unwrap_or_else(|e| e.into_inner()), dev)))
}

/// The submits and readbacks `f` makes, after the device is idle.
fn count(ctx: &GpuContext, f: impl FnOnce() -> Result<()>) -> Result<GpuCounts> {
    ctx.wait()?;
    let before = ctx.counts();
    f()?;
    let counts = ctx.counts() - before;
    ctx.wait()?;
    Ok(counts)
}

const ONE_SUBMIT: GpuCounts = GpuCounts {
    submits: 1,
    readbacks: 0,
};

fn engine<'a>(ctx: &'a GpuContext, k: &'a Kernels, n: usize, d: usize) -> Result<Svgd<'a>> {
    let gmm = Gmm::new(
        vec![1.0, 2.0],
        vec![vec![-1.0; d], vec![1.5; d]],
        vec![vec![1.0; d], vec![0.7; d]],
    )?;
    let (x0, _) = normals(n, d, 2.0, 21);
    Svgd::new(
        ctx,
        k,
        Box::new(GmmScore::new(ctx, &gmm)?),
        &x0,
        n,
        Optimizer::Adagrad,
    )
}

/// A fixed bandwidth: one submit, no readback, at every size; a KSD and reading the
/// particles are the counted exceptions.
#[test]
fn an_svgd_step_with_a_fixed_bandwidth_is_one_submit() -> Result<()> {
    let Some((_turn, (ctx, k))) = device()? else {
        return Ok(());
    };
    for (n, d) in [(1, 1), (2, 3), (257, 2), (65, 17)] {
        let mut e = engine(ctx, k, n, d)?;
        for step in 0..3 {
            let c = count(ctx, || e.step(0.05, Bandwidth::Fixed(0.7)).map(|_| ()))?;
            ensure!(c == ONE_SUBMIT, "n = {n}, d = {d}, step {step}: {c:?}");
        }
        // A KSD: one submit of score and row sums, then its two buffers read back (each
        // readback submits its copy); on CPU adapters one more submit and readback first (the
        // squared norms that choose its form, `Kernels::ksd_rows`).
        let c = count(ctx, || e.ksd(0.7).map(|_| ()))?;
        ensure!(
            (2..=3).contains(&c.readbacks) && c.submits == c.readbacks + 2,
            "n = {n}, d = {d}: a KSD made {c:?}"
        );
        let c = count(ctx, || e.particles().map(|_| ()))?;
        let read = GpuCounts {
            submits: 1,
            readbacks: 1,
        };
        ensure!(c == read, "n = {n}, d = {d}: reading x made {c:?}");
    }
    Ok(())
}

/// The median bandwidth, at sizes that list every pair (n(n−1)/2 ≤ 2²¹) and at one that
/// samples a bracket first (n = 2100): one submit and no readback, the median recorded into
/// the step's encoder.
#[test]
fn an_svgd_step_with_the_median_is_one_submit() -> Result<()> {
    let Some((_turn, (ctx, k))) = device()? else {
        return Ok(());
    };
    for (n, d) in [(1, 1), (2, 3), (257, 2), (65, 17), (2100, 2)] {
        let mut e = engine(ctx, k, n, d)?;
        for step in 0..2 {
            let c = count(ctx, || e.step(0.05, Bandwidth::Median).map(|_| ()))?;
            ensure!(c == ONE_SUBMIT, "n = {n}, d = {d}, step {step}: {c:?}");
        }
    }
    Ok(())
}

fn trainer_config(algo: Algo, batch: usize, bandwidth: Option<f64>) -> TrainConfig {
    let mut cfg = TrainConfig::paper(3, algo);
    cfg.batch = batch;
    cfg.bandwidth = bandwidth;
    cfg.gen = algo.has_generator().then(|| GenConfig {
        nz: 3,
        widths: vec![8],
        ..GenConfig::default()
    });
    cfg
}

/// Counts `steps` updates of `algo` (the last one logged) on batches of `batch` rows: every
/// update that does not log is `want`; the logged one adds the metrics' three readbacks
/// (energies, gradient, θ), each with its copy's submit.
fn check_training(algo: Algo, batch: usize, bandwidth: Option<f64>, want: GpuCounts) -> Result<()> {
    let Some((_turn, (ctx, k))) = device()? else {
        return Ok(());
    };
    let shape = RbmShape { d: 4, h: 3 };
    let rk = RbmKernels::new(ctx)?;
    let mlp = MlpKernels::new(ctx)?;
    let cfg = trainer_config(algo, batch, bandwidth);
    let model = RbmModel {
        kernels: &rk,
        shape,
    };
    let gen = cfg.gen.as_ref().map(|g| g.spec(shape.d)).transpose()?;
    let mut t = Trainer::new(ctx, k, model, &init_theta(shape, 3), cfg)?;
    if let Some(spec) = gen {
        t = t.with_generator(&mlp, &spec.init_eta(4))?;
    }
    let (data, _) = normals(300, shape.d, 1.0, 5);
    let what = format!("{algo:?}, batch {batch}, bandwidth {bandwidth:?}");
    for s in 0..3 {
        let c = count(ctx, || t.step(&data, 300, false).map(|_| ()))?;
        ensure!(c == want, "{what}: update {s} made {c:?}, want {want:?}");
    }
    let c = count(ctx, || t.step(&data, 300, true).map(|_| ()))?;
    let logged = GpuCounts {
        submits: want.submits + 3,
        readbacks: want.readbacks + 3,
    };
    ensure!(
        c == logged,
        "{what}: the logged update made {c:?}, want {logged:?}"
    );
    Ok(())
}

/// Every algorithm's iteration on a batch whose median one selection workgroup serves, with
/// the median bandwidth and a fixed one: one submit, no readback.
#[test]
fn every_training_iteration_is_one_submit() -> Result<()> {
    for algo in [
        Algo::Cd,
        Algo::Pcd,
        Algo::SteinCd,
        Algo::SteinGan,
        Algo::Hybrid,
    ] {
        for bandwidth in [None, Some(0.5)] {
            check_training(algo, 64, bandwidth, ONE_SUBMIT)?;
        }
    }
    Ok(())
}

/// A batch past one selection workgroup (on llvmpipe past about 1900 rows; elsewhere past
/// [`BatchMedian::MAX_N`]): still one submit and no readback.
#[test]
fn a_training_iteration_on_a_large_batch_is_one_submit() -> Result<()> {
    let Some((ctx, _)) = super::common::gpu()? else {
        return Ok(());
    };
    let batch = match BatchMedian::fits(ctx, 2048) {
        true => BatchMedian::MAX_N + 1,
        false => 2048,
    };
    for algo in [Algo::SteinCd, Algo::SteinGan, Algo::Hybrid] {
        check_training(algo, batch, None, ONE_SUBMIT)?;
    }
    Ok(())
}

/// `stein bench` reports the counts of one step per row: with a fixed h one submit and no
/// readback, with the median what a step with the median makes here; with `--profile` the
/// time of each phase.
#[test]
fn the_benchmark_reports_the_counts_of_a_step() -> Result<()> {
    let Some((_turn, (ctx, k))) = device()? else {
        return Ok(());
    };
    let cfg = stein::bench::BenchConfig {
        n_min: 64,
        n_max: 64,
        dims: vec![2],
        min_time: std::time::Duration::from_millis(1),
        profile: true,
        ..Default::default()
    };
    let report = stein::bench::run(ctx, &cfg, |_| {}, |_| {})?;
    let row = &report.rows[0];
    ensure!(row.fixed_step_counts == ONE_SUBMIT, "{row:?}");
    // --profile: every phase timed, on the host's clock.
    let p = row
        .profile
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no profile: {row:?}"))?;
    let phases = [
        p.score_seconds,
        p.median_seconds,
        p.phi_seconds,
        p.update_seconds,
    ];
    ensure!(phases.iter().all(|s| s.is_finite() && *s > 0.0), "{p:?}");
    // The device's clock where the adapter has timestamp queries: every pass of one step,
    // by phase, the phases their sums; else the wall clock, saying so.
    match p.clock {
        "device" => {
            ensure!(
                ctx.has_timestamps()
                    && ctx.info.device_type != wgpu::DeviceType::Cpu
                    && p.note.is_none(),
                "{p:?}"
            );
            for (name, total) in [
                ("score", p.score_seconds),
                ("median", p.median_seconds),
                ("phi", p.phi_seconds),
                ("update", p.update_seconds),
            ] {
                let sum: f64 = p
                    .passes
                    .iter()
                    .filter(|q| q.phase == name)
                    .map(|q| q.seconds)
                    .sum();
                ensure!(sum == total && sum > 0.0, "phase {name}: {p:?}");
            }
            ensure!(
                p.passes.iter().any(|q| q.kernel == "median_control")
                    && p.passes.iter().all(|q| !q.phase.is_empty()),
                "{p:?}"
            );
        }
        "wall" => ensure!(
            (!ctx.has_timestamps() || ctx.info.device_type == wgpu::DeviceType::Cpu)
                && p.passes.is_empty()
                && p.note.is_some(),
            "{p:?}"
        ),
        other => anyhow::bail!("clock {other}: {p:?}"),
    }
    let mut e = engine(ctx, k, 64, 2)?;
    let c = count(ctx, || e.step(0.05, Bandwidth::Median).map(|_| ()))?;
    ensure!(
        (row.step_submits, row.step_readbacks) == (Some(c.submits), Some(c.readbacks)),
        "bench {row:?}, a step {c:?}"
    );
    Ok(())
}

/// The pass timer (`GpuContext::time_passes`, the device clock of `stein bench --profile` on
/// hardware adapters), where the adapter has timestamp queries: one SVGD step with the median
/// recorded with every pass labelled by its phase and kernel, in recording order, one submit
/// and one readback. (Its values are not checked: llvmpipe's timestamps do not bracket the
/// work, see `bench::profile_phases`.)
#[test]
fn a_profiled_step_labels_every_pass_by_phase() -> Result<()> {
    let Some((_turn, (ctx, k))) = device()? else {
        return Ok(());
    };
    if !ctx.has_timestamps() {
        return Ok(());
    }
    let mut e = engine(ctx, k, 2100, 2)?;
    e.step(0.05, Bandwidth::Median)?;
    let mut passes = Vec::new();
    let c = count(ctx, || {
        passes = e.profile_step(0.05, Bandwidth::Median)?;
        Ok(())
    })?;
    let read = GpuCounts {
        submits: 2,
        readbacks: 1,
    };
    ensure!(c == read, "a profiled step made {c:?}");
    let phases: Vec<&str> = passes.iter().map(|p| p.phase.as_str()).collect();
    let mut order = phases.clone();
    order.dedup();
    ensure!(
        order == ["median", "score", "phi", "update"],
        "phases in order {order:?}"
    );
    ensure!(
        passes
            .iter()
            .all(|p| p.seconds.is_finite() && p.seconds >= 0.0)
            && passes[0].kernel == "median_control"
            && passes
                .iter()
                .any(|p| p.kernel == "pair_sample" || p.kernel == "pair_sample_texture")
            && passes.last().is_some_and(|p| p.kernel == "update_adagrad"),
        "{passes:?}"
    );
    // The timer is off afterwards: a step is again one submit.
    let c = count(ctx, || e.step(0.05, Bandwidth::Median).map(|_| ()))?;
    ensure!(c == ONE_SUBMIT, "after profiling, a step made {c:?}");
    Ok(())
}
