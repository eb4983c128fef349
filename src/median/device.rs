//! The exact median of algorithms.md §1 recorded into a command encoder: every pass of the
//! selection runs on the device and leaves its result in device buffers (the bandwidth
//! (h, 1/h) that φ reads, and a small state buffer the host reads only when asked), so a step
//! with the median bandwidth is one submit with no readback.
//!
//! The algorithm is [`super::MedianSelector`]'s, with the host's decisions made by
//! one-workgroup stages (`median_control.wgsl`) between the passes:
//! 1. `pair_sample` draws S hashed pairs (none up to M = 2¹⁹ pairs: see below);
//!    `select_hist` + PICK select the sample's order statistics at the bracket positions (±5
//!    standard errors of a sample quantile, plus two), and BRACKET makes them [lo, hi].
//! 2. `pair_bracket` (list mode; its bracket copied in from the state) counts each row's
//!    distances below lo and inside, and lists the inside ones into per-row slots sized, as
//!    the host selector sizes them, from the sample's share. PLAN checks the wanted ranks lie
//!    inside, and plans for each row where its candidates are.
//! 3. A row that found more than its slots (a dense neighbourhood) is listed again, complete,
//!    by `pair_row_list` into a region after the slots (indirect dispatch: as many
//!    workgroups as such rows, none usually).
//! 4. `median_gather` packs the candidates densely; four radix rounds (`select_hist` + PICK,
//!    8 bits each) select the two order statistics exactly from the f32 bit patterns.
//! 5. If the bracket missed a rank or too many rows overflowed (the sample misled: rare),
//!    NARROW rounds take over: `pair_histogram` over all pairs (indirect: no workgroups
//!    otherwise), 1024 bins a round, four rounds a statistic, each exact.
//! 6. RESOLVE puts the two values (0 for a diagonal rank) in `sel`; `median_finish` computes
//!    h = med / ln(n + 1) and 1/h in exactly rounded binary64 arithmetic and writes f32
//!    (h, 1/h), the same bits as the host's `(1.0 / from_median(med, n)) as f32`.
//!
//! Up to M = 2¹⁹ pairs (n ≤ 1024) no sample is drawn: the list pass (`pair_bracket`, mode 2)
//! lists the pairs inside a bracket the previous selection left in the state, at the start of
//! each row's region, and `median_small` (one workgroup) does the rest. The bracket is
//! [0, +inf] the first time and after a NaN (every pair listed, selected among in one
//! workgroup), else a guess: the previous statistics ± a relative width that follows the
//! values it held and how far the statistics moved. Where the guess holds both ranks,
//! `median_small` gathers the rows' values inside it (about two thousand) and selects among
//! them; where it misses a rank, `median_small` lists every pair itself and selects among
//! them (up to M·d = 2¹⁸ pair coordinates), or a second list pass of every pair and a second
//! `median_small` stage follow (indirect: no workgroups otherwise). Particles that move
//! steadily keep the guess (the banana target at step size 0.05: every selection but the
//! first, n = 128–1024). Up to M·d = 2¹⁶ pair coordinates (2¹⁵ past 2¹⁴ pairs) no list
//! pass runs: `median_small` computes every pair's distance itself each time, counting them
//! against the guess as it writes them, and takes the guess as its selection's first bracket
//! (one dispatch, where the list pass is one workgroup anyway).
//!
//! Every count is an integer and every selection depends only on the multiset of f32
//! distances, which every pass computes with the same expression: the result is the host
//! selector's, bit for bit, and the same on every run. Ranks are u32 on the device, so this
//! path serves n ≤ 92 681 (M < 2³²) and, on llvmpipe, n within its loop limit
//! ([`DeviceMedian::fits`]); [`crate::bandwidth`] takes the host selector beyond.

use std::sync::Arc;

use anyhow::{ensure, Result};

use super::{pairs, MedianResult};
use crate::gpu::params::{MedianParams, SelectParams};
use crate::gpu::pipeline::Kernel;
use crate::gpu::shader;
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::kernels::{DeviceBracket, Kernels, XTexture};

/// Indices into the state buffer (shaders/common/median_state.wgsl).
pub(crate) mod st {
    pub const LO: usize = 0;
    pub const HI: usize = 1;
    pub const FLAGS: usize = 2;
    pub const INSIDE: usize = 4;
    pub const OVF: usize = 12;
    pub const NLO: usize = 13;
    pub const SEL0: usize = 18;
    pub const IND_ROWS: usize = 20;
    pub const IND_HIST: usize = 24;
    pub const IND_NARROW: usize = 28;
    pub const WHOLE: usize = 31;
    pub const GUESSES: usize = 36;
    pub const CURSOR: usize = 40;
    pub const FLAG_NARROW: u32 = 1;
    pub const FLAG_NAN: u32 = 2;
}

