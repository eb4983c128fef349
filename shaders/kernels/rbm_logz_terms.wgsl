// rbm_logz_terms: for the exact normaliser (algorithms.md section 2),
//   log Z = d/2 log 2 pi + logsumexp over h in {-1, +1}^H of [ c.h + |b + B h|^2 / 2 ],
// one invocation per state: term[s] = c.h + |b + B h|^2 / 2 with h_j = +1 where bit j of s is
// set. The host takes the logsumexp in f64 in state order: deterministic.
// Parts: common/params.wgsl
// Bindings: 0 uniform RbmParams (n = number of states, 2^H) | 1 theta | 2 term [2^H] (written)
// Dispatch: (ceil(2^H / WG), 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: RbmParams;
@group(0) @binding(1) var<storage, read> theta: array<f32>;
@group(0) @binding(2) var<storage, read_write> term: array<f32>;

fn spin(s: u32, j: u32) -> f32 {
    return select(-1.0, 1.0, ((s >> j) & 1u) == 1u);
}

@compute @workgroup_size(WG)
fn rbm_logz_terms(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let s = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if s >= p.n {
        return; // no barriers in this kernel
    }
    let b0 = p.d * p.h;
    var ch = 0.0;
    for (var j = 0u; j < p.h; j++) {
        ch = fma(theta[b0 + p.d + j], spin(s, j), ch);
    }
    var m2 = 0.0;
    for (var a = 0u; a < p.d; a++) {
        var m = theta[b0 + a];
        for (var j = 0u; j < p.h; j++) {
            m = fma(theta[a * p.h + j], spin(s, j), m);
        }
        m2 = fma(m, m, m2);
    }
    term[s] = ch + 0.5 * m2;
}
