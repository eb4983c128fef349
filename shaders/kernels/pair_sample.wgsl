// pair_sample: out[t] = |x_i - x_j|^2 for the pair (i, j) = hash_pair(seed, t, n), i != j,
// t < samples. A uniform sample of the implicit off-diagonal squared distances, from which the
// host brackets the median before the exact counting passes (see src/median.rs).
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform SelectParams | 1 x [n,d] | 2 out [samples] (written)
// Dispatch: (ceil(samples / WG), 1, 1). Host guarantees n >= 2.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: SelectParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn pair_sample(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if t >= p.samples {
        return; // no barriers in this kernel
    }
    let ij = hash_pair(p.seed, t, p.n);
    var s2 = 0.0;
    for (var a = 0u; a < p.d; a++) {
        let r = x[ij.x * p.d + a] - x[ij.y * p.d + a];
        s2 = fma(r, r, s2);
    }
    out[t] = s2;
}
