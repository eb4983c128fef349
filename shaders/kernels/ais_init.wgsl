// ais_init: exact samples of pi_0 = N(0, I) for annealed importance sampling (algorithms.md
// section 4), and each chain's |x|^2:
//   x[i, a] = normal(stream_key(seed, 0), g d + a),  g = first_chain + i (the global chain),
//   chain[n + i] = sum_a x[i, a]^2.
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform AisParams | 1 x [n,d] (written) | 2 chain [(3 + slots) n] (|x|^2 written)
// Dispatch: (ceil(n / WG), 1, 1); one invocation per chain, d loop iterations (host-checked
// against llvmpipe's loop limit).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: AisParams;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> chain: array<f32>;

@compute @workgroup_size(WG)
fn ais_init(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel
    }
    let key = stream_key(p.seed, 0u);
    let base = (p.first_chain + i) * p.d;
    var s = 0.0;
    for (var a = 0u; a < p.d; a++) {
        let v = normal(key, base + a);
        x[i * p.d + a] = v;
        s = fma(v, v, s);
    }
    chain[p.n + i] = s;
}
