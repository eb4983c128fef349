//! The MLP energy: the f64 reference against central differences, and the GPU kernels (f, the
//! score, the weighted parameter gradient, general vector-Jacobian products) against the
//! reference on awkward sizes, outputs NaN-filled first.

use anyhow::{ensure, Context, Result};
use stein::cpu;
use stein::gpu::{GpuContext, GpuVec};
use stein::io::target::SplitMix64;
use stein::model::mlp::{Activation, MlpBatch, MlpEnergy, MlpKernels, MlpNet, MlpShape, Vjp};
use stein::model::Energy;

use super::common::{assert_close, check_gradient, gpu, max_abs, normals, TOL_MLP};

/// θ of the network: N(0, 1)·1.5/√fan_in, so pre-activations reach the activations' curved
/// and saturated parts for inputs of scale ~1.5.
fn random_theta(net: &MlpNet, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    let mut th = vec![0.0; net.len()];
    for l in 0..net.layers() {
        let s = 1.5 / (net.fan_in(l) as f64).sqrt();
        for v in &mut th[net.w_offset(l)..net.w_offset(l + 1)] {
            *v = s * rng.next_normal();
        }
    }
    th
}

/// Batch weights like the trainer's ±1/m, with unequal magnitudes so no sum cancels exactly.
fn weights(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            sign * (1.0 + 0.25 * (i % 3) as f64) / n as f64
        })
        .collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

#[test]
fn cpu_activations_are_stable_and_match_their_definitions() -> Result<()> {
    use cpu::mlp::{act, act_grad};
    for z in [-3.0, -0.5, 0.0, 0.7, 4.0] {
        let sp = (1.0f64 + f64::exp(z)).ln();
        ensure!(
            (act(Activation::Softplus, z) - sp).abs() < 1e-14,
            "softplus({z})"
        );
        let silu = z / (1.0 + f64::exp(-z));
        ensure!((act(Activation::Silu, z) - silu).abs() < 1e-14, "silu({z})");
        ensure!(
            (act(Activation::Tanh, z) - z.tanh()).abs() < 1e-15,
            "tanh({z})"
        );
    }
    // No overflow far out: softplus(z) → z and → e^z, SiLU → z and → 0, derivatives finite.
    ensure!(act(Activation::Softplus, 800.0) == 800.0);
    ensure!((act(Activation::Softplus, -40.0) / f64::exp(-40.0) - 1.0).abs() < 1e-12);
    ensure!(act(Activation::Silu, -800.0) == 0.0 && act(Activation::Silu, 800.0) == 800.0);
    for a in Activation::ALL {
        for z in [-800.0, 800.0] {
            ensure!(act_grad(a, z).is_finite(), "{a} derivative at {z}");
        }
    }
    Ok(())
}

#[test]
fn cpu_mlp_gradients_match_finite_differences() -> Result<()> {
    for act in Activation::ALL {
        for (d, hidden) in [
            (1, vec![1]),
            (2, vec![]),
            (3, vec![4, 3]),
            (2, vec![5, 1, 2]),
        ] {
            let s = MlpShape {
                d,
                hidden: hidden.clone(),
                act,
                sigma0: 1.7,
            };
            let th = random_theta(&s.net(), d as u64 + 10 * hidden.len() as u64);
            let n = 3;
            let (_, x) = normals(n, d, 1.5, 4);
            let what = format!("{act} d={d} hidden={hidden:?}");
            let score = cpu::mlp::score(&th, &s, &x);
            for i in 0..n {
                let xi = &x[i * d..(i + 1) * d];
                check_gradient(
                    |y| cpu::mlp::energy(&th, &s, y)[0],
                    &score[i * d..(i + 1) * d],
                    xi,
                )
                .with_context(|| format!("score of sample {i}, {what}"))?;
            }
            let w = weights(n);
            let weighted = |t: &[f64]| -> f64 {
                cpu::mlp::energy(t, &s, &x)
                    .iter()
                    .zip(&w)
                    .map(|(f, w)| f * w)
                    .sum()
            };
            check_gradient(weighted, &cpu::mlp::grad(&th, &s, &x, &w), &th)
                .with_context(|| format!("weighted ∇θ, {what}"))?;
        }
    }
    Ok(())
}

