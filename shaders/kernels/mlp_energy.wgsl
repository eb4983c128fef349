// mlp_energy: the MLP energy's log-density (algorithms.md section 2) from the network output,
//   f(x_i) = MLP(x_i) - |x_i|^2 / (2 sigma0^2) = out[i] + coef / 2 |x_i|^2,   coef = -1/sigma0^2.
// Parts: common/params.wgsl
// Bindings: 0 uniform MlpParams (fan_in = d) | 1 x [n, d] | 2 out [n] (mlp_forward's last layer)
//           | 3 f [n] (written)
// Dispatch: n invocations as a 2-D grid like mlp_forward. Host checks d against the loop limit.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: MlpParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> f: array<f32>;

@compute @workgroup_size(WG)
fn mlp_energy(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + gid.y * nwg.x * WG;
    if i >= p.n {
        return; // no barriers in this kernel
    }
    var sq = 0.0;
    for (var a = 0u; a < p.fan_in; a++) {
        let v = x[i * p.fan_in + a];
        sq = fma(v, v, sq);
    }
    f[i] = fma(0.5 * p.coef, sq, out[i]);
}
