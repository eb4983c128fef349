// rbm_grad: a weighted batch sum of the parameter gradient of f, for eq. 23 of
// algorithms.md with weights +1/m on the positives and -1/m on the negatives:
//   g = sum_i w_i grad_theta f(x_i),   theta = [B (d x h), b (d), c (h)],
//   dB[a, j] = x[i, a] t[i, j],  db[a] = x[i, a],  dc[j] = t[i, j]   (t = tanh(y)).
// One invocation per parameter loops over the batch in order: deterministic, no atomics.
// Parts: common/params.wgsl
// Bindings: 0 uniform RbmParams | 1 x [n,d] | 2 t [n,h] | 3 w [n] | 4 g [dh + d + h] (written)
// Dispatch: (ceil((d h + d + h) / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RbmParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> t: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> g: array<f32>;

@compute @workgroup_size(WG)
fn rbm_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let q = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    let nb = p.d * p.h;
    if q >= nb + p.d + p.h {
        return; // no barriers in this kernel
    }
    var acc = 0.0;
    if q < nb {
        let a = q / p.h;
        let j = q % p.h;
        for (var i = 0u; i < p.n; i++) {
            acc = fma(w[i] * x[i * p.d + a], t[i * p.h + j], acc);
        }
    } else if q < nb + p.d {
        let a = q - nb;
        for (var i = 0u; i < p.n; i++) {
            acc = fma(w[i], x[i * p.d + a], acc);
        }
    } else {
        let j = q - nb - p.d;
        for (var i = 0u; i < p.n; i++) {
            acc = fma(w[i], t[i * p.h + j], acc);
        }
    }
    g[q] = acc;
}
