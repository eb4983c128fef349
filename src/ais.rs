//! Annealed importance sampling for log Z on the GPU (algorithms.md §4), for any [`Energy`].
//!
//! Path log π_t(x) = (1 − t)·log N(x; 0, I) + t·f(x) on the sigmoid schedule
//! ([`cpu::ais::sigmoid_schedule`]); R independent runs of C chains start at exact samples of
//! N(0, I); at each temperature k = 1 … T−1 every chain adds (t_k − t_{k−1})·(f(x) − log N(x))
//! to its log-weight and makes one HMC transition at t_k (one leapfrog step, unit mass). log N
//! includes its normaliser, so exp(log w) estimates Z_f = ∫ exp(f(x)) dx itself: the estimate
//! is directly comparable with [`crate::model::rbm::RbmKernels::log_partition`], which includes
//! the (d/2) log 2π term. log Z = mean over runs of the log-mean-exp of each run's C weights;
//! the standard error is the spread of those R estimates / √R.
//!
//! **Step size.** Each run has its own ε, adapted after every temperature from the number of
//! its C chains that accepted:
//!
//! ```text
//! ε ← clamp(ε · (count > ⌊0.65·C⌋ ? 1.02 : 0.98), 1e-4, 0.5)
//! ```
//!
//! i.e. grow while the run's acceptance is above 65%, shrink otherwise (the target, factors
//! and clamp are [`AisConfig`] fields). Counting in integers makes the rule exact, so the f64
//! reference ([`cpu::ais::ais`]) takes the same decisions; a per-run ε keeps the runs
//! independent, so their spread is an honest standard error. (The ε of temperature k depends
//! on the run's earlier acceptances, i.e. on its chains' past: the usual adaptive-AIS
//! compromise, whose bias the exact-RBM tests bound.)
//!
//! **On the device, no readback inside the loop.** The temperature index k lives in a device
//! buffer that `ais_select`, the temperature's last kernel, advances, and t_k, t_k − t_{k−1}
//! come from a schedule buffer indexed by it, so one uniform value serves every temperature of
//! a wave (one slot of each submit's [`Recorder`] arena). Each temperature
//! records `ais_propose` (momentum and x'), the model at x' ([`Energy::record_energy_score`],
//! once per temperature: f and the score of the current state are kept and selected on
//! accept), `ais_accept` (weight and Metropolis test per chain), `ais_adapt` (step sizes) and
//! `ais_select` (accepted chains take x'; k advances). Temperatures are submitted
//! `temperatures_per_submit` at a time; only the final log-weights and counters are read back.
//! Momenta and accept uniforms come from counter-based streams keyed by the seed and k, so
//! [`cpu::ais::ais`] reproduces a run.
//!
//! Since the energy's `record_energy_score` is recorded many times into one encoder, it must
//! not rewrite a uniform with values that differ between calls (every call would see the last
//! write); the RBM's and the Gaussian's write constant uniforms.
//!
//! **Waves.** The energy evaluates a fixed batch of rows; when R·C chains do not fit one batch
//! (device limits, memory), the runs are processed in waves of `batch / C` runs. Random
//! counters use the global chain index, so the result does not depend on the wave size.
//! [`wave_chains`] suggests a batch.
//!
//! **Precision.** Per-chain log-weights are summed in f32 in slots of [`SLOT_LEN`]
//! temperatures and the slots in f64 on the host, which also adds the constant
//! Σ_k (t_k − t_{k−1})·(d/2) log 2π = (d/2) log 2π once.

use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::{ensure, Context, Result};

use crate::cpu;
use crate::gpu::params::AisParams;
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder, UniformSlot};
use crate::model::Energy;

/// Xor'ed into a temperature's stream key for the accept uniforms, so they are independent of
/// the momenta drawn from the same key.
pub const ACCEPT_STREAM: u32 = 0x68e3_1da4;

/// Temperatures per f32 partial sum of a log-weight.
pub const SLOT_LEN: usize = 32;

