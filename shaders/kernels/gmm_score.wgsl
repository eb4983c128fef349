// gmm_score: score_i = grad log p(x_i) for p = sum_k w_k N(mu_k, diag(sigma_k^2)):
//   l_k = log w_k - 1/2 sum_c [log(2 pi sigma_kc^2) + (x_c - mu_kc)^2 / sigma_kc^2]
//   r_k = softmax(l)_k (log-sum-exp with the max subtracted: far particles stay finite)
//   score_i = sum_k r_k (mu_k - x_i) / sigma_k^2
// Parts: common/params.wgsl
// Bindings: 0 uniform GmmParams | 1 x [n,d] | 2 mix [2*k*d + k]: means [k,d], then
//           1/sigma^2 [k,d], then log w_k - 1/2 sum_c log(2 pi sigma_kc^2) [k] | 3 score [n,d] (written)
// Dispatch: (ceil(n / WG), 1, 1). One invocation per particle: 3kd + 5k + 2d + 4 loop passes,
// which the host checks against llvmpipe's loop limit (kernels::check_gmm_score_loops).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: GmmParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mix: array<f32>;
@group(0) @binding(3) var<storage, read_write> score: array<f32>;

fn component_logit(i: u32, c: u32) -> f32 {
    let kd = p.k * p.d;
    var q = 0.0;
    for (var a = 0u; a < p.d; a++) {
        let diff = x[i * p.d + a] - mix[c * p.d + a];
        q = fma(diff * diff, mix[kd + c * p.d + a], q);
    }
    // Clamp keeps a particle so far away that q overflows finite (and so not NaN below).
    return max(mix[2u * kd + c] - 0.5 * q, -3.0e38);
}

@compute @workgroup_size(WG)
fn gmm_score(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel, so an early return is safe
    }
    let kd = p.k * p.d;
    var lmax = -3.4e38;
    for (var c = 0u; c < p.k; c++) {
        lmax = max(lmax, component_logit(i, c));
    }
    for (var a = 0u; a < p.d; a++) {
        score[i * p.d + a] = 0.0;
    }
    var total = 0.0;
    for (var c = 0u; c < p.k; c++) {
        let e = exp(component_logit(i, c) - lmax);
        total += e;
        for (var a = 0u; a < p.d; a++) {
            let pull = (mix[c * p.d + a] - x[i * p.d + a]) * mix[kd + c * p.d + a];
            score[i * p.d + a] = fma(e, pull, score[i * p.d + a]);
        }
    }
    let inv_total = 1.0 / total;
    for (var a = 0u; a < p.d; a++) {
        score[i * p.d + a] *= inv_total;
    }
}