#[test]
fn cpu_vjp_of_a_vector_output_matches_finite_differences() -> Result<()> {
    // A network with three outputs (a generator's shape): uᵀJ against differences of u·out.
    let net = MlpNet {
        widths: vec![2, 4, 3],
        act: Activation::Silu,
    };
    let th = random_theta(&net, 3);
    let n = 2;
    let (_, x) = normals(n, 2, 1.5, 5);
    let (_, u) = normals(n, 3, 1.0, 6);
    let dot = |t: &[f64], x: &[f64]| -> f64 {
        cpu::mlp::network(t, &net, x)
            .iter()
            .zip(&u)
            .map(|(o, u)| o * u)
            .sum()
    };
    let (dx, dtheta) = cpu::mlp::vjp(&th, &net, &x, &u);
    check_gradient(|t| dot(t, &x), &dtheta, &th).context("parameter part")?;
    check_gradient(|y| dot(&th, y), &dx, &x).context("input part")
}

/// f, score and g = Σ wᵢ∇θf on the device, outputs NaN-filled first.
fn run_energy(
    ctx: &GpuContext,
    k: &MlpKernels,
    s: &MlpShape,
    th: &[f32],
    x: &[f32],
    w: &[f32],
) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    let n = w.len();
    let theta = GpuVec::from_slice(ctx, "theta", th)?;
    let xb = GpuVec::from_slice(ctx, "x", x)?;
    let wb = GpuVec::from_slice(ctx, "w", w)?;
    let batch = MlpBatch::new(ctx, s, n)?;
    let f = GpuVec::nan_filled(ctx, "f", n)?;
    let score = GpuVec::nan_filled(ctx, "score", n * s.d)?;
    let g = GpuVec::nan_filled(ctx, "g", s.len())?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    k.record_forward(ctx, &mut enc, &theta, &xb, &batch)?;
    k.record_energy(ctx, &mut enc, &xb, &batch, &f)?;
    k.record_score(ctx, &mut enc, &theta, &xb, &batch, &score)?;
    k.record_grad(ctx, &mut enc, &theta, &xb, &batch, &wb, &g)?;
    enc.submit(ctx);
    Ok((f.read(ctx)?, score.read(ctx)?, g.read(ctx)?))
}

/// (n, d, hidden widths): every n of the case table, d ∈ {1, 2, 17}, no hidden layer, width 1
/// (alone and between wider layers), widths past the workgroup (65, 130), depth up to 3, and
/// layers of more than 192 parameter tiles (65 × 130) for the 2-D grids.
const CASES: &[(usize, usize, &[usize])] = &[
    (1, 1, &[1]),
    (2, 2, &[]),
    (3, 17, &[5, 1, 3]),
    (31, 2, &[130]),
    (64, 17, &[65, 130]),
    (65, 1, &[3, 3, 3]),
    (257, 17, &[65, 1]),
];

#[test]
fn mlp_kernels_match_cpu_reference() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = MlpKernels::new(ctx)?;
    // The same kernels with at most 3 workgroups along x: every dispatch past 192 invocations
    // becomes a 2-D grid with a partial last row.
    let mut k2 = MlpKernels::new(ctx)?;
    k2.groups_cap = Some(3);
    for (c, &(n, d, hidden)) in CASES.iter().enumerate() {
        for (act, k) in Activation::ALL
            .into_iter()
            .flat_map(|a| [(a, &k), (a, &k2)])
        {
            let s = MlpShape {
                d,
                hidden: hidden.to_vec(),
                act,
                sigma0: 1.7,
            };
            let th32 = to_f32(&random_theta(&s.net(), c as u64));
            // The kernels take the f32 θ, x and w: the reference uses the same values.
            let th = to_f64(&th32);
            let (x32, x) = normals(n, d, 1.5, (n * d) as u64);
            let w32 = to_f32(&weights(n));
            let w = to_f64(&w32);
            let (f, score, g) = run_energy(ctx, k, &s, &th32, &x32, &w32)?;
            let what = |q: &str| {
                let cap = k.groups_cap;
                format!("mlp {q} {act} n={n} d={d} hidden={hidden:?} groups cap {cap:?}")
            };
            let want = cpu::mlp::energy(&th, &s, &x);
            assert_close(&f, &want, TOL_MLP, max_abs(&want), &what("energy"))?;
            let want = cpu::mlp::score(&th, &s, &x);
            assert_close(&score, &want, TOL_MLP, max_abs(&want), &what("score"))?;
            let want = cpu::mlp::grad(&th, &s, &x, &w);
            assert_close(&g, &want, TOL_MLP, max_abs(&want), &what("grad"))?;
        }
    }
    Ok(())
}

