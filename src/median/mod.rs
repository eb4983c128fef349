//! Exact median of the implicit n² squared distances, on the GPU, with memory O(n): the
//! host-driven selector ([`MedianSelector`], its decisions on the host between passes, for
//! n past the device path, `--bandwidth median-sampled` and the MMD's pooled median), the
//! in-encoder selections ([`DeviceMedian`] in `device.rs`, every step's; [`BatchMedian`], a
//! small training batch's), and their shared helpers.
//!
//! The full multiset of algorithms.md §1 is {0 (n times, the diagonal)} ∪ {D_ij twice, i < j};
//! sorted, its rank r is 0 for r < n and otherwise the off-diagonal value of rank ⌊(r − n)/2⌋.
//! So only the M = n(n−1)/2 upper-triangle distances are ever enumerated.
//!
//! Selection, as the fastest exact CPU peers do it, but with every pass on the GPU:
//! 1. `pair_sample` draws S hashed pairs; the host picks a bracket [lo, hi] around the target
//!    quantile from the sample, ±5 standard errors of a sample quantile (plus two positions).
//! 2. `pair_bracket` (count) gives per row the number of distances below lo and inside the
//!    bracket; the host checks the target ranks really lie inside.
//! 3. `pair_bracket` (list) writes the few in-bracket distances at per-row offsets (exclusive
//!    prefix of the counts: no atomics, fixed order) and the host selects the exact ranks.
//!
//! If the sample misleads (probability far below 1e-6), the bracket moves to the side that
//! holds the rank, and while it holds more candidates than the list buffer it is halved in the
//! bit pattern of f32 (monotone for non-negative floats), at most 32 times: the answer is
//! always exact. For M within the list capacity, steps 1–2 are skipped: every pair is listed.
//! Distances are computed in f32 in the same expression everywhere; the result is the exact
//! order statistic of those f32 values, then the even-count mean is taken in f64.

use anyhow::{ensure, Result};

pub(crate) mod device;
pub use device::{DeviceMedian, Knobs};

use crate::gpu::params::SelectParams;
use crate::gpu::{GpuContext, GpuVec, Recorder};
use crate::kernels::{Kernels, XTexture};

/// Device buffers for the selection passes, sized for one particle count.
pub struct MedianSelector {
    n: usize,
    d: usize,
    capacity: usize,
    samples: usize,
    sample: GpuVec<f32>,
    offsets: GpuVec<u32>,
    counts: GpuVec<u32>,
    list: GpuVec<f32>,
    hist: Option<GpuVec<u32>>,
    /// x as a texture, where the sample and bracket passes read it so (CPU adapters).
    xt: Option<XTexture>,
    /// Whether this call's x is still to be packed into `xt` (by the first pass's encoder).
    pack_due: bool,
    /// GPU passes over all pairs made by the last call (sample pass excluded).
    pub last_passes: u32,
    calls: u32,
}

/// What one median computation did.
#[derive(Clone, Copy, Debug)]
pub struct MedianResult {
    /// The median of the n² squared distances.
    pub med: f64,
    /// Full passes over the pairs (count and list passes).
    pub passes: u32,
    /// Candidates listed and selected on the host.
    pub candidates: u64,
}

impl MedianSelector {
    /// Allocates the buffers for `n` particles in `d` dimensions.
    pub fn new(ctx: &GpuContext, k: &Kernels, n: usize, d: usize) -> Result<Self> {
        let m = pairs(n);
        // Sample size and list capacity balance host selection against GPU listing: the
        // bracket holds about 5·M/√S candidates, so S = 2^20 keeps it near M/200.
        let samples = if m <= 1 << 21 {
            0
        } else {
            (1usize << 20).min(m as usize)
        };
        let expect = if samples == 0 {
            m as f64
        } else {
            6.0 * m as f64 / (samples as f64).sqrt()
        };
        // The one-pass list gives each row slots for 1.25× its expected share plus 3σ and 4;
        // 1.5× the expected bracket plus 8 per row covers that total.
        let capacity = (1.5 * expect + 8.0 * n as f64)
            .ceil()
            .clamp(1024.0, (1u64 << 24) as f64)
            .min(m.max(1) as f64) as usize;
        Self::with_limits(ctx, k, n, d, samples, capacity)
    }

