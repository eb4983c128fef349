//! Each command but `train`: its arguments turned into the library's options, checked before
//! the device opens, the workflow run, and the result printed (JSON on stdout, a summary on
//! stderr). Outputs are written by the library at the end, so a failed run leaves none.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::json;

use stein::gpu::context::list_all_adapters;
use stein::gpu::{AdapterChoice, GpuContext};
use stein::io::data::{Transform, Units};
use stein::io::npy::{read_matrix_f32, write_npy_f32};
use stein::io::target::{load_target, Gmm};
use stein::run::svgd::{check_bandwidth, load_particles, Init, Trace};
use stein::run::{check_png, EvalOptions, SampleOptions, SvgdRun};

use super::output;
use super::progress::{duration, Reporter};
use super::values::ImageShape;
use super::{
    BenchArgs, CheckTargetArgs, DemoArgs, EnergyArgs, EvalArgs, PhiArgs, PlotArgs, PredictArgs,
    SampleArgs, SvgdArgs,
};

/// Opens the device the options choose; the environment is read here, at the edge, and
/// passed down ([`gpu_options`]).
pub(crate) fn open(choice: &AdapterChoice) -> Result<GpuContext> {
    GpuContext::open(&gpu_options(choice))
}

/// The library's device options from the command line and the environment: wgpu's
/// `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` (when `--adapter` is absent) and its instance flags,
/// and stein's measurement switches `STEIN_UNCHECKED` (build every kernel without runtime
/// checks) and `STEIN_PHI_LAYOUT` (force φ's layout: lane, tiled, shuffle or gemm).
pub(crate) fn gpu_options(choice: &AdapterChoice) -> stein::gpu::GpuOptions {
    let instance = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    stein::gpu::GpuOptions {
        adapter: AdapterChoice {
            backend: choice.backend.clone(),
            name: (choice.name.clone()).or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok()),
        },
        backends: wgpu::Backends::from_env(),
        instance_flags: stein::gpu::stein_instance_flags(
            instance.flags,
            std::env::var_os("WGPU_VALIDATION_INDIRECT_CALL").is_some(),
        ),
        backend_options: instance.backend_options,
        unchecked: std::env::var_os("STEIN_UNCHECKED").is_some(),
        phi_layout: std::env::var("STEIN_PHI_LAYOUT")
            .ok()
            .and_then(|s| stein::gpu::PhiLayoutChoice::parse(&s)),
    }
}

/// `stein info`.
pub fn info(choice: &AdapterChoice) -> Result<()> {
    let adapters = list_all_adapters(&gpu_options(choice))?;
    if adapters.is_empty() {
        bail!("{}", stein::gpu::context::NO_ADAPTER_HELP);
    }
    for a in adapters {
        let i = a.get_info();
        let l = a.limits();
        let compute = a
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS);
        println!("{}", i.name);
        println!(
            "  backend: {:?}, type: {:?}, driver: {} {}",
            i.backend, i.device_type, i.driver, i.driver_info
        );
        println!("  compute shaders: {}", if compute { "yes" } else { "no" });
        println!(
            "  max_storage_buffer_binding_size: {}, max_buffer_size: {}",
            stein::gpu::context::human_bytes(l.max_storage_buffer_binding_size),
            stein::gpu::context::human_bytes(l.max_buffer_size)
        );
        println!(
            "  max_compute_workgroup_storage_size: {} B, max_compute_invocations_per_workgroup: {}, max_compute_workgroups_per_dimension: {}",
            l.max_compute_workgroup_storage_size, l.max_compute_invocations_per_workgroup, l.max_compute_workgroups_per_dimension
        );
    }
    Ok(())
}

/// `stein phi`.
pub fn phi(choice: &AdapterChoice, a: PhiArgs) -> Result<()> {
    let bw = a.bandwidth.0;
    check_bandwidth(bw)?;
    output::check(
        &[("--out", &a.out)],
        &[("--target", &a.target), ("--particles", &a.particles)],
        a.replace.overwrite,
    )?;
    // The device first: a covariance it cannot hold is refused before its factorisation.
    let ctx = open(choice)?;
    let target = load_target(&a.target, &|what, bytes| ctx.check_binding(what, bytes))?;
    let d = target.dim();
    let (x, n) = load_particles(&a.particles, d)?;
    let (phi, h) = stein::run::svgd::phi(&ctx, &target, &x, n, bw)?;
    write_npy_f32(&a.out, &phi, &[n, d])?;
    println!("{}", json!({"n": n, "d": d, "h": h}));
    Ok(())
}

