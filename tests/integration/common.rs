//! Shared helpers: the device, seeded data, case tables, the tolerance check and the f64
//! references, each computed once per input.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{bail, Result};
use stein::gpu::GpuContext;
use stein::io::target::SplitMix64;
use stein::kernels::{Kernels, PhiLayout};

/// Particle counts of the case table: 1, 2, a small prime, WG − 1, WG, WG + 1, primes,
/// many workgroups (1000) and [`N_LARGE`].
pub const NS: &[usize] = &[1, 2, 3, 31, 64, 65, 257, 1000, N_LARGE];
/// Dimensions: 1, 2, 3, a prime, the φ kernel's chunk (64) and past it (100).
pub const DS: &[usize] = &[1, 2, 3, 17, 64, 100];
/// The case table's largest n, past 4096 (the records textures' width in texels, and the
/// most workgroups of rows). Its pairwise rows cost 17 times those of n = 1000, so the
/// default suite runs it at a few d per kernel ([`Sweep`]).
pub const N_LARGE: usize = 4099;

/// How much of a case table a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// The default suite: every kernel, layout and size class (n = 1, 2, primes, WG ± 1;
    /// d = 1, large d), with the costly cross products (n = [`N_LARGE`] at every d, layout and
    /// chunking) cut to a few rows per kernel.
    Default,
    /// The whole table: the long suite (`scripts/test-long.sh`, tests ignored by default).
    Whole,
}

impl Sweep {
    /// Whether this sweep runs the row (n, d), where the default suite runs n = [`N_LARGE`]
    /// only at the dimensions `large_at` (and every smaller n everywhere).
    pub fn runs(self, n: usize, d: usize, large_at: &[usize]) -> bool {
        self == Sweep::Whole || n < N_LARGE || large_at.contains(&d)
    }
}

/// Tolerances, stated once: |got − want| <= max(rel · max(|want|, scale), abs).
#[derive(Clone, Copy, Debug)]
pub struct Tol {
    /// Relative part.
    pub rel: f64,
    /// Absolute part.
    pub abs: f64,
}

/// Elementwise kernels without reductions (updates).
pub const TOL_ELEMENTWISE: Tol = Tol {
    rel: 2e-6,
    abs: 1e-7,
};
/// The mixture score: f32 logits of size ~d·(x−μ)²/σ² (hundreds at d = 100) carry absolute
/// errors ~1e-4 into the responsibilities where two components compete, so up to ~1e-4 of the
/// largest term (seen: 5.2e-5 at d = 100).
pub const TOL_SCORE: Tol = Tol {
    rel: 2e-4,
    abs: 1e-6,
};
/// Counter-based normals (Box-Muller): f32 log and cos on the device; llvmpipe's cos is
/// ~1.5e-5 off near its zeros.
pub const TOL_NOISE: Tol = Tol {
    rel: 1e-5,
    abs: 5e-5,
};

/// One sampler move built from model sums and counter-based noise (Gibbs visible units).
pub const TOL_SAMPLER: Tol = Tol {
    rel: 1e-5,
    abs: 1e-5,
};

/// Unbiased MMD²: three kernel means, each ≤ 1, summed in f32 per row then f64; the
/// difference cancels, so the bound is absolute.
pub const TOL_MMD: Tol = Tol {
    rel: 0.0,
    abs: 2e-5,
};

/// `madd_peak`'s chains a ← a·m + k: each step rounds once or twice (llvmpipe splits the fma),
/// and m < 0.9 damps every rounding by the next step, so a chain stays within about
/// 2 ulp / (1 − m) ≈ 1.2e-6 of the f64 one.
pub const TOL_CHAINS: Tol = Tol {
    rel: 1e-5,
    abs: 0.0,
};

/// Model kernels (RBM, MLP): sums over d and hidden units of f32 products.
pub const TOL_MODEL: Tol = Tol {
    rel: 1e-5,
    abs: 1e-6,
};

/// φ and KSD row sums: O(n) sums of terms that cancel; relative to the row's scale.
pub const TOL_PAIRWISE: Tol = Tol {
    rel: 1e-4,
    abs: 1e-6,
};

