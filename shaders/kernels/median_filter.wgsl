// median_filter: median_small's filter, across workgroups (its stages 0 and 1 run before and
// after it). Each invocation g of the T = groups * WG counts its share of the listed pairs
// (every T-th, from g) against the bracket [st[ST_LO], st[ST_HI]] that stage 0 chose, and
// keeps those inside it in its own segment of `scratch`: a store without a branch (llvmpipe
// runs a branch's stores lane by lane), the others to the segment's spare slot, as are those
// past a full segment (stage 1 then sees the overflow in the count and selects from the whole
// list). Integer counts in registers, no atomics, no shared slot: deterministic.
// scratch: T segments of seg + 1 (the last one spare), then T * seg for stage 1's gathered
// values, then per invocation (below, inside, NaN patterns, offset) at 2 T seg + T.
// Parts: common/params.wgsl, common/median_state.wgsl
// Bindings: 0 uniform MedianParams | 1 vals [m] (the list, f32 bits) | 2 st | 3 scratch
// Dispatch: (groups, 1, 1).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: MedianParams;
@group(0) @binding(1) var<storage, read> vals: array<u32>;
@group(0) @binding(2) var<storage, read> st: array<u32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<u32>;

@compute @workgroup_size(WG)
fn median_filter(@builtin(global_invocation_id) gid: vec3<u32>) {
    let g = gid.x;
    let total = p.groups * WG;
    let seg = p.seg;
    let lo = st[ST_LO];
    let hi = st[ST_HI];
    let mine = g * (seg + 1u);
    var below = 0u;
    var inside = 0u;
    var nan = 0u;
    for (var e = g; e < p.m; e += total) {
        let bits = vals[e];
        let ok = bits >= lo && bits <= hi;
        scratch[mine + select(seg, inside, ok && inside < seg)] = bits;
        below += u32(bits < lo);
        inside += u32(ok);
        nan += u32((bits & 0x7fffffffu) > 0x7f800000u);
    }
    let at = 2u * total * seg + total + 4u * g;
    scratch[at] = below;
    scratch[at + 1u] = inside;
    scratch[at + 2u] = nan;
}
