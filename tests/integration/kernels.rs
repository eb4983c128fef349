//! Every kernel against its f64 reference on the case table, outputs NaN-filled first.

use anyhow::{ensure, Context, Result};
use stein::cpu;
use stein::gpu::params::UpdateParams;
use stein::gpu::{GpuContext, GpuVec, Recorder};
use stein::io::target::{Gmm, SplitMix64};
use stein::kernels::{pack_gmm, Kernels, PhiLayout};

use super::common::{self, assert_close, gpu, max_abs, normals, Sweep, DS, NS, TOL_CHAINS};

fn submit(ctx: &GpuContext, f: impl FnOnce(&mut Recorder) -> Result<()>) -> Result<()> {
    let mut enc = Recorder::new(ctx);
    f(&mut enc)?;
    enc.submit(ctx);
    Ok(())
}

fn random_gmm(d: usize, k: usize, seed: u64) -> Gmm {
    let mut rng = SplitMix64::new(seed);
    let weights = (0..k).map(|_| 0.2 + rng.next_f64()).collect();
    let means = (0..k)
        .map(|_| (0..d).map(|_| 2.0 * rng.next_normal()).collect())
        .collect();
    let stds = (0..k)
        .map(|_| (0..d).map(|_| 0.5 + rng.next_f64()).collect())
        .collect();
    Gmm::new(weights, means, stds).unwrap()
}

fn gpu_score(ctx: &GpuContext, k: &Kernels, gmm: &Gmm, x: &[f32], n: usize) -> Result<Vec<f32>> {
    let d = gmm.dim();
    let xb = GpuVec::from_slice(ctx, "x", x)?;
    let mix = GpuVec::from_slice(ctx, "mix", &pack_gmm(gmm))?;
    let out = GpuVec::nan_filled(ctx, "score", n * d)?;
    submit(ctx, |enc| {
        k.record_gmm_score(ctx, enc, &xb, &mix, &out, (n, d, gmm.components()))
    })?;
    out.read(ctx)
}

/// A score against its f64 reference. It sums terms ((μ_k − x)/σ_k² over K components, or d
/// products of a precision row with μ − x) of size up to max|want| and more: the tolerance is
/// relative to the largest term, not to a result that may cancel to near zero.
fn assert_score(got: &[f32], want: &[f64], what: &str) -> Result<()> {
    assert_close(got, want, common::TOL_SCORE, max_abs(want).max(1.0), what)
}

#[test]
fn gmm_score_matches_cpu_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    for &d in DS {
        let gmm = random_gmm(d, 3, d as u64);
        for &n in NS {
            let (x32, x64) = normals(n, d, 2.5, (n * 31 + d) as u64);
            let got = gpu_score(ctx, k, &gmm, &x32, n)?;
            let want = cpu::gmm::score(&gmm, &x64, d);
            assert_score(&got, &want, &format!("gmm_score n={n} d={d}"))?;
        }
    }
    Ok(())
}

/// gaussian_score against the f64 score −P(x − μ) on the case table, output NaN-filled first,
/// and at d = 300: one invocation per particle looped d² = 90 000 times there, past llvmpipe's
/// loop limit, and returned a truncated score (φ at d = 500 was off by 1.02 in 1.09).
#[test]
fn gaussian_score_matches_cpu_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let cases = DS
        .iter()
        .flat_map(|&d| NS.iter().map(move |&n| (n, d)))
        .chain([(3, 300), (70, 257)]);
    for (n, d) in cases {
        // C = A Aᵀ / d + I/2: symmetric positive definite, off-diagonal terms of order 1/√d.
        let mut rng = SplitMix64::new(d as u64 + 17);
        let a: Vec<f64> = (0..d * d).map(|_| rng.next_normal()).collect();
        let cov: Vec<Vec<f64>> = (0..d)
            .map(|r| {
                (0..d)
                    .map(|c| {
                        let dot: f64 = (0..d).map(|q| a[r * d + q] * a[c * d + q]).sum();
                        dot / d as f64 + if r == c { 0.5 } else { 0.0 }
                    })
                    .collect()
            })
            .collect();
        let mean: Vec<f64> = (0..d).map(|_| rng.next_normal()).collect();
        let g = stein::io::target::Gaussian::new(mean.clone(), cov, "test")?;
        let (x32, x64) = normals(n, d, 2.0, (n * 7 + d) as u64);
        let pm: Vec<f32> = g.precision.iter().chain(&mean).map(|&v| v as f32).collect();
        let (xb, pmb) = (
            GpuVec::from_slice(ctx, "x", &x32)?,
            GpuVec::from_slice(ctx, "pm", &pm)?,
        );
        let out = GpuVec::nan_filled(ctx, "score", n * d)?;
        submit(ctx, |enc| {
            k.record_gaussian_score(ctx, enc, &xb, &pmb, &out, (n, d))
        })?;
        let want: Vec<f64> = (0..n)
            .flat_map(|i| g.grad_log_density(&x64[i * d..(i + 1) * d]))
            .collect();
        assert_score(
            &out.read(ctx)?,
            &want,
            &format!("gaussian_score n={n} d={d}"),
        )?;
    }
    Ok(())
}

/// A mixture's score loops 3Kd + 5K + 2d + 4 times an invocation: refused past llvmpipe's
/// loop limit (K = 10 at d = 2200), and right just inside the check's margin (K = 4 at
/// d = 4280: 59 944 passes), where a count short by a tenth would have been truncated.
#[test]
fn gmm_score_loops_are_checked_against_the_loop_limit() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    if ctx.loop_limit().is_none() {
        // Only llvmpipe cuts loops short; elsewhere the check passes by design.
        stein::kernels::check_gmm_score_loops(ctx, 10, 2200)?;
        return Ok(());
    }
    let e = stein::svgd::GmmScore::new(ctx, &random_gmm(2200, 10, 1))
        .err()
        .context("a 10-component mixture at d = 2200 was accepted on llvmpipe")?;
    ensure!(
        e.to_string()
            .contains("gmm_score (10 components at d = 2200)"),
        "{e}"
    );
    let (d, kc) = (4280, 4);
    let gmm = random_gmm(d, kc, 2);
    stein::svgd::GmmScore::new(ctx, &gmm)?;
    let (x32, x64) = normals(3, d, 2.5, 9);
    let got = gpu_score(ctx, k, &gmm, &x32, 3)?;
    let want = cpu::gmm::score(&gmm, &x64, d);
    assert_score(&got, &want, "gmm_score K = 4, d = 4280")
}

#[test]
fn gmm_score_is_finite_far_from_every_component() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let gmm = random_gmm(2, 4, 5);
    let x = [1e4f32, -1e4, -3e4, 2e4, 0.0, 5e3, 1e6, 1e6];
    let got = gpu_score(ctx, k, &gmm, &x, 4)?;
    assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    let x64: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
    let want = cpu::gmm::score(&gmm, &x64, 2);
    assert!(want.iter().all(|v| v.is_finite()));
    assert_close(&got, &want, common::TOL_SCORE, 1.0, "far particles")
}

