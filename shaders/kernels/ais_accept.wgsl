// ais_accept: the importance weight and the Metropolis test of one HMC transition at
// temperature k (algorithms.md section 4), per chain i (g = first_chain + i):
//   weight, BEFORE the transition, at the current x:
//     log pi_k(x) - log pi_{k-1}(x) = (t_k - t_{k-1}) (f(x) - log N(x; 0, I))
//     of which (t_k - t_{k-1}) (f(x) + |x|^2 / 2) is added here, into the f32 slot (k - 1) / slot_len
//     (the host adds sum_k (t_k - t_{k-1}) (d/2) log 2 pi = (d/2) log 2 pi once, in f64);
//   p1 = ph + eps/2 (t score(x') - (1 - t) x')
//   log alpha = log pi_t(x') - |p1|^2/2 - log pi_t(x) + |p0|^2/2
//             with log pi_t(x) = t f(x) - (1 - t) |x|^2 / 2 (constants cancel);
//   accept iff log u < log alpha, u = uniform01(pcg_hash((key_k ^ accept_stream) ^ pcg_hash(g)))
//   (a NaN log alpha rejects). On accept f(x) and |x|^2 take the proposal's values; ais_select
//   copies x' and its score.
// Parts: common/params.wgsl, common/hash.wgsl
// Bindings: 0 uniform AisParams | 1 sched [2T] | 2 run_state [1 + 2R] | 3 xp [n,d] |
//   4 gp [n,d] = score(x') | 5 mom [2 n d] | 6 fp [n] = f(x') |
//   7 chain [(3 + slots) n]: f(x), |x|^2, accepted (0/1), then the weight slots (updated)
// Dispatch: (ceil(n / WG), 1, 1); one invocation per chain, d loop iterations (host-checked
// against llvmpipe's loop limit), sums in coordinate order.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: AisParams;
@group(0) @binding(1) var<storage, read> sched: array<f32>;
@group(0) @binding(2) var<storage, read> run_state: array<u32>;
@group(0) @binding(3) var<storage, read> xp: array<f32>;
@group(0) @binding(4) var<storage, read> gp: array<f32>;
@group(0) @binding(5) var<storage, read> mom: array<f32>;
@group(0) @binding(6) var<storage, read> fp: array<f32>;
@group(0) @binding(7) var<storage, read_write> chain: array<f32>;

@compute @workgroup_size(WG)
fn ais_accept(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if i >= p.n {
        return; // no barriers in this kernel
    }
    let nd = p.n * p.d;
    let k = run_state[0];
    let t = sched[k];
    let dt = sched[p.temperatures + k];
    let eps = bitcast<f32>(run_state[1u + i / p.chains]);
    var k0 = 0.0;
    var k1 = 0.0;
    var sp2 = 0.0;
    for (var a = 0u; a < p.d; a++) {
        let e = i * p.d + a;
        let p0 = mom[e];
        let xv = xp[e];
        let p1 = mom[nd + e] + 0.5 * eps * (t * gp[e] - (1.0 - t) * xv);
        k0 = fma(p0, p0, k0);
        k1 = fma(p1, p1, k1);
        sp2 = fma(xv, xv, sp2);
    }
    let fx = chain[i];
    let sx2 = chain[p.n + i];
    let w = 3u * p.n + ((k - 1u) / p.slot_len) * p.n + i;
    chain[w] = chain[w] + dt * (fx + 0.5 * sx2);
    let f_new = fp[i];
    let log_alpha = (t * f_new - 0.5 * (1.0 - t) * sp2) - (t * fx - 0.5 * (1.0 - t) * sx2)
        + 0.5 * (k0 - k1);
    let key = stream_key(p.seed, k) ^ p.accept_stream;
    let u = uniform01(pcg_hash(key ^ pcg_hash(p.first_chain + i)));
    let accept = log(u) < log_alpha;
    chain[2u * p.n + i] = select(0.0, 1.0, accept);
    if accept {
        chain[i] = f_new;
        chain[p.n + i] = sp2;
    }
}