    /// Like [`MedianSelector::new`] with a chosen sample size (0: no sampling, bracket all
    /// pairs) and list capacity; small values force the narrowing path (tests use this).
    pub fn with_limits(
        ctx: &GpuContext,
        k: &Kernels,
        n: usize,
        d: usize,
        samples: usize,
        capacity: usize,
    ) -> Result<Self> {
        ensure!(n >= 1 && d >= 1, "median: need n >= 1 and d >= 1");
        ensure!(capacity >= 1, "median: list capacity must be at least 1");
        let samples = if n >= 2 { samples } else { 0 };
        // Planned here so that a size past the loop limit fails now, not at a pass.
        k.bracket_plan(ctx, n, d)?;
        k.histogram_plan(ctx, n, d)?;
        Ok(Self {
            n,
            d,
            capacity,
            samples,
            sample: GpuVec::zeros(ctx, "median sample", samples.max(1))?,
            offsets: GpuVec::zeros(ctx, "median offsets", n + 1)?,
            counts: GpuVec::zeros(ctx, "median counts", 2 * n)?,
            list: GpuVec::zeros(ctx, "median candidates", capacity)?,
            hist: None,
            xt: x_texture(ctx, k, n, d)?,
            pack_due: false,
            last_passes: 0,
            calls: 0,
        })
    }

    /// Bytes of device memory held.
    pub fn device_bytes(&self) -> u64 {
        self.sample.bytes()
            + self.offsets.bytes()
            + self.counts.bytes()
            + self.list.bytes()
            + self.hist.as_ref().map_or(0, |h| h.bytes())
            + self.xt.as_ref().map_or(0, |t| t.bytes())
            + 32
    }

    /// The median of all n² squared distances of the particles in `x` (`[n, d]`).
    pub fn median_sqdist(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
    ) -> Result<MedianResult> {
        let full_ranks = self.begin_call(x)?;
        let n = self.n as u64;
        let off_ranks: Vec<u64> = full_ranks
            .iter()
            .filter(|&&r| r >= n)
            .map(|&r| (r - n) / 2)
            .collect();
        let mut passes = 0;
        let mut candidates = 0;
        let mut off_values = Vec::new();
        if !off_ranks.is_empty() {
            let mut ranks = off_ranks.clone();
            ranks.dedup();
            let vals = self.select(ctx, k, x, &ranks, &mut passes, &mut candidates)?;
            off_values = off_ranks
                .iter()
                .map(|r| vals[ranks.iter().position(|q| q == r).unwrap()])
                .collect();
        }
        let mut it = off_values.into_iter();
        let values: Vec<f64> = full_ranks
            .iter()
            .map(|&r| {
                if r < n {
                    0.0
                } else {
                    f64::from(it.next().unwrap())
                }
            })
            .collect();
        let med = values.iter().sum::<f64>() / values.len() as f64;
        self.last_passes = passes;
        log::debug!("median: {med} after {passes} passes over the pairs, {candidates} candidates");
        Ok(MedianResult {
            med,
            passes,
            candidates,
        })
    }

    /// Starts a median call on x: checks its length, counts the call (the sample's seed),
    /// marks x due for the x texture, and returns the ranks of the full n² multiset whose
    /// values the median averages (NumPy's convention: the middle one, or the middle two).
    fn begin_call(&mut self, x: &GpuVec<f32>) -> Result<Vec<u64>> {
        ensure!(
            x.len >= self.n * self.d,
            "median: particle buffer shorter than n·d"
        );
        self.calls = self.calls.wrapping_add(1);
        self.pack_due = self.xt.is_some();
        let total = self.n as u64 * self.n as u64;
        Ok(if total % 2 == 1 {
            vec![total / 2]
        } else {
            vec![total / 2 - 1, total / 2]
        })
    }

