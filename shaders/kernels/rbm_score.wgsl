// rbm_score: the score of the Gaussian-Bernoulli RBM, s(x_i) = b - x_i + B tanh(y_i),
//   s[i, a] = b_a - x[i, a] + sum_j B[a, j] t[i, j]      (t = tanh(y) from rbm_hidden)
// Parts: common/params.wgsl
// Bindings: 0 uniform RbmParams | 1 theta | 2 x [n,d] | 3 t [n,h] | 4 score [n,d] (written)
// Dispatch: (ceil(n d / WG), 1, 1); one invocation per (sample, visible unit).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RbmParams;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> t: array<f32>;
@group(0) @binding(4) var<storage, read_write> score: array<f32>;

@compute @workgroup_size(WG)
fn rbm_score(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e >= p.n * p.d {
        return; // no barriers in this kernel
    }
    let i = e / p.d;
    let a = e % p.d;
    var acc = theta[p.d * p.h + a] - x[e];
    for (var j = 0u; j < p.h; j++) {
        acc = fma(theta[a * p.h + j], t[i * p.h + j], acc);
    }
    score[e] = acc;
}
