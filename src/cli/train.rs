//! `stein train`: its options, declared once for the command line and for `--config` TOML,
//! merged with the command line winning, then handed to [`stein::run::TrainJob`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use serde::Deserialize;

use stein::model::generator::GenOutput;
use stein::model::mlp::Activation;
use stein::run::{ModelKind, RunConfig, Schedule, TrainJob, TrainOptions};
use stein::svgd::Bandwidth;
use stein::train::{Algo, GanKernel, PhiNorm, Sampler};

use super::values::{self, BandwidthArg, ImageShape, Widths};

/// The options of `stein train`. Every field is also a key of the `--config` TOML file (its
/// long name; `_` and `-` alike). A field is `None` only where the option has no default.
#[derive(clap::Args, Deserialize, Debug, Default)]
#[serde(rename_all = "kebab-case")]
pub struct TrainArgs {
    /// Energy model: grbm (Gaussian-Bernoulli RBM) or mlp (MLP energy with a Gaussian base).
    #[arg(long, value_enum, ignore_case = true, default_value = "grbm")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub model: Option<ModelKind>,
    /// Hidden units of the RBM.
    #[arg(long, default_value = "10")]
    #[serde(default)]
    pub hidden: Option<usize>,
    /// Hidden widths of the MLP energy, comma-separated (e.g. 256,256 for d-256-256-1).
    #[arg(long, value_parser = values::parse::<Widths>, default_value = "64,64")]
    #[serde(default, deserialize_with = "values::de_widths")]
    pub widths: Option<Widths>,
    /// Activation of the MLP's hidden layers: softplus, silu or tanh.
    #[arg(long, value_enum, ignore_case = true, default_value = "softplus")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub activation: Option<Activation>,
    /// σ₀ of the MLP energy's base term −‖x‖²/(2σ₀²) (a few times the data's scale).
    #[arg(long, default_value = "3")]
    #[serde(default)]
    pub sigma0: Option<f64>,
    /// cd, pcd, stein-cd, stein-gan (a generator trained along φ gives the negatives) or
    /// hybrid (each negative from stein-cd with probability --mix-prob, else the generator).
    #[arg(long, value_enum, ignore_case = true, default_value = "cd")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub algo: Option<Algo>,
    /// stein-gan/hybrid: latent dimension n_z of the generator (z ~ U(−1, 1)^n_z).
    #[arg(long, default_value = "100")]
    #[serde(default)]
    pub nz: Option<usize>,
    /// stein-gan/hybrid: hidden widths of the generator, comma-separated (n_z-…-d).
    #[arg(long, value_parser = values::parse::<Widths>, default_value = "256,256")]
    #[serde(default, deserialize_with = "values::de_widths")]
    pub gen_widths: Option<Widths>,
    /// stein-gan/hybrid: activation of the generator's hidden layers: softplus, silu or tanh.
    #[arg(long, value_enum, ignore_case = true, default_value = "softplus")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub gen_activation: Option<Activation>,
    /// stein-gan/hybrid: generator output: identity or sigmoid (images in [0, 1]).
    #[arg(long, value_enum, ignore_case = true, default_value = "identity")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub gen_output: Option<GenOutput>,
    /// stein-gan/hybrid: Adam learning rate of the generator.
    #[arg(long, default_value = "0.001")]
    #[serde(default)]
    pub gen_lr: Option<f64>,
    /// stein-gan/hybrid: kernel of the generator's Stein direction: rbf, or none (φ = ∇ₓf,
    /// the "without kernel" ablation).
    #[arg(long, value_enum, ignore_case = true, default_value = "rbf")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub kernel: Option<GanKernel>,
    /// stein-gan/hybrid: φ normalised by count (1/m, the paper) or rowsum (1/Σ_j k_ij).
    #[arg(long, value_enum, ignore_case = true, default_value = "count")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub phi_norm: Option<PhiNorm>,
    /// hybrid: probability that a negative comes from SteinCD rather than the generator.
    #[arg(long, default_value = "0.5")]
    #[serde(default)]
    pub mix_prob: Option<f64>,
    /// MCMC kernel of cd and pcd: gibbs or langevin.
    #[arg(long, value_enum, ignore_case = true, default_value = "gibbs")]
    #[serde(default, deserialize_with = "values::de_enum")]
    pub sampler: Option<Sampler>,
    /// MCMC steps per update.
    #[arg(long, default_value = "1")]
    #[serde(default)]
    pub k: Option<usize>,
    /// Langevin step size η.
    #[arg(long, default_value = "0.01")]
    #[serde(default)]
    pub langevin_step: Option<f64>,
    /// SteinCD step size ε.
    #[arg(long, default_value = "0.1")]
    #[serde(default)]
    pub svgd_step: Option<f64>,
    /// SteinCD bandwidth: median (of each batch) or a positive number.
    #[arg(long, value_parser = values::parse::<BandwidthArg>, default_value = "median", allow_hyphen_values = true)]
    #[serde(default, deserialize_with = "values::de_bandwidth")]
    pub bandwidth: Option<BandwidthArg>,
    /// Training data: .npy [N, d] (f32, f64 or u8 scaled by 1/255) or .csv with a header row.
    #[arg(long)]
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Validation data for the exact log-likelihood at every log step.
    #[arg(long)]
    #[serde(default)]
    pub valid: Option<PathBuf>,
    /// Hold out this many rows of --data (a shuffle deterministic in --seed) as validation
    /// data instead of --valid; with --standardize both parts use the training rows'
    /// statistics. The held-out rows are written to RUN_DIR/valid.npy (in the data's units).
    #[arg(long, default_value = "0", conflicts_with = "valid")]
    #[serde(default)]
    pub holdout: Option<usize>,
    /// Updates in all (default 1000; with --resume, the run's own unless given).
    #[arg(long)]
    #[serde(default)]
    pub steps: Option<u64>,
    /// Passes over the training data instead of --steps: updates = ⌈E · N / batch⌉.
    #[arg(long, conflicts_with = "steps")]
    #[serde(default)]
    pub epochs: Option<f64>,
    /// Write checkpoint.safetensors (θ, Adam state, chains, generator state) every K updates
    /// (default 500; with --resume, the run's own unless given).
    #[arg(long)]
    #[serde(default)]
    pub checkpoint_every: Option<u64>,
    /// Image data: every K updates (and at the end) write RUN_DIR/grids/step_NNNNNNN_*.png, 64
    /// samples of the energy by Langevin (500 steps of η = 0.01 from N(0, I)) and, with a
    /// generator, 64 generator samples (the same z each time). Default 0: off (with --resume,
    /// the run's own unless given).
    #[arg(long)]
    #[serde(default)]
    pub grid_every: Option<u64>,
    /// Image shape ROWSxCOLS for --grid-every (default: square).
    #[arg(long, value_parser = values::parse::<ImageShape>)]
    #[serde(default, deserialize_with = "values::de_image_shape")]
    pub image_shape: Option<ImageShape>,
    /// TOML file with any of these options under their long names (`lr = 3e-4`,
    /// `algo = "stein-cd"`, `langevin-step = 0.01`, …); options given on the command line win.
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Continue the run in this directory from its last checkpoint, with its options. --steps,
    /// --epochs, --log-every, --checkpoint-every, --grid-every and --image-shape may change
    /// (recorded in config.json); any other option given must be the run's.
    #[arg(long)]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
    /// Remove the run in --out (only the files a run writes) and start again; without it a
    /// directory holding a run is refused.
    #[arg(long, conflicts_with = "resume")]
    #[serde(skip)]
    pub overwrite: bool,
    /// Batch size.
    #[arg(long, default_value = "100")]
    #[serde(default)]
    pub batch: Option<usize>,
    /// Adam learning rate (β1 = 0.5, β2 = 0.999, weight decay 1e-5 as the authors).
    #[arg(long, default_value = "0.0003")]
    #[serde(default)]
    pub lr: Option<f64>,
    /// L2 weight decay.
    #[arg(long, default_value = "0.00001")]
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// Random seed.
    #[arg(long, default_value = "0")]
    #[serde(default)]
    pub seed: Option<u64>,
    /// Metrics (and validation) every this many updates (default 100; with --resume, the
    /// run's own unless given).
    #[arg(long)]
    #[serde(default)]
    pub log_every: Option<u64>,
    /// Keep u8 data as 0..255.
    #[arg(long, action = clap::ArgAction::SetTrue)]
    #[serde(default)]
    pub raw_u8: Option<bool>,
    /// Standardise each column (CSV data).
    #[arg(long, action = clap::ArgAction::SetTrue)]
    #[serde(default)]
    pub standardize: Option<bool>,
    /// Run directory (created): config.json, metrics.jsonl, checkpoint.safetensors,
    /// model.safetensors.
    #[arg(long)]
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// The options given, on the command line or in --config, by long name.
    #[arg(skip)]
    #[serde(skip)]
    pub given: Vec<String>,
}