    /// Pairs in the selector's sample: 2²⁰, or 0 below 2²¹ pairs, where it lists every pair.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// An estimate of the median from the selector's sample of 2²⁰ hashed pairs alone (the
    /// opt-in `--bandwidth median-sampled`): the sample's order statistics at the quantiles
    /// the exact ranks sit at among the n(n−1)/2 distances (the diagonal's n zeros and the
    /// pairs' two copies accounted as in [`MedianSelector::median_sqdist`]). One pass over 2²⁰
    /// pairs instead of one over all n²/2; its error is that of a sample quantile (a standard
    /// error of 0.05 % in rank; README, The median). Below 2²¹ pairs (n ≤ 2048), where the
    /// selector lists every pair and takes no sample, it is the exact median. Deterministic:
    /// the hash is seeded by the call count.
    pub fn median_sampled(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
    ) -> Result<MedianResult> {
        if self.samples == 0 {
            return self.median_sqdist(ctx, k, x);
        }
        let full_ranks = self.begin_call(x)?;
        let n = self.n as u64;
        let m = pairs(self.n);
        let mut sample = self.draw_sample(ctx, k, x)?;
        let s = sample.len();
        let values: Vec<f64> = full_ranks
            .iter()
            .map(|&r| {
                if r < n {
                    return 0.0;
                }
                // Off-diagonal rank (r − n)/2 of m: its quantile's place in the sample.
                let q = (((r - n) / 2) as f64 + 0.5) / m as f64;
                let at = ((q * s as f64).floor() as usize).min(s - 1);
                f64::from(*sample.select_nth_unstable_by(at, f32::total_cmp).1)
            })
            .collect();
        let med = values.iter().sum::<f64>() / values.len() as f64;
        log::debug!("median (sampled, {s} pairs): {med}");
        Ok(MedianResult {
            med,
            passes: 0,
            candidates: 0,
        })
    }

    /// A command encoder for the next pass over the pairs; the first one of a call also
    /// records the packing of x into the x texture, which so needs no submit of its own.
    fn encoder(&mut self, ctx: &GpuContext, k: &Kernels, x: &GpuVec<f32>) -> Result<Recorder> {
        let mut enc = Recorder::new(ctx);
        if std::mem::take(&mut self.pack_due) {
            if let Some(xt) = &self.xt {
                k.record_x_texture(ctx, &mut enc, x, xt)?;
            }
        }
        Ok(enc)
    }

    fn base(&self) -> SelectParams {
        SelectParams {
            n: self.n as u32,
            d: self.d as u32,
            ..Default::default()
        }
    }

