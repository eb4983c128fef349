//! The `stein` command line: clap declarations of every command and option (typed values,
//! `--config` TOML for `train`), the one-line form of argument errors, and each command as a
//! call of the library's workflows ([`stein::run`]) followed by printing its result. What
//! happens to outputs that exist is one rule for every command, stated in [`output`].

mod commands;
mod output;
mod progress;
mod signals;
// `pub(crate)`: tests/fuzz_readers.rs includes this module to fuzz the `--config` reader.
pub(crate) mod train;
mod values;

use std::path::PathBuf;

use anyhow::Result;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use stein::gpu::AdapterChoice;
use stein::io::data::Units;
use stein::run::{EvalMethod, OptimizerKind, SampleMethod};

use values::{BandwidthArg, ImageShape};

#[derive(Parser)]
#[command(
    name = "stein",
    version,
    about = "Stein variational gradient descent and energy models on any GPU",
    args_override_self = true
)]
pub struct Cli {
    /// GPU backend: vulkan, metal, dx12 or gl (default: all; WGPU_BACKEND also works).
    #[arg(long, global = true)]
    backend: Option<String>,
    /// Use the adapter whose name contains this text (WGPU_ADAPTER_NAME also works).
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// When stderr is not a terminal (a log file, a pipe), print a progress line (done/total,
    /// rate, time left, the live metric) at most every this many seconds; 0: at every step.
    /// On a terminal a progress bar is drawn instead.
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 10.0)]
    progress_every: f64,
    /// Show no progress: no bar, no progress lines, no time estimate (results and errors
    /// still print).
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every adapter with its backend, type, driver and the limits that matter.
    Info,
    /// One Stein direction φ at the given particles.
    Phi(PhiArgs),
    /// Run SVGD and write the final particles.
    Svgd(SvgdArgs),
    /// Check a target's score against central finite differences of its log-density at
    /// given particles (f32 on the device for a WGSL target, f64 on the host otherwise);
    /// fails when the worst relative error is above --tolerance.
    CheckTarget(CheckTargetArgs),
    /// Posterior-predictive metrics of a Bayesian model's particles on test rows (logistic:
    /// accuracy and test log-likelihood), averaged over the particles as the SVGD paper's
    /// authors average; the test CSV is standardised with the training rows' statistics.
    Predict(PredictArgs),
    /// A demo on a built-in 2-D target: 500 particles, a plot and the final particles.
    Demo(DemoArgs),
    /// Train an energy model (Gaussian-Bernoulli RBM or MLP) by CD, PCD, SteinCD, SteinGAN or
    /// their hybrid; writes a run directory.
    Train(Box<train::TrainArgs>),
    /// Mean test log-likelihood of a model on data: exact for the RBM (2^H hidden states), by
    /// quadrature for d <= 2.
    Eval(EvalArgs),
    /// Unnormalised log-density f(x) of a trained model (RBM or MLP) at given points.
    Energy(EnergyArgs),
    /// Draw samples from a trained model by block Gibbs (RBM only), Langevin or SVGD, started
    /// at N(0, I),
    /// or (--generator) from a SteinGAN run's generator, x = G(z), z ~ U(−1, 1)^n_z.
    Sample(SampleArgs),
    /// Particle-count benchmark: time per step, time of φ, pair interactions per second, and φ's share of the adapter's multiply-add ceiling; with --target, the step on that target phase by phase (score, median, φ, update).
    Bench(BenchArgs),
    /// Draw a picture from files stein wrote: a run directory's training curves (the energy
    /// gap, the gradient norm, the validation log-likelihood and MMD² where logged; a run
    /// still training may be drawn), or a `stein bench` JSON's speed against n with --peer
    /// files' lines beside it. Needs no GPU.
    Plot(PlotArgs),
}