/// What to run. [`AisConfig::default`] is the authors' setting: 1000 temperatures, 100 runs
/// × 100 chains, one leapfrog step per temperature, target acceptance 65%, ε in [1e-4, 0.5].
#[derive(Clone, Debug, PartialEq)]
pub struct AisConfig {
    /// Temperatures T >= 2 (t_0 = 0, t_{T−1} = 1): T − 1 transitions and weight increments.
    pub temperatures: usize,
    /// Independent runs R >= 1; the standard error is their spread.
    pub runs: usize,
    /// Chains per run C >= 1; each run's estimate is the log-mean-exp of its C weights.
    pub chains: usize,
    /// Seed of the counter-based random streams.
    pub seed: u64,
    /// Every run's step size at the first temperature, within [min_step, max_step].
    pub initial_step: f64,
    /// A run's ε grows when more than ⌊target_acceptance · C⌋ of its chains accepted.
    pub target_acceptance: f64,
    /// Smallest step size.
    pub min_step: f64,
    /// Largest step size.
    pub max_step: f64,
    /// Factor on ε above the target.
    pub step_up: f64,
    /// Factor on ε at or below it.
    pub step_down: f64,
    /// Temperatures recorded into one command buffer.
    pub temperatures_per_submit: usize,
}

impl Default for AisConfig {
    fn default() -> Self {
        Self {
            temperatures: 1000,
            runs: 100,
            chains: 100,
            seed: 0,
            initial_step: 0.05,
            target_acceptance: 0.65,
            min_step: 1e-4,
            max_step: 0.5,
            step_up: 1.02,
            step_down: 0.98,
            temperatures_per_submit: 50,
        }
    }
}

impl AisConfig {
    /// Checks every field; the error says which one and why.
    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.temperatures >= 2,
            "AIS needs at least 2 temperatures (t = 0 and t = 1), got {}",
            self.temperatures
        );
        ensure!(
            self.temperatures <= 1 << 24,
            "AIS: {} temperatures is more than 2^24",
            self.temperatures
        );
        ensure!(self.runs >= 1, "AIS needs at least one run (got runs = 0)");
        ensure!(
            self.chains >= 1,
            "AIS needs at least one chain per run (got chains = 0)"
        );
        ensure!(
            self.min_step > 0.0 && self.min_step <= self.max_step && self.max_step.is_finite(),
            "AIS: step-size range [{}, {}] must be positive, finite and ordered",
            self.min_step,
            self.max_step
        );
        ensure!(
            self.initial_step >= self.min_step && self.initial_step <= self.max_step,
            "AIS: initial step size {} must lie in [{}, {}]",
            self.initial_step,
            self.min_step,
            self.max_step
        );
        ensure!(
            self.target_acceptance > 0.0 && self.target_acceptance < 1.0,
            "AIS: target acceptance {} must lie in (0, 1)",
            self.target_acceptance
        );
        ensure!(
            self.step_up >= 1.0
                && self.step_up.is_finite()
                && self.step_down > 0.0
                && self.step_down <= 1.0,
            "AIS: step factors must satisfy step_up >= 1 >= step_down > 0 (got {} and {})",
            self.step_up,
            self.step_down
        );
        ensure!(
            self.temperatures_per_submit >= 1,
            "AIS: temperatures_per_submit must be at least 1"
        );
        let steps = (self.chains as u64).checked_mul(self.temperatures as u64 - 1);
        ensure!(
            steps.is_some_and(|s| s <= u64::from(u32::MAX)),
            "AIS: chains per run × temperatures past 2^32 (acceptance counters are 32-bit)"
        );
        Ok(())
    }

    /// The step-size rule's threshold: ε grows iff more than this many of a run's C chains
    /// accepted, i.e. ⌊target · C⌋ (computed once here, shared by the GPU and the reference).
    pub fn up_above(&self) -> u32 {
        (self.target_acceptance * self.chains as f64).floor() as u32
    }
}

/// The estimate and what the run saw.
#[derive(Clone, Debug)]
pub struct AisResult {
    /// log Z_f = log ∫ exp(f(x)) dx: the mean over runs of each run's log-mean-exp.
    pub log_z: f64,
    /// Standard error: std of the R per-run estimates (ddof 1) / √R; NaN for one run.
    pub std_err: f64,
    /// Each run's estimate.
    pub per_run: Vec<f64>,
    /// Every chain's log-weight (chain c of run r at r·C + c).
    pub log_weights: Vec<f64>,
    /// Accepted transitions / all transitions.
    pub acceptance: f64,
    /// Each run's acceptance over all temperatures.
    pub run_acceptance: Vec<f64>,
    /// Acceptance of the transition at t_k over all chains, k = 1 … T−1 (at index k − 1).
    pub acceptance_by_temperature: Vec<f64>,
    /// Each run's step size after the last temperature.
    pub final_step_sizes: Vec<f64>,
    /// Accepted transitions per run.
    pub accepted: Vec<u64>,
    /// Waves the runs were processed in.
    pub waves: usize,
    /// Wall-clock seconds, uploads and readbacks included.
    pub seconds: f64,
}

