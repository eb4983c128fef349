// bnn_score_d: the score of Bayesian neural network regression (algorithms.md §5.2), as
// bnn_score computes it (see its header for the formulas), specialised on the input width
// d = D (an override) for d ≤ DMAX and H ≤ LANES hidden units; the host takes bnn_score past
// either (src/score.rs BNN_D_MAX, BNN_H_MAX).
// Parts: common/bnn.wgsl (BnnParams, the last three coordinates)
// Bindings: 0 uniform BnnParams | 1 x [n,D'] (D' = d·H + 2H + 3) | 2 the training rows as an
//           rgba32float read-only storage texture, D4 = d/4 + 1 texels a row: row r's inputs
//           then its standardised response in texels r·D4 .. r·D4 + D4 at (t % TEX_W,
//           t / TEX_W), zero past the response | 3 score [n,D'] (written)
// Dispatch: one workgroup of WG = LANES = 64 invocations per particle, (n, 1, 1) or the 2-D
// grid past 65535 groups. Loop passes (none unrolled) are counted by the host against
// llvmpipe's limit (score::bnn_score_d_passes follows the loops here one by one).
//
// Invocation l owns hidden unit j = l (lanes j ≥ H carry zero weights and write nothing).
// Its W1 column, the column's gradient and the row being read are arrays of the invocation's
// own with constant trip counts, which the compiler unrolls into registers: W1 is read from
// storage once per particle and each score entry written once. The rows are read from a
// texture: on llvmpipe a texel load is one branch-free gather, where a storage or workgroup
// load inside a loop is a loop over the SIMD lanes (docs/lavapipe.md §3–5); on a GPU every
// lane of the workgroup reads the same texel. Per tile of up to TILE rows:
//   forward   each unit's w2_j·relu(z_tj) into workgroup memory, row by row;
//   residuals invocation t sums row t's units in order j = 0, 1, …: r_t = ŷ_t − y_t;
//   backward  each unit recomputes z_tj (the same code, so the same float) and adds the row's
//             share of its gradients in registers.
// Every sum has a fixed order: deterministic, no atomics.
override WG: u32 = 64u;
override D: u32 = 1u;
const LANES: u32 = 64u;
// The arrays' length, texels of a row at d = DMAX = 64: BNN_D_MAX in src/score.rs (WGSL
// sizes a function's array by a constant, not an override).
const D4MAX: u32 = 17u;
// Rows per tile: act (TILE·LANES) and resid (LANES) make 4096 floats, the 16 KiB every
// WebGPU device offers.
const TILE: u32 = 63u;
const TEX_W: u32 = 4096u;

@group(0) @binding(0) var<uniform> p: BnnParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var rows: texture_storage_2d<rgba32float, read>;
@group(0) @binding(3) var<storage, read_write> score: array<f32>;

// w2_j·relu(z_tj) of lane j and row t at j·TILE + t (TILE odd: on a GPU neither the forward's
// stores nor the residuals' loads meet in a memory bank); at the end the lanes' partial sums.
var<workgroup> act: array<f32, 4032>;
// Per row of the tile, the residual r_t.
var<workgroup> resid: array<f32, LANES>;

fn texel(t: u32) -> vec4<f32> {
    return textureLoad(rows, vec2<u32>(t % TEX_W, t / TEX_W));
}