#[test]
fn cpu_gmm_score_matches_finite_differences() -> Result<()> {
    for d in [1, 3, 17] {
        let gmm = random_gmm(d, 3, 11 + d as u64);
        let (_, x) = normals(4, d, 2.0, 3);
        let score = cpu::gmm::score(&gmm, &x, d);
        for i in 0..4 {
            let at = &x[i * d..(i + 1) * d];
            common::check_gradient(|y| gmm.log_density(y), &score[i * d..(i + 1) * d], at)
                .with_context(|| format!("d = {d}, particle {i}"))?;
        }
    }
    Ok(())
}

fn test_bandwidth(n: usize, d: usize) -> f64 {
    // About the median bandwidth of standard normal particles: med ≈ 2d, h = med / log(n+1).
    2.0 * d as f64 / ((n as f64) + 1.0).ln().max(0.5)
}

/// φ in the device's default layout (what `stein svgd` runs) against the f64 reference on
/// the case table, the cloud offset from the origin (the kernels' centring must not matter).
/// Axes: d = 1..4 are svgd_phi_small's pipelines, unrolled per d and the same in every
/// layout, so this is their table, every n included; d = 17, 64 and 100 take the default
/// layout's kernels below and past d = 64, which the every-layout table also runs (with
/// n = [`N_LARGE`](common::N_LARGE) at d = 5 and 17), so the default suite runs them to
/// n = 1000 here. The long suite runs the whole table.
#[test]
fn svgd_phi_matches_cpu_reference() -> Result<()> {
    phi_default_layout(Sweep::Default)
}

/// [`svgd_phi_matches_cpu_reference`] on the whole case table.
#[test]
#[ignore = "long suite: scripts/test-long.sh"]
fn svgd_phi_matches_cpu_reference_on_the_whole_table() -> Result<()> {
    phi_default_layout(Sweep::Whole)
}

fn phi_default_layout(sweep: Sweep) -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    // d = 4 too: the largest d of svgd_phi_small, whose pipelines are unrolled per d.
    for &d in DS.iter().chain(&[4]) {
        for &n in NS.iter().filter(|&&n| sweep.runs(n, d, &[1, 2, 3, 4])) {
            // Offset the cloud from the origin: the kernel's centring must not matter.
            let (mut x32, _) = normals(n, d, 1.0, (7 * n + d) as u64);
            for v in x32.iter_mut() {
                *v += 3.0;
            }
            let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
            let (s32, s64) = normals(n, d, 1.0, (11 * n + d) as u64);
            let h = test_bandwidth(n, d);
            let got = common::run_phi(ctx, k, &x32, &s32, (n, d), h)?;
            common::check_phi(
                &got,
                &x64,
                &s64,
                d,
                h,
                &format!("svgd_phi n={n} d={d} h={h:.3}"),
            )?;
        }
    }
    Ok(())
}

/// Every φ layout for d >= 5 this device can run (one row per invocation, rows tiled in
/// registers, columns shared by subgroup shuffles, tiles as matrix products) agrees with the
/// reference on the case table, in one chunk and in chunks of a prime width (rounded up to
/// whole tiles of 64 for the gemm layout). The gemm layout also serves d > 64, in passes of
/// 64 output dimensions: d = 100 and 130 take two and three, with one bank-rotated column
/// group (DV = 16) where smaller d use 2 to 8 (d = 5, 17, 33); d = 300 takes two dispatch
/// passes of three sub-passes each (n <= 257 there, to keep the f64 reference quick).
/// Past their unrolled kernels the other layouts hand over: the shuffle layout runs up to
/// d = SHUFFLE_DMAX (128, its kernel named there by the host in both suites and run there in
/// the long one) and gives d = 130 to the gemm kernel, the tiled layout gives d = 100 to the
/// gemm kernel, and the lane layout gives it to the column blocks (where the gemm kernel
/// fits, as on llvmpipe; the test names the kernel it expects).
///
/// What each axis covers: the layouts, every φ kernel for d >= 5; the chunking, the
/// one-chunk path and the multi-chunk one (running sums, per-chunk uniforms; n = 1000 spans
/// 28 chunks); d, the ends of each kernel's range (svgd_phi_mid 5 and 16, the wide and
/// shuffle_64 kernels 17 and 64, past 64 at 100), the gemm kernel's pass counts and the
/// hand-overs above; n, the case table's size classes ([`NS`]: one particle, fewer than a
/// subgroup, a workgroup of 64 rows and one either side, several and many workgroups,
/// records past one texture row). Every d is a pipeline of its own, built on first use; on
/// CI's lavapipe, with an empty shader cache, those builds are most of the suite's time, so
/// the default suite runs the range ends only: every layout × chunking × those d × n <= 1000,
/// and n = 4099 in one chunk at d = 5 and 17 (each layout's kernels for d <= 64: the tiled
/// layout's mid and wide ones). The long suite
/// ([`svgd_phi_every_layout_matches_cpu_reference_on_the_whole_table`]) adds d = 8 and 33
/// (ranges' middles) and 128, and n = 4099 everywhere. The f64 references are shared
/// between layouts and chunkings ([`common::phi_reference`]). From n = 257 on, each case
/// runs twice and must be bit-identical. One test per layout, so that they run side by side
/// (a layout the device lacks passes with a note; llvmpipe has all four, which
/// [`llvmpipe_runs_the_shuffle_layout`] and [`common::phi_layouts`] check).
#[test]
fn svgd_phi_lane_layout_matches_cpu_reference() -> Result<()> {
    phi_one_layout(PhiLayout::Lane, Sweep::Default)
}

/// [`svgd_phi_lane_layout_matches_cpu_reference`] for the tiled layout.
#[test]
fn svgd_phi_tiled_layout_matches_cpu_reference() -> Result<()> {
    phi_one_layout(PhiLayout::Tiled, Sweep::Default)
}

/// [`svgd_phi_lane_layout_matches_cpu_reference`] for the shuffle layout.
#[test]
fn svgd_phi_shuffle_layout_matches_cpu_reference() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    match PhiLayout::shuffle_size(ctx) {
        Some(sg) => phi_one_layout(PhiLayout::Shuffle(sg), Sweep::Default),
        None => {
            eprintln!("this device has no subgroup size the shuffle layout takes: skipped");
            Ok(())
        }
    }
}

/// [`svgd_phi_lane_layout_matches_cpu_reference`] for the gemm layout.
#[test]
fn svgd_phi_gemm_layout_matches_cpu_reference() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    if !PhiLayout::gemm_fits(ctx) {
        eprintln!("this device cannot run the gemm layout's workgroups: skipped");
        return Ok(());
    }
    phi_one_layout(PhiLayout::Gemm, Sweep::Default)
}

