//! One test per bug found, named after the issue, with the smallest failing case.

use anyhow::{ensure, Result};
use stein::cpu;
use stein::gpu::GpuVec;
use stein::kernels::PhiScratch;
use stein::median::MedianSelector;

use super::common::{assert_close, gpu, gpu_chunked, normals, CHUNK, TOL_PAIRWISE};

/// Issue 2: llvmpipe ends the loops of an invocation once they have run 65535 iterations in
/// total (LP_MAX_TGSI_LOOP_ITERATIONS, shared by all loops), silently. The looped kernels
/// (φ for d > 64, the KSD rows) run n·d inner iterations per invocation, so they must split
/// the columns into chunks; before they did, 1000 particles in 70 dimensions got a φ summed
/// over the first few hundred columns only, and the KSD likewise, with no error.
#[test]
fn issue_2_llvmpipe_loop_limit_in_looped_kernels() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    for (n, d) in [(1000, 70), (2000, 40)] {
        let (x32, x) = normals(n, d, 1.0, 70);
        let s: Vec<f64> = x.iter().map(|v| 0.5 - v).collect();
        let s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        let h = 2.0 * d as f64 / (n as f64).ln();
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let sb = GpuVec::from_slice(ctx, "s", &s32)?;
        if d > 64 {
            let phi = GpuVec::nan_filled(ctx, "phi", n * d)?;
            let scratch = PhiScratch::new(ctx, k, n, d)?;
            if ctx.info.name.contains("llvmpipe") {
                ensure!(
                    scratch.chunks() > 1,
                    "{n}·{d} inner iterations must be split on llvmpipe"
                );
            }
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            k.record_svgd_phi(ctx, &mut enc, &xb, &sb, &scratch, &phi, (n, d), h)?;
            ctx.queue.submit([enc.finish()]);
            let want = cpu::svgd::phi(&x, &s, d, h);
            let scale = 1.0 + 2.0 * (2.0 * d as f64).sqrt() / h;
            assert_close(
                &phi.read(ctx)?,
                &want,
                TOL_PAIRWISE,
                scale,
                &format!("phi n={n} d={d}"),
            )?;
        }
        let params: Vec<_> = k
            .ksd_plan(ctx, n, d)
            .iter()
            .map(|_| stein::gpu::GpuUniform::new(ctx, "p", &Default::default()))
            .collect();
        let rows = GpuVec::nan_filled(ctx, "rows", n)?;
        let diag = GpuVec::nan_filled(ctx, "diag", n)?;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        k.record_ksd_rows(ctx, &mut enc, &params, &xb, &sb, &rows, &diag, (n, d), h)?;
        ctx.queue.submit([enc.finish()]);
        let (v, _) = stein::svgd::ksd_from_rows(&rows.read(ctx)?, &diag.read(ctx)?);
        let (want_v, _) = cpu::ksd::ksd2(&x, &s, d, h);
        let kscale = 2.0 * d as f64 / h + 2.0 * d as f64;
        assert_close(
            &[v as f32],
            &[want_v],
            TOL_PAIRWISE,
            kscale,
            &format!("ksd n={n} d={d}"),
        )?;
    }
    Ok(())
}

/// Issue 2: the multi-chunk paths (per-chunk uniforms, running sums in scratch, cursors of
/// the median's list) at small sizes, with chunks capped at a prime number of columns.
#[test]
fn issue_2_column_chunks_agree_with_the_reference() -> Result<()> {
    let Some((ctx, k)) = gpu_chunked()? else {
        return Ok(());
    };
    for (n, d) in [
        (1, 3),
        (2, 1),
        (37, 2),
        (38, 2),
        (300, 2),
        (300, 9),
        (131, 40),
        (75, 70),
    ] {
        let (x32, x) = normals(n, d, 1.0, (n * d) as u64);
        let (s32, s) = normals(n, d, 1.0, 5 + n as u64);
        let h = 0.7 * d as f64;
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let sb = GpuVec::from_slice(ctx, "s", &s32)?;
        let phi = GpuVec::nan_filled(ctx, "phi", n * d)?;
        let scratch = PhiScratch::new(ctx, k, n, d)?;
        ensure!(
            scratch.chunks() == n.div_ceil(CHUNK),
            "n = {n}: {} chunks",
            scratch.chunks()
        );
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        k.record_svgd_phi(ctx, &mut enc, &xb, &sb, &scratch, &phi, (n, d), h)?;
        ctx.queue.submit([enc.finish()]);
        let want = cpu::svgd::phi(&x, &s, d, h);
        let scale = 1.0 + 2.0 * (2.0 * d as f64).sqrt() / h;
        assert_close(
            &phi.read(ctx)?,
            &want,
            TOL_PAIRWISE,
            scale,
            &format!("chunked phi n={n} d={d}"),
        )?;

        let params: Vec<_> = k
            .ksd_plan(ctx, n, d)
            .iter()
            .map(|_| stein::gpu::GpuUniform::new(ctx, "p", &Default::default()))
            .collect();
        let rows = GpuVec::nan_filled(ctx, "rows", n)?;
        let diag = GpuVec::nan_filled(ctx, "diag", n)?;
        let mut enc = ctx.device.create_command_encoder(&Default::default());
        k.record_ksd_rows(ctx, &mut enc, &params, &xb, &sb, &rows, &diag, (n, d), h)?;
        ctx.queue.submit([enc.finish()]);
        let (v, _) = stein::svgd::ksd_from_rows(&rows.read(ctx)?, &diag.read(ctx)?);
        let (want_v, _) = cpu::ksd::ksd2(&x, &s, d, h);
        let kscale = 2.0 * d as f64 / h + 2.0 * d as f64;
        assert_close(
            &[v as f32],
            &[want_v],
            TOL_PAIRWISE,
            kscale,
            &format!("chunked ksd n={n} d={d}"),
        )?;

        let xi: Vec<f64> = x.iter().map(|v| (v * 4.0).round()).collect();
        let xi32: Vec<f32> = xi.iter().map(|&v| v as f32).collect();
        let xib = GpuVec::from_slice(ctx, "xi", &xi32)?;
        for (samples, cap) in [(0, 1 << 20), (16, 7)] {
            let mut sel = MedianSelector::with_limits(ctx, k, n, d, samples, cap)?;
            let got = sel.median_sqdist(ctx, k, &xib)?.med;
            let want = cpu::median::median_sqdist(&xi, d);
            ensure!(
                got == want,
                "chunked median n={n} d={d} S={samples} cap={cap}: {got} vs {want}"
            );
        }
    }
    Ok(())
}