@compute @workgroup_size(WG)
fn bnn_score_d(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = wid.x + wid.y * nwg.x;
    // The same for the whole workgroup: no barrier is skipped by some invocations only.
    if i >= p.n {
        return;
    }
    let d4 = D / 4u + 1u;
    let h = p.hidden;
    let dim = D * h + 2u * h + 3u;
    let base = i * dim;
    let ob1 = D * h;
    let ow2 = ob1 + h;
    let ob2 = ow2 + h;
    let gamma = exp(x[base + ob2 + 1u]);
    let lambda = exp(x[base + ob2 + 2u]);
    let b2 = x[base + ob2];
    let c = -p.scale * gamma;

    // This lane's unit: its W1 column (zero in the response's and the padding's slots), b1, w2.
    let own = li < h;
    let j = min(li, h - 1u);
    var w: array<vec4<f32>, D4MAX>;
    var g: array<vec4<f32>, D4MAX>;
    var row: array<vec4<f32>, D4MAX>;
    var wsq = 0.0;
    for (var q = 0u; q < d4; q++) {
        var v = vec4<f32>(0.0);
        for (var e = 0u; e < 4u; e++) {
            let k = 4u * q + e;
            if k < D {
                v[e] = select(0.0, x[base + k * h + j], own);
            }
        }
        w[q] = v;
        g[q] = vec4<f32>(0.0);
        wsq += dot(v, v);
    }
    let b1 = select(0.0, x[base + ob1 + j], own);
    let w2 = select(0.0, x[base + ow2 + j], own);
    wsq = fma(b1, b1, fma(w2, w2, wsq));

    var gb1 = 0.0;
    var gw2 = 0.0;
    var sse = 0.0;
    var sr = 0.0;
    for (var r0 = 0u; r0 < p.batch; r0 += TILE) {
        let count = min(TILE, p.batch - r0);
        let first = (p.begin + r0) % p.rows;
        workgroupBarrier();
        // Forward.
        var r = first;
        for (var t = 0u; t < count; t++) {
            var z = b1;
            for (var q = 0u; q < d4; q++) {
                z += dot(texel(r * d4 + q), w[q]);
            }
            act[li * TILE + t] = w2 * max(z, 0.0);
            r = select(r + 1u, 0u, r + 1u == p.rows);
        }
        workgroupBarrier();
        // The residuals, invocation t for row t, the units summed in order.
        if li < count {
            var yhat = 0.0;
            for (var u = 0u; u < h; u++) {
                yhat += act[u * TILE + li];
            }
            let rl = (first + li) % p.rows;
            let y = texel(rl * d4 + D / 4u)[D % 4u];
            let res = yhat + b2 - y;
            resid[li] = res;
            sse = fma(res, res, sse);
            sr += res;
        }
        workgroupBarrier();
        // Backward: this lane's unit, summed over the tile's rows in registers.
        r = first;
        for (var t = 0u; t < count; t++) {
            let res = resid[t];
            var z = b1;
            for (var q = 0u; q < d4; q++) {
                row[q] = texel(r * d4 + q);
                z += dot(row[q], w[q]);
            }
            gw2 = fma(res, max(z, 0.0), gw2);
            let delta = select(0.0, res * w2, z > 0.0);
            gb1 += delta;
            for (var q = 0u; q < d4; q++) {
                g[q] = fma(vec4<f32>(delta), row[q], g[q]);
            }
            r = select(r + 1u, 0u, r + 1u == p.rows);
        }
    }

    if own {
        for (var q = 0u; q < d4; q++) {
            for (var e = 0u; e < 4u; e++) {
                let k = 4u * q + e;
                if k < D {
                    score[base + k * h + j] = fma(c, g[q][e], -lambda * w[q][e]);
                }
            }
        }
        score[base + ob1 + j] = fma(c, gb1, -lambda * b1);
        score[base + ow2 + j] = fma(c, gw2, -lambda * w2);
    }

    // ‖weights‖², Σ r², Σ r over the lanes, in lane order.
    workgroupBarrier();
    act[li] = wsq;
    act[LANES + li] = sse;
    act[2u * LANES + li] = sr;
    workgroupBarrier();
    if li == 0u {
        var wsum = b2 * b2;
        var ssum = 0.0;
        var rsum = 0.0;
        for (var l = 0u; l < LANES; l++) {
            wsum += act[l];
            ssum += act[LANES + l];
            rsum += act[2u * LANES + l];
        }
        let t = bnn_hyper_scores(p, c, b2, gamma, lambda, wsum, ssum, rsum, dim);
        score[base + ob2] = t.x;
        score[base + ob2 + 1u] = t.y;
        score[base + ob2 + 2u] = t.z;
    }
}