#[derive(clap::Args)]
struct PlotArgs {
    /// A run directory (`stein train --out`) or a benchmark JSON (`stein bench --json`).
    source: PathBuf,
    /// The PNG to write (default: RUN_DIR/curves.png, or the JSON's path with .png).
    #[arg(long)]
    out: Option<PathBuf>,
    /// With a benchmark JSON: a peer's JSON (as tools/*.py write it, or another `stein bench`
    /// JSON) whose lines are drawn dashed beside stein's; may be given more than once.
    #[arg(long)]
    peer: Vec<PathBuf>,
    #[command(flatten)]
    replace: output::Overwrite,
}

#[derive(clap::Args)]
struct PhiArgs {
    /// Target density (JSON: a Gaussian mixture, a full-covariance Gaussian, or WGSL code).
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
    #[arg(long, default_value = "median", allow_hyphen_values = true, value_parser = values::parse::<BandwidthArg>)]
    bandwidth: BandwidthArg,
    #[command(flatten)]
    replace: output::Overwrite,
}

#[derive(clap::Args)]
struct CheckTargetArgs {
    /// Target density (JSON; docs/targets.md for WGSL targets).
    target: PathBuf,
    /// Particles to check at, .npy [n, d] of f32 or f64.
    #[arg(long)]
    particles: PathBuf,
    /// Largest relative error accepted (relative to each particle's largest gradient
    /// component).
    #[arg(long, default_value_t = stein::run::check_target::DEFAULT_TOLERANCE)]
    tolerance: f64,
}

#[derive(clap::Args)]
struct PredictArgs {
    /// Target file of a Bayesian model (kind logistic or bnn), whose training data gives the
    /// standardisation (and the classes, or the development rows).
    #[arg(long)]
    target: PathBuf,
    /// Particles, .npy [n, d] of f32 or f64 (e.g. `stein svgd --out`).
    #[arg(long)]
    particles: PathBuf,
    /// Test rows: a CSV with the training CSV's columns, the label or response included.
    #[arg(long)]
    data: PathBuf,
    /// Apply the authors' development-set rule for the noise precision γ (kind bnn, whose
    /// target sets "dev_fraction").
    #[arg(long)]
    dev_rule: bool,
    /// How a bnn particle's γ (trained on the standardised response) is read: as the
    /// authors' code reads it, or divided by the response's variance, the data's units.
    #[arg(long, value_enum, default_value_t = stein::cpu::bnn::GammaUnits::Authors)]
    gamma_units: stein::cpu::bnn::GammaUnits,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    replace: output::Overwrite,
}

#[derive(clap::Args)]
struct SvgdArgs {
    /// Target density (JSON: a Gaussian mixture, a full-covariance Gaussian, WGSL code, or a
    /// Bayesian model: logistic or bnn).
    #[arg(long)]
    target: PathBuf,
    /// Initial particles, .npy [n, d]; or `prior` with --n: the model authors' draws for a
    /// Bayesian target (seeded by --seed); otherwise --n with --init-mean and --init-std.
    #[arg(long, conflicts_with_all = ["init_mean", "init_std"])]
    init: Option<PathBuf>,
    /// Rows of the data per score evaluation, for the Bayesian targets: minibatches taken in
    /// the order of the target's fixed permutation, cycling, the likelihood scaled by N/B
    /// (default: all rows).
    #[arg(long)]
    score_batch: Option<usize>,
    /// Number of particles drawn from N(init-mean, init-std²) (or from the prior, with
    /// --init prior).
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
    #[arg(long, value_enum, ignore_case = true, default_value = "adagrad")]
    optimizer: OptimizerKind,
    /// `median` (exact), `median-sampled` (from 2^20 sampled pairs; exact for n <= 2048)
    /// or a positive number h.
    #[arg(long, default_value = "median", allow_hyphen_values = true, value_parser = values::parse::<BandwidthArg>)]
    bandwidth: BandwidthArg,
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
    /// Replace output files that exist, and the snapshots of an earlier run in --trace-dir
    /// (by default they are refused).
    #[arg(long)]
    overwrite: bool,
}