/// `stein check-target`: the report on stdout (JSON), an error when it fails.
pub fn check_target(choice: &AdapterChoice, a: CheckTargetArgs) -> Result<()> {
    ensure!(
        a.tolerance > 0.0 && a.tolerance.is_finite(),
        "--tolerance {} must be a positive number",
        a.tolerance
    );
    let ctx = open(choice)?;
    let target = load_target(&a.target, &|what, bytes| ctx.check_binding(what, bytes))?;
    let (x, n) = load_particles(&a.particles, target.dim())?;
    let r = stein::run::check_target::check_target(&ctx, &target, &x, n, a.tolerance)?;
    println!("{}", serde_json::to_value(&r)?);
    ensure!(
        r.passed,
        "{}: the score differs from finite differences of the log-density by {:.3e} (relative) at particle {} coordinate {} (score {:.6e}, finite difference {:.6e}), above --tolerance {:e}; check the gradient against the log-density",
        a.target.display(),
        r.worst_rel_err,
        r.particle,
        r.coordinate,
        r.score,
        r.finite_difference,
        r.tolerance
    );
    eprintln!(
        "check-target: n = {}, d = {}, worst relative error {:.3e} (particle {}, coordinate {}; {}, {}) within {:e}",
        r.n, r.d, r.worst_rel_err, r.particle, r.coordinate, r.precision, r.step, r.tolerance
    );
    Ok(())
}

/// `stein predict`: the report on stdout (JSON) and in `--out`, a summary on stderr. All on
/// the host: no device opens.
pub fn predict(a: PredictArgs) -> Result<()> {
    let inputs: [(&str, &Path); 3] = [
        ("--target", &a.target),
        ("--particles", &a.particles),
        ("--data", &a.data),
    ];
    if let Some(out) = &a.out {
        output::check(&[("--out", out)], &inputs, a.replace.overwrite)?;
    }
    let target = load_target(&a.target, &stein::io::target::no_device_check)?;
    let options = stein::run::predict::PredictOptions {
        dev_rule: a.dev_rule,
        gamma_units: a.gamma_units,
    };
    // The kind first: particles of another model's dimension are not the thing to say.
    stein::run::predict::check(&target, options)?;
    let (x, n) = load_particles(&a.particles, target.dim())?;
    let r = stein::run::predict::predict(&target, &x, n, &a.data, options)?;
    if let Some(out) = &a.out {
        stein::io::write_atomic(out, serde_json::to_string_pretty(&r)?.as_bytes())?;
    }
    println!("{}", serde_json::to_value(&r)?);
    let metrics = [
        r.accuracy.map(|v| format!("accuracy {v:.4}")),
        r.rmse.map(|v| format!("RMSE {v:.4}")),
        Some(format!("test log-likelihood {:.4}", r.test_log_likelihood)),
    ];
    let metrics: Vec<String> = metrics.into_iter().flatten().collect();
    eprintln!(
        "predict: {} model, {} particles on {} test rows: {}",
        r.kind,
        r.n,
        r.rows,
        metrics.join(", ")
    );
    Ok(())
}

