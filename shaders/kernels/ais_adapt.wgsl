// ais_adapt: each run's step size follows its acceptance at temperature k:
//   count_r = sum over the run's C chains of accepted (fixed order, integers: no atomics)
//   accepted_r += count_r,   history[(k - 1) R + r] = count_r
//   eps_r <- clamp(eps_r * (count_r > up_above ? eps_up : eps_down), eps_min, eps_max)
// (ais_select, recorded after this, advances k: every invocation here reads it.)
// Per-run step sizes keep the R runs independent, so their spread is an honest standard error.
// Parts: common/params.wgsl
// Bindings: 0 uniform AisParams | 1 chain [(3 + slots) n] (accepted at 2n + i) |
//   2 run_state [1 + 2R]: k, eps_r (f32 bits), accepted_r (updated) |
//   3 history [(T - 1) R]: count_r per temperature (written)
// Dispatch: (ceil(R / WG), 1, 1); one invocation per run, C loop iterations (host-checked).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: AisParams;
@group(0) @binding(1) var<storage, read> chain: array<f32>;
@group(0) @binding(2) var<storage, read_write> run_state: array<u32>;
@group(0) @binding(3) var<storage, read_write> history: array<u32>;

@compute @workgroup_size(WG)
fn ais_adapt(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * (nwg.x * WG); // 2-D grid past 65535 groups
    if r >= p.runs {
        return; // no barriers in this kernel
    }
    var count = 0u;
    for (var c = 0u; c < p.chains; c++) {
        count += u32(chain[2u * p.n + r * p.chains + c] != 0.0);
    }
    run_state[1u + p.runs + r] += count;
    history[(run_state[0] - 1u) * p.runs + r] = count;
    let eps = bitcast<f32>(run_state[1u + r]);
    let factor = select(p.eps_down, p.eps_up, count > p.up_above);
    run_state[1u + r] = bitcast<u32>(clamp(eps * factor, p.eps_min, p.eps_max));
}
