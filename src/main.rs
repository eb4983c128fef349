//! The `stein` command line: parse → validate → run → report. No GPU code here; every error
//! is printed as one line and exits with code 2, and outputs are written atomically at the
//! end, so a failed run leaves no partial file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;

use stein::gpu::context::list_all_adapters;
use stein::gpu::{AdapterChoice, GpuContext};
use stein::io::npy::{read_matrix_f32, write_npy_f32};
use stein::io::target::{load_target, Gmm, SplitMix64, Target};
use stein::kernels::Kernels;
use stein::svgd::{target_score, Bandwidth, Optimizer, Svgd};

#[derive(Parser)]
#[command(
    name = "stein",
    version,
    about = "Stein variational gradient descent and energy models on any GPU",
    args_override_self = true
)]
struct Cli {
    /// GPU backend: vulkan, metal, dx12 or gl (default: all; WGPU_BACKEND also works).
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Use the adapter whose name contains this text (WGPU_ADAPTER_NAME also works).
    #[arg(long, global = true)]
    adapter: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter with its backend, type, driver and the limits that matter.
    Info,
    /// One Stein direction φ at the given particles.
    Phi {
        /// Target density (JSON: a Gaussian mixture or a full-covariance Gaussian).
        #[arg(long)]
        target: PathBuf,
        /// Particles, .npy [n, d] of f32 or f64.
        #[arg(long)]
        particles: PathBuf,
        /// Output .npy [n, d] f32.
        #[arg(long)]
        out: PathBuf,
        /// `median` (exact), `median-sampled` (from 2^20 sampled pairs; exact for n <= 2048)
        /// or a positive number h.
        #[arg(long, default_value = "median", allow_hyphen_values = true)]
        bandwidth: String,
    },
    /// Run SVGD and write the final particles.
    Svgd(SvgdArgs),
    /// A demo on a built-in 2-D target: 500 particles, a plot and the final particles.
    Demo {
        /// Output directory.
        #[arg(long, default_value = "out/demo")]
        out_dir: PathBuf,
        /// Number of steps.
        #[arg(long, default_value_t = 1000)]
        steps: u64,
    },
    /// Train an energy model (Gaussian-Bernoulli RBM or MLP) by CD, PCD, SteinCD, SteinGAN or
    /// their hybrid; writes a run directory.
    Train(Box<TrainArgs>),
    /// Mean test log-likelihood of a model on data: exact for the RBM (2^H hidden states), by
    /// quadrature for d <= 2.
    Eval {
        /// Model file (safetensors, as `stein train` writes it).
        #[arg(long)]
        model: PathBuf,
        /// Data: .npy [N, d] (f32, f64 or u8) or .csv with a header row.
        #[arg(long)]
        data: PathBuf,
        /// Keep u8 data as 0..255 (default: divide by 255).
        #[arg(long)]
        raw_u8: bool,
        /// Standardise CSV columns (as the model was trained).
        #[arg(long)]
        standardize: bool,
        /// auto (exact for the RBM with H <= 20, else quadrature for d <= 2, else AIS), exact,
        /// quadrature or ais.
        #[arg(long, default_value = "auto")]
        method: String,
        /// AIS: temperatures on the sigmoid schedule.
        #[arg(long, default_value_t = 1000)]
        ais_temperatures: usize,
        /// AIS: independent runs (the standard error is their spread / √runs).
        #[arg(long, default_value_t = 100)]
        ais_runs: usize,
        /// AIS: chains per run.
        #[arg(long, default_value_t = 100)]
        ais_chains: usize,
        /// AIS: random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Quadrature: midpoint-rule points per axis.
        #[arg(long, default_value_t = 512)]
        grid: usize,
        /// Quadrature: the box is the data's bounding box widened by this fraction of its extent
        /// on each side (and by at least 5).
        #[arg(long, default_value_t = 0.5)]
        margin: f64,
        /// Model samples (.npy [n, d], e.g. from `stein sample`): also report the unbiased MMD²
        /// between them and the data (RBF kernel, pooled median bandwidth).
        #[arg(long)]
        samples: Option<PathBuf>,
    },
    /// Unnormalised log-density f(x) of a trained model (RBM or MLP) at given points.
    Energy {
        /// Model file (safetensors).
        #[arg(long)]
        model: PathBuf,
        /// Points, .npy [n, d].
        #[arg(long)]
        points: PathBuf,
        /// Output .npy [n] f32.
        #[arg(long)]
        out: PathBuf,
    },
    /// Draw samples from a trained model by block Gibbs (RBM only), Langevin or SVGD, started
    /// at N(0, I),
    /// or (--generator) from a SteinGAN run's generator, x = G(z), z ~ U(−1, 1)^n_z.
    Sample {
        /// Model file (safetensors); with --generator the run's generator.safetensors (or its
        /// model.safetensors, whose directory holds the generator).
        #[arg(long)]
        model: PathBuf,
        /// Sample the generator of a stein-gan or hybrid run (no --method or --steps).
        #[arg(long, conflicts_with = "steps")]
        generator: bool,
        /// gibbs, langevin or svgd.
        #[arg(long, default_value = "gibbs")]
        method: String,
        /// Number of samples (chains or particles).
        #[arg(long)]
        n: usize,
        /// Steps (sweeps, Langevin steps or SVGD steps).
        #[arg(long, required_unless_present = "generator")]
        steps: Option<u64>,
        /// Langevin η or SVGD ε (AdaGrad).
        #[arg(long, default_value_t = 0.01)]
        step_size: f64,
        /// Random seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output .npy [n, d] f32.
        #[arg(long)]
        out: PathBuf,
        /// Also write the samples as a PNG grid of images (values in [0, 1]).
        #[arg(long)]
        grid: Option<PathBuf>,
        /// Image shape ROWSxCOLS for --grid (default: square, √d × √d).
        #[arg(long)]
        image_shape: Option<String>,
    },
    /// Particle-count benchmark: time per step, time of φ, pair interactions per second, and φ's share of the adapter's multiply-add ceiling.
    Bench {
        /// Smallest n (doubled up to --n-max).
        #[arg(long, default_value_t = 1024)]
        n_min: usize,
        /// Largest n (the sweep stops early for a d once a step takes over --step-budget s).
        #[arg(long, default_value_t = 65536)]
        n_max: usize,
        /// Dimensions, comma-separated.
        #[arg(long, default_value = "2,16,64", value_delimiter = ',')]
        dims: Vec<usize>,
        /// Seconds a full step may take before larger n are skipped.
        #[arg(long, default_value_t = 10.0)]
        step_budget: f64,
        /// JSON output.
        #[arg(long, default_value = "bench.json")]
        json: PathBuf,
        /// Time φ alone (fixed h from the median); skip the step and median columns.
        #[arg(long)]
        phi_only: bool,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Energy model: grbm (Gaussian-Bernoulli RBM) or mlp (MLP energy with a Gaussian base).
    #[arg(long, default_value = "grbm")]
    model: String,
    /// Hidden units of the RBM.
    #[arg(long, default_value_t = 10)]
    hidden: usize,
    /// Hidden widths of the MLP energy, comma-separated (e.g. 256,256 for d-256-256-1).
    #[arg(long, default_value = "64,64")]
    widths: String,
    /// Activation of the MLP's hidden layers: softplus, silu or tanh.
    #[arg(long, default_value = "softplus")]
    activation: String,
    /// σ₀ of the MLP energy's base term −‖x‖²/(2σ₀²) (a few times the data's scale).
    #[arg(long, default_value_t = 3.0)]
    sigma0: f64,
    /// cd, pcd, stein-cd, stein-gan (a generator trained along φ gives the negatives) or
    /// hybrid (each negative from stein-cd with probability --mix-prob, else the generator).
    #[arg(long, default_value = "cd")]
    algo: String,
    /// stein-gan/hybrid: latent dimension n_z of the generator (z ~ U(−1, 1)^n_z).
    #[arg(long, default_value_t = 100)]
    nz: usize,
    /// stein-gan/hybrid: hidden widths of the generator, comma-separated (n_z-…-d).
    #[arg(long, default_value = "256,256")]
    gen_widths: String,
    /// stein-gan/hybrid: activation of the generator's hidden layers: softplus, silu or tanh.
    #[arg(long, default_value = "softplus")]
    gen_activation: String,
    /// stein-gan/hybrid: generator output: identity or sigmoid (images in [0, 1]).
    #[arg(long, default_value = "identity")]
    gen_output: String,
    /// stein-gan/hybrid: Adam learning rate of the generator.
    #[arg(long, default_value_t = 1e-3)]
    gen_lr: f64,
    /// stein-gan/hybrid: kernel of the generator's Stein direction: rbf, or none (φ = ∇ₓf,
    /// the "without kernel" ablation).
    #[arg(long, default_value = "rbf")]
    kernel: String,
    /// stein-gan/hybrid: φ normalised by count (1/m, the paper) or rowsum (1/Σ_j k_ij).
    #[arg(long, default_value = "count")]
    phi_norm: String,
    /// hybrid: probability that a negative comes from SteinCD rather than the generator.
    #[arg(long, default_value_t = 0.5)]
    mix_prob: f64,
    /// MCMC kernel of cd and pcd: gibbs or langevin.
    #[arg(long, default_value = "gibbs")]
    sampler: String,
    /// MCMC steps per update.
    #[arg(long, default_value_t = 1)]
    k: usize,
    /// Langevin step size η.
    #[arg(long, default_value_t = 0.01)]
    langevin_step: f64,
    /// SteinCD step size ε.
    #[arg(long, default_value_t = 0.1)]
    svgd_step: f64,
    /// SteinCD bandwidth: median (of each batch) or a positive number.
    #[arg(long, default_value = "median")]
    bandwidth: String,
    /// Training data: .npy [N, d] (f32, f64 or u8 scaled by 1/255) or .csv with a header row.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Validation data for the exact log-likelihood at every log step.
    #[arg(long)]
    valid: Option<PathBuf>,
    /// Hold out this many rows of --data (a shuffle deterministic in --seed) as validation
    /// data instead of --valid; with --standardize both parts use the training rows'
    /// statistics. The held-out rows are written to RUN_DIR/valid.npy.
    #[arg(long, default_value_t = 0, conflicts_with = "valid")]
    holdout: usize,
    /// Updates in all (default 1000; with --resume, the run's own unless given).
    #[arg(long)]
    steps: Option<u64>,
    /// Passes over the training data instead of --steps: updates = ⌈E · N / batch⌉.
    #[arg(long, conflicts_with = "steps")]
    epochs: Option<f64>,
    /// Write checkpoint.safetensors (θ, Adam state, chains, generator state) every K updates.
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Image data: every K updates (and at the end) write RUN_DIR/grids/step_NNNNNNN_*.png, 64
    /// samples of the energy by Langevin (500 steps of η = 0.01 from N(0, I)) and, with a
    /// generator, 64 generator samples (the same z each time). 0: off.
    #[arg(long, default_value_t = 0)]
    grid_every: u64,
    /// Image shape ROWSxCOLS for --grid-every (default: square).
    #[arg(long)]
    image_shape: Option<String>,
    /// TOML file with any of these options under their long names (`lr = 3e-4`,
    /// `algo = "stein-cd"`, `langevin-step = 0.01`, …); options given on the command line win.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, with its configuration.
    #[arg(long, conflicts_with_all = ["data", "valid", "out"])]
    resume: Option<PathBuf>,
    /// Batch size.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Adam learning rate (β1 = 0.5, β2 = 0.999, weight decay 1e-5 as the authors).
    #[arg(long, default_value_t = 3e-4)]
    lr: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-5)]
    weight_decay: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Metrics (and validation) every this many updates.
    #[arg(long, default_value_t = 100)]
    log_every: u64,
    /// Keep u8 data as 0..255.
    #[arg(long)]
    raw_u8: bool,
    /// Standardise each column (CSV data).
    #[arg(long)]
    standardize: bool,
    /// Run directory (created): config.json, metrics.jsonl, checkpoint.safetensors,
    /// model.safetensors.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SvgdArgs {
    /// Target density (JSON: a Gaussian mixture or a full-covariance Gaussian).
    #[arg(long)]
    target: PathBuf,
    /// Initial particles, .npy [n, d]; otherwise --n with --init-mean and --init-std.
    #[arg(long, conflicts_with_all = ["n", "init_mean", "init_std"])]
    init: Option<PathBuf>,
    /// Number of particles drawn from N(init-mean, init-std²).
    #[arg(long)]
    n: Option<usize>,
    /// Mean of the initial particles: one number, or one per dimension (comma-separated);
    /// with --n, default 0.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    init_mean: Option<Vec<f64>>,
    /// Standard deviation of the initial particles; with --n, default 1.
    #[arg(long, allow_negative_numbers = true)]
    init_std: Option<f64>,
    /// Random seed for the initial particles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of steps.
    #[arg(long)]
    steps: u64,
    /// Step size ε.
    #[arg(long, allow_negative_numbers = true)]
    step_size: f64,
    /// adagrad (the authors' AdaGrad with momentum), sgd or adam.
    #[arg(long, default_value = "adagrad")]
    optimizer: String,
    /// `median` (exact), `median-sampled` (from 2^20 sampled pairs; exact for n <= 2048)
    /// or a positive number h.
    #[arg(long, default_value = "median", allow_hyphen_values = true)]
    bandwidth: String,
    /// Output .npy [n, d] f32.
    #[arg(long)]
    out: PathBuf,
    /// Write particles every K steps as DIR/step_000000.npy.
    #[arg(long, requires = "trace_dir")]
    trace_every: Option<u64>,
    /// Directory for --trace-every snapshots (created if missing).
    #[arg(long, requires = "trace_every")]
    trace_dir: Option<PathBuf>,
    /// Compute the KSD (U-statistic, median bandwidth) every K steps.
    #[arg(long)]
    ksd_every: Option<u64>,
    /// PNG of the final particles over the target's density (d = 2).
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn main() -> ExitCode {
    // Mesa's Vulkan device-select layer probes Wayland/X11 and prints to stderr when neither
    // exists (headless machines); stein never presents, so the layer has nothing to choose.
    // Set before any thread starts, and only when the user has not chosen otherwise.
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: single-threaded at this point; nothing reads the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)));
    let cli = match parsed {
        Ok((mut cli, matches)) => {
            if let (Command::Train(args), Some(sub)) =
                (&mut cli.command, matches.subcommand_matches("train"))
            {
                if let Err(err) = apply_config(args, sub) {
                    eprintln!("error: {err:#}");
                    return ExitCode::from(2);
                }
            }
            cli
        }
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {}", clap_one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A clap error as one line, like every other error: its first paragraph (for a missing
/// argument, the heading and the arguments it lists), and where to look.
fn clap_one_line(text: &str) -> String {
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    let rest: Vec<&str> = lines.collect();
    let mut msg = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{} {}", first, rest.join(", "))
    };
    // Rust's integer parse error names no rule; say which numbers the option takes.
    msg = msg.replace(
        "invalid digit found in string",
        "not a whole number (0, 1, 2, ...)",
    );
    format!("{msg}; see `stein --help` or `stein <command> --help`")
}