/// `stein svgd`.
pub fn svgd(choice: &AdapterChoice, a: SvgdArgs) -> Result<()> {
    let init = match (&a.init, a.n) {
        (Some(p), n) if p.as_os_str() == "prior" => Some(Init::Prior {
            n: n.context("--init prior draws --n particles; give --n N")?,
            seed: a.seed,
        }),
        (Some(path), Some(_)) => bail!(
            "--init {} gives the particles and their number; leave out --n (or use --init prior --n N)",
            path.display()
        ),
        (Some(path), None) => Some(Init::File(path.clone())),
        (None, Some(n)) => Some(Init::Normal {
            n,
            mean: a.init_mean.clone().unwrap_or_else(|| vec![0.0]),
            std: a.init_std.unwrap_or(1.0),
            seed: a.seed,
        }),
        (None, None) => None,
    };
    let run = SvgdRun {
        init: init.clone().unwrap_or(Init::Particles(Vec::new())),
        steps: a.steps,
        step_size: a.step_size,
        optimizer: a.optimizer,
        bandwidth: a.bandwidth.0,
        trace: a
            .trace_every
            .zip(a.trace_dir.clone())
            .map(|(every, dir)| Trace { every, dir }),
        ksd_every: a.ksd_every,
        out: Some(a.out.clone()),
        plot: a.plot.clone(),
        overwrite: a.overwrite,
    };
    run.check(Some(&a.target))?;
    let ctx = open(choice)?;
    let target = load_target(&a.target, &|what, bytes| ctx.check_binding(what, bytes))?
        .with_score_batch(a.score_batch)?;
    if init.is_none() {
        bail!("give --init X.npy, or --n N (with --init-mean M and --init-std S; default 0 and 1), or --init prior --n N for a Bayesian target");
    }
    let steps = a.steps;
    let mut reporter = Reporter::new("svgd", "steps").with_estimate(move |e| {
        format!(
            "this run will take about {} ({steps} steps of {} each, from {:.2e} pairs/s measured here); Ctrl-C stops it after the current step and keeps the particles (a second Ctrl-C ends it at once)",
            duration(e.seconds),
            duration(e.seconds_per_step),
            e.pairs_per_second
        )
    });
    let r = run.run(&ctx, &target, &mut reporter)?;
    if r.interrupted {
        let kept = match &r.partial {
            Some(p) => format!(
                "the particles after step {} are in {}{}; to go on from them: stein svgd --init {} --steps {} with the other options as before (the optimizer's state starts afresh)",
                r.steps,
                p.display(),
                if a.trace_dir.is_some() { " (the snapshots so far are kept)" } else { "" },
                p.display(),
                a.steps - r.steps
            ),
            None => "nothing was written".into(),
        };
        return Err(super::stopped(format!(
            "interrupted at step {} of {}; {kept}",
            r.steps, a.steps
        )));
    }
    eprintln!(
        "svgd: n = {}, d = {}, {} steps in {:.3} s ({:.3} ms/step) on {}; final KSD² (U) = {:.4e}",
        r.n,
        r.d,
        r.steps,
        r.seconds,
        r.seconds_per_step * 1e3,
        ctx.info.name,
        r.ksd2_u
    );
    println!("{}", serde_json::to_value(&r)?);
    Ok(())
}

