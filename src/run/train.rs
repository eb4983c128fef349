//! A training job and its run directory: the options resolved into a [`RunConfig`], the data
//! read and split, then on the device the updates with `metrics.jsonl` every log step (and the
//! validation log-likelihood) and `curves.png` drawn from it (at most once a second, and at
//! the last update), `checkpoint.safetensors` every K updates, image grids, and at
//! the end `model.safetensors` (and `generator.safetensors`) and for d = 2 a density plot.
//! A run resumes from its directory exactly where its last checkpoint left it, with the
//! [`Schedule`] changed if asked (each change recorded in `config.json`). A run asked to
//! stop ([`Progress::should_stop`], asked before each update) makes that update its last and
//! checkpoints it; a run that diverges ([`Diverged`]: the energy gap or ‖θ‖ past
//! [`crate::train::DIVERGED_GAP`] / [`crate::train::DIVERGED_THETA_NORM`], or NaN) stops with
//! the checkpoint of the last checked update kept.
//!
//! Run directory: `config.json` (the [`RunConfig`] with `d`, the data transform and the
//! adapter), `metrics.jsonl` (one [`Metrics`] a log step), `curves.png` (the metrics against
//! the update, [`super::plots::plot_run_curves`]), `checkpoint.safetensors`,
//! `model.safetensors`, with a generator `generator.safetensors` (all three carry the data
//! [`Transform`] in their metadata); with `holdout` the held-out rows `valid.npy`; with
//! `grid_every` `grids/step_NNNNNNN_*.png`; for d = 2 `density.png` and `model_samples.npy`
//! (or `generator_samples.npy`); and `lock`, locked by the process writing the run. The
//! model trains in the model's units (the data standardised with the training rows'
//! statistics, or as read); `valid.npy`, the grids, the density plot and the sample files are
//! in the data's units, the validation log-likelihood in the model's.
//!
//! A run directory is never overwritten by accident: [`TrainJob::new`] refuses one that holds
//! a run, [`TrainJob::replacing`] removes the old run's files first, and no two jobs write
//! one directory at once (the OS lock on `lock`, held while a job runs).
//!
//! ```no_run
//! use stein::gpu::{AdapterChoice, GpuContext};
//! use stein::run::{Schedule, Silent, TrainJob, TrainOptions};
//! use stein::train::Algo;
//!
//! # fn main() -> anyhow::Result<()> {
//! let options = TrainOptions { algo: Algo::SteinCd, hidden: 8, holdout: 500, ..Default::default() };
//! let schedule = Schedule { steps: Some(2000), ..Default::default() };
//! // Reads the data and checks everything before a device is opened.
//! let job = TrainJob::new("ring8".into(), "runs/ring8".into(), &options, &schedule)?;
//! let ctx = GpuContext::new(&AdapterChoice::default())?;
//! let summary = job.run(&ctx, &mut Silent)?;
//! println!("{:?}", summary.last.map(|m| m.valid_loglik));
//!
//! // Later: 1000 more updates of the same run.
//! let more = Schedule { steps: Some(3000), ..Default::default() };
//! TrainJob::resume("runs/ring8".into(), &more)?.run(&ctx, &mut Silent)?;
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::run_dir::{self, RunLock, State};
use super::{Diverged, Progress};
use crate::gpu::GpuContext;
use crate::io::data::{load_training, Data, DataOptions, TrainingData, Transform};
use crate::io::npy::write_npy_f32;
use crate::io::safetensors::Tensors;
use crate::io::target::SplitMix64;
use crate::kernels::Kernels;
use crate::model::generator::{GenOutput, GenSpec};
use crate::model::mlp::Activation;
use crate::model::spec::{ModelKernels, ModelSpec};
use crate::svgd::{Bandwidth, Optimizer, Svgd};
use crate::train::{
    Algo, GanKernel, GenConfig, Metrics, PhiNorm, Sampler, TrainConfig, Trainer, CHECKPOINT_FORMAT,
};

/// The format of a run directory, stored in `config.json` as `format` (absent in runs written
/// before the field existed, which are this format too). A run of another format is refused.
pub const RUN_FORMAT: u32 = 1;

/// Whether the files a run writes after its last update are all in `out` and written after
/// its checkpoint: the model, the generator (SteinGAN and hybrid runs) and for d = 2 the
/// samples and the density plot. (A resumed run's older final files are not its last ones.)
fn final_files_written(out: &Path, d: usize, cfg: &TrainConfig) -> bool {
    let mut files = vec!["model.safetensors"];
    if cfg.algo.has_generator() {
        files.push("generator.safetensors");
    }
    if d == 2 {
        files.push(match cfg.algo.has_generator() {
            true => "generator_samples.npy",
            false => "model_samples.npy",
        });
        files.push("density.png");
    }
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let checkpoint = modified(&out.join("checkpoint.safetensors"));
    files.iter().all(|f| {
        let p = out.join(f);
        p.is_file() && modified(&p) >= checkpoint
    })
}

/// The energy model to train.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Gaussian-Bernoulli RBM.
    #[default]
    Grbm,
    /// MLP energy with a Gaussian base term.
    Mlp,
}

