// x_texture_pack: the particles x [n, d] into an rgba32float storage texture, four coordinates
// to a texel: texel t = i * d4 + q (d4 = ceil(d / 4)) at (t % TEX_W, t / TEX_W) holds
// x[i, 4q .. 4q + 4), zero past d (any [n, d] buffer: ksd_shuffle also reads the score packed
// so). pair_sample_texture, pair_bracket_shuffle and ksd_shuffle read it on CPU
// adapters, where a storage-buffer load whose index differs between lanes compiles to a loop
// over the lanes with a bounds check per lane, and a texel load to one gather (README, Notes
// for lavapipe, 3-4). The copy is exact, so the median's distances stay the same floats.
// Parts: common/params.wgsl
// Bindings: 0 uniform SelectParams (n, d) | 1 x [n,d] | 2 texture_storage_2d<rgba32float, write>
//   (TEX_W wide, at least ceil(n d4 / TEX_W) rows)
// Dispatch: (ceil(n d4 / WG), 1, 1), or 2-D past 65535 groups.
override WG: u32 = 64u;
const TEX_W: u32 = 4096u;

@group(0) @binding(0) var<uniform> p: SelectParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var xt: texture_storage_2d<rgba32float, write>;

@compute @workgroup_size(WG)
fn x_texture_pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let d4 = (p.d + 3u) / 4u;
    let t = gid.x + gid.y * (nwg.x * WG);
    if t >= p.n * d4 {
        return; // no barriers in this kernel
    }
    let i = t / d4;
    let a = (t % d4) * 4u;
    var v = vec4<f32>(0.0);
    for (var c = 0u; c < 4u; c++) {
        if a + c < p.d {
            v[c] = x[i * p.d + a + c];
        }
    }
    textureStore(xt, vec2<u32>(t % TEX_W, t / TEX_W), v);
}
