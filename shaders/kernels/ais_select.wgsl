// ais_select: the accepted chains take the proposal and its score (ais_accept decided), and
// the temperature advances; the last kernel of a temperature:
//   if accepted_i: x[i, a] = x'[i, a], gx[i, a] = gp[i, a]
//   k <- k + 1   (invocation 0; no invocation of this dispatch reads k, every kernel before
//                 it in the temperature does)
// Parts: common/params.wgsl
// Bindings: 0 uniform AisParams | 1 chain [(3 + slots) n] (accepted at 2n + i) | 2 xp [n,d] |
//   3 gp [n,d] | 4 x [n,d] (updated) | 5 gx [n,d] (updated) | 6 run_state [1 + 2R] (k updated)
// Dispatch: (ceil(n d / WG), 1, 1); one invocation per coordinate.
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: AisParams;
@group(0) @binding(1) var<storage, read> chain: array<f32>;
@group(0) @binding(2) var<storage, read> xp: array<f32>;
@group(0) @binding(3) var<storage, read> gp: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> gx: array<f32>;
@group(0) @binding(6) var<storage, read_write> run_state: array<u32>;

@compute @workgroup_size(WG)
fn ais_select(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if e == 0u {
        run_state[0] += 1u;
    }
    if e >= p.n * p.d {
        return; // no barriers in this kernel
    }
    if chain[2u * p.n + e / p.d] != 0.0 {
        x[e] = xp[e];
        gx[e] = gp[e];
    }
}