/// `stein demo`: SVGD on a ring of six Gaussians, with its plot.
pub fn demo(choice: &AdapterChoice, a: DemoArgs) -> Result<()> {
    let (out_dir, steps) = (&a.out_dir, a.steps);
    ensure!(steps >= 1, "--steps must be at least 1");
    let files = ["target.json", "particles.npy", "particles.png"].map(|f| out_dir.join(f));
    if out_dir.is_dir() {
        let outputs = files.each_ref().map(|f| ("--out-dir", f.as_path()));
        output::check(&outputs, &[], a.replace.overwrite)?;
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // A ring of six Gaussians: multi-modal, the case where SVGD's repulsion matters.
    let (weights, means): (Vec<f64>, Vec<Vec<f64>>) = (0..6)
        .map(|c| {
            let a = std::f64::consts::TAU * c as f64 / 6.0;
            (1.0, vec![3.0 * a.cos(), 3.0 * a.sin()])
        })
        .unzip();
    let gmm = Gmm::new(weights, means, vec![vec![0.5, 0.5]; 6])?;
    let target_json =
        json!({"kind": "gmm", "weights": gmm.weights, "means": gmm.means, "stds": gmm.stds});
    stein::io::write_atomic(
        &out_dir.join("target.json"),
        serde_json::to_string_pretty(&target_json)?.as_bytes(),
    )?;
    let args = SvgdArgs {
        target: out_dir.join("target.json"),
        init: None,
        score_batch: None,
        n: Some(500),
        init_mean: Some(vec![0.0, 0.0]),
        init_std: Some(2.0),
        seed: 1,
        steps,
        // Plain steps: the per-coordinate AdaGrad and Adam are not rotation invariant and on
        // this rotation-symmetric target leave the modes on the x axis under-populated
        // (measured: 20–31 of 500 particles there against ~83 with plain steps).
        step_size: 0.5,
        optimizer: stein::run::OptimizerKind::Sgd,
        bandwidth: super::values::BandwidthArg(stein::svgd::Bandwidth::Median),
        out: out_dir.join("particles.npy"),
        trace_every: None,
        trace_dir: None,
        ksd_every: Some((steps / 5).max(1)),
        plot: Some(out_dir.join("particles.png")),
        overwrite: a.replace.overwrite,
    };
    svgd(choice, args)?;
    eprintln!(
        "demo: wrote {0}/target.json, {0}/particles.npy and {0}/particles.png",
        out_dir.display()
    );
    Ok(())
}

/// `stein bench`.
pub fn bench(choice: &AdapterChoice, a: BenchArgs) -> Result<()> {
    let BenchArgs {
        n_min,
        n_max,
        dims,
        target,
        score_batch,
        step_budget: budget,
        json: json_path,
        phi_only,
        profile,
        plot,
        peer,
        replace,
    } = a;
    // The picture's checks and the peers are read before the sweep, not after it.
    let peers = read_peers(&peer)?;
    let mut outputs = vec![("--json", json_path.as_path())];
    if let Some(p) = &plot {
        check_png(p, "--plot")?;
        outputs.push(("--plot", p));
    }
    let inputs: Vec<(&str, &Path)> = peer.iter().map(|p| ("--peer", p.as_path())).collect();
    ensure!(
        n_min >= 2 && n_min <= n_max,
        "--n-min must be at least 2 and at most --n-max"
    );
    if let Some(target) = target {
        ensure!(
            budget > 0.0 && budget <= 1e6,
            "--step-budget {budget} must be a positive number of seconds, at most 1e6"
        );
        let mut inputs = inputs.clone();
        inputs.push(("--target", &target));
        output::check(&outputs, &inputs, replace.overwrite)?;
        let ctx = open(choice)?;
        let t = load_target(&target, &|what, bytes| ctx.check_binding(what, bytes))?
            .with_score_batch(score_batch)?;
        let cfg = stein::bench::target::TargetBenchConfig {
            n_min,
            n_max,
            step_budget: Duration::from_secs_f64(budget),
            ..Default::default()
        };
        return bench_target(&ctx, &t, &target, &cfg, &json_path, plot.as_deref(), &peers);
    }
    let dims = dims.unwrap_or_else(|| vec![2, 16, 64]);
    ensure!(
        !dims.is_empty() && dims.iter().all(|&d| d >= 1),
        "--dims must list dimensions >= 1"
    );
    ensure!(
        budget > 0.0 && budget <= 1e6,
        "--step-budget {budget} must be a positive number of seconds, at most 1e6"
    );
    output::check(&outputs, &inputs, replace.overwrite)?;
    let ctx = open(choice)?;
    let cfg = stein::bench::BenchConfig {
        n_min,
        n_max,
        dims,
        step_budget: Duration::from_secs_f64(budget),
        phi_only,
        profile,
        ..Default::default()
    };
    println!("adapter: {}", ctx.adapter_label());
    let mut reporter = Reporter::new("bench", "sizes").with_estimate(|e| {
        format!(
            "this sweep will take about {} (its slowest step {}); Ctrl-C stops it, keeping nothing",
            duration(e.seconds),
            duration(e.seconds_per_step)
        )
    });
    let report = stein::bench::run_with(
        &ctx,
        &cfg,
        |p| {
            println!(
                "multiply-add ceiling: {:.3e} per second ({} invocations x {} passes of 128, {:.4} s)",
                p.madds_per_second, p.invocations, p.iters, p.seconds
            );
            println!(
                "{:>7} {:>4} {:>12} {:>9} {:>12} {:>12} {:>14} {:>10} {:>8} {:>12}  phi kernel",
                "n",
                "d",
                "step (s)",
                "sub/read",
                "median (s)",
                "phi (s)",
                "pairs/s (phi)",
                "ceiling",
                "of it",
                "device MiB"
            );
        },
        |r| {
            println!(
                "{:>7} {:>4} {:>12.4} {:>9} {:>12.4} {:>12.4} {:>14.3e} {:>10.3e} {:>7.1}% {:>12.2}  {}",
                r.n,
                r.d,
                r.step_seconds,
                match (r.step_submits, r.step_readbacks) {
                    (Some(s), Some(b)) => format!("{s}/{b}"),
                    _ => "-".into(),
                },
                r.median_seconds,
                r.phi_seconds,
                r.pairs_per_second,
                r.madd_peak_per_second,
                100.0 * r.of_madd_peak,
                r.device_bytes as f64 / (1u64 << 20) as f64,
                r.phi_kernel
            );
            if let Some(p) = &r.profile {
                let how = match p.clock {
                    "device" => "device clock, one step's passes",
                    _ => "wall clock, each submitted alone",
                };
                println!(
                    "{:>7} {:>4} phases ({how}): score {:.4} s, median {:.4} s, phi {:.4} s, update {:.4} s",
                    "", "", p.score_seconds, p.median_seconds, p.phi_seconds, p.update_seconds
                );
            }
        },
        &mut reporter,
    )
    .map_err(|e| {
        super::stopped_keeping_nothing(e, "the table above is all there is; --json is written at the end of a sweep")
    })?;
    if let Some(p) = &plot {
        stein::run::plots::plot_bench(p, &serde_json::to_value(&report)?, &peers)?;
        println!("wrote {}", p.display());
    }
    stein::io::write_atomic(
        &json_path,
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    println!("wrote {}", json_path.display());
    Ok(())
}

/// `stein bench --target`: the table on stdout as the rows come, the JSON at the end.
fn bench_target(
    ctx: &GpuContext,
    t: &stein::io::target::Target,
    path: &Path,
    cfg: &stein::bench::target::TargetBenchConfig,
    json_path: &Path,
    plot: Option<&Path>,
    peers: &[(String, serde_json::Value)],
) -> Result<()> {
    println!("adapter: {}", ctx.adapter_label());
    let batch = match t {
        stein::io::target::Target::Logistic(l) => {
            format!(", minibatches of {} of {} rows", l.batch, l.rows)
        }
        stein::io::target::Target::Bnn(b) => {
            format!(", minibatches of {} of {} rows", b.batch, b.rows)
        }
        stein::io::target::Target::Wgsl(w) => w.batches.as_ref().map_or(String::new(), |b| {
            format!(", minibatches of {} of {} rows", b.batch, b.rows)
        }),
        _ => String::new(),
    };
    println!(
        "target: {} (kind {}, d = {}{batch})",
        path.display(),
        t.kind(),
        t.dim()
    );
    println!(
        "{:>7} {:>4} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>9} {:>10}  phi kernel",
        "n",
        "d",
        "step (s)",
        "median (s)",
        "score (s)",
        "phi (s)",
        "update (s)",
        "pairs/s",
        "score/phi",
        "device MiB"
    );
    let mut reporter = Reporter::new("bench", "sizes");
    let report = stein::bench::target::run(
        ctx,
        t,
        cfg,
        |r| {
            println!(
                "{:>7} {:>4} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>12.3e} {:>9.3} {:>10.2}  {}",
                r.n,
                r.d,
                r.step_seconds,
                r.median_seconds,
                r.score_seconds,
                r.phi_seconds,
                r.update_seconds,
                r.pairs_per_second,
                r.score_per_phi,
                r.device_bytes as f64 / (1u64 << 20) as f64,
                r.phi_kernel
            );
        },
        &mut reporter,
    )
    .map_err(|e| {
        super::stopped_keeping_nothing(e, "the table above is all there is; --json is written at the end of a sweep")
    })?;
    if let Some(p) = plot {
        stein::run::plots::plot_bench(p, &serde_json::to_value(&report)?, peers)?;
        println!("wrote {}", p.display());
    }
    stein::io::write_atomic(json_path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("wrote {}", json_path.display());
    Ok(())
}

/// `stein eval`.
pub fn eval(choice: &AdapterChoice, a: EvalArgs) -> Result<()> {
    let options = EvalOptions {
        method: a.method,
        ais: stein::ais::AisConfig {
            temperatures: a.ais_temperatures,
            runs: a.ais_runs,
            chains: a.ais_chains,
            seed: a.seed,
            ..Default::default()
        },
        grid: a.grid,
        margin: a.margin,
    };
    options.check()?;
    let (spec, theta, transform) = stein::model::spec::ModelSpec::load_with_transform(&a.model)?;
    // In the model's units: its stored transform applied (or, for older model files, the
    // flags as given).
    let data = stein::io::data::load_for_model(
        &a.data,
        transform.as_ref(),
        stein::io::data::DataOptions {
            raw_u8: a.raw_u8,
            standardize: a.standardize,
        },
        a.units,
    )?;
    ensure!(
        data.d == spec.dim(),
        "{}: data has d = {} but the model {} has d = {}; give data of the model's dimension",
        a.data.display(),
        data.d,
        a.model.display(),
        spec.dim()
    );
    let ctx = open(choice)?;
    let samples = match &a.samples {
        Some(p) => {
            let (mut s, n, d) = read_matrix_f32(p, "samples")?;
            stein::run::eval::check_samples(n, d, data.d)
                .with_context(|| p.display().to_string())?;
            // The MMD² is taken in the model's units, as the data.
            if let (Some(t), Units::Data) = (&transform, a.units) {
                t.to_model(&mut s);
            }
            Some(s)
        }
        None => None,
    };
    let report = stein::run::eval::evaluate(
        &ctx,
        &spec,
        &theta,
        &data,
        samples.as_deref(),
        &options,
        &mut Reporter::new("eval", "AIS temperature steps"),
    )
    .map_err(|e| {
        super::stopped_keeping_nothing(e, "an unfinished AIS estimate is worth nothing; fewer --ais-temperatures or --ais-runs give a quicker one")
    })?;
    if let Some(w) = report.warning() {
        eprintln!("warning: {w}");
    }
    println!("{}", serde_json::to_value(&report)?);
    Ok(())
}

/// `stein energy`.
pub fn energy(choice: &AdapterChoice, a: EnergyArgs) -> Result<()> {
    let (model, points, out) = (&a.model, &a.points, &a.out);
    output::check(
        &[("--out", out)],
        &[("--model", model), ("--points", points)],
        a.replace.overwrite,
    )?;
    let (spec, theta, transform) = stein::model::spec::ModelSpec::load_with_transform(model)?;
    let (mut x, n, d) = read_matrix_f32(points, "points")?;
    ensure!(
        d == spec.dim(),
        "{}: points have d = {d} but the model has d = {}",
        points.display(),
        spec.dim()
    );
    if let (Some(t), Units::Data) = (&transform, a.units) {
        t.check_scale(points, &x)?;
        t.to_model(&mut x);
    }
    let ctx = open(choice)?;
    let f = stein::run::energy::energies(&ctx, &spec, &theta, &x)?;
    write_npy_f32(out, &f, &[n])?;
    println!("{}", json!({"n": n, "d": d}));
    Ok(())
}

/// The checks of `stein sample`'s outputs: --out, and --grid with its shape.
fn check_sample_outputs(a: &SampleArgs) -> Result<()> {
    let mut outputs = vec![("--out", a.out.as_path())];
    if let Some(g) = &a.grid {
        check_png(g, "--grid")?;
        outputs.push(("--grid", g));
    }
    output::check(&outputs, &[("--model", &a.model)], a.replace.overwrite)
}

/// The grid's image shape for samples of dimension `d`, when --grid is given.
fn grid_shape(
    grid: Option<&Path>,
    shape: Option<ImageShape>,
    d: usize,
) -> Result<Option<(usize, usize)>> {
    match grid {
        Some(_) => Ok(Some(stein::io::plot::image_shape(d, shape.map(|s| s.0))?)),
        None => Ok(None),
    }
}

/// Writes the samples (drawn in the model's units, written in `units`): the grid first (an
/// RBM's beside its visible means, when `model` is its spec and θ), then --out.
fn write_samples(
    a: &SampleArgs,
    x: &[f32],
    (d, shape): (usize, Option<(usize, usize)>),
    model: Option<(&stein::model::spec::ModelSpec, &[f32])>,
    transform: Option<&Transform>,
    title: &str,
) -> Result<()> {
    let shown = |x: &mut [f32]| to_units(x, transform, a.units);
    if let (Some(g), Some(shape)) = (&a.grid, shape) {
        match model {
            Some((spec, theta)) => {
                stein::run::sample::write_grid(g, spec, theta, x, &shown, shape, title)?
            }
            None => {
                let mut y = x.to_vec();
                shown(&mut y);
                stein::io::plot::write_image_grid(g, &y, shape, title)?
            }
        }
    }
    let mut y = x.to_vec();
    shown(&mut y);
    write_npy_f32(&a.out, &y, &[a.n, d])
}

/// Samples drawn in the model's units → `units`: with [`Units::Data`] the model's stored
/// transform undone (models without one: unchanged).
fn to_units(x: &mut [f32], transform: Option<&Transform>, units: Units) {
    if let (Some(t), Units::Data) = (transform, units) {
        t.to_data(x);
    }
}

/// `stein sample` (Gibbs, Langevin or SVGD).
pub fn sample(choice: &AdapterChoice, a: SampleArgs) -> Result<()> {
    check_sample_outputs(&a)?;
    let options = SampleOptions {
        method: a.method,
        n: a.n,
        steps: a.steps.unwrap_or(0),
        step_size: a.step_size,
        seed: a.seed,
    };
    options.check()?;
    let (spec, theta, transform) = stein::model::spec::ModelSpec::load_with_transform(&a.model)?;
    let d = spec.dim();
    options.check_model(&spec)?;
    let shape = grid_shape(a.grid.as_deref(), a.image_shape, d)?;
    let ctx = open(choice)?;
    let x = stein::run::sample::sample(&ctx, &spec, &theta, &options)?;
    let title = format!(
        "stein sample: {} samples by {}, {} steps",
        a.n,
        options.method.name(),
        options.steps
    );
    write_samples(
        &a,
        &x,
        (d, shape),
        Some((&spec, &theta)),
        transform.as_ref(),
        &title,
    )?;
    println!(
        "{}",
        json!({"n": a.n, "d": d, "method": options.method.name(), "steps": options.steps})
    );
    Ok(())
}

/// `stein sample --generator`: x = G(z; η) of a SteinGAN or hybrid run's generator.
pub fn sample_generator(choice: &AdapterChoice, a: SampleArgs) -> Result<()> {
    check_sample_outputs(&a)?;
    ensure!(a.n >= 1, "--n must be at least 1");
    let path = stein::run::sample::generator_path(&a.model)?;
    let (spec, eta, transform) = stein::model::generator::GenSpec::load_with_transform(&path)?;
    let d = spec.d();
    let shape = grid_shape(a.grid.as_deref(), a.image_shape, d)?;
    let ctx = open(choice)?;
    let x = stein::run::sample::sample_generator(&ctx, &spec, &eta, a.n, a.seed)?;
    let title = format!("stein sample --generator: {} samples x = G(z)", a.n);
    write_samples(&a, &x, (d, shape), None, transform.as_ref(), &title)?;
    println!(
        "{}",
        json!({"n": a.n, "d": d, "method": "generator", "nz": spec.nz()})
    );
    Ok(())
}

/// The peers' benchmark JSON files (`--peer`), each with its path as its name.
fn read_peers(paths: &[std::path::PathBuf]) -> Result<Vec<(String, serde_json::Value)>> {
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--peer {}: cannot read it", p.display()))?;
            let json = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "--peer {}: not JSON ({e}); give a JSON file written by tools/*.py or stein bench",
                    p.display()
                )
            })?;
            Ok((p.display().to_string(), json))
        })
        .collect()
}