    /// Off-diagonal order statistics of the given ranks (ascending, distinct, < M).
    fn select(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
        ranks: &[u64],
        passes: &mut u32,
        candidates: &mut u64,
    ) -> Result<Vec<f32>> {
        let n = self.n;
        let m = pairs(n);
        let (rmin, rmax) = (ranks[0], *ranks.last().unwrap());
        let (mut lo, mut hi) = (0.0f32, f32::INFINITY);
        // First pass: count and list at once into per-row slots; with a sample the slots are
        // sized from the bracket's sampled share of pairs (generously), else they are exact.
        let share = if self.samples > 0 {
            let (l, h, share) = self.sample_bracket(ctx, k, x, ranks, m)?;
            (lo, hi) = (l, h);
            share
        } else {
            1.0
        };
        let slots: Vec<u64> = (0..n)
            .map(|i| {
                let mi = (n - 1 - i) as f64;
                if share >= 1.0 {
                    mi as u64
                } else {
                    (mi * share * 1.25 + 3.0 * (mi * share).sqrt() + 4.0)
                        .ceil()
                        .min(mi) as u64
                }
            })
            .collect();
        let mut rows: Option<Vec<u32>>;
        let (mut below, mut inside);
        if slots.iter().sum::<u64>() <= self.capacity as u64 {
            let (c, list) = self.list(ctx, k, x, lo, hi, &slots)?;
            *passes += 1;
            (below, inside) = sums(&c);
            // NaN distances are neither below nor inside any bracket.
            if !(self.samples > 0 || below + inside == m) {
                return Err(diverged());
            }
            let fits = (0..n).all(|i| u64::from(c[2 * i + 1]) <= slots[i]);
            if rmin >= below && rmax < below + inside {
                let relisted = if fits {
                    Some(vec![None; n])
                } else {
                    self.relist(ctx, k, x, (lo, hi), &c, &slots)?
                };
                if let Some(relisted) = relisted {
                    let mut cand = Vec::with_capacity(inside as usize);
                    let mut at = 0usize;
                    for i in 0..n {
                        let row = c[2 * i + 1] as usize;
                        match &relisted[i] {
                            Some(r) => cand.extend_from_slice(r),
                            None => cand.extend_from_slice(&list[at..at + row]),
                        }
                        at += slots[i] as usize;
                    }
                    ensure!(
                        cand.len() as u64 == inside,
                        "median: listed {} candidates, counted {inside}",
                        cand.len()
                    );
                    *candidates += cand.len() as u64;
                    return Ok(pick(&mut cand, ranks, below));
                }
            }
            rows = Some(c);
        } else {
            // The bracket holds more than the list: narrow it about 1024-fold in one pass.
            (lo, hi, below, inside) = self.narrow(ctx, k, x, (lo, hi), ranks, None)?;
            *passes += 1;
            rows = None;
        }
        // The sample misled, or a row overflowed its slots: move or narrow the bracket with
        // exact counts until the wanted ranks lie in a bracket that fits the list.
        for _ in 0..80 {
            if lo.is_nan() || hi.is_nan() || below + inside > m {
                return Err(diverged());
            }
            if rmax < below {
                hi = prev_float(lo);
                lo = 0.0;
                inside = below;
                below = 0;
                rows = None;
            } else if rmin >= below + inside {
                lo = next_float(hi);
                hi = f32::INFINITY;
                below += inside;
                inside = m - below;
                rows = None;
            } else if rmin < below || rmax >= below + inside {
                return self.one_by_one(ctx, k, x, ranks, passes, candidates);
            } else if inside as usize <= self.capacity {
                let c = match rows.take() {
                    Some(c) => c,
                    None => {
                        *passes += 1;
                        self.count(ctx, k, x, lo, hi)?
                    }
                };
                let exact: Vec<u64> = (0..n).map(|i| u64::from(c[2 * i + 1])).collect();
                let (_, mut list) = self.list(ctx, k, x, lo, hi, &exact)?;
                *passes += 1;
                list.truncate(inside as usize);
                ensure!(
                    list.len() as u64 == inside,
                    "median: listed {} candidates, counted {inside}",
                    list.len()
                );
                *candidates += inside;
                return Ok(pick(&mut list, ranks, below));
            } else if lo == hi {
                return Ok(vec![lo; ranks.len()]);
            } else {
                // Too many candidates: split the bracket into 1024 bins in the bit pattern of
                // f32 and keep the bins that hold the ranks.
                let before = (lo, hi);
                (lo, hi, below, inside) =
                    self.narrow(ctx, k, x, (lo, hi), ranks, Some((below, inside)))?;
                *passes += 1;
                rows = None;
                if (lo, hi) == before {
                    // Two ranks in bins that cannot shrink further with both in one list.
                    return self.one_by_one(ctx, k, x, ranks, passes, candidates);
                }
            }
        }
        anyhow::bail!("median: selection did not converge (bracket [{lo}, {hi}]); this is a bug")
    }

