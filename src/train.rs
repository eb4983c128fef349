//! Learning the Gaussian-Bernoulli RBM (algorithms.md §3): every algorithm makes the same
//! θ-update (eq. 23) from a data batch x⁺ and negatives x⁻, fed to Adam as an ascent
//! direction, and differs only in where x⁻ comes from:
//! - CD-k: k sampler steps (block Gibbs or Langevin) started at x⁺;
//! - PCD-k: the same steps continuing persistent chains;
//! - SteinCD: x⁻ = x⁺ + ε φ(x⁺), φ the SVGD direction with the batch as particles;
//! - SteinGAN (amortized MLE, §3.3): x⁻ = G(z) from a generator trained along φ(x⁻);
//! - hybrid (§3.4): each x⁻ᵢ from SteinCD with probability p, else from the generator.
//!
//! One submit per update; only logged steps read anything back.

use anyhow::{bail, ensure, Result};
use serde::{Deserialize, Serialize};

use crate::bandwidth::{Bandwidth, Placement};
use crate::cpu::hash::stream_key;
use crate::direction::SteinDirection;
use crate::gpu::params::UpdateParams;
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::io::target::SplitMix64;
use crate::kernels::Kernels;
use crate::model::generator::{GenBatch, GenKernels, GenSpec};
use crate::model::mlp::MlpKernels;
use crate::model::rbm::{RbmKernels, RbmShape};
use crate::model::Trainable;
use crate::run::Diverged;

/// Where the negatives come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Algo {
    /// Contrastive divergence from the data batch.
    Cd,
    /// Persistent contrastive divergence.
    Pcd,
    /// One SVGD step from the data batch (Algorithm 1).
    SteinCd,
    /// Generator samples, the generator trained along φ (Algorithm 2, amortized MLE).
    SteinGan,
    /// SteinCD negatives mixed with generator negatives (algorithms.md §3.4).
    Hybrid,
}

impl Algo {
    /// Whether the algorithm trains a generator.
    pub fn has_generator(self) -> bool {
        matches!(self, Algo::SteinGan | Algo::Hybrid)
    }

    /// Whether the algorithm takes a Stein direction of a data batch (SteinCD's x⁺).
    pub fn uses_data_direction(self) -> bool {
        matches!(self, Algo::SteinCd | Algo::Hybrid)
    }
}

/// Most sampler steps per update (`--k`): one update records all of them into one encoder, each
/// with its own dispatches, bind groups and uniform slots, so the bound keeps one submit's
/// command buffer and uniform arena in check.
pub const MAX_K: usize = 1000;

/// The format of a checkpoint, stored as its metadata entry `format` (absent in checkpoints
/// written before the entry existed, which are this format too). A reader refuses others.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// A training run whose energy gap (mean f over the data batch minus mean f over the
/// negatives) leaves ±this has diverged: f32 energies that large are 8 or more apart, so the
/// gap no longer measures anything. (A GRBM on raw 0..255 MNIST pixels, `--raw-u8`, sits near
/// −3e6.) Checked at every log step.
pub const DIVERGED_GAP: f64 = 1e8;

/// A training run whose parameter norm ‖θ‖₂ exceeds this has diverged (a trained model's
/// entries are O(1) to O(100): a million of them have a norm near 1e3 to 1e5). Checked at
/// every log step and before every checkpoint, which is never written past it.
pub const DIVERGED_THETA_NORM: f64 = 1e8;

/// The kernel of the generator's Stein direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GanKernel {
    /// RBF, bandwidth of `TrainConfig::bandwidth` (median of the generated batch by default).
    Rbf,
    /// None: φ(xᵢ) = ∇ₓf(xᵢ), the "without kernel" ablation.
    None,
}

/// How φ at the generated batch is normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PhiNorm {
    /// 1/m (the paper).
    Count,
    /// 1/Σ_j k_ij per row (the authors' MNIST code).
    Rowsum,
}

/// The generator of SteinGAN and the hybrid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenConfig {
    /// Latent dimension n_z.
    pub nz: usize,
    /// Hidden widths.
    pub widths: Vec<usize>,
    /// Activation of the hidden layers.
    pub activation: String,
    /// Output activation.
    pub output: crate::model::generator::GenOutput,
    /// Adam learning rate of η.
    pub lr: f64,
    /// Kernel of φ.
    pub kernel: GanKernel,
    /// Normalisation of φ.
    pub phi_norm: PhiNorm,
    /// Hybrid: probability that a negative comes from SteinCD.
    pub mix_prob: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            nz: 100,
            widths: vec![256, 256],
            activation: "softplus".into(),
            output: Default::default(),
            lr: 1e-3,
            kernel: GanKernel::Rbf,
            phi_norm: PhiNorm::Count,
            mix_prob: 0.5,
        }
    }
}