impl TrainArgs {
    /// Takes every option of `file` that the command line did not give (`from_command_line`
    /// says, by the option's id, whether it did).
    fn merge(&mut self, file: TrainArgs, from_command_line: &dyn Fn(&str) -> bool) {
        // Destructured without `..`: a new option that is not merged here does not compile.
        let TrainArgs {
            model,
            hidden,
            widths,
            activation,
            sigma0,
            algo,
            nz,
            gen_widths,
            gen_activation,
            gen_output,
            gen_lr,
            kernel,
            phi_norm,
            mix_prob,
            sampler,
            k,
            langevin_step,
            svgd_step,
            bandwidth,
            data,
            valid,
            holdout,
            steps,
            epochs,
            checkpoint_every,
            grid_every,
            image_shape,
            config: _,
            resume: _,
            overwrite: _,
            given: _,
            batch,
            lr,
            weight_decay,
            seed,
            log_every,
            raw_u8,
            standardize,
            out,
        } = file;
        macro_rules! take {
            ($($field:ident),*) => {$(
                if $field.is_some() && !from_command_line(stringify!($field)) {
                    self.$field = $field;
                }
            )*};
        }
        take!(
            model,
            hidden,
            widths,
            activation,
            sigma0,
            algo,
            nz,
            gen_widths,
            gen_activation,
            gen_output,
            gen_lr,
            kernel,
            phi_norm,
            mix_prob,
            sampler,
            k,
            langevin_step,
            svgd_step,
            bandwidth,
            data,
            valid,
            holdout,
            steps,
            epochs,
            checkpoint_every,
            grid_every,
            image_shape,
            batch,
            lr,
            weight_decay,
            seed,
            log_every,
            raw_u8,
            standardize,
            out
        );
    }

