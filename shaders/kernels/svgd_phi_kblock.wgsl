// svgd_phi_kblock: the RBF kernel values of one block of columns, for the SVGD direction at
// large d (the unrolled svgd_phi_{small,mid,wide} cover d <= 64):
//   kblock[i, jj] = exp(-|x_i - x_j|^2 / h),  j = j_begin + jj < j_end,
// squared distances in the difference form over all d dimensions, each computed once.
// The block is TB columns wide (the host's choice, at most 256), so the buffer is O(n), never
// n x n. svgd_phi_krho and svgd_phi_kacc then consume it; the host walks the blocks in order.
// Parts: common/params.wgsl, common/rbf.wgsl
// Bindings: 0 uniform PairParams | 1 x [n,d] | 2 kblock [n, TB] (written)
// Dispatch: (ceil(n (j_end - j_begin) / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> kblock: array<f32>;

@compute @workgroup_size(WG)
fn svgd_phi_kblock(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let tb = p.j_end - p.j_begin;
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e >= p.n * tb {
        return; // no barriers in this kernel
    }
    let i = e / tb;
    let j = p.j_begin + e % tb;
    var s = 0.0;
    for (var a = 0u; a < p.d; a++) {
        let r = x[i * p.d + a] - x[j * p.d + a];
        s = fma(r, r, s);
    }
    kblock[e] = rbf_from_sqdist(s, p.inv_h);
}