/// `stein plot`: a run directory's curves, or a benchmark JSON's sweep.
pub fn plot(a: PlotArgs) -> Result<()> {
    let source = &a.source;
    ensure!(
        source.exists(),
        "{} does not exist; give a run directory or a benchmark JSON",
        source.display()
    );
    let run = source.is_dir();
    ensure!(
        !run || a.peer.is_empty(),
        "--peer goes with a benchmark JSON, and {} is a run directory",
        source.display()
    );
    let out = match &a.out {
        Some(o) => o.clone(),
        None if run => source.join(stein::run::plots::CURVES),
        None => source.with_extension("png"),
    };
    check_png(&out, "--out")?;
    let mut inputs: Vec<(&str, &Path)> = a.peer.iter().map(|p| ("--peer", p.as_path())).collect();
    if !run {
        inputs.push(("SOURCE", source));
    }
    output::check(&[("--out", &out)], &inputs, a.replace.overwrite)?;
    if run {
        stein::run::plots::plot_run_curves(source, &out)?;
    } else {
        let peers = read_peers(&a.peer)?;
        let text = std::fs::read_to_string(source)
            .with_context(|| format!("cannot read {}", source.display()))?;
        let report: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is neither a run directory nor JSON ({e}); give a run directory or the JSON of stein bench",
                source.display()
            )
        })?;
        stein::run::plots::plot_bench(&out, &report, &peers)?;
    }
    println!("wrote {}", out.display());
    Ok(())
}