#[test]
fn mlp_kernels_are_accurate_where_the_activations_saturate() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = MlpKernels::new(ctx)?;
    // Inputs of scale 40: pre-activations of ±100 and more, where a naive softplus, sigmoid or
    // tanh overflows e^z.
    let (n, d) = (31, 2);
    for act in Activation::ALL {
        let s = MlpShape {
            d,
            hidden: vec![65, 3],
            act,
            sigma0: 30.0,
        };
        let th32 = to_f32(&random_theta(&s.net(), 77));
        let th = to_f64(&th32);
        let (x32, x) = normals(n, d, 40.0, 5);
        let w32 = to_f32(&weights(n));
        let w = to_f64(&w32);
        let (f, score, g) = run_energy(ctx, &k, &s, &th32, &x32, &w32)?;
        let what = |q: &str| format!("saturated mlp {q} {act}");
        let want = cpu::mlp::energy(&th, &s, &x);
        assert_close(&f, &want, TOL_MLP, max_abs(&want), &what("energy"))?;
        let want = cpu::mlp::score(&th, &s, &x);
        assert_close(&score, &want, TOL_MLP, max_abs(&want), &what("score"))?;
        let want = cpu::mlp::grad(&th, &s, &x, &w);
        assert_close(&g, &want, TOL_MLP, max_abs(&want), &what("grad"))?;
    }
    Ok(())
}

#[test]
fn mlp_backward_of_a_vector_output_matches_cpu_vjp() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = MlpKernels::new(ctx)?;
    let nets: [(usize, &[usize]); 3] = [(3, &[2, 1, 5]), (65, &[17, 65, 3]), (31, &[1, 130, 7, 2])];
    for (c, (n, widths)) in nets.into_iter().enumerate() {
        let act = Activation::ALL[c % 3];
        let net = MlpNet {
            widths: widths.to_vec(),
            act,
        };
        let th32 = to_f32(&random_theta(&net, 100 + c as u64));
        let th = to_f64(&th32);
        let (x32, x) = normals(n, net.d(), 1.5, 7);
        let (u32_, u) = normals(n, net.out(), 1.0, 8);
        let theta = GpuVec::from_slice(ctx, "theta", &th32)?;
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let ub = GpuVec::from_slice(ctx, "u", &u32_)?;
        let batch = MlpBatch::for_net(ctx, &net, n)?;
        let dx = GpuVec::nan_filled(ctx, "dx", n * net.d())?;
        let dtheta = GpuVec::nan_filled(ctx, "dtheta", net.len())?;
        let out = GpuVec::nan_filled(ctx, "out copy", n * net.out())?;
        let mut enc = stein::gpu::Recorder::new(ctx);
        k.record_forward(ctx, &mut enc, &theta, &xb, &batch)?;
        enc.copy_buffer_to_buffer(&batch.output().buffer, 0, &out.buffer, 0, out.bytes());
        let vjp = Vjp {
            dx: Some(&dx),
            dtheta: Some(&dtheta),
        };
        k.record_backward(ctx, &mut enc, &theta, &xb, &batch, &ub, vjp)?;
        enc.submit(ctx);
        let what = |q: &str| format!("{q} {act} n={n} widths={widths:?}");
        let want = cpu::mlp::network(&th, &net, &x);
        assert_close(
            &out.read(ctx)?,
            &want,
            TOL_MLP,
            max_abs(&want),
            &what("output"),
        )?;
        let (want_dx, want_dtheta) = cpu::mlp::vjp(&th, &net, &x, &u);
        let got = dx.read(ctx)?;
        assert_close(&got, &want_dx, TOL_MLP, max_abs(&want_dx), &what("dx"))?;
        let got = dtheta.read(ctx)?;
        assert_close(
            &got,
            &want_dtheta,
            TOL_MLP,
            max_abs(&want_dtheta),
            &what("dθ"),
        )?;
        // A plain network has no energy.
        let f = GpuVec::<f32>::zeros(ctx, "f", n)?;
        let mut enc = stein::gpu::Recorder::new(ctx);
        let err = k
            .record_energy(ctx, &mut enc, &xb, &batch, &f)
            .expect_err("energy of a plain network");
        ensure!(err.to_string().contains("MlpBatch::new"), "{err}");
    }
    Ok(())
}