fn run(cli: Cli) -> Result<()> {
    let choice = AdapterChoice {
        backend: cli.backend.clone(),
        name: cli.adapter.clone(),
    };
    match cli.command {
        Command::Info => info(&choice),
        Command::Phi {
            target,
            particles,
            out,
            bandwidth,
        } => phi(&choice, &target, &particles, &out, &bandwidth),
        Command::Svgd(args) => svgd(&choice, args),
        Command::Demo { out_dir, steps } => demo(&choice, &out_dir, steps),
        Command::Train(args) => train(&choice, *args),
        Command::Energy { model, points, out } => energy(&choice, &model, &points, &out),
        Command::Sample {
            model,
            generator: true,
            n,
            seed,
            out,
            grid,
            image_shape,
            ..
        } => sample_generator(
            &choice,
            &model,
            (n, seed),
            &out,
            grid.as_deref().map(|g| (g, image_shape.as_deref())),
        ),
        Command::Sample {
            model,
            method,
            n,
            steps,
            step_size,
            seed,
            out,
            grid,
            image_shape,
            ..
        } => sample(
            &choice,
            &model,
            &method,
            (n, steps.unwrap_or(0), step_size, seed),
            &out,
            grid.as_deref().map(|g| (g, image_shape.as_deref())),
        ),
        Command::Eval {
            model,
            data,
            raw_u8,
            standardize,
            method,
            ais_temperatures,
            ais_runs,
            ais_chains,
            seed,
            grid,
            margin,
            samples,
        } => eval(
            &choice,
            &model,
            &data,
            (raw_u8, standardize),
            &method,
            (grid, margin),
            stein::ais::AisConfig {
                temperatures: ais_temperatures,
                runs: ais_runs,
                chains: ais_chains,
                seed,
                ..Default::default()
            },
            samples.as_deref(),
        ),
        Command::Bench {
            n_min,
            n_max,
            dims,
            step_budget,
            json,
            phi_only,
        } => bench(&choice, n_min, n_max, dims, step_budget, &json, phi_only),
    }
}