/// MLP energy kernels (f, score, weighted ∇θ, general VJPs) against the f64 reference: f32
/// dot products over widths up to 130 through up to four layers, relative to the largest
/// value of the compared quantity (the `scale` of [`assert_close`]). Seen on lavapipe: at most
/// 6e-7 of that scale.
pub const TOL_MLP: Tol = Tol {
    rel: 5e-6,
    abs: 1e-7,
};

/// The shared device. With no adapter the GPU tests FAIL with a how-to message, unless
/// STEIN_ALLOW_NO_GPU=1 asks to skip them.
pub fn gpu() -> Result<Option<&'static (GpuContext, Kernels)>> {
    static CTX: OnceLock<Option<(GpuContext, Kernels)>> = OnceLock::new();
    let ctx = CTX.get_or_init(|| match GpuContext::default_adapter() {
        Ok(ctx) => {
            let k = Kernels::new(&ctx).expect("building the pipelines");
            Some((ctx, k))
        }
        Err(err) => {
            eprintln!("no GPU adapter: {err:#}");
            None
        }
    });
    if ctx.is_none() && std::env::var("STEIN_ALLOW_NO_GPU").as_deref() != Ok("1") {
        bail!(
            "no GPU adapter could be opened; install one (Debian: apt-get install mesa-vulkan-drivers) \
             or set STEIN_ALLOW_NO_GPU=1 to skip GPU tests"
        );
    }
    Ok(ctx.as_ref())
}

/// `n·d` standard normals scaled by `scale`, as f32, and the same values in f64.
pub fn normals(n: usize, d: usize, scale: f64, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let mut rng = SplitMix64::new(seed);
    let x32: Vec<f32> = (0..n * d)
        .map(|_| (scale * rng.next_normal()) as f32)
        .collect();
    let x64 = x32.iter().map(|&v| f64::from(v)).collect();
    (x32, x64)
}

/// Compares `got` with `want`; the error names how many elements fail, the worst one, and the
/// mean absolute error. `scale` is a per-comparison magnitude floor for the relative part.
pub fn assert_close(got: &[f32], want: &[f64], tol: Tol, scale: f64, what: &str) -> Result<()> {
    if got.len() != want.len() {
        bail!("{what}: {} values, want {}", got.len(), want.len());
    }
    let mut bad = 0;
    let mut worst = (0usize, 0.0f64);
    let mut sum_abs = 0.0;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(g);
        let err = (g - w).abs();
        sum_abs += if err.is_nan() { f64::INFINITY } else { err };
        let allowed = (tol.rel * w.abs().max(scale)).max(tol.abs);
        if err.is_nan() || err > allowed {
            bad += 1;
            let ratio = if err.is_nan() {
                f64::INFINITY
            } else {
                err / allowed
            };
            if ratio >= worst.1 {
                worst = (i, ratio);
            }
        }
    }
    if bad > 0 {
        let i = worst.0;
        bail!(
            "{what}: {bad} of {} elements outside {tol:?} (scale {scale:e}); worst at {i}: got {}, want {}; mean abs error {:e}",
            got.len(),
            got[i],
            want[i],
            sum_abs / got.len() as f64
        );
    }
    Ok(())
}

/// Largest absolute value, for the scale of a relative tolerance.
pub fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// f64 central differences of `f` at `at` against `grad` on every coordinate.
pub fn check_gradient(f: impl Fn(&[f64]) -> f64, grad: &[f64], at: &[f64]) -> Result<()> {
    let mut x = at.to_vec();
    for k in 0..x.len() {
        let eps = 1e-5 * x[k].abs().max(1.0);
        let x0 = x[k];
        x[k] = x0 + eps;
        let fp = f(&x);
        x[k] = x0 - eps;
        let fm = f(&x);
        x[k] = x0;
        let fd = (fp - fm) / (2.0 * eps);
        let tol = 1e-8 + 1e-6 * fd.abs().max(grad[k].abs());
        if (fd - grad[k]).abs() > tol {
            bail!(
                "coordinate {k}: finite difference {fd:e}, analytic {:e}",
                grad[k]
            );
        }
    }
    Ok(())
}

