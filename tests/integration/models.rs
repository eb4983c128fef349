//! Energy models: the f64 references against finite differences and quadrature, and the GPU
//! kernels against the references on awkward sizes, outputs NaN-filled first.

use anyhow::{ensure, Context, Result};
use stein::cpu;
use stein::gpu::GpuVec;
use stein::io::target::SplitMix64;
use stein::model::rbm::{RbmBatch, RbmKernels, RbmShape};

use super::common::{
    assert_close, check_gradient, gpu, max_abs, normals, TOL_MODEL, TOL_NOISE, TOL_SAMPLER,
};

fn random_theta(s: RbmShape, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    let mut th: Vec<f64> = (0..s.len()).map(|_| 0.3 * rng.next_normal()).collect();
    for a in 0..s.d {
        for j in 0..s.h {
            th[s.b_mat(a, j)] = rng.next_f64() - 0.5;
        }
    }
    th
}

#[test]
fn cpu_rbm_score_and_parameter_gradient_match_finite_differences() -> Result<()> {
    for (d, h) in [(1, 1), (3, 2), (5, 7)] {
        let s = RbmShape { d, h };
        let th = random_theta(s, (d * 10 + h) as u64);
        let (_, x) = normals(3, d, 1.5, 9);
        let score = cpu::rbm::score(&th, s, &x);
        for i in 0..3 {
            let xi = &x[i * d..(i + 1) * d];
            check_gradient(
                |y| cpu::rbm::energy(&th, s, y)[0],
                &score[i * d..(i + 1) * d],
                xi,
            )
            .with_context(|| format!("score d={d} H={h} sample {i}"))?;
            let g = cpu::rbm::grad(&th, s, xi, &[1.0]);
            check_gradient(|t| cpu::rbm::energy(t, s, xi)[0], &g, &th)
                .with_context(|| format!("∇θ d={d} H={h} sample {i}"))?;
        }
    }
    Ok(())
}

#[test]
fn cpu_rbm_log_partition_matches_quadrature() -> Result<()> {
    // d = 1 on a fine grid, d = 2 on a coarser one: ∫ exp(f) dx against the 2^H-term formula.
    for (d, h, half, steps) in [(1usize, 2usize, 12.0f64, 24_001usize), (2, 3, 10.0, 1_201)] {
        let s = RbmShape { d, h };
        let th = random_theta(s, 5 + d as u64);
        let dx = 2.0 * half / (steps - 1) as f64;
        let mut total = 0.0;
        if d == 1 {
            for k in 0..steps {
                total += cpu::rbm::energy(&th, s, &[-half + k as f64 * dx])[0].exp() * dx;
            }
        } else {
            for k in 0..steps {
                for l in 0..steps {
                    let p = [-half + k as f64 * dx, -half + l as f64 * dx];
                    total += cpu::rbm::energy(&th, s, &p)[0].exp() * dx * dx;
                }
            }
        }
        let exact = cpu::rbm::log_partition(&th, s);
        ensure!(
            (total.ln() - exact).abs() < 1e-6,
            "d={d} H={h}: quadrature {} vs exact {exact}",
            total.ln()
        );
    }
    Ok(())
}