/// The options of a new training run, fixed for its life; [`Default`] gives `stein train`'s
/// defaults. Data and the run directory are arguments of [`TrainJob::new`]; how long to train
/// and what to write along the way is a [`Schedule`], which a resumed run may change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct TrainOptions {
    /// Energy model.
    pub model: ModelKind,
    /// Hidden units of the RBM.
    pub hidden: usize,
    /// Hidden widths of the MLP energy (d-w₁-…-1).
    pub widths: Vec<usize>,
    /// Activation of the MLP's hidden layers.
    pub activation: Activation,
    /// σ₀ of the MLP energy's base term −‖x‖²/(2σ₀²).
    pub sigma0: f64,
    /// Where the negatives come from.
    pub algo: Algo,
    /// stein-gan/hybrid: latent dimension of the generator.
    pub nz: usize,
    /// stein-gan/hybrid: hidden widths of the generator.
    pub gen_widths: Vec<usize>,
    /// stein-gan/hybrid: activation of the generator's hidden layers.
    pub gen_activation: Activation,
    /// stein-gan/hybrid: the generator's output.
    pub gen_output: GenOutput,
    /// stein-gan/hybrid: Adam learning rate of the generator.
    pub gen_lr: f64,
    /// stein-gan/hybrid: kernel of the generator's Stein direction.
    pub kernel: GanKernel,
    /// stein-gan/hybrid: normalisation of φ.
    pub phi_norm: PhiNorm,
    /// hybrid: probability that a negative comes from SteinCD.
    pub mix_prob: f64,
    /// MCMC kernel of cd and pcd.
    pub sampler: Sampler,
    /// MCMC steps per update.
    pub k: usize,
    /// Langevin step size η.
    pub langevin_step: f64,
    /// SteinCD step size ε.
    pub svgd_step: f64,
    /// SteinCD bandwidth: `None` is the median of each batch.
    pub bandwidth: Option<f64>,
    /// Validation data (exact log-likelihood at every log step).
    pub valid: Option<PathBuf>,
    /// Rows of the data held out as validation data instead of `valid` (0: none).
    pub holdout: usize,
    /// Batch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Random seed.
    pub seed: u64,
    /// Keep u8 data as 0..255.
    pub raw_u8: bool,
    /// Standardise each column.
    pub standardize: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        let gen = GenConfig::default();
        let paper = TrainConfig::paper(10, Algo::Cd);
        Self {
            model: ModelKind::Grbm,
            hidden: paper.hidden,
            widths: vec![64, 64],
            activation: Activation::Softplus,
            sigma0: 3.0,
            algo: paper.algo,
            nz: gen.nz,
            gen_widths: gen.widths,
            gen_activation: Activation::Softplus,
            gen_output: gen.output,
            gen_lr: gen.lr,
            kernel: gen.kernel,
            phi_norm: gen.phi_norm,
            mix_prob: gen.mix_prob,
            sampler: paper.sampler,
            k: paper.k,
            langevin_step: paper.langevin_step,
            svgd_step: paper.svgd_step,
            bandwidth: paper.bandwidth,
            valid: None,
            holdout: 0,
            batch: paper.batch,
            lr: paper.lr,
            weight_decay: paper.weight_decay,
            seed: paper.seed,
            raw_u8: false,
            standardize: false,
        }
    }
}

/// How long a job runs and what it writes along the way: the options a resumed run may
/// change. `None` is the default for a new run and the run's own when resuming.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Schedule {
    /// Updates in all (default 1000).
    pub steps: Option<u64>,
    /// Passes over the training data instead of `steps`: updates = ⌈E · N / batch⌉.
    pub epochs: Option<f64>,
    /// Metrics (and validation) every this many updates (default 100).
    pub log_every: Option<u64>,
    /// A checkpoint every this many updates, and after the last (default 500).
    pub checkpoint_every: Option<u64>,
    /// Image grids of model samples every this many updates, and after the last (default 0:
    /// none).
    pub grid_every: Option<u64>,
    /// Image shape (rows, cols) of the grids (default: square).
    pub image_shape: Option<(usize, usize)>,
}

/// One change of a run's [`Schedule`] on resume, as `config.json` lists it under `changes`:
/// the option (by its long name: `steps`, `log-every`, `checkpoint-every`, `grid-every`,
/// `image-shape`) went from `from` to `to` when the run resumed after update `step`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Updates done when the change took effect (the checkpoint's); it applies from update
    /// `step + 1` on.
    pub step: u64,
    /// The option's long name.
    pub option: String,
    /// Its value before.
    pub from: serde_json::Value,
    /// Its value from then on.
    pub to: serde_json::Value,
}

/// What a run directory's `config.json` records: enough to resume it. (`config.json` also
/// names the adapter.)
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    /// The run directory's format, [`RUN_FORMAT`].
    #[serde(default = "format_1")]
    pub format: u32,
    /// Energy model.
    pub model: ModelKind,
    /// MLP hidden widths.
    #[serde(default)]
    pub widths: Vec<usize>,
    /// MLP activation.
    #[serde(default)]
    pub activation: String,
    /// MLP σ₀.
    #[serde(default)]
    pub sigma0: f64,
    /// Data dimension (0 until the data is read).
    pub d: usize,
    /// Training data.
    pub data: PathBuf,
    /// Validation data.
    pub valid: Option<PathBuf>,
    /// Keep u8 data as 0..255.
    pub raw_u8: bool,
    /// Standardise each column.
    pub standardize: bool,
    /// Rows held out as validation data.
    #[serde(default)]
    pub holdout: usize,
    /// The data transform (u8 scale, the training rows' column statistics), as the model
    /// files carry it; `None` until the data is read, and in runs written before it was
    /// stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<Transform>,
    /// The trainer's configuration (with the number of updates and the log interval).
    pub train: TrainConfig,
    /// A checkpoint every this many updates.
    #[serde(default = "checkpoint_every_500")]
    pub checkpoint_every: u64,
    /// Image grids every this many updates (0: none).
    #[serde(default)]
    pub grid_every: u64,
    /// Image shape of the grids (none: square).
    #[serde(default)]
    pub image_shape: Option<(usize, usize)>,
    /// The changes of the schedule on resume, oldest first.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// Runs without a `format` are format 1.
fn format_1() -> u32 {
    1
}

/// Runs from before the checkpoint interval was recorded took the default.
fn checkpoint_every_500() -> u64 {
    500
}

