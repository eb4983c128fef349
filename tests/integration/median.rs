//! The exact median of the n² squared distances: GPU selection against sorting in f64.

use anyhow::{ensure, Result};
use stein::cpu;
use stein::gpu::GpuVec;
use stein::io::target::SplitMix64;
use stein::median::MedianSelector;

use super::common::{gpu, normals, Sweep, DS, NS};

/// Integer coordinates in [-r, r]: every squared distance is exact in f32, so the GPU's
/// order statistic must equal the f64 one exactly. Small r gives many ties.
fn integer_particles(n: usize, d: usize, r: i64, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n * d)
        .map(|_| (rng.next_u64() % (2 * r as u64 + 1)) as f64 - r as f64)
        .collect()
}

fn gpu_median(x: &[f64], n: usize, d: usize, limits: Option<(usize, usize)>) -> Result<(f64, u32)> {
    let (ctx, k) = gpu()?.expect("gpu");
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let xb = GpuVec::from_slice(ctx, "x", &x32)?;
    let mut sel = match limits {
        None => MedianSelector::new(ctx, k, n, d)?,
        Some((s, c)) => MedianSelector::with_limits(ctx, k, n, d, s, c)?,
    };
    let r = sel.median_sqdist(ctx, k, &xb)?;
    Ok((r.med, r.passes))
}

/// The exact median on the case table, integer coordinates (exact squared distances, so the
/// GPU's order statistic must equal the f64 sort's exactly). Axes: d, the bracket kernels'
/// unrolled pipelines (one per d) and the looped one past them; n, the case table's size
/// classes, with ties from few (range grows with n) to many. Each n = 4099 row sorts 17
/// million distances on the host, so the default suite runs that n at d = 1 (the most
/// ties) and d = 100 (the widest); the long suite the whole table.
#[test]
fn median_is_exact_on_the_case_table() -> Result<()> {
    median_table(Sweep::Default)
}

/// [`median_is_exact_on_the_case_table`] on the whole case table.
#[test]
#[ignore = "long suite: scripts/test-long.sh"]
fn median_is_exact_on_the_whole_case_table() -> Result<()> {
    median_table(Sweep::Whole)
}

fn median_table(sweep: Sweep) -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    for &d in DS {
        for &n in NS.iter().filter(|&&n| sweep.runs(n, d, &[1, 100])) {
            // Range grows with n so both tie-heavy and tie-free tables occur.
            let x = integer_particles(n, d, 3 + (n as i64) / 50, (n * 13 + d) as u64);
            let want = cpu::median::median_sqdist(&x, d);
            let (got, passes) = gpu_median(&x, n, d, None)?;
            ensure!(
                got == want,
                "n={n} d={d}: gpu {got}, f64 sort {want} ({passes} passes)"
            );
        }
    }
    Ok(())
}

#[test]
fn median_of_float_particles_matches_to_f32_rounding() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    for (n, d) in [(2, 1), (3, 2), (64, 17), (1000, 3), (4099, 2)] {
        let (x32, _) = normals(n, d, 1.5, (n + d) as u64);
        let x: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        let want = cpu::median::median_sqdist(&x, d);
        let (got, _) = gpu_median(&x, n, d, None)?;
        ensure!(
            (got - want).abs() <= 4e-7 * want.abs(),
            "n={n} d={d}: gpu {got}, f64 {want}"
        );
    }
    Ok(())
}

#[test]
fn median_edge_cases_ties_duplicates_and_parity() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    // n = 1: a single zero; h = 1 by convention.
    let (got, _) = gpu_median(&[4.0, -2.0], 1, 2, None)?;
    assert_eq!(got, 0.0);
    assert_eq!(cpu::median::bandwidth_from_median(got, 1), 1.0);
    // n = 2 (even n²): [0, 0, D, D] → D/2.
    let (got, _) = gpu_median(&[0.0, 3.0], 2, 1, None)?;
    assert_eq!(got, 4.5);
    // n = 3 (odd n²): [0,0,0, 1,1, 4,4, 9,9]... for points 0, 1, 3: D = 1, 9, 4 → median 1.
    let (got, _) = gpu_median(&[0.0, 1.0, 3.0], 3, 1, None)?;
    assert_eq!(got, 1.0);
    assert_eq!(cpu::median::median_sqdist(&[0.0, 1.0, 3.0], 1), 1.0);
    // All particles equal: med = 0, h = 1.
    for n in [2, 65, 300] {
        let x = vec![1.25; n * 3];
        let (got, _) = gpu_median(&x, n, 3, None)?;
        assert_eq!(got, 0.0, "n = {n}");
    }
    // Two clusters of duplicates: n = 4 → zeros 4 + 2·2 (within clusters), 8 of value 1.
    let x = [0.0, 0.0, 1.0, 1.0];
    let (got, _) = gpu_median(&x, 4, 1, None)?;
    assert_eq!(got, cpu::median::median_sqdist(&x, 1));
    assert_eq!(got, 0.5); // sorted: 8 zeros, 8 ones → (0 + 1) / 2
    Ok(())
}