#[test]
fn rbm_kernels_match_cpu_reference() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = RbmKernels::new(ctx)?;
    for (d, h) in [(1, 1), (3, 2), (17, 10), (64, 5), (784, 10)] {
        let s = RbmShape { d, h };
        let th = random_theta(s, (d + h) as u64);
        let th32: Vec<f32> = th.iter().map(|&v| v as f32).collect();
        let theta = GpuVec::from_slice(ctx, "theta", &th32)?;
        for n in [1, 2, 31, 65, 257] {
            let (x32, x) = normals(n, d, 1.0, (n * d) as u64);
            // Positives +1/m, negatives −1/m, as eq. 23 uses it.
            let w: Vec<f64> = (0..n)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 } / n as f64)
                .collect();
            let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
            let xb = GpuVec::from_slice(ctx, "x", &x32)?;
            let wb = GpuVec::from_slice(ctx, "w", &w32)?;
            let batch = RbmBatch::new(ctx, s, n)?;
            let f = GpuVec::nan_filled(ctx, "f", n)?;
            let sc = GpuVec::nan_filled(ctx, "score", n * d)?;
            let g = GpuVec::nan_filled(ctx, "g", s.len())?;
            let mut enc = stein::gpu::Recorder::new(ctx);
            k.record_hidden(ctx, &mut enc, s, &theta, &xb, &batch)?;
            k.record_energy(ctx, &mut enc, s, &theta, &xb, &batch, &f)?;
            k.record_score(ctx, &mut enc, s, &theta, &xb, &batch, &sc)?;
            k.record_grad(ctx, &mut enc, s, &xb, &batch, &wb, &g)?;
            enc.submit(ctx);
            // The kernels take the f32 θ: compare with the reference at the same θ.
            let th_r: Vec<f64> = th32.iter().map(|&v| f64::from(v)).collect();
            let what = |q: &str| format!("rbm {q} n={n} d={d} H={h}");
            let want = cpu::rbm::energy(&th_r, s, &x);
            assert_close(
                &f.read(ctx)?,
                &want,
                TOL_MODEL,
                max_abs(&want) + d as f64,
                &what("energy"),
            )?;
            let want = cpu::rbm::score(&th_r, s, &x);
            assert_close(
                &sc.read(ctx)?,
                &want,
                TOL_MODEL,
                max_abs(&want) + h as f64,
                &what("score"),
            )?;
            let want = cpu::rbm::grad(&th_r, s, &x, &w);
            assert_close(
                &g.read(ctx)?,
                &want,
                TOL_MODEL,
                max_abs(&want).max(1.0),
                &what("grad"),
            )?;
        }
    }
    Ok(())
}

#[test]
fn langevin_noise_matches_the_counter_based_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let len = 100_000;
    let x = GpuVec::<f32>::zeros(ctx, "x", len)?;
    let score = GpuVec::<f32>::zeros(ctx, "score", len)?;
    let key = cpu::hash::stream_key(42, 7);
    let mut enc = stein::gpu::Recorder::new(ctx);
    // score = 0 and η = 1: x becomes exactly the noise.
    k.record_langevin(ctx, &mut enc, (1.0, key), &score, &x)?;
    enc.submit(ctx);
    let got = x.read(ctx)?;
    let want: Vec<f64> = (0..len as u32).map(|e| cpu::hash::normal(key, e)).collect();
    assert_close(&got, &want, TOL_NOISE, 1.0, "langevin noise")?;
    let mean = want.iter().sum::<f64>() / len as f64;
    let var = want.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / len as f64;
    ensure!(
        mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
        "noise mean {mean}, variance {var}"
    );
    Ok(())
}

