//! One test per bug found, named after the issue, with the smallest failing case.

use anyhow::{ensure, Result};
use stein::cpu;
use stein::gpu::GpuVec;
use stein::io::target::{Gaussian, Target};
use stein::kernels::{PhiLayout, PhiScratch, PhiVariant};
use stein::median::MedianSelector;
use stein::svgd::{target_score, Bandwidth, Optimizer, Svgd};

use super::common::{
    check_ksd, check_phi, gpu, gpu_chunked, gpu_phi_layout, normals, run_ksd, run_phi, CHUNK,
};

/// Issue 2: llvmpipe ends the loops of an invocation once they have run 65535 iterations in
/// total (LP_MAX_TGSI_LOOP_ITERATIONS, shared by all loops), silently. A looped kernel that
/// runs n·d inner iterations per invocation (the KSD rows; φ for d > 64 before it moved to
/// column blocks) must split the columns into chunks; before it did, 1000 particles in 70
/// dimensions got φ and KSD summed over the first few hundred columns only, with no error.
/// The cases are past that limit at dimensions the case table builds pipelines for anyway
/// (each new d is a cold shader build of φ and the KSD on lavapipe): 1000 particles in 100
/// dimensions, φ there in the column blocks (the lane layout's kernel past d = 64) and in
/// this device's default kernel, and 2000 in 64.
#[test]
fn issue_2_llvmpipe_loop_limit_in_looped_kernels() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    for (n, d) in [(1000, 100), (2000, 64)] {
        ensure!(n * d > 65535, "n = {n}, d = {d} is not past the loop limit");
        let (x32, x) = normals(n, d, 1.0, 70);
        let s: Vec<f64> = x.iter().map(|v| 0.5 - v).collect();
        let s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        let h = 2.0 * d as f64 / (n as f64).ln();
        if d > 64 {
            // On the lane layout's own device (see gpu_phi_layout).
            let Some((blocks_ctx, ref blocks)) = gpu_phi_layout(PhiLayout::Lane, false)? else {
                return Ok(());
            };
            ensure!(blocks.phi_variant(d, n) == PhiVariant::General);
            let scratch = PhiScratch::new(blocks_ctx, blocks, n, d)?;
            if ctx.info.name.contains("llvmpipe") {
                ensure!(
                    scratch.chunks() > 1,
                    "{n}·{d} inner iterations must be split on llvmpipe"
                );
            }
            for (ctx, kernels) in [(blocks_ctx, &**blocks), (ctx, k)] {
                let got = run_phi(ctx, kernels, &x32, &s32, (n, d), h)?;
                let what = format!("phi {:?} n={n} d={d}", kernels.phi_variant(d, n));
                check_phi(&got, &x, &s, d, h, &what)?;
            }
        }
        check_ksd(
            run_ksd(ctx, k, &x32, &s32, (n, d), h)?,
            &x,
            &s,
            d,
            h,
            &format!("ksd n={n} d={d}"),
        )?;
    }
    Ok(())
}

/// Issue 2: the multi-chunk paths (per-chunk uniforms, running sums in scratch, cursors of
/// the median's list) at small sizes, with chunks capped at a prime number of columns. The
/// dimensions are ones the case table builds pipelines for anyway (1, 2, 3, 17, 64, 100):
/// each new d is a cold shader build of φ, KSD and the median's kernels on lavapipe.
#[test]
fn issue_2_column_chunks_agree_with_the_reference() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    for (n, d) in [
        (1, 3),
        (2, 1),
        (37, 2),
        (38, 2),
        (300, 2),
        (300, 17),
        (131, 64),
        (75, 100),
    ] {
        // The default layout's kernels, chunked.
        let Some((ctx, ref k)) = gpu_chunked()? else {
            return Ok(());
        };
        let (x32, x) = normals(n, d, 1.0, (n * d) as u64);
        let (s32, s) = normals(n, d, 1.0, 5 + n as u64);
        let h = 0.7 * d as f64;
        let scratch = PhiScratch::new(ctx, k, n, d)?;
        // svgd_phi_shuffle's chunks hold whole subgroups of columns, svgd_phi_gemm's whole
        // tiles.
        let cols = match k.phi_variant(d, n) {
            stein::kernels::PhiVariant::Shuffle(sg) => CHUNK.next_multiple_of(sg as usize),
            stein::kernels::PhiVariant::Gemm => CHUNK.next_multiple_of(stein::kernels::GEMM_TILE),
            _ => CHUNK,
        };
        ensure!(
            scratch.chunks() == n.div_ceil(cols),
            "n = {n}: {} chunks",
            scratch.chunks()
        );
        let got = run_phi(ctx, k, &x32, &s32, (n, d), h)?;
        check_phi(&got, &x, &s, d, h, &format!("chunked phi n={n} d={d}"))?;
        let ksd = run_ksd(ctx, k, &x32, &s32, (n, d), h)?;
        check_ksd(ksd, &x, &s, d, h, &format!("chunked ksd n={n} d={d}"))?;

        let xi: Vec<f64> = x.iter().map(|v| (v * 4.0).round()).collect();
        let xi32: Vec<f32> = xi.iter().map(|&v| v as f32).collect();
        let xib = GpuVec::from_slice(ctx, "xi", &xi32)?;
        let want = cpu::median::median_sqdist(&xi, d);
        for (samples, cap) in [(0, 1 << 20), (16, 7)] {
            let mut sel = MedianSelector::with_limits(ctx, k, n, d, samples, cap)?;
            let got = sel.median_sqdist(ctx, k, &xib)?.med;
            ensure!(
                got == want,
                "chunked median n={n} d={d} S={samples} cap={cap}: {got} vs {want}"
            );
        }
    }
    Ok(())
}