    /// Fills the options not given on the command line from `--config FILE` (TOML), and
    /// records which options either gave.
    pub fn apply_config(&mut self, matches: &clap::ArgMatches) -> Result<()> {
        let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        let names = option_names();
        self.given = matches
            .ids()
            .map(|id| id.as_str())
            .filter(|id| given(id))
            .map(|id| id.replace('_', "-"))
            .filter(|name| names.contains(name)) // not the struct's argument group
            .collect();
        let Some(path) = self.config.clone() else {
            return Ok(());
        };
        let (file, keys) = read_config(&path, &given)?;
        self.merge(file, &given);
        self.given.extend(keys);
        Ok(())
    }

    /// The library's options; every option with a default holds a value after parsing.
    pub fn options(&self) -> Result<TrainOptions> {
        let d = TrainOptions::default();
        let bandwidth = match self.bandwidth.map(|b| b.0) {
            None | Some(Bandwidth::Median) => None,
            Some(Bandwidth::Fixed(h)) => Some(h),
            Some(Bandwidth::MedianSampled) => bail!(
                "--bandwidth median-sampled is for `svgd` and `phi`; train's batches take the exact median (`median`) or a number"
            ),
        };
        Ok(TrainOptions {
            model: self.model.unwrap_or(d.model),
            hidden: self.hidden.unwrap_or(d.hidden),
            widths: self.widths.clone().map_or(d.widths, |w| w.0),
            activation: self.activation.unwrap_or(d.activation),
            sigma0: self.sigma0.unwrap_or(d.sigma0),
            algo: self.algo.unwrap_or(d.algo),
            nz: self.nz.unwrap_or(d.nz),
            gen_widths: self.gen_widths.clone().map_or(d.gen_widths, |w| w.0),
            gen_activation: self.gen_activation.unwrap_or(d.gen_activation),
            gen_output: self.gen_output.unwrap_or(d.gen_output),
            gen_lr: self.gen_lr.unwrap_or(d.gen_lr),
            kernel: self.kernel.unwrap_or(d.kernel),
            phi_norm: self.phi_norm.unwrap_or(d.phi_norm),
            mix_prob: self.mix_prob.unwrap_or(d.mix_prob),
            sampler: self.sampler.unwrap_or(d.sampler),
            k: self.k.unwrap_or(d.k),
            langevin_step: self.langevin_step.unwrap_or(d.langevin_step),
            svgd_step: self.svgd_step.unwrap_or(d.svgd_step),
            bandwidth,
            valid: self.valid.clone(),
            holdout: self.holdout.unwrap_or(d.holdout),
            batch: self.batch.unwrap_or(d.batch),
            lr: self.lr.unwrap_or(d.lr),
            weight_decay: self.weight_decay.unwrap_or(d.weight_decay),
            seed: self.seed.unwrap_or(d.seed),
            raw_u8: self.raw_u8.unwrap_or(d.raw_u8),
            standardize: self.standardize.unwrap_or(d.standardize),
        })
    }