/// The shared device with kernels whose column chunks are capped at `CHUNK` columns, so small
/// test sizes exercise the multi-chunk paths that llvmpipe's loop limit makes real at large n:
/// the default layout's kernels of [`gpu_phi_layout`], chunked.
pub fn gpu_chunked() -> Result<Option<(&'static GpuContext, LayoutKernels)>> {
    let Some((_, k)) = gpu()? else {
        return Ok(None);
    };
    gpu_phi_layout(k.phi_layout, true)
}

/// The φ layouts for d >= 5 that this device can run: [`PhiLayout::Lane`] and
/// [`PhiLayout::Tiled`] everywhere, [`PhiLayout::Shuffle`] where subgroups allow it (llvmpipe
/// must: a test checks), [`PhiLayout::Gemm`] where 256 invocations and 32 KiB of workgroup
/// memory fit (llvmpipe does), so every layout is tested wherever the suite runs.
pub fn phi_layouts(ctx: &GpuContext) -> Vec<PhiLayout> {
    let mut v = vec![PhiLayout::Lane, PhiLayout::Tiled];
    v.extend(PhiLayout::shuffle_size(ctx).map(PhiLayout::Shuffle));
    if PhiLayout::gemm_fits(ctx) {
        v.push(PhiLayout::Gemm);
    }
    v
}

/// The kernels of one φ layout (see [`gpu_phi_layout`]); they deref to [`Kernels`].
pub struct LayoutKernels(Kernels);

impl std::ops::Deref for LayoutKernels {
    type Target = Kernels;
    fn deref(&self) -> &Kernels {
        &self.0
    }
}

