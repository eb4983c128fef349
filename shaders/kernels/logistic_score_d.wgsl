// logistic_score_d: the score of Bayesian logistic regression (algorithms.md §5.1), as
// logistic_score computes it, specialised on the dimension d = D (an override; the host takes
// it for d <= LOGISTIC_D_MAX and logistic_score past that). At each particle θ_i = (w, log α),
// w of length dw = D - 1 (the intercept is the last feature):
//   ∇_w      = −α w + Σ_{j<m} scale · (y01_t − σ(wᵀx_t)) x_t,   t = (begin + j) mod N
//   ∂/∂log α = dw/2 − (α/2)‖w‖² + (a0 − 1) − b0 α + 1
// scale = N/m. The rows are stored in the order of the target's fixed permutation, so a
// minibatch is m consecutive rows from `begin`, cycling past the end.
// Bindings: 0 uniform LogisticParams | 1 x [n,d] | 2 rows [N, d]: dw features then the label
//           (y + 1)/2 ∈ {0, 1} | 3 score [n,d] (written)
// Dispatch: (ceil(n / WG), 1, 1) or the 2-D grid past 65535 groups. One invocation per
// particle. w, the gradient and the row being read are arrays of the invocation's own whose
// loops have constant trip counts, which the compiler unrolls into registers: each value of a
// row is read from storage once, and each score coordinate written once. (logistic_score
// reads and writes the score in storage for every row: on llvmpipe every such access inside a
// loop is a loop over the SIMD lanes, docs/lavapipe.md §3-4.) Loop passes per invocation, were
// none unrolled: (2m + 2)·D + m + 1, checked by the host against llvmpipe's loop limit
// (kernels::check_logistic_score_loops).
override WG: u32 = 64u;
override D: u32 = 2u;
// The arrays' length: LOGISTIC_D_MAX in src/score.rs (WGSL sizes a function's array by a
// constant, not an override).
const DMAX: u32 = 64u;

struct LogisticParams {
    n: u32,        // particles
    d: u32,        // dimension of θ: dw + 1 (= D)
    rows: u32,     // N, rows of the data
    batch: u32,    // m, rows of this minibatch (1..=N)
    begin: u32,    // the minibatch's first row, in permuted order
    scale: f32,    // N / m
    a0: f32,       // Gamma shape of α
    b0: f32,       // Gamma rate of α
}

@group(0) @binding(0) var<uniform> p: LogisticParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<f32>;
@group(0) @binding(3) var<storage, read_write> score: array<f32>;

fn sigmoid(z: f32) -> f32 {
    // exp of a non-positive argument only: no overflow at either end.
    let e = exp(-abs(z));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

@compute @workgroup_size(WG)
fn logistic_score_d(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + gid.y * (nwg.x * WG);
    if i >= p.n {
        return;
    }
    let dw = D - 1u;
    let base = i * D;
    var w: array<f32, DMAX>;
    var g: array<f32, DMAX>;
    var row: array<f32, DMAX>;
    // The prior: −α w and the log α coordinate.
    let alpha = exp(x[base + dw]);
    var w2 = 0.0;
    for (var k = 0u; k < dw; k++) {
        w[k] = x[base + k];
        w2 = fma(w[k], w[k], w2);
        g[k] = -alpha * w[k];
    }
    // The likelihood, row by row.
    var r = p.begin;
    for (var j = 0u; j < p.batch; j++) {
        let src = r * D;
        var z = 0.0;
        for (var k = 0u; k < dw; k++) {
            row[k] = rows[src + k];
            z = fma(row[k], w[k], z);
        }
        let c = p.scale * (rows[src + dw] - sigmoid(z));
        for (var k = 0u; k < dw; k++) {
            g[k] = fma(c, row[k], g[k]);
        }
        r = select(r + 1u, 0u, r + 1u == p.rows);
    }
    for (var k = 0u; k < dw; k++) {
        score[base + k] = g[k];
    }
    score[base + dw] = 0.5 * f32(dw) - 0.5 * alpha * w2 + (p.a0 - 1.0) - p.b0 * alpha + 1.0;
}