/// gaussian_energy (the diagonal Gaussian that AIS's tests normalise) against its f64 f and
/// score on awkward sizes, outputs NaN-filled first, and the f64 score against finite
/// differences of f.
#[test]
fn gaussian_energy_matches_its_reference() -> Result<()> {
    use stein::model::gaussian::DiagGaussianEnergy;
    use stein::model::Energy;
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    for (n, d) in [(1, 1), (2, 3), (63, 2), (65, 17), (257, 5), (1000, 100)] {
        let mut rng = SplitMix64::new((n * 7 + d) as u64);
        let mean: Vec<f64> = (0..d).map(|_| rng.next_normal()).collect();
        let std: Vec<f64> = (0..d).map(|_| 0.3 + rng.next_f64()).collect();
        let energy = DiagGaussianEnergy::new(ctx, &mean, &std, 0.7, n)?;
        let (x32, x) = normals(n, d, 1.5, (n + d) as u64);
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let (f, score) = (
            GpuVec::nan_filled(ctx, "f", n)?,
            GpuVec::nan_filled(ctx, "score", n * d)?,
        );
        let mut enc = stein::gpu::Recorder::new(ctx);
        energy.record_energy_score(ctx, &mut enc, &xb, &f, &score)?;
        enc.submit(ctx);
        let rows = |i: usize| &x[i * d..(i + 1) * d];
        let f_want: Vec<f64> = (0..n).map(|i| energy.energy(rows(i))).collect();
        let s_want: Vec<f64> = (0..n).flat_map(|i| energy.score(rows(i))).collect();
        let what = format!("gaussian_energy n={n} d={d}");
        for (got, want) in [(&f, &f_want), (&score, &s_want)] {
            assert_close(
                &got.read(ctx)?,
                want,
                TOL_MODEL,
                max_abs(want).max(1.0),
                &what,
            )?;
        }
        for i in 0..n.min(3) {
            check_gradient(|y| energy.energy(y), &s_want[i * d..(i + 1) * d], rows(i))
                .with_context(|| format!("{what}: score of row {i}"))?;
        }
    }
    Ok(())
}

/// langevin_step against x + η/2 · score + √η · normal(key, e) on lengths around the
/// workgroup size (256), with x and the score nonzero so that both terms count.
#[test]
fn langevin_step_matches_its_reference_on_awkward_lengths() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let eta = 0.01;
    for len in [1, 2, 255, 256, 257, 1009] {
        let (x32, x) = normals(len, 1, 2.0, len as u64);
        let (s32, s) = normals(len, 1, 3.0, 7 + len as u64);
        let (xb, sb) = (
            GpuVec::from_slice(ctx, "x", &x32)?,
            GpuVec::from_slice(ctx, "score", &s32)?,
        );
        let key = cpu::hash::stream_key(len as u64, 3);
        let mut enc = stein::gpu::Recorder::new(ctx);
        k.record_langevin(ctx, &mut enc, (eta, key), &sb, &xb)?;
        enc.submit(ctx);
        let e64 = f64::from(eta as f32); // the kernel's η
        let want: Vec<f64> = (0..len)
            .map(|e| x[e] + 0.5 * e64 * s[e] + e64.sqrt() * cpu::hash::normal(key, e as u32))
            .collect();
        assert_close(
            &xb.read(ctx)?,
            &want,
            TOL_NOISE,
            1.0,
            &format!("langevin len {len}"),
        )?;
    }
    Ok(())
}