/// The AIS pipelines.
pub struct AisKernels {
    init: Kernel,
    propose: Kernel,
    accept: Kernel,
    select: Kernel,
    adapt: Kernel,
}

impl AisKernels {
    /// Builds the pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self> {
        Ok(Self {
            init: Kernel::new(ctx, &shader::AIS_INIT, 64)?,
            propose: Kernel::new(ctx, &shader::AIS_PROPOSE, 256)?,
            accept: Kernel::new(ctx, &shader::AIS_ACCEPT, 64)?,
            select: Kernel::new(ctx, &shader::AIS_SELECT, 256)?,
            adapt: Kernel::new(ctx, &shader::AIS_ADAPT, 64)?,
        })
    }
}

/// A batch size for the energy: a multiple of C, at most R·C, that keeps the n·d-element
/// dispatches of 64-wide kernels (the RBM's) within `max_compute_workgroups_per_dimension`
/// and the momentum buffer (2·n·d f32) within one storage binding, with the runs split into
/// waves of equal size. Models with other limits may need a smaller batch.
pub fn wave_chains(ctx: &GpuContext, cfg: &AisConfig, d: usize) -> usize {
    let groups = u64::from(ctx.limits.max_compute_workgroups_per_dimension);
    let binding = ctx
        .limits
        .max_storage_buffer_binding_size
        .min(ctx.limits.max_buffer_size);
    let elements = (64 * groups).min(binding / 8);
    let fit_runs = (elements / (d.max(1) as u64 * cfg.chains.max(1) as u64)).max(1) as usize;
    let runs = cfg.runs.max(1);
    let waves = runs.div_ceil(fit_runs);
    runs.div_ceil(waves) * cfg.chains.max(1)
}

/// [`ais_log_partition_with_progress`] without a progress callback.
pub fn ais_log_partition(
    ctx: &GpuContext,
    kernels: &AisKernels,
    energy: &dyn Energy,
    cfg: &AisConfig,
) -> Result<AisResult> {
    ais_log_partition_with_progress(ctx, kernels, energy, cfg, &mut |_, _| {
        ControlFlow::Continue(())
    })
}

/// Device buffers of one wave of `n` chains in `d` dimensions.
struct WaveState {
    sched: GpuVec<f32>,
    run_state: GpuVec<u32>,
    x: GpuVec<f32>,
    gx: GpuVec<f32>,
    xp: GpuVec<f32>,
    gp: GpuVec<f32>,
    fp: GpuVec<f32>,
    mom: GpuVec<f32>,
    chain: GpuVec<f32>,
    history: GpuVec<u32>,
}