impl GenConfig {
    /// Checks the numbers; the message names the option.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.nz >= 1, "--nz must be at least 1");
        ensure!(
            self.widths.iter().all(|&w| w >= 1),
            "--gen-widths must list positive integers, got {:?}",
            self.widths
        );
        self.activation
            .parse::<crate::model::mlp::Activation>()
            .map_err(|e| anyhow::anyhow!("--gen-activation: {e}"))?;
        ensure!(
            self.lr > 0.0 && self.lr.is_finite(),
            "--gen-lr {} must be positive and finite",
            self.lr
        );
        ensure!(
            (0.0..=1.0).contains(&self.mix_prob),
            "--mix-prob {} must be a probability in [0, 1]",
            self.mix_prob
        );
        ensure!(
            !(self.kernel == GanKernel::None && self.phi_norm == PhiNorm::Rowsum),
            "--phi-norm rowsum needs --kernel rbf (without a kernel φ is the score)"
        );
        Ok(())
    }

    /// The generator's shape for data of dimension `d`.
    pub fn spec(&self, d: usize) -> Result<crate::model::generator::GenSpec> {
        crate::model::generator::GenSpec::new(
            self.nz,
            &self.widths,
            d,
            self.activation.parse()?,
            self.output,
        )
    }
}

/// The MCMC kernel of CD and PCD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    /// Block Gibbs (RBM only).
    Gibbs,
    /// Unadjusted Langevin.
    Langevin,
}

/// A training run's resolved configuration (written to the run directory).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Hidden units.
    pub hidden: usize,
    /// Algorithm.
    pub algo: Algo,
    /// MCMC kernel for CD/PCD.
    pub sampler: Sampler,
    /// MCMC steps per update.
    pub k: usize,
    /// Langevin step size η.
    pub langevin_step: f64,
    /// SteinCD step size ε.
    pub svgd_step: f64,
    /// SteinCD bandwidth: None = median of the batch (algorithms.md §1).
    pub bandwidth: Option<f64>,
    /// Batch size m.
    pub batch: usize,
    /// Updates.
    pub steps: u64,
    /// Adam learning rate, β1, β2, ε, L2 weight decay.
    pub lr: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub adam_eps: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Seed of θ's initialisation, the batches and the sampler noise.
    pub seed: u64,
    /// Metrics every this many updates.
    pub log_every: u64,
    /// SteinGAN and hybrid: the generator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gen: Option<GenConfig>,
}

impl TrainConfig {
    /// The authors' settings (algorithms.md §3): Adam lr 3e-4, β1 0.5, β2 0.999, weight decay
    /// 1e-5, batch 100; CD-1 with Gibbs.
    pub fn paper(hidden: usize, algo: Algo) -> Self {
        Self {
            hidden,
            algo,
            sampler: Sampler::Gibbs,
            k: 1,
            langevin_step: 1e-2,
            svgd_step: 1e-1,
            bandwidth: None,
            batch: 100,
            steps: 1000,
            lr: 3e-4,
            beta1: 0.5,
            beta2: 0.999,
            adam_eps: 1e-8,
            weight_decay: 1e-5,
            seed: 0,
            log_every: 100,
            gen: algo.has_generator().then(GenConfig::default),
        }
    }

    /// Checks the numbers make sense; the message names the option.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.hidden >= 1, "--hidden must be at least 1");
        ensure!(self.batch >= 2, "--batch must be at least 2");
        ensure!(self.steps >= 1, "--steps must be at least 1");
        ensure!(self.k >= 1, "--k (sampler steps) must be at least 1");
        // Every sampler step of an update is recorded into the update's one submit.
        ensure!(
            self.k <= MAX_K,
            "--k {} is more sampler steps per update than stein records into one submit (at most {MAX_K}); use a smaller --k",
            self.k
        );
        ensure!(
            self.lr > 0.0 && self.lr.is_finite(),
            "--lr {} must be positive and finite",
            self.lr
        );
        ensure!(
            self.langevin_step > 0.0 && self.langevin_step.is_finite(),
            "--langevin-step must be positive"
        );
        ensure!(
            self.svgd_step > 0.0 && self.svgd_step.is_finite(),
            "--svgd-step must be positive"
        );
        ensure!(self.log_every >= 1, "--log-every must be at least 1");
        ensure!(
            self.weight_decay >= 0.0 && self.weight_decay.is_finite(),
            "--weight-decay {} must be zero or positive and finite",
            self.weight_decay
        );
        if let Some(h) = self.bandwidth {
            ensure!(h > 0.0 && h.is_finite(), "--bandwidth {h} must be positive");
        }
        match (&self.gen, self.algo.has_generator()) {
            (Some(g), true) => g.validate()?,
            (None, true) => bail!("--algo {:?} needs a generator configuration", self.algo),
            _ => {}
        }
        Ok(())
    }
}

