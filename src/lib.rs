//! # stein
//!
//! Stein variational gradient descent (SVGD) and energy-based models on any GPU through wgpu,
//! with every hot loop in a WGSL compute shader and a plain f64 reference beside it.
//!
//! The workflows (an SVGD run, a training job with its run directory, evaluation, sampling)
//! are library calls in [`run`]; the `stein` command line is a thin layer over them.
//!
//! SVGD moves particles x_1..x_n by x_i ← x_i + ε·update(φ(x_i)) with
//!
//! ```text
//! φ(x_i) = (1/n) Σ_j [ k(x_j, x_i) ∇log p(x_j) + ∇_{x_j} k(x_j, x_i) ],  k(x, y) = exp(−‖x − y‖²/h)
//! ```
//!
//! and h = med / log(n + 1), med the median of all n² squared distances (diagonal included,
//! NumPy's even-count mean). Conventions: `shared/docs/algorithms.md` §1.
//!
//! | term | kernel file | host wrapper | f64 reference |
//! |---|---|---|---|
//! | ∇log p, Gaussian mixture | `shaders/kernels/gmm_score.wgsl` | [`kernels::Kernels::record_gmm_score`] | [`cpu::gmm::score`] |
//! | ∇log p, full-covariance Gaussian | `gaussian_score.wgsl` | [`kernels::Kernels::record_gaussian_score`] | [`io::target::Gaussian::grad_log_density`] |
//! | φ, d ≤ 4 / 16 / 64 (unrolled, generated) | `svgd_phi_small.wgsl`, `_mid`, `_wide` | [`kernels::Kernels::record_svgd_phi`] | [`cpu::svgd::phi`] |
//! | φ, 5 ≤ d ≤ 64 on hardware GPUs (one row per invocation, generated) | `svgd_phi_lane.wgsl` | same | same |
//! | φ, 5 ≤ d ≤ 128 on CPU adapters with subgroups (subgroup shuffles, generated; mean-centred column records, read from a read-only storage texture) | `svgd_phi_center.wgsl`, `svgd_phi_pack.wgsl`, `svgd_phi_shuffle.wgsl` (`svgd_phi_shuffle_64.wgsl` for d ≤ 64) | same | same |
//! | φ, d ≥ 5 on hardware GPUs, past the unrolled kernels on CPU adapters (64 × 64 tiles of pairs as two fused matrix products) | `svgd_phi_center.wgsl`, `svgd_phi_pack.wgsl`, `svgd_phi_gemm.wgsl` | same | same |
//! | φ, d > 64 on devices without room for the tiles (column blocks) | `svgd_phi_kblock`, `svgd_phi_krho`, `svgd_phi_kacc` | same | same |
//! | MMD² (unbiased) | `mmd_rows.wgsl` | [`mmd::mmd2`] | [`cpu::mmd::mmd2_unbiased`] |
//! | median of n² distances | `pair_sample.wgsl`, `pair_bracket.wgsl` (`_mid`, `_wide`, `_shuffle`), `pair_histogram.wgsl`; on CPU adapters with subgroups x as a texture (`x_texture_pack.wgsl`) for `pair_sample_texture.wgsl` and `pair_bracket_shuffle` | [`median::MedianSelector`] | [`cpu::median::median_sqdist`] |
//! | KSD² (V and U) | `shaders/kernels/ksd_rows.wgsl`; on CPU adapters with subgroups `ksd_pack.wgsl` and `ksd_shuffle.wgsl` (bilinear form), or `ksd_shuffle_diff.wgsl` (difference form, for particles far from their mean against h; both generated) | [`kernels::Kernels::ksd_rows`] | [`cpu::ksd::ksd2`]; records [`cpu::ksd::ksd_records`] |
//! | updates | `update_sgd.wgsl`, `update_adagrad.wgsl`, `update_adam.wgsl` | [`kernels::Kernels::record_update`] | [`cpu::update`] |
//! | Langevin step | `langevin_step.wgsl` | [`kernels::Kernels::record_langevin`] | [`cpu::hash::normal`] |
//! | RBM f, score, ∇θ | `rbm_hidden`, `rbm_energy`, `rbm_score`, `rbm_grad` | [`model::rbm::RbmKernels`] | [`cpu::rbm`] |
//! | RBM Gibbs, exact log Z | `rbm_gibbs_hidden`, `rbm_gibbs_visible`, `rbm_logz_terms` | same | [`cpu::rbm::gibbs`], [`cpu::rbm::log_partition`] |
//! | MLP energy f, score, Σᵢ wᵢ∇θf, VJPs | `mlp_forward`, `mlp_backward`, `mlp_param_grad`, `mlp_energy` | [`model::mlp::MlpKernels`] | [`cpu::mlp`] |
//! | AIS log Z of any [`model::Energy`] (HMC, adaptive ε) | `ais_init`, `ais_propose`, `ais_accept`, `ais_select`, `ais_adapt` | [`ais::ais_log_partition`] | [`cpu::ais::ais`] |
//! | diagonal Gaussian energy (closed-form log Z) | `gaussian_energy` | [`model::gaussian::DiagGaussianEnergy`] | its `energy`, `score` |
//! | multiply-add ceiling of `stein bench` | `madd_peak.wgsl` | [`bench::MaddPeakRun`] | [`cpu::peak::madd_chains`] |
//!
//! No kernel holds an n×n matrix: each invocation keeps its rows in registers and walks the
//! columns in the same order as every other invocation (so a GPU serves each column from one
//! cache line), in chunks of columns that keep llvmpipe under its loop limit
//! ([`gpu::GpuContext::loop_budget`]); reductions run in a fixed order (no float atomics), so a
//! rerun on the same device is bit-identical.
#![warn(missing_docs)]

pub mod ais;
pub mod bandwidth;
pub mod bench;
pub mod cpu;
pub mod direction;
pub mod eval;
pub mod gpu;
pub mod io;
pub mod kernels;
pub mod median;
pub mod mmd;
pub mod model;
pub mod run;
pub mod svgd;
pub mod train;
