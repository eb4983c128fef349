// ksd_pack: the particle records ksd_shuffle (the KSD's row sums on CPU adapters) reads, into
// an rgba32float storage texture, after svgd_phi_center (c = the particles' mean):
//   xc_i = x_i - c,   a_i = s_i - (2/h) xc_i,   nrm_i = |xc_i|^2,   g_i = (2/h) a_i . xc_i.
// Record i is texels i S .. i S + S - 1 (S = 2 d4 + 1, d4 = ceil(d / 4); texel t at
// (t % TEX_W, t / TEX_W)): xc_i (d4 texels, zero past d), a_i (d4 texels), (nrm_i, g_i, 0, 0).
// Why: with them the Stein kernel is two dot products a pair, where the difference form
// takes four operations more per dimension (llvmpipe lowers every fma into a multiply and an
// add). With r = x_i - x_j = xc_i - xc_j,
//   s_i.s_j + 2/h (s_i - s_j).r - 4/h^2 |r|^2 = (s_i - 2/h r).(s_j + 2/h r)
//     = (a_i + 2/h xc_j).(a_j + 2/h xc_i) = a_i.a_j + (2/h)^2 xc_i.xc_j + g_i + g_j,
//   |r|^2 = nrm_i + nrm_j - 2 xc_i.xc_j.
// Centring keeps the rounding of |r|^2 near 1e-7 times the cloud's squared radius, as in
// svgd_phi_shuffle. nrm_i is the fma chain over the dimensions in order that ksd_shuffle forms
// xc_i.xc_j with, so a particle's pair with itself gives |r|^2 = 0 exactly.
// Parts: common/params.wgsl
// The host reads nrm back (binding 5) to choose between this form and the difference form
// (src/kernels.rs, ksd_form): the bilinear form's rounding grows like 1e-7 (2/h)^2 nrm.
// Bindings: 0 uniform PairParams (n, d, inv_h) | 1 x [n,d] | 2 score [n,d] | 3 center [d] |
//   4 texture_storage_2d<rgba32float, write> (TEX_W wide, at least ceil(n S / TEX_W) rows) |
//   5 norms [n] (written: nrm_i)
// Dispatch: (ceil(n S / WG), 1, 1), or 2-D past 65535 groups. Passes through loop ends per
// invocation (exit passes included): d + 1.
override WG: u32 = 64u;
const TEX_W: u32 = 4096u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> score: array<f32>;
@group(0) @binding(3) var<storage, read> center: array<f32>;
@group(0) @binding(4) var records: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var<storage, read_write> norms: array<f32>;

@compute @workgroup_size(WG)
fn ksd_pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let d4 = (p.d + 3u) / 4u;
    let stride = 2u * d4 + 1u;
    let t = gid.x + gid.y * (nwg.x * WG);
    if t >= p.n * stride {
        return; // no barriers in this kernel
    }
    let i = t / stride;
    let q = t % stride;
    let h1 = 2.0 * p.inv_h;
    var v = vec4<f32>(0.0);
    if q < 2u * d4 {
        // Coordinates 4 (q mod d4) .. + 3 of xc_i (q < d4) or of a_i.
        let a = (q % d4) * 4u;
        for (var c = 0u; c < 4u; c++) {
            let k = a + c;
            if k < p.d {
                let xc = x[i * p.d + k] - center[k];
                v[c] = select(score[i * p.d + k] - h1 * xc, xc, q < d4);
            }
        }
    } else {
        var nrm = 0.0;
        var dot = 0.0;
        for (var k = 0u; k < p.d; k++) {
            let xc = x[i * p.d + k] - center[k];
            let a = score[i * p.d + k] - h1 * xc;
            nrm = fma(xc, xc, nrm);
            dot = fma(a, xc, dot);
        }
        v = vec4<f32>(nrm, h1 * dot, 0.0, 0.0);
        norms[i] = nrm;
    }
    textureStore(records, vec2<u32>(t % TEX_W, t / TEX_W), v);
}
