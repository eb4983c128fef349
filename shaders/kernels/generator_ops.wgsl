// generator_ops: the generator's elementwise passes (algorithms.md §3.3), one kernel with a
// mode, so the f64 reference in src/cpu/generator.rs states each in one line:
//   mode 0 (latent draw):       out[e] = 2 uniform01(pcg_hash(key ^ pcg_hash(e))) - 1
//   mode 1 (sigmoid output):    out[e] = sigmoid(a[e])
//   mode 2 (cotangent):         out[e] = scale * a[e]
//   mode 3 (sigmoid cotangent): out[e] = scale * a[e] * b[e] * (1 - b[e])   (b = sigmoid output)
//   mode 4 (row-sum norm):      out[e] = a[e] * scale / (b[2 (e / d)] + 1)
//                               (b = mmd_rows' off-diagonal kernel row sums; + 1 = k_ii)
// Parts: common/params.wgsl, common/hash.wgsl, common/activation.wgsl
// Bindings: 0 uniform GenParams | 1 a [len] | 2 b | 3 out [len] (written)
// Dispatch: 2-D grid over len elements (gid.x + gid.y * nwg.x * WG).
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: GenParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn generator_ops(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e >= p.len {
        return;
    }
    switch p.mode {
        case 0u: {
            // 2 uniform01(h) - 1 = (2k + 1 - 2^24) / 2^24, k = h >> 8: an odd integer below
            // 2^24 in magnitude, exact in f32 (uniform01's k + 0.5 is not, for k >= 2^23).
            let k = pcg_hash(p.key ^ pcg_hash(e)) >> 8u;
            out[e] = f32(i32(2u * k + 1u) - 16777216) * (1.0 / 16777216.0);
        }
        case 1u: {
            out[e] = sigmoid(a[e]);
        }
        case 2u: {
            out[e] = p.scale * a[e];
        }
        case 3u: {
            let y = b[e];
            out[e] = p.scale * a[e] * (y * (1.0 - y));
        }
        default: {
            out[e] = a[e] * p.scale / (b[2u * (e / p.d)] + 1.0);
        }
    }
}