#[test]
fn median_narrowing_path_is_exact() -> Result<()> {
    // A tiny sample and list force the bracket to move and halve, many times.
    if gpu()?.is_none() {
        return Ok(());
    }
    for (n, d, r, samples, cap) in [
        (300, 2, 40, 64, 1),
        (300, 2, 2, 16, 5),
        (257, 3, 1000, 8, 100),
        (65, 1, 5, 0, 3),
    ] {
        let x = integer_particles(n, d, r, 42 + n as u64);
        let want = cpu::median::median_sqdist(&x, d);
        let (got, passes) = gpu_median(&x, n, d, Some((samples, cap)))?;
        ensure!(
            got == want,
            "n={n} r={r} S={samples} cap={cap}: gpu {got}, f64 {want}"
        );
        ensure!(
            passes > 2,
            "expected the narrowing path, made {passes} passes"
        );
    }
    Ok(())
}

#[test]
fn median_is_deterministic() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let (x32, _) = normals(3000, 5, 1.0, 3);
    let x: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
    let a = gpu_median(&x, 3000, 5, None)?;
    let b = gpu_median(&x, 3000, 5, None)?;
    assert_eq!(a.0.to_bits(), b.0.to_bits());
    Ok(())
}

/// Rows with several times their sampled share of in-bracket pairs overflow the one-pass
/// list's slots: two points on the axis of a circle of points, whose squared distances to
/// the circle all equal 2R², the median. Only the row blocks that hold them are listed
/// again (one full pass in all, not two as before 2026-11-30), in two blocks apart (the
/// second block's rows are addressed through the dispatch's first block), and the median
/// is still the f64 one to f32 rounding; with every bracket kernel, unchunked and in column
/// chunks.
#[test]
fn median_lists_again_only_the_blocks_of_overflowing_rows() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let (n, d, r) = (5000, 3, 3.0f64);
    let mut rng = SplitMix64::new(11);
    let mut x = Vec::with_capacity(n * d);
    for i in 0..n {
        if i == 0 || i == 3000 {
            x.extend([0.0, 0.0, r]);
        } else {
            let t = rng.next_f64() * std::f64::consts::TAU;
            x.extend([r * t.cos(), r * t.sin(), 0.0]);
        }
    }
    let x: Vec<f64> = x.iter().map(|&v| f64::from(v as f32)).collect();
    let want = cpu::median::median_sqdist(&x, d);
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    for layout in super::common::phi_layouts(ctx) {
        for chunked in [false, true] {
            let Some((ctx, ref k)) = super::common::gpu_phi_layout(layout, chunked)? else {
                return Ok(());
            };
            let xb = GpuVec::from_slice(ctx, "x", &x32)?;
            let mut sel = MedianSelector::with_limits(ctx, k, n, d, 1 << 14, 1 << 22)?;
            let r = sel.median_sqdist(ctx, k, &xb)?;
            ensure!(
                (r.med - want).abs() <= 4e-7 * want,
                "{layout:?} chunked={chunked}: gpu {}, f64 {want} ({} passes)",
                r.med,
                r.passes
            );
            ensure!(
                r.passes == 1,
                "{layout:?} chunked={chunked}: {} full passes over the pairs; the overflowing \
                 rows were not listed alone",
                r.passes
            );
        }
    }
    Ok(())
}

