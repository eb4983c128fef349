// bnn_score: the score of Bayesian neural network regression (algorithms.md §5.2) at each
// particle θ = (W1 [d×H] row-major (W1[k,j] at k·H + j), b1 [H], w2 [H], b2, log γ, log λ),
// D = d·H + 2H + 3 values, P = D − 2 weights and biases. Over the minibatch rows
// t = (begin + j) mod N, j < m, with z_t = W1ᵀx_t + b1, ŷ_t = w2ᵀrelu(z_t) + b2,
// r_t = ŷ_t − y_t and c = −(N/m)·γ:
//   ∂/∂W1[k,j] = c Σ_t r_t w2_j 1[z_tj > 0] x_tk − λ W1[k,j]
//   ∂/∂b1_j    = c Σ_t r_t w2_j 1[z_tj > 0]      − λ b1_j
//   ∂/∂w2_j    = c Σ_t r_t relu(z_tj)            − λ w2_j
//   ∂/∂b2      = c Σ_t r_t                       − λ b2
//   ∂/∂log γ   = (N/m)(m/2 − (γ/2) Σ_t r_t²) + (a0 − 1) − b0 γ + 1
//   ∂/∂log λ   = P/2 − (λ/2)‖weights‖² + (a0 − 1) − b0 λ + 1
// The rows are stored in the order of the target's fixed permutation, so a minibatch is m
// consecutive rows from `begin`, cycling past the end. The host takes bnn_score_d up to d = 64
// inputs and H = 64 hidden units (where its loops and texture fit), this kernel past them.
// Parts: common/bnn.wgsl (BnnParams, the last three coordinates)
// Bindings: 0 uniform BnnParams | 1 x [n,D] | 2 rows [N, d+1]: d standardised inputs, then the
//           standardised response | 3 score [n,D] (written)
// Dispatch: one workgroup of WG = 64 invocations per particle: (n, 1, 1), or the 2-D grid past
// 65535 groups (Kernel::groups_for over n·WG items). Host guarantees d + 1 + H ≤ TILE and
// n·D, N·(d+1) < 2^32, and checks the loop passes against llvmpipe's limit
// (score::check_bnn_score_loops counts them loop by loop as written here).
//
// Why a workgroup per particle. The score of one particle is a small two-layer network's
// backward pass over m rows: d·H multiply-adds forward and d·H backward per row, with an
// H-wide hidden layer in between. One invocation per particle would have to keep a row's H
// activations and the d·H weight gradients in private memory (H is a runtime value, so they
// would live in storage, a read-modify-write per weight per row). Here invocation l owns
// hidden units j = l, l + 64, …: for a tile of rows loaded once into workgroup memory it
// computes z_tj (its W1 column against each row), one invocation per row sums the output
// ŷ_t over the units, and invocation l then sums its column's gradient over the tile's rows
// in a register, one read-modify-write of the score per weight per tile. Every score entry
// is written by one invocation only (W1 column j, b1_j and w2_j by j's owner; b2, log γ and
// log λ by invocation 0), in a fixed order: deterministic, no atomics. At the paper's size
// (20 particles, d = 13, H = 50, m = 100) the 20 workgroups run the m rows with 50 lanes
// busy each; at n = 16 384 there are 16 384 workgroups, enough to fill any GPU.
override WG: u32 = 64u;
// Workgroup memory: the row tile (TILE floats) and the three per-invocation partial sums
// (3·LANES) make 4096 floats, the 16 KiB every WebGPU device offers. WG must be ≤ LANES.
const TILE: u32 = 3904u;
const LANES: u32 = 64u;

@group(0) @binding(0) var<uniform> p: BnnParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rows: array<f32>;
@group(0) @binding(3) var<storage, read_write> score: array<f32>;

// [0, T·(d+1)): the tile's rows, the response slot later holding the residual r_t;
// [T·(d+1), T·(d+1+H)): per row and unit, z_tj, later r_t·w2_j·1[z_tj > 0].
var<workgroup> tile: array<f32, TILE>;
// ‖weights‖², Σ r², Σ r: one partial sum per invocation each.
var<workgroup> partial: array<f32, 192>;