/// [`svgd_phi_lane_layout_matches_cpu_reference`] and the other layouts' tests on the whole
/// case table: n = 4099 at every d, in every layout and chunking.
#[test]
#[ignore = "long suite: scripts/test-long.sh"]
fn svgd_phi_every_layout_matches_cpu_reference_on_the_whole_table() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    for layout in common::phi_layouts(ctx) {
        phi_one_layout(layout, Sweep::Whole)?;
    }
    Ok(())
}

/// One layout's cases (see [`svgd_phi_lane_layout_matches_cpu_reference`]), unchunked and
/// chunked.
fn phi_one_layout(layout: PhiLayout, sweep: Sweep) -> Result<()> {
    for chunked in [false, true] {
        let Some((ctx, ref k)) = common::gpu_phi_layout(layout, chunked)? else {
            return Ok(());
        };
        // The dimensions both suites run, and those the long suite adds (a range's middle,
        // and the shuffle kernel's last d, whose pipeline alone takes 46 s of a cold
        // shader build on lavapipe).
        let (dims, long_dims): (&[usize], &[usize]) = match layout {
            PhiLayout::Gemm => (&[5, 9, 17, 33, 64, 100, 130, 300], &[]),
            PhiLayout::Shuffle(_) => (&[5, 17, 64, 100, 130], &[33, 128]),
            // 5 to 16: svgd_phi_mid's range, whose unrolled pipelines differ by d.
            _ => (&[5, 16, 17, 64, 100], &[8, 33]),
        };
        let large_at: &[usize] = if chunked { &[] } else { &[5, 17] };
        for &d in dims.iter().chain(long_dims) {
            let want = match (layout, d) {
                (PhiLayout::Shuffle(_), 5..=64) => Some("svgd_phi_shuffle_64"),
                (_, 0..=64) | (PhiLayout::Gemm, _) => None,
                (PhiLayout::Shuffle(_), 65..=128) => Some("svgd_phi_shuffle"),
                (PhiLayout::Lane, _) => Some("svgd_phi_kblock"),
                _ if k.phi_gemm => Some("svgd_phi_gemm"),
                _ => Some("svgd_phi_kblock"),
            };
            if let Some(want) = want {
                let got = k.phi_variant(d, 1000).kernel_name(d);
                ensure!(got == want, "{layout:?} d = {d}: {got}, expected {want}");
            }
            if sweep == Sweep::Default && long_dims.contains(&d) {
                continue;
            }
            // Past d = 64 outside the gemm layout, n <= 1000 keeps the column blocks and
            // the f64 reference quick.
            let wide = d > 64 && layout != PhiLayout::Gemm;
            for &n in NS.iter().filter(|&&n| {
                (d < 300 || n <= 257) && (!wide || n <= 1000) && sweep.runs(n, d, large_at)
            }) {
                let (x32, x64) = normals(n, d, 1.0, (13 * n + d) as u64);
                let (s32, s64) = normals(n, d, 1.0, (17 * n + d) as u64);
                let h = test_bandwidth(n, d);
                let got = common::run_phi(ctx, k, &x32, &s32, (n, d), h)?;
                let what = format!("phi layout {layout:?} chunked={chunked} n={n} d={d}");
                common::check_phi(&got, &x64, &s64, d, h, &what)?;
                // Bit-identical on rerun (tiled sums in a fixed order, no atomics), from
                // n = 257 (several workgroups of rows and columns) on.
                if n >= 257 {
                    let again = common::run_phi(ctx, k, &x32, &s32, (n, d), h)?;
                    ensure!(
                        got.iter()
                            .zip(&again)
                            .all(|(p, q)| p.to_bits() == q.to_bits()),
                        "{what}: a rerun differs"
                    );
                }
            }
        }
    }
    Ok(())
}

/// φ depends on differences only, so every layout must keep f32 accuracy where the particles
/// sit far from the origin (svgd_phi_shuffle centres them on their mean before its
/// ‖xc_i‖² + ‖xc_j‖² − 2 xc_i·xc_j form) and for two clusters 8 apart per coordinate with the
/// within-cluster median bandwidth (that form's hard case: its rounding grows with
/// ‖xc‖²/h ≈ 16·d/h here).
#[test]
fn svgd_phi_keeps_precision_far_from_the_origin_and_across_clusters() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let (n, d) = (257, 17);
    let (z, _) = normals(n, d, 1.0, 5);
    let (s32, s64) = normals(n, d, 1.0, 6);
    let shifted: Vec<f32> = z.iter().map(|&v| v + 1000.0).collect();
    let clusters: Vec<f32> = z
        .iter()
        .enumerate()
        .map(|(e, &v)| v + if (e / d) % 3 == 0 { 4.0 } else { -4.0 })
        .collect();
    for layout in common::phi_layouts(ctx) {
        let Some((ctx, ref k)) = common::gpu_phi_layout(layout, false)? else {
            return Ok(());
        };
        for (name, x32, h) in [
            ("shifted by 1000", &shifted, test_bandwidth(n, d)),
            // Within-cluster squared distances ~ 2d, over log(n + 1).
            (
                "two clusters",
                &clusters,
                2.0 * d as f64 / ((n + 1) as f64).ln(),
            ),
        ] {
            let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
            let got = common::run_phi(ctx, k, x32, &s32, (n, d), h)?;
            common::check_phi(&got, &x64, &s64, d, h, &format!("phi {layout:?} {name}"))?;
        }
    }
    Ok(())
}