/// One logged line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// Updates done.
    pub step: u64,
    /// mean f(x⁺) − mean f(x⁻) of this update's batches.
    pub energy_gap: f64,
    /// ‖eq. 23 direction‖₂ (before Adam).
    pub grad_norm: f64,
    /// Seconds per update since the last log line.
    pub step_seconds: f64,
    /// Exact validation log-likelihood, when evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_loglik: Option<f64>,
    /// The kernel bandwidth of this update's Stein direction (SteinCD's data batch; SteinGAN's
    /// generated batch), where the algorithm has one ([`Trainer::bandwidth`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h: Option<f64>,
}

/// The RBM's parameters initialised as the authors did: B ~ U(−0.05, 0.05), b = c = 0.
pub fn init_theta(shape: RbmShape, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed ^ 0xa5a5_5a5a);
    (0..shape.len())
        .map(|q| {
            if q < shape.d * shape.h {
                (0.1 * rng.next_f64() - 0.05) as f32
            } else {
                0.0
            }
        })
        .collect()
}

/// The generator's device state in a SteinGAN or hybrid run (the model's score of the generated
/// batch runs in the trainer's `neg_work`).
struct GenState<'a> {
    spec: GenSpec,
    mlp: &'a MlpKernels,
    ops: GenKernels,
    eta: GpuVec<f32>,
    m_adam: GpuVec<f32>,
    v_adam: GpuVec<f32>,
    grad: GpuVec<f32>,
    batch: GenBatch,
    /// Score, bandwidth and φ of the generated batch (the median recorded into the
    /// iteration's encoder where it fits; on the host for the row-sum normalisation).
    dir: SteinDirection,
}

/// Xor'ed into the seed for the generator's latent draws.
const GEN_STREAM: u64 = 0x67_656e_5f7a;

/// A training run's device state, for any [`Trainable`] model.
pub struct Trainer<'a, M: Trainable> {
    ctx: &'a GpuContext,
    k: &'a Kernels,
    /// The model (pipelines and shape; θ is [`Trainer::theta`]).
    pub model: M,
    /// Configuration.
    pub cfg: TrainConfig,
    /// θ on the device.
    pub theta: GpuVec<f32>,
    m_adam: GpuVec<f32>,
    v_adam: GpuVec<f32>,
    xall: GpuVec<f32>,
    xneg: GpuVec<f32>,
    weights: GpuVec<f32>,
    grad: GpuVec<f32>,
    energy: GpuVec<f32>,
    /// The Langevin sampler's score buffer.
    score: GpuVec<f32>,
    /// SteinCD and the hybrid: score, bandwidth (the batch's median recorded into the
    /// update's encoder where it fits) and φ of the data batch.
    stein: Option<SteinDirection>,
    /// The model's workspace for m rows: every sampler step, SteinCD's score of the data batch
    /// and the generator's score of its batch, one after the other in the update's encoder.
    /// Each reads only what its own dispatches wrote before it, and every uniform comes from
    /// the encoder's arena, so one workspace serves them all.
    neg_work: M::Work,
    /// The workspace of eq. 23's gradient over x⁺ and x⁻ (2m rows).
    all_work: M::Work,
    rng: SplitMix64,
    /// Updates done.
    pub t: u64,
    chains_ready: bool,
    gen: Option<GenState<'a>>,
    /// The last update's bandwidth where the host has it (`None`: on the device, or none).
    last_h: Option<f64>,
    /// Further metadata every [`Trainer::checkpoint`] carries (e.g. the data transform);
    /// [`Trainer::restore`] ignores it.
    pub metadata: std::collections::BTreeMap<String, String>,
}