    /// How long to train and what to write along the way (what a resume may change).
    pub fn schedule(&self) -> Schedule {
        Schedule {
            steps: self.steps,
            epochs: self.epochs,
            log_every: self.log_every,
            checkpoint_every: self.checkpoint_every,
            grid_every: self.grid_every,
            image_shape: self.image_shape.map(|s| s.0),
        }
    }

    /// The job: a new run (replacing an old one with `--overwrite`), or `--resume`, which
    /// refuses options given that differ from the run's.
    pub fn job(&self) -> Result<TrainJob> {
        let schedule = self.schedule();
        if let Some(dir) = &self.resume {
            let run = RunConfig::read(dir)?;
            let mut differences =
                run.differences(self.data.as_deref(), &self.options()?, &self.given);
            if let Some(out) = self.out.as_deref().filter(|o| !same_dir(o, dir)) {
                differences.push(format!(
                    "--out {} (the run is in {})",
                    out.display(),
                    dir.display()
                ));
            }
            if !differences.is_empty() {
                bail!(
                    "--resume {} continues the run with its own options, and these differ from them: {}; drop them (only --steps, --epochs, --log-every, --checkpoint-every, --grid-every and --image-shape may change), or start a new run in another --out",
                    dir.display(),
                    differences.join(", ")
                );
            }
            return TrainJob::resume(dir.clone(), &schedule);
        }
        let options = self.options()?;
        let data = self
            .data
            .clone()
            .context("give --data FILE (or `data` in --config), or --resume RUN_DIR")?;
        let out = self
            .out
            .clone()
            .context("give --out RUN_DIR (or `out` in --config)")?;
        if self.overwrite {
            TrainJob::replacing(data, out, &options, &schedule)
        } else {
            TrainJob::new(data, out, &options, &schedule)
        }
    }
}