#[derive(clap::Args)]
struct DemoArgs {
    /// Output directory.
    #[arg(long, default_value = "out/demo")]
    out_dir: PathBuf,
    /// Number of steps.
    #[arg(long, default_value_t = 1000)]
    steps: u64,
    #[command(flatten)]
    replace: output::Overwrite,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Model file (safetensors, as `stein train` writes it).
    #[arg(long)]
    model: PathBuf,
    /// Data: .npy [N, d] (f32, f64 or u8) or .csv with a header row.
    #[arg(long)]
    data: PathBuf,
    /// Keep u8 data as 0..255 (default: divide by 255). A model written by `stein train`
    /// scales u8 data as its training data by itself: redundant then, and refused for a
    /// model trained on u8 data divided by 255.
    #[arg(long)]
    raw_u8: bool,
    /// Standardise the data's columns. A model written by `stein train` standardises with
    /// its training statistics by itself: redundant then, and refused for a model trained
    /// without it. Older model files: with the data's own statistics.
    #[arg(long)]
    standardize: bool,
    /// Units of --data and --samples: data (the model's stored transform is applied) or model
    /// (taken as they are, e.g. already standardised).
    #[arg(long, value_enum, ignore_case = true, default_value = "data")]
    units: Units,
    /// auto (exact for the RBM with H <= 20, else quadrature for d <= 2, else AIS), exact,
    /// quadrature or ais.
    #[arg(long, value_enum, ignore_case = true, default_value = "auto")]
    method: EvalMethod,
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
}

#[derive(clap::Args)]
struct EnergyArgs {
    /// Model file (safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Points, .npy [n, d].
    #[arg(long)]
    points: PathBuf,
    /// Output .npy [n] f32.
    #[arg(long)]
    out: PathBuf,
    /// Units of --points: data (the model's stored transform is applied) or model (taken as
    /// they are). f is the model's, in its own units.
    #[arg(long, value_enum, ignore_case = true, default_value = "data")]
    units: Units,
    #[command(flatten)]
    replace: output::Overwrite,
}

#[derive(clap::Args)]
struct SampleArgs {
    /// Model file (safetensors); with --generator the run's generator.safetensors (or its
    /// model.safetensors, whose directory holds the generator).
    #[arg(long)]
    model: PathBuf,
    /// Sample the generator of a stein-gan or hybrid run (no --method or --steps).
    #[arg(long, conflicts_with = "steps")]
    generator: bool,
    /// gibbs, langevin or svgd.
    #[arg(long, value_enum, ignore_case = true, default_value = "gibbs")]
    method: SampleMethod,
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
    /// Units of the samples (--out and --grid): data (the model's stored transform undone,
    /// e.g. standardisation) or model (as the model draws them).
    #[arg(long, value_enum, ignore_case = true, default_value = "data")]
    units: Units,
    /// Also write the samples as a PNG grid of images (values in [0, 1]).
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Image shape ROWSxCOLS for --grid (default: square, √d × √d).
    #[arg(long, value_parser = values::parse::<ImageShape>)]
    image_shape: Option<ImageShape>,
    #[command(flatten)]
    replace: output::Overwrite,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Smallest n (doubled up to --n-max).
    #[arg(long, default_value_t = 1024)]
    n_min: usize,
    /// Largest n (the sweep stops early for a d once a step takes over --step-budget s).
    #[arg(long, default_value_t = 65536)]
    n_max: usize,
    /// Dimensions, comma-separated (default 2,16,64; not with --target, whose dimension is
    /// its own).
    #[arg(long, value_delimiter = ',', conflicts_with = "target")]
    dims: Option<Vec<usize>>,
    /// Time the step on this target (a target file, any kind) instead of the built-in
    /// mixture: the score, the median, φ and the update each alone, and the full step.
    #[arg(long, conflicts_with = "phi_only")]
    target: Option<std::path::PathBuf>,
    /// With --target: rows of the data per score evaluation, as `stein svgd --score-batch`.
    #[arg(long, requires = "target")]
    score_batch: Option<usize>,
    /// Seconds a full step may take before larger n are skipped.
    #[arg(long, default_value_t = 10.0)]
    step_budget: f64,
    /// JSON output.
    #[arg(long, default_value = "bench.json")]
    json: PathBuf,
    /// Time φ alone (fixed h from the median); skip the step and median columns.
    #[arg(long)]
    phi_only: bool,
    /// Also time each phase of a step (score, median, φ, update) alone, on the host's clock.
    #[arg(long)]
    profile: bool,
    /// Also draw the sweep as a PNG: pairs per second and seconds per step against n,
    /// log–log, one line per d (`stein plot` draws it again from the JSON).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// With --plot: a peer's benchmark JSON (as tools/*.py write it) drawn dashed beside
    /// stein's lines; may be given more than once.
    #[arg(long, requires = "plot")]
    peer: Vec<PathBuf>,
    #[command(flatten)]
    replace: output::Overwrite,
}