/// median_control's stages (its consts).
#[derive(Clone, Copy)]
enum Stage {
    Begin = 0,
    Pick = 1,
    Bracket = 2,
    Plan = 3,
    Narrow = 4,
    Resolve = 5,
}

/// The longest list `select_small` selects from (one workgroup reads it four times).
const SMALL: usize = 1 << 16;
/// The most pairs listed for `median_small` (n ≤ 1024), past which the sample brackets the
/// list pass. Below it the list pass behind the previous selection's guess and one
/// workgroup's selection among the few pairs inside cost less than the sampled path's
/// twenty-odd dispatches (banana target on llvmpipe, 300 steps: 2.8 against 4.3 ms a step at
/// n = 700, 4.2 against 6.0 at n = 1024); past it the first selection, and any after a
/// missed guess, select among every pair in one workgroup, whose radix rounds over 2¹⁹ pairs
/// loop 4·2¹⁹/64 = 32 768 times an invocation, within llvmpipe's limit of 65 535 (at
/// n = 1448 they passed it and the selection was wrong).
const LIST_ALL: u64 = 1 << 19;
/// The most pair coordinates, M·d, for which median_small lists every pair itself where the
/// guess missed a rank (median_small.wgsl's p.round = 1): one workgroup computes what the list
/// pass's many do, a few milliseconds on llvmpipe at the limit, its loops at most 2¹⁸/64 + n
/// times an invocation; past it a second list pass and a second stage are recorded every step,
/// empty unless the guess missed (on llvmpipe an empty dispatch still costs tens of
/// microseconds to start).
const OWN_MISS_WORK: u64 = 1 << 18;
// list_own's loops after a miss, within llvmpipe's loop limit (GpuContext::loop_limit).
const _: () = assert!(OWN_MISS_WORK / SMALL_WG + 1024 < 60_000);
/// The most pair coordinates, M·d, for which median_small lists every pair itself each time,
/// counting them against the guess as it writes them (median_small.wgsl's p.round = 2), where
/// M ≤ OWN_PAIRS; half as many past it. One dispatch where the x texture's packing, the list
/// pass and median_small were three. At these sizes the list pass is one workgroup anyway (its
/// row blocks hold 256 or 512 rows), and on llvmpipe each dispatch costs tens of microseconds
/// to start (1000 steps, medians of six runs: banana target, n = 64, 0.82 → 0.67 ms a step,
/// n = 150, 1.17 → 0.94; funnel, n = 181, d = 3: 1.26 → 1.08). Past it the list pass's
/// kernels, rows in registers and columns shared through the subgroup, compute the pairs
/// faster than one workgroup's loop (at n = 256, d = 2, 2¹⁶ coordinates but 2¹⁵ pairs, the own
/// list was the slower). Its loops run at most 2¹⁶/64 + n times an invocation, far within
/// llvmpipe's loop limit.
const OWN_WORK: u64 = 1 << 16;
/// See OWN_WORK.
const OWN_PAIRS: u64 = 1 << 14;
/// select_small's and median_small's workgroup size.
const SMALL_WG: u64 = 64;
/// Radix rounds of 8 bits over f32 bit patterns.
const RADIX_ROUNDS: u32 = 4;
/// Narrowing rounds per order statistic: pair_histogram's 2048 bins take [0, +inf] (2³¹ bit
/// patterns) to one value in three (widths 2²⁰, 2⁹, 1), where 1024 bins took four; the
/// rounds are recorded every step (indirect, with no workgroups unless the sample misled), so
/// each one fewer is two dispatches fewer (median_control.wgsl's NARROW_ROUNDS).
pub(crate) const NARROW_ROUNDS: u32 = 3;

