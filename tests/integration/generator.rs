//! The SteinGAN generator: latent draws, forward pass with the sigmoid output, dη for a given
//! cotangent and the row-sum normalisation of φ, on the device against the f64 reference
//! (`cpu::generator`) on awkward sizes, outputs NaN-filled first; the reference's dη against
//! finite differences.

use anyhow::{ensure, Context, Result};
use stein::cpu;
use stein::gpu::GpuVec;
use stein::model::generator::{GenBatch, GenKernels, GenOutput, GenSpec};
use stein::model::mlp::{Activation, MlpKernels};

use super::common::{assert_close, check_gradient, gpu, max_abs, normals, TOL_MLP, TOL_PAIRWISE};

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn cpu_generator_gradient_matches_finite_differences() -> Result<()> {
    for output in [GenOutput::Identity, GenOutput::Sigmoid] {
        let spec = GenSpec::new(3, &[5, 4], 2, Activation::Tanh, output)?;
        let eta = to_f64(&spec.init_eta(1));
        let z = cpu::generator::latent(7, 3 * 3);
        let (_, phi) = normals(3, 2, 1.0, 2);
        let dot = |e: &[f64]| -> f64 {
            cpu::generator::forward(e, &spec, &z)
                .iter()
                .zip(&phi)
                .map(|(x, p)| 0.5 * x * p)
                .sum()
        };
        let g = cpu::generator::eta_grad(&eta, &spec, &z, &phi, 0.5);
        check_gradient(dot, &g, &eta).with_context(|| format!("dη, {output} output"))?;
    }
    Ok(())
}

#[test]
fn generator_kernels_match_cpu_reference() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let mlp = MlpKernels::new(ctx)?;
    let gk = GenKernels::new(ctx)?;
    // (n, n_z, hidden, d): one sample, n_z = 1, widths past the workgroup, d = 1 and 17.
    let cases: &[(usize, usize, &[usize], usize)] = &[
        (1, 1, &[3], 1),
        (3, 7, &[], 2),
        (65, 100, &[65, 33], 2),
        (257, 5, &[130], 17),
    ];
    let mut saturated = false;
    for (c, &(n, nz, hidden, d)) in cases.iter().enumerate() {
        for output in [GenOutput::Sigmoid, GenOutput::Identity] {
            let act = Activation::ALL[c % 3];
            let spec = GenSpec::new(nz, hidden, d, act, output)?;
            // Larger weights than the initialisation, so the sigmoid saturates on some rows.
            let eta32: Vec<f32> = spec.init_eta(c as u64).iter().map(|v| 3.0 * v).collect();
            let eta = to_f64(&eta32);
            let key = 12345 + c as u32;
            let what = |q: &str| format!("{q}: {output} n={n} nz={nz} hidden={hidden:?} d={d}");
            let etab = GpuVec::from_slice(ctx, "eta", &eta32)?;
            let batch = GenBatch::new(ctx, &spec, n)?;
            batch.z.write(ctx, &vec![f32::NAN; n * nz])?;
            batch.x.write(ctx, &vec![f32::NAN; n * d])?;
            let (phi32, phi) = normals(n, d, 1.0, 3 + c as u64);
            let phib = GpuVec::from_slice(ctx, "phi", &phi32)?;
            let g = GpuVec::nan_filled(ctx, "d eta", spec.len())?;
            let scale = 1.0 / n as f64;
            let mut enc = stein::gpu::Recorder::new(ctx);
            gk.record_sample(ctx, &mut enc, &mlp, &etab, &batch, key)?;
            gk.record_eta_grad(ctx, &mut enc, &mlp, &etab, &batch, &phib, scale, &g)?;
            enc.submit(ctx);
            let z = cpu::generator::latent(key, n * nz);
            let got_z = batch.z.read(ctx)?;
            ensure!(
                got_z.iter().zip(&z).all(|(&a, &b)| f64::from(a) == b),
                "{}: {:?} vs {:?}",
                what("latent draws differ from the reference"),
                &got_z[..got_z.len().min(4)],
                &z[..z.len().min(4)]
            );
            ensure!(
                z.iter().all(|v| v.abs() < 1.0) && (n * nz < 20 || z.iter().any(|&v| v < -0.5)),
                "{}",
                what("latent draws outside (−1, 1) or one-sided")
            );
            let want = cpu::generator::forward(&eta, &spec, &z);
            let got = batch.x.read(ctx)?;
            assert_close(&got, &want, TOL_MLP, max_abs(&want), &what("x = G(z)"))?;
            if output == GenOutput::Sigmoid {
                saturated |= want.iter().any(|&v| !(0.02..=0.98).contains(&v));
            }
            let want = cpu::generator::eta_grad(&eta, &spec, &z, &phi, scale);
            let got = g.read(ctx)?;
            assert_close(&got, &want, TOL_MLP, max_abs(&want), &what("dη"))?;
        }
    }
    ensure!(saturated, "no case reaches the sigmoid's saturated part");
    Ok(())
}