/// svgd_phi_center and svgd_phi_pack, in its buffer and TEXTURE forms (the mean and the column records
/// svgd_phi_gemm and svgd_phi_shuffle read) against their f64 references on the case table,
/// outputs NaN-filled first; the records are padded to whole subgroups of 8 (the padding must
/// read as k = 0). The texture is read back texel by texel, row-major, as the kernels address it.
#[test]
fn svgd_phi_centre_and_records_match_cpu_reference() -> Result<()> {
    use stein::kernels::{shuffle_record, shuffle_texture_size, PhiRecords};
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    for &d in DS {
        for &n in NS {
            let (x32, x) = normals(n, d, 1.0, (n * 3 + d) as u64);
            let (s32, s) = normals(n, d, 2.0, (n * 5 + d) as u64);
            let x32: Vec<f32> = x32.iter().map(|v| v + 3.0).collect();
            let x: Vec<f64> = x.iter().map(|v| v + 3.0).collect();
            let h = test_bandwidth(n, d);
            let padded = stein::kernels::shuffle_padded(n, 8);
            let params = stein::gpu::params::PairParams {
                aux: padded as u32,
                ..stein::kernels::pair_params(n, d, h)
            };
            let xb = GpuVec::from_slice(ctx, "x", &x32)?;
            let sb = GpuVec::from_slice(ctx, "score", &s32)?;
            let floats = padded * shuffle_record(d) * 4;
            let want = cpu::svgd::shuffle_records(&x, &s, d, h, padded);
            let records = GpuVec::nan_filled(ctx, "records", floats)?;
            let (width, height) = shuffle_texture_size(n, d, 8);
            let texture = nan_texture(ctx, width as u32, height as u32);
            let view = texture.create_view(&Default::default());
            for target in [
                PhiRecords::Buffer(&records),
                PhiRecords::Texture(&texture, &view),
            ] {
                let centre = GpuVec::nan_filled(ctx, "centre", d)?;
                let mut enc = Recorder::new(ctx);
                let u = enc.uniform(ctx, &params);
                k.record_phi_columns(
                    ctx,
                    &mut enc,
                    &u,
                    (&xb, &sb),
                    &centre,
                    target,
                    (n, d, padded),
                )?;
                enc.submit(ctx);
                let (form, got) = match target {
                    PhiRecords::Buffer(b) => ("buffer", b.read(ctx)?),
                    PhiRecords::Texture(t, _) => {
                        ("texture", stein::kernels::read_rgba32(ctx, t, floats)?)
                    }
                };
                let what = format!("n={n} d={d} {form}");
                assert_close(
                    &centre.read(ctx)?,
                    &cpu::svgd::centre(&x, d),
                    common::TOL_PAIRWISE,
                    3.0,
                    &format!("centre {what}"),
                )?;
                assert_close(
                    &got,
                    &want,
                    common::TOL_PAIRWISE,
                    1.0,
                    &format!("records {what}"),
                )?;
            }
        }
    }
    // A texture of another width would scramble the records: refused.
    let texture = nan_texture(ctx, 2048, 8);
    let view = texture.create_view(&Default::default());
    let (xb, centre) = (
        GpuVec::from_slice(ctx, "x", &[0.0f32; 2])?,
        GpuVec::nan_filled(ctx, "c", 1)?,
    );
    let mut enc = Recorder::new(ctx);
    let params = enc.uniform(ctx, &stein::kernels::pair_params(2, 1, 1.0));
    let e = k
        .record_phi_columns(
            ctx,
            &mut enc,
            &params,
            (&xb, &xb),
            &centre,
            PhiRecords::Texture(&texture, &view),
            (2, 1, 8),
        )
        .err()
        .context("a 2048-wide records texture was accepted")?;
    ensure!(e.to_string().contains("4096 texels wide"), "{e}");
    Ok(())
}

/// An rgba32float storage texture of `width` × `height` texels, every float NaN.
fn nan_texture(ctx: &GpuContext, width: u32, height: u32) -> wgpu::Texture {
    let size = wgpu::Extent3d {
        width,
        height,
        depth_or_array_layers: 1,
    };
    let texture = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("NaN texture"),
        size,
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Rgba32Float,
        usage: wgpu::TextureUsages::STORAGE_BINDING
            | wgpu::TextureUsages::COPY_SRC
            | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    let nan = vec![f32::NAN; 4 * (width * height) as usize];
    ctx.queue.write_texture(
        texture.as_image_copy(),
        bytemuck::cast_slice(&nan),
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(16 * width),
            rows_per_image: Some(height),
        },
        size,
    );
    texture
}

/// llvmpipe, the GPU of CI, must get the subgroup-shuffle φ by default, so the layout test
/// above cannot pass there without running it.
#[test]
fn llvmpipe_runs_the_shuffle_layout() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    if ctx.info.name.contains("llvmpipe") {
        assert!(
            matches!(k.phi_layout, PhiLayout::Shuffle(_)),
            "llvmpipe should default to the shuffle layout, got {:?} (subgroup sizes {}..{}, features {:?})",
            k.phi_layout,
            ctx.info.subgroup_min_size,
            ctx.info.subgroup_max_size,
            ctx.device.features()
        );
    }
    Ok(())
}

/// A device builds each pipeline once: a second [`Kernels`] on it (another φ layout's, a
/// model's, a later call's from Python) reuses the first one's pipelines, including those
/// built on first use for a dimension. (A device of its own, so that no other test builds
/// pipelines on it meanwhile.)
#[test]
fn a_device_builds_each_pipeline_once() -> Result<()> {
    if gpu()?.is_none() {
        return Ok(());
    }
    let ctx = GpuContext::default_adapter()?;
    let a = Kernels::new(&ctx)?;
    let built = ctx.pipelines_built();
    ensure!(built > 0, "Kernels::new built no pipeline");
    let b = Kernels::new(&ctx)?;
    ensure!(
        ctx.pipelines_built() == built,
        "a second Kernels built {} more pipelines",
        ctx.pipelines_built() - built
    );
    let (n, d) = (31, 17);
    let (x, _) = normals(n, d, 1.0, 3);
    let (s, _) = normals(n, d, 1.0, 4);
    let first = common::run_phi(&ctx, &a, &x, &s, (n, d), 1.5)?;
    let with_d = ctx.pipelines_built();
    ensure!(with_d > built, "φ at d = {d} built no pipeline of its own");
    let second = common::run_phi(&ctx, &b, &x, &s, (n, d), 1.5)?;
    ensure!(
        ctx.pipelines_built() == with_d,
        "the second Kernels built φ's pipelines for d = {d} again"
    );
    ensure!(first == second, "shared pipelines gave different φ");
    Ok(())
}

#[test]
fn svgd_phi_with_one_particle_is_the_score() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let got = common::run_phi(ctx, k, &[5.0, -1.0, 2.0], &[0.25, -3.0, 7.5], (1, 3), 0.7)?;
    assert_eq!(got, vec![0.25, -3.0, 7.5]);
    Ok(())
}

#[test]
fn cpu_rbf_repulsion_is_the_kernel_gradient() -> Result<()> {
    // ∇_{x_j} k(x_j, x_i) = (2/h)(x_i − x_j) k, checked by differences of k in x_j.
    let (_, x) = normals(2, 5, 1.0, 9);
    let h = 1.7;
    let (xi, xj) = (&x[0..5], &x[5..10]);
    let k = |y: &[f64]| cpu::svgd::rbf(xi.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum(), h);
    let kv = k(xj);
    let grad: Vec<f64> = (0..5).map(|a| 2.0 / h * (xi[a] - xj[a]) * kv).collect();
    common::check_gradient(k, &grad, xj)
}

/// KSD² (V and U) against the f64 reference on the case table, in the device's default
/// kernel (ksd_shuffle on llvmpipe, in both its forms there) and in the looped ksd_rows that
/// hardware GPUs run (through the tiled layout). Axes: the kernels and forms; d, the
/// unrolled pipelines of ksd_shuffle (one per d) and the looped kernel's dimension loop; n,
/// the case table's size classes. The default suite runs every kernel × d × n <= 1000 and
/// n = 4099 at d = 1 and 17, the difference form to d = 64; the long suite the whole table. The f64 reference of one input
/// is shared by the three kernels ([`common::ksd_reference`]).
#[test]
fn ksd_rows_matches_cpu_reference() -> Result<()> {
    ksd_table(Sweep::Default)
}