/// The device median's buffers and plan for `n` particles in `d` dimensions.
pub struct DeviceMedian {
    n: usize,
    d: usize,
    /// The static part of every stage's uniform.
    base: MedianParams,
    /// select_hist's workgroups.
    groups: u32,
    sample: GpuVec<f32>,
    offsets: GpuVec<u32>,
    counts: GpuVec<u32>,
    list: GpuVec<f32>,
    dense: GpuVec<f32>,
    rowplan: GpuVec<u32>,
    ovf: GpuVec<u32>,
    hist: GpuVec<u32>,
    st: GpuVec<u32>,
    /// The indirect dispatches' arguments, copied from the state (a buffer cannot be a
    /// pass's indirect arguments and bound writable in it).
    args: GpuVec<u32>,
    sel: GpuVec<u32>,
    /// median_small's values gathered from inside a guessed bracket, or its own list of
    /// every pair (DeviceMedian::lists_own).
    scratch: GpuVec<u32>,
    /// (h, 1/h), written by the recorded passes; φ reads 1/h.
    pub h: GpuVec<f32>,
    xt: Option<XTexture>,
    calls: u32,
    control: Arc<Kernel>,
    select_hist: Arc<Kernel>,
    select_small: Arc<Kernel>,
    small: Arc<Kernel>,
    row_list: Arc<Kernel>,
    gather: Arc<Kernel>,
}

/// Settings that force the rare paths (tests): the sample size (`Some(0)`: list every
/// pair), a factor on the rows' slots (below 1: rows overflow and are listed again), and the
/// most rows listed again (0: any overflow takes the narrowing passes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    /// Pairs sampled, instead of the plan's.
    pub samples: Option<usize>,
    /// Factor on every row's slots.
    pub slot_scale: f64,
    /// Rows listed again at most, instead of min(n, 65535).
    pub rows_max: Option<usize>,
    /// The one-workgroup selections' bracket half-width in standard deviations, instead of 3
    /// (below zero: no value inside, so they select over every value; and median_small
    /// never guesses).
    pub radix_sigmas: Option<f64>,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            samples: None,
            slot_scale: 1.0,
            rows_max: None,
            radix_sigmas: None,
        }
    }
}

/// The static plan: sample size, bracket positions, per-row slots.
struct Plan {
    samples: usize,
    lo_idx: i64,
    hi_idx: i64,
    slots: Vec<u64>,
}

/// The list capacity the host selector allows (its `capacity` clamp), and the most sampled
/// pairs this path draws to keep the slots within it.
const LIST_MAX: u64 = 1 << 24;
const SAMPLES_MAX: usize = 1 << 24;

impl DeviceMedian {
    /// Whether (n, d) can take this path on this device: n ≥ 1, n(n−1)/2 < 2³², and (on
    /// llvmpipe) a row's candidates within the loop limit of one invocation.
    pub fn fits(ctx: &GpuContext, n: usize) -> bool {
        n >= 1 && pairs(n) < 1 << 32 && ctx.loop_fits(n as u64 + 2)
    }

    /// The full ranks (of the n² multiset) the median averages: NumPy's middle one, or two.
    fn full_ranks(n: usize) -> [u64; 2] {
        let total = n as u64 * n as u64;
        if total % 2 == 1 {
            [total / 2; 2]
        } else {
            [total / 2 - 1, total / 2]
        }
    }

    /// Pairs to sample for M pairs: none up to LIST_ALL (every pair is listed), else about
    /// (10·M)^⅔ (in [2¹², 2²²]), which balances the two radix selections: the sample's S
    /// values against the bracket's ≈ 10·M/√S candidates, and keeps memory growing as
    /// n^(4/3) rather than n² (the sample's size changes the work, never the result).
    fn sample_size(m: u64) -> usize {
        if m <= LIST_ALL {
            return 0;
        }
        let s = (10.0 * m as f64).powf(2.0 / 3.0) as usize;
        s.next_multiple_of(1 << 12).clamp(1 << 12, 1 << 22)
    }

    /// The state before the first selection: no guess, and the bracket [0, +inf] for the
    /// list pass of every pair (median_small.wgsl).
    fn initial_state(rows_max: usize) -> Vec<u32> {
        let mut s = vec![0; st::CURSOR + rows_max.max(1)];
        s[st::HI] = f32::INFINITY.to_bits();
        s
    }