impl<'a, M: Trainable> Trainer<'a, M> {
    /// Uploads θ (fresh from an initialisation or a loaded model) and allocates the state.
    pub fn new(
        ctx: &'a GpuContext,
        k: &'a Kernels,
        model: M,
        theta: &[f32],
        cfg: TrainConfig,
    ) -> Result<Self> {
        cfg.validate()?;
        let (d, len) = (model.dim(), model.n_params());
        ensure!(
            theta.len() == len,
            "model has {} parameters, its shape needs {len}",
            theta.len(),
        );
        let m = cfg.batch;
        // The largest per-batch buffer is x⁺ and x⁻ together, 2·m·d floats: checked against the
        // device before anything of that size is made on the host.
        let rows = (2 * m as u128).saturating_mul(d as u128).saturating_mul(4);
        ctx.check_binding(
            &format!("--batch {m} (x⁺ and x⁻, d = {d})"),
            u64::try_from(rows).unwrap_or(u64::MAX),
        )?;
        let mut w = vec![1.0 / m as f32; m];
        w.extend(vec![-1.0 / m as f32; m]);
        Ok(Self {
            ctx,
            k,
            theta: GpuVec::from_slice(ctx, "theta", theta)?,
            m_adam: GpuVec::zeros(ctx, "adam m", len)?,
            v_adam: GpuVec::zeros(ctx, "adam v", len)?,
            xall: GpuVec::zeros(ctx, "x+ and x-", 2 * m * d)?,
            xneg: GpuVec::zeros(ctx, "x-", m * d)?,
            weights: GpuVec::from_slice(ctx, "eq. 23 weights", &w)?,
            grad: GpuVec::zeros(ctx, "grad", len)?,
            energy: GpuVec::zeros(ctx, "f", 2 * m)?,
            score: GpuVec::zeros(ctx, "score", m * d)?,
            stein: match cfg.algo.uses_data_direction() {
                true => Some(SteinDirection::new(
                    ctx,
                    k,
                    (m, d),
                    Placement::Encoder { host_h: false },
                )?),
                false => None,
            },
            neg_work: model.work(ctx, m)?,
            all_work: model.work(ctx, 2 * m)?,
            rng: SplitMix64::new(cfg.seed ^ 0x0bad_5eed),
            t: 0,
            chains_ready: false,
            gen: None,
            last_h: None,
            metadata: Default::default(),
            cfg,
            model,
        })
    }

    /// Adds the generator of a SteinGAN or hybrid run (`cfg.gen`) with initial η `eta`
    /// (e.g. [`GenSpec::init_eta`]); its layers run on `mlp`.
    pub fn with_generator(mut self, mlp: &'a MlpKernels, eta: &[f32]) -> Result<Self> {
        let (ctx, m, d) = (self.ctx, self.cfg.batch, self.model.dim());
        let gc = self
            .cfg
            .gen
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this run's configuration has no generator"))?;
        let spec = gc.spec(d)?;
        let len = spec.len();
        ensure!(
            eta.len() == len,
            "generator has {} parameters, its shape needs {len}",
            eta.len()
        );
        self.gen = Some(GenState {
            mlp,
            ops: GenKernels::new(ctx)?,
            eta: GpuVec::from_slice(ctx, "generator eta", eta)?,
            m_adam: GpuVec::zeros(ctx, "generator adam m", len)?,
            v_adam: GpuVec::zeros(ctx, "generator adam v", len)?,
            grad: GpuVec::zeros(ctx, "generator grad", len)?,
            batch: GenBatch::new(ctx, &spec, m)?,
            dir: SteinDirection::new(
                ctx,
                self.k,
                (m, d),
                Placement::Encoder {
                    host_h: gc.phi_norm == PhiNorm::Rowsum,
                },
            )?,
            spec,
        });
        Ok(self)
    }

    /// The generator's shape and η on the host, in a SteinGAN or hybrid run.
    pub fn generator(&self) -> Result<Option<(GenSpec, Vec<f32>)>> {
        match &self.gen {
            Some(g) => Ok(Some((g.spec.clone(), g.eta.read(self.ctx)?))),
            None => Ok(None),
        }
    }

    /// Adam's parameters at update t for learning rate `lr` and weight decay `wd`.
    fn adam(&self, len: usize, lr: f64, wd: f64) -> UpdateParams {
        let t = self.t as f64;
        UpdateParams {
            len: len as u32,
            t: self.t.min(u64::from(u32::MAX)) as u32,
            step_size: lr as f32,
            beta1: self.cfg.beta1 as f32,
            beta2: self.cfg.beta2 as f32,
            eps: self.cfg.adam_eps as f32,
            bc1: (1.0 / (1.0 - self.cfg.beta1.powf(t))) as f32,
            bc2: (1.0 / (1.0 - self.cfg.beta2.powf(t))) as f32,
            wd: wd as f32,
            ..Default::default()
        }
    }