    /// After a list pass in which some rows found more in-bracket pairs than their slots
    /// (the slots follow the sample's share, and a row near a dense region can hold several
    /// times its share): lists again only the row blocks that hold those rows, with exact
    /// slots from the pass's counts `c`, and returns the complete lists of the rows that
    /// overflowed (`None` for the others, whose lists were complete). A row block is a
    /// workgroup's rows ([`Kernels::bracket_block_rows`]), a few hundred, instead of a second
    /// full pass over all n rows (on llvmpipe at n = 16 384 one or two rows overflow at d = 2
    /// and 16, and a full pass cost 0.25 s of a 0.9 s step at d = 16). Returns `None` (list
    /// every row again) when the blocks hold over half of the rows or their exact lists
    /// outgrow the capacity.
    fn relist(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
        (lo, hi): (f32, f32),
        c: &[u32],
        slots: &[u64],
    ) -> Result<Option<Vec<Option<Vec<f32>>>>> {
        let n = self.n;
        let per = k.bracket_block_rows(n, self.d);
        let mut blocks: Vec<u32> = (0..n)
            .filter(|&i| u64::from(c[2 * i + 1]) > slots[i])
            .map(|i| (i / per) as u32)
            .collect();
        blocks.dedup();
        let rows_in = |b: u32| (b as usize * per)..((b as usize + 1) * per).min(n);
        let covered: usize = blocks.iter().map(|&b| rows_in(b).len()).sum();
        // Exact slots for the rows of the listed blocks, none for the others.
        let mut offsets = vec![0u32; n + 1];
        let mut acc = 0u64;
        for i in 0..n {
            offsets[i] = acc as u32;
            if blocks.binary_search(&((i / per) as u32)).is_ok() {
                acc += u64::from(c[2 * i + 1]);
            }
        }
        offsets[n] = acc as u32;
        if 2 * covered > n || acc as usize > self.capacity {
            return Ok(None);
        }
        self.offsets.write(ctx, &offsets)?;
        let p = SelectParams {
            lo,
            hi,
            mode: 1,
            ..self.base()
        };
        // One submit per run of consecutive blocks (a layout from before the uniform arena,
        // when each run rewrote the chunks' uniforms; one submit for all runs would now do:
        // this selector serves only what the device path does not, so it is left so).
        // The counts are cleared first, so that rows the runs miss cannot pass the check below
        // with their first pass's counts.
        let mut start = 0;
        while start < blocks.len() {
            let mut end = start + 1;
            while end < blocks.len() && blocks[end] == blocks[end - 1] + 1 {
                end += 1;
            }
            let mut enc = self.encoder(ctx, k, x)?;
            if start == 0 {
                enc.clear_buffer(&self.counts.buffer, 0, None);
            }
            k.record_pair_bracket_blocks(
                ctx,
                &mut enc,
                p,
                blocks[start]..blocks[end - 1] + 1,
                (x, self.xt.as_ref()),
                &self.offsets,
                &self.counts,
                &self.list,
                None,
            )?;
            enc.submit(ctx);
            start = end;
        }
        let again = self.counts.read(ctx)?;
        let list = self.list.read_prefix(ctx, acc as usize)?;
        let mut out = vec![None; n];
        for &q in &blocks {
            for i in rows_in(q) {
                ensure!(
                    again[2 * i..2 * i + 2] == c[2 * i..2 * i + 2],
                    "median: row {i} counted {:?} on its second pass, {:?} on its first",
                    &again[2 * i..2 * i + 2],
                    &c[2 * i..2 * i + 2]
                );
                if u64::from(c[2 * i + 1]) > slots[i] {
                    let at = offsets[i] as usize;
                    out[i] = Some(list[at..at + c[2 * i + 1] as usize].to_vec());
                }
            }
        }
        log::debug!(
            "median: {} rows overflowed their slots; listed again {covered} rows in {} blocks",
            out.iter().filter(|r| r.is_some()).count(),
            blocks.len()
        );
        Ok(Some(out))
    }