fn info(choice: &AdapterChoice) -> Result<()> {
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

fn parse_bandwidth(s: &str) -> Result<Bandwidth> {
    match s {
        "median" => return Ok(Bandwidth::Median),
        "median-sampled" => return Ok(Bandwidth::MedianSampled),
        _ => {}
    }
    match s.parse::<f64>() {
        Ok(h) if h > 0.0 && h.is_finite() => {
            // The kernels take h and 1/h as f32.
            let h32 = h as f32;
            ensure!(
                h32.is_normal() && (1.0 / h32).is_finite(),
                "--bandwidth {h:e} is outside what f32 arithmetic can use (1/h or h overflows); give h between about 1e-38 and 3e38, or `median`"
            );
            Ok(Bandwidth::Fixed(h))
        }
        _ => bail!("--bandwidth `{s}` is neither `median`, `median-sampled` nor a positive number"),
    }
}

fn parse_optimizer(s: &str) -> Result<Optimizer> {
    Ok(match s {
        "adagrad" => Optimizer::Adagrad,
        "sgd" => Optimizer::Sgd,
        "adam" => Optimizer::ADAM,
        _ => bail!("--optimizer `{s}` is not one of adagrad, sgd, adam"),
    })
}

/// Fails early when an output could not be written at the end of a long run.
fn check_output(path: &Path, flag: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    ensure!(
        dir.is_dir(),
        "{flag} {}: directory {} does not exist; create it first",
        path.display(),
        dir.display()
    );
    ensure!(
        !path.is_dir(),
        "{flag} {} is a directory; give a file name",
        path.display()
    );
    stein::io::output_target(path).with_context(|| format!("{flag} {}", path.display()))?;
    Ok(())
}

/// Fails unless `path` ends in .png: the plots and image grids are PNG files.
fn check_png(path: &Path, flag: &str) -> Result<()> {
    ensure!(
        path.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png")),
        "{flag} {} writes a PNG image; give a path ending in .png",
        path.display()
    );
    Ok(())
}

fn load_particles(path: &Path, gmm: &Target) -> Result<(Vec<f32>, usize)> {
    let (x, n, d) = read_matrix_f32(path, "particles")?;
    ensure!(
        d == gmm.dim(),
        "{}: particles have d = {d} but the target has d = {}; give particles of the target's dimension",
        path.display(),
        gmm.dim()
    );
    Ok((x, n))
}

fn open(choice: &AdapterChoice) -> Result<GpuContext> {
    GpuContext::open(&gpu_options(choice))
}

/// The library reads no environment variable: wgpu's (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`
/// where `--adapter` is absent, its instance flags) and stein's (`STEIN_UNCHECKED`,
/// `STEIN_PHI_LAYOUT`) are read here and passed down.
fn gpu_options(choice: &AdapterChoice) -> stein::gpu::GpuOptions {
    let instance = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    stein::gpu::GpuOptions {
        adapter: AdapterChoice {
            backend: choice.backend.clone(),
            name: (choice.name.clone()).or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok()),
        },
        backends: wgpu::Backends::from_env(),
        instance_flags: instance.flags,
        backend_options: instance.backend_options,
        unchecked: std::env::var_os("STEIN_UNCHECKED").is_some(),
        phi_layout: std::env::var("STEIN_PHI_LAYOUT")
            .ok()
            .and_then(|s| stein::gpu::PhiLayoutChoice::parse(&s)),
    }
}

fn phi(
    choice: &AdapterChoice,
    target: &Path,
    particles: &Path,
    out: &Path,
    bandwidth: &str,
) -> Result<()> {
    let bw = parse_bandwidth(bandwidth)?;
    check_output(out, "--out")?;
    check_distinct(
        &[("--out", out)],
        &[("--target", target), ("--particles", particles)],
    )?;
    // The device first: a covariance it cannot hold is refused before its factorisation.
    let ctx = open(choice)?;
    let gmm = load_target(target, &|what, bytes| ctx.check_binding(what, bytes))?;
    let (x, n) = load_particles(particles, &gmm)?;
    let k = Kernels::new(&ctx)?;
    let d = gmm.dim();
    let mut engine = Svgd::new(&ctx, &k, target_score(&ctx, &gmm)?, &x, n, Optimizer::Sgd)?;
    let (phi, h) = engine.phi(bw)?;
    ensure!(
        phi.iter().all(|v| v.is_finite()),
        "φ has non-finite values (h = {h:e}); check the target, the particles and --bandwidth"
    );
    write_npy_f32(out, &phi, &[n, d])?;
    println!("{}", json!({"n": n, "d": d, "h": h}));
    Ok(())
}

fn initial_particles(args: &SvgdArgs, gmm: &Target, ctx: &GpuContext) -> Result<(Vec<f32>, usize)> {
    if let Some(path) = &args.init {
        return load_particles(path, gmm);
    }
    let d = gmm.dim();
    let n = args.n.context(
        "give --init X.npy, or --n N (with --init-mean M and --init-std S; default 0 and 1)",
    )?;
    ensure!(n >= 1, "--n must be at least 1");
    // Check the device can hold them before generating them on the host.
    let bytes = n
        .checked_mul(d)
        .and_then(|l| l.checked_mul(4))
        .with_context(|| format!("--n {n} with d = {d} overflows; use fewer particles"))?;
    ctx.check_binding("--n particles", bytes as u64)?;
    let mean = args.init_mean.clone().unwrap_or_else(|| vec![0.0]);
    let mean = match mean.len() {
        1 => vec![mean[0]; d],
        l if l == d => mean,
        l => bail!("--init-mean has {l} values but the target has d = {d}; give one value or {d}"),
    };
    ensure!(
        mean.iter().all(|m| m.is_finite()),
        "--init-mean must be finite"
    );
    let std = args.init_std.unwrap_or(1.0);
    ensure!(
        std > 0.0 && std.is_finite(),
        "--init-std {std} must be positive and finite"
    );
    let mut rng = SplitMix64::new(args.seed);
    let x = (0..n * d)
        .map(|e| (mean[e % d] + std * rng.next_normal()) as f32)
        .collect();
    Ok((x, n))
}

fn progress_bar(steps: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(steps);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb
}

fn mean_cov(x: &[f32], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; d];
    for i in 0..n {
        for a in 0..d {
            mean[a] += f64::from(x[i * d + a]) / n as f64;
        }
    }
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += (f64::from(x[i * d + a]) - mean[a])
                    * (f64::from(x[i * d + b]) - mean[b])
                    / (n.max(2) - 1) as f64;
            }
        }
    }
    (mean, cov)
}

fn svgd(choice: &AdapterChoice, args: SvgdArgs) -> Result<()> {
    let bw = parse_bandwidth(&args.bandwidth)?;
    let optimizer = parse_optimizer(&args.optimizer)?;
    ensure!(args.steps >= 1, "--steps must be at least 1");
    ensure!(
        args.step_size > 0.0 && args.step_size.is_finite(),
        "--step-size {} must be positive and finite (typical: 1e-3 to 1 with adagrad)",
        args.step_size
    );
    if let Some(k) = args.trace_every {
        ensure!(k >= 1, "--trace-every must be at least 1");
    }
    if let Some(k) = args.ksd_every {
        ensure!(k >= 1, "--ksd-every must be at least 1");
    }
    check_output(&args.out, "--out")?;
    if let Some(p) = &args.plot {
        check_output(p, "--plot")?;
        check_png(p, "--plot")?;
    }
    let mut outputs = vec![("--out", args.out.as_path())];
    outputs.extend(args.plot.as_deref().map(|p| ("--plot", p)));
    let mut inputs = vec![("--target", args.target.as_path())];
    inputs.extend(args.init.as_deref().map(|p| ("--init", p)));
    check_distinct(&outputs, &inputs)?;
    let ctx = open(choice)?;
    let gmm = load_target(&args.target, &|what, bytes| ctx.check_binding(what, bytes))?;
    if args.plot.is_some() {
        ensure!(
            gmm.dim() == 2,
            "--plot draws 2-D targets only; this target has d = {}",
            gmm.dim()
        );
    }
    let (x0, n) = initial_particles(&args, &gmm, &ctx)?;
    let d = gmm.dim();
    let mut trace = TraceFiles::default();
    if let Some(dir) = &args.trace_dir {
        ensure!(
            !dir.exists() || dir.is_dir(),
            "--trace-dir {} exists and is not a directory; give a directory path",
            dir.display()
        );
        trace.created_dir = (!dir.exists()).then(|| dir.clone());
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating --trace-dir {}", dir.display()))?;
    }
    let k = Kernels::new(&ctx)?;
    let mut engine = Svgd::new(&ctx, &k, target_score(&ctx, &gmm)?, &x0, n, optimizer)?;
    let pb = progress_bar(args.steps);
    let mut ksd_trace = Vec::new();
    let ksd_now = |engine: &mut Svgd| -> Result<(f64, f64)> {
        let (h, _) = engine.bandwidth(Bandwidth::Median)?;
        engine.ksd(h)
    };
    if args.ksd_every.is_some() {
        let (v, u) = ksd_now(&mut engine)?;
        ksd_trace.push(json!({"step": 0, "ksd2_v": v, "ksd2_u": u}));
    }
    let start = Instant::now();
    let mut last_h = f64::NAN;
    for step in 1..=args.steps {
        let info = engine.step(args.step_size, bw)?;
        last_h = info.h;
        if let (Some(every), Some(dir)) = (args.trace_every, &args.trace_dir) {
            if step % every == 0 || step == args.steps {
                let x = engine.particles()?;
                let path = dir.join(format!("step_{step:06}.npy"));
                let existed = path.exists();
                write_npy_f32(&path, &x, &[n, d])?;
                if !existed {
                    trace.files.push(path);
                }
            }
        }
        if let Some(every) = args.ksd_every {
            if step % every == 0 || step == args.steps {
                let (v, u) = ksd_now(&mut engine)?;
                ksd_trace.push(json!({"step": step, "ksd2_v": v, "ksd2_u": u}));
                pb.set_message(format!("KSD² {u:.3e}"));
            }
        }
        pb.inc(1);
    }
    ctx.wait()?;
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    let x = engine.particles()?;
    ensure!(
        x.iter().all(|v| v.is_finite()),
        "particles diverged to NaN or inf; lower --step-size (now {})",
        args.step_size
    );
    let (final_v, final_u) = ksd_now(&mut engine)?;
    // The plot first: if it fails, no --out is left behind either.
    if let Some(p) = &args.plot {
        let g = gmm.clone();
        stein::io::plot::plot_particles_2d(
            p,
            &x,
            &move |a, b| g.log_density(&[a, b]),
            "stein svgd",
            None,
        )?;
    }
    write_npy_f32(&args.out, &x, &[n, d])?;
    let (mean, cov) = mean_cov(&x, n, d);
    let per_step = elapsed.as_secs_f64() / args.steps as f64;
    let summary = json!({
        "n": n, "d": d, "steps": args.steps, "h": last_h,
        "ksd2_v": final_v, "ksd2_u": final_u,
        "mean": mean, "cov": cov, "seconds_per_step": per_step,
        "adapter": ctx.adapter_label(), "ksd_trace": ksd_trace,
    });
    eprintln!(
        "svgd: n = {n}, d = {d}, {} steps in {:.3} s ({:.3} ms/step) on {}; final KSD² (U) = {final_u:.4e}",
        args.steps,
        elapsed.as_secs_f64(),
        per_step * 1e3,
        ctx.info.name
    );
    println!("{summary}");
    trace.keep();
    Ok(())
}

