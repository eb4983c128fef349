// gaussian_score: score_i = P (mu - x_i) for N(mu, P^-1), P the precision matrix (the host
// inverts the covariance in f64 through its Cholesky factor).
// One invocation per (particle i, output dimension a), a fastest: d loop passes each, where one
// invocation per particle took d^2 and llvmpipe cut it short past d = 255 (its loop limit of
// 65535 passes an invocation; README, Notes for lavapipe).
// Parts: common/params.wgsl (GmmParams; k unused)
// Bindings: 0 uniform GmmParams | 1 x [n,d] | 2 pm [d*d + d]: P row-major, then mu | 3 score [n,d] (written)
// Dispatch: groups for n*d invocations (2-D grid past 65535 groups).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: GmmParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> pm: array<f32>;
@group(0) @binding(3) var<storage, read_write> score: array<f32>;

@compute @workgroup_size(WG)
fn gaussian_score(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * (nwg.x * WG);
    if t >= p.n * p.d {
        return; // no barriers in this kernel
    }
    let i = t / p.d;
    let a = t % p.d;
    let dd = p.d * p.d;
    var s = 0.0;
    for (var b = 0u; b < p.d; b++) {
        s = fma(pm[a * p.d + b], pm[dd + b] - x[i * p.d + b], s);
    }
    score[t] = s;
}
