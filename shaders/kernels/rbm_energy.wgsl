// rbm_energy: the unnormalised log-density of the Gaussian-Bernoulli RBM,
//   f(x_i) = b.x_i - |x_i|^2 / 2 + sum_j log(e^{y_ij} + e^{-y_ij}),
// with log(e^y + e^-y) = |y| + log(1 + e^{-2|y|}) (no overflow for any y); y from rbm_hidden.
// Parts: common/params.wgsl
// Bindings: 0 uniform RbmParams | 1 theta | 2 x [n,d] | 3 y [n,h] | 4 f [n] (written)
// Dispatch: (ceil(n / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RbmParams;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> f: array<f32>;

@compute @workgroup_size(WG)
fn rbm_energy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel
    }
    let b0 = p.d * p.h;
    var vis = 0.0;
    for (var a = 0u; a < p.d; a++) {
        let v = x[i * p.d + a];
        vis += v * (theta[b0 + a] - 0.5 * v);
    }
    var hid = 0.0;
    for (var j = 0u; j < p.h; j++) {
        let ay = abs(y[i * p.h + j]);
        hid += ay + log(1.0 + exp(-2.0 * ay));
    }
    f[i] = vis + hid;
}