/// The snapshots `stein svgd --trace-every` wrote, removed again (with the directory, if the
/// run made it and it is left empty) unless the run succeeds: no partial output.
#[derive(Default)]
struct TraceFiles {
    created_dir: Option<PathBuf>,
    files: Vec<PathBuf>,
}

impl TraceFiles {
    /// The run succeeded: leave everything.
    fn keep(&mut self) {
        self.created_dir = None;
        self.files.clear();
    }
}

impl Drop for TraceFiles {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        if let Some(dir) = &self.created_dir {
            let _ = std::fs::remove_dir(dir); // only if empty
        }
    }
}

/// Fails when an output path names the same file as an input or as another output: writing
/// it would destroy the input, or one output would silently replace the other.
fn check_distinct(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<()> {
    // The canonical path, or for a file still to be made its directory's and its name.
    let canon = |p: &Path| -> Option<PathBuf> {
        if let Ok(c) = std::fs::canonicalize(p) {
            return Some(c);
        }
        let parent = p
            .parent()
            .filter(|q| !q.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Some(std::fs::canonicalize(parent).ok()?.join(p.file_name()?))
    };
    for (i, (flag, out)) in outputs.iter().enumerate() {
        let Some(o) = canon(out) else { continue };
        let others = inputs
            .iter()
            .map(|(f, p)| (f, p, "input"))
            .chain(outputs[..i].iter().map(|(f, p)| (f, p, "output")));
        for (other, path, kind) in others {
            if canon(path).as_ref() == Some(&o) {
                bail!(
                    "{flag} {} is also the {other} {kind}; give {flag} a different path",
                    out.display()
                );
            }
        }
    }
    Ok(())
}

fn demo(choice: &AdapterChoice, out_dir: &Path, steps: u64) -> Result<()> {
    ensure!(steps >= 1, "--steps must be at least 1");
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
        n: Some(500),
        init_mean: Some(vec![0.0, 0.0]),
        init_std: Some(2.0),
        seed: 1,
        steps,
        // Plain steps: the per-coordinate AdaGrad and Adam are not rotation invariant and on this
        // rotation-symmetric target leave the modes on the x axis under-populated (measured:
        // 20–31 of 500 particles there against ~83 with plain steps).
        step_size: 0.5,
        optimizer: "sgd".into(),
        bandwidth: "median".into(),
        out: out_dir.join("particles.npy"),
        trace_every: None,
        trace_dir: None,
        ksd_every: Some((steps / 5).max(1)),
        plot: Some(out_dir.join("particles.png")),
    };
    svgd(choice, args)?;
    eprintln!(
        "demo: wrote {0}/target.json, {0}/particles.npy and {0}/particles.png",
        out_dir.display()
    );
    Ok(())
}

fn bench(
    choice: &AdapterChoice,
    n_min: usize,
    n_max: usize,
    dims: Vec<usize>,
    budget: f64,
    json_path: &Path,
    phi_only: bool,
) -> Result<()> {
    ensure!(
        n_min >= 2 && n_min <= n_max,
        "--n-min must be at least 2 and at most --n-max"
    );
    ensure!(
        !dims.is_empty() && dims.iter().all(|&d| d >= 1),
        "--dims must list dimensions >= 1"
    );
    ensure!(
        budget > 0.0 && budget <= 1e6,
        "--step-budget {budget} must be a positive number of seconds, at most 1e6"
    );
    check_output(json_path, "--json")?;
    let ctx = open(choice)?;
    let cfg = stein::bench::BenchConfig {
        n_min,
        n_max,
        dims,
        step_budget: Duration::from_secs_f64(budget),
        phi_only,
        ..Default::default()
    };
    println!("adapter: {}", ctx.adapter_label());
    let report = stein::bench::run(
        &ctx,
        &cfg,
        |p| {
            println!(
                "multiply-add ceiling: {:.3e} per second ({} invocations x {} passes of 128, {:.4} s)",
                p.madds_per_second, p.invocations, p.iters, p.seconds
            );
            println!(
                "{:>7} {:>4} {:>12} {:>12} {:>12} {:>14} {:>10} {:>8} {:>12}  phi kernel",
                "n",
                "d",
                "step (s)",
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
                "{:>7} {:>4} {:>12.4} {:>12.4} {:>12.4} {:>14.3e} {:>10.3e} {:>7.1}% {:>12.2}  {}",
                r.n,
                r.d,
                r.step_seconds,
                r.median_seconds,
                r.phi_seconds,
                r.pairs_per_second,
                r.madd_peak_per_second,
                100.0 * r.of_madd_peak,
                r.device_bytes as f64 / (1u64 << 20) as f64,
                r.phi_kernel
            );
        },
    )?;
    stein::io::write_atomic(json_path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    println!("wrote {}", json_path.display());
    Ok(())
}

/// What a run directory's config.json records: enough to resume it.
#[derive(serde::Serialize, serde::Deserialize)]
struct RunConfig {
    model: String,
    #[serde(default)]
    widths: Vec<usize>,
    #[serde(default)]
    activation: String,
    #[serde(default)]
    sigma0: f64,
    d: usize,
    data: PathBuf,
    valid: Option<PathBuf>,
    raw_u8: bool,
    standardize: bool,
    #[serde(default)]
    holdout: usize,
    train: stein::train::TrainConfig,
}

fn train(choice: &AdapterChoice, a: TrainArgs) -> Result<()> {
    use stein::train::{Algo, Sampler, TrainConfig};
    ensure!(
        a.checkpoint_every >= 1,
        "--checkpoint-every must be at least 1"
    );
    let (out, mut run, resuming) = if let Some(dir) = &a.resume {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--resume {}: no config.json there; give a run directory written by `stein train`",
                dir.display()
            )
        })?;
        let run: RunConfig = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a stein run configuration", path.display()))?;
        (dir.clone(), run, true)
    } else {
        ensure!(
            a.model == "grbm" || a.model == "mlp",
            "--model `{}` is not one of grbm, mlp",
            a.model
        );
        let widths = parse_widths(&a.widths)?;
        if a.model == "mlp" {
            a.activation
                .parse::<stein::model::mlp::Activation>()
                .map_err(|e| anyhow::anyhow!("--activation: {e}"))?;
            ensure!(
                a.sigma0 > 0.0 && a.sigma0.is_finite(),
                "--sigma0 must be positive"
            );
        }
        let algo = match a.algo.as_str() {
            "cd" => Algo::Cd,
            "pcd" => Algo::Pcd,
            "stein-cd" => Algo::SteinCd,
            "stein-gan" => Algo::SteinGan,
            "hybrid" => Algo::Hybrid,
            o => bail!("--algo `{o}` is not one of cd, pcd, stein-cd, stein-gan, hybrid"),
        };
        let gen = if algo.has_generator() {
            let widths = parse_widths(&a.gen_widths).map_err(|_| {
                anyhow::anyhow!(
                    "--gen-widths `{}` must list positive integers, e.g. 256,256",
                    a.gen_widths
                )
            })?;
            Some(stein::train::GenConfig {
                nz: a.nz,
                widths,
                activation: a.gen_activation.clone(),
                output: a
                    .gen_output
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--gen-output: {e}"))?,
                lr: a.gen_lr,
                kernel: match a.kernel.as_str() {
                    "rbf" => stein::train::GanKernel::Rbf,
                    "none" => stein::train::GanKernel::None,
                    o => bail!("--kernel `{o}` is not one of rbf, none"),
                },
                phi_norm: match a.phi_norm.as_str() {
                    "count" => stein::train::PhiNorm::Count,
                    "rowsum" => stein::train::PhiNorm::Rowsum,
                    o => bail!("--phi-norm `{o}` is not one of count, rowsum"),
                },
                mix_prob: a.mix_prob,
            })
        } else {
            None
        };
        let sampler = match a.sampler.as_str() {
            "gibbs" => Sampler::Gibbs,
            "langevin" => Sampler::Langevin,
            o => bail!("--sampler `{o}` is not one of gibbs, langevin"),
        };
        let bandwidth = match parse_bandwidth(&a.bandwidth)? {
            Bandwidth::Median => None,
            Bandwidth::Fixed(h) => Some(h),
            Bandwidth::MedianSampled => bail!(
                "--bandwidth median-sampled is for `svgd` and `phi`; train's batches take the exact median (`median`) or a number"
            ),
        };
        let cfg = TrainConfig {
            sampler,
            k: a.k,
            langevin_step: a.langevin_step,
            svgd_step: a.svgd_step,
            bandwidth,
            batch: a.batch,
            steps: 1000,
            lr: a.lr,
            weight_decay: a.weight_decay,
            seed: a.seed,
            log_every: a.log_every,
            gen,
            ..TrainConfig::paper(a.hidden, algo)
        };
        let data = a
            .data
            .clone()
            .context("give --data FILE (or `data` in --config), or --resume RUN_DIR")?;
        let run = RunConfig {
            model: a.model.clone(),
            widths,
            activation: a.activation.clone(),
            sigma0: a.sigma0,
            d: 0,
            data,
            valid: a.valid.clone(),
            raw_u8: a.raw_u8,
            standardize: a.standardize,
            holdout: a.holdout,
            train: cfg,
        };
        (
            a.out
                .clone()
                .context("give --out RUN_DIR (or `out` in --config)")?,
            run,
            false,
        )
    };
    if let Some(steps) = a.steps {
        run.train.steps = steps;
    }
    let mut cfg = run.train.clone();
    cfg.validate()?;
    let opts = stein::io::data::DataOptions {
        raw_u8: run.raw_u8,
        standardize: run.standardize,
    };
    let mut data = stein::io::data::load_data(&run.data, opts)?;
    let mut held = None;
    if run.holdout > 0 {
        let (t, v) = data.holdout(run.holdout, cfg.seed)?;
        data = t;
        held = Some(v);
    }
    if let Some(e) = a.epochs {
        ensure!(e > 0.0 && e.is_finite(), "--epochs must be positive");
        let steps = (e * data.n as f64 / cfg.batch as f64).ceil().max(1.0) as u64;
        cfg.steps = steps;
        run.train.steps = steps;
    }
    if resuming {
        ensure!(
            data.d == run.d,
            "--resume: {} now has d = {} but the run was trained with d = {}; the run's config is incompatible with its data",
            run.data.display(),
            data.d,
            run.d
        );
    }
    run.d = data.d;
    let valid = match &run.valid {
        Some(p) => {
            let v = stein::io::data::load_data(p, opts)?;
            ensure!(
                v.d == data.d,
                "{}: validation data has d = {} but the training data has d = {}",
                p.display(),
                v.d,
                data.d
            );
            // Standardised with the training data's statistics, not its own.
            Some(match &data.standardization {
                Some(stats) => v.standardized_with(stats),
                None => v,
            })
        }
        None => held,
    };
    let spec = match run.model.as_str() {
        "mlp" => stein::model::spec::ModelSpec::Mlp {
            d: data.d,
            hidden: run.widths.clone(),
            activation: run.activation.clone(),
            sigma0: run.sigma0,
        },
        _ => stein::model::spec::ModelSpec::Grbm {
            d: data.d,
            hidden: cfg.hidden,
        },
    };
    if valid.is_some() {
        match &spec {
            stein::model::spec::ModelSpec::Grbm { hidden, .. } => ensure!(
                *hidden <= stein::model::rbm::MAX_EXACT_HIDDEN,
                "--valid evaluates the exact log-likelihood, which needs H <= {} (got --hidden {hidden}); drop --valid and evaluate the model with `stein eval --method ais`",
                stein::model::rbm::MAX_EXACT_HIDDEN,
            ),
            stein::model::spec::ModelSpec::Mlp { d, .. } => ensure!(
                *d <= 2,
                "--valid during MLP training evaluates the log-likelihood by quadrature, which needs d <= 2 (the data has d = {d}); drop --valid and run `stein eval` (AIS) on the model"
            ),
        }
    }
    let grids = match a.grid_every {
        0 => None,
        every => Some((
            every,
            stein::io::plot::image_shape(data.d, parse_image_shape(a.image_shape.as_deref())?)
                .context("--grid-every draws image grids")?,
        )),
    };
    ensure!(
        !out.is_file(),
        "--out {} is a file; give a directory",
        out.display()
    );
    let created = !out.exists();
    std::fs::create_dir_all(&out).with_context(|| format!("creating --out {}", out.display()))?;
    let result = train_in(
        choice,
        &a,
        &out,
        &run,
        resuming,
        (cfg, spec, data, valid, grids),
    );
    if result.is_err() && created && !out.join("checkpoint.safetensors").exists() {
        // No partial output: the directory is this run's own and holds nothing to resume.
        let _ = std::fs::remove_dir_all(&out);
    }
    result
}

