// median_control: the one-workgroup stages of the device median (src/median/device.rs), each
// a dispatch of (1, 1, 1) recorded between the passes over the pairs, so that the exact
// selection of algorithms.md §1 runs inside the step's encoder with no readback. The stages
// read what the passes wrote and leave their results in `st` (common/median_state.wgsl):
//   BEGIN    resets the state; the sample's radix selection targets its bracket positions.
//   PICK     sums select_hist's workgroup histograms of radix round `round` and takes, for
//            each of the two order statistics, the digit that holds its running rank.
//   BRACKET  the sample's two order statistics become the list pass's bracket [lo, hi].
//   PLAN     after pair_bracket's list pass: sums the per-row counts (below lo, inside), checks
//            that the wanted ranks lie inside, and plans where each row's candidates are: in
//            its slots, or (a row that found more than its slots) in the region after them,
//            listed again by pair_row_list (indirect dispatch, x = such rows). Dense offsets
//            for median_gather, and the radix targets (ranks minus the count below lo). Where
//            the bracket missed a rank, or too many rows overflowed, it sets FLAG_NARROW: the
//            narrowing stages' pair_histogram passes then get their workgroups (indirect).
//   NARROW   round r of the fallback (dispatched only with FLAG_NARROW): pair_histogram's
//            HISTOGRAM_BINS bins of the bracket [st[ST_NLO], st[ST_NHI]] in f32 bits; keeps the
//            bin of off-diagonal rank k_q, q = r / NARROW_ROUNDS. Three rounds of 2048 bins take
//            the full range [0, +inf] (2^31 bit patterns) to one value: 2^20, 2^9, then 1.
//   RESOLVE  the two order statistics the median averages into st[ST_SEL0..2] (0 for a
//            diagonal one, NaN bits where a NaN was seen).
// Every sum is of integers, in a fixed order: deterministic.
// Parts: common/median_state.wgsl
// Bindings: 0 uniform MedianParams | 1 st | 2 hist (select_hist's [groups * 513] or
//   pair_histogram's [groups * (HISTOGRAM_BINS + 1)]) | 3 counts [2n]
//   | 4 offsets [n + 1] (the rows' slots)
//   | 5 rowplan [2n] (written: per row, where its candidates are and where they go)
//   | 6 ovf [rows_max] (written: the rows listed again)
// Dispatch: (1, 1, 1); NARROW indirect, (1, 1, 1) only with FLAG_NARROW.
override WG: u32 = 256u;

const BEGIN: u32 = 0u;
const PICK: u32 = 1u;
const BRACKET: u32 = 2u;
const PLAN: u32 = 3u;
const NARROW: u32 = 4u;
const RESOLVE: u32 = 5u;
const INF_BITS: u32 = 0x7f800000u;
const NAN_BITS: u32 = 0x7fc00000u;

@group(0) @binding(0) var<uniform> p: MedianParams;
@group(0) @binding(1) var<storage, read_write> st: array<u32>;
@group(0) @binding(2) var<storage, read> hist: array<u32>;
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> rowplan: array<u32>;
@group(0) @binding(6) var<storage, read_write> ovf: array<u32>;

// The narrowing rounds a statistic (device.rs mirrors it): HISTOGRAM_BINS (common/params.wgsl)
// bins a round take [0, +inf] to one value in three.
const NARROW_ROUNDS: u32 = 3u;

var<workgroup> bins: array<u32, HISTOGRAM_BINS>;
var<workgroup> sh_below: array<u32, 256>;
var<workgroup> sh_inside: array<u32, 256>;
var<workgroup> sh_rows: array<u32, 256>;
var<workgroup> sh_len: array<u32, 256>;
var<workgroup> sh_narrow: bool;

@compute @workgroup_size(WG)
fn median_control(@builtin(local_invocation_index) lid: u32) {
    switch p.stage {
        case 0u: { begin(lid); }
        case 1u: { pick(lid); }
        case 2u: { bracket(lid); }
        case 3u: { plan(lid); }
        case 4u: { narrow(lid); }
        default: { resolve(lid); }
    }
}

