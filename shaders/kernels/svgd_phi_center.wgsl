// svgd_phi_center: the particles' mean, the centre c of the columns and rows of
// svgd_phi_shuffle and svgd_phi_gemm,
//   center[k] = (1/n) sum_i x[i, k].
// Why: they form |x_i - x_j|^2 as |xc_i|^2 + |xc_j|^2 - 2 xc_i . xc_j with
// xc = x - c; its f32 rounding grows with |xc|^2 / h, so c must sit inside the cloud. Any c
// gives the same phi in exact arithmetic, so the mean's own rounding does not matter.
// One workgroup per dimension k: invocation l sums rows l, l + WG, ... in order, then a fixed
// tree in workgroup memory adds the WG partial sums: deterministic, no atomics.
// Parts: common/params.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 center [d] (written)
// Dispatch: (d, 1, 1), WG a power of two <= 256. Passes through loop ends per invocation
// (exit passes included): ceil(n / WG) + log2(WG) + 2.
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> center: array<f32>;

var<workgroup> part: array<f32, 256>;

@compute @workgroup_size(WG)
fn svgd_phi_center(@builtin(local_invocation_id) lid3: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    let k = wid.x;
    var s = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        s += x[i * p.d + k];
    }
    part[lid] = s;
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w >>= 1u) {
        if lid < w {
            part[lid] += part[lid + w];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        center[k] = part[0] * p.inv_n;
    }
}
