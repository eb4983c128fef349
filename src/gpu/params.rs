//! `#[repr(C)]` mirrors of the uniform structs in `shaders/common/params.wgsl`. The unit tests
//! in `shader.rs` compare their sizes with naga's layout of the WGSL structs.

use bytemuck::{Pod, Zeroable};

/// Pairwise passes: `svgd_phi`, `ksd_rows`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PairParams {
    /// Particles.
    pub n: u32,
    /// Dimension.
    pub d: u32,
    /// 1 / h.
    pub inv_h: f32,
    /// 1 / n.
    pub inv_n: f32,
    /// First column of this dispatch's chunk.
    pub j_begin: u32,
    /// One past its last column.
    pub j_end: u32,
    /// Bit 0: first chunk; bit 1: last chunk.
    pub flags: u32,
    /// Kernel-specific (`mmd_rows`: rows of the first sample; others: 0).
    pub aux: u32,
}

/// `logistic_score` (shaders/kernels/logistic_score.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LogisticParams {
    /// Particles.
    pub n: u32,
    /// Dimension of θ (the weights and log α).
    pub d: u32,
    /// Rows of the data, N.
    pub rows: u32,
    /// Rows of this minibatch, m.
    pub batch: u32,
    /// The minibatch's first row, in the permuted order.
    pub begin: u32,
    /// N / m.
    pub scale: f32,
    /// Gamma shape of α.
    pub a0: f32,
    /// Gamma rate of α.
    pub b0: f32,
}

/// `bnn_score` (shaders/kernels/bnn_score.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct BnnParams {
    /// Particles.
    pub n: u32,
    /// Inputs per row, d.
    pub d: u32,
    /// Hidden units, H.
    pub hidden: u32,
    /// Training rows, N.
    pub rows: u32,
    /// Rows of this minibatch, m.
    pub batch: u32,
    /// The minibatch's first row, in the permuted order.
    pub begin: u32,
    /// N / m.
    pub scale: f32,
    /// Gamma shape of γ and λ.
    pub a0: f32,
    /// Gamma rate of γ and λ.
    pub b0: f32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// `gmm_score`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GmmParams {
    /// Particles.
    pub n: u32,
    /// Dimension.
    pub d: u32,
    /// Mixture components.
    pub k: u32,
    /// Padding.
    pub _pad: u32,
}

/// `madd_peak` (the multiply-add ceiling of `stein bench`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PeakParams {
    /// Loop passes per invocation (128 multiply-adds each).
    pub iters: u32,
    /// Invocations that write their sum.
    pub len: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Elementwise updates.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct UpdateParams {
    /// Elements n·d.
    pub len: u32,
    /// 1-based step counter.
    pub t: u32,
    /// Step size ε.
    pub step_size: f32,
    /// AdaGrad's α or Adam's β1.
    pub beta1: f32,
    /// Adam's β2.
    pub beta2: f32,
    /// AdaGrad's fudge or Adam's ε.
    pub eps: f32,
    /// Adam: 1 / (1 − β1^t).
    pub bc1: f32,
    /// Adam: 1 / (1 − β2^t).
    pub bc2: f32,
    /// Adam: L2 weight decay (the direction becomes φ − wd·x).
    pub wd: f32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// Median selection passes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SelectParams {
    /// Particles.
    pub n: u32,
    /// Dimension.
    pub d: u32,
    /// Bracket low end (inclusive).
    pub lo: f32,
    /// Bracket high end (inclusive).
    pub hi: f32,
    /// Number of sampled pairs.
    pub samples: u32,
    /// Hash stream.
    pub seed: u32,
    /// 0 count, 1 list, 2 list and mark rows that meet a NaN (bit 31 of their below count).
    pub mode: u32,
    /// First column of this dispatch's chunk.
    pub j_begin: u32,
    /// One past its last column.
    pub j_end: u32,
    /// Bit 0: first chunk.
    pub flags: u32,
    /// pair_bracket: the first row block (workgroup) of this dispatch.
    pub block0: u32,
    /// Padding.
    pub _pad: u32,
}

/// `median_finish`: the median bandwidth from the selected order statistics.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct FinishParams {
    /// Particles (n odd: one order statistic, n even: two).
    pub n: u32,
    /// `ln(n + 1)` as the host's f64 computes it ([`crate::bandwidth::from_median`]): the
    /// high word of its bits.
    pub ln_hi: u32,
    /// The low word.
    pub ln_lo: u32,
    /// Padding.
    pub _pad: u32,
}

/// Gaussian-Bernoulli RBM kernels.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct RbmParams {
    /// Samples in the batch.
    pub n: u32,
    /// Visible units.
    pub d: u32,
    /// Hidden units.
    pub h: u32,
    /// Random stream of this step (Gibbs kernels).
    pub key: u32,
}