    /// One `pair_histogram` pass over [lo, hi]: returns the narrowed bracket (the bins that
    /// hold the smallest and largest wanted rank), the count below it and inside it. `known`
    /// (below, inside) of [lo, hi], when the caller has them, is checked against the pass.
    fn narrow(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
        (lo, hi): (f32, f32),
        ranks: &[u64],
        known: Option<(u64, u64)>,
    ) -> Result<(f32, f32, u64, u64)> {
        use crate::kernels::HISTOGRAM_BINS as BINS;
        let groups = self.n.div_ceil(4 * 64);
        if self.hist.is_none() {
            self.hist = Some(GpuVec::zeros(ctx, "median histogram", groups * (BINS + 1))?);
        }
        let hist = self.hist.as_ref().expect("allocated above");
        let p = SelectParams {
            lo,
            hi,
            ..self.base()
        };
        // The histogram reads x from its buffer: a due pack waits for the next pass.
        let mut enc = Recorder::new(ctx);
        k.record_pair_histogram(ctx, &mut enc, p, x, hist, None)?;
        enc.submit(ctx);
        let h = hist.read(ctx)?;
        let mut bins = vec![0u64; BINS];
        let mut below = 0u64;
        for g in h.chunks_exact(BINS + 1).take(groups) {
            for (b, &v) in g[..BINS].iter().enumerate() {
                bins[b] += u64::from(v);
            }
            below += u64::from(g[BINS]);
        }
        let inside: u64 = bins.iter().sum();
        if let Some((kb, ki)) = known {
            ensure!(
                kb == below && ki == inside,
                "median: histogram counted {below} below and {inside} inside, the count pass {kb} and {ki}; this is a bug"
            );
        }
        let (rmin, rmax) = (ranks[0], *ranks.last().expect("ranks"));
        if !(rmin >= below && rmax < below + inside) {
            // The (sampled) bracket missed a rank: exact counts let the caller move it.
            return Ok((lo, hi, below, inside));
        }
        let (lo_bits, hi_bits) = (lo.to_bits(), hi.to_bits());
        // Must match the shader: width = (bits(hi) - bits(lo)) / BINS + 1.
        let width = (hi_bits - lo_bits) / BINS as u32 + 1;
        let bin_of = |rank: u64| {
            let mut acc = below;
            for (b, &c) in bins.iter().enumerate() {
                acc += c;
                if rank < acc {
                    return b;
                }
            }
            BINS - 1
        };
        let (b0, b1) = (bin_of(rmin), bin_of(rmax));
        let new_lo = f32::from_bits(lo_bits + b0 as u32 * width);
        let top = u64::from(lo_bits) + (b1 as u64 + 1) * u64::from(width) - 1;
        let new_hi = f32::from_bits(top.min(u64::from(hi_bits)) as u32);
        let new_below = below + bins[..b0].iter().sum::<u64>();
        let new_inside = bins[b0..=b1].iter().sum::<u64>();
        Ok((new_lo, new_hi, new_below, new_inside))
    }

