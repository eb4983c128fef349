// mlp_param_grad: the parameter part of one MLP layer's vector-Jacobian product, summed over
// the batch (algorithms.md section 2): with delta_out the cotangent of z_out = W^T a_in + b,
//   g[W[k, j]] = sum_i a_in[i, k] delta_out[i, j],   g[b[j]] = sum_i delta_out[i, j].
// With the output cotangent w_i (the batch weights) this is sum_i w_i grad_theta f(x_i).
// The layer's parameters are one [fan_in + 1, fan_out] row-major matrix at g[w_off] (W, then b
// as row fan_in, whose input is the constant 1). Each invocation owns a tile of COLS rows x
// COLS columns of it and sums over i in order: deterministic, no atomics; per i it loads COLS
// entries of a_in and COLS of delta_out for COLS * COLS products.
// Parts: common/params.wgsl
// Bindings: 0 uniform MlpParams | 1 a_in [n, fan_in] | 2 delta_out [n, fan_out]
//           | 3 g [len theta] (written in [w_off, w_off + (fan_in + 1) * fan_out))
// Dispatch: ceil((fan_in + 1) / COLS) * ceil(fan_out / COLS) invocations as a 2-D grid like
// mlp_forward, column blocks fastest. Host checks n against the loop limit.
override WG: u32 = 64u;
const BLOCK: u32 = 128u;

const COLS: u32 = 4u; // mirrored by COLS in src/model/mlp.rs

@group(0) @binding(0) var<uniform> p: MlpParams;
@group(0) @binding(1) var<storage, read> a_in: array<f32>;
@group(0) @binding(2) var<storage, read> delta_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;

fn put_row(k: u32, j0: u32, v: vec4<f32>) {
    if k <= p.fan_in {
        let q = p.w_off + k * p.fan_out + j0;
        g[q] = v.x;
        if j0 + 1u < p.fan_out {
            g[q + 1u] = v.y;
        }
        if j0 + 2u < p.fan_out {
            g[q + 2u] = v.z;
        }
        if j0 + 3u < p.fan_out {
            g[q + 3u] = v.w;
        }
    }
}

@compute @workgroup_size(WG)
fn mlp_param_grad(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let e = gid.x + gid.y * nwg.x * WG;
    let col_blocks = (p.fan_out + COLS - 1u) / COLS;
    let row_blocks = (p.fan_in + 1u + COLS - 1u) / COLS;
    if e >= row_blocks * col_blocks {
        return; // no barriers in this kernel
    }
    let j0 = (e % col_blocks) * COLS;
    let k0 = (e / col_blocks) * COLS;
    let last_j = p.fan_out - 1u;
    let o = vec4<u32>(0u, min(j0 + 1u, last_j) - j0, min(j0 + 2u, last_j) - j0, min(j0 + 3u, last_j) - j0);
    // Input columns k0 .. k0 + 3: the bias row k = fan_in reads the constant 1; rows past it
    // are not written, so any valid column will do.
    let kv = vec4<u32>(k0, k0 + 1u, k0 + 2u, k0 + 3u);
    let is_bias = kv >= vec4<u32>(p.fan_in);
    let kc = min(kv, vec4<u32>(p.fan_in - 1u));
    var g0 = vec4<f32>(0.0);
    var g1 = vec4<f32>(0.0);
    var g2 = vec4<f32>(0.0);
    var g3 = vec4<f32>(0.0);
    // Sums run in blocks of BLOCK rows, then into the totals: f32 error grows with
    // n / BLOCK + BLOCK instead of n (a straight sum over 60001 rows was 5e-4 off on an H100).
    var b0 = vec4<f32>(0.0);
    var b1 = vec4<f32>(0.0);
    var b2 = vec4<f32>(0.0);
    var b3 = vec4<f32>(0.0);
    for (var i = 0u; i < p.n; i++) {
        if (i & (BLOCK - 1u)) == 0u {
            g0 += b0;
            g1 += b1;
            g2 += b2;
            g3 += b3;
            b0 = vec4<f32>(0.0);
            b1 = vec4<f32>(0.0);
            b2 = vec4<f32>(0.0);
            b3 = vec4<f32>(0.0);
        }
        let dr = i * p.fan_out + j0;
        let d = vec4<f32>(delta_out[dr], delta_out[dr + o.y], delta_out[dr + o.z], delta_out[dr + o.w]);
        let ar = i * p.fan_in;
        let av = select(
            vec4<f32>(a_in[ar + kc.x], a_in[ar + kc.y], a_in[ar + kc.z], a_in[ar + kc.w]),
            vec4<f32>(1.0),
            is_bias,
        );
        b0 = fma(vec4<f32>(av.x), d, b0);
        b1 = fma(vec4<f32>(av.y), d, b1);
        b2 = fma(vec4<f32>(av.z), d, b2);
        b3 = fma(vec4<f32>(av.w), d, b3);
    }
    g0 += b0;
    g1 += b1;
    g2 += b2;
    g3 += b3;
    put_row(k0, j0, g0);
    put_row(k0 + 1u, j0, g1);
    put_row(k0 + 2u, j0, g2);
    put_row(k0 + 3u, j0, g3);
}