/// The in-encoder batch median (`BatchMedian`, for training iterations without readback)
/// against the f64 median bandwidth: exact order statistics on integer coordinates (ties,
/// duplicates, all equal), then φ with the device bandwidth against φ with the host's.
#[test]
fn batch_median_matches_the_host_bandwidth() -> Result<()> {
    use stein::median::BatchMedian;
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    for (n, d, r) in [
        (1, 2, 3),
        (2, 1, 3),
        (3, 3, 2),
        (31, 2, 1),
        (100, 784, 2),
        (100, 3, 0),
        (257, 5, 3),
        (1000, 2, 50),
    ] {
        let x = integer_particles(n, d, r, 7 + n as u64);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let bm = BatchMedian::new(ctx, k, n, d)?;
        let mut enc = stein::gpu::Recorder::new(ctx);
        bm.record(ctx, k, &mut enc, &xb)?;
        enc.submit(ctx);
        let h = bm.h.read(ctx)?;
        let want = cpu::median::median_bandwidth(&x, d);
        ensure!(
            (f64::from(h[0]) - want).abs() <= 1e-6 * want && h[1] == 1.0 / h[0],
            "n={n} d={d} r={r}: device h {:?}, host {want}",
            h
        );
    }
    let (n, d) = (300, 17);
    let (x32, x) = normals(n, d, 1.0, 9);
    let (s32, s) = normals(n, d, 1.0, 10);
    let xb = GpuVec::from_slice(ctx, "x", &x32)?;
    let sb = GpuVec::from_slice(ctx, "score", &s32)?;
    let phi = GpuVec::nan_filled(ctx, "phi", n * d)?;
    let scratch = stein::kernels::PhiScratch::new(ctx, k, n, d)?;
    let bm = BatchMedian::new(ctx, k, n, d)?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    bm.record(ctx, k, &mut enc, &xb)?;
    let h = stein::kernels::PhiBandwidth::Device(&bm.h);
    k.record_svgd_phi_with(ctx, &mut enc, &xb, &sb, &scratch, &phi, (n, d), h)?;
    enc.submit(ctx);
    let h = cpu::median::median_bandwidth(&x, d);
    super::common::check_phi(
        &phi.read(ctx)?,
        &x,
        &s,
        d,
        h,
        "phi with the device bandwidth",
    )
}

/// Every pair_bracket kernel (llvmpipe's default is the subgroup-shuffle one, up to d = 128;
/// hardware GPUs use pair_bracket, _mid and _wide, which the other layouts select here) gives
/// the exact median, unchunked and in column chunks, through the one-pass list and the
/// narrowing path.
///
/// The default suite runs each bracket kernel's range ends and d = 3, 9 and 100; the long
/// suite ([`median_is_exact_with_every_bracket_kernel_at_every_d`]) adds d = 40 and 128 (the
/// shuffle kernel's last d: 13 s of a cold shader build on lavapipe).
#[test]
fn median_is_exact_with_every_bracket_kernel() -> Result<()> {
    every_bracket_kernel(Sweep::Default)
}

/// [`median_is_exact_with_every_bracket_kernel`] with d = 40 and 128 too.
#[test]
#[ignore = "long suite: scripts/test-long.sh"]
fn median_is_exact_with_every_bracket_kernel_at_every_d() -> Result<()> {
    every_bracket_kernel(Sweep::Whole)
}

fn every_bracket_kernel(sweep: Sweep) -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    for layout in super::common::phi_layouts(ctx) {
        for chunked in [false, true] {
            let Some((ctx, ref k)) = super::common::gpu_phi_layout(layout, chunked)? else {
                return Ok(());
            };
            // pair_bracket_mid's range (5..=16) at both ends and between; every size where
            // the device median's list pass runs (past M·d = 2¹⁶, or 2¹⁵ past 2¹⁴ pairs;
            // below, median_small lists the pairs itself).
            for (n, d) in [
                (257, 3),
                (163, 5),
                (257, 9),
                (97, 16),
                (300, 17),
                (131, 40),
                (100, 64),
                (70, 100),
                (37, 128),
            ]
            .into_iter()
            .filter(|&(_, d)| sweep == Sweep::Whole || ![40, 128].contains(&d))
            {
                let x = integer_particles(n, d, 2 + (n as i64) / 60, (n * 7 + d) as u64);
                let want = super::common::median_reference(&x, d);
                let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let xb = GpuVec::from_slice(ctx, "x", &x32)?;
                for (samples, cap) in [(0, 1 << 20), (16, 7)] {
                    let mut sel = MedianSelector::with_limits(ctx, k, n, d, samples, cap)?;
                    let got = sel.median_sqdist(ctx, k, &xb)?.med;
                    ensure!(
                        got == want,
                        "{layout:?} chunked={chunked} n={n} d={d} S={samples} cap={cap}: gpu {got}, f64 sort {want}"
                    );
                }
                // The device median's list pass in mode 2 through the same kernel: every pair
                // (first selection), then particles twice as far apart (the guess misses:
                // median_small lists every pair itself, or past M·d = 2¹⁸ the second list
                // pass), again (a hit: the values gathered from the rows' starts), a NaN on
                // the last particle (its pairs in the last column chunk), then the first
                // particles again (no guess after the NaN).
                let twice: Vec<f32> = x32.iter().map(|&v| 2.0 * v).collect();
                let mut nan = twice.clone();
                nan[n * d - 1] = f32::NAN;
                let mut dm = stein::median::DeviceMedian::new(ctx, k, n, d)?;
                ensure!(
                    !dm.lists_own(),
                    "n={n} d={d}: median_small lists the pairs itself, no list pass runs"
                );
                for (i, (xs, want)) in [
                    (&x32, Some(want)),
                    (&twice, Some(4.0 * want)),
                    (&twice, Some(4.0 * want)),
                    (&nan, None),
                    (&x32, Some(want)),
                ]
                .into_iter()
                .enumerate()
                {
                    let xb = GpuVec::from_slice(ctx, "x", xs)?;
                    let mut rec = stein::gpu::Recorder::new(ctx);
                    dm.record(ctx, k, &mut rec, &xb)?;
                    rec.submit(ctx);
                    let got = dm.result(ctx).ok().map(|r| r.med);
                    ensure!(
                        got == want,
                        "{layout:?} chunked={chunked} n={n} d={d} device selection {i}: {got:?}, want {want:?}"
                    );
                }
                // The third selection's guess holds (the list pass in mode 2 behind it).
                let held = dm.guessed_selections(ctx)?;
                ensure!(
                    held == 1,
                    "{layout:?} chunked={chunked} n={n} d={d}: {held} guesses held, want 1"
                );
            }
        }
    }
    Ok(())
}