impl RunConfig {
    /// The configuration of a new run on `data` from `options`; checks the options that
    /// need no data.
    pub fn new(data: PathBuf, o: &TrainOptions) -> Result<Self> {
        let widths_text = |w: &[usize]| {
            w.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        ensure!(
            !o.widths.is_empty() && o.widths.iter().all(|&w| w >= 1),
            "--widths `{}` must list positive integers, e.g. 256,256",
            widths_text(&o.widths)
        );
        if o.model == ModelKind::Mlp {
            ensure!(
                o.sigma0 > 0.0 && o.sigma0.is_finite(),
                "--sigma0 must be positive"
            );
        }
        let gen = if o.algo.has_generator() {
            ensure!(
                !o.gen_widths.is_empty() && o.gen_widths.iter().all(|&w| w >= 1),
                "--gen-widths `{}` must list positive integers, e.g. 256,256",
                widths_text(&o.gen_widths)
            );
            Some(GenConfig {
                nz: o.nz,
                widths: o.gen_widths.clone(),
                activation: o.gen_activation.name().into(),
                output: o.gen_output,
                lr: o.gen_lr,
                kernel: o.kernel,
                phi_norm: o.phi_norm,
                mix_prob: o.mix_prob,
            })
        } else {
            None
        };
        if let Some(h) = o.bandwidth {
            super::svgd::check_bandwidth(Bandwidth::Fixed(h))?;
        }
        let train = TrainConfig {
            sampler: o.sampler,
            k: o.k,
            langevin_step: o.langevin_step,
            svgd_step: o.svgd_step,
            bandwidth: o.bandwidth,
            batch: o.batch,
            steps: 1000,
            lr: o.lr,
            weight_decay: o.weight_decay,
            seed: o.seed,
            gen,
            ..TrainConfig::paper(o.hidden, o.algo)
        };
        Ok(RunConfig {
            format: RUN_FORMAT,
            model: o.model,
            widths: o.widths.clone(),
            activation: o.activation.name().into(),
            sigma0: o.sigma0,
            d: 0,
            data,
            valid: o.valid.clone(),
            raw_u8: o.raw_u8,
            standardize: o.standardize,
            holdout: o.holdout,
            transform: None,
            train,
            checkpoint_every: checkpoint_every_500(),
            grid_every: 0,
            image_shape: None,
            changes: Vec::new(),
        })
    }

    /// The options this run was started with (the generator's defaults where it has none).
    pub fn options(&self) -> TrainOptions {
        let t = &self.train;
        let g = t.gen.clone().unwrap_or_default();
        let activation = |name: &str| {
            <Activation as clap::ValueEnum>::from_str(name, true).unwrap_or(Activation::Softplus)
        };
        TrainOptions {
            model: self.model,
            hidden: t.hidden,
            widths: self.widths.clone(),
            activation: activation(&self.activation),
            sigma0: self.sigma0,
            algo: t.algo,
            nz: g.nz,
            gen_widths: g.widths,
            gen_activation: activation(&g.activation),
            gen_output: g.output,
            gen_lr: g.lr,
            kernel: g.kernel,
            phi_norm: g.phi_norm,
            mix_prob: g.mix_prob,
            sampler: t.sampler,
            k: t.k,
            langevin_step: t.langevin_step,
            svgd_step: t.svgd_step,
            bandwidth: t.bandwidth,
            valid: self.valid.clone(),
            holdout: self.holdout,
            batch: t.batch,
            lr: t.lr,
            weight_decay: t.weight_decay,
            seed: t.seed,
            raw_u8: self.raw_u8,
            standardize: self.standardize,
        }
    }

    /// The options named in `given` (long names, as `stein train` spells them) on which `data`
    /// and `options` differ from this run, as `--lr 0.001 (the run has 0.0003)`: what a resume
    /// must refuse. Names of the [`Schedule`], which may change, and names that are no option
    /// of a run (`out`, `config`, …) are passed over.
    pub fn differences(
        &self,
        data: Option<&Path>,
        options: &TrainOptions,
        given: &[String],
    ) -> Vec<String> {
        let same_path =
            |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
                (Ok(a), Ok(b)) => a == b,
                _ => a == b,
            };
        let mut out = Vec::new();
        if let Some(data) = data.filter(|d| !same_path(d, &self.data)) {
            out.push(format!(
                "--data {} (the run has {})",
                data.display(),
                self.data.display()
            ));
        }
        let (mine, run) = (
            serde_json::to_value(options).unwrap_or_default(),
            serde_json::to_value(self.options()).unwrap_or_default(),
        );
        let show = |key: &str, v: &serde_json::Value| match v {
            serde_json::Value::Null if key == "bandwidth" => "median".to_string(),
            serde_json::Value::Null => "none".to_string(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        for key in given {
            let (Some(a), Some(b)) = (mine.get(key), run.get(key)) else {
                continue;
            };
            let differs = match key.as_str() {
                "valid" => match (&options.valid, &self.valid) {
                    (Some(a), Some(b)) => !same_path(a, b),
                    (a, b) => a != b,
                },
                _ => a != b,
            };
            if differs {
                out.push(format!(
                    "--{key} {} (the run has {})",
                    show(key, a),
                    show(key, b)
                ));
            }
        }
        out
    }

    /// Reads `dir/config.json` of a run written by [`TrainJob::run`]; refuses a run of
    /// another format than [`RUN_FORMAT`].
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "--resume {}: no config.json there; give a run directory written by `stein train`",
                dir.display()
            )
        })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a stein run configuration", path.display()))?;
        check_format(
            value.get("format"),
            &format!("--resume {}", dir.display()),
            "run",
            RUN_FORMAT,
        )?;
        serde_json::from_value(value)
            .with_context(|| format!("{}: not a stein run configuration", path.display()))
    }
}

/// A training job ready to run: its configuration resolved, its data read and checked.
pub struct TrainJob {
    out: PathBuf,
    run: RunConfig,
    start: Start,
    /// Resuming: the checkpoint, read and checked, and when its file was last changed.
    checkpoint: Option<(Tensors, Stamp)>,
    /// (every K updates, image shape) of the image grids.
    grids: Option<(u64, (usize, usize))>,
    spec: ModelSpec,
    data: Data,
    valid: Option<Data>,
    /// The held-out rows in data units, as read (for `valid.npy`).
    held_out: Option<Vec<f32>>,
}

/// How a job treats its run directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// A new run in a new or empty directory.
    New,
    /// A new run that removes the old run in its directory first.
    Replace,
    /// The run in the directory, from its checkpoint.
    Resume,
}

/// A file's length and modification time: a checkpoint read when a job was made must be the
/// one still there when it runs.
type Stamp = (u64, Option<std::time::SystemTime>);

fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).map_or((0, None), |m| (m.len(), m.modified().ok()))
}

