// median_small: the whole device median after the list pass, in one workgroup and one
// dispatch, where every pair was listed (M = n(n - 1)/2 pairs, at exact offsets, so the list is
// dense): on llvmpipe each dispatch costs tens of microseconds to start, which at these sizes
// is much of the median. It does what median_control's PLAN, select_small, RESOLVE and
// median_finish do on the longer path:
//   - sums the rows' counts: every pair lies in [0, +inf], so fewer than M is NaN;
//   - selects the two off-diagonal order statistics k0 <= k1 (common/radix_small.wgsl);
//     past 2^16 pairs (p.seg > 0) a filter runs first, in three dispatches: stage 0 (this
//     kernel, p.stage = 0) brackets the targets from a stride sample of the list,
//     median_filter counts every pair against the bracket across workgroups and keeps those
//     inside (about a twentieth) in per-invocation segments, and stage 1 (p.stage = 1)
//     gathers them in order and selects among them. A bracket that misses a target, or a
//     segment that overflows, leaves stage 1 to select from the whole list: the same result,
//     slower;
//     Where the list is selected directly (up to 2^16 pairs), from the second selection on,
//     the first bracket is a guess: the previous selection's statistics ± a relative width
//     that adapts, step by step, to hold about RADIX_GUESS_INSIDE values
//     (common/radix_small.wgsl); where it misses a rank or holds too many, the stride
//     sample's bracket follows, and the next selection does not guess;
//   - puts them (0 for a diagonal one, NaN bits after a NaN) in st[ST_SEL0..2], with the
//     candidates and flags the host reads when asked, and keeps them as the next guess
//     (st[ST_PREV0 ..= ST_GUESSES]);
//   - writes (h, 1/h) from them as median_finish does (softf64: the host's f64, bit for bit).
// Parts: common/params.wgsl, common/median_state.wgsl, common/softf64.wgsl,
//   common/radix_small.wgsl
// Bindings: 0 uniform MedianParams | 1 vals [m] (the list, f32 bits) | 2 scratch
//   (median_filter's layout; stage 1 writes the gathered values and offsets) | 3 counts [2n]
//   | 4 st | 5 out [2] = (h, 1/h) (written)
// Dispatch: (1, 1, 1), with p.stage 0, then median_filter, then p.stage 1 where p.seg > 0.
@group(0) @binding(0) var<uniform> p: MedianParams;
// Bindings 1 and 2, `vals` and `scratch`, and the override WG are common/radix_small.wgsl's.
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> st: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> sums: array<u32, 256>;
// The filter's totals: below the bracket, inside it, NaN patterns, segments overflowed.
var<workgroup> filter_tot: vec4<u32>;
// The previous selection (st[ST_PREV0 ..= ST_PREV_W]), read once, uniform.
var<workgroup> prev_st: vec4<u32>;

// The previous selection's statistics, whether they make a guess (ST_PREV_OK) and the
// bracket's width, as the state holds them.
fn previous(lid: u32) -> vec4<u32> {
    if lid == 0u {
        prev_st = vec4<u32>(st[ST_PREV0], st[ST_PREV1], st[ST_PREV_OK], st[ST_PREV_W]);
    }
    return workgroupUniformLoad(&prev_st);
}

// Stage 0 of the filter (p.seg > 0): the bracket, from a stride sample of the list, into
// st[ST_LO], st[ST_HI] for median_filter (sized for its segments, not for radix_buf). No
// guess here: one that missed would leave stage 1 to select from the whole list in one
// workgroup.
fn bracket_stage(lid: u32, targets: vec2<u32>) {
    let br = radix_bracket(lid, p.m, targets, 1e9);
    if lid == 0u {
        st[ST_LO] = br.x;
        st[ST_HI] = br.y;
    }
}

