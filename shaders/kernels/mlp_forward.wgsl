// mlp_forward: one fully connected layer of the MLP (algorithms.md section 2) for a batch,
//   z[i, j] = b_j + sum_k a_in[i, k] W[k, j],   a[i, j] = act(z[i, j]) (flags bit 0) or z[i, j],
// with W [fan_in, fan_out] row-major at theta[w_off], b [fan_out] right after it.
// Parts: common/params.wgsl, common/activation.wgsl
// Bindings: 0 uniform MlpParams | 1 theta | 2 a_in [n, fan_in] | 3 z [n, fan_out] (written)
//           | 4 a [n, fan_out] (written)
// Dispatch: ceil(n / ROWS) * ceil(fan_out / COLS) invocations as a 2-D grid,
// e = gid.x + gid.y * num_workgroups.x * WG, column blocks fastest (a workgroup shares its rows
// and reads consecutive columns of W). Each invocation computes a tile of ROWS samples x COLS
// units in four vec4 accumulators (no private array), so per k it loads COLS values of W and
// ROWS of a_in for ROWS * COLS products: loads, not arithmetic, bound llvmpipe. Tiles past the
// batch or the layer repeat its last row or column (valid reads) and are not written. Host
// checks fan_in against the loop limit.
override WG: u32 = 64u;

const ROWS: u32 = 4u; // mirrored by ROWS in src/model/mlp.rs
const COLS: u32 = 4u; // mirrored by COLS in src/model/mlp.rs

@group(0) @binding(0) var<uniform> p: MlpParams;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> a_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> a: array<f32>;

fn put(i: u32, j: u32, v: f32) {
    if i < p.n && j < p.fan_out {
        let e = i * p.fan_out + j;
        z[e] = v;
        a[e] = select(v, activation(p.act, v), (p.flags & 1u) != 0u);
    }
}

fn put_row(i: u32, j0: u32, v: vec4<f32>) {
    put(i, j0, v.x);
    put(i, j0 + 1u, v.y);
    put(i, j0 + 2u, v.z);
    put(i, j0 + 3u, v.w);
}

@compute @workgroup_size(WG)
fn mlp_forward(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = gid.x + gid.y * nwg.x * WG;
    let col_blocks = (p.fan_out + COLS - 1u) / COLS;
    let row_blocks = (p.n + ROWS - 1u) / ROWS;
    if e >= row_blocks * col_blocks {
        return; // no barriers in this kernel
    }
    let j0 = (e % col_blocks) * COLS;
    let i0 = (e / col_blocks) * ROWS;
    let last_j = p.fan_out - 1u;
    let o = vec4<u32>(0u, min(j0 + 1u, last_j) - j0, min(j0 + 2u, last_j) - j0, min(j0 + 3u, last_j) - j0);
    let last_i = p.n - 1u;
    let r0 = i0 * p.fan_in;
    let r1 = min(i0 + 1u, last_i) * p.fan_in;
    let r2 = min(i0 + 2u, last_i) * p.fan_in;
    let r3 = min(i0 + 3u, last_i) * p.fan_in;
    let bq = p.w_off + p.fan_in * p.fan_out + j0;
    let bias = vec4<f32>(theta[bq], theta[bq + o.y], theta[bq + o.z], theta[bq + o.w]);
    var acc0 = bias;
    var acc1 = bias;
    var acc2 = bias;
    var acc3 = bias;
    var q = p.w_off + j0;
    for (var k = 0u; k < p.fan_in; k++) {
        let w = vec4<f32>(theta[q], theta[q + o.y], theta[q + o.z], theta[q + o.w]);
        acc0 = fma(vec4<f32>(a_in[r0 + k]), w, acc0);
        acc1 = fma(vec4<f32>(a_in[r1 + k]), w, acc1);
        acc2 = fma(vec4<f32>(a_in[r2 + k]), w, acc2);
        acc3 = fma(vec4<f32>(a_in[r3 + k]), w, acc3);
        q += p.fan_out;
    }
    put_row(i0, j0, acc0);
    put_row(i0 + 1u, j0, acc1);
    put_row(i0 + 2u, j0, acc2);
    put_row(i0 + 3u, j0, acc3);
}