/// Runs pair_bracket (the device's default kernel, reading the x texture where it does) over
/// every column chunk of `p.n` particles `x` in `p.d` dimensions, in one submit.
fn run_pair_bracket(
    p: stein::gpu::params::SelectParams,
    x: &GpuVec<f32>,
    offsets: &GpuVec<u32>,
    counts: &GpuVec<u32>,
    out: &GpuVec<f32>,
) -> Result<()> {
    let (ctx, k) = gpu()?.expect("gpu");
    let (n, d) = (p.n as usize, p.d as usize);
    let xt = if k.median_x_texture(n, d) {
        Some(stein::kernels::XTexture::new(ctx, n, d)?)
    } else {
        None
    };
    let mut enc = stein::gpu::Recorder::new(ctx);
    if let Some(t) = &xt {
        k.record_x_texture(ctx, &mut enc, x, t)?;
    }
    k.record_pair_bracket(ctx, &mut enc, p, x, xt.as_ref(), offsets, counts, out)?;
    enc.submit(ctx);
    Ok(())
}

/// pair_bracket past llvmpipe's loop budget: with [lo, hi] = [1, ∞) every pair j > i is below
/// or inside, so row i must count exactly n − 1 − i. Column chunks sized from fewer loop passes
/// than the kernel makes (pair_bracket_shuffle: SG + 2 per SG columns) let llvmpipe end the
/// loops early and rows come up short; the median would then rank from wrong counts.
#[test]
fn pair_bracket_counts_every_pair_past_the_loop_budget() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    use stein::gpu::params::SelectParams;
    for d in [2, 9] {
        let n = 61_000;
        let (x32, _) = normals(n, d, 1.0, 71 + d as u64);
        let x = GpuVec::from_slice(ctx, "x", &x32)?;
        let plan = k.bracket_plan(ctx, n, d)?;
        if ctx.loop_limit().is_some() {
            ensure!(plan.len() > 1, "n = {n} must be split into column chunks");
        }
        let offsets = GpuVec::<u32>::zeros(ctx, "offsets", n + 1)?;
        let counts = GpuVec::<u32>::zeros(ctx, "counts", 2 * n)?;
        let out = GpuVec::<f32>::zeros(ctx, "out", 1)?;
        let p = SelectParams {
            n: n as u32,
            d: d as u32,
            lo: 1.0,
            hi: f32::INFINITY,
            mode: 0,
            ..Default::default()
        };
        run_pair_bracket(p, &x, &offsets, &counts, &out)?;
        let c = counts.read(ctx)?;
        let short: Vec<usize> = (0..n)
            .filter(|&i| (c[2 * i] + c[2 * i + 1]) as usize != n - 1 - i)
            .collect();
        ensure!(
            short.is_empty(),
            "d = {d}: {} rows miscounted, first {:?}: {} + {} for {} partners",
            short.len(),
            short.first(),
            c[2 * short[0]],
            c[2 * short[0] + 1],
            n - 1 - short[0]
        );
    }
    Ok(())
}