/// Issue 2 (found on an H100): elementwise kernels dispatched one workgroup per 64 or 256
/// items in one dimension failed past 65535 workgroups (φ at d = 256 from n = 16384). They
/// now run on a 2-D grid; here past the limit in both an update (256 per group) and an RBM
/// kernel over n·d (64 per group).
#[test]
fn issue_2_elementwise_kernels_dispatch_past_65535_workgroups() -> Result<()> {
    use stein::gpu::params::UpdateParams;
    use stein::model::rbm::{RbmBatch, RbmKernels, RbmShape};
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let len = 65535 * 256 + 77;
    let phi: Vec<f32> = (0..len).map(|e| (e % 1999) as f32 - 999.5).collect();
    let phib = GpuVec::from_slice(ctx, "phi", &phi)?;
    let x = GpuVec::<f32>::zeros(ctx, "x", len)?;
    let p = UpdateParams {
        len: len as u32,
        t: 1,
        step_size: 0.25,
        ..Default::default()
    };
    let mut enc = stein::gpu::Recorder::new(ctx);
    k.record_update(ctx, &mut enc, p, &phib, &x, &[])?;
    enc.submit(ctx);
    let got = x.read(ctx)?;
    let bad = (0..len).find(|&e| got[e] != 0.25 * phi[e]);
    ensure!(bad.is_none(), "sgd over {len} values: wrong at {bad:?}");

    let rk = RbmKernels::new(ctx)?;
    let (n, s) = (5400, RbmShape { d: 784, h: 2 });
    let th: Vec<f32> = (0..s.len())
        .map(|q| ((q % 13) as f32 - 6.0) * 0.01)
        .collect();
    let theta = GpuVec::from_slice(ctx, "theta", &th)?;
    let (x32, x64) = normals(n, s.d, 1.0, 3);
    let xb = GpuVec::from_slice(ctx, "x", &x32)?;
    let batch = RbmBatch::new(ctx, s, n)?;
    let sc = GpuVec::nan_filled(ctx, "score", n * s.d)?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    rk.record_hidden(ctx, &mut enc, s, &theta, &xb, &batch)?;
    rk.record_score(ctx, &mut enc, s, &theta, &xb, &batch, &sc)?;
    enc.submit(ctx);
    let th64: Vec<f64> = th.iter().map(|&v| f64::from(v)).collect();
    let want = cpu::rbm::score(&th64, s, &x64);
    super::common::assert_close(
        &sc.read(ctx)?,
        &want,
        super::common::TOL_MODEL,
        10.0,
        "rbm score n·d = 4.2M",
    )
}