/// Fails unless a stored `format` (absent: 1) is `current`; `what` names the file's kind.
fn check_format(
    stored: Option<&serde_json::Value>,
    context: &str,
    what: &str,
    current: u32,
) -> Result<()> {
    let format = match stored {
        None => 1,
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        {
            Some(f) => f,
            None => bail!(
                "{context}: its {what} format `{v}` is not a version number; the {what} is damaged"
            ),
        },
    };
    ensure!(
        format == u64::from(current),
        "{context}: the {what} is of format {format} and this stein reads format {current}; {}",
        if format > u64::from(current) {
            "continue it with the newer stein that wrote it, or start again with --overwrite"
        } else {
            "continue it with the stein that wrote it, or start again with --overwrite"
        }
    );
    Ok(())
}

/// What a finished (or stopped) job reports.
#[derive(Clone, Debug)]
pub struct TrainSummary {
    /// Updates done in all.
    pub steps: u64,
    /// The run directory.
    pub out: PathBuf,
    /// The last line of `metrics.jsonl` written by this call (none if it logged nothing).
    pub last: Option<Metrics>,
    /// The job stopped on [`Progress::should_stop`] after `steps` updates, short of its
    /// total: `checkpoint.safetensors` holds that update and no model file was written;
    /// [`TrainJob::resume`] continues it.
    pub interrupted: bool,
}

impl TrainJob {
    /// A new run on `data` (a `.npy` or `.csv` file, or `ring8`/`ring8-valid`) into the run
    /// directory `out`, which must be new or empty: one that holds a run is refused (resume it,
    /// or replace it with [`TrainJob::replacing`]). Reads and checks the data and every option;
    /// opens no device and writes nothing.
    pub fn new(
        data: PathBuf,
        out: PathBuf,
        options: &TrainOptions,
        schedule: &Schedule,
    ) -> Result<Self> {
        check_schedule(schedule)?;
        let run = RunConfig::new(data, options)?;
        Self::prepare(out, run, Start::New, schedule)
    }

    /// As [`TrainJob::new`], but a run in `out` is replaced: [`TrainJob::run`] removes the
    /// files it wrote (only those) before it starts. A directory with other files and no run
    /// is refused all the same.
    pub fn replacing(
        data: PathBuf,
        out: PathBuf,
        options: &TrainOptions,
        schedule: &Schedule,
    ) -> Result<Self> {
        check_schedule(schedule)?;
        let run = RunConfig::new(data, options)?;
        Self::prepare(out, run, Start::Replace, schedule)
    }

    /// Continues the run in `dir` from its last checkpoint, with its own configuration;
    /// only `schedule` is taken from the caller (with `steps` the new total), each change
    /// recorded in `config.json`. Reads and checks the checkpoint (its format and checksum).
    pub fn resume(dir: PathBuf, schedule: &Schedule) -> Result<Self> {
        check_schedule(schedule)?;
        let run = RunConfig::read(&dir)?;
        Self::prepare(dir, run, Start::Resume, schedule)
    }

    /// The run's configuration (with `d` and the number of updates resolved).
    pub fn config(&self) -> &RunConfig {
        &self.run
    }

    /// The run directory.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The training data (after a hold-out and standardisation).
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The data transform the model is trained in (and its files carry).
    pub fn transform(&self) -> &Transform {
        &self.data.transform
    }

    fn prepare(out: PathBuf, mut run: RunConfig, start: Start, s: &Schedule) -> Result<Self> {
        let resuming = start == Start::Resume;
        ensure!(
            !out.is_file(),
            "--out {} is a file; give a directory",
            out.display()
        );
        if out.is_dir() {
            RunLock::check_free(&out)?;
        }
        check_directory(&out, start, run.checkpoint_every)?;
        let before = (
            run.train.steps,
            run.train.log_every,
            run.checkpoint_every,
            run.grid_every,
            run.image_shape,
        );
        if let Some(steps) = s.steps {
            run.train.steps = steps;
        }
        if let Some(every) = s.log_every {
            run.train.log_every = every;
        }
        if let Some(every) = s.checkpoint_every {
            run.checkpoint_every = every;
        }
        if let Some(every) = s.grid_every {
            run.grid_every = every;
        }
        if s.image_shape.is_some() {
            run.image_shape = s.image_shape;
        }
        run.train.validate()?;
        let opts = DataOptions {
            raw_u8: run.raw_u8,
            standardize: run.standardize,
        };
        // The transform (u8 scale, standardisation from the training rows alone) is the
        // model's; validation data is read in it.
        let holdout = (run.holdout > 0).then_some((run.holdout, run.train.seed));
        let TrainingData {
            train: data,
            valid,
            held_out,
        } = load_training(&run.data, opts, holdout, run.valid.as_deref())?;
        if let Some(e) = s.epochs {
            ensure!(e > 0.0 && e.is_finite(), "--epochs must be positive");
            let steps = (e * data.n as f64 / run.train.batch as f64).ceil().max(1.0) as u64;
            run.train.steps = steps;
        }
        let checkpoint = if resuming {
            let ck = read_checkpoint(&out, &run)?;
            let done: u64 = ck
                .metadata
                .get("step")
                .and_then(|s| s.parse().ok())
                .context("--resume: the checkpoint has no update count; it is damaged")?;
            // A run stopped after its last checkpoint but before its final files were all
            // written resumes to write them: the checkpoint holds the final state.
            let finished = done > run.train.steps
                || (done == run.train.steps && final_files_written(&out, data.d, &run.train));
            ensure!(
                !finished,
                "--resume: the run already has {done} updates; give a larger --steps"
            );
            let after = (
                run.train.steps,
                run.train.log_every,
                run.checkpoint_every,
                run.grid_every,
                run.image_shape,
            );
            use serde_json::json;
            let named = [
                ("steps", json!(before.0), json!(after.0)),
                ("log-every", json!(before.1), json!(after.1)),
                ("checkpoint-every", json!(before.2), json!(after.2)),
                ("grid-every", json!(before.3), json!(after.3)),
                ("image-shape", json!(before.4), json!(after.4)),
            ];
            for (option, from, to) in named {
                if from != to {
                    run.changes.push(Change {
                        step: done,
                        option: option.into(),
                        from,
                        to,
                    });
                }
            }
            let path = out.join("checkpoint.safetensors");
            Some((ck, stamp(&path)))
        } else {
            None
        };
        if resuming {
            ensure!(
                data.d == run.d,
                "--resume: {} now has d = {} but the run was trained with d = {}; the run's config is incompatible with its data",
                run.data.display(),
                data.d,
                run.d
            );
        }
        if let (true, Some(t)) = (resuming, &run.transform) {
            ensure!(
                *t == data.transform,
                "--resume: {} now gives another data transform (u8 scale or column statistics) than the run was trained with; the run's config is incompatible with its data",
                run.data.display()
            );
        }
        run.d = data.d;
        run.transform = Some(data.transform.clone());
        let spec = match run.model {
            ModelKind::Mlp => ModelSpec::Mlp {
                d: data.d,
                hidden: run.widths.clone(),
                activation: run.activation.clone(),
                sigma0: run.sigma0,
            },
            ModelKind::Grbm => ModelSpec::Grbm {
                d: data.d,
                hidden: run.train.hidden,
            },
        };
        if valid.is_some() {
            match &spec {
                ModelSpec::Grbm { hidden, .. } => ensure!(
                    *hidden <= crate::model::rbm::MAX_EXACT_HIDDEN,
                    "--valid evaluates the exact log-likelihood, which needs H <= {} (got --hidden {hidden}); drop --valid and evaluate the model with `stein eval --method ais`",
                    crate::model::rbm::MAX_EXACT_HIDDEN,
                ),
                ModelSpec::Mlp { d, .. } => ensure!(
                    *d <= 2,
                    "--valid during MLP training evaluates the log-likelihood by quadrature, which needs d <= 2 (the data has d = {d}); drop --valid and run `stein eval` (AIS) on the model"
                ),
            }
        }
        let grids = match run.grid_every {
            0 => None,
            every => Some((
                every,
                crate::io::plot::image_shape(data.d, run.image_shape)
                    .context("--grid-every draws image grids")?,
            )),
        };
        Ok(Self {
            out,
            run,
            start,
            checkpoint,
            grids,
            spec,
            data,
            valid,
            held_out,
        })
    }