fn begin(lid: u32) {
    if lid != 0u {
        return;
    }
    st[ST_FLAGS] = 0u;
    st[ST_NAN] = 0u;
    st[ST_OVF] = 0u;
    st[ST_WHOLE] = 0u;
    st[ST_COUNT] = p.samples;
    st[ST_T0] = select(p.lo_idx, 0u, (p.flags & 4u) != 0u);
    st[ST_T1] = select(p.hi_idx, max(p.samples, 1u) - 1u, (p.flags & 8u) != 0u);
    st[ST_LO] = 0u;
    st[ST_HI] = INF_BITS;
    st[ST_NLO] = 0u;
    st[ST_NHI] = INF_BITS;
    for (var a = 0u; a < 3u; a++) {
        st[ST_IND_ROWS + a] = select(0u, 1u, a > 0u);
        st[ST_IND_HIST + a] = select(0u, 1u, a > 0u);
        st[ST_IND_NARROW + a] = select(0u, 1u, a > 0u);
    }
}

fn pick(lid: u32) {
    // Digit totals of both order statistics (thread b owns digit b), summed in group order.
    var t0 = 0u;
    var t1 = 0u;
    for (var g = 0u; g < p.groups; g++) {
        t0 += hist[g * 513u + lid];
        t1 += hist[g * 513u + 256u + lid];
    }
    bins[lid] = t0;
    bins[256u + lid] = t1;
    workgroupBarrier();
    if lid != 0u {
        return;
    }
    if p.round == 0u {
        var nans = 0u;
        for (var g = 0u; g < p.groups; g++) {
            nans += hist[g * 513u + 512u];
        }
        st[ST_NAN] = st[ST_NAN] + nans;
    }
    let shift = 24u - 8u * p.round;
    // select_hist counted once where both prefixes agreed (its mask keeps the higher digits).
    let mask = select(0xffffffffu << (32u - 8u * p.round), 0u, p.round == 0u);
    let same = (st[ST_P0] & mask) == (st[ST_P1] & mask);
    for (var q = 0u; q < 2u; q++) {
        var rank = st[ST_R0 + q];
        var prefix = st[ST_P0 + q];
        if p.round == 0u {
            rank = st[ST_T0 + q];
            prefix = 0u;
        }
        let h = select(q, 0u, same);
        var acc = 0u;
        var b = 0u;
        loop {
            let c = bins[h * 256u + b];
            if rank < acc + c || b == 255u {
                break;
            }
            acc += c;
            b += 1u;
        }
        st[ST_R0 + q] = rank - min(acc, rank);
        st[ST_P0 + q] = prefix | (b << shift);
    }
}

fn bracket(lid: u32) {
    if lid != 0u || p.samples == 0u {
        return;
    }
    let lo = select(st[ST_P0], 0u, (p.flags & 4u) != 0u);
    let hi = select(st[ST_P1], INF_BITS, (p.flags & 8u) != 0u);
    st[ST_LO] = lo;
    st[ST_HI] = max(hi, lo);
    if st[ST_NAN] > 0u {
        st[ST_FLAGS] = st[ST_FLAGS] | FLAG_NAN;
    }
}