/// [`ksd_rows_matches_cpu_reference`] on the whole case table.
#[test]
#[ignore = "long suite: scripts/test-long.sh"]
fn ksd_rows_matches_cpu_reference_on_the_whole_table() -> Result<()> {
    ksd_table(Sweep::Whole)
}

fn ksd_table(sweep: Sweep) -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    // The device's default kernel (ksd_shuffle on llvmpipe), and the looped ksd_rows that
    // hardware GPUs run, through the tiled layout.
    // On CPU adapters the default kernel has two forms, each checked (normal clouds choose
    // the bilinear one).
    use stein::kernels::KsdForm::{Bilinear, Difference};
    for (kernel, force, looped) in [
        ("default", None, false),
        ("default, difference form", Some(Difference), false),
        ("ksd_rows", None, true),
    ] {
        let tiled = tiled_if(looped)?;
        // The tiled layout's kernels live on that layout's device.
        let (ctx, k): (&GpuContext, &Kernels) =
            tiled.as_ref().map_or((ctx, k), |(c, t)| (*c, &**t));
        for &d in DS {
            // ksd_shuffle_diff at d = 100: 34 s of a cold shader build on lavapipe, the
            // suite's costliest pipeline; the default suite runs that form to d = 64.
            if sweep == Sweep::Default && force == Some(Difference) && d > 64 {
                continue;
            }
            for &n in NS.iter().filter(|&&n| sweep.runs(n, d, &[1, 17])) {
                let (x32, x64) = normals(n, d, 1.0, (3 * n + d) as u64);
                // Score of N(0.3, I) at the particles: the KSD is small but not zero.
                let s64: Vec<f64> = x64.iter().map(|v| 0.3 - v).collect();
                let s32: Vec<f32> = s64.iter().map(|&v| v as f32).collect();
                let h = test_bandwidth(n, d);
                let (rows, diag, form) =
                    common::run_ksd_form(ctx, k, &x32, &s32, (n, d), h, force)?;
                if k.ksd_shuffle(n, d).is_some() {
                    ensure!(
                        form == force.unwrap_or(Bilinear),
                        "ksd ({kernel}) n={n} d={d}: ran {form:?}"
                    );
                }
                let got = stein::svgd::ksd_from_rows(&rows, &diag);
                let what = format!("ksd ({kernel}, {form:?}) n={n} d={d}");
                common::check_ksd(got, &x64, &s64, d, h, &what)?;
            }
        }
    }
    Ok(())
}

/// The tiled layout's kernels (which run the looped ksd_rows) where `looped`, held while the
/// value lives.
fn tiled_if(looped: bool) -> Result<Option<(&'static GpuContext, common::LayoutKernels)>> {
    if looped {
        common::gpu_phi_layout(PhiLayout::Tiled, false)
    } else {
        Ok(None)
    }
}

/// Particles far from their mean against h make the bilinear form's rounding (≈ 1e-7 (2/h)²
/// ‖xc‖² a pair) matter: two clusters 60 apart holding 80 % and 20 % of the particles, h
/// about the median bandwidth of the big one. There the KSD on CPU adapters must take the
/// difference form and match the f64 reference; the bilinear form, forced, is off by far
/// more.
#[test]
fn ksd_takes_the_difference_form_where_the_bilinear_one_loses_digits() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    use stein::kernels::KsdForm::{Bilinear, Difference};
    let (n, d) = (500, 2);
    let (x32, _) = normals(n, d, 0.5, 21);
    let x32: Vec<f32> = x32
        .iter()
        .enumerate()
        .map(|(t, v)| v + if t / d < 400 { -30.0 } else { 30.0 })
        .collect();
    let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
    // The mixture's score, each particle pulled to its own cluster's centre.
    let s64: Vec<f64> = x64
        .iter()
        .map(|&v| -(v - 30.0 * v.signum()) / 0.25)
        .collect();
    let s32: Vec<f32> = s64.iter().map(|&v| v as f32).collect();
    let h = 0.17;
    let (want_v, _) = cpu::ksd::ksd2(&x64, &s64, d, h);
    let err = |force| -> Result<(f64, stein::kernels::KsdForm)> {
        let (rows, diag, form) = common::run_ksd_form(ctx, k, &x32, &s32, (n, d), h, force)?;
        Ok((
            (stein::svgd::ksd_from_rows(&rows, &diag).0 - want_v).abs() / want_v.abs(),
            form,
        ))
    };
    let (chosen, form) = err(None)?;
    if k.ksd_shuffle(n, d).is_none() {
        return Ok(());
    }
    ensure!(form == Difference, "chose {form:?}");
    let (bilinear, _) = err(Some(Bilinear))?;
    ensure!(
        chosen < 1e-4 && bilinear > 10.0 * chosen,
        "relative error of KSD² (V): {chosen:e} chosen, {bilinear:e} bilinear"
    );
    Ok(())
}

/// The KSD's difference-form textures (x and the score, 2·n·⌈d/4⌉ texels) are made the first
/// time that form runs, once, and not for the bilinear form, where the device runs
/// `ksd_shuffle` (CPU adapters with subgroups; elsewhere neither form exists).
#[test]
fn ksd_makes_the_difference_textures_when_that_form_first_runs() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    use stein::kernels::KsdForm::{Bilinear, Difference};
    let (n, d) = (300, 5);
    if k.ksd_shuffle(n, d).is_none() {
        return Ok(());
    }
    let (x32, _) = normals(n, d, 1.0, 5);
    let (s32, _) = normals(n, d, 1.0, 6);
    let xb = GpuVec::from_slice(ctx, "x", &x32)?;
    let sb = GpuVec::from_slice(ctx, "s", &s32)?;
    let mut bufs = stein::kernels::KsdBuffers::new(ctx, k, n, d)?;
    let run = |bufs: &mut stein::kernels::KsdBuffers| -> Result<(stein::kernels::KsdForm, u64)> {
        let enc = Recorder::new(ctx);
        let form = k.ksd_rows(ctx, enc, bufs, &xb, &sb, 1.0)?;
        Ok((form, bufs.device_bytes()))
    };
    let before = bufs.device_bytes();
    let (form, after_bilinear) = run(&mut bufs)?;
    ensure!(form == Bilinear, "chose {form:?}");
    ensure!(
        after_bilinear == before,
        "{before} -> {after_bilinear} bytes after the bilinear form"
    );
    bufs.force_form(Some(Difference));
    let (form, after_diff) = run(&mut bufs)?;
    ensure!(form == Difference, "ran {form:?}");
    // Two textures of n rows of ⌈d/4⌉ texels at least, 16 bytes a texel.
    let least = 2 * (n * d.div_ceil(4) * 16) as u64;
    ensure!(
        after_diff >= before + least,
        "{before} -> {after_diff} bytes after the difference form (want at least {least} more)"
    );
    let (_, again) = run(&mut bufs)?;
    ensure!(
        again == after_diff,
        "{after_diff} -> {again} bytes on a second run"
    );
    Ok(())
}