/// The part of `stein train` after the run directory exists.
#[allow(clippy::type_complexity)]
fn train_in(
    choice: &AdapterChoice,
    a: &TrainArgs,
    out: &Path,
    run: &RunConfig,
    resuming: bool,
    (cfg, spec, data, valid, grids): (
        stein::train::TrainConfig,
        stein::model::spec::ModelSpec,
        stein::io::data::Data,
        Option<stein::io::data::Data>,
        Option<(u64, (usize, usize))>,
    ),
) -> Result<()> {
    if let (true, Some(v)) = (run.holdout > 0, &valid) {
        write_npy_f32(&out.join("valid.npy"), &v.x, &[v.n, v.d])?;
    }
    let ctx = open(choice)?;
    let k = Kernels::new(&ctx)?;
    let mk = stein::model::spec::ModelKernels::new(&ctx)?;
    // --valid's exact log-likelihood of an RBM must fit the device before the run starts.
    if let (Some(_), Some(shape)) = (&valid, spec.rbm()) {
        stein::model::rbm::check_exact_log_z(&ctx, shape).context(
            "validation (--valid or --holdout) takes the exact log-likelihood, which does not fit \
             this device; train without them and evaluate with `stein eval --method ais`",
        )?;
    }
    // θ is made on the host before it goes to the device: its size is checked first, so that
    // an oversized model names the device's limit instead of exhausting the host's memory.
    ctx.check_binding(
        "θ (the model's parameters)",
        (spec.n_params()? as u64).saturating_mul(4),
    )?;
    let theta0 = spec.init_theta(cfg.seed)?;
    let eta0 = match &cfg.gen {
        Some(g) if cfg.algo.has_generator() => Some(g.spec(data.d)?.init_eta(cfg.seed)),
        _ => None,
    };

    let job = TrainJob {
        ctx: &ctx,
        k: &k,
        spec: &spec,
        kernels: &mk,
        run,
        out,
        data: &data,
        valid: valid.as_ref(),
        resuming,
        checkpoint_every: a.checkpoint_every,
        grids,
    };
    match &spec {
        stein::model::spec::ModelSpec::Grbm { .. } => {
            let model = stein::model::rbm::RbmModel {
                kernels: &mk.rbm,
                shape: spec.rbm().expect("rbm"),
            };
            let t = stein::train::Trainer::new(&ctx, &k, model, &theta0, cfg)?;
            job.run(match &eta0 {
                Some(eta) => t.with_generator(&mk.mlp, eta)?,
                None => t,
            })
        }
        stein::model::spec::ModelSpec::Mlp { .. } => {
            let model = stein::model::mlp::MlpModel {
                kernels: &mk.mlp,
                shape: spec.mlp()?.expect("mlp"),
            };
            let t = stein::train::Trainer::new(&ctx, &k, model, &theta0, cfg)?;
            job.run(match &eta0 {
                Some(eta) => t.with_generator(&mk.mlp, eta)?,
                None => t,
            })
        }
    }
}

/// `--widths 256,256`.
fn parse_widths(s: &str) -> Result<Vec<usize>> {
    let w: Option<Vec<usize>> = s
        .split(',')
        .map(|v| v.trim().parse().ok().filter(|&w: &usize| w >= 1))
        .collect();
    w.with_context(|| format!("--widths `{s}` must list positive integers, e.g. 256,256"))
}

/// Everything a training loop needs besides the trainer.
struct TrainJob<'a> {
    ctx: &'a GpuContext,
    k: &'a Kernels,
    spec: &'a stein::model::spec::ModelSpec,
    kernels: &'a stein::model::spec::ModelKernels,
    run: &'a RunConfig,
    out: &'a Path,
    data: &'a stein::io::data::Data,
    valid: Option<&'a stein::io::data::Data>,
    resuming: bool,
    checkpoint_every: u64,
    /// (every K updates, image shape) of `--grid-every`.
    grids: Option<(u64, (usize, usize))>,
}

