// rbm_hidden: hidden pre-activations and their tanh for the Gaussian-Bernoulli RBM
// (algorithms.md section 2), theta = [B (d x h, row-major), b (d), c (h)]:
//   y[i, j] = c_j + sum_a x[i, a] B[a, j],   t[i, j] = tanh(y[i, j])
// Parts: common/params.wgsl
// Bindings: 0 uniform RbmParams | 1 theta | 2 x [n,d] | 3 y [n,h] (written) | 4 t [n,h] (written)
// Dispatch: (ceil(n h / WG), 1, 1); one invocation per (sample, hidden unit), j fastest so a
// workgroup reads consecutive columns of B.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RbmParams;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> t: array<f32>;

@compute @workgroup_size(WG)
fn rbm_hidden(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e >= p.n * p.h {
        return; // no barriers in this kernel
    }
    let i = e / p.h;
    let j = e % p.h;
    var acc = theta[p.d * p.h + p.d + j];
    for (var a = 0u; a < p.d; a++) {
        acc = fma(x[i * p.d + a], theta[a * p.h + j], acc);
    }
    y[e] = acc;
    t[e] = tanh(acc);
}