    fn one_by_one(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
        ranks: &[u64],
        passes: &mut u32,
        candidates: &mut u64,
    ) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        for &r in ranks {
            out.extend(self.select(ctx, k, x, &[r], passes, candidates)?);
        }
        Ok(out)
    }

    /// The squared distances of `samples` hashed pairs i ≠ j (seeded by the call count).
    fn draw_sample(&mut self, ctx: &GpuContext, k: &Kernels, x: &GpuVec<f32>) -> Result<Vec<f32>> {
        let s = self.samples;
        let p = SelectParams {
            samples: s as u32,
            seed: 0x9e37_79b9u32.wrapping_mul(self.calls),
            ..self.base()
        };
        let mut enc = self.encoder(ctx, k, x)?;
        k.record_pair_sample(ctx, &mut enc, p, x, self.xt.as_ref(), &self.sample)?;
        enc.submit(ctx);
        let sample = self.sample.read_prefix(ctx, s)?;
        if sample.iter().any(|v| v.is_nan()) {
            return Err(diverged());
        }
        Ok(sample)
    }

    /// Draws the pair sample and returns a bracket around the wanted ranks (±5 standard errors
    /// of a sample quantile, plus two positions) and the sampled share of pairs inside it.
    fn sample_bracket(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
        ranks: &[u64],
        m: u64,
    ) -> Result<(f32, f32, f64)> {
        let s = self.samples;
        let mut sample = self.draw_sample(ctx, k, x)?;
        let position = |r: u64, side: f64| -> i64 {
            let q = r as f64 / m as f64;
            let sd = (s as f64 * q * (1.0 - q)).sqrt();
            (q * s as f64 + side * (5.0 * sd + 2.0)).floor() as i64
        };
        let lo_idx = position(ranks[0], -1.0);
        let hi_idx = position(*ranks.last().unwrap(), 1.0) + 1;
        let lo = if lo_idx < 0 {
            0.0
        } else {
            *sample
                .select_nth_unstable_by(lo_idx as usize, f32::total_cmp)
                .1
        };
        let hi = if hi_idx >= s as i64 {
            f32::INFINITY
        } else {
            *sample
                .select_nth_unstable_by(hi_idx as usize, f32::total_cmp)
                .1
        };
        let share = ((hi_idx.min(s as i64) - lo_idx.max(0)) as f64 / s as f64).clamp(0.0, 1.0);
        Ok((lo, hi.max(lo), share))
    }

    fn count(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
        lo: f32,
        hi: f32,
    ) -> Result<Vec<u32>> {
        let p = SelectParams {
            lo,
            hi,
            mode: 0,
            ..self.base()
        };
        let mut enc = self.encoder(ctx, k, x)?;
        k.record_pair_bracket(
            ctx,
            &mut enc,
            p,
            x,
            self.xt.as_ref(),
            &self.offsets,
            &self.counts,
            &self.list,
        )?;
        enc.submit(ctx);
        self.counts.read(ctx)
    }

    /// Counts and lists the in-bracket distances into per-row slots of the given sizes;
    /// returns the counts and the slot area of the list.
    fn list(
        &mut self,
        ctx: &GpuContext,
        k: &Kernels,
        x: &GpuVec<f32>,
        lo: f32,
        hi: f32,
        slots: &[u64],
    ) -> Result<(Vec<u32>, Vec<f32>)> {
        let mut offsets = Vec::with_capacity(self.n + 1);
        let mut acc = 0u64;
        offsets.push(0u32);
        for &sl in slots {
            acc += sl;
            ensure!(
                acc as usize <= self.capacity,
                "median: {acc} slots exceed the list capacity"
            );
            offsets.push(acc as u32);
        }
        self.offsets.write(ctx, &offsets)?;
        let p = SelectParams {
            lo,
            hi,
            mode: 1,
            ..self.base()
        };
        let mut enc = self.encoder(ctx, k, x)?;
        k.record_pair_bracket(
            ctx,
            &mut enc,
            p,
            x,
            self.xt.as_ref(),
            &self.offsets,
            &self.counts,
            &self.list,
        )?;
        enc.submit(ctx);
        let counts = self.counts.read(ctx)?;
        Ok((counts, self.list.read_prefix(ctx, acc as usize)?))
    }
}

/// The x texture, where the median's passes read x so for (n, d)
/// ([`Kernels::median_x_texture`]).
fn x_texture(ctx: &GpuContext, k: &Kernels, n: usize, d: usize) -> Result<Option<XTexture>> {
    Ok(if k.median_x_texture(n, d) {
        Some(XTexture::new(ctx, n, d)?)
    } else {
        None
    })
}

/// The values of `ranks` (offset by `below`) among `cand`.
fn pick(cand: &mut [f32], ranks: &[u64], below: u64) -> Vec<f32> {
    ranks
        .iter()
        .map(|&r| {
            *cand
                .select_nth_unstable_by((r - below) as usize, f32::total_cmp)
                .1
        })
        .collect()
}

/// The error when the particles hold NaN (a diverged run).
fn diverged() -> anyhow::Error {
    crate::run::Diverged("particles contain NaN (the run diverged); lower the step size".into())
        .into()
}

/// Number of unordered pairs i < j.
pub fn pairs(n: usize) -> u64 {
    let n = n as u64;
    n * n.saturating_sub(1) / 2
}

fn sums(counts: &[u32]) -> (u64, u64) {
    counts.chunks_exact(2).fold((0, 0), |(b, i), c| {
        (b + u64::from(c[0]), i + u64::from(c[1]))
    })
}

fn next_float(v: f32) -> f32 {
    if v == f32::INFINITY {
        v
    } else {
        f32::from_bits(v.to_bits() + 1)
    }
}

fn prev_float(v: f32) -> f32 {
    if v <= 0.0 {
        0.0
    } else {
        f32::from_bits(v.to_bits() - 1)
    }
}