/// pair_bracket in list mode at its worst for llvmpipe's loop budget: with [lo, hi] = [0, ∞)
/// and a slot for every pair, every lane lists all its rows at every column, so
/// pair_bracket_shuffle's list loop runs its most passes (one a row, then its exit). One
/// unchunked pass over n = 6500 columns would make about 67 000 against the budget of 65 535,
/// so chunks sized without the list loop's passes lose columns: every row must count and list
/// exactly its n − 1 − i partners, and sampled rows must list their distances.
#[test]
fn pair_bracket_lists_every_pair_past_the_loop_budget() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    use stein::gpu::params::SelectParams;
    let (n, d) = (6500, 2);
    let (x32, x64) = normals(n, d, 1.0, 77);
    let x = GpuVec::from_slice(ctx, "x", &x32)?;
    let plan = k.bracket_plan(ctx, n, d)?;
    if ctx.loop_limit().is_some() && k.median_x_texture(n, d) {
        ensure!(plan.len() > 1, "n = {n} must be split into column chunks");
    }
    let mut starts = vec![0u32];
    for i in 0..n {
        starts.push(starts[i] + (n - 1 - i) as u32);
    }
    let m = starts[n] as usize;
    let offsets = GpuVec::from_slice(ctx, "offsets", &starts)?;
    let counts = GpuVec::<u32>::zeros(ctx, "counts", 2 * n)?;
    let out = GpuVec::<f32>::nan_filled(ctx, "out", m)?;
    let p = SelectParams {
        n: n as u32,
        d: d as u32,
        lo: 0.0,
        hi: f32::INFINITY,
        mode: 1,
        ..Default::default()
    };
    run_pair_bracket(p, &x, &offsets, &counts, &out)?;
    let c = counts.read(ctx)?;
    let short: Vec<usize> = (0..n)
        .filter(|&i| c[2 * i] != 0 || c[2 * i + 1] as usize != n - 1 - i)
        .collect();
    ensure!(
        short.is_empty(),
        "{} rows miscounted, first {:?}: {} below, {} inside for {} partners",
        short.len(),
        short.first(),
        c[2 * short[0]],
        c[2 * short[0] + 1],
        n - 1 - short[0]
    );
    let listed = out.read(ctx)?;
    for i in [0, 1, 2, 3, 7, 8, 9, n / 2, n - 2] {
        let mut got: Vec<f64> = listed[starts[i] as usize..starts[i + 1] as usize]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        let mut want: Vec<f64> = (i + 1..n).map(|j| cpu::sqdist(&x64, d, i, j)).collect();
        got.sort_by(f64::total_cmp);
        want.sort_by(f64::total_cmp);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs() / w.max(1e-3))
            .fold(0.0, f64::max);
        ensure!(
            got.len() == want.len() && worst < 1e-5,
            "row {i}: listed {} distances, worst relative error {worst:e}",
            got.len()
        );
    }
    Ok(())
}

/// The opt-in `--bandwidth median-sampled`: the median from the selector's 2²⁰ sampled pairs
/// alone. Its error is a sample quantile's (standard error ≈ 0.5 / (1024 f(med) med)
/// relative: ≈ 1.4e-3 for a 2-D normal cloud, less at larger d), so within 1 % of the exact
/// median here (about 7 standard errors at d = 2; the hash is seeded, so the test cannot
/// flake); the same on a rerun with a fresh selector; and the exact median itself below 2²¹
/// pairs, where no sample is drawn.
#[test]
fn the_sampled_median_is_near_the_exact_one_and_exact_for_small_n() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    for (n, d) in [(3000, 2), (2500, 16), (2100, 64), (2048, 3)] {
        let (x32, _) = normals(n, d, 1.0, (n + d) as u64);
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let exact = MedianSelector::new(ctx, k, n, d)?
            .median_sqdist(ctx, k, &xb)?
            .med;
        let mut sel = MedianSelector::new(ctx, k, n, d)?;
        let lists_all = sel.samples() == 0;
        let sampled = sel.median_sampled(ctx, k, &xb)?;
        let again = MedianSelector::new(ctx, k, n, d)?.median_sampled(ctx, k, &xb)?;
        ensure!(
            sampled.med.to_bits() == again.med.to_bits(),
            "n={n} d={d}: sampled median {} then {}",
            sampled.med,
            again.med
        );
        if lists_all {
            ensure!(
                sampled.med == exact,
                "n={n} d={d}: {} against the exact {exact}",
                sampled.med
            );
        } else {
            let rel = (sampled.med - exact).abs() / exact;
            ensure!(
                rel < 1e-2 && sampled.passes == 0,
                "n={n} d={d}: sampled {} against exact {exact} (relative {rel:e}), {} passes",
                sampled.med,
                sampled.passes
            );
        }
    }
    Ok(())
}

