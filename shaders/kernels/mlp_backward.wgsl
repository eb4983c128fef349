// mlp_backward: the vector-Jacobian product of one MLP layer (algorithms.md section 2). Given
// the cotangent delta_out of the layer's pre-activations z_out = W^T a_in + b, the cotangent
// of its input,
//   c[i, k] = sum_j W[k, j] delta_out[i, j],
// becomes the cotangent of the previous layer's pre-activations when that input is a hidden
// layer a_in = act(z_in) (flags bit 1),
//   delta_in[i, k] = c[i, k] act'(z_in[i, k]),
// and otherwise (the network's input layer, z_in = x) the input cotangent plus the Gaussian
// term's gradient coef * x (coef = -1/sigma0^2 for the score, 0 for a plain VJP),
//   delta_in[i, k] = c[i, k] + coef z_in[i, k].
// Parts: common/params.wgsl, common/activation.wgsl
// Bindings: 0 uniform MlpParams | 1 theta | 2 delta_out [n, fan_out] | 3 z_in [n, fan_in]
//           | 4 delta_in [n, fan_in] (written)
// Dispatch: ceil(n / ROWS) * ceil(fan_in / COLS) invocations as a 2-D grid like mlp_forward,
// input-unit blocks fastest. A tile of ROWS samples x COLS input units per invocation: per j
// it loads COLS entries of W (one per row of W) and ROWS of delta_out for ROWS * COLS
// products. Host checks fan_out against the loop limit.
override WG: u32 = 64u;

const ROWS: u32 = 4u; // mirrored by ROWS in src/model/mlp.rs
const COLS: u32 = 4u; // mirrored by COLS in src/model/mlp.rs

@group(0) @binding(0) var<uniform> p: MlpParams;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> delta_out: array<f32>;
@group(0) @binding(3) var<storage, read> z_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> delta_in: array<f32>;

fn put(i: u32, k: u32, c: f32) {
    if i < p.n && k < p.fan_in {
        let e = i * p.fan_in + k;
        let zv = z_in[e];
        if (p.flags & 2u) != 0u {
            delta_in[e] = c * activation_grad(p.act, zv);
        } else {
            delta_in[e] = fma(p.coef, zv, c);
        }
    }
}

fn put_row(i: u32, k0: u32, v: vec4<f32>) {
    put(i, k0, v.x);
    put(i, k0 + 1u, v.y);
    put(i, k0 + 2u, v.z);
    put(i, k0 + 3u, v.w);
}

@compute @workgroup_size(WG)
fn mlp_backward(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = gid.x + gid.y * nwg.x * WG;
    let col_blocks = (p.fan_in + COLS - 1u) / COLS;
    let row_blocks = (p.n + ROWS - 1u) / ROWS;
    if e >= row_blocks * col_blocks {
        return; // no barriers in this kernel
    }
    let k0 = (e % col_blocks) * COLS;
    let i0 = (e / col_blocks) * ROWS;
    // Rows k0 .. k0 + 3 of W (clamped to the last one; its duplicates are not written).
    let last_k = p.fan_in - 1u;
    let q0 = p.w_off + k0 * p.fan_out;
    let q1 = p.w_off + min(k0 + 1u, last_k) * p.fan_out;
    let q2 = p.w_off + min(k0 + 2u, last_k) * p.fan_out;
    let q3 = p.w_off + min(k0 + 3u, last_k) * p.fan_out;
    let last_i = p.n - 1u;
    let r0 = i0 * p.fan_out;
    let r1 = min(i0 + 1u, last_i) * p.fan_out;
    let r2 = min(i0 + 2u, last_i) * p.fan_out;
    let r3 = min(i0 + 3u, last_i) * p.fan_out;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    for (var j = 0u; j < p.fan_out; j++) {
        let w = vec4<f32>(theta[q0 + j], theta[q1 + j], theta[q2 + j], theta[q3 + j]);
        c0 = fma(vec4<f32>(delta_out[r0 + j]), w, c0);
        c1 = fma(vec4<f32>(delta_out[r1 + j]), w, c1);
        c2 = fma(vec4<f32>(delta_out[r2 + j]), w, c2);
        c3 = fma(vec4<f32>(delta_out[r3 + j]), w, c3);
    }
    put_row(i0, k0, c0);
    put_row(i0 + 1u, k0, c1);
    put_row(i0 + 2u, k0, c2);
    put_row(i0 + 3u, k0, c3);
}
