//! The shader registry. Every compute kernel is one file `shaders/kernels/<name>.wgsl` whose
//! entry point is `<name>`, assembled by concatenation after the `shaders/common/` snippets it
//! uses (WGSL allows declarations in any order; naga rejects duplicate names, so collisions
//! are caught by the validation test below). Sources are compiled into the binary with
//! `include_str!`: no runtime paths. No string templates: every file is WGSL as written, so
//! naga validates exactly what runs; per-run values are uniforms, tuning knobs `override`s.

use super::pipeline::Binding;
use Binding::{ReadOnly as R, ReadWrite as W, Texture as T, TextureWrite as TW, Uniform as U};

/// A compute kernel's WGSL as an ordered list of files under `shaders/`.
pub struct ShaderSpec {
    /// File stem, entry point, and label of every wgpu object made from it.
    pub name: &'static str,
    /// `(path under shaders/, source)`: common snippets first, the kernel file last.
    pub parts: &'static [(&'static str, &'static str)],
    /// The binding table of group 0, in binding order: the kernel's bind-group layout, and
    /// what its host wrapper binds (checked against the WGSL by the naga test below).
    pub bindings: &'static [Binding],
    /// Values of the `WG` override the crate uses with this kernel (checked by the tests).
    pub workgroup_sizes: &'static [u32],
    /// Built without wgpu's runtime checks (bounds clamps on every buffer and workgroup
    /// access, loop counters, guarded integer division): only kernels whose header proves
    /// every index in bounds from sizes the host checks before dispatch, and whose loops all
    /// end. The checks cost `svgd_phi_gemm` 1.75× on an H200 (Benchmarks in the README).
    /// `STEIN_UNCHECKED=1` builds every kernel so (for measurements).
    pub trusted: bool,
}

macro_rules! part {
    ($path:literal) => {
        (
            $path,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $path)),
        )
    };
}

