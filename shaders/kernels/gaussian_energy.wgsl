// gaussian_energy: f and its score for an unnormalised Gaussian with diagonal covariance,
//   f(x_i) = c - 1/2 sum_a (x[i, a] - mu_a)^2 / sigma_a^2,   score[i, a] = -(x[i, a] - mu_a) / sigma_a^2,
// whose normaliser is known in closed form (log Z = c + sum_a log(sigma_a sqrt(2 pi))): the
// check of samplers and evaluators such as AIS.
// Parts: common/params.wgsl (GmmParams; k unused)
// Bindings: 0 uniform GmmParams | 1 pm [2d + 1]: mu, 1/sigma^2, c | 2 x [n,d] | 3 f [n] (written) |
//   4 score [n,d] (written)
// Dispatch: (ceil(n / WG), 1, 1); one invocation per row, d loop iterations.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: GmmParams;
@group(0) @binding(1) var<storage, read> pm: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> f: array<f32>;
@group(0) @binding(4) var<storage, read_write> score: array<f32>;

@compute @workgroup_size(WG)
fn gaussian_energy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel
    }
    var q = 0.0;
    for (var a = 0u; a < p.d; a++) {
        let z = x[i * p.d + a] - pm[a];
        let prec = pm[p.d + a];
        q = fma(z * z, prec, q);
        score[i * p.d + a] = -z * prec;
    }
    f[i] = pm[2u * p.d] - 0.5 * q;
}
