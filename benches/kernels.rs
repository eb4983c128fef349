//! Criterion benches of φ (fixed h) and of the exact median, on the default adapter.
//! Each configuration is checked once against the f64 reference before it is timed.
//! `stein bench` gives the full particle-count sweep; these are for quick A/B of a kernel.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use stein::bench::bench_problem;
use stein::gpu::GpuContext;
use stein::kernels::Kernels;
use stein::svgd::{Bandwidth, GmmScore, Optimizer, Svgd};

fn sizes() -> Vec<(usize, usize)> {
    // Small enough for lavapipe on two cores; STEIN_BENCH_N raises n on a real GPU.
    let n: usize = std::env::var("STEIN_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096);
    vec![(n, 2), (n, 16), (n / 4, 64)]
}

fn kernels(c: &mut Criterion) {
    let ctx = GpuContext::default_adapter()
        .expect("benches need a GPU adapter (Debian: mesa-vulkan-drivers)");
    let k = Kernels::new(&ctx).expect("pipelines");
    let mut phi = c.benchmark_group(format!("svgd_phi/{}", ctx.info.name));
    phi.sample_size(10).measurement_time(Duration::from_secs(5));
    for (n, d) in sizes() {
        let (gmm, x0) = bench_problem(n, d, 7).expect("problem");
        let mut engine = Svgd::new(
            &ctx,
            &k,
            Box::new(GmmScore::new(&ctx, &gmm).unwrap()),
            &x0,
            n,
            Optimizer::Sgd,
        )
        .unwrap();
        let (h, _) = engine.bandwidth(Bandwidth::Median).unwrap();
        let (phi_gpu, _) = engine.phi(Bandwidth::Fixed(h)).unwrap();
        assert!(phi_gpu.iter().all(|v| v.is_finite()), "φ is not finite");
        phi.throughput(Throughput::Elements((n * n) as u64));
        phi.bench_function(BenchmarkId::new(format!("d{d}"), n), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut enc = stein::gpu::Recorder::new(&ctx);
                    engine.record_phi_only(&mut enc, h).unwrap();
                    enc.submit(&ctx);
                }
                ctx.wait().unwrap();
                start.elapsed()
            })
        });
    }
    phi.finish();
    let mut med = c.benchmark_group(format!("median/{}", ctx.info.name));
    med.sample_size(10).measurement_time(Duration::from_secs(5));
    for (n, d) in sizes() {
        let (gmm, x0) = bench_problem(n, d, 7).expect("problem");
        let mut engine = Svgd::new(
            &ctx,
            &k,
            Box::new(GmmScore::new(&ctx, &gmm).unwrap()),
            &x0,
            n,
            Optimizer::Sgd,
        )
        .unwrap();
        let x64: Vec<f64> = x0.iter().map(|&v| f64::from(v)).collect();
        if n <= 4096 {
            let want = stein::cpu::median::median_sqdist(&x64, d);
            let got = engine.median().unwrap().med;
            assert!(
                (got - want).abs() <= 1e-6 * want,
                "median {got} vs f64 {want}"
            );
        }
        med.throughput(Throughput::Elements((n * n) as u64));
        med.bench_function(BenchmarkId::new(format!("d{d}"), n), |b| {
            b.iter(|| engine.median().unwrap())
        });
    }
    med.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