/// Why parsing stopped without a command to run.
pub enum Stop {
    /// `--help` or `--version`: print this and succeed.
    Help(clap::Error),
    /// A user error, as one line (without `error: `).
    Error(String),
}

/// Parses the command line (and `stein train --config`).
pub fn parse() -> Result<Cli, Stop> {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) if !e.use_stderr() => return Err(Stop::Help(e)),
        Err(e) => return Err(Stop::Error(clap_error_line(&e))),
    };
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| Stop::Error(clap_error_line(&e)))?;
    if let (Command::Train(args), Some(sub)) =
        (&mut cli.command, matches.subcommand_matches("train"))
    {
        args.apply_config(sub)
            .map_err(|e| Stop::Error(format!("{e:#}")))?;
    }
    Ok(cli)
}

/// A clap error as one line, like every other error. A bad value names the option, the
/// value and what is wrong with it (for a name, the names it may be); other errors keep their
/// first paragraph (for a missing argument, the heading and the arguments it lists).
fn clap_error_line(e: &clap::Error) -> String {
    const SEE: &str = "see `stein --help` or `stein <command> --help`";
    let text = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    // `--method <METHOD>` → `--method`.
    let flag = text(ContextKind::InvalidArg)
        .map(|a| a.split_whitespace().next().unwrap_or_default().to_string());
    let value = text(ContextKind::InvalidValue);
    match (e.kind(), flag, value) {
        (ErrorKind::InvalidValue, Some(flag), Some(value)) if !value.is_empty() => {
            if let Some(ContextValue::Strings(names)) = e.get(ContextKind::ValidValue) {
                return format!(
                    "{flag} `{value}` is not one of {}; {SEE}",
                    values::one_of(names)
                );
            }
        }
        (ErrorKind::ValueValidation, Some(flag), Some(value)) => {
            let reason = std::error::Error::source(e)
                .map(|s| s.to_string())
                .unwrap_or_default();
            if reason.starts_with("--") {
                return reason; // the parser's own message names the option
            }
            // The reasons of `values`' parsers; std's own keep clap's wording.
            if reason.starts_with("must ") || reason.starts_with("is ") {
                return format!("{flag} `{value}` {reason}");
            }
        }
        _ => {}
    }
    let mut lines = e
        .to_string()
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter();
    let first = lines.next().unwrap_or_else(|| "invalid arguments".into());
    let first = first.trim_start_matches("error: ");
    let rest: Vec<String> = lines.collect();
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
    format!("{msg}; {SEE}")
}