    /// One update from the data (`[n, d]` row-major); returns the metrics when `log` asks for
    /// them (the only readback).
    pub fn step(&mut self, data: &[f32], n: usize, log: bool) -> Result<Option<(f64, f64)>> {
        let (ctx, d, m) = (self.ctx, self.model.dim(), self.cfg.batch);
        ensure!(
            data.len() == n * d && n >= 1,
            "training data does not match d = {d}"
        );
        // The batch: m rows drawn uniformly with replacement, deterministic in the seed.
        let mut pos = Vec::with_capacity(m * d);
        for _ in 0..m {
            let i = (self.rng.next_u64() % n as u64) as usize;
            pos.extend_from_slice(&data[i * d..(i + 1) * d]);
        }
        self.t += 1;
        self.xall.write(ctx, &pos)?;
        let restart = match self.cfg.algo {
            Algo::Pcd => !self.chains_ready,
            _ => true,
        };
        if restart {
            self.xneg.write(ctx, &pos)?;
            self.chains_ready = true;
        }
        // The generator's batch x⁻ = G(z) first, in this iteration's one encoder.
        let mut enc = Recorder::new(ctx);
        match (&self.gen, self.cfg.algo.has_generator()) {
            (Some(g), true) => {
                let key = stream_key(self.cfg.seed ^ GEN_STREAM, self.t);
                g.ops
                    .record_sample(ctx, &mut enc, g.mlp, &g.eta, &g.batch, key)?;
            }
            (None, true) => bail!(
                "--algo {:?} needs a generator (Trainer::with_generator)",
                self.cfg.algo
            ),
            _ => {}
        }
        let rule = self
            .cfg
            .bandwidth
            .map_or(Bandwidth::Median, Bandwidth::Fixed);
        // Hybrid: which negatives come from SteinCD (true) or the generator.
        let mask: Vec<bool> = match self.cfg.algo {
            Algo::Hybrid => {
                let p = self.cfg.gen.as_ref().map_or(0.5, |g| g.mix_prob);
                (0..m).map(|_| self.rng.next_f64() < p).collect()
            }
            _ => Vec::new(),
        };
        let (model, theta) = (&self.model, &self.theta);
        match self.cfg.algo {
            Algo::SteinCd | Algo::Hybrid => {
                // x⁻ = x⁺ + ε φ(x⁺): one plain step along the data batch's Stein direction.
                let b = &self.neg_work;
                let xneg = &self.xneg;
                let dir = self.stein.as_mut().expect("made for SteinCD");
                let sel = dir.record(ctx, self.k, &mut enc, xneg, rule, |rec, score| {
                    model.record_score(ctx, rec, theta, xneg, b, score)
                })?;
                self.last_h = sel.h;
                let p = UpdateParams {
                    len: (m * d) as u32,
                    t: 1,
                    step_size: self.cfg.svgd_step as f32,
                    ..Default::default()
                };
                dir.record_update(ctx, self.k, &mut enc, p, xneg, &[])?;
            }
            Algo::SteinGan => {}
            Algo::Cd | Algo::Pcd => {
                for s in 0..self.cfg.k {
                    let key = stream_key(self.cfg.seed, self.t * 64 + s as u64);
                    let b = &self.neg_work;
                    match self.cfg.sampler {
                        Sampler::Gibbs => {
                            model.record_gibbs(ctx, &mut enc, theta, &self.xneg, b, key)?
                        }
                        Sampler::Langevin => {
                            model.record_score(ctx, &mut enc, theta, &self.xneg, b, &self.score)?;
                            self.k.record_langevin(
                                ctx,
                                &mut enc,
                                (self.cfg.langevin_step, key),
                                &self.score,
                                &self.xneg,
                            )?;
                        }
                    }
                }
            }
        }
        let bytes = (m * d * 4) as u64;
        let row = (d * 4) as u64;
        if let (true, Some(gc)) = (self.cfg.algo.has_generator(), self.cfg.gen.clone()) {
            // Generator step (Algorithm 2): φ at the generated batch, η ascends along
            // (1/m) Σᵢ ∂G(zᵢ)/∂η · φ(x⁻ᵢ) through Adam.
            let adam = self.adam(self.gen.as_ref().expect("checked").spec.len(), gc.lr, 0.0);
            let g = self.gen.as_mut().expect("checked");
            let x = &g.batch.x;
            let (work, dir) = (&self.neg_work, &mut g.dir);
            let score = |rec: &mut Recorder, score: &GpuVec<f32>| {
                model.record_score(ctx, rec, theta, x, work, score)
            };
            let (phi, h) = match gc.kernel {
                // "Without kernel": φ is the score itself.
                GanKernel::None => {
                    score(&mut enc, &dir.score)?;
                    (&dir.score, None)
                }
                GanKernel::Rbf => {
                    let sel = dir.record(ctx, self.k, &mut enc, x, rule, score)?;
                    if !self.cfg.algo.uses_data_direction() {
                        self.last_h = sel.h;
                    }
                    (&dir.phi, sel.h)
                }
            };
            let phi = if gc.kernel == GanKernel::Rbf && gc.phi_norm == PhiNorm::Rowsum {
                let h = h.ok_or_else(|| {
                    anyhow::anyhow!("rowsum φ: the bandwidth stays on the device")
                })?;
                g.ops
                    .record_rowsum_norm(ctx, self.k, &mut enc, &g.batch, phi, h)?;
                g.batch.rowsum_phi()
            } else {
                phi
            };
            g.ops.record_eta_grad(
                ctx,
                &mut enc,
                g.mlp,
                &g.eta,
                &g.batch,
                phi,
                1.0 / m as f64,
                &g.grad,
            )?;
            self.k.record_update(
                ctx,
                &mut enc,
                adam,
                &g.grad,
                &g.eta,
                &[&g.m_adam, &g.v_adam],
            )?;
            // The negatives: the generated batch from before the update (hybrid: row by row,
            // runs of rows from one source copied at once).
            let gx = &g.batch.x.buffer;
            if mask.is_empty() {
                enc.copy_buffer_to_buffer(gx, 0, &self.xall.buffer, bytes, bytes);
            } else {
                let mut i = 0;
                while i < m {
                    let mut j = i + 1;
                    while j < m && mask[j] == mask[i] {
                        j += 1;
                    }
                    let src = if mask[i] { &self.xneg.buffer } else { gx };
                    let off = i as u64 * row;
                    let len = (j - i) as u64 * row;
                    enc.copy_buffer_to_buffer(src, off, &self.xall.buffer, bytes + off, len);
                    i = j;
                }
            }
        } else {
            enc.copy_buffer_to_buffer(&self.xneg.buffer, 0, &self.xall.buffer, bytes, bytes);
        }
        // eq. 23: g = (1/m) Σ ∇θ f(x⁺) − (1/m) Σ ∇θ f(x⁻), then Adam ascent with weight decay.
        model.record_grad(
            ctx,
            &mut enc,
            theta,
            &self.xall,
            &self.all_work,
            &self.weights,
            &self.grad,
            log.then_some(&self.energy),
        )?;
        let p = self.adam(model.n_params(), self.cfg.lr, self.cfg.weight_decay);
        self.k.record_update(
            ctx,
            &mut enc,
            p,
            &self.grad,
            &self.theta,
            &[&self.m_adam, &self.v_adam],
        )?;
        enc.submit(ctx);
        if !log {
            return Ok(None);
        }
        let f = self.energy.read(ctx)?;
        let g = self.grad.read(ctx)?;
        let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
        let gap = mean(&f[..m]) - mean(&f[m..]);
        let norm = g.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
        let lower = self.what_to_lower();
        if !gap.is_finite() || !norm.is_finite() {
            return Err(Diverged(format!(
                "training diverged at update {} (energy gap {gap}, gradient norm {norm}); {lower}",
                self.t
            ))
            .into());
        }
        if gap.abs() > DIVERGED_GAP {
            return Err(Diverged(format!(
                "training diverged at update {}: the energy gap {gap:.3e} is beyond ±{DIVERGED_GAP:.0e}; {lower}",
                self.t
            ))
            .into());
        }
        self.check_theta_norm(&self.theta.read(ctx)?)?;
        Ok(Some((gap, norm)))
    }