/// Langevin step.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LangevinParams {
    /// Elements n·d.
    pub len: u32,
    /// Random stream of this step.
    pub key: u32,
    /// Step size η.
    pub eta: f32,
    /// Padding.
    pub _pad: u32,
}

/// MLP layer kernels: `mlp_forward`, `mlp_backward`, `mlp_param_grad`, `mlp_energy`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MlpParams {
    /// Samples in the batch.
    pub n: u32,
    /// The layer's input width (`mlp_energy`: d).
    pub fan_in: u32,
    /// The layer's output width.
    pub fan_out: u32,
    /// Offset of the layer's W in θ; b follows at `w_off + fan_in·fan_out`.
    pub w_off: u32,
    /// Activation code (`Activation::code`).
    pub act: u32,
    /// Bit 0: the output is activated; bit 1: the input is a hidden layer.
    pub flags: u32,
    /// −1/σ₀² (the input layer's backward of the score, `mlp_energy`), 0 for a plain VJP.
    pub coef: f32,
    /// Padding.
    pub _pad: u32,
}

/// Annealed importance sampling kernels (`ais_*`): constant over a wave's temperatures.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct AisParams {
    /// Chains in this wave (the energy's batch), runs · chains.
    pub n: u32,
    /// Dimension.
    pub d: u32,
    /// Chains per run C.
    pub chains: u32,
    /// Runs in this wave.
    pub runs: u32,
    /// Temperatures T (the schedule buffer holds t_k, then t_k − t_{k−1}).
    pub temperatures: u32,
    /// Global index of the wave's first chain (RNG counters).
    pub first_chain: u32,
    /// The folded seed of [`crate::cpu::hash::stream_key`].
    pub seed: u32,
    /// Xor'ed into a temperature's key for the accept uniforms.
    pub accept_stream: u32,
    /// Temperatures per f32 log-weight slot.
    pub slot_len: u32,
    /// A run's step size grows iff more than this many of its chains accepted.
    pub up_above: u32,
    /// Smallest step size.
    pub eps_min: f32,
    /// Largest step size.
    pub eps_max: f32,
    /// Step factor above the target acceptance.
    pub eps_up: f32,
    /// Step factor otherwise.
    pub eps_down: f32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// The generator's elementwise passes (`generator_ops`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GenParams {
    /// Elements.
    pub len: u32,
    /// Mode 0: random stream of this draw.
    pub key: u32,
    /// 0 latent draw, 1 sigmoid, 2 cotangent, 3 sigmoid cotangent, 4 row-sum norm.
    pub mode: u32,
    /// Mode 4: row width.
    pub d: u32,
    /// Modes 2–4: factor.
    pub scale: f32,
    /// Padding.
    pub _pad: [u32; 3],
}

/// The device median's passes (`median_control`, `select_hist`, `pair_row_list`,
/// `median_gather`; src/median/device.rs says what each field means to each stage).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MedianParams {
    /// Particles.
    pub n: u32,
    /// Dimension.
    pub d: u32,
    /// `median_control`'s stage (`median_small`'s: 1 after the list pass or alone, 2 after
    /// the second list pass).
    pub stage: u32,
    /// The stage's round (radix digit, narrowing level; PLAN: pair_row_list's column chunks;
    /// `median_small`: 0 behind the guessed list pass, a miss listed again by the second list
    /// pass; 1 the same, a miss listed again by median_small itself; 2 every pair listed by
    /// median_small itself each time).
    pub round: u32,
    /// Workgroups whose histograms a stage sums (PLAN: pair_histogram's workgroups;
    /// `median_small`: the second list pass's row blocks).
    pub groups: u32,
    /// Pairs in the sample (0: every pair is listed).
    pub samples: u32,
    /// Sample position of the bracket's low end.
    pub lo_idx: u32,
    /// Sample position of its high end.
    pub hi_idx: u32,
    /// Off-diagonal rank of the first order statistic.
    pub k0: u32,
    /// Off-diagonal rank of the second (k0 <= k1).
    pub k1: u32,
    /// Bits 0, 1: order statistic q is a diagonal zero; bit 2: lo = 0; bit 3: hi = +inf.
    pub flags: u32,
    /// The list's slot area; the relisted rows' region follows it.
    pub slot_total: u32,
    /// Size of that region.
    pub region: u32,
    /// Most rows listed again before the narrowing takes over.
    pub rows_max: u32,
    /// pair_row_list: columns per workgroup.
    pub chunk: u32,
    /// Pairs, n(n − 1)/2.
    pub m: u32,
    /// median_small: ln(n + 1) as the host's f64, high 32 bits.
    pub ln_hi: u32,
    /// Its low 32 bits.
    pub ln_lo: u32,
    /// Padding.
    pub _pad: [u32; 2],
}