    /// The sample and the slots, as [`super::MedianSelector`] plans them (a larger sample
    /// where its slots would outgrow the list).
    fn plan(n: usize, k: [u64; 2], knobs: Knobs) -> Plan {
        let m = pairs(n);
        let mut samples = Self::sample_size(m);
        if let Some(s) = knobs.samples {
            samples = if n >= 2 { s.min(m as usize) } else { 0 };
        }
        loop {
            let (lo_idx, hi_idx, share) = if samples == 0 {
                (0, 0, 1.0)
            } else {
                let s = samples as f64;
                let position = |r: u64, side: f64| -> i64 {
                    let q = r as f64 / m as f64;
                    let sd = (s * q * (1.0 - q)).sqrt();
                    (q * s + side * (5.0 * sd + 2.0)).floor() as i64
                };
                let lo_idx = position(k[0], -1.0);
                let hi_idx = position(k[1], 1.0) + 1;
                let share =
                    ((hi_idx.min(samples as i64) - lo_idx.max(0)) as f64 / s).clamp(0.0, 1.0);
                (lo_idx, hi_idx, share)
            };
            let slots: Vec<u64> = (0..n)
                .map(|i| {
                    let mi = (n - 1 - i) as f64;
                    if share >= 1.0 {
                        mi as u64
                    } else {
                        ((mi * share * 1.25 + 3.0 * (mi * share).sqrt() + 4.0).ceil()
                            * knobs.slot_scale)
                            .floor()
                            .min(mi) as u64
                    }
                })
                .collect();
            let total: u64 = slots.iter().sum();
            if samples == 0
                || total <= LIST_MAX
                || samples >= SAMPLES_MAX
                || knobs.samples.is_some()
            {
                return Plan {
                    samples,
                    lo_idx,
                    hi_idx,
                    slots,
                };
            }
            samples = (samples * 4).min(SAMPLES_MAX).min(m as usize);
        }
    }

    /// Plans and allocates for `n` particles in `d` dimensions ([`DeviceMedian::fits`]).
    pub fn new(ctx: &GpuContext, k: &Kernels, n: usize, d: usize) -> Result<Self> {
        Self::with_knobs(ctx, k, n, d, Knobs::default())
    }