    /// What to change when the run diverges: the learning rate and the step size that made
    /// the negatives.
    fn what_to_lower(&self) -> String {
        let c = &self.cfg;
        let gen_lr = c.gen.as_ref().map_or(f64::NAN, |g| g.lr);
        let sampler = match (c.algo, c.sampler) {
            (Algo::SteinCd, _) => format!(" or --svgd-step (now {})", c.svgd_step),
            (Algo::Hybrid, _) => format!(
                " or --svgd-step (now {}) or --gen-lr (now {gen_lr})",
                c.svgd_step
            ),
            (Algo::SteinGan, _) => format!(" or --gen-lr (now {gen_lr})"),
            (Algo::Cd | Algo::Pcd, Sampler::Langevin) => {
                format!(" or --langevin-step (now {})", c.langevin_step)
            }
            (Algo::Cd | Algo::Pcd, Sampler::Gibbs) => String::new(),
        };
        format!("lower --lr (now {}){sampler}", c.lr)
    }

    /// Fails with [`Diverged`] when θ holds NaN or inf or its norm exceeds
    /// [`DIVERGED_THETA_NORM`].
    fn check_theta_norm(&self, theta: &[f32]) -> Result<()> {
        let norm = theta
            .iter()
            .map(|&x| f64::from(x).powi(2))
            .sum::<f64>()
            .sqrt();
        if !norm.is_finite() || norm > DIVERGED_THETA_NORM {
            return Err(Diverged(format!(
                "training diverged by update {}: the parameter norm ‖θ‖ is {norm:.3e}, beyond {DIVERGED_THETA_NORM:.0e}; {}",
                self.t,
                self.what_to_lower()
            ))
            .into());
        }
        Ok(())
    }