/// rbm_hidden (y = Bᵀx + c and tanh y) and one block-Gibbs sweep (rbm_gibbs_hidden, then
/// rbm_gibbs_visible) against the f64 references on awkward shapes, every output NaN-filled
/// first: the hidden draws must agree exactly, the visible ones to f32 rounding.
#[test]
fn rbm_gibbs_sweep_matches_the_reference_draw() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = RbmKernels::new(ctx)?;
    for (n, d, h) in [(1, 1, 1), (2, 3, 2), (63, 5, 7), (65, 2, 1), (257, 17, 10)] {
        let s = RbmShape { d, h };
        let th = random_theta(s, (n + d + h) as u64);
        let th32: Vec<f32> = th.iter().map(|&v| v as f32).collect();
        let th_r: Vec<f64> = th32.iter().map(|&v| f64::from(v)).collect();
        let theta = GpuVec::from_slice(ctx, "theta", &th32)?;
        let (x32, x) = normals(n, s.d, 1.0, 11 + n as u64);
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let batch = RbmBatch::new(ctx, s, n)?;
        for out in [&batch.y, &batch.t, &batch.hs] {
            out.write(ctx, &vec![f32::NAN; out.len])?;
        }
        let key = cpu::hash::stream_key(1, n as u64);
        let what = |part: &str| format!("{part} n={n} d={d} H={h}");
        let mut enc = stein::gpu::Recorder::new(ctx);
        k.record_hidden(ctx, &mut enc, s, &theta, &xb, &batch)?;
        enc.submit(ctx);
        let y_want = cpu::rbm::hidden(&th_r, s, &x);
        let t_want: Vec<f64> = y_want.iter().map(|v| v.tanh()).collect();
        let scale = max_abs(&y_want).max(1.0);
        assert_close(
            &batch.y.read(ctx)?,
            &y_want,
            TOL_MODEL,
            scale,
            &what("hidden y"),
        )?;
        assert_close(
            &batch.t.read(ctx)?,
            &t_want,
            TOL_MODEL,
            1.0,
            &what("tanh y"),
        )?;
        let mut enc = stein::gpu::Recorder::new(ctx);
        k.record_gibbs(ctx, &mut enc, s, &theta, &xb, &batch, key)?;
        enc.submit(ctx);
        let (h_want, x_want) = cpu::rbm::gibbs(&th_r, s, &x, key);
        let h_got = batch.hs.read(ctx)?;
        // Decisions agree but where the uniform lies within f32 rounding of sigmoid(2y).
        let flips = h_got
            .iter()
            .zip(&h_want)
            .filter(|(a, b)| f64::from(**a) != **b)
            .count();
        ensure!(
            flips == 0,
            "{}: {flips} of {} hidden draws differ",
            what("gibbs"),
            h_want.len()
        );
        assert_close(
            &xb.read(ctx)?,
            &x_want,
            TOL_SAMPLER,
            1.0,
            &what("gibbs visible"),
        )?;
    }
    Ok(())
}

/// Two block-Gibbs sweeps with different keys recorded into one encoder through one batch
/// (as the trainer records its k sampler steps) each read their own key: the first sweep's
/// draws match the reference draw of its key, and the pair ends bit for bit where the same two
/// sweeps end when submitted one at a time. With one uniform buffer per batch written from the
/// record functions, both sweeps drew from the second key.
#[test]
fn rbm_gibbs_sweeps_in_one_encoder_keep_their_own_keys() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = RbmKernels::new(ctx)?;
    let (n, s) = (65, RbmShape { d: 5, h: 7 });
    let th32: Vec<f32> = random_theta(s, 21).iter().map(|&v| v as f32).collect();
    let th_r: Vec<f64> = th32.iter().map(|&v| f64::from(v)).collect();
    let theta = GpuVec::from_slice(ctx, "theta", &th32)?;
    let (x32, x) = normals(n, s.d, 1.0, 23);
    let keys = [cpu::hash::stream_key(4, 0), cpu::hash::stream_key(4, 1)];
    let batch = RbmBatch::new(ctx, s, n)?;
    // One encoder: sweep, copy the first sweep's draws aside, sweep again.
    let xb = GpuVec::from_slice(ctx, "x", &x32)?;
    let x1 = GpuVec::<f32>::nan_filled(ctx, "x after sweep 1", n * s.d)?;
    let h1 = GpuVec::<f32>::nan_filled(ctx, "h of sweep 1", n * s.h)?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    k.record_hidden(ctx, &mut enc, s, &theta, &xb, &batch)?;
    k.record_gibbs(ctx, &mut enc, s, &theta, &xb, &batch, keys[0])?;
    enc.copy_buffer_to_buffer(&xb.buffer, 0, &x1.buffer, 0, x1.bytes());
    enc.copy_buffer_to_buffer(&batch.hs.buffer, 0, &h1.buffer, 0, h1.bytes());
    k.record_hidden(ctx, &mut enc, s, &theta, &xb, &batch)?;
    k.record_gibbs(ctx, &mut enc, s, &theta, &xb, &batch, keys[1])?;
    enc.submit(ctx);
    let (h_want, x_want) = cpu::rbm::gibbs(&th_r, s, &x, keys[0]);
    let h_got = h1.read(ctx)?;
    let flips = h_got
        .iter()
        .zip(&h_want)
        .filter(|(a, b)| f64::from(**a) != **b)
        .count();
    ensure!(
        flips == 0,
        "first sweep: {flips} of {} hidden draws differ from its key's",
        h_want.len()
    );
    assert_close(
        &x1.read(ctx)?,
        &x_want,
        TOL_SAMPLER,
        1.0,
        "first sweep's visible draw",
    )?;
    // The same sweeps, one submit each, through the same batch.
    let xs = GpuVec::from_slice(ctx, "x, one submit a sweep", &x32)?;
    for key in keys {
        let mut enc = stein::gpu::Recorder::new(ctx);
        k.record_hidden(ctx, &mut enc, s, &theta, &xs, &batch)?;
        k.record_gibbs(ctx, &mut enc, s, &theta, &xs, &batch, key)?;
        enc.submit(ctx);
    }
    let (one, apart) = (xb.read(ctx)?, xs.read(ctx)?);
    ensure!(
        one.iter()
            .zip(&apart)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "two sweeps in one encoder end elsewhere than in two submits"
    );
    ensure!(
        one.iter().zip(&x1.read(ctx)?).any(|(a, b)| a != b),
        "the second sweep left x unchanged"
    );
    Ok(())
}