    /// [`DeviceMedian::new`] with the rare paths forced ([`Knobs`]; tests).
    pub fn with_knobs(
        ctx: &GpuContext,
        k: &Kernels,
        n: usize,
        d: usize,
        knobs: Knobs,
    ) -> Result<Self> {
        ensure!(
            Self::fits(ctx, n) && d >= 1,
            "device median: n = {n} is past this path (n(n-1)/2 < 2^32, and the loop limit)"
        );
        let m = pairs(n);
        let full = Self::full_ranks(n);
        let zero = [full[0] < n as u64, full[1] < n as u64];
        let kq = full.map(|r| r.saturating_sub(n as u64) / 2);
        // Off-diagonal ranks of the statistics that are not diagonal zeros (either, for both).
        let ranks = match zero {
            [true, false] => [kq[1], kq[1]],
            [false, true] => [kq[0], kq[0]],
            _ => kq,
        };
        let plan = Self::plan(n, ranks, knobs);
        let slot_total: u64 = plan.slots.iter().sum();
        // The region for rows listed again: a quarter of the slots (at n = 16 384 one or two
        // rows overflow a step), at least 4096 values, at most what all pairs need.
        let region = if plan.samples == 0 {
            1
        } else {
            // (Slots cut by a knob leave up to every pair to list again.)
            if knobs.slot_scale < 1.0 {
                m
            } else {
                (slot_total / 4).max(4096).min(m.max(1))
            }
        };
        let capacity = slot_total + region;
        ensure!(
            capacity < 1 << 32,
            "device median: a list of {capacity} values for n = {n}"
        );
        let rows_max = knobs.rows_max.unwrap_or(n).min(n).min(65_535);
        let mut offsets = Vec::with_capacity(n + 1);
        let mut at = 0u32;
        offsets.push(0);
        for &sl in &plan.slots {
            at += sl as u32;
            offsets.push(at);
        }
        let samples = plan.samples;
        // Every pair listed for median_small (DeviceMedian::list_all), by itself where
        // DeviceMedian::lists_own (no list pass: no list, no x texture).
        let lists_all = samples == 0 && m <= LIST_ALL;
        let own = lists_all && n >= 2 && Self::own_list(m, d);
        let mut flags = u32::from(zero[0]) | u32::from(zero[1]) << 1;
        if plan.lo_idx < 0 {
            flags |= 4;
        }
        if plan.hi_idx >= samples as i64 {
            flags |= 8;
        }
        // pair_row_list: columns per workgroup within the loop limit (d + 2 passes a column).
        let per = (ctx.loop_budget() / (d as u64 + 3)).clamp(1, 1 << 16);
        let chunk = (64 * per).min(n.next_multiple_of(64) as u64) as u32;
        let row_chunks = (n as u32).div_ceil(chunk);
        let count_max = (capacity as usize).max(samples);
        let groups = count_max.div_ceil(256 * 16).clamp(1, 128) as u32;
        let hgroups = n.div_ceil(256);
        // median_small's ln(n + 1), the host's f64, as its bits.
        let ln = crate::bandwidth::log_n1(n).to_bits();
        let base = MedianParams {
            n: n as u32,
            d: d as u32,
            samples: samples as u32,
            lo_idx: plan.lo_idx.max(0) as u32,
            hi_idx: plan.hi_idx.clamp(0, samples.max(1) as i64 - 1) as u32,
            k0: ranks[0].min(ranks[1]) as u32,
            k1: ranks[0].max(ranks[1]) as u32,
            flags,
            slot_total: slot_total as u32,
            region: region as u32,
            rows_max: rows_max as u32,
            chunk,
            m: m as u32,
            ln_hi: (ln >> 32) as u32,
            ln_lo: ln as u32,
            round: row_chunks,
            groups: hgroups as u32,
            ..Default::default()
        };
        ctx.check_loop(
            "select_hist (values an invocation)",
            count_max as u64 / (256 * u64::from(groups)) + 2,
        )?;
        if lists_all {
            // median_small's radix rounds over every pair: one loop, RADIX_ROUNDS times.
            ctx.check_loop(
                "median_small (values an invocation)",
                u64::from(RADIX_ROUNDS) * m.div_ceil(SMALL_WG) + 2,
            )?;
        }
        k.bracket_plan(ctx, n, d)?;
        k.histogram_plan(ctx, n, d)?;
        let cached = |spec, wg| k.cached(ctx, spec, wg, &[]);
        let sigmas = knobs.radix_sigmas.map(|s| vec![("RADIX_SIGMAS", s)]);
        // select_small and median_small: SMALL_WG invocations, the tests' bracket width.
        let radix = |spec| k.cached(ctx, spec, SMALL_WG as u32, sigmas.as_deref().unwrap_or(&[]));
        Ok(Self {
            n,
            d,
            base,
            groups,
            sample: GpuVec::zeros(ctx, "median sample", samples.max(1))?,
            offsets: GpuVec::from_slice(ctx, "median slots", &offsets)?,
            counts: GpuVec::zeros(ctx, "median counts", 2 * n)?,
            list: GpuVec::zeros(
                ctx,
                "median candidates",
                if own { 1 } else { capacity as usize },
            )?,
            dense: GpuVec::zeros(
                ctx,
                "median dense candidates",
                if samples == 0 { 1 } else { capacity as usize },
            )?,
            rowplan: GpuVec::zeros(ctx, "median row plan", 2 * n)?,
            ovf: GpuVec::zeros(ctx, "median relisted rows", rows_max.max(1))?,
            hist: GpuVec::zeros(
                ctx,
                "median histograms",
                (groups as usize * 513).max(hgroups * (crate::kernels::HISTOGRAM_BINS + 1)),
            )?,
            st: GpuVec::from_slice(ctx, "median state", &Self::initial_state(rows_max))?,
            args: GpuVec::zeros(ctx, "median indirect arguments", 12)?,
            sel: GpuVec::zeros(ctx, "median order statistics", 2)?,
            h: GpuVec::nan_filled(ctx, "median h", 2)?,
            scratch: GpuVec::zeros(
                ctx,
                "median gathered or own-listed pairs",
                if lists_all { m.max(1) as usize } else { 1 },
            )?,
            xt: if k.median_x_texture(n, d) && !own {
                Some(XTexture::new(ctx, n, d)?)
            } else {
                None
            },
            calls: 0,
            control: cached(&shader::MEDIAN_CONTROL, 256)?,
            select_hist: cached(&shader::SELECT_HIST, 256)?,
            select_small: radix(&shader::SELECT_SMALL)?,
            small: radix(&shader::MEDIAN_SMALL)?,
            row_list: cached(&shader::PAIR_ROW_LIST, 64)?,
            gather: cached(&shader::MEDIAN_GATHER, 64)?,
        })
    }

    /// Bytes of device memory held.
    pub fn device_bytes(&self) -> u64 {
        [
            self.sample.bytes(),
            self.offsets.bytes(),
            self.counts.bytes(),
            self.list.bytes(),
            self.dense.bytes(),
            self.rowplan.bytes(),
            self.ovf.bytes(),
            self.hist.bytes(),
            self.st.bytes(),
            self.args.bytes(),
            self.sel.bytes(),
            self.h.bytes(),
            self.scratch.bytes(),
            self.xt.as_ref().map_or(0, |t| t.bytes()),
        ]
        .iter()
        .sum()
    }