/// `ksd_pack`'s particle records (centred x, a = s − (2/h)·xc, ‖xc‖², (2/h)·a·xc) against the
/// f64 reference, on a cloud off the origin (the centring is part of what is checked), the
/// texture NaN-filled first, where the device runs `ksd_shuffle`.
#[test]
fn ksd_pack_matches_cpu_records() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let mut checked = 0;
    for (n, d) in [
        (1, 1),
        (2, 2),
        (3, 3),
        (31, 17),
        (65, 64),
        (7, 100),
        (64, 5),
    ] {
        if k.ksd_shuffle(n, d).is_none() {
            continue;
        }
        let (x32, _) = normals(n, d, 1.0, 40 + d as u64);
        let x32: Vec<f32> = x32.iter().map(|v| v + 5.0).collect();
        let x64: Vec<f64> = x32.iter().map(|&v| f64::from(v)).collect();
        let (s32, s64) = normals(n, d, 2.0, 60 + d as u64);
        let h = 1.7 * d as f64;
        let (xb, sb) = (
            GpuVec::from_slice(ctx, "x", &x32)?,
            GpuVec::from_slice(ctx, "s", &s32)?,
        );
        let r = stein::kernels::KsdRecords::new(ctx, n, d)?;
        let floats = stein::kernels::ksd_record_floats(d);
        let nan = GpuVec::nan_filled(ctx, "nan", n * floats)?;
        submit(ctx, |enc| k.record_x_texture(ctx, enc, &nan, &r.texture))?;
        ensure!(r.texture.read(ctx)?.iter().all(|v| v.is_nan()), "NaN fill");
        submit(ctx, |enc| k.record_ksd_pack(ctx, enc, &r, &xb, &sb, h))?;
        let got = r.texture.read(ctx)?;
        let want = cpu::ksd::ksd_records(&x64, &s64, d, h);
        let scale = max_abs(&want);
        assert_close(
            &got,
            &want,
            common::TOL_MODEL,
            scale,
            &format!("ksd_pack n={n} d={d}"),
        )?;
        checked += 1;
    }
    ensure!(
        checked > 0 || k.ksd_shuffle(64, 5).is_none(),
        "no size checked"
    );
    Ok(())
}

/// The U-statistic subtracts diag[i] from row i's sum, which holds the pair (i, i): the two
/// must be the same float. Particles far apart (k_ij ≈ 0 off the diagonal, below half an ulp
/// of u_ii) make row i's sum exactly its diagonal term, in both KSD kernels.
#[test]
fn ksd_diagonal_pair_is_diag_bit_for_bit() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    use stein::kernels::KsdForm::{Bilinear, Difference};
    for (kernel, force, looped) in [
        ("bilinear", Some(Bilinear), false),
        ("difference", Some(Difference), false),
        ("ksd_rows", None, true),
    ] {
        let tiled = tiled_if(looped)?;
        // The tiled layout's kernels live on that layout's device.
        let (ctx, k): (&GpuContext, &Kernels) =
            tiled.as_ref().map_or((ctx, k), |(c, t)| (*c, &**t));
        for d in [1, 3, 17, 64] {
            let n = 9;
            let (x32, _) = normals(n, d, 1.0, 3);
            // Particle i near 40·i·(1, …, 1): squared distances ≥ 1600 d against h = 1.
            let x32: Vec<f32> = x32
                .iter()
                .enumerate()
                .map(|(t, v)| v + 40.0 * (t / d) as f32)
                .collect();
            let (s32, _) = normals(n, d, 1.0, 4);
            let (rows, diag, _) = common::run_ksd_form(ctx, k, &x32, &s32, (n, d), 1.0, force)?;
            for i in 0..n {
                ensure!(
                    rows[i].to_bits() == diag[i].to_bits(),
                    "{kernel} d={d}: row {i} sums to {}, its diagonal term is {}",
                    rows[i],
                    diag[i]
                );
            }
        }
    }
    Ok(())
}

/// The KSD's row sums for n past llvmpipe's loop budget in one invocation, in the device's
/// default kernel (ksd_shuffle on llvmpipe: SG + 2 passes per SG columns and two per 128,
/// so one invocation over 60 000 columns would run about 76 000): the chunks must be sized
/// from what the kernel loops, or llvmpipe ends its loops early and the sums miss columns.
/// Scores 1 + 0.1 x and a wide bandwidth make every u_ij positive and of one size, so a
/// lost column shows in every row sum; sampled rows against the f64 reference.
#[test]
fn ksd_rows_past_the_loop_budget_match_sampled_rows() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let (n, d) = (60_000, 3);
    let (x32, x64) = normals(n, d, 1.0, 91);
    let s64: Vec<f64> = x64.iter().map(|v| 1.0 + 0.1 * v).collect();
    let s32: Vec<f32> = s64.iter().map(|&v| v as f32).collect();
    let h = 8.0 * d as f64;
    if let Some(limit) = ctx.loop_limit() {
        assert!(
            k.ksd_plan(ctx, n, d)?.len() > 1,
            "n = {n} > loop limit {limit}: the columns must be split"
        );
    }
    let (rows, diag) = common::run_ksd_rows(ctx, k, &x32, &s32, (n, d), h)?;
    let sample: Vec<usize> = (0..n).step_by(n / 7).chain([n - 1]).collect();
    let mut got = Vec::new();
    let mut want = Vec::new();
    for &i in &sample {
        got.extend([rows[i], diag[i]]);
        want.push(
            (0..n)
                .map(|j| cpu::ksd::stein_kernel(&x64, &s64, d, h, i, j))
                .sum(),
        );
        want.push(cpu::ksd::stein_kernel(&x64, &s64, d, h, i, i));
    }
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    common::assert_close(
        &got,
        &want,
        common::TOL_PAIRWISE,
        scale,
        &format!("ksd rows n={n} d={d}, rows {sample:?}"),
    )
}

#[test]
fn cpu_stein_kernel_trace_term_matches_finite_differences() -> Result<()> {
    // tr(∇_x ∇_y k) = k (2d/h − 4‖r‖²/h²): second differences of k in (x_a, y_a), summed.
    let d = 3;
    let (_, p) = normals(2, d, 1.0, 4);
    let h = 2.2;
    let k = |x: &[f64], y: &[f64]| {
        cpu::svgd::rbf(x.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum(), h)
    };
    let (x, y) = (p[0..d].to_vec(), p[d..2 * d].to_vec());
    let e = 1e-4;
    let mut tr = 0.0;
    for a in 0..d {
        let mut xs = [x.clone(), x.clone()];
        let mut ys = [y.clone(), y.clone()];
        xs[0][a] += e;
        xs[1][a] -= e;
        ys[0][a] += e;
        ys[1][a] -= e;
        tr += (k(&xs[0], &ys[0]) - k(&xs[0], &ys[1]) - k(&xs[1], &ys[0]) + k(&xs[1], &ys[1]))
            / (4.0 * e * e);
    }
    // With zero scores u(x, y) is the trace term alone.
    let pts = [x, y].concat();
    let u = cpu::ksd::stein_kernel(&pts, &[0.0; 6], d, h, 0, 1);
    anyhow::ensure!(
        (tr - u).abs() < 1e-6 * u.abs().max(1.0),
        "trace {tr} vs {u}"
    );
    Ok(())
}