/// Whether two paths name the same directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The long names of `stein train`'s options, as written in a config file.
fn option_names() -> Vec<String> {
    let cmd = <TrainArgs as clap::Args>::augment_args(clap::Command::new("train"));
    cmd.get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// The largest `--config` file read (1 MiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads `--config FILE`, skipping the keys `given` says the command line set; returns the
/// options and the long names of those it set. Refuses an unknown key (naming the closest
/// option), `config`, `resume` and `overwrite`, and a value of the wrong kind, each with one
/// line naming the file and the key.
fn read_config(path: &Path, given: &dyn Fn(&str) -> bool) -> Result<(TrainArgs, Vec<String>)> {
    // The TOML parser takes up to ~70 times a file's size in memory; a config file is a few
    // hundred bytes, and a data file given by mistake should not take gigabytes to refuse.
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() > MAX_CONFIG_BYTES {
            bail!(
                "--config {}: the file has {} bytes, more than a config file's limit of {MAX_CONFIG_BYTES}; give a TOML file of `stein train` options",
                path.display(),
                meta.len()
            );
        }
    }
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "--config {}: cannot read the file; check the path",
            path.display()
        )
    })?;
    parse_config(&text, &path.display().to_string(), given)
}

/// [`read_config`] on the file's text; `origin` (the file's name) is in every error message.
/// `given` says which options the command line gave (their keys are checked, not read).
pub(crate) fn parse_config(
    text: &str,
    origin: &str,
    given: &dyn Fn(&str) -> bool,
) -> Result<(TrainArgs, Vec<String>)> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("--config {origin}: {}", e.message()))?;
    let names = option_names();
    let mut kept = toml::Table::new();
    for (key, value) in table {
        let long = key.replace('_', "-");
        if long == "config" || long == "resume" || long == "overwrite" {
            bail!(
                "--config {}: `{key}` cannot be set from a config file",
                origin
            );
        }
        if !names.contains(&long) {
            let advice = match closest(&long, &names) {
                Some(name) => format!(
                    "did you mean `{name}`? (keys are the long names of `stein train --help`)"
                ),
                None => "use the long names of `stein train --help` (e.g. lr, algo, langevin-step)"
                    .into(),
            };
            bail!("--config {}: unknown option `{key}`; {advice}", origin);
        }
        if given(&long.replace('-', "_")) {
            continue; // the command line wins; its value is not even read
        }
        // One key at a time, so that an error names it.
        let mut one = toml::Table::new();
        one.insert(long.clone(), value.clone());
        if let Err(e) = toml::Value::Table(one).try_into::<TrainArgs>() {
            bail!("--config {}: {}", origin, value_error(&key, e.message()));
        }
        kept.insert(long, value);
    }
    let keys = kept.keys().cloned().collect();
    let args = toml::Value::Table(kept)
        .try_into()
        .with_context(|| format!("--config {origin}"))?;
    Ok((args, keys))
}

/// serde's complaint about the value of `key`, as `` `key` must be … ``.
fn value_error(key: &str, message: &str) -> String {
    let message = message.lines().next().unwrap_or(message).trim();
    if message.starts_with("--") {
        return message.to_string(); // a parser's own message, naming the option
    }
    if message.starts_with("must ") || message.starts_with("is ") {
        return format!("`{key}` {message}");
    }
    let want = match message.rsplit_once("expected ") {
        Some((_, "usize" | "u64" | "u32")) => "a non-negative integer",
        Some((_, "f64")) => "a number",
        Some((_, "a boolean")) => "true or false",
        Some((_, w)) => w,
        None => return format!("`{key}`: {message}"),
    };
    format!("`{key}` must be {want}")
}

/// The option name nearest to `key` by edit distance, if it is near enough to be a typo.
fn closest<'a>(key: &str, names: &'a [String]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, &cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    let near = |n: &str| (n.len().max(key.len()) / 3).max(1);
    names
        .iter()
        // The distance is at least the difference in length: a long key (a fuzzed file's)
        // is not compared letter by letter with every name.
        .filter(|n| n.len().abs_diff(key.len()) <= near(n))
        .map(|n| (distance(key, n), n))
        .filter(|&(d, n)| d <= near(n))
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n.as_str())
}