#[test]
fn generator_rowsum_normalisation_matches_cpu_reference() -> Result<()> {
    let Some((ctx, k)) = gpu()? else {
        return Ok(());
    };
    let mlp = MlpKernels::new(ctx)?;
    let gk = GenKernels::new(ctx)?;
    for (n, d) in [(1, 2), (65, 3), (300, 17)] {
        let spec = GenSpec::new(4, &[9], d, Activation::Silu, GenOutput::Identity)?;
        let eta32 = spec.init_eta(5);
        let etab = GpuVec::from_slice(ctx, "eta", &eta32)?;
        let batch = GenBatch::new(ctx, &spec, n)?;
        let (phi32, phi) = normals(n, d, 1.0, 9);
        let phib = GpuVec::from_slice(ctx, "phi", &phi32)?;
        let h = 0.05 * d as f64;
        let mut enc = stein::gpu::Recorder::new(ctx);
        gk.record_sample(ctx, &mut enc, &mlp, &etab, &batch, 3)?;
        enc.submit(ctx);
        batch
            .rowsum_phi()
            .write(ctx, &vec![f32::NAN; n * d])
            .context("NaN fill")?;
        let mut enc = stein::gpu::Recorder::new(ctx);
        gk.record_rowsum_norm(ctx, k, &mut enc, &batch, &phib, h)?;
        enc.submit(ctx);
        let x = to_f64(&batch.x.read(ctx)?);
        let want = cpu::generator::rowsum_norm(&x, &phi, d, h);
        let got = batch.rowsum_phi().read(ctx)?;
        assert_close(
            &got,
            &want,
            TOL_PAIRWISE,
            max_abs(&want),
            &format!("row-sum φ n={n} d={d}"),
        )?;
        if n > 1 {
            ensure!(
                want.iter()
                    .zip(&phi)
                    .any(|(w, p)| (w - p).abs() > 0.1 * p.abs()),
                "n={n}: the row sums are all ≈ n, the case tests nothing"
            );
        }
    }
    Ok(())
}

/// Two draws with different keys recorded into one encoder through one batch each read their
/// own key (and the sigmoid its own length): z and x = G(z) of each match the reference of its
/// key. With one uniform buffer per batch written from the record functions, both draws used
/// the second key.
#[test]
fn generator_draws_in_one_encoder_keep_their_own_keys() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let mlp = MlpKernels::new(ctx)?;
    let gk = GenKernels::new(ctx)?;
    let (n, nz, d) = (33, 6, 3);
    let spec = GenSpec::new(nz, &[10], d, Activation::Softplus, GenOutput::Sigmoid)?;
    let eta32 = spec.init_eta(2);
    let eta = to_f64(&eta32);
    let etab = GpuVec::from_slice(ctx, "eta", &eta32)?;
    let batch = GenBatch::new(ctx, &spec, n)?;
    let keys = [cpu::hash::stream_key(8, 0), cpu::hash::stream_key(8, 1)];
    let z1 = GpuVec::<f32>::nan_filled(ctx, "z of draw 1", n * nz)?;
    let x1 = GpuVec::<f32>::nan_filled(ctx, "x of draw 1", n * d)?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    gk.record_sample(ctx, &mut enc, &mlp, &etab, &batch, keys[0])?;
    enc.copy_buffer_to_buffer(&batch.z.buffer, 0, &z1.buffer, 0, z1.bytes());
    enc.copy_buffer_to_buffer(&batch.x.buffer, 0, &x1.buffer, 0, x1.bytes());
    gk.record_sample(ctx, &mut enc, &mlp, &etab, &batch, keys[1])?;
    enc.submit(ctx);
    for (i, (key, (z, x))) in keys
        .into_iter()
        .zip([(&z1, &x1), (&batch.z, &batch.x)])
        .enumerate()
    {
        let want_z = cpu::generator::latent(key, n * nz);
        let got_z = z.read(ctx)?;
        ensure!(
            got_z.iter().zip(&want_z).all(|(&a, &b)| f64::from(a) == b),
            "draw {i}: the latent draws are not those of its key"
        );
        let want = cpu::generator::forward(&eta, &spec, &want_z);
        assert_close(
            &x.read(ctx)?,
            &want,
            TOL_MLP,
            max_abs(&want),
            &format!("draw {i}: x = G(z)"),
        )?;
    }
    Ok(())
}