#[test]
fn updates_match_cpu_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    // Lengths around the workgroup size (256) and a prime.
    for (len, opt) in [1, 2, 255, 256, 257, 1009]
        .into_iter()
        .flat_map(|len| ["sgd", "adagrad", "adam"].map(|opt| (len, opt)))
    {
        let (x0, _) = normals(len, 1, 1.0, len as u64);
        let x = GpuVec::from_slice(ctx, "x", &x0)?;
        let nstate = match opt {
            "sgd" => 0,
            "adagrad" => 1,
            _ => 2,
        };
        let state: Vec<GpuVec<f32>> = (0..nstate)
            .map(|_| GpuVec::zeros(ctx, "s", len).unwrap())
            .collect();
        let mut xr: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
        let mut g = vec![0.0; len];
        let mut v = vec![0.0; len];
        for t in 1..=4u32 {
            let (phi32, _) = normals(len, 1, 1.0 + t as f64, 100 + u64::from(t));
            let phi64: Vec<f64> = phi32.iter().map(|&v| f64::from(v)).collect();
            let phib = GpuVec::from_slice(ctx, "phi", &phi32)?;
            let eps = 0.05;
            let (b1, b2, ae) = (0.9f64, 0.999f64, 1e-8f64);
            let p = match opt {
                "sgd" => UpdateParams {
                    len: len as u32,
                    t,
                    step_size: eps as f32,
                    ..Default::default()
                },
                "adagrad" => UpdateParams {
                    len: len as u32,
                    t,
                    step_size: eps as f32,
                    beta1: 0.9,
                    eps: 1e-6,
                    ..Default::default()
                },
                _ => UpdateParams {
                    len: len as u32,
                    t,
                    step_size: eps as f32,
                    beta1: b1 as f32,
                    beta2: b2 as f32,
                    eps: ae as f32,
                    bc1: (1.0 / (1.0 - b1.powi(t as i32))) as f32,
                    bc2: (1.0 / (1.0 - b2.powi(t as i32))) as f32,
                    wd: 0.01,
                    ..Default::default()
                },
            };
            let refs: Vec<&GpuVec<f32>> = state.iter().collect();
            submit(ctx, |enc| k.record_update(ctx, enc, p, &phib, &x, &refs))?;
            match opt {
                "sgd" => cpu::update::sgd(&mut xr, &phi64, eps),
                "adagrad" => cpu::update::adagrad(&mut xr, &mut g, &phi64, eps, u64::from(t)),
                _ => cpu::update::adam(
                    &mut xr,
                    &mut g,
                    &mut v,
                    &phi64,
                    eps,
                    (b1, b2, ae, 0.01),
                    u64::from(t),
                ),
            }
            let got = x.read(ctx)?;
            assert_close(
                &got,
                &xr,
                common::TOL_ELEMENTWISE,
                1.0,
                &format!("{opt} len {len} step {t}"),
            )?;
        }
    }
    Ok(())
}

/// pair_sample, from the buffer and from x_texture_pack's texture, against the f64 distances
/// of the hashed pairs; the two kernels must agree bit for bit (the median brackets with one
/// and counts with the other). The texture itself against x padded to four coordinates a
/// texel (zeros past d). Outputs NaN-filled first.
#[test]
fn pair_sample_matches_cpu_hash() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    for (n, d) in [
        (2, 1),
        (3, 2),
        (257, 3),
        (31, 17),
        (100, 64),
        (65, 100),
        (64, 4),
    ] {
        let (x32, x64) = normals(n, d, 1.0, 5 + d as u64);
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let xt = stein::kernels::XTexture::new(ctx, n, d)?;
        let s = 999;
        let out = GpuVec::nan_filled(ctx, "sample", s)?;
        let out_t = GpuVec::nan_filled(ctx, "sample (texture)", s)?;
        let p = stein::gpu::params::SelectParams {
            n: n as u32,
            d: d as u32,
            samples: s as u32,
            seed: 77,
            ..Default::default()
        };
        submit(ctx, |enc| {
            k.record_pair_sample(ctx, enc, p, &xb, None, &out)?;
            k.record_x_texture(ctx, enc, &xb, &xt)?;
            k.record_pair_sample(ctx, enc, p, &xb, Some(&xt), &out_t)
        })?;
        let texels = xt.read(ctx)?;
        let d4 = d.div_ceil(4);
        for i in 0..n {
            for a in 0..4 * d4 {
                let want = if a < d { x32[i * d + a] } else { 0.0 };
                let got = texels[i * 4 * d4 + a];
                ensure!(
                    got.to_bits() == want.to_bits(),
                    "n={n} d={d}: texel value of particle {i}, coordinate {a}: {got}, want {want}"
                );
            }
        }
        let got = out.read(ctx)?;
        let got_t = out_t.read(ctx)?;
        let want: Vec<f64> = (0..s as u32)
            .map(|t| {
                let (i, j) = cpu::hash::hash_pair(77, t, n as u32);
                assert_ne!(i, j);
                cpu::sqdist(&x64, d, i as usize, j as usize)
            })
            .collect();
        assert_close(&got, &want, common::TOL_SCORE, 1.0, "pair_sample")?;
        let differ = (0..s)
            .filter(|&t| got[t].to_bits() != got_t[t].to_bits())
            .count();
        ensure!(
            differ == 0,
            "n={n} d={d}: pair_sample_texture differs from pair_sample in {differ} of {s} pairs"
        );
        let _ = max_abs(&want);
    }
    Ok(())
}