/// A device with kernels of their own set to one φ `layout`, unchunked or chunked at
/// [`CHUNK`] columns: the shared device ([`gpu`]) for its default layout, and for each other
/// layout a device of that layout's own. Each call makes a new [`Kernels`], so tests of one
/// layout run side by side; the pipelines, specialised per d and built on first use, are their
/// device's and are built once for all of them.
///
/// Why a device per layout: a CPU driver compiles a pipeline at its first dispatch, on the
/// device's one queue thread (lavapipe's), so on one device every test's first builds wait
/// in a single line; the other layouts' kernels (most of the suite's first builds) compile on
/// their own queues, beside the shared device's. Each layout's kernels differ from the
/// others', so nothing is compiled twice for it.
pub fn gpu_phi_layout(
    layout: PhiLayout,
    chunked: bool,
) -> Result<Option<(&'static GpuContext, LayoutKernels)>> {
    type Devices = Mutex<Vec<(PhiLayout, &'static GpuContext)>>;
    static DEVICES: OnceLock<Devices> = OnceLock::new();
    let Some((shared, default)) = gpu()? else {
        return Ok(None);
    };
    let ctx = if layout == default.phi_layout {
        shared
    } else {
        let mut devices = DEVICES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match devices.iter().find(|(l, _)| *l == layout) {
            Some((_, ctx)) => *ctx,
            None => {
                let ctx: &'static GpuContext = Box::leak(Box::new(GpuContext::default_adapter()?));
                devices.push((layout, ctx));
                ctx
            }
        }
    };
    let mut k = Kernels::new(ctx)?;
    k.phi_layout = layout;
    k.chunk_cap = chunked.then_some(CHUNK);
    Ok(Some((ctx, LayoutKernels(k))))
}

/// Column chunk cap of [`gpu_chunked`]: a prime, so chunks end at awkward places.
pub const CHUNK: usize = 37;

/// φ on the device for `[n, d]` particles and scores, output NaN-filled first.
pub fn run_phi(
    ctx: &GpuContext,
    k: &Kernels,
    x: &[f32],
    s: &[f32],
    (n, d): (usize, usize),
    h: f64,
) -> Result<Vec<f32>> {
    let xb = stein::gpu::GpuVec::from_slice(ctx, "x", x)?;
    let sb = stein::gpu::GpuVec::from_slice(ctx, "score", s)?;
    let out = stein::gpu::GpuVec::nan_filled(ctx, "phi", n * d)?;
    let scratch = stein::kernels::PhiScratch::new(ctx, k, n, d)?;
    let mut enc = stein::gpu::Recorder::new(ctx);
    k.record_svgd_phi(ctx, &mut enc, &xb, &sb, &scratch, &out, (n, d), h)?;
    enc.submit(ctx);
    out.read(ctx)
}

/// φ against the f64 reference, relative to the largest single term 1 + 2|x_i − x_j|/h.
pub fn check_phi(got: &[f32], x: &[f64], s: &[f64], d: usize, h: f64, what: &str) -> Result<()> {
    let want = phi_reference(x, s, d, h);
    let scale = 1.0 + 2.0 * (2.0 * d as f64).sqrt() / h;
    assert_close(got, &want, TOL_PAIRWISE, scale, what)
}

/// KSD² (V, U) on the device, outputs NaN-filled first.
pub fn run_ksd(
    ctx: &GpuContext,
    k: &Kernels,
    x: &[f32],
    s: &[f32],
    (n, d): (usize, usize),
    h: f64,
) -> Result<(f64, f64)> {
    let (rows, diag) = run_ksd_rows(ctx, k, x, s, (n, d), h)?;
    Ok(stein::svgd::ksd_from_rows(&rows, &diag))
}

/// The KSD's per-row sums `rows[i] = Σ_j u_ij` and diagonal terms `u_ii` (NaN-filled first).
pub fn run_ksd_rows(
    ctx: &GpuContext,
    k: &Kernels,
    x: &[f32],
    s: &[f32],
    (n, d): (usize, usize),
    h: f64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let (rows, diag, _) = run_ksd_form(ctx, k, x, s, (n, d), h, None)?;
    Ok((rows, diag))
}

/// [`run_ksd_rows`] with the form forced (CPU adapters) or chosen (`None`), and the form run.
pub fn run_ksd_form(
    ctx: &GpuContext,
    k: &Kernels,
    x: &[f32],
    s: &[f32],
    (n, d): (usize, usize),
    h: f64,
    force: Option<stein::kernels::KsdForm>,
) -> Result<(Vec<f32>, Vec<f32>, stein::kernels::KsdForm)> {
    use stein::gpu::GpuVec;
    let xb = GpuVec::from_slice(ctx, "x", x)?;
    let sb = GpuVec::from_slice(ctx, "s", s)?;
    let mut bufs = stein::kernels::KsdBuffers::new(ctx, k, n, d)?;
    bufs.force_form(force);
    let enc = stein::gpu::Recorder::new(ctx);
    let form = k.ksd_rows(ctx, enc, &mut bufs, &xb, &sb, h)?;
    let (rows, diag) = bufs.read(ctx)?;
    Ok((rows, diag, form))
}

/// KSD² against the f64 reference. Each row sum has n terms of the Stein kernel's size
/// (2d/h + 2d for these inputs) summed in f32 blocks, so the error of the mean over n² terms
/// shrinks like 1/√n: the scale of the relative tolerance does too.
pub fn check_ksd(
    got: (f64, f64),
    x: &[f64],
    s: &[f64],
    d: usize,
    h: f64,
    what: &str,
) -> Result<()> {
    let (want_v, want_u) = ksd_reference(x, s, d, h);
    let n = (x.len() / d) as f64;
    let scale = (2.0 * d as f64 / h + 2.0 * d as f64) / n.sqrt();
    assert_close(&[got.0 as f32], &[want_v], TOL_PAIRWISE, scale, what)?;
    if want_u.is_nan() {
        anyhow::ensure!(
            got.1.is_nan(),
            "{what}: U-statistic of one particle must be NaN"
        );
        Ok(())
    } else {
        assert_close(&[got.1 as f32], &[want_u], TOL_PAIRWISE, scale, what)
    }
}

/// A cache of f64 references, keyed by a 128-bit fingerprint of their exact inputs.
type Memo<T> = OnceLock<Mutex<HashMap<u128, Arc<OnceLock<T>>>>>;

/// The f64 references, computed once per process for each input and shared by every test
/// that asks again. The sweeps run one input through several kernels, layouts and column
/// chunkings (φ's every-layout table puts each (n, d) through four layouts, twice; the KSD
/// table through three kernels; the median's bracket table through eight kernel sets), and
/// the O(n²·d) reference of one row of the table cost as much as all its GPU runs together.
/// The key is the inputs' exact bits (and d, h), so two callers share a value only where
/// the reference would be the same; a second caller waits for the first one's result
/// rather than computing it again.
fn memoized<T: Clone>(memo: &'static Memo<T>, key: u128, compute: impl FnOnce() -> T) -> T {
    let cell = memo
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(key)
        .or_default()
        .clone();
    cell.get_or_init(compute).clone()
}

/// A 128-bit fingerprint of `what`, the bits of the slices `data` and the integers `extra`:
/// two SipHash passes, each with its own prefix.
fn fingerprint(what: &str, data: &[&[f64]], extra: &[u64]) -> u128 {
    let pass = |prefix: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (prefix, what, extra).hash(&mut h);
        for v in data {
            v.len().hash(&mut h);
            for x in *v {
                h.write_u64(x.to_bits());
            }
        }
        h.finish()
    };
    (u128::from(pass(0)) << 64) | u128::from(pass(1))
}