#[test]
fn mlp_gradient_and_score_reruns_are_bit_identical() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = MlpKernels::new(ctx)?;
    let s = MlpShape {
        d: 17,
        hidden: vec![65, 7],
        act: Activation::Softplus,
        sigma0: 2.0,
    };
    let n = 257;
    let th = s.init_theta(1);
    let (x, _) = normals(n, s.d, 1.0, 2);
    let w = to_f32(&weights(n));
    let first = run_energy(ctx, &k, &s, &th, &x, &w)?;
    let second = run_energy(ctx, &k, &s, &th, &x, &w)?;
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    ensure!(
        bits(&first.2) == bits(&second.2),
        "gradient differs between runs"
    );
    ensure!(
        bits(&first.1) == bits(&second.1),
        "score differs between runs"
    );
    ensure!(first.2.iter().all(|v| v.is_finite()), "gradient not finite");
    Ok(())
}

#[test]
fn mlp_energy_trait_records_f_and_score() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = MlpKernels::new(ctx)?;
    let s = MlpShape {
        d: 2,
        hidden: vec![130, 65],
        act: Activation::Tanh,
        sigma0: 3.0,
    };
    let n = 65;
    let th32 = s.init_theta(9);
    let th = to_f64(&th32);
    let (x32, x) = normals(n, s.d, 2.0, 3);
    let model = MlpEnergy::new(ctx, &k, s.clone(), &th32, n)?;
    ensure!(model.dim() == 2 && model.batch() == n);
    ensure!(model.device_bytes() >= 4 * (th.len() + 2 * n * (130 + 65)) as u64);
    let xb = GpuVec::from_slice(ctx, "x", &x32)?;
    let f = GpuVec::nan_filled(ctx, "f", n)?;
    let score = GpuVec::nan_filled(ctx, "score", n * s.d)?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    model.record_energy_score(ctx, &mut enc, &xb, &f, &score)?;
    enc.submit(ctx);
    let want = cpu::mlp::energy(&th, &s, &x);
    assert_close(&f.read(ctx)?, &want, TOL_MLP, max_abs(&want), "energy")?;
    let want = cpu::mlp::score(&th, &s, &x);
    assert_close(&score.read(ctx)?, &want, TOL_MLP, max_abs(&want), "score")
}

/// Two evaluations of one energy at different inputs recorded into one encoder (as SteinCD's
/// and the generator's scores share the trainer's workspace) each get their own f and score:
/// every layer's uniform comes from the encoder's arena, so none is shared by two dispatches.
#[test]
fn mlp_evaluations_in_one_encoder_are_independent() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = MlpKernels::new(ctx)?;
    let s = MlpShape {
        d: 3,
        hidden: vec![9, 5],
        act: Activation::Silu,
        sigma0: 2.0,
    };
    let n = 17;
    let th32 = s.init_theta(4);
    let th = to_f64(&th32);
    let model = MlpEnergy::new(ctx, &k, s.clone(), &th32, n)?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    let mut outs = Vec::new();
    for seed in [5, 6] {
        let (x32, x) = normals(n, s.d, 1.5, seed);
        let xb = GpuVec::from_slice(ctx, "x", &x32)?;
        let f = GpuVec::nan_filled(ctx, "f", n)?;
        let score = GpuVec::nan_filled(ctx, "score", n * s.d)?;
        model.record_energy_score(ctx, &mut enc, &xb, &f, &score)?;
        outs.push((x, f, score));
    }
    enc.submit(ctx);
    for (i, (x, f, score)) in outs.iter().enumerate() {
        let want = cpu::mlp::energy(&th, &s, x);
        assert_close(
            &f.read(ctx)?,
            &want,
            TOL_MLP,
            max_abs(&want),
            &format!("energy {i}"),
        )?;
        let want = cpu::mlp::score(&th, &s, x);
        assert_close(
            &score.read(ctx)?,
            &want,
            TOL_MLP,
            max_abs(&want),
            &format!("score {i}"),
        )?;
    }
    Ok(())
}

