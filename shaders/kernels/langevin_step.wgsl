// langevin_step: one unadjusted Langevin step, x <- x + eta/2 score(x) + sqrt(eta) xi,
// xi[e] = normal(key, e): counter-based, so the f64 reference reproduces the noise.
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform LangevinParams | 1 score [len] | 2 x [len] (updated)
// Dispatch: (ceil(len / WG), 1, 1).
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: LangevinParams;
@group(0) @binding(1) var<storage, read> score: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn langevin_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e < p.len {
        x[e] = x[e] + 0.5 * p.eta * score[e] + sqrt(p.eta) * normal(p.key, e);
    }
}