/// [`stein::cpu::svgd::phi`], memoized (see [`memoized`]).
pub fn phi_reference(x: &[f64], s: &[f64], d: usize, h: f64) -> Arc<Vec<f64>> {
    static MEMO: Memo<Arc<Vec<f64>>> = OnceLock::new();
    let key = fingerprint("phi", &[x, s], &[d as u64, h.to_bits()]);
    memoized(&MEMO, key, || Arc::new(stein::cpu::svgd::phi(x, s, d, h)))
}

/// [`stein::cpu::ksd::ksd2`] (V, U), memoized (see [`memoized`]).
pub fn ksd_reference(x: &[f64], s: &[f64], d: usize, h: f64) -> (f64, f64) {
    static MEMO: Memo<(f64, f64)> = OnceLock::new();
    let key = fingerprint("ksd", &[x, s], &[d as u64, h.to_bits()]);
    memoized(&MEMO, key, || stein::cpu::ksd::ksd2(x, s, d, h))
}

/// [`stein::cpu::median::median_sqdist`], memoized (see [`memoized`]).
pub fn median_reference(x: &[f64], d: usize) -> f64 {
    static MEMO: Memo<f64> = OnceLock::new();
    let key = fingerprint("median", &[x], &[d as u64]);
    memoized(&MEMO, key, || stein::cpu::median::median_sqdist(x, d))
}

/// [`stein::cpu::mmd::mmd2_unbiased`], memoized (see [`memoized`]).
pub fn mmd_reference(x: &[f64], y: &[f64], d: usize, h: f64) -> f64 {
    static MEMO: Memo<f64> = OnceLock::new();
    let key = fingerprint("mmd", &[x, y], &[d as u64, h.to_bits()]);
    memoized(&MEMO, key, || stein::cpu::mmd::mmd2_unbiased(x, y, d, h))
}

/// A temporary directory with files, removed when dropped.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.path().join(name)
    }
    pub fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    pub fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

/// Runs the `stein` binary with `args`.
pub fn stein(args: &[&str]) -> std::process::Output {
    stein_with(args, &[])
}

/// [`stein`] with these environment variables set.
fn stein_with(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_stein"))
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("running stein")
}

/// [`stein`] with φ in the gemm layout (`STEIN_PHI_LAYOUT=gemm`), whose looped kernel builds
/// in about a second at any d on lavapipe, where the default layout's unrolled kernel is a
/// cold build of 15 to 20 s at d = 32 or 64, in every process that runs it first: for runs
/// whose φ is not what the test checks.
pub fn stein_gemm(args: &[&str]) -> std::process::Output {
    stein_with(args, &[("STEIN_PHI_LAYOUT", "gemm")])
}
