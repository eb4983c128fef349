// rbm_gibbs_visible: x | h ~ N(b + B h, I) (algorithms.md section 2):
//   x[i, a] = b_a + sum_j B[a, j] h[i, j] + normal(key, e),  e = i d + a.
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform RbmParams | 1 theta | 2 hs [n,h] | 3 x [n,d] (written)
// Dispatch: (ceil(n d / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RbmParams;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> hs: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn rbm_gibbs_visible(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e >= p.n * p.d {
        return; // no barriers in this kernel
    }
    let i = e / p.d;
    let a = e % p.d;
    var acc = theta[p.d * p.h + a];
    for (var j = 0u; j < p.h; j++) {
        acc = fma(theta[a * p.h + j], hs[i * p.h + j], acc);
    }
    x[e] = acc + normal(p.key, e);
}