@compute @workgroup_size(WG)
fn bnn_score(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = wid.x + wid.y * nwg.x;
    // The same for the whole workgroup: no barrier is skipped by some invocations only.
    if i >= p.n {
        return;
    }
    let d = p.d;
    let h = p.hidden;
    let w = d + 1u;
    let dim = d * h + 2u * h + 3u;
    let base = i * dim;
    let ob1 = d * h;
    let ow2 = ob1 + h;
    let ob2 = ow2 + h;
    let gamma = exp(x[base + ob2 + 1u]);
    let lambda = exp(x[base + ob2 + 2u]);
    let b2 = x[base + ob2];
    let c = -p.scale * gamma;
    let per_tile = TILE / (w + h);
    let zoff = per_tile * w;

    // The prior −λ·weight, by each unit's owner; its share of ‖weights‖².
    var wsq = 0.0;
    for (var j = li; j < h; j += WG) {
        for (var k = 0u; k < d; k++) {
            let v = x[base + k * h + j];
            wsq = fma(v, v, wsq);
            score[base + k * h + j] = -lambda * v;
        }
        let vb = x[base + ob1 + j];
        let vw = x[base + ow2 + j];
        wsq = fma(vb, vb, fma(vw, vw, wsq));
        score[base + ob1 + j] = -lambda * vb;
        score[base + ow2 + j] = -lambda * vw;
    }

    var sse = 0.0;
    var sr = 0.0;
    for (var r0 = 0u; r0 < p.batch; r0 += per_tile) {
        let count = min(per_tile, p.batch - r0);
        workgroupBarrier();
        for (var e = li; e < count * w; e += WG) {
            let r = (p.begin + r0 + e / w) % p.rows;
            tile[e] = rows[r * w + e % w];
        }
        workgroupBarrier();
        // Forward: z_tj for this invocation's units.
        for (var j = li; j < h; j += WG) {
            let b1 = x[base + ob1 + j];
            for (var t = 0u; t < count; t++) {
                var z = 0.0;
                for (var k = 0u; k < d; k++) {
                    z = fma(tile[t * w + k], x[base + k * h + j], z);
                }
                tile[zoff + t * h + j] = z + b1;
            }
        }
        workgroupBarrier();
        // The residuals, one invocation per row, the units summed in order.
        for (var t = li; t < count; t += WG) {
            var yhat = 0.0;
            for (var j = 0u; j < h; j++) {
                yhat = fma(max(tile[zoff + t * h + j], 0.0), x[base + ow2 + j], yhat);
            }
            let r = yhat + b2 - tile[t * w + d];
            tile[t * w + d] = r;
            sse = fma(r, r, sse);
            sr += r;
        }
        workgroupBarrier();
        // Backward: this invocation's units, summed over the tile's rows in registers.
        for (var j = li; j < h; j += WG) {
            let w2 = x[base + ow2 + j];
            var gb1 = 0.0;
            var gw2 = 0.0;
            for (var t = 0u; t < count; t++) {
                let z = tile[zoff + t * h + j];
                let r = tile[t * w + d];
                gw2 = fma(r, max(z, 0.0), gw2);
                let delta = select(0.0, r * w2, z > 0.0);
                tile[zoff + t * h + j] = delta;
                gb1 += delta;
            }
            score[base + ob1 + j] = fma(c, gb1, score[base + ob1 + j]);
            score[base + ow2 + j] = fma(c, gw2, score[base + ow2 + j]);
            for (var k = 0u; k < d; k++) {
                var g = 0.0;
                for (var t = 0u; t < count; t++) {
                    g = fma(tile[zoff + t * h + j], tile[t * w + k], g);
                }
                score[base + k * h + j] = fma(c, g, score[base + k * h + j]);
            }
        }
    }

    partial[li] = wsq;
    partial[LANES + li] = sse;
    partial[2u * LANES + li] = sr;
    workgroupBarrier();
    if li == 0u {
        var wsum = b2 * b2;
        var ssum = 0.0;
        var rsum = 0.0;
        for (var l = 0u; l < WG; l++) {
            wsum += partial[l];
            ssum += partial[LANES + l];
            rsum += partial[2u * LANES + l];
        }
        let t = bnn_hyper_scores(p, c, b2, gamma, lambda, wsum, ssum, rsum, dim);
        score[base + ob2] = t.x;
        score[base + ob2 + 1u] = t.y;
        score[base + ob2 + 2u] = t.z;
    }
}