/// Gaussian-mixture score.
pub const GMM_SCORE: ShaderSpec = ShaderSpec {
    name: "gmm_score",
    parts: &[part!("common/params.wgsl"), part!("kernels/gmm_score.wgsl")],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The score of the built-in Bayesian logistic regression (algorithms.md §5.1).
pub const LOGISTIC_SCORE: ShaderSpec = ShaderSpec {
    name: "logistic_score",
    parts: &[part!("kernels/logistic_score.wgsl")],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// [`LOGISTIC_SCORE`] specialised on the dimension (override `D`), w and the gradient in
/// registers: the kernel for d <= `LOGISTIC_D_MAX`.
pub const LOGISTIC_SCORE_D: ShaderSpec = ShaderSpec {
    name: "logistic_score_d",
    parts: &[part!("kernels/logistic_score_d.wgsl")],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The score of the built-in Bayesian neural network regression (algorithms.md §5.2).
pub const BNN_SCORE: ShaderSpec = ShaderSpec {
    name: "bnn_score",
    parts: &[part!("common/bnn.wgsl"), part!("kernels/bnn_score.wgsl")],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// [`BNN_SCORE`] specialised on the input width (override `D`), a hidden unit per invocation
/// with its W1 column and gradient in registers, the rows read from a texture: the kernel for
/// d <= `BNN_D_MAX` and H <= `BNN_H_MAX`.
pub const BNN_SCORE_D: ShaderSpec = ShaderSpec {
    name: "bnn_score_d",
    parts: &[part!("common/bnn.wgsl"), part!("kernels/bnn_score_d.wgsl")],
    bindings: &[U, R, T, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Full-covariance Gaussian score.
pub const GAUSSIAN_SCORE: ShaderSpec = ShaderSpec {
    name: "gaussian_score",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/gaussian_score.wgsl"),
    ],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Kernel values of one column block (φ for d > 64).
pub const SVGD_PHI_KBLOCK: ShaderSpec = ShaderSpec {
    name: "svgd_phi_kblock",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_kblock.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Running row sums of the kernel blocks (φ for d > 64).
pub const SVGD_PHI_KRHO: ShaderSpec = ShaderSpec {
    name: "svgd_phi_krho",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/svgd_phi_krho.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Accumulation of φ from the kernel blocks (φ for d > 64).
pub const SVGD_PHI_KACC: ShaderSpec = ShaderSpec {
    name: "svgd_phi_kacc",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/svgd_phi_kacc.wgsl"),
    ],
    bindings: &[U, R, R, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The SVGD direction for d <= 4, unrolled (generated).
pub const SVGD_PHI_SMALL: ShaderSpec = ShaderSpec {
    name: "svgd_phi_small",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_small.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[32],
    trusted: false,
};

/// The SVGD direction for d <= 16, unrolled (generated).
pub const SVGD_PHI_MID: ShaderSpec = ShaderSpec {
    name: "svgd_phi_mid",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_mid.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[32],
    trusted: false,
};

/// The SVGD direction for d <= 64, unrolled (generated).
pub const SVGD_PHI_WIDE: ShaderSpec = ShaderSpec {
    name: "svgd_phi_wide",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_wide.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[32],
    trusted: false,
};

/// The particles' mean, the centre of `svgd_phi_shuffle`'s dot-product form.
pub const SVGD_PHI_CENTER: ShaderSpec = ShaderSpec {
    name: "svgd_phi_center",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/svgd_phi_center.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// The column records of `svgd_phi_shuffle` and `svgd_phi_gemm` (centred, scaled coordinates,
/// w_j, −L‖xc_j‖²).
pub const SVGD_PHI_PACK: ShaderSpec = ShaderSpec {
    name: "svgd_phi_pack",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_pack.wgsl"),
    ],
    bindings: &[U, R, R, R, W, TW],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The SVGD direction for d <= 128 on CPU adapters with subgroups (generated; its column
/// records from a texture).
pub const SVGD_PHI_SHUFFLE: ShaderSpec = ShaderSpec {
    name: "svgd_phi_shuffle",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_shuffle.wgsl"),
    ],
    bindings: &[U, R, R, T, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// `svgd_phi_shuffle` unrolled to d = 64 only, for d <= 64 (generated): its pipeline builds
/// in a third of the time.
pub const SVGD_PHI_SHUFFLE_64: ShaderSpec = ShaderSpec {
    name: "svgd_phi_shuffle_64",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_shuffle_64.wgsl"),
    ],
    bindings: &[U, R, R, T, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The SVGD direction for d >= 5 on hardware GPUs: tiles of pairs as fused matrix products.
pub const SVGD_PHI_GEMM: ShaderSpec = ShaderSpec {
    name: "svgd_phi_gemm",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_gemm.wgsl"),
    ],
    bindings: &[U, R, R, R, W, W],
    workgroup_sizes: &[256],
    trusted: true,
};

/// The SVGD direction for d <= 64 on hardware GPUs, one row per invocation (generated).
pub const SVGD_PHI_LANE: ShaderSpec = ShaderSpec {
    name: "svgd_phi_lane",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/svgd_phi_lane.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Row sums of the Stein kernel for the KSD.
pub const KSD_ROWS: ShaderSpec = ShaderSpec {
    name: "ksd_rows",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/ksd_rows.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Row sums of the RBF kernel within and across two samples, for the unbiased MMD².
pub const MMD_ROWS: ShaderSpec = ShaderSpec {
    name: "mmd_rows",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/mmd_rows.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Sampled pair distances for the median bracket.
pub const PAIR_SAMPLE: ShaderSpec = ShaderSpec {
    name: "pair_sample",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/pair_sample.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The particles into a texture, four coordinates a texel (read by the median's passes on
/// CPU adapters).
pub const X_TEXTURE_PACK: ShaderSpec = ShaderSpec {
    name: "x_texture_pack",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/x_texture_pack.wgsl"),
    ],
    bindings: &[U, R, TW],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Sampled pair distances, x from `x_texture_pack`'s texture (CPU adapters).
pub const PAIR_SAMPLE_TEXTURE: ShaderSpec = ShaderSpec {
    name: "pair_sample_texture",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/pair_sample_texture.wgsl"),
    ],
    bindings: &[U, T, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Counting and listing pair distances against a bracket.
pub const PAIR_BRACKET: ShaderSpec = ShaderSpec {
    name: "pair_bracket",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/bracket.wgsl"),
        part!("kernels/pair_bracket.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Per-workgroup histogram of the pair distances inside a bracket (median narrowing).
pub const PAIR_HISTOGRAM: ShaderSpec = ShaderSpec {
    name: "pair_histogram",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/pair_histogram.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Exact median bandwidth of a small batch from its listed pair distances (one workgroup).
pub const BATCH_MEDIAN: ShaderSpec = ShaderSpec {
    name: "batch_median",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/batch_median.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// The median bandwidth (h, 1/h) from the selected order statistics, in software binary64 so
/// that it is the host's f64 result bit for bit (one invocation).
pub const MEDIAN_FINISH: ShaderSpec = ShaderSpec {
    name: "median_finish",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/softf64.wgsl"),
        part!("kernels/median_finish.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[1],
    trusted: false,
};

/// The device median's one-workgroup stages (src/median/device.rs).
pub const MEDIAN_CONTROL: ShaderSpec = ShaderSpec {
    name: "median_control",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/median_state.wgsl"),
        part!("kernels/median_control.wgsl"),
    ],
    bindings: &[U, W, R, R, R, W, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// One radix round's per-workgroup digit histograms (the device median's selections).
pub const SELECT_HIST: ShaderSpec = ShaderSpec {
    name: "select_hist",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/median_state.wgsl"),
        part!("kernels/select_hist.wgsl"),
    ],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// The whole device median after a list pass of every pair, in one workgroup.
pub const MEDIAN_SMALL: ShaderSpec = ShaderSpec {
    name: "median_small",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/median_state.wgsl"),
        part!("common/softf64.wgsl"),
        part!("common/radix_small.wgsl"),
        part!("kernels/median_small.wgsl"),
    ],
    bindings: &[U, R, W, R, R, W, W, R],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The radix selection of a short list in one workgroup (device median).
pub const SELECT_SMALL: ShaderSpec = ShaderSpec {
    name: "select_small",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/median_state.wgsl"),
        part!("common/radix_small.wgsl"),
        part!("kernels/select_small.wgsl"),
    ],
    bindings: &[U, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The complete in-bracket lists of the rows that overflowed their slots (device median).
pub const PAIR_ROW_LIST: ShaderSpec = ShaderSpec {
    name: "pair_row_list",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/median_state.wgsl"),
        part!("kernels/pair_row_list.wgsl"),
    ],
    bindings: &[U, R, W, R, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The device median's candidates into one dense list.
pub const MEDIAN_GATHER: ShaderSpec = ShaderSpec {
    name: "median_gather",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/median_state.wgsl"),
        part!("kernels/median_gather.wgsl"),
    ],
    bindings: &[U, R, R, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Median passes for d <= 16, unrolled (generated).
pub const PAIR_BRACKET_MID: ShaderSpec = ShaderSpec {
    name: "pair_bracket_mid",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/bracket.wgsl"),
        part!("kernels/pair_bracket_mid.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Median passes for d <= 64, unrolled (generated).
pub const PAIR_BRACKET_WIDE: ShaderSpec = ShaderSpec {
    name: "pair_bracket_wide",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/bracket.wgsl"),
        part!("kernels/pair_bracket_wide.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// `pair_bracket` for d <= 128 on CPU adapters with subgroups (generated).
pub const PAIR_BRACKET_SHUFFLE: ShaderSpec = ShaderSpec {
    name: "pair_bracket_shuffle",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/bracket.wgsl"),
        part!("kernels/pair_bracket_shuffle.wgsl"),
    ],
    bindings: &[U, R, R, W, W, T],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The particle records of `ksd_shuffle` (centred x, s − (2/h)·xc, |xc|², (2/h)·a·xc) into
/// a texture.
pub const KSD_PACK: ShaderSpec = ShaderSpec {
    name: "ksd_pack",
    parts: &[part!("common/params.wgsl"), part!("kernels/ksd_pack.wgsl")],
    bindings: &[U, R, R, R, TW, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// `ksd_rows` for d <= 128 on CPU adapters with subgroups (generated).
pub const KSD_SHUFFLE: ShaderSpec = ShaderSpec {
    name: "ksd_shuffle",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/ksd_shuffle.wgsl"),
    ],
    bindings: &[U, T, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// `ksd_shuffle` in the difference form, for particles far from their mean against h
/// (generated).
pub const KSD_SHUFFLE_DIFF: ShaderSpec = ShaderSpec {
    name: "ksd_shuffle_diff",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/rbf.wgsl"),
        part!("kernels/ksd_shuffle_diff.wgsl"),
    ],
    bindings: &[U, R, R, W, W, T, T],
    workgroup_sizes: &[64],
    trusted: false,
};

/// x ← x + εφ.
pub const UPDATE_SGD: ShaderSpec = ShaderSpec {
    name: "update_sgd",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/update_sgd.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// The reference AdaGrad with momentum.
pub const UPDATE_ADAGRAD: ShaderSpec = ShaderSpec {
    name: "update_adagrad",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/update_adagrad.wgsl"),
    ],
    bindings: &[U, R, W, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// Adam (ascent).
pub const UPDATE_ADAM: ShaderSpec = ShaderSpec {
    name: "update_adam",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/update_adam.wgsl"),
    ],
    bindings: &[U, R, W, W, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// RBM hidden pre-activations.
pub const RBM_HIDDEN: ShaderSpec = ShaderSpec {
    name: "rbm_hidden",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/rbm_hidden.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// RBM unnormalised log-density.
pub const RBM_ENERGY: ShaderSpec = ShaderSpec {
    name: "rbm_energy",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/rbm_energy.wgsl"),
    ],
    bindings: &[U, R, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// RBM score.
pub const RBM_SCORE: ShaderSpec = ShaderSpec {
    name: "rbm_score",
    parts: &[part!("common/params.wgsl"), part!("kernels/rbm_score.wgsl")],
    bindings: &[U, R, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// RBM parameter gradient of a weighted batch sum.
pub const RBM_GRAD: ShaderSpec = ShaderSpec {
    name: "rbm_grad",
    parts: &[part!("common/params.wgsl"), part!("kernels/rbm_grad.wgsl")],
    bindings: &[U, R, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// RBM block Gibbs: hidden units.
pub const RBM_GIBBS_HIDDEN: ShaderSpec = ShaderSpec {
    name: "rbm_gibbs_hidden",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/rbm_gibbs_hidden.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// RBM block Gibbs: visible units.
pub const RBM_GIBBS_VISIBLE: ShaderSpec = ShaderSpec {
    name: "rbm_gibbs_visible",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/rbm_gibbs_visible.wgsl"),
    ],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Terms of the exact RBM normaliser.
pub const RBM_LOGZ_TERMS: ShaderSpec = ShaderSpec {
    name: "rbm_logz_terms",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/rbm_logz_terms.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Unadjusted Langevin step.
pub const LANGEVIN_STEP: ShaderSpec = ShaderSpec {
    name: "langevin_step",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/langevin_step.wgsl"),
    ],
    bindings: &[U, R, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// One MLP layer forward: pre-activations and activations.
pub const MLP_FORWARD: ShaderSpec = ShaderSpec {
    name: "mlp_forward",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/activation.wgsl"),
        part!("kernels/mlp_forward.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// One MLP layer's vector-Jacobian product to its input.
pub const MLP_BACKWARD: ShaderSpec = ShaderSpec {
    name: "mlp_backward",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/activation.wgsl"),
        part!("kernels/mlp_backward.wgsl"),
    ],
    bindings: &[U, R, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// One MLP layer's parameter gradient summed over the batch.
pub const MLP_PARAM_GRAD: ShaderSpec = ShaderSpec {
    name: "mlp_param_grad",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/mlp_param_grad.wgsl"),
    ],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The MLP energy from the network output and the Gaussian term.
pub const MLP_ENERGY: ShaderSpec = ShaderSpec {
    name: "mlp_energy",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/mlp_energy.wgsl"),
    ],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// AIS: exact samples of π_0 = N(0, I).
pub const AIS_INIT: ShaderSpec = ShaderSpec {
    name: "ais_init",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/ais_init.wgsl"),
    ],
    bindings: &[U, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// AIS: momentum and leapfrog position of one HMC transition.
pub const AIS_PROPOSE: ShaderSpec = ShaderSpec {
    name: "ais_propose",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/ais_propose.wgsl"),
    ],
    bindings: &[U, R, R, R, R, W, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// AIS: importance weight and Metropolis test per chain.
pub const AIS_ACCEPT: ShaderSpec = ShaderSpec {
    name: "ais_accept",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("kernels/ais_accept.wgsl"),
    ],
    bindings: &[U, R, R, R, R, R, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// AIS: accepted chains take their proposal.
pub const AIS_SELECT: ShaderSpec = ShaderSpec {
    name: "ais_select",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/ais_select.wgsl"),
    ],
    bindings: &[U, R, R, R, W, W, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// AIS: per-run step-size adaptation and the temperature counter.
pub const AIS_ADAPT: ShaderSpec = ShaderSpec {
    name: "ais_adapt",
    parts: &[part!("common/params.wgsl"), part!("kernels/ais_adapt.wgsl")],
    bindings: &[U, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Diagonal Gaussian energy (known normaliser).
pub const GAUSSIAN_ENERGY: ShaderSpec = ShaderSpec {
    name: "gaussian_energy",
    parts: &[
        part!("common/params.wgsl"),
        part!("kernels/gaussian_energy.wgsl"),
    ],
    bindings: &[U, R, R, W, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// The generator's elementwise passes: latent draw, sigmoid output, cotangents.
pub const GENERATOR_OPS: ShaderSpec = ShaderSpec {
    name: "generator_ops",
    parts: &[
        part!("common/params.wgsl"),
        part!("common/hash.wgsl"),
        part!("common/activation.wgsl"),
        part!("kernels/generator_ops.wgsl"),
    ],
    bindings: &[U, R, R, W],
    workgroup_sizes: &[256],
    trusted: false,
};

/// The multiply-add ceiling `stein bench` sets φ against.
pub const MADD_PEAK: ShaderSpec = ShaderSpec {
    name: "madd_peak",
    parts: &[part!("common/params.wgsl"), part!("kernels/madd_peak.wgsl")],
    bindings: &[U, R, W],
    workgroup_sizes: &[64],
    trusted: false,
};

/// Every kernel the crate can build. The naga tests iterate this list.
pub const ALL: &[&ShaderSpec] = &[
    &GMM_SCORE,
    &LOGISTIC_SCORE,
    &LOGISTIC_SCORE_D,
    &BNN_SCORE,
    &BNN_SCORE_D,
    &GAUSSIAN_SCORE,
    &SVGD_PHI_KBLOCK,
    &SVGD_PHI_KRHO,
    &SVGD_PHI_KACC,
    &SVGD_PHI_SMALL,
    &SVGD_PHI_MID,
    &SVGD_PHI_WIDE,
    &SVGD_PHI_LANE,
    &SVGD_PHI_CENTER,
    &SVGD_PHI_PACK,
    &SVGD_PHI_SHUFFLE,
    &SVGD_PHI_SHUFFLE_64,
    &SVGD_PHI_GEMM,
    &KSD_ROWS,
    &MMD_ROWS,
    &PAIR_SAMPLE,
    &X_TEXTURE_PACK,
    &PAIR_SAMPLE_TEXTURE,
    &PAIR_BRACKET,
    &PAIR_HISTOGRAM,
    &BATCH_MEDIAN,
    &MEDIAN_FINISH,
    &MEDIAN_CONTROL,
    &SELECT_HIST,
    &SELECT_SMALL,
    &MEDIAN_SMALL,
    &PAIR_ROW_LIST,
    &MEDIAN_GATHER,
    &PAIR_BRACKET_MID,
    &PAIR_BRACKET_SHUFFLE,
    &KSD_PACK,
    &KSD_SHUFFLE,
    &KSD_SHUFFLE_DIFF,
    &PAIR_BRACKET_WIDE,
    &UPDATE_SGD,
    &UPDATE_ADAGRAD,
    &UPDATE_ADAM,
    &RBM_HIDDEN,
    &RBM_ENERGY,
    &RBM_SCORE,
    &RBM_GRAD,
    &RBM_GIBBS_HIDDEN,
    &RBM_GIBBS_VISIBLE,
    &RBM_LOGZ_TERMS,
    &LANGEVIN_STEP,
    &MLP_FORWARD,
    &MLP_BACKWARD,
    &MLP_PARAM_GRAD,
    &MLP_ENERGY,
    &AIS_INIT,
    &AIS_PROPOSE,
    &AIS_ACCEPT,
    &AIS_SELECT,
    &AIS_ADAPT,
    &GAUSSIAN_ENERGY,
    &GENERATOR_OPS,
    &MADD_PEAK,
];

impl ShaderSpec {
    /// The module source given to wgpu and naga; the markers map assembled line numbers back
    /// to files.
    pub fn source(&self) -> String {
        let mut s = String::new();
        for (path, src) in self.parts {
            s += &format!("// ---- begin {path} ----\n{src}\n// ---- end {path} ----\n");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::params::{
        BnnParams, GmmParams, LogisticParams, PairParams, RbmParams, SelectParams, UpdateParams,
    };

    /// Kernels that use subgroup operations. The host builds them only on devices with
    /// `wgpu::Features::SUBGROUP` (src/kernels.rs: `PhiLayout::shuffle_size` gates the shuffle
    /// layout, and the median's and the KSD's shuffle kernels follow that layout), so they are
    /// validated with `Capabilities::SUBGROUP`; every other kernel without it.
    const SUBGROUP_KERNELS: &[&str] = &[
        "svgd_phi_shuffle",
        "svgd_phi_shuffle_64",
        "pair_bracket_shuffle",
        "ksd_shuffle",
        "ksd_shuffle_diff",
    ];

    /// The naga capabilities a device that runs `spec` offers its validator: what wgpu makes
    /// of the features the crate requests (`GpuContext` asks for `SUBGROUP` alone, where the
    /// adapter has it; wgpu-naga-bridge's `features_to_naga_capabilities`).
    fn capabilities(spec: &ShaderSpec) -> naga::valid::Capabilities {
        if SUBGROUP_KERNELS.contains(&spec.name) {
            naga::valid::Capabilities::SUBGROUP
        } else {
            naga::valid::Capabilities::empty()
        }
    }

    fn validate_with(
        path: &str,
        src: &str,
        caps: naga::valid::Capabilities,
    ) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
        let module =
            naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string_with_path(src, path))?;
        let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
            .validate(&module)
            .map_err(|e| e.emit_to_string_with_path(src, path))?;
        Ok((module, info))
    }

    /// `spec` parsed and validated with the capabilities its devices offer, once for all the
    /// tests (parsing the generated kernels takes seconds).
    fn parsed(spec: &ShaderSpec) -> &'static (naga::Module, naga::valid::ModuleInfo) {
        type Parsed = Result<(naga::Module, naga::valid::ModuleInfo), String>;
        static PARSED: std::sync::OnceLock<Vec<Parsed>> = std::sync::OnceLock::new();
        let all = PARSED.get_or_init(|| {
            ALL.iter()
                .map(|s| validate_with(s.name, &s.source(), capabilities(s)))
                .collect()
        });
        let i = ALL
            .iter()
            .position(|s| s.name == spec.name)
            .unwrap_or_else(|| panic!("{} is not in ALL", spec.name));
        all[i].as_ref().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_kernel_validates_and_is_named_after_its_file() {
        assert!(ALL.len() >= 11, "the registry lost kernels");
        for spec in ALL {
            for (path, src) in spec.parts.iter().filter(|(p, _)| p.starts_with("common/")) {
                validate_with(path, src, naga::valid::Capabilities::empty())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            let (last, _) = spec.parts.last().unwrap();
            assert_eq!(*last, format!("kernels/{}.wgsl", spec.name));
            let (module, _) = parsed(spec);
            assert!(
                module.entry_points.iter().any(|ep| ep.name == spec.name),
                "{}: the entry point must be named after the file",
                spec.name
            );
        }
    }

    /// Stands for every d past the last bound of a range that has none: those kernels take d
    /// as a loop bound, and the host refuses a d whose loops outgrow the device's budget.
    const ANY_D: usize = 1 << 16;

    /// Every subgroup size the host accepts for the shuffle kernels: one fixed size that
    /// divides their workgroup of 64 (src/kernels.rs, `PhiLayout::shuffle_size`).
    const SUBGROUP_SIZES: [u32; 7] = [1, 2, 4, 8, 16, 32, 64];

    /// One specialisation: override name and value, besides `WG`.
    type Overrides = Vec<(&'static str, f64)>;

    /// The specialisations (besides `WG`) the host builds of kernel `name`: `D` at the bounds
    /// of every range of d the host hands it (src/kernels.rs: `PhiVariant::for_dim` and
    /// `PhiVariant::spec` for φ, the bracket kernel's `match (d, sg)`, `ksd_shuffle_size` and
    /// `bracket_shuffle_size`; `by_dim_with` is where they are built), with the further
    /// overrides it passes there: `SG` 8 (llvmpipe's) at every bound and every other
    /// subgroup size it accepts at the last bound (SG is a loop bound only), `ROWS` and
    /// `COLS` of the φ shuffle kernels as `shuffle_rows` and `shuffle_cols` pick them, `DV`
    /// and `SP` of `svgd_phi_gemm` as the host computes them, both values of `TEXTURE` of
    /// `svgd_phi_pack`. `None`: built once, with `WG` alone (`Kernel::new`).
    fn host_specialisations(name: &str) -> Option<Vec<Overrides>> {
        let dims = |ds: &[usize]| ds.iter().map(|&d| vec![("D", d as f64)]).collect();
        let with_sg = |ds: &[usize]| -> Vec<Overrides> {
            let mut v: Vec<Overrides> = ds
                .iter()
                .map(|&d| vec![("D", d as f64), ("SG", 8.0)])
                .collect();
            let last = *ds.last().unwrap() as f64;
            for sg in SUBGROUP_SIZES.into_iter().filter(|&sg| sg != 8) {
                v.push(vec![("D", last), ("SG", f64::from(sg))]);
            }
            v
        };
        // src/kernels.rs, shuffle_rows and shuffle_cols (private there): 8 rows up to d = 32,
        // two columns a pass up to d = 92.
        let phi_shuffle = |ds: &[usize]| -> Vec<Overrides> {
            with_sg(ds)
                .into_iter()
                .map(|o| {
                    let d = o[0].1;
                    let rows = if d <= 32.0 { 8.0 } else { 4.0 };
                    let cols = if d <= 92.0 { 2.0 } else { 1.0 };
                    [o, vec![("ROWS", rows), ("COLS", cols)]].concat()
                })
                .collect()
        };
        Some(match name {
            // φ: d <= 4 on every layout.
            "svgd_phi_small" => dims(&[1, 4]),
            // The row-tiled kernels: 5..16 and 17..64 (the gemm layout's d <= 8 from 2^18
            // particles included).
            "svgd_phi_mid" => dims(&[5, 8, 9, 16]),
            "svgd_phi_wide" => dims(&[17, 64]),
            "svgd_phi_lane" => dims(&[5, 64]),
            // The shuffle layout: up to SHUFFLE_64_DMAX, then to SHUFFLE_DMAX; the host's
            // ROWS turns at d = 32 / 33 and its COLS at 92 / 93.
            "svgd_phi_shuffle_64" => phi_shuffle(&[5, 32, 33, 64]),
            "svgd_phi_shuffle" => phi_shuffle(&[65, 92, 93, 128]),
            // Any d >= 5; DV and SP change at the powers of two below and past d = 256.
            "svgd_phi_gemm" => [
                5, 8, 9, 16, 17, 32, 33, 64, 65, 128, 129, 256, 257, 300, ANY_D,
            ]
            .into_iter()
            .map(|d| {
                vec![
                    ("D", d as f64),
                    ("DV", crate::kernels::gemm_dims_per_pass(d) as f64),
                    ("SP", crate::kernels::gemm_subpasses(d) as f64),
                ]
            })
            .collect(),
            // The records of the shuffle kernels (5..128, a texture) and of gemm (d >= 5, a
            // buffer).
            "svgd_phi_pack" => [5, 64, 65, 128, 129, ANY_D]
                .into_iter()
                .flat_map(|d| [0.0, 1.0].map(|t| vec![("D", d as f64), ("TEXTURE", t)]))
                .collect(),
            // The median: the looped pass for d <= 4 and past the unrolled kernels; the
            // histogram for any d.
            "pair_bracket" => dims(&[1, 4, 65, 128, 129, ANY_D]),
            "pair_bracket_mid" => dims(&[5, 16]),
            "pair_bracket_wide" => dims(&[17, 64]),
            "pair_histogram" => dims(&[1, 4, 5, 64, 65, 128, 129, ANY_D]),
            // The logistic score up to LOGISTIC_D_MAX (d >= 2: the intercept and log α).
            "logistic_score_d" => dims(&[2, 3, 32, crate::score::LOGISTIC_D_MAX]),
            // The bnn score up to BNN_D_MAX inputs; a row's texels change at d = 4k − 1 / 4k.
            "bnn_score_d" => dims(&[1, 3, 4, 13, crate::score::BNN_D_MAX]),
            // Every d up to BRACKET_SHUFFLE_DMAX and KSD_SHUFFLE_DMAX on the shuffle layout.
            "pair_bracket_shuffle" | "ksd_shuffle" | "ksd_shuffle_diff" => {
                with_sg(&[1, 4, 5, 64, 65, 128])
            }
            _ => return None,
        })
    }

    /// The back ends wgpu translates a kernel for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Target {
        /// Vulkan.
        SpirV,
        /// Metal.
        Msl,
        /// DX12.
        Hlsl,
    }

    /// Kernels that cannot be translated for a back end, with the reason (the test fails
    /// when a listed kernel does translate, so the list stays current). None today.
    const UNTRANSLATABLE: &[(&str, Target, &str)] = &[];

    /// `module` (overrides resolved) written for `target` as wgpu's back end there would
    /// write it, on the least capable device that runs the kernel: SPIR-V 1.0 with the
    /// capabilities every Vulkan device has (1.3 and the `GroupNonUniform` set for subgroup
    /// kernels, as wgpu-hal enables them with `SUBGROUP`; naga's writer refuses an operation
    /// whose capability is missing), MSL 1.2 (2.1 for subgroup kernels: wgpu-hal offers
    /// `SUBGROUP` on Metal only with the simd-group functions of the Mac2 and Apple7
    /// families), HLSL shader model 5.1 (6.0 for subgroup kernels: wave intrinsics, which
    /// wgpu-hal's DX12 requires for `SUBGROUP`). naga's MSL and HLSL writers do not check
    /// those versions against the operations, so there the guard is the validation with the
    /// device's capabilities (no `SUBGROUP` but for [`SUBGROUP_KERNELS`]). `checked`: with
    /// wgpu's bounds checks (`Restrict`), else unchecked, as trusted kernels are built.
    fn translate(
        module: &naga::Module,
        info: &naga::valid::ModuleInfo,
        entry: &str,
        subgroup: bool,
        checked: bool,
        target: Target,
    ) -> Result<(), String> {
        use naga::back::{hlsl, msl, spv};
        use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
        let policy = if checked {
            BoundsCheckPolicy::Restrict
        } else {
            BoundsCheckPolicy::Unchecked
        };
        let policies = BoundsCheckPolicies {
            index: policy,
            buffer: policy,
            image_load: policy,
            binding_array: BoundsCheckPolicy::Unchecked,
        };
        let stage = naga::ShaderStage::Compute;
        match target {
            Target::SpirV => {
                use spv::Capability as C;
                let mut caps = vec![
                    C::Shader,
                    C::Matrix,
                    C::Sampled1D,
                    C::Image1D,
                    C::ImageQuery,
                    C::DerivativeControl,
                    C::StorageImageExtendedFormats,
                ];
                if subgroup {
                    caps.extend([
                        C::GroupNonUniform,
                        C::GroupNonUniformVote,
                        C::GroupNonUniformArithmetic,
                        C::GroupNonUniformBallot,
                        C::GroupNonUniformShuffle,
                        C::GroupNonUniformShuffleRelative,
                        C::GroupNonUniformQuad,
                    ]);
                }
                let options = spv::Options {
                    lang_version: if subgroup { (1, 3) } else { (1, 0) },
                    capabilities: Some(caps.into_iter().collect()),
                    bounds_check_policies: policies,
                    // Descriptor set = group, binding = binding, as wgpu-hal's map makes them.
                    fake_missing_bindings: true,
                    ..Default::default()
                };
                let pipeline = spv::PipelineOptions {
                    shader_stage: stage,
                    entry_point: entry.to_string(),
                };
                spv::write_vec(module, info, &options, Some(&pipeline))
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }
            Target::Msl => {
                // Slots as wgpu-hal's Metal back end assigns them: buffers and textures
                // counted apart, then the buffer of runtime array sizes.
                let mut resources = msl::EntryPointResources::default();
                let (mut buffers, mut textures) = (0u8, 0u8);
                for (_, var) in module.global_variables.iter() {
                    let Some(binding) = var.binding else {
                        continue;
                    };
                    let mut bind = msl::BindTarget::default();
                    if matches!(module.types[var.ty].inner, naga::TypeInner::Image { .. }) {
                        bind.texture = Some(textures);
                        textures += 1;
                    } else {
                        bind.buffer = Some(buffers);
                        buffers += 1;
                    }
                    bind.mutable = matches!(
                        var.space,
                        naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE)
                    );
                    resources.resources.insert(binding, bind);
                }
                resources.sizes_buffer = Some(buffers);
                let options = msl::Options {
                    lang_version: if subgroup { (2, 1) } else { (1, 2) },
                    per_entry_point_map: [(entry.to_string(), resources)].into_iter().collect(),
                    fake_missing_bindings: false,
                    bounds_check_policies: policies,
                    ..Default::default()
                };
                let pipeline = msl::PipelineOptions {
                    entry_point: Some((stage, entry.to_string())),
                    ..Default::default()
                };
                msl::write_string(module, info, &options, &pipeline)
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }
            Target::Hlsl => {
                // Registers: space = group, register = binding (wgpu-hal maps its own; the
                // numbers do not change the translation).
                let options = hlsl::Options {
                    shader_model: if subgroup {
                        hlsl::ShaderModel::V6_0
                    } else {
                        hlsl::ShaderModel::V5_1
                    },
                    fake_missing_bindings: true,
                    restrict_indexing: checked,
                    ..Default::default()
                };
                let pipeline = hlsl::PipelineOptions {
                    entry_point: Some((stage, entry.to_string())),
                };
                let mut out = String::new();
                hlsl::Writer::new(&mut out, &options, &pipeline)
                    .write(module, info, None)
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }
        }
    }

    /// Portability: every kernel, specialised with every override set the host passes it,
    /// validates with the capabilities of the devices that run it (no `SUBGROUP` but for
    /// [`SUBGROUP_KERNELS`]) and translates to SPIR-V, MSL and HLSL (checked, and unchecked
    /// too for trusted kernels), save what [`UNTRANSLATABLE`] lists with its reason.
    #[test]
    fn every_kernel_translates_for_every_backend_with_the_hosts_overrides() {
        use naga::valid::{Capabilities, ValidationFlags, Validator};
        let targets = [Target::SpirV, Target::Msl, Target::Hlsl];
        let mut failures = Vec::new();
        let mut untranslatable_seen = Vec::new();
        let mut translations = 0usize;
        for name in SUBGROUP_KERNELS {
            assert!(
                ALL.iter().any(|s| s.name == *name),
                "{name}: not in the registry"
            );
        }
        for spec in ALL {
            let subgroup = SUBGROUP_KERNELS.contains(&spec.name);
            let (module, info) = parsed(spec);
            // The list of subgroup kernels stays minimal: each of them needs SUBGROUP.
            if subgroup {
                assert!(
                    Validator::new(ValidationFlags::all(), Capabilities::empty())
                        .validate(module)
                        .is_err(),
                    "{}: validates without SUBGROUP; take it off SUBGROUP_KERNELS",
                    spec.name
                );
            }
            let declares = |n: &str| {
                module
                    .overrides
                    .iter()
                    .any(|(_, o)| o.name.as_deref() == Some(n))
            };
            let specialisations = host_specialisations(spec.name);
            assert_eq!(
                declares("D"),
                specialisations.is_some(),
                "{}: a kernel specialised on D needs its ranges of d in host_specialisations, and only such a kernel",
                spec.name
            );
            assert!(!spec.workgroup_sizes.is_empty(), "{}: no WG", spec.name);
            for &wg in spec.workgroup_sizes {
                for extra in specialisations.clone().unwrap_or_else(|| vec![vec![]]) {
                    let constants: naga::back::PipelineConstants = [("WG", f64::from(wg))]
                        .into_iter()
                        .chain(extra.iter().copied())
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                    let what = format!("{} with WG = {wg}, {extra:?}", spec.name);
                    let (m, info) = match naga::back::pipeline_constants::process_overrides(
                        module,
                        info,
                        Some((naga::ShaderStage::Compute, spec.name)),
                        &constants,
                    ) {
                        Ok(r) => r,
                        Err(e) => {
                            failures.push(format!("{what}: overrides: {e}"));
                            continue;
                        }
                    };
                    let ep = m.entry_points.iter().find(|e| e.name == spec.name).unwrap();
                    assert_eq!(ep.workgroup_size, [wg, 1, 1], "{what}");
                    // (process_overrides validated the result; the capabilities it needs were
                    // checked on the module above, and overrides add none.)
                    let checks: &[bool] = if spec.trusted {
                        &[true, false]
                    } else {
                        &[true]
                    };
                    for target in targets {
                        let allowed = UNTRANSLATABLE
                            .iter()
                            .find(|(n, t, _)| *n == spec.name && *t == target);
                        for &checked in checks {
                            translations += 1;
                            match (translate(&m, &info, spec.name, subgroup, checked, target), allowed) {
                                (Ok(()), None) => {}
                                (Err(_), Some(entry)) => untranslatable_seen.push(*entry),
                                (Ok(()), Some((_, _, why))) => failures.push(format!(
                                    "{what}: {target:?} translates now; take it off UNTRANSLATABLE ({why})"
                                )),
                                (Err(e), None) => failures.push(format!(
                                    "{what}: {target:?}{}: {e}",
                                    if checked { "" } else { " (unchecked)" }
                                )),
                            }
                        }
                    }
                }
            }
        }
        for entry in UNTRANSLATABLE {
            assert!(
                untranslatable_seen.contains(entry),
                "UNTRANSLATABLE names {entry:?}, which no kernel hit"
            );
        }
        assert!(
            translations > 3 * ALL.len(),
            "only {translations} translations"
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The binding table the host builds its layout from, as the WGSL declares it: one entry
    /// per `@group(0) @binding(i)`, in order, each used as declared (uniform, storage read,
    /// storage read_write, rgba32float 2-D storage texture read or write).
    fn declared_bindings(module: &naga::Module) -> Result<Vec<Binding>, String> {
        let mut table: Vec<(u32, Binding)> = Vec::new();
        for (_, var) in module.global_variables.iter() {
            let Some(rb) = &var.binding else { continue };
            let name = var.name.as_deref().unwrap_or("?");
            if rb.group != 0 {
                return Err(format!(
                    "`{name}` is in group {}, the host binds group 0",
                    rb.group
                ));
            }
            let b = match var.space {
                naga::AddressSpace::Uniform => Binding::Uniform,
                naga::AddressSpace::Storage { access }
                    if access.contains(naga::StorageAccess::STORE) =>
                {
                    Binding::ReadWrite
                }
                naga::AddressSpace::Storage { .. } => Binding::ReadOnly,
                naga::AddressSpace::Handle => match module.types[var.ty].inner {
                    naga::TypeInner::Image {
                        dim: naga::ImageDimension::D2,
                        arrayed: false,
                        class:
                            naga::ImageClass::Storage {
                                format: naga::StorageFormat::Rgba32Float,
                                access,
                            },
                    } => {
                        if access.contains(naga::StorageAccess::STORE) {
                            Binding::TextureWrite
                        } else {
                            Binding::Texture
                        }
                    }
                    ref other => return Err(format!("`{name}`: unsupported handle {other:?}")),
                },
                other => return Err(format!("`{name}`: unsupported space {other:?}")),
            };
            table.push((rb.binding, b));
        }
        table.sort_by_key(|&(i, _)| i);
        for (want, &(i, _)) in table.iter().enumerate() {
            if i as usize != want {
                return Err(format!("bindings are not 0..{}: {table:?}", table.len()));
            }
        }
        Ok(table.into_iter().map(|(_, b)| b).collect())
    }

    #[test]
    fn every_binding_table_matches_its_wgsl() {
        for spec in ALL {
            let (module, _) = parsed(spec);
            let declared =
                declared_bindings(module).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            assert_eq!(
                spec.bindings, declared,
                "{}: the binding table differs from the WGSL's declarations",
                spec.name
            );
        }
        // The check can fail: a table with a binding's use changed, or one binding short.
        let declared = declared_bindings(&parsed(&SVGD_PHI_PACK).0).unwrap();
        assert_eq!(declared, [U, R, R, R, W, TW]);
        assert_ne!(declared, [U, R, R, R, W, T]);
        assert_ne!(declared, [U, R, R, R, W]);
    }

    fn wgsl_struct_size(spec: &ShaderSpec, name: &str) -> u32 {
        let (module, _) = parsed(spec);
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let (handle, _) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} not found in {}", spec.name));
        layouter[handle].size
    }

    /// The value of the WGSL `const` `name` in `spec`'s module (a u32 literal).
    fn wgsl_const(spec: &ShaderSpec, name: &str) -> u32 {
        let (module, _) = parsed(spec);
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} not found in {}", spec.name));
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => v,
            ref e => panic!("{name} in {}: {e:?}, not a u32 literal", spec.name),
        }
    }

    /// The device median's constants that Rust mirrors: its state buffer's indices
    /// (common/median_state.wgsl), pair_histogram's bins and the narrowing rounds.
    #[test]
    fn wgsl_consts_match_their_rust_mirrors() {
        use crate::median::device::{st, NARROW_ROUNDS};
        let u = |v: usize| u32::try_from(v).unwrap();
        for spec in [&PAIR_HISTOGRAM, &MEDIAN_CONTROL] {
            assert_eq!(
                wgsl_const(spec, "HISTOGRAM_BINS"),
                u(crate::kernels::HISTOGRAM_BINS)
            );
        }
        assert_eq!(wgsl_const(&MEDIAN_CONTROL, "NARROW_ROUNDS"), NARROW_ROUNDS);
        for (name, index) in [
            ("ST_LO", st::LO),
            ("ST_HI", st::HI),
            ("ST_FLAGS", st::FLAGS),
            ("ST_INSIDE", st::INSIDE),
            ("ST_OVF", st::OVF),
            ("ST_NLO", st::NLO),
            ("ST_SEL0", st::SEL0),
            ("ST_IND_ROWS", st::IND_ROWS),
            ("ST_IND_HIST", st::IND_HIST),
            ("ST_IND_NARROW", st::IND_NARROW),
            ("ST_WHOLE", st::WHOLE),
            ("ST_GUESSES", st::GUESSES),
            ("ST_CURSOR", st::CURSOR),
        ] {
            assert_eq!(wgsl_const(&MEDIAN_SMALL, name), u(index), "{name}");
        }
        for (name, flag) in [("FLAG_NARROW", st::FLAG_NARROW), ("FLAG_NAN", st::FLAG_NAN)] {
            assert_eq!(wgsl_const(&MEDIAN_SMALL, name), flag, "{name}");
        }
    }

    #[test]
    fn uniform_structs_match_their_rust_mirrors() {
        let size = |s: usize| u32::try_from(s).unwrap();
        assert_eq!(
            wgsl_struct_size(&SVGD_PHI_KACC, "PairParams"),
            size(size_of::<PairParams>())
        );
        assert_eq!(
            wgsl_struct_size(&GMM_SCORE, "GmmParams"),
            size(size_of::<GmmParams>())
        );
        assert_eq!(
            wgsl_struct_size(&LOGISTIC_SCORE, "LogisticParams"),
            size(size_of::<LogisticParams>())
        );
        assert_eq!(
            wgsl_struct_size(&LOGISTIC_SCORE_D, "LogisticParams"),
            size(size_of::<LogisticParams>())
        );
        assert_eq!(
            wgsl_struct_size(&BNN_SCORE, "BnnParams"),
            size(size_of::<BnnParams>())
        );
        assert_eq!(
            wgsl_struct_size(&UPDATE_ADAM, "UpdateParams"),
            size(size_of::<UpdateParams>())
        );
        assert_eq!(
            wgsl_struct_size(&PAIR_BRACKET, "SelectParams"),
            size(size_of::<SelectParams>())
        );
        assert_eq!(
            wgsl_struct_size(&MEDIAN_FINISH, "FinishParams"),
            size(size_of::<crate::gpu::params::FinishParams>())
        );
        assert_eq!(
            wgsl_struct_size(&RBM_GRAD, "RbmParams"),
            size(size_of::<RbmParams>())
        );
        assert_eq!(
            wgsl_struct_size(&LANGEVIN_STEP, "LangevinParams"),
            size(size_of::<crate::gpu::params::LangevinParams>())
        );
        assert_eq!(
            wgsl_struct_size(&MADD_PEAK, "PeakParams"),
            size(size_of::<crate::gpu::params::PeakParams>())
        );
        assert_eq!(
            wgsl_struct_size(&GENERATOR_OPS, "GenParams"),
            size(size_of::<crate::gpu::params::GenParams>())
        );
        assert_eq!(
            wgsl_struct_size(&MEDIAN_CONTROL, "MedianParams"),
            size(size_of::<crate::gpu::params::MedianParams>())
        );
        assert_eq!(
            wgsl_struct_size(&MLP_BACKWARD, "MlpParams"),
            size(size_of::<crate::gpu::params::MlpParams>())
        );
    }

    #[test]
    fn every_wgsl_file_is_used_by_some_kernel() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let mut files = Vec::new();
        for sub in ["common", "kernels"] {
            for entry in std::fs::read_dir(root.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "wgsl") {
                    files.push(format!(
                        "{sub}/{}",
                        path.file_name().unwrap().to_string_lossy()
                    ));
                }
            }
        }
        assert!(files.len() >= 10, "found only {files:?}");
        for f in &files {
            assert!(
                ALL.iter().any(|s| s.parts.iter().any(|(p, _)| p == f)),
                "shaders/{f} is not used by any kernel in the registry"
            );
        }
        let dir_entries = std::fs::read_dir(root).unwrap().count();
        assert_eq!(dir_entries, 2, "shaders/ holds only common/ and kernels/");
    }
}