/// The device median (`DeviceMedian`: every pass recorded into one encoder, no readback)
/// against the host-driven selector, bit for bit: its median, and its 1/h against the host's
/// `(1 / from_median(med, n)) as f32` (the value φ is given on the host path). `knobs`
/// force its rare paths. Returns the device's result and how many of its one-workgroup
/// selections bypassed their bracket ([`stein::median::DeviceMedian::whole_selections`]).
fn device_against_host(
    x32: &[f32],
    n: usize,
    d: usize,
    knobs: stein::median::Knobs,
) -> Result<(stein::median::MedianResult, u32)> {
    use stein::median::DeviceMedian;
    let (ctx, k) = gpu()?.expect("gpu");
    let xb = GpuVec::from_slice(ctx, "x", x32)?;
    let host = MedianSelector::new(ctx, k, n, d)?.median_sqdist(ctx, k, &xb)?;
    let mut dm = DeviceMedian::with_knobs(ctx, k, n, d, knobs)?;
    // Pre-filled with NaN by the constructor; written by the recorded passes. The second
    // selection may take the first's statistics as its bracket (median_small's guess), so the
    // bypassed brackets of both are counted.
    let mut whole = 0;
    for _ in 0..2 {
        let got = select_against_host(&mut dm, &xb, Some(&host), n, d, &format!("{knobs:?}"))?;
        ensure!(got.is_some(), "n={n} d={d}: the device saw a NaN");
        whole += dm.whole_selections(ctx)?;
    }
    Ok((dm.result(ctx)?, whole))
}

/// Records one selection of `dm` over the particles `xb` and checks it against the host
/// selector's result on them, `host` (None where the host refused a NaN): the same median bit
/// for bit and (h, 1/h) the host's `from_median` and `(1 / h) as f32` bit for bit, or both
/// refusing. Returns the device's result (None for the NaN).
fn select_against_host(
    dm: &mut stein::median::DeviceMedian,
    xb: &GpuVec<f32>,
    host: Option<&stein::median::MedianResult>,
    n: usize,
    d: usize,
    what: &str,
) -> Result<Option<stein::median::MedianResult>> {
    let (ctx, k) = gpu()?.expect("gpu");
    let mut rec = stein::gpu::Recorder::new(ctx);
    dm.record(ctx, k, &mut rec, xb)?;
    rec.submit(ctx);
    let (got, host) = match (dm.result(ctx), host) {
        (Err(_), None) => return Ok(None),
        (Ok(got), Some(host)) => (got, host),
        (got, host) => anyhow::bail!("n={n} d={d} {what}: device {got:?}, host {host:?}"),
    };
    ensure!(
        got.med.to_bits() == host.med.to_bits(),
        "n={n} d={d} {what}: device median {} ({} passes), host {}",
        got.med,
        got.passes,
        host.med
    );
    let h = stein::bandwidth::from_median(host.med, n);
    let dev_h = dm.h.read(ctx)?;
    ensure!(
        dev_h[1].to_bits() == ((1.0 / h) as f32).to_bits()
            && dev_h[0].to_bits() == (h as f32).to_bits(),
        "n={n} d={d} {what}: device (h, 1/h) = {dev_h:?}, host h = {h}"
    );
    Ok(Some(got))
}

/// The device median equals the host selector's on the case table's sizes (n = 1, 2, primes,
/// workgroup sizes ± 1, past the list-everything size 2048 where the sample brackets), at
/// d = 1 (the most ties), 2, 17 and 100, on tie-heavy integer and on float particles; every
/// path by size: median_small's own list (M·d ≤ 2¹⁶ up to 2¹⁴ pairs: n ≤ 129 here), the
/// guessed list pass (up to 2¹⁹ pairs; a miss listed again by median_small up to
/// M·d = 2¹⁸), the sample.
#[test]
fn device_median_is_the_host_selectors_bit_for_bit() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    for (n, d) in [
        (1, 1),
        (2, 1),
        (3, 2),
        (31, 17),
        (64, 1),
        (65, 3),
        (129, 5),
        (255, 2),
        (257, 100),
        (400, 17),
        (1000, 2),
        (2049, 1),
        (2053, 17),
    ] {
        let xi = integer_particles(n, d, 3 + (n as i64) / 50, (n * 7 + d) as u64);
        let xi: Vec<f32> = xi.iter().map(|&v| v as f32).collect();
        device_against_host(&xi, n, d, Default::default())?;
        let (xf, _) = normals(n, d, 1.5, (n + 3 * d) as u64);
        device_against_host(&xf, n, d, Default::default())?;
    }
    Ok(())
}