#[test]
fn mlp_refuses_bad_sizes_and_batches_past_the_loop_limit() -> Result<()> {
    let Some((ctx, _)) = gpu()? else {
        return Ok(());
    };
    let k = MlpKernels::new(ctx)?;
    let s = MlpShape {
        d: 1,
        hidden: vec![2],
        act: Activation::Silu,
        sigma0: 1.0,
    };
    let bad = MlpShape {
        sigma0: 0.0,
        ..s.clone()
    };
    ensure!(MlpBatch::new(ctx, &bad, 4).is_err(), "σ₀ = 0 accepted");
    let zero_width = MlpShape {
        hidden: vec![3, 0],
        ..s.clone()
    };
    ensure!(
        MlpBatch::new(ctx, &zero_width, 4).is_err(),
        "width 0 accepted"
    );
    ensure!(MlpBatch::new(ctx, &s, 0).is_err(), "empty batch accepted");

    let n = 60_001;
    let batch = MlpBatch::new(ctx, &s, n)?;
    let theta = GpuVec::from_slice(ctx, "theta", &s.init_theta(0))?;
    let short_theta = GpuVec::<f32>::zeros(ctx, "theta", s.len() - 1)?;
    let x = GpuVec::<f32>::zeros(ctx, "x", n)?;
    let w = GpuVec::from_slice(ctx, "w", &vec![1.0 / n as f32; n])?;
    let g = GpuVec::nan_filled(ctx, "g", s.len())?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    let err = k
        .record_forward(ctx, &mut enc, &short_theta, &x, &batch)
        .expect_err("short θ");
    ensure!(err.to_string().contains("θ has"), "{err}");
    let short_x = GpuVec::<f32>::zeros(ctx, "x", n - 1)?;
    ensure!(k
        .record_forward(ctx, &mut enc, &theta, &short_x, &batch)
        .is_err());
    // A long batch on every device (50,000 rows stay under llvmpipe's limit): the block sums
    // keep the f32 error of the sum over rows small.
    {
        let m = 50_000;
        let batch = MlpBatch::new(ctx, &s, m)?;
        let x = GpuVec::<f32>::zeros(ctx, "x", m)?;
        let w = GpuVec::from_slice(ctx, "w", &vec![1.0 / m as f32; m])?;
        let g = GpuVec::nan_filled(ctx, "g", s.len())?;
        let mut enc = stein::gpu::Recorder::new(ctx);
        k.record_forward(ctx, &mut enc, &theta, &x, &batch)?;
        k.record_grad(ctx, &mut enc, &theta, &x, &batch, &w, &g)?;
        enc.submit(ctx);
        let want = cpu::mlp::grad(&to_f64(&s.init_theta(0)), &s, &[0.0], &[1.0]);
        assert_close(
            &g.read(ctx)?,
            &want,
            TOL_MLP,
            1.0,
            "gradient of 50,000 rows",
        )?;
    }
    k.record_forward(ctx, &mut enc, &theta, &x, &batch)?;
    let r = k.record_grad(ctx, &mut enc, &theta, &x, &batch, &w, &g);
    if ctx.loop_limit().is_some() {
        let err = r.expect_err("a batch past llvmpipe's loop limit");
        ensure!(format!("{err:#}").contains("65535"), "{err:#}");
    } else {
        // No loop limit: the sum runs. At x = 0 with weights 1/n, g is ∇θ f(0).
        r?;
        enc.submit(ctx);
        let th = to_f64(&s.init_theta(0));
        let want = cpu::mlp::grad(&th, &s, &[0.0], &[1.0]);
        assert_close(
            &g.read(ctx)?,
            &want,
            TOL_MLP,
            1.0,
            "gradient of a long batch",
        )?;
    }
    Ok(())
}