/// The unbiased MMD² against its f64 reference on awkward sizes, in one chunk and in chunks
/// of a prime width, with a fixed and with the median bandwidth.
#[test]
fn mmd_matches_cpu_reference() -> Result<()> {
    for chunked in [false, true] {
        let held = if chunked {
            common::gpu_chunked()?
        } else {
            None
        };
        let Some((ctx, k)) = (match &held {
            Some((c, k)) => Some((*c, &**k)),
            None => gpu()?.map(|(c, k)| (c, k)),
        }) else {
            return Ok(());
        };
        for (n, m, d) in [
            (2, 2, 1),
            (3, 31, 2),
            (65, 64, 17),
            (257, 100, 3),
            (40, 41, 100),
        ] {
            let (x32, x) = normals(n, d, 1.0, (n + 7 * d) as u64);
            let (mut y32, _) = normals(m, d, 1.3, (m + 11 * d) as u64);
            for v in y32.iter_mut() {
                *v += 0.4;
            }
            let y: Vec<f64> = y32.iter().map(|&v| f64::from(v)).collect();
            for h in [Some(0.9 * d as f64), None] {
                let got = stein::mmd::mmd2(ctx, k, &x32, &y32, d, h)?;
                let z: Vec<f64> = x.iter().chain(&y).copied().collect();
                let med = common::median_reference(&z, d);
                let want_h = h.unwrap_or(if med > 0.0 { med } else { 1.0 });
                ensure_close_h(got.h, want_h)?;
                let want = common::mmd_reference(&x, &y, d, want_h);
                common::assert_close(
                    &[got.mmd2 as f32],
                    &[want],
                    common::TOL_MMD,
                    1.0,
                    &format!("mmd n={n} m={m} d={d} h={h:?} chunked={chunked}"),
                )?;
            }
        }
    }
    Ok(())
}

fn ensure_close_h(got: f64, want: f64) -> Result<()> {
    anyhow::ensure!(
        (got - want).abs() <= 1e-6 * want,
        "bandwidth {got} against {want}"
    );
    Ok(())
}

/// φ for n past llvmpipe's loop budget in one invocation (60 000 passes there), in the
/// device's default layout: the column chunks must be sized from what the kernel really loops
/// (svgd_phi_shuffle: SG / 2 + 2 passes per SG columns, two columns a pass and a loop's exit
/// pass included, and two more per 128 columns: one invocation over 90 000 columns would run
/// about 69 000), or llvmpipe ends the loops early and the sums silently miss columns. Checked on sampled rows against
/// the f64 reference, with a wide bandwidth so that every column weighs in: at the usual
/// h ≈ 2d / log n the rows' φ are ~1e-4 of the tolerance's scale, and 1.6 % of the columns
/// went missing unseen.
#[test]
fn svgd_phi_past_the_loop_budget_matches_sampled_rows() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    phi_rows_past_the_loop_budget(ctx, k, 90_000, 5)
}

/// The same for `svgd_phi_gemm` (the hardware GPUs' default, run here on whatever device
/// the suite has), at d = 256 where its loop-pass estimate is tight: ⌈d/32⌉·46 + 20 + 71·SP
/// = 672 per 64-column tile against about 665 counted, so 7000 particles unchunked would
/// run about 73 000 passes, past llvmpipe's 65 535; the plan gives two chunks (four
/// sub-passes each).
#[test]
fn svgd_phi_gemm_past_the_loop_budget_matches_sampled_rows() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    if !PhiLayout::gemm_fits(ctx) {
        return Ok(());
    }
    let Some((ctx, ref k)) = common::gpu_phi_layout(PhiLayout::Gemm, false)? else {
        return Ok(());
    };
    phi_rows_past_the_loop_budget(ctx, k, 7000, 256)
}

fn phi_rows_past_the_loop_budget(
    ctx: &stein::gpu::GpuContext,
    k: &stein::kernels::Kernels,
    n: usize,
    d: usize,
) -> Result<()> {
    let (x32, x64) = normals(n, d, 1.0, 61);
    let (s32, s64) = normals(n, d, 1.0, 62);
    let h = 4.0 * d as f64;
    if let Some(limit) = ctx.loop_limit() {
        let scratch = stein::kernels::PhiScratch::new(ctx, k, n, d)?;
        assert!(
            scratch.chunks() > 1,
            "n = {n} > loop limit {limit}: the columns must be split"
        );
    }
    let got = common::run_phi(ctx, k, &x32, &s32, (n, d), h)?;
    let rows: Vec<usize> = (0..n).step_by(n / 7).chain([n - 1]).collect();
    let want: Vec<f64> = rows
        .iter()
        .flat_map(|&i| stein::cpu::svgd::phi_row(&x64, &s64, d, h, i))
        .collect();
    let got_rows: Vec<f32> = rows
        .iter()
        .flat_map(|&i| got[i * d..(i + 1) * d].to_vec())
        .collect();
    let scale = 1.0 + 2.0 * (2.0 * d as f64).sqrt() / h;
    common::assert_close(
        &got_rows,
        &want,
        common::TOL_PAIRWISE,
        scale,
        &format!("phi n={n} d={d}, rows {rows:?}"),
    )
}

/// `madd_peak`, the multiply-add ceiling `stein bench` sets φ against, against its f64 chains
/// on awkward invocation counts and loop lengths (0 passes: the chains' start values; 1 and 3:
/// before they settle, so a kernel with a round too few or too many fails), each output
/// NaN-filled first.
#[test]
fn madd_peak_matches_its_f64_chains() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    for len in [1usize, 2, 63, 65, 257] {
        let km = stein::bench::madd_peak_chains(len, len as u64);
        let run = stein::bench::MaddPeakRun::new(ctx, &km)?;
        for iters in [0u32, 1, 3, 50] {
            run.clear(ctx)?;
            run.run(ctx, iters)?;
            let want: Vec<f64> = km
                .chunks(2)
                .map(|c| stein::cpu::peak::madd_chains(f64::from(c[0]), f64::from(c[1]), iters))
                .collect();
            assert_close(
                &run.output(ctx)?,
                &want,
                TOL_CHAINS,
                0.0,
                &format!("madd_peak, {len} invocations, {iters} passes"),
            )?;
        }
    }
    Ok(())
}

/// Two dispatches of one kernel in one encoder read their own uniform values: the second
/// update's step size does not leak into the first (with one uniform buffer written twice
/// before the submit, both would have read the last value: x = 2·0.5·φ, not (0.25 + 0.5)·φ).
#[test]
fn uniforms_of_one_encoder_do_not_alias() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let len = 1000;
    let phi: Vec<f32> = (0..len).map(|e| (e % 17) as f32 - 8.0).collect();
    let phib = GpuVec::from_slice(ctx, "phi", &phi)?;
    let x = GpuVec::<f32>::zeros(ctx, "x", len)?;
    let step = |step_size: f32| UpdateParams {
        len: len as u32,
        t: 1,
        step_size,
        ..Default::default()
    };
    let mut slots = 0;
    submit(ctx, |enc| {
        k.record_update(ctx, enc, step(0.25), &phib, &x, &[])?;
        k.record_update(ctx, enc, step(0.5), &phib, &x, &[])?;
        slots = enc.slots();
        Ok(())
    })?;
    ensure!(slots == 2, "{slots} uniform slots for two dispatches");
    let got = x.read(ctx)?;
    for (e, (&g, &p)) in got.iter().zip(&phi).enumerate() {
        // Both products and their sum are exact in f32 (p is an integer, the steps powers of 2).
        ensure!(g == 0.25 * p + 0.5 * p, "x[{e}] = {g}, want {}", 0.75 * p);
    }
    Ok(())
}
