// The Bayesian neural network's score (algorithms.md §5.2), shared by its two kernels
// (bnn_score, bnn_score_d): the uniform (BnnParams in src/gpu/params.rs) and the score's last
// three coordinates, which the lanes' sums give.

struct BnnParams {
    n: u32,        // particles
    d: u32,        // inputs per row
    hidden: u32,   // H
    rows: u32,     // N, training rows
    batch: u32,    // m, rows of this minibatch (1..=N)
    begin: u32,    // the minibatch's first row, in permuted order
    scale: f32,    // N / m
    a0: f32,       // Gamma shape of γ and λ
    b0: f32,       // Gamma rate of γ and λ
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// ∂/∂b2, ∂/∂log γ and ∂/∂log λ of a particle of `dim` coordinates under the uniform `q`, from
// c = scale·γ, the output bias b2, γ, λ, and the sums over the hidden units and rows:
// wsum = ‖weights‖² (b2² included), ssum = Σ r², rsum = Σ r (r the minibatch's residuals).
fn bnn_hyper_scores(q: BnnParams, c: f32, b2: f32, gamma: f32, lambda: f32, wsum: f32,
                    ssum: f32, rsum: f32, dim: u32) -> vec3<f32> {
    return vec3<f32>(
        fma(c, rsum, -lambda * b2),
        q.scale * (0.5 * f32(q.batch) - 0.5 * gamma * ssum) + (q.a0 - 1.0) - q.b0 * gamma + 1.0,
        0.5 * f32(dim - 2u) - 0.5 * lambda * wsum + (q.a0 - 1.0) - q.b0 * lambda + 1.0,
    );
}