    /// Trains on `ctx`: makes the run directory, locks it for the whole job (another job on
    /// it fails at once), removes the old run first when replacing one, writes the files the
    /// module docs list, and reports progress to `progress`. A new run that fails before its
    /// first checkpoint removes what it wrote (and the directory, if it made it). When
    /// `progress` asks to stop, returns after the next update with its checkpoint and
    /// [`TrainSummary::interrupted`] set.
    pub fn run(&self, ctx: &GpuContext, progress: &mut dyn Progress) -> Result<TrainSummary> {
        let out = &self.out;
        let created = !out.exists();
        std::fs::create_dir_all(out)
            .with_context(|| format!("creating --out {}", out.display()))?;
        // In use by another job: nothing here is this job's to clean up.
        let lock = RunLock::acquire(out)?;
        // Checked again under the lock: another job may have run since `prepare`.
        self.claim()?;
        let result = self.run_in(ctx, progress);
        if result.is_err()
            && self.start != Start::Resume
            && !out.join("checkpoint.safetensors").exists()
        {
            // No partial output: nothing here to resume. The lock goes last, after it is
            // released (Windows removes no open file), and the directory if this call made it.
            let _ = run_dir::remove_run(out, &[]);
            drop(lock);
            if run_dir::state(out).is_ok_and(|s| s == State::Empty) {
                let _ = std::fs::remove_file(out.join(run_dir::LOCK));
                if created {
                    let _ = std::fs::remove_dir(out);
                }
            }
        }
        result
    }

    /// Under the lock, before anything is written: the directory is as `prepare` found it
    /// (a new run's still holds none, a resumed run's checkpoint is the one read), and an old
    /// run being replaced is removed.
    fn claim(&self) -> Result<()> {
        let out = &self.out;
        check_directory(out, self.start, self.run.checkpoint_every)?;
        match self.start {
            Start::New => {}
            Start::Replace => {
                let mut inputs: Vec<(&str, &Path)> = vec![("--data", &self.run.data)];
                inputs.extend(self.run.valid.as_deref().map(|v| ("--valid", v)));
                run_dir::remove_run(out, &inputs)?;
            }
            Start::Resume => {
                let path = out.join("checkpoint.safetensors");
                let read = self.checkpoint.as_ref().map(|(_, s)| *s);
                ensure!(
                    read == Some(stamp(&path)),
                    "--resume {}: the checkpoint changed after this job read it (another process ran the run); start the job again",
                    out.display()
                );
            }
        }
        Ok(())
    }

    /// The part of [`TrainJob::run`] after the run directory exists.
    fn run_in(&self, ctx: &GpuContext, progress: &mut dyn Progress) -> Result<TrainSummary> {
        let (out, run, spec, valid) = (&self.out, &self.run, &self.spec, &self.valid);
        let cfg = run.train.clone();
        if let Some(rows) = &self.held_out {
            // In data units, so that `stein eval --data valid.npy` applies the transform.
            let d = self.data.d;
            write_npy_f32(&out.join("valid.npy"), rows, &[rows.len() / d, d])?;
        }
        let k = Kernels::new(ctx)?;
        let mk = ModelKernels::new(ctx)?;
        // The exact log-likelihood of an RBM on validation data must fit the device before
        // the run starts.
        if let (Some(_), Some(shape)) = (valid, spec.rbm()) {
            crate::model::rbm::check_exact_log_z(ctx, shape).context(
                "validation (--valid or --holdout) takes the exact log-likelihood, which does not fit \
                 this device; train without them and evaluate with `stein eval --method ais`",
            )?;
        }
        // θ is made on the host before it goes to the device: its size is checked first, so
        // that an oversized model names the device's limit instead of exhausting the host's
        // memory.
        ctx.check_binding(
            "θ (the model's parameters)",
            (spec.n_params()? as u64).saturating_mul(4),
        )?;
        let theta0 = spec.init_theta(cfg.seed)?;
        let eta0 = match &cfg.gen {
            Some(g) if cfg.algo.has_generator() => Some(g.spec(self.data.d)?.init_eta(cfg.seed)),
            _ => None,
        };
        let session = Session {
            job: self,
            ctx,
            k: &k,
            kernels: &mk,
        };
        match spec {
            ModelSpec::Grbm { .. } => {
                let model = crate::model::rbm::RbmModel {
                    kernels: &mk.rbm,
                    shape: spec.rbm().expect("rbm"),
                };
                let t = Trainer::new(ctx, &k, model, &theta0, cfg)?;
                session.train(
                    match &eta0 {
                        Some(eta) => t.with_generator(&mk.mlp, eta)?,
                        None => t,
                    },
                    progress,
                )
            }
            ModelSpec::Mlp { .. } => {
                let model = crate::model::mlp::MlpModel {
                    kernels: &mk.mlp,
                    shape: spec.mlp()?.expect("mlp"),
                };
                let t = Trainer::new(ctx, &k, model, &theta0, cfg)?;
                session.train(
                    match &eta0 {
                        Some(eta) => t.with_generator(&mk.mlp, eta)?,
                        None => t,
                    },
                    progress,
                )
            }
        }
    }
}