/// The one-workgroup radix selection of a list longer than its bracket's capacity
/// (common/radix_small.wgsl: median_small for every pair up to 2¹⁹, select_small for the
/// sample and the candidates): the stride sample's bracket taken, bypassed because it misses
/// (forced by a negative width), and bypassed because ties put too many values inside it,
/// each the host's median bit for bit.
#[test]
fn device_median_one_workgroup_selection_paths_are_exact() -> Result<()> {
    use stein::median::Knobs;
    if gpu()?.is_none() {
        return Ok(());
    }
    // n = 300 and 500 list their 44 850 and 124 750 pairs for median_small to select from (the
    // first selection among every pair, the second among those inside the first's guess);
    // n = 1000, made to sample 32 768 pairs, for select_small, which then selects among the
    // bracket's candidates.
    for (n, d, samples) in [(300, 3, None), (500, 2, None), (1000, 2, Some(1 << 15))] {
        let (x, _) = normals(n, d, 1.0, (3 * n + d) as u64);
        let sampled = Knobs {
            samples,
            ..Default::default()
        };
        let (r, whole) = device_against_host(&x, n, d, sampled)?;
        ensure!(whole == 0, "n={n}: a bracket was bypassed ({r:?})");
        let miss = Knobs {
            radix_sigmas: Some(-100.0),
            ..sampled
        };
        let (r, whole) = device_against_host(&x, n, d, miss)?;
        ensure!(whole >= 1, "n={n}: no bracket was bypassed ({r:?})");
        // Three values, so three distances (0, 1, 4): the median's tie is most of the list.
        let xi: Vec<f32> = integer_particles(n, 1, 1, n as u64)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let (r, whole) = device_against_host(&xi, n, 1, sampled)?;
        ensure!(
            whole >= 1,
            "n={n}: the tie did not overflow a bracket ({r:?})"
        );
    }
    Ok(())
}