    /// The kernel bandwidth of the last update's Stein direction: SteinCD's (and the
    /// hybrid's) data batch, SteinGAN's generated batch; `None` for CD and PCD and SteinGAN
    /// without kernel. Reads two floats back where the median stayed on the device.
    pub fn bandwidth(&self) -> Result<Option<f64>> {
        if self.t == 0 {
            return Ok(None);
        }
        if let Some(h) = self.last_h {
            return Ok(Some(h));
        }
        let device_h = match (&self.stein, &self.gen) {
            (Some(dir), _) => dir.bandwidth.device_h(),
            (None, Some(g))
                if self
                    .cfg
                    .gen
                    .as_ref()
                    .is_some_and(|c| c.kernel == GanKernel::Rbf) =>
            {
                g.dir.bandwidth.device_h()
            }
            _ => None,
        };
        match device_h {
            Some(h) => Ok(Some(f64::from(h.read(self.ctx)?[0]))),
            None => Ok(None),
        }
    }

    /// θ on the host.
    pub fn theta(&self) -> Result<Vec<f32>> {
        self.theta.read(self.ctx)
    }

    /// Everything a run needs to continue bit for bit: θ, Adam's moments, the persistent
    /// chains, the update count and the batch generator's state.
    pub fn checkpoint(&self) -> Result<crate::io::safetensors::Tensors> {
        let mut t = crate::io::safetensors::Tensors::default();
        let (d, m, len) = (self.model.dim(), self.cfg.batch, self.model.n_params());
        let theta = self.theta.read(self.ctx)?;
        // Never overwrite the last good checkpoint with a diverged state.
        self.check_theta_norm(&theta)?;
        t.tensors.insert("theta".into(), (vec![len], theta));
        t.tensors
            .insert("adam_m".into(), (vec![len], self.m_adam.read(self.ctx)?));
        t.tensors
            .insert("adam_v".into(), (vec![len], self.v_adam.read(self.ctx)?));
        t.tensors
            .insert("chains".into(), (vec![m, d], self.xneg.read(self.ctx)?));
        if let Some(g) = &self.gen {
            let len = g.spec.len();
            let eta = g.eta.read(self.ctx)?;
            if eta.iter().any(|v| !v.is_finite()) {
                return Err(Diverged(format!(
                    "training diverged by update {} (the generator's η holds NaN or inf); lower --gen-lr",
                    self.t
                ))
                .into());
            }
            t.tensors.insert("gen_eta".into(), (vec![len], eta));
            t.tensors
                .insert("gen_adam_m".into(), (vec![len], g.m_adam.read(self.ctx)?));
            t.tensors
                .insert("gen_adam_v".into(), (vec![len], g.v_adam.read(self.ctx)?));
        }
        let (state, spare) = self.rng.state();
        t.metadata
            .insert("format".into(), CHECKPOINT_FORMAT.to_string());
        t.metadata.insert("step".into(), self.t.to_string());
        t.metadata.insert("rng_state".into(), state.to_string());
        t.metadata.insert(
            "rng_spare".into(),
            spare.map(|v| v.to_bits().to_string()).unwrap_or_default(),
        );
        t.metadata
            .insert("chains_ready".into(), self.chains_ready.to_string());
        t.metadata
            .insert("config".into(), serde_json::to_string(&self.cfg)?);
        for (k, v) in &self.metadata {
            t.metadata.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(t)
    }

    /// Continues from a [`Trainer::checkpoint`] of a run with the same shape and batch. The
    /// checkpoint is checked in full ([`CheckpointState::read`]) before anything is written.
    pub fn restore(&mut self, t: &crate::io::safetensors::Tensors) -> Result<()> {
        let sizes = CheckpointSizes {
            params: self.model.n_params(),
            chains: self.cfg.batch * self.model.dim(),
            generator: self.gen.as_ref().map(|g| g.spec.len()),
        };
        let state = CheckpointState::read(t, sizes)?;
        self.theta.write(self.ctx, state.theta)?;
        self.m_adam.write(self.ctx, state.adam_m)?;
        self.v_adam.write(self.ctx, state.adam_v)?;
        self.xneg.write(self.ctx, state.chains)?;
        if let (Some(g), Some([eta, m, v])) = (&self.gen, state.generator) {
            g.eta.write(self.ctx, eta)?;
            g.m_adam.write(self.ctx, m)?;
            g.v_adam.write(self.ctx, v)?;
        }
        self.t = state.step;
        self.rng = state.rng;
        self.chains_ready = state.chains_ready;
        Ok(())
    }
}

/// The sizes a run's checkpoint must have: θ's length, the persistent chains' (batch × d) and,
/// in a run with a generator, η's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointSizes {
    /// Length of θ (and of each Adam moment).
    pub params: usize,
    /// Length of the persistent chains, batch × d.
    pub chains: usize,
    /// Length of the generator's η, in SteinGAN and hybrid runs.
    pub generator: Option<usize>,
}