#[test]
fn rbm_exact_log_partition_matches_cpu_and_refuses_large_h() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = RbmKernels::new(ctx)?;
    for (d, h) in [(1, 1), (17, 10), (784, 10), (5, 16)] {
        let s = RbmShape { d, h };
        // The authors' initialisation scale on B, small biases.
        let mut rng = SplitMix64::new(d as u64);
        let th: Vec<f64> = (0..s.len())
            .map(|q| {
                if q < d * h {
                    0.1 * (rng.next_f64() - 0.5)
                } else {
                    0.1 * rng.next_normal()
                }
            })
            .collect();
        let th32: Vec<f32> = th.iter().map(|&v| v as f32).collect();
        let th_r: Vec<f64> = th32.iter().map(|&v| f64::from(v)).collect();
        let theta = GpuVec::from_slice(ctx, "theta", &th32)?;
        let got = k.log_partition(ctx, s, &theta)?;
        let want = cpu::rbm::log_partition(&th_r, s);
        ensure!(
            (got - want).abs() < 1e-5 * want.abs().max(1.0),
            "d={d} H={h}: {got} vs {want}"
        );
    }
    let s = RbmShape { d: 2, h: 21 };
    let theta = GpuVec::from_slice(ctx, "theta", &vec![0.0f32; s.len()])?;
    let err = k.log_partition(ctx, s, &theta).unwrap_err().to_string();
    ensure!(err.contains("H <= 20") && err.contains("AIS"), "{err}");
    Ok(())
}

/// Quadrature log Z (d <= 2) against the exact RBM normaliser, which has the same f.
#[test]
fn quadrature_log_partition_matches_the_exact_rbm_value() -> Result<()> {
    use stein::model::rbm::RbmEnergy;
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = RbmKernels::new(ctx)?;
    for (d, h, seed) in [(1, 3, 5), (2, 4, 6), (2, 1, 7)] {
        let s = RbmShape { d, h };
        let th: Vec<f32> = random_theta(s, seed).iter().map(|&v| v as f32).collect();
        let theta = GpuVec::from_slice(ctx, "theta", &th)?;
        let exact = k.log_partition(ctx, s, &theta)?;
        let model = RbmEnergy::new(ctx, &k, s, &th, 4099)?;
        let (lo, hi) = (vec![-9.0; d], vec![9.0; d]);
        let q = stein::eval::log_partition_quadrature(ctx, &model, &lo, &hi, 400)?;
        ensure!(
            (q.log_z - exact).abs() < 1e-4 && q.grid_change < 1e-3 && q.border_gap < -20.0,
            "d={d} H={h}: quadrature {q:?} against exact {exact}"
        );
    }
    Ok(())
}