/// Issue 2: llvmpipe's loop limiter counts every pass through a loop's end, the pass that
/// leaves the loop included, so a column loop with an inner loop of d iterations costs d + 2
/// per column, not d + 1. Chunks sized from d + 1 let KSD (n = 17 000, d = 2: 68 000 passes
/// in one chunk) and MMD lose their last columns, and the median's histogram pass (whose
/// four-row bin loop adds five passes per column) count a fraction of the pairs, silently.
#[test]
fn issue_2_loop_budget_counts_exit_passes() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    use stein::gpu::params::SelectParams;

    // KSD rows: one dimension loop inside the column loop (the looped ksd_rows, which the
    // tiled layout keeps; ksd_shuffle's plan has its own test).
    let (n, d) = (17_000, 2);
    let (x32, x) = normals(n, d, 1.0, 81);
    let s: Vec<f64> = x.iter().map(|v| -v).collect();
    let s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
    let h = 4.0 * d as f64;
    let got = {
        let Some((tiled_ctx, ref tiled)) = gpu_phi_layout(PhiLayout::Tiled, false)? else {
            return Ok(());
        };
        run_ksd(tiled_ctx, tiled, &x32, &s32, (n, d), h)?
    };
    check_ksd(got, &x, &s, d, h, "ksd n=17000 d=2")?;

    // MMD rows over the 18 000 particles of both samples.
    let (n, m, d) = (9_000, 9_000, 2);
    let (x32, x) = normals(n, d, 1.0, 82);
    let (y32, _) = normals(m, d, 1.3, 83);
    let y: Vec<f64> = y32.iter().map(|&v| f64::from(v) + 0.5).collect();
    let y32: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    let h = 4.0 * d as f64;
    let got = stein::mmd::mmd2(ctx, k, &x32, &y32, d, Some(h))?;
    let want = cpu::mmd::mmd2_unbiased(&x, &y, d, h);
    super::common::assert_close(
        &[got.mmd2 as f32],
        &[want],
        super::common::TOL_MMD,
        1.0,
        "mmd n=m=9000 d=2",
    )?;

    // pair_histogram over [0, ∞): its bins and below-count hold every pair j > i.
    for d in [2, 9] {
        let n = 12_000;
        let (x32, _) = normals(n, d, 1.0, 84 + d as u64);
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let hist = GpuVec::<u32>::zeros(
            ctx,
            "hist",
            n.div_ceil(256) * (stein::kernels::HISTOGRAM_BINS + 1),
        )?;
        let p = SelectParams {
            n: n as u32,
            d: d as u32,
            lo: 0.0,
            hi: f32::INFINITY,
            ..Default::default()
        };
        let mut enc = stein::gpu::Recorder::new(ctx);
        k.record_pair_histogram(ctx, &mut enc, p, &xb, &hist, None)?;
        enc.submit(ctx);
        let total: u64 = hist.read(ctx)?.iter().map(|&c| u64::from(c)).sum();
        let pairs = (n * (n - 1) / 2) as u64;
        ensure!(
            total == pairs,
            "pair_histogram n={n} d={d}: {total} pairs counted of {pairs}"
        );
    }
    Ok(())
}

/// Issue 2: the loop limit again, in kernels that loop over a size the user picks, one
/// invocation per particle or parameter: an RBM sample's d + H units (rbm_energy) and the
/// batch rows of its gradient (rbm_grad) were cut short on llvmpipe past 65 535 passes, with
/// no error. Both are refused there now (the mixture's and the Gaussian's scores: kernels.rs).
#[test]
fn issue_2_rbm_loops_are_checked_against_the_loop_limit() -> Result<()> {
    use stein::model::rbm::{RbmBatch, RbmKernels, RbmShape};
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let Some(limit) = ctx.loop_limit() else {
        return Ok(()); // only llvmpipe cuts loops short
    };
    let wide = RbmShape {
        d: 10,
        h: limit as usize,
    };
    let e = RbmBatch::new(ctx, wide, 2).err();
    ensure!(
        e.as_ref().is_some_and(|e| e
            .to_string()
            .contains("rbm_energy (d + H units per sample)")),
        "an RBM with H = {} was accepted: {e:?}",
        wide.h
    );
    let small = RbmShape { d: 1, h: 1 };
    let n = limit as usize;
    let batch = RbmBatch::new(ctx, small, n)?;
    let (x, w, g) = (
        GpuVec::<f32>::zeros(ctx, "x", n)?,
        GpuVec::<f32>::zeros(ctx, "w", n)?,
        GpuVec::<f32>::zeros(ctx, "g", small.len())?,
    );
    let mut enc = stein::gpu::Recorder::new(ctx);
    let e = RbmKernels::new(ctx)?
        .record_grad(ctx, &mut enc, small, &x, &batch, &w, &g)
        .err();
    ensure!(
        e.as_ref()
            .is_some_and(|e| e.to_string().contains("rbm_grad (one pass per batch row)")),
        "a gradient over {n} rows was accepted: {e:?}"
    );
    // The exact log Z walks (d + 1)(H + 2) passes a state; the check counted (d + 1)(H + 1),
    // so H = 2 at d = 16 384 (65 540 passes) went ahead and came back truncated.
    let images = RbmShape { d: 16_384, h: 2 };
    let theta = GpuVec::<f32>::zeros(ctx, "theta", images.len())?;
    let e = RbmKernels::new(ctx)?
        .log_partition(ctx, images, &theta)
        .err();
    ensure!(
        e.as_ref()
            .is_some_and(|e| format!("{e:#}").contains("rbm_logz_terms")),
        "an exact log Z at d = 16 384, H = 2 was accepted: {e:?}"
    );
    Ok(())
}