/// The median bandwidth h of a batch of `n` rows (n ≤ [`BatchMedian::MAX_N`]) recorded into
/// an encoder, so a training iteration needs no readback: `pair_bracket` lists all
/// M = n(n−1)/2 pair distances (exact per-row offsets), then `batch_median` (one workgroup)
/// selects the middle order statistics exactly by radix selection and writes (h, 1/h) to
/// [`BatchMedian::h`]; [`Kernels::record_svgd_phi_with`] feeds 1/h to φ. The same f32
/// distances as [`MedianSelector`]; med is averaged and divided by log(n + 1) in f32.
pub struct BatchMedian {
    n: usize,
    d: usize,
    offsets: GpuVec<u32>,
    counts: GpuVec<u32>,
    list: GpuVec<f32>,
    xt: Option<XTexture>,
    /// (h, 1/h), written by the recorded passes.
    pub h: GpuVec<f32>,
}

impl BatchMedian {
    /// Largest batch (M = n(n−1)/2 distances are listed, and one workgroup selects among them).
    pub const MAX_N: usize = 4096;

    /// Loop passes of one `batch_median` invocation for a batch of `n` rows: per radix round
    /// (8), the pair loop's ⌈M / 256⌉ + 1 over M = n(n−1)/2 pairs, and lane 0's scan of the
    /// 256 bins and the bins' clearing (up to 257 + 3 more).
    fn loop_passes(n: usize) -> u64 {
        let m = (n as u64) * (n as u64).saturating_sub(1) / 2;
        8 * (m.div_ceil(256) + 261) + 5
    }

    /// Whether a batch of `n` rows fits [`BatchMedian::new`] on this device (on llvmpipe, its
    /// loop limit: n up to about 1900).
    pub fn fits(ctx: &GpuContext, n: usize) -> bool {
        (1..=Self::MAX_N).contains(&n) && ctx.loop_fits(Self::loop_passes(n))
    }

    /// Buffers and pipelines for batches of `n` rows in `d` dimensions.
    pub fn new(ctx: &GpuContext, k: &Kernels, n: usize, d: usize) -> Result<Self> {
        ensure!(
            (1..=Self::MAX_N).contains(&n) && d >= 1,
            "batch median: needs 1 <= n <= {} and d >= 1 (n = {n})",
            Self::MAX_N
        );
        let m = n * (n - 1) / 2;
        ctx.check_loop("batch_median (pairs per invocation)", Self::loop_passes(n))?;
        let mut offsets = Vec::with_capacity(n + 1);
        let mut at = 0u32;
        for i in 0..n {
            offsets.push(at);
            at += (n - 1 - i) as u32;
        }
        offsets.push(at);
        // Planned and built here, so that what does not fit fails now, not at a step.
        k.bracket_plan(ctx, n, d)?;
        k.cached(ctx, &crate::gpu::shader::BATCH_MEDIAN, 256, &[])?;
        Ok(Self {
            n,
            d,
            offsets: GpuVec::from_slice(ctx, "batch median offsets", &offsets)?,
            counts: GpuVec::zeros(ctx, "batch median counts", 2 * n)?,
            list: GpuVec::zeros(ctx, "batch median pairs", m.max(1))?,
            xt: x_texture(ctx, k, n, d)?,
            h: GpuVec::nan_filled(ctx, "batch median h", 2)?,
        })
    }

    /// Records the listing and selection passes for the batch in `x` (`[n, d]`).
    pub fn record(
        &self,
        ctx: &GpuContext,
        k: &Kernels,
        enc: &mut Recorder,
        x: &GpuVec<f32>,
    ) -> Result<()> {
        let p = SelectParams {
            n: self.n as u32,
            d: self.d as u32,
            lo: 0.0,
            hi: f32::INFINITY,
            mode: 1,
            ..Default::default()
        };
        if let Some(xt) = &self.xt {
            k.record_x_texture(ctx, enc, x, xt)?;
        }
        k.record_pair_bracket(
            ctx,
            enc,
            p,
            x,
            self.xt.as_ref(),
            &self.offsets,
            &self.counts,
            &self.list,
        )?;
        let m = self.n * (self.n - 1) / 2;
        k.record_batch_median(ctx, enc, (self.n, self.d, m), &self.list, &self.h)
    }
}
