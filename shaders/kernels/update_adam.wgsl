// update_adam: Adam as an ascent step along phi (Kingma & Ba, bias-corrected), with L2
// weight decay wd folded into the direction (g = phi - wd x; wd = 0 for particles):
//   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2
//   x <- x + step_size * (m * bc1) / (sqrt(v * bc2) + eps),  bc_k = 1 / (1 - b_k^t)
// Parts: common/params.wgsl
// Bindings: 0 uniform UpdateParams | 1 phi [len] | 2 x [len] | 3 m [len] | 4 v [len] (all updated)
// Dispatch: (ceil(len / WG), 1, 1). Host zeroes m and v before t = 1.
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: UpdateParams;
@group(0) @binding(1) var<storage, read> phi: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(WG)
fn update_adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e < p.len {
        let f = phi[e] - p.wd * x[e];
        let mn = p.beta1 * m[e] + (1.0 - p.beta1) * f;
        let vn = p.beta2 * v[e] + (1.0 - p.beta2) * f * f;
        m[e] = mn;
        v[e] = vn;
        x[e] = x[e] + p.step_size * (mn * p.bc1) / (sqrt(vn * p.bc2) + p.eps);
    }
}
