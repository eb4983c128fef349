// logistic_score: the score of Bayesian logistic regression (algorithms.md §5.1) at each
// particle θ_i = (w, log α), w of length dw = d - 1 (the intercept is the last feature):
//   ∇_w      = scale · Σ_{j<m} (y01_t − σ(wᵀx_t)) x_t − α w,   t = (begin + j) mod N
//   ∂/∂log α = dw/2 − (α/2)‖w‖² + (a0 − 1) − b0 α + 1
// scale = N/m. The rows are stored in the order of the target's fixed permutation, so a
// minibatch is m consecutive rows from `begin`, cycling past the end.
// Bindings: 0 uniform LogisticParams | 1 x [n,d] | 2 rows [N, d]: dw features then the label
//           (y + 1)/2 ∈ {0, 1} | 3 score [n,d] (written)
// Dispatch: (ceil(n / WG), 1, 1) or the 2-D grid past 65535 groups. One invocation per
// particle; the workgroup loads tiles of up to TILE floats of rows into workgroup memory,
// which its WG particles share (a row wider than TILE is read from storage instead). Loop
// passes per invocation: m·(2·dw + 2) + ceil(m·d / WG) + 2·dw + 4 + tiles, checked by the
// host against llvmpipe's loop limit (kernels::check_logistic_score_loops).
override WG: u32 = 64u;
const TILE: u32 = 4096u;

struct LogisticParams {
    n: u32,        // particles
    d: u32,        // dimension of θ: dw + 1
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

var<workgroup> tile: array<f32, TILE>;

// Element k of the row at `src`: an offset in the tile, or in `rows` for rows wider than TILE.
fn row_value(src: u32, k: u32, in_tile: bool) -> f32 {
    if in_tile {
        return tile[src + k];
    }
    return rows[src + k];
}

fn sigmoid(z: f32) -> f32 {
    // exp of a non-positive argument only: no overflow at either end.
    let e = exp(-abs(z));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

@compute @workgroup_size(WG)
fn logistic_score(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = (wid.x + wid.y * nwg.x) * WG + li;
    let live = i < p.n;
    let d = p.d;
    let dw = d - 1u;
    let base = i * d;
    let in_tile = d <= TILE;
    let per_tile = select(1u, TILE / d, in_tile);
    if live {
        // The prior: −α w and the log α coordinate.
        let alpha = exp(x[base + dw]);
        var w2 = 0.0;
        for (var k = 0u; k < dw; k++) {
            let w = x[base + k];
            w2 = fma(w, w, w2);
            score[base + k] = -alpha * w;
        }
        score[base + dw] = 0.5 * f32(dw) - 0.5 * alpha * w2 + (p.a0 - 1.0) - p.b0 * alpha + 1.0;
    }
    // The likelihood, one tile of rows at a time (every invocation reaches the barriers).
    for (var r0 = 0u; r0 < p.batch; r0 += per_tile) {
        let count = min(per_tile, p.batch - r0);
        if in_tile {
            workgroupBarrier();
            for (var e = li; e < count * d; e += WG) {
                let r = (p.begin + r0 + e / d) % p.rows;
                tile[e] = rows[r * d + e % d];
            }
            workgroupBarrier();
        }
        if live {
            for (var j = 0u; j < count; j++) {
                let src = select(((p.begin + r0 + j) % p.rows) * d, j * d, in_tile);
                var z = 0.0;
                for (var k = 0u; k < dw; k++) {
                    let v = row_value(src, k, in_tile);
                    z = fma(v, x[base + k], z);
                }
                let label = row_value(src, dw, in_tile);
                let g = p.scale * (label - sigmoid(z));
                for (var k = 0u; k < dw; k++) {
                    let v = row_value(src, k, in_tile);
                    score[base + k] = fma(g, v, score[base + k]);
                }
            }
        }
    }
}
