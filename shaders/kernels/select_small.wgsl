// select_small: the device median's radix selection (select_hist + median_control's PICK, four
// rounds) in one workgroup and one dispatch (common/radix_small.wgsl), for lists short enough
// that one workgroup selects from them faster than eight dispatches start: targets
// st[ST_T0..2] among vals[0 .. st[ST_COUNT]), results into the state as PICK leaves them.
// Parts: common/median_state.wgsl, common/radix_small.wgsl
// Bindings: 0 uniform MedianParams | 1 vals [st[ST_COUNT]] (f32 bits) | 2 scratch (unused: a
//   placeholder for common/radix_small.wgsl's second list) | 3 st
// Dispatch: (1, 1, 1).
@group(0) @binding(0) var<uniform> p: MedianParams;
// Bindings 1 and 2, `vals` and `scratch`, and the override WG are common/radix_small.wgsl's.
@group(0) @binding(3) var<storage, read_write> st: array<u32>;

// (count, target 0, target 1), read from the state once and uniform (the selection's control
// flow and barriers depend on them).
var<workgroup> task: vec3<u32>;

@compute @workgroup_size(WG)
fn select_small(@builtin(local_invocation_index) lid: u32) {
    if lid == 0u {
        task = vec3<u32>(st[ST_COUNT], st[ST_T0], st[ST_T1]);
    }
    let a = workgroupUniformLoad(&task);
    let r = radix_select_small(lid, a.x, a.yz);
    if lid == 0u {
        st[ST_NAN] = st[ST_NAN] + r.nans;
        st[ST_WHOLE] = st[ST_WHOLE] + r.whole;
        st[ST_P0] = r.bits.x;
        st[ST_P1] = r.bits.y;
        st[ST_R0] = r.rank.x;
        st[ST_R1] = r.rank.y;
    }
}