    /// Records the whole selection for the particles `x` (`[n, d]`, written earlier in `enc`
    /// or before it): afterwards [`DeviceMedian::h`] holds (h, 1/h).
    pub fn record(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
    ) -> Result<()> {
        ensure!(
            x.len >= self.n * self.d,
            "median: particle buffer shorter than n·d"
        );
        // The host selector's seed rule: its sample is the same for the same call count.
        self.calls = self.calls.wrapping_add(1);
        if self.list_all() {
            // Every pair listed: the list pass (behind the previous selection's guess, or
            // [0, +inf]), then median_small (stage 1) does the rest at once; where the guess
            // missed a rank, median_small lists every pair itself (up to OWN_MISS_WORK), or a
            // second list pass of every pair and stage 2 follow (indirect: no workgroups
            // otherwise). Up to OWN_WORK (own_list) median_small alone: it lists every pair
            // itself.
            let own = self.lists_own();
            let own_miss = self.own_miss();
            if !own {
                self.record_list(ctx, k, enc, x)?;
            }
            let blocks = self.row_blocks(k);
            let small = |stage| MedianParams {
                stage,
                groups: blocks,
                round: if own { 2 } else { u32::from(own_miss) },
                ..self.base
            };
            let buffers = [
                &self.list.buffer,
                &self.scratch.buffer,
                &self.counts.buffer,
                &self.offsets.buffer,
                &self.st.buffer,
                &self.h.buffer,
                &x.buffer,
            ];
            let u = enc.uniform(ctx, &small(1));
            self.small.record_with(ctx, enc, &u, &buffers, (1, 1, 1))?;
            if own || own_miss {
                return Ok(());
            }
            self.copy_args(enc);
            let relist = SelectParams {
                mode: 1,
                ..self.select_params()
            };
            k.record_pair_bracket_blocks(
                ctx,
                enc,
                relist,
                0..blocks,
                (x, self.xt.as_ref()),
                &self.offsets,
                &self.counts,
                &self.list,
                Some(self.list_bracket(Some((&self.args.buffer, 0)))),
            )?;
            let u = enc.uniform(ctx, &small(2));
            let mut resources = vec![u.binding()];
            resources.extend(buffers.iter().map(|b| b.as_entire_binding()));
            return self
                .small
                .record_indirect(ctx, enc, &resources, &self.args.buffer, 32);
        }
        self.stage(ctx, enc, Stage::Begin, 0, 0)?;
        if self.n >= 2 {
            self.record_passes(ctx, k, enc, x)?;
        }
        self.stage(ctx, enc, Stage::Resolve, 0, 0)?;
        let sel = (st::SEL0 * 4) as u64;
        enc.copy_buffer_to_buffer(&self.st.buffer, sel, &self.sel.buffer, 0, 8);
        k.record_median_finish(ctx, enc, self.n, &self.sel, &self.h)
    }

    /// Whether every pair is listed and median_small selects (n ≥ 2, M ≤ LIST_ALL).
    fn list_all(&self) -> bool {
        self.base.samples == 0 && self.n >= 2 && u64::from(self.base.m) <= LIST_ALL
    }

    /// Whether `median_small` lists every pair itself each time, with no list pass, and takes
    /// the previous selection's guess as its one-workgroup selection's first bracket (every
    /// pair listed, M·d ≤ 2¹⁶ pair coordinates where M ≤ 2¹⁴ pairs, 2¹⁵ past it); else the
    /// list pass runs (tests choose their sizes by it).
    pub fn lists_own(&self) -> bool {
        self.list_all() && Self::own_list(u64::from(self.base.m), self.d)
    }

    /// Whether M pairs in d dimensions are few enough for median_small to list them itself
    /// each time (OWN_WORK, OWN_PAIRS).
    fn own_list(m: u64, d: usize) -> bool {
        let work = m * d as u64;
        work <= OWN_WORK / 2 || (m <= OWN_PAIRS && work <= OWN_WORK)
    }

    /// Whether median_small lists every pair itself after a missed guess (OWN_MISS_WORK).
    fn own_miss(&self) -> bool {
        u64::from(self.base.m) * self.d as u64 <= OWN_MISS_WORK
    }

    /// Whether the list pass of every pair lists only those inside the previous selection's
    /// guess (past the own list, own_list; within it median_small lists every pair itself
    /// each time and the guess is its selection's first bracket).
    fn list_guessed(&self) -> bool {
        self.list_all() && !self.lists_own()
    }

    /// The list pass's row blocks (pair_bracket's workgroups for every row).
    fn row_blocks(&self, k: &Kernels) -> u32 {
        self.n.div_ceil(k.bracket_block_rows(self.n, self.d)) as u32
    }

