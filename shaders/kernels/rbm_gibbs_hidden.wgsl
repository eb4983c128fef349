// rbm_gibbs_hidden: h[i, j] = +1 with probability sigmoid(2 y[i, j]), else -1
// (p(h_j = +1 | x) of algorithms.md section 2; y from rbm_hidden). The uniform is
// uniform01(pcg_hash(key ^ pcg_hash(2e))) for e = i h + j, as src/cpu/rbm.rs draws it.
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform RbmParams | 1 y [n,h] | 2 hs [n,h] (written)
// Dispatch: (ceil(n h / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RbmParams;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> hs: array<f32>;

@compute @workgroup_size(WG)
fn rbm_gibbs_hidden(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e >= p.n * p.h {
        return; // no barriers in this kernel
    }
    let u = uniform01(pcg_hash(p.key ^ pcg_hash(2u * e)));
    let prob = 1.0 / (1.0 + exp(-2.0 * y[e]));
    hs[e] = select(-1.0, 1.0, u < prob);
}
