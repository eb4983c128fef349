// ais_propose: the leapfrog step of one HMC transition at temperature k (algorithms.md
// section 4), target log pi_t(x) = (1 - t) log N(x; 0, I) + t f(x), unit mass:
//   p0 = normal(stream_key(seed, k), g d + a)             (g = first_chain + i)
//   ph = p0 + eps/2 grad log pi_t(x),  grad log pi_t(x) = t score(x) - (1 - t) x
//   x' = x + eps ph
// ais_accept finishes the step (p1 = ph + eps/2 grad log pi_t(x')) once the model has been
// evaluated at x'. k is run_state[0], advanced on the device by ais_adapt; eps is the run's.
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform AisParams | 1 sched [2T]: t_k, then t_k - t_{k-1} | 2 run_state [1 + 2R]:
//   k, eps_r (f32 bits), accepted_r | 3 x [n,d] | 4 gx [n,d] = score(x) |
//   5 mom [2 n d]: p0, then ph (written) | 6 xp [n,d] = x' (written)
// Dispatch: (ceil(n d / WG), 1, 1); one invocation per coordinate.
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: AisParams;
@group(0) @binding(1) var<storage, read> sched: array<f32>;
@group(0) @binding(2) var<storage, read> run_state: array<u32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> gx: array<f32>;
@group(0) @binding(5) var<storage, read_write> mom: array<f32>;
@group(0) @binding(6) var<storage, read_write> xp: array<f32>;

@compute @workgroup_size(WG)
fn ais_propose(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    let nd = p.n * p.d;
    if e >= nd {
        return; // no barriers in this kernel
    }
    let run = e / p.d / p.chains;
    let k = run_state[0];
    let t = sched[k];
    let eps = bitcast<f32>(run_state[1u + run]);
    let p0 = normal(stream_key(p.seed, k), p.first_chain * p.d + e);
    let ph = p0 + 0.5 * eps * (t * gx[e] - (1.0 - t) * x[e]);
    mom[e] = p0;
    mom[nd + e] = ph;
    xp[e] = x[e] + eps * ph;
}