/// Where every pair is listed (up to 2¹⁹ pairs), from its second selection on the device
/// median lists only the pairs inside a bracket around its previous order statistics, and
/// where that misses a rank lists every pair again (median_small itself up to M·d = 2¹⁸:
/// n = 181 to 627 here; the second list pass past it: n = 1024) and selects among them; where
/// `DeviceMedian::lists_own` (M·d ≤ 2¹⁶ up to 2¹⁴ pairs, 2¹⁵ past it) median_small lists
/// every pair itself each time and brackets its one-workgroup selection with the guess
/// (n = 2, 64, 150 and 256 at d = 1, 163 at d = 3). Particles that drift a little (the guess
/// holds both ranks), jump (it misses: listed again; the next guess, widened, holds them),
/// hold a NaN (no guess after it), or fall onto three values past RADIX_CAP pairs (the guess
/// holds them, too many to select among without falling back to every value): each selection
/// is the host selector's median bit for bit, and the guess is taken exactly where
/// expected.
#[test]
fn device_median_guessed_brackets_are_exact() -> Result<()> {
    use stein::median::DeviceMedian;
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    // One selection checked against the host's, and whether its guess held both ranks.
    let select = |dm: &mut DeviceMedian, x: &[f32], n: usize, d: usize| -> Result<bool> {
        let xb = GpuVec::from_slice(ctx, "x", x)?;
        let before = dm.guessed_selections(ctx)?;
        let host = MedianSelector::new(ctx, k, n, d)?
            .median_sqdist(ctx, k, &xb)
            .ok();
        select_against_host(dm, &xb, host.as_ref(), n, d, "")?;
        let after = dm.guessed_selections(ctx)?;
        ensure!(
            after <= before + 1,
            "n={n} d={d}: {before} -> {after} guesses"
        );
        Ok(after == before + 1)
    };
    for (n, d) in [
        (2, 1),
        (64, 2),
        (150, 1),
        (256, 1),
        (163, 3),
        (181, 5),
        (300, 3),
        (362, 2),
        (627, 1),
        (1024, 2),
    ] {
        let (x0, _) = normals(n, d, 1.0, (7 * n + d) as u64);
        let scaled = |f: f32| x0.iter().map(|&v| v * f).collect::<Vec<f32>>();
        let mut nan = x0.clone();
        nan[d] = f32::NAN;
        let mut dm = DeviceMedian::new(ctx, k, n, d)?;
        let direct = dm.lists_own();
        // (particles, whether the guess holds both ranks; None: either)
        let steps = [
            (x0.clone(), Some(false)),
            (scaled(1.001), Some(true)),
            (scaled(1.002), Some(true)),
            // Distances nine times as long: a miss (past the own list every pair listed again).
            (scaled(3.0), Some(false)),
            // The width after a miss: four times as wide, and past the own list at least three
            // times the last change (capped at the statistics' size): a hit; below a hit,
            // or too many values for the one-workgroup bracket (then a quarter as wide).
            (scaled(3.0), (!direct).then_some(true)),
            (scaled(3.0), Some(true)),
            (scaled(3.001), Some(true)),
            // A NaN: the result is the NaN error, and the selection after it does not guess.
            (nan, Some(false)),
            (scaled(3.0), Some(false)),
            (scaled(3.0), Some(true)),
        ];
        for (i, (x, hit)) in steps.iter().enumerate() {
            let took = select(&mut dm, x, n, d)?;
            ensure!(
                hit.is_none_or(|hit| took == hit),
                "n={n} d={d} selection {i}: guess held {took}, expected {hit:?}"
            );
            // The jump's miss lists every pair a second time (median_small's own list or
            // the second list pass), and the result counts that pass.
            if i == 3 && !direct {
                let passes = dm.result(ctx)?.passes;
                ensure!(
                    passes == 2,
                    "n={n} d={d} selection {i}: {passes} passes after a miss, want 2"
                );
            }
        }
        // Three values, past RADIX_CAP pairs: the tie is most of the list, so the guess
        // around it holds most pairs, and the selection among them falls back to every one;
        // where median_small lists every pair each time the guess, the one-workgroup
        // selection's first bracket, holds too many values and never counts as held. (The
        // first coordinate takes three values, the others are 0.)
        if n * (n - 1) / 2 > 3200 {
            let ties: Vec<f32> = integer_particles(n, 1, 1, n as u64)
                .iter()
                .flat_map(|&v| std::iter::once(v as f32).chain(std::iter::repeat_n(0.0, d - 1)))
                .collect();
            let mut dm = DeviceMedian::new(ctx, k, n, d)?;
            for i in 0..3 {
                ensure!(
                    select(&mut dm, &ties, n, d)? == (i > 0 && !direct),
                    "n={n} d={d} tie {i}: the guess held the ranks {} times",
                    dm.guessed_selections(ctx)?
                );
                ensure!(
                    dm.whole_selections(ctx)? >= 1,
                    "n={n} d={d} tie {i}: the tie did not overflow a bracket"
                );
            }
        }
    }
    Ok(())
}

/// Its rare paths, forced: rows past their slots listed again (slots cut to a fifth), and
/// the narrowing passes (a sample of 64 pairs whose bracket misses, or no row allowed a
/// second listing), each still the host's median bit for bit.
#[test]
fn device_median_rare_paths_are_exact() -> Result<()> {
    use stein::median::Knobs;
    if gpu()?.is_none() {
        return Ok(());
    }
    for (n, d) in [(2049, 2), (577, 5)] {
        let (x, _) = normals(n, d, 1.0, (n * d) as u64);
        let relist = Knobs {
            samples: Some(1 << 16),
            slot_scale: 0.2,
            ..Default::default()
        };
        let (r, _) = device_against_host(&x, n, d, relist)?;
        ensure!(
            r.passes == 2,
            "n={n}: the relisting pass did not run ({r:?})"
        );
        let narrow = Knobs {
            samples: Some(1 << 16),
            slot_scale: 0.2,
            rows_max: Some(0),
            ..Default::default()
        };
        let (r, _) = device_against_host(&x, n, d, narrow)?;
        // One list pass, then three narrowing rounds for each of the two statistics.
        ensure!(
            r.passes == 7,
            "n={n}: the narrowing passes did not run ({r:?})"
        );
        let tiny = Knobs {
            samples: Some(64),
            ..Default::default()
        };
        device_against_host(&x, n, d, tiny)?;
    }
    Ok(())
}