/// `stein train`.
pub fn train(choice: &stein::gpu::AdapterChoice, args: &TrainArgs) -> Result<()> {
    let job = args.job()?;
    let ctx = super::commands::open(choice)?;
    let total = job.config().train.steps;
    let summary = job.run(
        &ctx,
        &mut super::progress::Reporter::new("train", "updates"),
    )?;
    if summary.interrupted {
        let out = summary.out.display();
        return Err(super::stopped(format!(
            "interrupted at update {} of {total}; checkpoint written to {}; continue with: stein train --resume {out}",
            summary.steps,
            summary.out.join("checkpoint.safetensors").display()
        )));
    }
    eprintln!(
        "train: {} updates; wrote {}/model.safetensors",
        summary.steps,
        summary.out.display()
    );
    if let Some(m) = summary.last {
        println!("{}", serde_json::to_string(&m)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    fn parse(args: &[&str]) -> TrainArgs {
        let cmd = <TrainArgs as clap::Args>::augment_args(clap::Command::new("train"));
        let m = cmd.try_get_matches_from(args).unwrap();
        let mut a = TrainArgs::from_arg_matches(&m).unwrap();
        a.apply_config(&m).unwrap();
        a
    }

    /// The command line's defaults are the library's: declared twice (the help shows them),
    /// checked here.
    #[test]
    fn command_line_defaults_are_the_library_defaults() {
        let a = parse(&["train"]);
        assert_eq!(a.options().unwrap(), TrainOptions::default());
        assert_eq!(a.schedule(), Schedule::default());
    }

    #[test]
    fn a_config_file_fills_what_the_command_line_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.toml");
        std::fs::write(
            &path,
            "algo = \"Stein-CD\"\nlog_every = 5\nlr = 1\nwidths = [8, 4]\nbandwidth = 0.5\nraw-u8 = true\nhidden = 3\n",
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let a = parse(&["train", "--config", p, "--hidden", "7"]);
        let o = a.options().unwrap();
        assert_eq!(o.algo, Algo::SteinCd);
        assert_eq!((a.schedule().log_every, o.lr, o.hidden), (Some(5), 1.0, 7));
        // What was given, by either: for a resume to compare with the run.
        let mut given = a.given.clone();
        given.sort();
        assert_eq!(
            given,
            [
                "algo",
                "bandwidth",
                "config",
                "hidden",
                "log-every",
                "lr",
                "raw-u8",
                "widths"
            ]
        );
        assert_eq!(
            (o.widths, o.bandwidth, o.raw_u8),
            (vec![8, 4], Some(0.5), true)
        );
        assert_eq!(o.sampler, Sampler::Gibbs);
    }

    #[test]
    fn config_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = |text: &str| {
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, text).unwrap();
            let cmd = <TrainArgs as clap::Args>::augment_args(clap::Command::new("train"));
            let m = cmd
                .try_get_matches_from(["train", "--config", path.to_str().unwrap()])
                .unwrap();
            let mut a = TrainArgs::from_arg_matches(&m).unwrap();
            format!("{:#}", a.apply_config(&m).unwrap_err())
        };
        assert!(err("hidden = \"ten\"").contains("`hidden` must be a non-negative integer"));
        assert!(err("lr = \"x\"").contains("`lr` must be a number"));
        assert!(err("raw-u8 = 1").contains("`raw-u8` must be true or false"));
        let e = err("algo = \"sgd\"");
        assert!(
            e.contains("`algo` must be cd, pcd, stein-cd, stein-gan or hybrid, not `sgd`"),
            "{e}"
        );
        let e = err("langevin-stp = 0.1");
        assert!(
            e.contains("unknown option `langevin-stp`; did you mean `langevin-step`?"),
            "{e}"
        );
        let e = err("learning-rate = 0.1");
        assert!(
            e.contains("unknown option `learning-rate`; use the long names"),
            "{e}"
        );
        assert!(err("resume = \"x\"").contains("cannot be set from a config file"));
        assert!(err("overwrite = true").contains("cannot be set from a config file"));
        assert!(err("bandwidth = \"wide\"").contains("--bandwidth `wide` is neither"));
        assert!(err("widths = \"a,b\"").contains("`widths` must list positive integers"));
        let e = err(&"#".repeat((1 << 20) + 1));
        assert!(
            e.contains("more than a config file's limit of 1048576"),
            "{e}"
        );
    }
}