fn check_schedule(s: &Schedule) -> Result<()> {
    ensure!(
        s.checkpoint_every != Some(0),
        "--checkpoint-every must be at least 1"
    );
    ensure!(s.log_every != Some(0), "--log-every must be at least 1");
    Ok(())
}

/// Fails unless `out` suits a job that starts as `start`: a new run needs a new or empty
/// directory, a replacing one a run or an empty directory, a resumed one a run with a
/// checkpoint. `checkpoint_every` is the run's, for the message.
fn check_directory(out: &Path, start: Start, checkpoint_every: u64) -> Result<()> {
    let dir = out.display();
    match (run_dir::state(out)?, start) {
        (State::Run { checkpoint: true }, Start::New) => bail!(
            "--out {dir} holds a run already; continue it with `--resume {dir}`, or give --overwrite to remove it and start again"
        ),
        (State::Run { checkpoint: false }, Start::New) => bail!(
            "--out {dir} holds a run that stopped before its first checkpoint; give --overwrite to remove it and start again"
        ),
        (State::Other(name), Start::New | Start::Replace) => bail!(
            "--out {dir} is a directory with other files in it ({name}) and no stein run; give a new or empty directory (--overwrite replaces only a stein run)"
        ),
        (State::Run { checkpoint: false }, Start::Resume) => bail!(
            "--resume {dir}: the run stopped before its first checkpoint (one is written every {checkpoint_every} updates), so there is nothing to continue; start it again with --out {dir} --overwrite"
        ),
        (State::Run { checkpoint: true }, Start::Resume) => Ok(()),
        (_, Start::Resume) => bail!(
            "--resume {dir}: no run there (no config.json); give a run directory written by `stein train`"
        ),
        _ => Ok(()),
    }
}

/// Reads the checkpoint of the run in `dir` for a resume: its checksum, its format and the
/// training configuration it was written with (which must be the run's, but for the
/// schedule) are checked.
fn read_checkpoint(dir: &Path, run: &RunConfig) -> Result<Tensors> {
    let path = dir.join("checkpoint.safetensors");
    let bytes = std::fs::read(&path)
        .with_context(|| format!("--resume: cannot read the checkpoint {}", path.display()))?;
    let damaged = |why: String| {
        anyhow::anyhow!(
            "--resume: the checkpoint {} is damaged ({why}); the run cannot continue from it: start it again with --out {} --overwrite",
            path.display(),
            dir.display()
        )
    };
    let ck = Tensors::decode(&bytes).map_err(|e| damaged(format!("{e:#}")))?;
    if let Err(e) = ck.verify() {
        return Err(damaged(format!("it fails its integrity check: {e:#}")));
    }
    let format = ck
        .metadata
        .get("format")
        .map(|f| serde_json::Value::from(f.as_str()));
    check_format(
        format.as_ref(),
        &format!("--resume {}", dir.display()),
        "checkpoint",
        CHECKPOINT_FORMAT,
    )?;
    let saved: TrainConfig = serde_json::from_str(
        ck.metadata
            .get("config")
            .map(String::as_str)
            .unwrap_or("{}"),
    )
    .map_err(|_| damaged("no training configuration in it".into()))?;
    let same = TrainConfig {
        steps: run.train.steps,
        log_every: run.train.log_every,
        ..saved
    };
    ensure!(
        serde_json::to_value(&same)? == serde_json::to_value(&run.train)?,
        "--resume: the checkpoint was written with a different configuration than {}/config.json; the run is incompatible",
        dir.display()
    );
    Ok(ck)
}

/// A job on a device: everything the training loop needs besides the trainer.
struct Session<'a> {
    job: &'a TrainJob,
    ctx: &'a GpuContext,
    k: &'a Kernels,
    kernels: &'a ModelKernels,
}

