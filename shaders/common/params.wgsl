// Uniform structs shared by the kernels. Mirrored by the #[repr(C)] structs in
// src/gpu/params.rs; a unit test compares their sizes with naga's layouter. Keep in sync.

// Pairwise passes over particles: svgd_phi, ksd_rows.
struct PairParams {
    n: u32,        // particles
    d: u32,        // dimension
    inv_h: f32,    // 1 / bandwidth, k(x, y) = exp(-|x - y|^2 / h)
    inv_n: f32,    // 1 / n
    j_begin: u32,  // column chunk [j_begin, j_end) of this dispatch
    j_end: u32,
    flags: u32,    // bit 0: first chunk, bit 1: last chunk
    aux: u32,      // kernel-specific (mmd_rows: rows of the first sample)
}

// Gaussian-mixture score: gmm_score.
struct GmmParams {
    n: u32,        // particles
    d: u32,        // dimension
    k: u32,        // mixture components
    _pad: u32,
}

// The multiply-add ceiling of `stein bench`: madd_peak.
struct PeakParams {
    iters: u32,    // loop passes (128 multiply-adds each)
    len: u32,      // invocations that write
    _pad0: u32,
    _pad1: u32,
}

// Elementwise particle updates: update_sgd, update_adagrad, update_adam.
struct UpdateParams {
    len: u32,      // n * d
    t: u32,        // 1-based step counter (AdaGrad's first step, Adam's bias correction)
    step_size: f32,
    beta1: f32,    // AdaGrad: decay alpha of the squared-gradient average; Adam: beta1
    beta2: f32,    // Adam: beta2
    eps: f32,      // AdaGrad: fudge 1e-6 added to sqrt(G); Adam: epsilon
    bc1: f32,      // Adam: 1 / (1 - beta1^t), computed on the host in f64
    bc2: f32,      // Adam: 1 / (1 - beta2^t)
    wd: f32,       // Adam: L2 weight decay, the ascent direction becomes phi - wd * x
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// pair_histogram's bins over [lo, hi]; its output is groups * (HISTOGRAM_BINS + 1) counts, the
// last of each group's the count below lo. median_control's NARROW stage reads them
// (src/kernels/pairs.rs mirrors it).
const HISTOGRAM_BINS: u32 = 2048u;

// Exact median selection over the implicit pairwise squared distances:
// pair_sample, pair_count, pair_list.
struct SelectParams {
    n: u32,        // particles
    d: u32,        // dimension
    lo: f32,       // bracket [lo, hi] on squared distances, both inclusive
    hi: f32,
    samples: u32,  // pair_sample: number of pairs to draw
    seed: u32,     // pair_sample: stream of the counter-based hash
    mode: u32,     // pair_bracket: 0 count, 1 list, 2 list and mark NaN rows (bracket.wgsl)
    j_begin: u32,  // pair_bracket: column chunk [j_begin, j_end) of this dispatch
    j_end: u32,
    flags: u32,    // pair_bracket: bit 0 first chunk
    block0: u32,   // pair_bracket: the first row block (workgroup) of this dispatch
    _pad1: u32,
}

// The median bandwidth from the selected order statistics: median_finish.
struct FinishParams {
    n: u32,        // particles (n odd: one order statistic, n even: two)
    ln_hi: u32,    // ln(n + 1) as the host's f64 computes it, its bits: high word
    ln_lo: u32,    // low word
    _pad: u32,
}

// Gaussian-Bernoulli RBM kernels: rbm_hidden, rbm_energy, rbm_score, rbm_grad.
struct RbmParams {
    n: u32,        // samples in the batch
    d: u32,        // visible units
    h: u32,        // hidden units
    key: u32,      // rbm_gibbs_*: random stream of this step
}

// Langevin step: langevin_step.
struct LangevinParams {
    len: u32,      // n * d
    key: u32,      // random stream of this step
    eta: f32,      // step size: x <- x + eta/2 score + sqrt(eta) xi
    _pad: u32,
}

// MLP layer kernels: mlp_forward, mlp_backward, mlp_param_grad, mlp_energy. Layer l of the flat
// theta is W [fan_in, fan_out] (row-major) at w_off, then b [fan_out] at w_off + fan_in * fan_out.
struct MlpParams {
    n: u32,        // samples in the batch
    fan_in: u32,   // the layer's input width (mlp_energy: d)
    fan_out: u32,  // the layer's output width
    w_off: u32,    // offset of the layer's W in theta
    act: u32,      // activation: 0 softplus, 1 SiLU, 2 tanh (common/activation.wgsl)
    flags: u32,    // bit 0: the output is activated (hidden layer); bit 1: the input is a hidden layer
    coef: f32,     // -1/sigma0^2: mlp_backward on the input layer adds coef * x, mlp_energy coef/2 |x|^2
    _pad: u32,
}

// Annealed importance sampling: ais_init, ais_propose, ais_accept, ais_select, ais_adapt.
// One value for the whole run of a wave; the temperature index k lives on the device (the
// first word of the run-state buffer), so no uniform changes between temperatures.
struct AisParams {
    n: u32,             // chains in this wave (the energy's batch), = runs * chains
    d: u32,             // dimension
    chains: u32,        // chains per run C
    runs: u32,          // runs in this wave
    temperatures: u32,  // T: the schedule buffer holds t_k at k and t_k - t_{k-1} at T + k
    first_chain: u32,   // global index of the wave's first chain (the RNG counters)
    seed: u32,          // the folded seed of cpu::hash::stream_key
    accept_stream: u32, // xor'ed into a temperature's key for the accept uniforms
    slot_len: u32,      // temperatures per log-weight slot (f32 partial sums, f64 on the host)
    up_above: u32,      // a run's step size grows iff more than this many of its chains accepted
    eps_min: f32,       // step size clamp
    eps_max: f32,
    eps_up: f32,        // factor when the run accepted more than the target
    eps_down: f32,      // factor otherwise
    _pad0: u32,
    _pad1: u32,
}

// The generator's elementwise passes: generator_ops.
struct GenParams {
    len: u32,      // elements
    key: u32,      // mode 0: random stream of this draw
    mode: u32,     // 0 latent draw, 1 sigmoid, 2 cotangent, 3 sigmoid cotangent, 4 row-sum norm
    d: u32,        // mode 4: row width
    scale: f32,    // modes 2-4: factor
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// The device median's passes (src/median/device.rs): median_control, select_hist,
// pair_row_list, median_gather.
struct MedianParams {
    n: u32,          // particles
    d: u32,          // dimension
    stage: u32,      // median_control, median_small: which stage
    round: u32,      // the stage's round (radix digit, narrowing level; median_small: its path)
    groups: u32,     // workgroups whose histograms a stage sums (median_small: row blocks)
    samples: u32,    // pairs in the sample (0: no sample, every pair is listed)
    lo_idx: u32,     // sample positions of the bracket ends (see `flags`)
    hi_idx: u32,
    k0: u32,         // off-diagonal ranks of the two order statistics (k0 <= k1)
    k1: u32,
    flags: u32,      // bits 0, 1: order statistic q is a diagonal zero; bit 2: lo = 0;
                     // bit 3: hi = +inf
    slot_total: u32, // the list's slot area; the relisted rows' region follows it
    region: u32,     // size of that region
    rows_max: u32,   // most rows listed again before the narrowing takes over
    chunk: u32,      // pair_row_list: columns per workgroup (dispatch y)
    m: u32,          // pairs, n(n - 1)/2
    ln_hi: u32,      // median_small: ln(n + 1) as the host's f64 bits
    ln_lo: u32,
    _pad0: u32,
    _pad1: u32,
}