// Stage 1 (after median_filter): the filter's totals, its segments gathered in invocation
// order behind them, and the selection among those (targets less the pairs below).
fn filtered(lid: u32, targets: vec2<u32>) -> RadixResult {
    let seg = p.seg;
    let total = p.groups * WG;
    let behind = total * (seg + 1u);
    let at = behind + total * seg;
    if lid == 0u {
        var tot = vec4<u32>(0u);
        for (var t = 0u; t < total; t++) {
            let c = scratch[at + 4u * t + 1u];
            scratch[at + 4u * t + 3u] = tot.y;
            tot += vec4<u32>(scratch[at + 4u * t], c, scratch[at + 4u * t + 2u], u32(c > seg));
        }
        filter_tot = tot;
    }
    storageBarrier();
    let tot = workgroupUniformLoad(&filter_tot);
    if targets.x < tot.x || targets.y >= tot.x + tot.y || tot.w > 0u {
        var whole = radix_rounds(lid, p.m, targets, false, 0u, 0xffffffffu, 0u, 0u);
        whole.whole = 1u;
        return whole;
    }
    for (var t = lid; t < total; t += WG) {
        let c = scratch[at + 4u * t + 1u];
        let to = behind + scratch[at + 4u * t + 3u];
        for (var j = 0u; j < c; j++) {
            scratch[to + j] = scratch[t * (seg + 1u) + j];
        }
    }
    storageBarrier();
    workgroupBarrier();
    radix_gathered = true;
    radix_at = behind;
    var r = radix_select_small(lid, tot.y, targets - vec2<u32>(tot.x), vec2<u32>(0u), false);
    r.nans = tot.z;
    return r;
}

@compute @workgroup_size(WG)
fn median_small(@builtin(local_invocation_index) lid: u32) {
    let targets = vec2<u32>(p.k0, p.k1);
    if p.stage == 0u && p.seg > 0u {
        bracket_stage(lid, targets);
        return;
    }
    // Every pair's count, in row order per invocation, then in invocation order.
    var listed = 0u;
    for (var i = lid; i < p.n; i += WG) {
        listed += counts[2u * i] + counts[2u * i + 1u];
    }
    sums[lid] = listed;
    let g = previous(lid);
    // Where the list is selected directly, and not in the tests that empty every bracket.
    let guessed = g.z == 1u && p.seg == 0u && RADIX_SIGMAS >= 0.0;
    var picked: RadixResult;
    if p.seg == 0u {
        picked = radix_select_small(lid, p.m, targets, radix_guess(g.xy, bitcast<f32>(g.w)),
                                    guessed);
    } else {
        picked = filtered(lid, targets);
    }
    if lid != 0u {
        return;
    }
    // Invocation 0 alone sums the counts (the selection's barriers ordered the writes above).
    var all = 0u;
    for (var t = 0u; t < WG; t++) {
        all += sums[t];
    }
    let nan = all != p.m;
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
    st[ST_WHOLE] = picked.whole;
    st[ST_SEL0] = v.x;
    st[ST_SEL1] = v.y;
    // The next selection's guess: these statistics, and a width that aims its bracket at
    // RADIX_GUESS_INSIDE values (scaled by the share this one held, within a factor of 2;
    // four times wider after a missed rank, four times narrower after too many values).
    // After a guess that failed the next selection does not guess (ST_PREV_OK = 2, the width
    // kept for the one after), so particles that move far each step pay its wasted count
    // pass on every other step at most. No guess after a NaN (ST_PREV_OK = 0).
    let was = bitcast<f32>(g.w);
    var w = RADIX_GUESS_W0;
    var next = 1u;
    if guessed {
        switch picked.guessed {
            case 1u: {
                let aim = RADIX_GUESS_INSIDE / f32(max(picked.inside, 1u));
                w = was * clamp(aim, 0.5, 2.0);
                st[ST_GUESSES] = st[ST_GUESSES] + 1u;
            }
            case 2u: {
                w = was * 4.0;
                next = 2u;
            }
            default: {
                w = was * 0.25;
                next = 2u;
            }
        }
    } else if g.z == 2u {
        w = was;
    }
    if nan {
        next = 0u;
    }
    st[ST_PREV0] = picked.bits.x;
    st[ST_PREV1] = picked.bits.y;
    st[ST_PREV_OK] = next;
    st[ST_PREV_W] = bitcast<u32>(clamp(w, 1e-6, 1.0));
    // Through variables: the bits reach the stores at run time, never as a constant NaN.
    var r = median_finish_bits(p.n, v.x, v.y, vec2<u32>(p.ln_hi, p.ln_lo));
    out[0] = bitcast<f32>(r.x);
    out[1] = bitcast<f32>(r.y);
}