/// A command stopped by SIGINT or SIGTERM after keeping what it could: `stein` prints
/// `stein: LINE` (what was kept and how to go on) and exits with `code` (130 or 143).
#[derive(Debug)]
pub struct Stopped {
    /// Exit code: 128 + the signal's number.
    pub code: u8,
    /// What was kept and how to continue, one line.
    pub line: String,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for Stopped {}

/// The [`Stopped`] error of a command the first signal stopped, with its line.
fn stopped(line: String) -> anyhow::Error {
    Stopped {
        code: signals::exit_code(),
        line,
    }
    .into()
}

/// A library [`stein::run::Interrupted`] (a computation that keeps nothing) as [`Stopped`],
/// with `why` saying why nothing is kept; other errors pass unchanged.
fn stopped_keeping_nothing(e: anyhow::Error, why: &str) -> anyhow::Error {
    match e.downcast_ref::<stein::run::Interrupted>() {
        Some(i) => stopped(format!(
            "interrupted after {} of {} {}; nothing was written: {why}",
            i.done, i.total, i.unit
        )),
        None => e,
    }
}

/// Runs the command.
pub fn run(cli: Cli) -> Result<()> {
    let choice = AdapterChoice {
        backend: cli.backend.clone(),
        name: cli.adapter.clone(),
    };
    anyhow::ensure!(
        cli.progress_every >= 0.0 && cli.progress_every <= 1e9,
        "--progress-every {} must be a number of seconds, 0 or more",
        cli.progress_every
    );
    progress::configure(progress::Settings {
        quiet: cli.quiet,
        every: std::time::Duration::from_secs_f64(cli.progress_every),
    });
    // The long commands stop cleanly on the first SIGINT or SIGTERM; the others keep the
    // default action (they have nothing to finish).
    if matches!(
        cli.command,
        Command::Svgd(_)
            | Command::Demo(_)
            | Command::Train(_)
            | Command::Eval(_)
            | Command::Bench(_)
    ) {
        signals::install()
            .map_err(|e| anyhow::anyhow!("cannot install the SIGINT/SIGTERM handlers: {e}"))?;
    }
    match cli.command {
        Command::Info => commands::info(&choice),
        Command::Phi(a) => commands::phi(&choice, a),
        Command::Svgd(a) => commands::svgd(&choice, a),
        Command::CheckTarget(a) => commands::check_target(&choice, a),
        Command::Predict(a) => commands::predict(a),
        Command::Demo(a) => commands::demo(&choice, a),
        Command::Train(a) => train::train(&choice, &a),
        Command::Eval(a) => commands::eval(&choice, a),
        Command::Energy(a) => commands::energy(&choice, a),
        Command::Sample(a) if a.generator => commands::sample_generator(&choice, a),
        Command::Sample(a) => commands::sample(&choice, a),
        Command::Bench(a) => commands::bench(&choice, a),
        Command::Plot(a) => commands::plot(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn error_of(args: &[&str]) -> String {
        match Cli::command().try_get_matches_from(args) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => clap_error_line(&e),
        }
    }

    #[test]
    fn bad_values_name_the_option_the_value_and_the_choices() {
        let e = error_of(&[
            "stein", "eval", "--model", "m", "--data", "d", "--method", "magic",
        ]);
        assert!(
            e.starts_with("--method `magic` is not one of auto, exact, quadrature or ais;"),
            "{e}"
        );
        let e = error_of(&["stein", "train", "--widths", "8,x"]);
        assert_eq!(
            e,
            "--widths `8,x` must list positive integers, e.g. 256,256"
        );
        let e = error_of(&[
            "stein",
            "phi",
            "--target",
            "t",
            "--particles",
            "p",
            "--out",
            "o",
            "--bandwidth",
            "-1",
        ]);
        assert!(e.starts_with("--bandwidth `-1` is neither"), "{e}");
        let e = error_of(&[
            "stein",
            "svgd",
            "--target",
            "t",
            "--steps=-3",
            "--step-size",
            "1",
            "--out",
            "o",
        ]);
        assert!(
            e.contains("--steps") && e.contains("not a whole number"),
            "{e}"
        );
        let e = error_of(&["stein", "train", "--algo", "STEIN-XX"]);
        assert!(e.contains("cd, pcd, stein-cd, stein-gan or hybrid"), "{e}");
    }

    #[test]
    fn enum_options_take_any_case_and_aliases() {
        let cli = Cli::try_parse_from([
            "stein",
            "train",
            "--activation",
            "Swish",
            "--algo",
            "Stein-CD",
        ]);
        let Ok(Cli {
            command: Command::Train(a),
            ..
        }) = cli
        else {
            panic!("did not parse");
        };
        assert_eq!(a.activation, Some(stein::model::mlp::Activation::Silu));
        assert_eq!(a.algo, Some(stein::train::Algo::SteinCd));
    }
}