impl Session<'_> {
    /// 64 Langevin samples of the energy and, with a generator, 64 generator samples, as PNG
    /// grids in RUN_DIR/grids (in the data's units).
    fn write_grids(
        &self,
        theta: &[f32],
        generated: Option<(GenSpec, Vec<f32>)>,
        step: u64,
        shape: (usize, usize),
    ) -> Result<()> {
        let ctx = self.ctx;
        let dir = self.job.out.join("grids");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let n = 64;
        let d = self.job.spec.dim();
        let seed = self.job.run.train.seed;
        if let Some((gspec, eta)) = generated {
            let key = crate::cpu::hash::stream_key(seed ^ 0x0067_7269, 0);
            let (gk, mlp) = (&self.kernels.gen, &self.kernels.mlp);
            let mut x = crate::model::generator::sample(ctx, gk, mlp, &gspec, &eta, n, key)?;
            self.job.transform().to_data(&mut x);
            crate::io::plot::write_image_grid(
                &dir.join(format!("step_{step:07}_generator.png")),
                &x,
                shape,
                &format!("generator samples after {step} updates"),
            )?;
        }
        let energy = self.job.spec.energy(ctx, self.kernels, theta, n)?;
        let mut rng = SplitMix64::new(seed ^ 0x6c61_6e67);
        let x0: Vec<f32> = (0..n * d).map(|_| rng.next_normal() as f32).collect();
        let x = crate::model::langevin_samples(
            ctx,
            self.k,
            energy.as_ref(),
            &x0,
            (500, 0.01, seed ^ 0x6c61_6e67),
        )?;
        super::sample::write_grid(
            &dir.join(format!("step_{step:07}_langevin.png")),
            &self.job.spec,
            theta,
            &x,
            &|x| self.job.transform().to_data(x),
            shape,
            &format!("Langevin samples of the energy after {step} updates (500 steps of 0.01)"),
        )
    }

    /// Mean validation log-likelihood at θ: exact for the RBM, quadrature for d <= 2.
    fn valid_loglik(&self, theta: &[f32]) -> Result<Option<f64>> {
        let Some(v) = &self.job.valid else {
            return Ok(None);
        };
        let (ctx, spec, data) = (self.ctx, &self.job.spec, &self.job.data);
        Ok(Some(if let Some(shape) = spec.rbm() {
            crate::train::rbm_loglik(ctx, &self.kernels.rbm, shape, theta, &v.x)?.0
        } else {
            let energy = spec.energy(ctx, self.kernels, theta, 4096)?;
            let (lo, hi) = crate::eval::data_box(&data.x, data.d, 0.5, 5.0);
            let q = crate::eval::log_partition_quadrature(ctx, energy.as_ref(), &lo, &hi, 256)?;
            crate::eval::mean_energy(ctx, energy.as_ref(), &v.x)? - q.log_z
        }))
    }

    /// d = 2: the learned density exp(f) (shading and contours, from f on a 200×200 grid of
    /// the data's box), the training data (dark, at most 2000 points) and 500 model samples
    /// (orange: SVGD from N(0, I), 1000 AdaGrad steps of 0.05, median bandwidth); the
    /// samples are also written to model_samples.npy. The plot, its axes (x = 0, y = 0 where
    /// in view) and the samples are in the data's units: the model's units mapped back
    /// through the transform.
    fn plot_density(
        &self,
        theta: &[f32],
        generated: Option<(&GenSpec, &[f32])>,
        path: &Path,
        heading: &str,
    ) -> Result<()> {
        let (ctx, data, spec) = (self.ctx, &self.job.data, &self.job.spec);
        let transform = self.job.transform();
        let seed = self.job.run.train.seed;
        let energy = spec.energy(ctx, self.kernels, theta, 4096)?;
        let (lo, hi) = crate::eval::data_box(&data.x, 2, 0.15, 0.5);
        let m = 200;
        let (f, _) = crate::eval::grid_energies(ctx, energy.as_ref(), &lo, &hi, m)?;
        let n = 500;
        let (mut samples, labels) = if let Some((gspec, eta)) = generated {
            // A generator's run: its samples (stream_key(seed, 0), as `stein sample --generator`).
            let key = crate::cpu::hash::stream_key(seed, 0);
            let (gk, mlp) = (&self.kernels.gen, &self.kernels.mlp);
            let x = crate::model::generator::sample(ctx, gk, mlp, gspec, eta, n, key)?;
            (x, format!("generator samples ({n})"))
        } else {
            let mut rng = SplitMix64::new(seed ^ 0x706c_6f74);
            let x0: Vec<f32> = (0..2 * n).map(|_| rng.next_normal() as f32).collect();
            let target = Box::new(crate::model::EnergyScore::new(
                ctx,
                spec.energy(ctx, self.kernels, theta, n)?,
            )?);
            let mut engine = Svgd::new(ctx, self.k, target, &x0, n, Optimizer::Adagrad)?;
            for _ in 0..1000 {
                engine.step(0.05, Bandwidth::Median)?;
            }
            (
                engine.particles()?,
                format!("model samples by SVGD ({n}, 1000 steps)"),
            )
        };
        transform.to_data(&mut samples);
        let name = match generated {
            Some(_) => "generator_samples.npy",
            None => "model_samples.npy",
        };
        write_npy_f32(&path.with_file_name(name), &samples, &[n, 2])?;
        // Data units = model units × std + mean, per axis.
        let (mean, std) = match &transform.standardize {
            Some(s) => ([s.mean[0], s.mean[1]], [s.std[0], s.std[1]]),
            None => ([0.0; 2], [1.0; 2]),
        };
        // Bilinear interpolation of the grid (cell midpoints, model units) at a pixel.
        let step = [(hi[0] - lo[0]) / m as f64, (hi[1] - lo[1]) / m as f64];
        let at = |i: usize, j: usize| f[i.min(m - 1) * m + j.min(m - 1)];
        let log_density = |x: f64, y: f64| {
            let (x, y) = ((x - mean[0]) / std[0], (y - mean[1]) / std[1]);
            let u = ((x - lo[0]) / step[0] - 0.5).clamp(0.0, (m - 1) as f64);
            let v = ((y - lo[1]) / step[1] - 0.5).clamp(0.0, (m - 1) as f64);
            let (i, j) = (u.floor() as usize, v.floor() as usize);
            let (a, b) = (u - i as f64, v - j as f64);
            (1.0 - a) * ((1.0 - b) * at(i, j) + b * at(i, j + 1))
                + a * ((1.0 - b) * at(i + 1, j) + b * at(i + 1, j + 1))
        };
        let mut shown = data.x[..data.x.len().min(4000)].to_vec();
        transform.to_data(&mut shown);
        let title = heading;
        let data_label = format!("training data ({} shown)", shown.len() / 2);
        let bounds = [
            lo[0] * std[0] + mean[0],
            hi[0] * std[0] + mean[0],
            lo[1] * std[1] + mean[1],
            hi[1] * std[1] + mean[1],
        ];
        crate::io::plot::plot_density_2d(
            path,
            (&shown, &samples),
            [&data_label, &labels],
            &log_density,
            title,
            Some(bounds),
        )
    }

    /// The training loop: resume, config.json, metrics, grids, checkpoints, final files.
    fn train<M: crate::model::Trainable>(
        &self,
        mut trainer: Trainer<M>,
        progress: &mut dyn Progress,
    ) -> Result<TrainSummary> {
        let (ctx, job) = (self.ctx, self.job);
        let (out, run, data) = (&job.out, &job.run, &job.data);
        let cfg = trainer.cfg.clone();
        let transform = job.transform().to_json();
        trainer
            .metadata
            .insert(Transform::METADATA_KEY.into(), transform.clone());
        let metrics_path = out.join("metrics.jsonl");
        let checkpoint_path = out.join("checkpoint.safetensors");
        if let Some((ck, _)) = &job.checkpoint {
            // What a process killed inside a write left; the checkpoint it was replacing is
            // whole, and is what this run continues from.
            crate::io::remove_stale_temporaries(out)?;
            if out.join("grids").is_dir() {
                crate::io::remove_stale_temporaries(&out.join("grids"))?;
            }
            trainer
                .restore(ck)
                .with_context(|| format!("--resume from {}", checkpoint_path.display()))?;
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
            crate::io::write_atomic(&metrics_path, kept.concat().as_bytes())?;
        }
        // config.json: the run configuration as trained, and the adapter.
        let mut config = serde_json::to_value(RunConfig {
            d: data.d,
            train: cfg.clone(),
            ..run.clone()
        })?;
        config["adapter"] = ctx.adapter_label().into();
        crate::io::write_atomic(
            &out.join("config.json"),
            serde_json::to_string_pretty(&config)?.as_bytes(),
        )?;
        let mut metrics = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .with_context(|| format!("opening {}", metrics_path.display()))?;
        progress.update(trainer.t, cfg.steps);
        let mut last = Instant::now();
        let mut last_metrics = None;
        let mut drawn = None;
        // The update of the last checkpoint written, named when the run diverges.
        let mut checkpointed = job.checkpoint.is_some().then_some(trainer.t);
        for step in trainer.t + 1..=cfg.steps {
            let log = step % cfg.log_every == 0 || step == cfg.steps;
            // Asked to stop: this update is the last, with a checkpoint.
            let stop = step < cfg.steps && progress.should_stop();
            let checkpoint = step % job.run.checkpoint_every == 0 || step == cfg.steps || stop;
            // A checkpoint's update is checked for divergence like a logged one (the energy
            // gap and ‖θ‖), so that no checkpoint holds a diverged state.
            let stepped = trainer
                .step(&data.x, data.n, log || checkpoint)
                .map_err(|e| diverged_with_checkpoint(e, checkpointed, &checkpoint_path))?;
            if let (true, Some((gap, norm))) = (log, stepped) {
                let secs = last.elapsed().as_secs_f64() / cfg.log_every.min(step) as f64;
                let valid_loglik = if job.valid.is_some() {
                    self.valid_loglik(&trainer.theta()?)?
                } else {
                    None
                };
                last = Instant::now();
                let m = Metrics {
                    step,
                    energy_gap: gap,
                    grad_norm: norm,
                    step_seconds: secs,
                    valid_loglik,
                    h: trainer.bandwidth()?,
                };
                let line = serde_json::to_string(&m)?;
                use std::io::Write;
                writeln!(metrics, "{line}")
                    .with_context(|| format!("writing {}", metrics_path.display()))?;
                progress.status(&format!(
                    "gap {gap:.3}{}",
                    valid_loglik
                        .map(|l| format!("  valid LL {l:.2}"))
                        .unwrap_or_default()
                ));
                last_metrics = Some(m);
                // curves.png at each log step, but at most once a second (a picture takes
                // some 50 ms) and always at the last update.
                if step == cfg.steps
                    || drawn.is_none_or(|t: Instant| t.elapsed().as_secs_f64() >= 1.0)
                {
                    super::plots::plot_run_curves(out, &out.join(super::plots::CURVES))?;
                    drawn = Some(Instant::now());
                }
            }
            if let Some((every, shape)) = job.grids {
                if step % every == 0 || step == cfg.steps {
                    self.write_grids(&trainer.theta()?, trainer.generator()?, step, shape)?;
                }
            }
            if checkpoint {
                trainer
                    .checkpoint()
                    .map_err(|e| diverged_with_checkpoint(e, checkpointed, &checkpoint_path))?
                    .write(&checkpoint_path)?;
                checkpointed = Some(step);
            }
            progress.update(step, cfg.steps);
            if stop {
                // Asked to stop: the checkpoint of this update is written; nothing else is.
                progress.finish();
                return Ok(TrainSummary {
                    steps: step,
                    out: out.clone(),
                    last: last_metrics,
                    interrupted: true,
                });
            }
        }
        progress.finish();
        let theta = trainer.theta()?;
        let mut t = job.spec.to_tensors(&theta)?;
        t.metadata
            .insert("config".into(), serde_json::to_string(&cfg)?);
        t.metadata
            .insert(Transform::METADATA_KEY.into(), transform.clone());
        t.write(&out.join("model.safetensors"))?;
        let gen = trainer.generator()?;
        if let Some((gspec, eta)) = &gen {
            let mut g = gspec.to_tensors(eta)?;
            g.metadata
                .insert("config".into(), serde_json::to_string(&cfg)?);
            g.metadata.insert(Transform::METADATA_KEY.into(), transform);
            g.write(&out.join("generator.safetensors"))?;
        }
        if data.d == 2 {
            let generated = gen.as_ref().map(|(s, e)| (s, e.as_slice()));
            let ll = last_metrics
                .as_ref()
                .and_then(|m| m.valid_loglik)
                .map(|l| format!(", validation LL {l:.4}"))
                .unwrap_or_default();
            let heading = format!(
                "Learned density of {}, {} updates{ll}",
                super::plots::run_label(&config),
                cfg.steps
            );
            self.plot_density(&theta, generated, &out.join("density.png"), &heading)?;
        }
        Ok(TrainSummary {
            steps: cfg.steps,
            out: out.clone(),
            last: last_metrics,
            interrupted: false,
        })
    }
}

/// A [`Diverged`] error of the trainer with what the run directory keeps: the checkpoint of
/// the last good update, or nothing. Other errors pass unchanged.
fn diverged_with_checkpoint(
    e: anyhow::Error,
    checkpointed: Option<u64>,
    path: &Path,
) -> anyhow::Error {
    match e.downcast_ref::<Diverged>() {
        Some(Diverged(m)) => Diverged(match checkpointed {
            Some(t) => format!(
                "{m}; the last good checkpoint, of update {t}, is kept in {}",
                path.display()
            ),
            None => format!("{m}; no checkpoint was written before it, so nothing is kept"),
        })
        .into(),
        None => e,
    }
}
