// pair_sample_texture: pair_sample (see pair_sample.wgsl: out[t] = |x_i - x_j|^2 for the hashed
// pair t) with x read from x_texture_pack's texture, four coordinates a texel, for CPU adapters:
// pair_sample's loads of x_i and x_j differ between lanes, which llvmpipe turns into a loop over
// the lanes per coordinate; a texel load is one gather per four (n = 16384, d = 64: the median's
// sample of 2^20 pairs took 0.16 s). Same pairs, same terms in the same order: the padding
// coordinates past d add fma(0, 0, s) = s, so the sums are pair_sample's bit for bit.
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform SelectParams | 1 texture_storage_2d<rgba32float, read> (x_texture_pack) |
//   2 out [samples] (written)
// Dispatch: (ceil(samples / WG), 1, 1), 2-D past 65535 groups. Host guarantees n >= 2.
override WG: u32 = 64u;
const TEX_W: u32 = 4096u;

@group(0) @binding(0) var<uniform> p: SelectParams;
@group(0) @binding(1) var xt: texture_storage_2d<rgba32float, read>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn texel(t: u32) -> vec4<f32> {
    return textureLoad(xt, vec2<u32>(t % TEX_W, t / TEX_W));
}

@compute @workgroup_size(WG)
fn pair_sample_texture(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if t >= p.samples {
        return; // no barriers in this kernel
    }
    let ij = hash_pair(p.seed, t, p.n);
    let d4 = (p.d + 3u) / 4u;
    var s2 = 0.0;
    for (var q = 0u; q < d4; q++) {
        let r = texel(ij.x * d4 + q) - texel(ij.y * d4 + q);
        s2 = fma(r.x, r.x, s2);
        s2 = fma(r.y, r.y, s2);
        s2 = fma(r.z, r.z, s2);
        s2 = fma(r.w, r.w, s2);
    }
    out[t] = s2;
}
