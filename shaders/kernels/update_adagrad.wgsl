// update_adagrad: the reference "AdaGrad with momentum" of the authors' SVGD code:
//   first step (t = 1): G = phi^2; later: G <- alpha G + (1 - alpha) phi^2
//   x <- x + step_size * phi / (fudge + sqrt(G))        (alpha = 0.9, fudge = 1e-6)
// Parts: common/params.wgsl (alpha in beta1, fudge in eps)
// Bindings: 0 uniform UpdateParams | 1 phi [len] | 2 x [len] (updated) | 3 g [len] (updated)
// Dispatch: (ceil(len / WG), 1, 1).
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: UpdateParams;
@group(0) @binding(1) var<storage, read> phi: array<f32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;

@compute @workgroup_size(WG)
fn update_adagrad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e < p.len {
        let f = phi[e];
        var gn = f * f;
        if p.t > 1u {
            gn = p.beta1 * g[e] + (1.0 - p.beta1) * gn;
        }
        g[e] = gn;
        x[e] = x[e] + p.step_size * (f / (p.eps + sqrt(gn)));
    }
}