impl TrainJob<'_> {
    /// `--grid-every`: 64 Langevin samples of the energy and, with a generator, 64 generator
    /// samples, as PNG grids in RUN_DIR/grids.
    fn write_grids(
        &self,
        theta: &[f32],
        generated: Option<(stein::model::generator::GenSpec, Vec<f32>)>,
        step: u64,
        shape: (usize, usize),
    ) -> Result<()> {
        let ctx = self.ctx;
        let dir = self.out.join("grids");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let n = 64;
        let d = self.spec.dim();
        let seed = self.run.train.seed;
        if let Some((gspec, eta)) = generated {
            let key = stein::cpu::hash::stream_key(seed ^ 0x0067_7269, 0);
            let (gk, mlp) = (&self.kernels.gen, &self.kernels.mlp);
            let x = stein::model::generator::sample(ctx, gk, mlp, &gspec, &eta, n, key)?;
            stein::io::plot::write_image_grid(
                &dir.join(format!("step_{step:07}_generator.png")),
                &x,
                shape,
                &format!("generator samples after {step} updates"),
            )?;
        }
        let energy = self.spec.energy(ctx, self.kernels, theta, n)?;
        let mut rng = SplitMix64::new(seed ^ 0x6c61_6e67);
        let x0: Vec<f32> = (0..n * d).map(|_| rng.next_normal() as f32).collect();
        let x = stein::model::langevin_samples(
            ctx,
            self.k,
            energy.as_ref(),
            &x0,
            (500, 0.01, seed ^ 0x6c61_6e67),
        )?;
        stein::io::plot::write_image_grid(
            &dir.join(format!("step_{step:07}_langevin.png")),
            &x,
            shape,
            &format!("Langevin samples of the energy after {step} updates"),
        )
    }

    /// Mean validation log-likelihood at θ: exact for the RBM, quadrature for d <= 2.
    fn valid_loglik(&self, theta: &[f32]) -> Result<Option<f64>> {
        let Some(v) = self.valid else {
            return Ok(None);
        };
        let (ctx, spec) = (self.ctx, self.spec);
        Ok(Some(if let Some(shape) = spec.rbm() {
            stein::train::rbm_loglik(ctx, &self.kernels.rbm, shape, theta, &v.x)?.0
        } else {
            let energy = spec.energy(ctx, self.kernels, theta, 4096)?;
            let (lo, hi) = stein::eval::data_box(&self.data.x, self.data.d, 0.5, 5.0);
            let q = stein::eval::log_partition_quadrature(ctx, energy.as_ref(), &lo, &hi, 256)?;
            stein::eval::mean_energy(ctx, energy.as_ref(), &v.x)? - q.log_z
        }))
    }

    /// d = 2: the learned density exp(f) (shading and contours, from f on a 200×200 grid of
    /// the data's box), the training data (dark, at most 2000 points) and 500 model samples
    /// (orange: SVGD from N(0, I), 1000 AdaGrad steps of 0.05, median bandwidth); the
    /// samples are also written to model_samples.npy.
    fn plot_density(
        &self,
        theta: &[f32],
        generated: Option<(&stein::model::generator::GenSpec, &[f32])>,
        path: &Path,
    ) -> Result<()> {
        let (ctx, data) = (self.ctx, self.data);
        let energy = self.spec.energy(ctx, self.kernels, theta, 4096)?;
        let (lo, hi) = stein::eval::data_box(&data.x, 2, 0.15, 0.5);
        let m = 200;
        let (f, _) = stein::eval::grid_energies(ctx, energy.as_ref(), &lo, &hi, m)?;
        let n = 500;
        let (samples, title) = if let Some((gspec, eta)) = generated {
            // A generator's run: its samples (stream_key(seed, 0), as `stein sample --generator`).
            let key = stein::cpu::hash::stream_key(self.run.train.seed, 0);
            let (gk, mlp) = (&self.kernels.gen, &self.kernels.mlp);
            let x = stein::model::generator::sample(ctx, gk, mlp, gspec, eta, n, key)?;
            write_npy_f32(&path.with_file_name("generator_samples.npy"), &x, &[n, 2])?;
            (
                x,
                "learned density: data (dark), generator samples (orange)",
            )
        } else {
            let mut rng = SplitMix64::new(self.run.train.seed ^ 0x706c_6f74);
            let x0: Vec<f32> = (0..2 * n).map(|_| rng.next_normal() as f32).collect();
            let target = Box::new(stein::model::EnergyScore::new(
                ctx,
                self.spec.energy(ctx, self.kernels, theta, n)?,
            )?);
            let mut engine = Svgd::new(ctx, self.k, target, &x0, n, Optimizer::Adagrad)?;
            for _ in 0..1000 {
                engine.step(0.05, Bandwidth::Median)?;
            }
            let x = engine.particles()?;
            write_npy_f32(&path.with_file_name("model_samples.npy"), &x, &[n, 2])?;
            (
                x,
                "learned density: data (dark), model samples by SVGD (orange)",
            )
        };
        // Bilinear interpolation of the grid (cell midpoints) at a pixel.
        let step = [(hi[0] - lo[0]) / m as f64, (hi[1] - lo[1]) / m as f64];
        let at = |i: usize, j: usize| f[i.min(m - 1) * m + j.min(m - 1)];
        let log_density = |x: f64, y: f64| {
            let u = ((x - lo[0]) / step[0] - 0.5).clamp(0.0, (m - 1) as f64);
            let v = ((y - lo[1]) / step[1] - 0.5).clamp(0.0, (m - 1) as f64);
            let (i, j) = (u.floor() as usize, v.floor() as usize);
            let (a, b) = (u - i as f64, v - j as f64);
            (1.0 - a) * ((1.0 - b) * at(i, j) + b * at(i, j + 1))
                + a * ((1.0 - b) * at(i + 1, j) + b * at(i + 1, j + 1))
        };
        let shown = &data.x[..data.x.len().min(4000)];
        stein::io::plot::plot_density_2d(
            path,
            shown,
            &samples,
            &log_density,
            title,
            Some([lo[0], hi[0], lo[1], hi[1]]),
        )
    }

    fn run<M: stein::model::Trainable>(&self, mut trainer: stein::train::Trainer<M>) -> Result<()> {
        use stein::train::TrainConfig;
        let (ctx, out, run) = (self.ctx, self.out, self.run);
        let cfg = trainer.cfg.clone();
        let data = self.data;
        let metrics_path = out.join("metrics.jsonl");
        let checkpoint_path = out.join("checkpoint.safetensors");
        if self.resuming {
            let ck = stein::io::safetensors::Tensors::read(&checkpoint_path)?;
            let saved: TrainConfig = serde_json::from_str(
                ck.metadata
                    .get("config")
                    .map(String::as_str)
                    .unwrap_or("{}"),
            )
            .with_context(|| {
                format!(
                    "{}: no training configuration in the checkpoint",
                    checkpoint_path.display()
                )
            })?;
            let same = TrainConfig {
                steps: cfg.steps,
                ..saved
            };
            ensure!(
                serde_json::to_value(&same)? == serde_json::to_value(&cfg)?,
                "--resume: the checkpoint was written with a different configuration than {}/config.json; the run is incompatible",
                out.display()
            );
            trainer
                .restore(&ck)
                .with_context(|| format!("--resume from {}", checkpoint_path.display()))?;
            ensure!(
                trainer.t < cfg.steps,
                "--resume: the run already has {} updates; give a larger --steps",
                trainer.t
            );
            // Metrics after the checkpoint belong to updates that will be redone.
            let kept: Vec<String> = std::fs::read_to_string(&metrics_path)
                .unwrap_or_default()
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| s <= trainer.t)
                })
                .map(|l| format!("{l}\n"))
                .collect();
            stein::io::write_atomic(&metrics_path, kept.concat().as_bytes())?;
        }
        let config = json!({"model": run.model, "widths": run.widths, "activation": run.activation,
            "sigma0": run.sigma0, "d": data.d, "data": run.data, "valid": run.valid,
            "raw_u8": run.raw_u8, "standardize": run.standardize, "holdout": run.holdout,
            "train": cfg, "adapter": ctx.adapter_label()});
        stein::io::write_atomic(
            &out.join("config.json"),
            serde_json::to_string_pretty(&config)?.as_bytes(),
        )?;
        let mut metrics = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .with_context(|| format!("opening {}", metrics_path.display()))?;
        let pb = progress_bar(cfg.steps);
        pb.set_position(trainer.t);
        let mut last = Instant::now();
        let mut last_line = None;
        for step in trainer.t + 1..=cfg.steps {
            let log = step % cfg.log_every == 0 || step == cfg.steps;
            if let Some((gap, norm)) = trainer.step(&data.x, data.n, log)? {
                let secs = last.elapsed().as_secs_f64() / cfg.log_every.min(step) as f64;
                let valid_loglik = if self.valid.is_some() {
                    self.valid_loglik(&trainer.theta()?)?
                } else {
                    None
                };
                last = Instant::now();
                let m = stein::train::Metrics {
                    step,
                    energy_gap: gap,
                    grad_norm: norm,
                    step_seconds: secs,
                    valid_loglik,
                };
                let line = serde_json::to_string(&m)?;
                use std::io::Write;
                writeln!(metrics, "{line}")
                    .with_context(|| format!("writing {}", metrics_path.display()))?;
                pb.set_message(format!(
                    "gap {gap:.3}{}",
                    valid_loglik
                        .map(|l| format!("  valid LL {l:.2}"))
                        .unwrap_or_default()
                ));
                last_line = Some(line);
            }
            if let Some((every, shape)) = self.grids {
                if step % every == 0 || step == cfg.steps {
                    self.write_grids(&trainer.theta()?, trainer.generator()?, step, shape)?;
                }
            }
            if step % self.checkpoint_every == 0 || step == cfg.steps {
                trainer.checkpoint()?.write(&checkpoint_path)?;
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        let theta = trainer.theta()?;
        let mut t = self.spec.to_tensors(&theta)?;
        t.metadata
            .insert("config".into(), serde_json::to_string(&cfg)?);
        t.write(&out.join("model.safetensors"))?;
        let gen = trainer.generator()?;
        if let Some((gspec, eta)) = &gen {
            let mut g = gspec.to_tensors(eta)?;
            g.metadata
                .insert("config".into(), serde_json::to_string(&cfg)?);
            g.write(&out.join("generator.safetensors"))?;
        }
        if data.d == 2 {
            let generated = gen.as_ref().map(|(s, e)| (s, e.as_slice()));
            self.plot_density(&theta, generated, &out.join("density.png"))?;
        }
        eprintln!(
            "train: {} updates; wrote {}/model.safetensors",
            cfg.steps,
            out.display()
        );
        if let Some(l) = last_line {
            println!("{l}");
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn eval(
    choice: &AdapterChoice,
    model: &Path,
    data_path: &Path,
    (raw_u8, standardize): (bool, bool),
    method: &str,
    (grid, margin): (usize, f64),
    ais: stein::ais::AisConfig,
    samples: Option<&Path>,
) -> Result<()> {
    ensure!(
        matches!(method, "auto" | "exact" | "quadrature" | "ais"),
        "--method must be auto, exact, quadrature or ais, not `{method}`"
    );
    ais.validate()?;
    ensure!(
        (4..=16384).contains(&grid),
        "--grid must be between 4 and 16384 points per axis"
    );
    ensure!(
        margin >= 0.0 && margin.is_finite(),
        "--margin must be a non-negative fraction"
    );
    let (spec, theta) = stein::model::spec::ModelSpec::load(model)?;
    let data = stein::io::data::load_data(
        data_path,
        stein::io::data::DataOptions {
            raw_u8,
            standardize,
        },
    )?;
    ensure!(
        data.d == spec.dim(),
        "{}: data has d = {} but the model {} has d = {}; give data of the model's dimension",
        data_path.display(),
        data.d,
        model.display(),
        spec.dim()
    );
    let ctx = open(choice)?;
    let exact_ok = spec
        .rbm()
        .is_some_and(|s| s.h <= stein::model::rbm::MAX_EXACT_HIDDEN);
    // On llvmpipe the 2^H-state sum also needs (d + 1)(H + 2) loop passes an invocation.
    let exact_fits = spec
        .rbm()
        .is_some_and(|s| stein::model::rbm::check_exact_log_z(&ctx, s).is_ok());
    let method = match method {
        "auto" if exact_ok && exact_fits => "exact",
        "auto" if data.d <= 2 => "quadrature",
        "auto" => "ais",
        m => m,
    };
    match (method, spec.rbm()) {
        ("exact", None) => bail!("--method exact needs an RBM; use quadrature (d <= 2) or ais"),
        ("exact", Some(s)) => {
            ensure!(
                exact_ok,
                "exact evaluation sums 2^H hidden states and supports H <= {}; this model has H = {}: use --method ais",
                stein::model::rbm::MAX_EXACT_HIDDEN,
                s.h
            );
            stein::model::rbm::check_exact_log_z(&ctx, s)
                .context("--method exact does not fit this device; use --method ais")?;
        }
        ("quadrature", _) => ensure!(
            data.d <= 2,
            "quadrature evaluation needs d <= 2 (this model has d = {})",
            data.d
        ),
        _ => {}
    }
    let quadrature = method == "quadrature";
    let samples = match samples {
        Some(p) => {
            let (s, n, d) = read_matrix_f32(p, "samples")?;
            ensure!(
                d == data.d,
                "{}: samples have d = {d} but the data has d = {}",
                p.display(),
                data.d
            );
            ensure!(n >= 2, "{}: MMD² needs at least 2 samples", p.display());
            Some(s)
        }
        None => None,
    };
    let mk = stein::model::spec::ModelKernels::new(&ctx)?;
    let mmd = match &samples {
        Some(s) => {
            let k = stein::kernels::Kernels::new(&ctx)?;
            Some(stein::mmd::mmd2(&ctx, &k, s, &data.x, data.d, None)?)
        }
        None => None,
    };
    if method == "ais" {
        let kernels = stein::ais::AisKernels::new(&ctx)?;
        let batch = stein::ais::wave_chains(&ctx, &ais, data.d);
        let energy = spec.energy(&ctx, &mk, &theta, batch)?;
        let pb = progress_bar(1);
        let r = stein::ais::ais_log_partition_with_progress(
            &ctx,
            &kernels,
            energy.as_ref(),
            &ais,
            &mut |done, total| {
                pb.set_length(total as u64);
                pb.set_position(done as u64);
            },
        )?;
        pb.finish_and_clear();
        let eval_energy = spec.energy(&ctx, &mk, &theta, 4096.min(data.n))?;
        let mean_f = stein::eval::mean_energy(&ctx, eval_energy.as_ref(), &data.x)?;
        println!(
            "{}",
            json!({"n": data.n, "d": data.d, "loglik": mean_f - r.log_z, "log_z": r.log_z,
                   "std_err": r.std_err, "method": "ais", "temperatures": ais.temperatures,
                   "runs": ais.runs, "chains": ais.chains, "acceptance": r.acceptance,
                   "seconds": r.seconds, "mmd2": mmd})
        );
        return Ok(());
    }
    if quadrature {
        let energy = spec.energy(&ctx, &mk, &theta, 4096)?;
        let (lo, hi) = stein::eval::data_box(&data.x, data.d, margin, 5.0);
        let q = stein::eval::log_partition_quadrature(&ctx, energy.as_ref(), &lo, &hi, grid)?;
        let mean_f = stein::eval::mean_energy(&ctx, energy.as_ref(), &data.x)?;
        if q.border_gap > -10.0 {
            eprintln!(
                "warning: f on the quadrature box's border is within {:.1} nats of its peak; widen it with --margin",
                -q.border_gap
            );
        }
        println!(
            "{}",
            json!({"n": data.n, "d": data.d, "loglik": mean_f - q.log_z, "log_z": q.log_z,
                   "method": "quadrature", "grid": grid, "box_lo": q.lo, "box_hi": q.hi,
                   "grid_change": q.grid_change, "border_gap": q.border_gap, "mmd2": mmd})
        );
        return Ok(());
    }
    let shape = spec.rbm().expect("exact needs the RBM");
    let (ll, log_z) = stein::train::rbm_loglik(&ctx, &mk.rbm, shape, &theta, &data.x)?;
    println!(
        "{}",
        json!({"n": data.n, "d": data.d, "hidden": shape.h, "loglik": ll, "log_z": log_z, "method": "exact", "mmd2": mmd})
    );
    Ok(())
}

fn energy(choice: &AdapterChoice, model: &Path, points: &Path, out: &Path) -> Result<()> {
    check_output(out, "--out")?;
    check_distinct(
        &[("--out", out)],
        &[("--model", model), ("--points", points)],
    )?;
    let (spec, theta) = stein::model::spec::ModelSpec::load(model)?;
    let (x, n, d) = read_matrix_f32(points, "points")?;
    ensure!(
        d == spec.dim(),
        "{}: points have d = {d} but the model has d = {}",
        points.display(),
        spec.dim()
    );
    let ctx = open(choice)?;
    let mk = stein::model::spec::ModelKernels::new(&ctx)?;
    let energy = spec.energy(&ctx, &mk, &theta, n)?;
    let xb = stein::gpu::GpuVec::from_slice(&ctx, "points", &x)?;
    let f = stein::gpu::GpuVec::<f32>::nan_filled(&ctx, "f", n)?;
    let score = stein::gpu::GpuVec::<f32>::zeros(&ctx, "score", n * d)?;
    let mut enc = ctx.device.create_command_encoder(&Default::default());
    energy.record_energy_score(&ctx, &mut enc, &xb, &f, &score)?;
    ctx.queue.submit([enc.finish()]);
    write_npy_f32(out, &f.read(&ctx)?, &[n])?;
    println!("{}", json!({"n": n, "d": d}));
    Ok(())
}

/// `--image-shape ROWSxCOLS`.
fn parse_image_shape(s: Option<&str>) -> Result<Option<(usize, usize)>> {
    let Some(s) = s else { return Ok(None) };
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(r, c)| Some((r.trim().parse().ok()?, c.trim().parse().ok()?)));
    match parsed {
        Some((r, c)) if r >= 1 && c >= 1 => Ok(Some((r, c))),
        _ => bail!("--image-shape `{s}` is not ROWSxCOLS (e.g. 28x28)"),
    }
}

fn sample(
    choice: &AdapterChoice,
    model: &Path,
    method: &str,
    (n, steps, step_size, seed): (usize, u64, f64, u64),
    out: &Path,
    grid: Option<(&Path, Option<&str>)>,
) -> Result<()> {
    check_output(out, "--out")?;
    let grid_shape = match grid {
        Some((g, shape)) => {
            check_output(g, "--grid")?;
            check_png(g, "--grid")?;
            check_distinct(&[("--out", out), ("--grid", g)], &[("--model", model)])?;
            Some(parse_image_shape(shape)?)
        }
        None => {
            check_distinct(&[("--out", out)], &[("--model", model)])?;
            None
        }
    };
    ensure!(n >= 1, "--n must be at least 1");
    ensure!(steps >= 1, "--steps must be at least 1");
    ensure!(
        step_size > 0.0 && step_size.is_finite(),
        "--step-size {step_size} must be positive and finite"
    );
    ensure!(
        matches!(method, "gibbs" | "langevin" | "svgd"),
        "--method `{method}` is not one of gibbs, langevin, svgd"
    );
    let (spec, theta) = stein::model::spec::ModelSpec::load(model)?;
    let d = spec.dim();
    ensure!(
        method != "gibbs" || spec.rbm().is_some(),
        "--method gibbs needs an RBM; use langevin or svgd for this model"
    );
    let grid_shape = match grid_shape {
        Some(s) => Some(stein::io::plot::image_shape(d, s)?),
        None => None,
    };
    let ctx = open(choice)?;
    ctx.check_binding("--n samples", (n as u64).saturating_mul(d as u64 * 4))?;
    let mut rng = SplitMix64::new(seed);
    let x0: Vec<f32> = (0..n * d).map(|_| rng.next_normal() as f32).collect();
    let k = Kernels::new(&ctx)?;
    let mk = stein::model::spec::ModelKernels::new(&ctx)?;
    let x = if method == "svgd" {
        let target = Box::new(stein::model::EnergyScore::new(
            &ctx,
            spec.energy(&ctx, &mk, &theta, n)?,
        )?);
        let mut engine = Svgd::new(&ctx, &k, target, &x0, n, Optimizer::Adagrad)?;
        for _ in 0..steps {
            engine.step(step_size, Bandwidth::Median)?;
        }
        engine.particles()?
    } else if let Some(shape) = spec.rbm().filter(|_| method == "gibbs") {
        let rk = &mk.rbm;
        let theta = stein::gpu::GpuVec::from_slice(&ctx, "theta", &theta)?;
        let xb = stein::gpu::GpuVec::from_slice(&ctx, "samples", &x0)?;
        let batch = stein::model::rbm::RbmBatch::new(&ctx, shape, n)?;
        for s in 0..steps {
            // One submit per step: the batch's uniform holds one key at a time.
            let key = stein::cpu::hash::stream_key(seed, s);
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            rk.record_hidden(&ctx, &mut enc, shape, &theta, &xb, &batch, key)?;
            rk.record_gibbs(&ctx, &mut enc, shape, &theta, &xb, &batch)?;
            ctx.queue.submit([enc.finish()]);
        }
        xb.read(&ctx)?
    } else {
        let energy = spec.energy(&ctx, &mk, &theta, n)?;
        stein::model::langevin_samples(&ctx, &k, energy.as_ref(), &x0, (steps, step_size, seed))?
    };
    ensure!(
        x.iter().all(|v| v.is_finite()),
        "samples diverged; lower --step-size"
    );
    if let (Some((g, _)), Some(shape)) = (grid, grid_shape) {
        stein::io::plot::write_image_grid(g, &x, shape, "stein sample")?;
    }
    write_npy_f32(out, &x, &[n, d])?;
    println!(
        "{}",
        json!({"n": n, "d": d, "method": method, "steps": steps})
    );
    Ok(())
}

/// `stein sample --generator`: x = G(z; η), z ~ U(−1, 1)^{n_z} from the counter-based hash
/// (stream `stream_key(seed, 0)`), on the device.
fn sample_generator(
    choice: &AdapterChoice,
    model: &Path,
    (n, seed): (usize, u64),
    out: &Path,
    grid: Option<(&Path, Option<&str>)>,
) -> Result<()> {
    check_output(out, "--out")?;
    let grid_shape = match grid {
        Some((g, shape)) => {
            check_output(g, "--grid")?;
            check_png(g, "--grid")?;
            check_distinct(&[("--out", out), ("--grid", g)], &[("--model", model)])?;
            Some(parse_image_shape(shape)?)
        }
        None => {
            check_distinct(&[("--out", out)], &[("--model", model)])?;
            None
        }
    };
    ensure!(n >= 1, "--n must be at least 1");
    // A run's model.safetensors stands for the generator.safetensors beside it.
    let path = match stein::io::safetensors::Tensors::read(model)?
        .metadata
        .get("model")
        .map(String::as_str)
    {
        Some("generator") => model.to_path_buf(),
        _ => {
            let g = model.with_file_name("generator.safetensors");
            ensure!(
                g.is_file(),
                "--generator: {} is not a generator and {} does not exist; give the generator.safetensors of a `stein train --algo stein-gan` or `--algo hybrid` run",
                model.display(),
                g.display()
            );
            g
        }
    };
    let (spec, eta) = stein::model::generator::GenSpec::load(&path)?;
    let d = spec.d();
    let grid_shape = match grid_shape {
        Some(s) => Some(stein::io::plot::image_shape(d, s)?),
        None => None,
    };
    let ctx = open(choice)?;
    let widest = spec.net.widths.iter().copied().max().unwrap_or(1);
    ctx.check_binding("--n samples", (n as u64).saturating_mul(widest as u64 * 4))?;
    let mlp = stein::model::mlp::MlpKernels::new(&ctx)?;
    let gk = stein::model::generator::GenKernels::new(&ctx)?;
    let key = stein::cpu::hash::stream_key(seed, 0);
    let x = stein::model::generator::sample(&ctx, &gk, &mlp, &spec, &eta, n, key)?;
    ensure!(
        x.iter().all(|v| v.is_finite()),
        "the generator's samples are not finite; the run diverged"
    );
    if let (Some((g, _)), Some(shape)) = (grid, grid_shape) {
        stein::io::plot::write_image_grid(g, &x, shape, "stein sample --generator")?;
    }
    write_npy_f32(out, &x, &[n, d])?;
    println!(
        "{}",
        json!({"n": n, "d": d, "method": "generator", "nz": spec.nz()})
    );
    Ok(())
}

/// Fills the train options not given on the command line from `--config FILE` (TOML).
fn apply_config(a: &mut TrainArgs, m: &clap::ArgMatches) -> Result<()> {
    let Some(path) = a.config.clone() else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "--config {}: cannot read the file; check the path",
            path.display()
        )
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("--config {}: {}", path.display(), e.message())
    })?;
    let bad = |key: &str, want: &str| {
        anyhow::anyhow!("--config {}: `{key}` must be {want}", path.display())
    };
    for (key, v) in &table {
        let id = key.replace('-', "_");
        if m.value_source(&id) == Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let string = || {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(key, "a string"))
        };
        let float = || {
            v.as_float()
                .or_else(|| v.as_integer().map(|i| i as f64))
                .ok_or_else(|| bad(key, "a number"))
        };
        let count = || {
            v.as_integer()
                .filter(|&i| i >= 0)
                .map(|i| i as u64)
                .ok_or_else(|| bad(key, "a non-negative integer"))
        };
        let flag = || v.as_bool().ok_or_else(|| bad(key, "true or false"));
        match id.as_str() {
            "model" => a.model = string()?,
            "hidden" => a.hidden = count()? as usize,
            "algo" => a.algo = string()?,
            "nz" => a.nz = count()? as usize,
            "gen_widths" => a.gen_widths = string()?,
            "gen_activation" => a.gen_activation = string()?,
            "gen_output" => a.gen_output = string()?,
            "gen_lr" => a.gen_lr = float()?,
            "kernel" => a.kernel = string()?,
            "phi_norm" => a.phi_norm = string()?,
            "mix_prob" => a.mix_prob = float()?,
            "sampler" => a.sampler = string()?,
            "k" => a.k = count()? as usize,
            "langevin_step" => a.langevin_step = float()?,
            "svgd_step" => a.svgd_step = float()?,
            "bandwidth" => {
                a.bandwidth = v
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| v.as_float().map(|f| f.to_string()))
                    .ok_or_else(|| bad(key, "\"median\" or a number"))?
            }
            "data" => a.data = Some(PathBuf::from(string()?)),
            "valid" => a.valid = Some(PathBuf::from(string()?)),
            "holdout" => a.holdout = count()? as usize,
            "steps" => a.steps = Some(count()?),
            "epochs" => a.epochs = Some(float()?),
            "checkpoint_every" => a.checkpoint_every = count()?,
            "grid_every" => a.grid_every = count()?,
            "image_shape" => a.image_shape = Some(string()?),
            "batch" => a.batch = count()? as usize,
            "lr" => a.lr = float()?,
            "weight_decay" => a.weight_decay = float()?,
            "seed" => a.seed = count()?,
            "log_every" => a.log_every = count()?,
            "raw_u8" => a.raw_u8 = flag()?,
            "standardize" => a.standardize = flag()?,
            "out" => a.out = Some(PathBuf::from(string()?)),
            "config" | "resume" => bail!("--config {}: `{key}` cannot be set from a config file", path.display()),
            _ => bail!(
                "--config {}: unknown option `{key}`; use the long names of `stein train --help` (e.g. lr, algo, langevin-step)",
                path.display()
            ),
        }
    }
    Ok(())
}
