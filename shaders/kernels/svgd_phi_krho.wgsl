// svgd_phi_krho: running row sums rho_i = sum_j k_ij over the blocks of svgd_phi_kblock,
// rho[i] = (first block ? 0 : rho[i]) + sum_jj kblock[i, jj], jj in column order.
// Parts: common/params.wgsl
// Bindings: 0 uniform PairParams | 1 kblock [n, TB] | 2 rho [n] (updated)
// Dispatch: (ceil(n / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> kblock: array<f32>;
@group(0) @binding(2) var<storage, read_write> rho: array<f32>;

@compute @workgroup_size(WG)
fn svgd_phi_krho(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel
    }
    let tb = p.j_end - p.j_begin;
    var s = 0.0;
    for (var jj = 0u; jj < tb; jj++) {
        s += kblock[i * tb + jj];
    }
    if (p.flags & 1u) != 0u {
        rho[i] = s;
    } else {
        rho[i] = rho[i] + s;
    }
}