fn plan(lid: u32) {
    // Thread lid owns rows [r0, r1): its sums, then (after lane 0's scan) its writes.
    let per = (p.n + WG - 1u) / WG;
    let r0 = min(lid * per, p.n);
    let r1 = min(r0 + per, p.n);
    var below = 0u;
    var inside = 0u;
    var rows = 0u;
    var len = 0u;
    for (var i = r0; i < r1; i++) {
        let c = counts[2u * i + 1u];
        below += counts[2u * i];
        inside += c;
        if c > offsets[i + 1u] - offsets[i] {
            rows += 1u;
            len += c;
        }
    }
    sh_below[lid] = below;
    sh_inside[lid] = inside;
    sh_rows[lid] = rows;
    sh_len[lid] = len;
    workgroupBarrier();
    if lid == 0u {
        // Exclusive prefixes, in thread order (the rows' order).
        var tb = 0u;
        var ti = 0u;
        var tr = 0u;
        var tl = 0u;
        var long = false;
        for (var t = 0u; t < WG; t++) {
            let b = sh_below[t];
            let c = sh_inside[t];
            let r = sh_rows[t];
            let l = sh_len[t];
            sh_below[t] = tb;
            sh_inside[t] = ti;
            sh_rows[t] = tr;
            sh_len[t] = tl;
            tb += b;
            ti += c;
            tr += r;
            // The region's total, saturated (a sum past 2^32 must not wrap into range).
            long = long || tl + l < tl;
            tl += l;
        }
        var flags = st[ST_FLAGS];
        if p.samples == 0u && tb + ti != p.m {
            // Every pair was in [0, +inf]: the missing ones are NaN.
            flags |= FLAG_NAN;
        }
        if p.k0 < tb || p.k1 >= tb + ti || tr > p.rows_max || tl > p.region || long {
            flags |= FLAG_NARROW;
        }
        let narrowing = (flags & FLAG_NARROW) != 0u;
        st[ST_FLAGS] = flags;
        st[ST_BELOW] = tb;
        st[ST_INSIDE] = ti;
        st[ST_OVF] = tr;
        st[ST_COUNT] = select(ti, 0u, narrowing);
        st[ST_T0] = p.k0 - min(tb, p.k0);
        st[ST_T1] = p.k1 - min(tb, p.k1);
        st[ST_IND_ROWS] = select(tr, 0u, narrowing);
        st[ST_IND_ROWS + 1u] = p.round;
        st[ST_IND_HIST] = select(0u, p.groups, narrowing);
        st[ST_IND_NARROW] = select(0u, 1u, narrowing);
        st[ST_NLO] = 0u;
        st[ST_NHI] = INF_BITS;
        sh_narrow = narrowing;
    }
    workgroupBarrier();
    if sh_narrow {
        return;
    }
    var dst = sh_inside[lid];
    var row = sh_rows[lid];
    var region = p.slot_total + sh_len[lid];
    for (var i = r0; i < r1; i++) {
        let c = counts[2u * i + 1u];
        var src = offsets[i];
        if c > offsets[i + 1u] - offsets[i] {
            src = region;
            region += c;
            ovf[row] = i;
            st[ST_CURSOR + row] = 0u;
            row += 1u;
        }
        rowplan[2u * i] = src;
        rowplan[2u * i + 1u] = dst;
        dst += c;
    }
}

fn narrow(lid: u32) {
    if (st[ST_FLAGS] & FLAG_NARROW) == 0u {
        return;
    }
    for (var b = lid; b < HISTOGRAM_BINS; b += WG) {
        var t = 0u;
        for (var g = 0u; g < p.groups; g++) {
            t += hist[g * (HISTOGRAM_BINS + 1u) + b];
        }
        bins[b] = t;
    }
    workgroupBarrier();
    if lid != 0u {
        return;
    }
    var below = 0u;
    for (var g = 0u; g < p.groups; g++) {
        below += hist[g * (HISTOGRAM_BINS + 1u) + HISTOGRAM_BINS];
    }
    let q = p.round / NARROW_ROUNDS;
    let k = select(p.k0, p.k1, q == 1u);
    let lo = st[ST_NLO];
    let hi = st[ST_NHI];
    let width = (hi - lo) / HISTOGRAM_BINS + 1u;
    var acc = below;
    var b = 0u;
    loop {
        if b == HISTOGRAM_BINS {
            break;
        }
        if k < acc + bins[b] {
            break;
        }
        acc += bins[b];
        b += 1u;
    }
    if k < below || b == HISTOGRAM_BINS {
        // Pairs are missing from [0, +inf]: NaN distances.
        st[ST_FLAGS] = st[ST_FLAGS] | FLAG_NAN;
        return;
    }
    let off = b * width;
    let top = min(off + width - 1u, hi - lo);
    if p.round % NARROW_ROUNDS == NARROW_ROUNDS - 1u {
        // Width 1 by now: the bin is one value.
        st[ST_V0 + q] = lo + off;
        st[ST_NLO] = 0u;
        st[ST_NHI] = INF_BITS;
    } else {
        st[ST_NLO] = lo + off;
        st[ST_NHI] = lo + top;
    }
}

fn resolve(lid: u32) {
    if lid != 0u {
        return;
    }
    let flags = st[ST_FLAGS];
    for (var q = 0u; q < 2u; q++) {
        var v = select(st[ST_P0 + q], st[ST_V0 + q], (flags & FLAG_NARROW) != 0u);
        if ((p.flags >> q) & 1u) != 0u {
            v = 0u;
        }
        if (flags & FLAG_NAN) != 0u {
            v = NAN_BITS;
        }
        st[ST_SEL0 + q] = v;
    }
}
