// median_small: the whole device median after the list pass, in one workgroup and one
// dispatch, where every pair was listed (M = n(n - 1)/2 <= 2^16 pairs, at exact offsets, so
// the list is dense): on llvmpipe each dispatch costs about 0.1 ms to start, which at these
// sizes is most of the median. It does what median_control's PLAN, select_small, RESOLVE and
// median_finish do on the longer path:
//   - sums the rows' counts: every pair lies in [0, +inf], so fewer than M is NaN;
//   - selects the two off-diagonal order statistics k0 <= k1 (common/radix_small.wgsl);
//   - puts them (0 for a diagonal one, NaN bits after a NaN) in st[ST_SEL0..2], with the
//     candidates and flags the host reads when asked;
//   - writes (h, 1/h) from them as median_finish does (softf64: the host's f64, bit for bit).
// Parts: common/params.wgsl, common/median_state.wgsl, common/softf64.wgsl,
//   common/radix_small.wgsl
// Bindings: 0 uniform MedianParams | 1 vals [m] (the list, f32 bits) | 2 counts [2n] | 3 st
//   | 4 out [2] = (h, 1/h) (written)
// Dispatch: (1, 1, 1).
@group(0) @binding(0) var<uniform> p: MedianParams;
// Binding 1, `vals`, and the override WG are common/radix_small.wgsl's.
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read_write> st: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> sums: array<u32, 256>;

@compute @workgroup_size(WG)
fn median_small(@builtin(local_invocation_index) lid: u32) {
    // Every pair's count, in row order per invocation, then in invocation order.
    var listed = 0u;
    for (var i = lid; i < p.n; i += WG) {
        listed += counts[2u * i] + counts[2u * i + 1u];
    }
    sums[lid] = listed;
    workgroupBarrier();
    var all = 0u;
    for (var t = 0u; t < WG; t++) {
        all += sums[t];
    }
    let nan = all != p.m;
    let picked = radix_select_small(lid, p.m, vec2<u32>(p.k0, p.k1));
    if lid != 0u {
        return;
    }
    var v = picked.bits;
    for (var q = 0u; q < 2u; q++) {
        if ((p.flags >> q) & 1u) != 0u {
            v[q] = 0u;
        }
        if nan {
            v[q] = F32_NAN_BITS;
        }
    }
    st[ST_FLAGS] = select(0u, FLAG_NAN, nan);
    st[ST_INSIDE] = all;
    st[ST_OVF] = 0u;
    st[ST_SEL0] = v.x;
    st[ST_SEL1] = v.y;
    // Through variables: the bits reach the stores at run time, never as a constant NaN.
    var r = median_finish_bits(p.n, v.x, v.y, vec2<u32>(p.ln_hi, p.ln_lo));
    out[0] = bitcast<f32>(r.x);
    out[1] = bitcast<f32>(r.y);
}