/// A [`Trainer::checkpoint`] read back and checked against a run's sizes, on the host: what
/// [`Trainer::restore`] puts on the device.
#[derive(Clone, Debug)]
pub struct CheckpointState<'t> {
    /// θ.
    pub theta: &'t [f32],
    /// Adam's first moment of θ.
    pub adam_m: &'t [f32],
    /// Adam's second moment of θ.
    pub adam_v: &'t [f32],
    /// The persistent chains, batch × d.
    pub chains: &'t [f32],
    /// The generator's η and its Adam moments.
    pub generator: Option<[&'t [f32]; 3]>,
    /// Updates done.
    pub step: u64,
    /// The batch generator's state.
    pub rng: SplitMix64,
    /// Whether the persistent chains hold samples yet.
    pub chains_ready: bool,
}

impl<'t> CheckpointState<'t> {
    /// Checks that `t` holds every tensor of a run of `sizes`, with those lengths, and the
    /// metadata `step`, `rng_state`, `rng_spare` and `chains_ready`.
    pub fn read(
        t: &'t crate::io::safetensors::Tensors,
        sizes: CheckpointSizes,
    ) -> Result<CheckpointState<'t>> {
        let get = |k: &str, len: usize| -> Result<&'t [f32]> {
            let (_, v) = t
                .tensors
                .get(k)
                .ok_or_else(|| anyhow::anyhow!("checkpoint lacks `{k}`"))?;
            ensure!(
                v.len() == len,
                "checkpoint `{k}` has {} values, this run needs {len}; the run's shape changed",
                v.len()
            );
            Ok(v)
        };
        let len = sizes.params;
        let (theta, adam_m, adam_v) =
            (get("theta", len)?, get("adam_m", len)?, get("adam_v", len)?);
        let chains = get("chains", sizes.chains)?;
        let generator = match sizes.generator {
            Some(len) => Some([
                get("gen_eta", len)?,
                get("gen_adam_m", len)?,
                get("gen_adam_v", len)?,
            ]),
            None => None,
        };
        let meta = |k: &str| {
            t.metadata
                .get(k)
                .ok_or_else(|| anyhow::anyhow!("checkpoint lacks metadata `{k}`"))
        };
        let step = meta("step")?.parse()?;
        let spare = meta("rng_spare")?;
        let spare = if spare.is_empty() {
            None
        } else {
            Some(f64::from_bits(spare.parse()?))
        };
        let rng = SplitMix64::from_state(meta("rng_state")?.parse()?, spare);
        let chains_ready = meta("chains_ready")? == "true";
        Ok(CheckpointState {
            theta,
            adam_m,
            adam_v,
            chains,
            generator,
            step,
            rng,
            chains_ready,
        })
    }
}

/// Mean exact log-likelihood of `data` (`[N, d]`) under the RBM θ: mean f(x) −
/// log Z, f on the device in batches ([`crate::eval::mean_energy`]), log Z from the 2^H terms.
/// Returns (log-likelihood, log Z).
pub fn rbm_loglik(
    ctx: &GpuContext,
    rk: &RbmKernels,
    shape: RbmShape,
    theta: &[f32],
    data: &[f32],
) -> Result<(f64, f64)> {
    let log_z = rk.log_partition(ctx, shape, &GpuVec::from_slice(ctx, "theta", theta)?)?;
    let n = data.len() / shape.d.max(1);
    let energy = crate::model::rbm::RbmEnergy::new(ctx, rk, shape, theta, 4096.min(n.max(1)))?;
    Ok((crate::eval::mean_energy(ctx, &energy, data)? - log_z, log_z))
}