/// Estimates log ∫ exp(f(x)) dx of `energy` by AIS. The energy's batch must be a positive
/// multiple of `cfg.chains` ([`wave_chains`] suggests one); `progress(done, total)` is called
/// as temperature steps (summed over waves) complete, and on [`ControlFlow::Break`] the
/// estimate stops there with the error [`crate::run::Interrupted`] (an unfinished AIS
/// estimate is worth nothing).
pub fn ais_log_partition_with_progress(
    ctx: &GpuContext,
    k: &AisKernels,
    energy: &dyn Energy,
    cfg: &AisConfig,
    progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
) -> Result<AisResult> {
    let start = Instant::now();
    cfg.validate()?;
    let (d, n, chains) = (energy.dim(), energy.batch(), cfg.chains);
    ensure!(d >= 1, "AIS: the energy has dimension 0");
    ensure!(
        n >= chains && n.is_multiple_of(chains),
        "AIS: the energy evaluates batches of {n} rows, which must be a positive multiple of the {chains} chains per run (ais::wave_chains suggests a batch)"
    );
    let wave_runs = n / chains;
    let waves = cfg.runs.div_ceil(wave_runs);
    let counters = (waves as u64)
        .checked_mul(n as u64)
        .and_then(|c| c.checked_mul(d as u64));
    ensure!(
        counters.is_some_and(|c| c <= u64::from(u32::MAX)),
        "AIS: {} runs of {chains} chains × {d} dimensions exceed the 2^32 counters of the random streams; use fewer runs or chains",
        cfg.runs
    );
    ctx.check_loop("ais_accept (d coordinates per chain)", d as u64 + 8)?;
    ctx.check_loop("ais_adapt (C chains per run)", chains as u64 + 8)?;
    let temps = cfg.temperatures;
    let slots = (temps - 1).div_ceil(SLOT_LEN);
    let nd = n * d;

    let t = cpu::ais::sigmoid_schedule(temps);
    let mut sched: Vec<f32> = t.iter().map(|&v| v as f32).collect();
    sched.push(0.0);
    sched.extend(t.windows(2).map(|w| (w[1] - w[0]) as f32));
    let s = WaveState {
        sched: GpuVec::from_slice(ctx, "ais schedule", &sched)?,
        run_state: GpuVec::zeros(ctx, "ais run state", 1 + 2 * wave_runs)?,
        x: GpuVec::zeros(ctx, "ais x", nd)?,
        gx: GpuVec::zeros(ctx, "ais score(x)", nd)?,
        xp: GpuVec::zeros(ctx, "ais proposal", nd)?,
        gp: GpuVec::zeros(ctx, "ais score(proposal)", nd)?,
        fp: GpuVec::zeros(ctx, "ais f(proposal)", n)?,
        mom: GpuVec::zeros(ctx, "ais momentum", 2 * nd)?,
        chain: GpuVec::zeros(ctx, "ais chain state", (3 + slots) * n)?,
        history: GpuVec::zeros(ctx, "ais acceptance history", (temps - 1) * wave_runs)?,
    };
    let g_chain = k.accept.groups_for(ctx, n)?;
    let g_coord = k.propose.groups_for(ctx, nd)?;
    let g_run = k.adapt.groups_for(ctx, wave_runs)?;

    let total_steps = waves * (temps - 1);
    let mut log_weights = Vec::with_capacity(waves * n);
    let mut accepted = Vec::with_capacity(waves * wave_runs);
    let mut final_step_sizes = Vec::with_capacity(waves * wave_runs);
    let mut by_temperature = vec![0u64; temps - 1];
    for wave in 0..waves {
        let params = AisParams {
            n: n as u32,
            d: d as u32,
            chains: chains as u32,
            runs: wave_runs as u32,
            temperatures: temps as u32,
            first_chain: (wave * n) as u32,
            seed: cpu::hash::fold_seed(cfg.seed),
            accept_stream: ACCEPT_STREAM,
            slot_len: SLOT_LEN as u32,
            up_above: cfg.up_above(),
            eps_min: cfg.min_step as f32,
            eps_max: cfg.max_step as f32,
            eps_up: cfg.step_up as f32,
            eps_down: cfg.step_down as f32,
            _pad: [0; 2],
        };
        let mut state = vec![1u32];
        state.extend(std::iter::repeat_n(
            (cfg.initial_step as f32).to_bits(),
            wave_runs,
        ));
        state.extend(std::iter::repeat_n(0, wave_runs));
        s.run_state.write(ctx, &state)?;

        // Every encoder of the wave binds the wave's uniform from its own arena.
        let mut enc = Recorder::new(ctx);
        let first = enc.uniform(ctx, &params);
        enc.clear_buffer(&s.chain.buffer, 0, None);
        k.init.record_with(
            ctx,
            &mut enc,
            &first,
            &[&s.x.buffer, &s.chain.buffer],
            g_chain,
        )?;
        // f(x) into the chain state's first n entries, its score into gx.
        energy.record_energy_score(ctx, &mut enc, &s.x, &s.chain, &s.gx)?;
        let mut uniform = Some(first);
        let mut pending: Option<(wgpu::SubmissionIndex, usize)> = None;
        for step in 1..temps {
            let p = uniform.get_or_insert_with(|| enc.uniform(ctx, &params));
            record_temperature(ctx, k, energy, &s, &mut enc, p, (g_coord, g_chain, g_run))?;
            if step % cfg.temperatures_per_submit == 0 || step == temps - 1 {
                let done = std::mem::replace(&mut enc, Recorder::new(ctx));
                uniform = None;
                let index = done.submit(ctx);
                // Keep one batch queued behind the one running: wait for the previous.
                if let Some((prev, prev_step)) = pending.replace((index, step)) {
                    wait_for(ctx, prev)?;
                    let done = wave * (temps - 1) + prev_step;
                    if progress(done, total_steps).is_break() {
                        ctx.wait().context("AIS on the device")?;
                        return Err(crate::run::Interrupted {
                            done: done as u64,
                            total: total_steps as u64,
                            unit: "AIS temperature steps",
                        }
                        .into());
                    }
                }
            }
        }
        drop(enc);
        ctx.wait().context("AIS on the device")?;
        let done = (wave + 1) * (temps - 1);
        if progress(done, total_steps).is_break() && wave + 1 < waves {
            return Err(crate::run::Interrupted {
                done: done as u64,
                total: total_steps as u64,
                unit: "AIS temperature steps",
            }
            .into());
        }

        let chain_state = s.chain.read(ctx)?;
        let run_state = s.run_state.read(ctx)?;
        let log_2pi = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        for i in 0..n {
            let w: f64 = (0..slots)
                .map(|slot| f64::from(chain_state[(3 + slot) * n + i]))
                .sum();
            log_weights.push(log_2pi + w);
        }
        let history = s.history.read(ctx)?;
        let real_runs = wave_runs.min(cfg.runs - wave * wave_runs);
        for (step, total) in by_temperature.iter_mut().enumerate() {
            *total += history[step * wave_runs..step * wave_runs + real_runs]
                .iter()
                .map(|&c| u64::from(c))
                .sum::<u64>();
        }
        for r in 0..wave_runs {
            final_step_sizes.push(f64::from(f32::from_bits(run_state[1 + r])));
            accepted.push(u64::from(run_state[1 + wave_runs + r]));
        }
    }
    // Drop the padding runs of the last wave.
    log_weights.truncate(cfg.runs * chains);
    accepted.truncate(cfg.runs);
    final_step_sizes.truncate(cfg.runs);
    ensure!(
        log_weights.iter().all(|w| w.is_finite()),
        "AIS: {} of {} log-weights are not finite (the model returned NaN or inf along the path)",
        log_weights.iter().filter(|w| !w.is_finite()).count(),
        log_weights.len()
    );
    let (log_z, std_err, per_run) = cpu::ais::estimate(&log_weights, chains);
    let per_transition = (chains * (temps - 1)) as f64;
    let run_acceptance: Vec<f64> = accepted
        .iter()
        .map(|&a| a as f64 / per_transition)
        .collect();
    let acceptance = run_acceptance.iter().sum::<f64>() / cfg.runs as f64;
    let all_chains = (cfg.runs * chains) as f64;
    let acceptance_by_temperature = by_temperature
        .iter()
        .map(|&a| a as f64 / all_chains)
        .collect();
    Ok(AisResult {
        log_z,
        std_err,
        per_run,
        log_weights,
        acceptance,
        run_acceptance,
        acceptance_by_temperature,
        final_step_sizes,
        accepted,
        waves,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Records one temperature: propose, the model at the proposal, accept, adapt, select.
/// A dispatch grid ([`crate::gpu::pipeline::Kernel::groups_for`]).
type Grid = (u32, u32, u32);

fn record_temperature(
    ctx: &GpuContext,
    k: &AisKernels,
    energy: &dyn Energy,
    s: &WaveState,
    enc: &mut Recorder,
    params: &UniformSlot,
    (g_coord, g_chain, g_run): (Grid, Grid, Grid),
) -> Result<()> {
    k.propose.record_with(
        ctx,
        enc,
        params,
        &[
            &s.sched.buffer,
            &s.run_state.buffer,
            &s.x.buffer,
            &s.gx.buffer,
            &s.mom.buffer,
            &s.xp.buffer,
        ],
        g_coord,
    )?;
    energy.record_energy_score(ctx, enc, &s.xp, &s.fp, &s.gp)?;
    k.accept.record_with(
        ctx,
        enc,
        params,
        &[
            &s.sched.buffer,
            &s.run_state.buffer,
            &s.xp.buffer,
            &s.gp.buffer,
            &s.mom.buffer,
            &s.fp.buffer,
            &s.chain.buffer,
        ],
        g_chain,
    )?;
    k.adapt.record_with(
        ctx,
        enc,
        params,
        &[&s.chain.buffer, &s.run_state.buffer, &s.history.buffer],
        g_run,
    )?;
    // Last: it advances k, which every kernel above reads.
    k.select.record_with(
        ctx,
        enc,
        params,
        &[
            &s.chain.buffer,
            &s.xp.buffer,
            &s.gp.buffer,
            &s.x.buffer,
            &s.gx.buffer,
            &s.run_state.buffer,
        ],
        g_coord,
    )
}

fn wait_for(ctx: &GpuContext, index: wgpu::SubmissionIndex) -> Result<()> {
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(index),
            timeout: None,
        })
        .context("waiting for an AIS batch")?;
    Ok(())
}
