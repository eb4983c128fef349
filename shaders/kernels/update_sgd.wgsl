// update_sgd: x <- x + step_size * phi (plain gradient ascent along the Stein direction).
// Parts: common/params.wgsl
// Bindings: 0 uniform UpdateParams | 1 phi [len] | 2 x [len] (updated)
// Dispatch: (ceil(len / WG), 1, 1).
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: UpdateParams;
@group(0) @binding(1) var<storage, read> phi: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn update_sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e < p.len {
        x[e] = fma(p.step_size, phi[e], x[e]);
    }
}