/// Issue 2: a kernel whose column chunks could not fit even one column in the loop budget
/// went ahead with one column a chunk, silently truncated (φ's gemm tiles past d ≈ 41 000 on
/// llvmpipe). φ there now takes the column blocks (d + 10 passes a pair, checked when the
/// scratch is planned) and is right at d = 50 000; past d = 59 990 they refuse, and the KSD's
/// chunk planner refuses its rows past about d = 30 000, naming the kernel.
#[test]
fn issue_2_a_column_past_the_loop_budget_is_refused() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    if ctx.loop_limit().is_none() {
        return Ok(()); // only llvmpipe cuts loops short
    }
    let d = 50_000;
    ensure!(
        k.phi_variant(d, 4) == PhiVariant::General,
        "{:?}",
        k.phi_variant(d, 4)
    );
    let (x32, x) = normals(4, d, 1.0, 50);
    let s: Vec<f64> = x.iter().map(|v| -v).collect();
    let s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
    let h = 2.0 * d as f64;
    let got = run_phi(ctx, k, &x32, &s32, (4, d), h)?;
    check_phi(&got, &x, &s, d, h, "phi n=4 d=50000")?;
    let e = PhiScratch::new(ctx, k, 4, 61_000).err();
    ensure!(
        e.as_ref()
            .is_some_and(|e| e.to_string().contains("loop iterations per invocation")),
        "φ at d = 61 000 was planned: {e:?}"
    );
    let e = k.ksd_plan(ctx, 4, 40_000).err();
    ensure!(
        e.as_ref()
            .is_some_and(|e| e.to_string().contains("ksd_rows")),
        "a KSD at d = 40 000 was planned: {e:?}"
    );
    // The generated batch's device median (one workgroup, 8 radix passes over its pairs)
    // fits 1024 rows there and not 2048 (67 597 passes), where SteinGAN takes the host's.
    ensure!(
        stein::median::BatchMedian::fits(ctx, 1024) && !stein::median::BatchMedian::fits(ctx, 2048),
        "the batch median's loop count"
    );
    Ok(())
}

/// Resident bytes of this process (`/proc/self/statm`, Linux), None elsewhere.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // The page size without libc: 4 KiB on the x86-64 and most aarch64 Linux machines CI
    // runs; a larger page only makes the bound below easier to exceed, never to miss.
    Some(pages * 4096)
}

/// Set in the child process of [`issue_leak_svgd_memory_stays_flat_over_steps`].
const LEAK_CHILD: &str = "STEIN_TEST_LEAK_CHILD";

/// A long `stein svgd` grew without bound on lavapipe (Mesa 22.3): ~1.3 MB a step at d = 16,
/// n = 100 (286 MB at 100 steps, 1.49 GB at 1000; the SVGD paper's 6000-step logistic run
/// reached 10 GB). lavapipe compiled a fresh copy of a shader at every dispatch whose
/// branches or loop bounds read a uniform (the uniform's values inlined) and never freed it;
/// kernels now read their parameters from a storage buffer on CPU adapters
/// (`GpuContext::params_in_storage`). 200 steps after the first 100 (which build the
/// pipelines) must add less than 32 MB of resident memory, where the leak added ~260 MB.
/// Measured in a child process running this test alone, so that no other test's
/// allocations count; skipped off Linux.
#[test]
fn issue_leak_svgd_memory_stays_flat_over_steps() -> Result<()> {
    if resident_bytes().is_none() {
        return Ok(());
    }
    if std::env::var_os(LEAK_CHILD).is_none() {
        if gpu()?.is_none() {
            return Ok(());
        }
        // The test's name as the harness lists it: this module's path without the crate's.
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::issue_leak_svgd_memory_stays_flat_over_steps");
        let out = std::process::Command::new(std::env::current_exe()?)
            .args(["--exact", &name, "--nocapture", "--test-threads", "1"])
            .env(LEAK_CHILD, "1")
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(out.status.success(), "the child run failed:\n{text}");
        // The child must have run the test, not filtered it away.
        ensure!(text.contains("1 passed"), "the child ran no test:\n{text}");
        return Ok(());
    }
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let (n, d) = (100, 16);
    let eye: Vec<Vec<f64>> = (0..d)
        .map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let target = Target::Gaussian(Gaussian::new(vec![0.0; d], eye, "leak")?);
    let (x0, _) = normals(n, d, 1.0, 19);
    let mut engine = Svgd::new(ctx, k, target_score(ctx, &target)?, &x0, n, Optimizer::Sgd)?;
    let mut run = |steps: usize| -> Result<u64> {
        for _ in 0..steps {
            engine.step(0.05, Bandwidth::Fixed(1.0))?;
        }
        ctx.wait()?;
        resident_bytes().ok_or_else(|| anyhow::anyhow!("statm went away"))
    };
    let after_100 = run(100)?;
    let after_300 = run(200)?;
    let grown = after_300.saturating_sub(after_100);
    println!("resident: {after_100} B after 100 steps, {after_300} B after 300");
    ensure!(
        grown < 32 << 20,
        "200 SVGD steps grew resident memory by {} MB ({after_100} → {after_300} bytes)",
        grown >> 20
    );
    Ok(())
}