    /// The list pass's bracket as the state holds it (st[ST_LO], st[ST_HI]), its dispatches
    /// indirect with `args`.
    fn list_bracket<'a>(&'a self, args: Option<(&'a wgpu::Buffer, u64)>) -> DeviceBracket<'a> {
        DeviceBracket {
            st: &self.st.buffer,
            bracket: (st::LO * 4) as u64,
            args,
        }
    }

    /// Copies the indirect dispatches' arguments from the state: (rows, chunks, 1) at 0,
    /// (groups or 0, 1, 1) at 16 and (1 or 0, 1, 1) at 32 bytes.
    fn copy_args(&self, enc: &mut Recorder) {
        const _: () =
            assert!(st::IND_HIST == st::IND_ROWS + 4 && st::IND_NARROW == st::IND_ROWS + 8);
        let ind = (st::IND_ROWS * 4) as u64;
        enc.copy_buffer_to_buffer(&self.st.buffer, ind, &self.args.buffer, 0, 48);
    }

    /// The pair passes' uniform for these particles (their passes fill in the rest).
    fn select_params(&self) -> SelectParams {
        SelectParams {
            n: self.n as u32,
            d: self.d as u32,
            ..Default::default()
        }
    }

    /// Records the x texture's packing, the sample and its selection (where the plan samples)
    /// and the list pass.
    fn record_list(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
    ) -> Result<()> {
        let select = self.select_params();
        if let Some(xt) = &self.xt {
            k.record_x_texture(ctx, enc, x, xt)?;
        }
        if self.base.samples > 0 {
            let p = SelectParams {
                samples: self.base.samples,
                seed: 0x9e37_79b9u32.wrapping_mul(self.calls),
                ..select
            };
            k.record_pair_sample(ctx, enc, p, x, self.xt.as_ref(), &self.sample)?;
            self.radix(ctx, enc, &self.sample, self.base.samples as usize)?;
            self.stage(ctx, enc, Stage::Bracket, 0, 0)?;
        }
        let blocks = self.row_blocks(k);
        // The bracket: BRACKET's, or where every pair is listed the previous selection's
        // guess or [0, +inf] (mode 2: rows that meet a NaN are marked), from the state; or,
        // where the tests list every pair past LIST_ALL, [0, +inf].
        let dev = (self.base.samples > 0 || self.list_guessed()).then(|| self.list_bracket(None));
        let list = SelectParams {
            mode: if self.list_all() { 2 } else { 1 },
            lo: 0.0,
            hi: f32::INFINITY,
            ..select
        };
        k.record_pair_bracket_blocks(
            ctx,
            enc,
            list,
            0..blocks,
            (x, self.xt.as_ref()),
            &self.offsets,
            &self.counts,
            &self.list,
            dev,
        )?;
        Ok(())
    }

    fn record_passes(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
    ) -> Result<()> {
        let n = self.n;
        let select = self.select_params();
        self.record_list(ctx, k, enc, x)?;
        self.stage(ctx, enc, Stage::Plan, self.base.round, self.base.groups)?;
        if self.base.samples == 0 {
            // Every pair listed at exact offsets: the list is dense, no row overflows, and
            // the ranks lie inside [0, +inf] (PLAN flags the NaN that would say otherwise).
            return self.radix(ctx, enc, &self.list, self.list.len);
        }
        self.copy_args(enc);
        // The rows past their slots, listed again (no workgroups when none).
        let u = enc.uniform(ctx, &self.base);
        self.row_list.record_indirect(
            ctx,
            enc,
            &[
                u.binding(),
                x.buffer.as_entire_binding(),
                self.st.buffer.as_entire_binding(),
                self.rowplan.buffer.as_entire_binding(),
                self.ovf.buffer.as_entire_binding(),
                self.counts.buffer.as_entire_binding(),
                self.list.buffer.as_entire_binding(),
            ],
            &self.args.buffer,
            0,
        )?;
        let u = enc.uniform(ctx, &self.base);
        let g = self.gather.groups_for(ctx, n)?;
        self.gather.record_with(
            ctx,
            enc,
            &u,
            &[
                &self.st.buffer,
                &self.counts.buffer,
                &self.rowplan.buffer,
                &self.list.buffer,
                &self.dense.buffer,
            ],
            g,
        )?;
        self.radix(ctx, enc, &self.dense, self.dense.len)?;
        // The exact fallback: no workgroups unless PLAN set FLAG_NARROW.
        let dev = DeviceBracket {
            st: &self.st.buffer,
            bracket: (st::NLO * 4) as u64,
            args: Some((&self.args.buffer, 16)),
        };
        for round in 0..2 * NARROW_ROUNDS {
            k.record_pair_histogram(ctx, enc, select, x, &self.hist, Some(dev))?;
            self.stage_at(ctx, enc, Stage::Narrow, round, self.base.groups, Some(32))?;
        }
        Ok(())
    }

    /// The radix selection over `vals` (its count and target ranks in the state): four
    /// rounds of `select_hist` and PICK, or for a list of at most `SMALL` values (`count_max`
    /// its most) `select_small` in one dispatch.
    fn radix(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        vals: &GpuVec<f32>,
        count_max: usize,
    ) -> Result<()> {
        if count_max <= SMALL {
            let u = enc.uniform(ctx, &self.base);
            // (scratch: radix_small's second list, unused here.)
            return self.select_small.record_with(
                ctx,
                enc,
                &u,
                &[&vals.buffer, &self.scratch.buffer, &self.st.buffer],
                (1, 1, 1),
            );
        }
        for round in 0..RADIX_ROUNDS {
            let u = enc.uniform(
                ctx,
                &MedianParams {
                    round,
                    groups: self.groups,
                    ..self.base
                },
            );
            self.select_hist.record_with(
                ctx,
                enc,
                &u,
                &[&vals.buffer, &self.st.buffer, &self.hist.buffer],
                (self.groups, 1, 1),
            )?;
            self.stage(ctx, enc, Stage::Pick, round, self.groups)?;
        }
        Ok(())
    }

    fn stage(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        stage: Stage,
        round: u32,
        groups: u32,
    ) -> Result<()> {
        self.stage_at(ctx, enc, stage, round, groups, None)
    }

    /// A `median_control` stage; `indirect`: its workgroup count read at that byte of `args`.
    fn stage_at(
        &self,
        ctx: &GpuContext,
        enc: &mut Recorder,
        stage: Stage,
        round: u32,
        groups: u32,
        indirect: Option<u64>,
    ) -> Result<()> {
        let u = enc.uniform(
            ctx,
            &MedianParams {
                stage: stage as u32,
                round,
                groups,
                ..self.base
            },
        );
        let resources = [
            u.binding(),
            self.st.buffer.as_entire_binding(),
            self.hist.buffer.as_entire_binding(),
            self.counts.buffer.as_entire_binding(),
            self.offsets.buffer.as_entire_binding(),
            self.rowplan.buffer.as_entire_binding(),
            self.ovf.buffer.as_entire_binding(),
        ];
        match indirect {
            None => self
                .control
                .record_resources(ctx, enc, &resources, (1, 1, 1)),
            Some(at) => self
                .control
                .record_indirect(ctx, enc, &resources, &self.args.buffer, at),
        }
    }

    /// How many of the last recorded selection's one-workgroup radix selections of a list
    /// longer than their bracket's capacity selected over every value instead (their stride
    /// sample's bracket missed a target or held too many values; common/radix_small.wgsl),
    /// read back. Tests check that they force this path.
    pub fn whole_selections(&self, ctx: &GpuContext) -> Result<u32> {
        Ok(self.st.read_prefix(ctx, st::CURSOR)?[st::WHOLE])
    }

    /// How many selections so far found both ranks inside a bracket around the previous
    /// selection's statistics (up to 2¹⁹ pairs, n ≤ 1024, every selection after the first and
    /// after a NaN guesses: the list pass keeps only the pairs inside it, or, within the own
    /// list (own_list), the one-workgroup selection takes it as its first bracket;
    /// median_small.wgsl),
    /// read back. Tests check both outcomes.
    pub fn guessed_selections(&self, ctx: &GpuContext) -> Result<u32> {
        Ok(self.st.read_prefix(ctx, st::CURSOR)?[st::GUESSES])
    }

    /// What the last recorded selection found, read back (one readback): the median as the
    /// host selector computes it from the same two f32 order statistics, in f64.
    pub fn result(&self, ctx: &GpuContext) -> Result<MedianResult> {
        let s = self.st.read_prefix(ctx, st::CURSOR)?;
        if s[st::FLAGS] & st::FLAG_NAN != 0 {
            return Err(super::diverged());
        }
        let v = [s[st::SEL0], s[st::SEL0 + 1]].map(|b| f64::from(f32::from_bits(b)));
        let med = if (self.n as u64 * self.n as u64) % 2 == 1 {
            v[0]
        } else {
            (v[0] + v[1]) / 2.0
        };
        let narrowed = s[st::FLAGS] & st::FLAG_NARROW != 0;
        let passes = match self.n {
            0 | 1 => 0,
            _ if narrowed => 1 + 2 * NARROW_ROUNDS,
            _ => 1 + u32::from(s[st::OVF] > 0),
        };
        Ok(MedianResult {
            med,
            passes,
            candidates: u64::from(s[st::INSIDE]),
        })
    }
}
