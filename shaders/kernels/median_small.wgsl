// median_small: the whole device median where every pair is listed (M = n(n - 1)/2 <= 2^19
// pairs, n <= 1024), after the list pass or (p.round = 2) alone, in one workgroup: on
// llvmpipe each dispatch costs tens of microseconds to start, which at these sizes is much
// of the median. It does what median_control's PLAN, select_small, RESOLVE and median_finish
// do on the longer path.
// The list pass (pair_bracket, mode 2) lists each row's distances inside the bracket
// [st[ST_LO], st[ST_HI]] at the start of the row's region (n - 1 - i values, at exact
// offsets), counts those below it, and marks a row that met a NaN (bit 31 of its below
// count). The bracket is the one the previous selection left (finish below):
//   - [0, +inf] on the first selection, after a NaN, and in the tests that empty every
//     bracket: every pair is listed, densely, and stage 1 selects among all of them;
//   - else a guess: the previous selection's two statistics ± a relative width that adapts,
//     step by step, to hold about GUESS_INSIDE values. Where it holds both ranks, stage 1
//     gathers the rows' few values and selects among them: no pass over every pair in one
//     workgroup. Where it misses a rank, stage 1 lists every pair itself (list_own, up to
//     device.rs OWN_MISS_WORK pair coordinates M d; p.round = 1) and selects among them,
//     or, past that, sets the bracket to [0, +inf] and the indirect arguments of a second
//     list pass (pair_bracket, mode 1, every row) and of stage 2, which selects among
//     every pair: the same result, slower.
// Up to OWN_WORK pair coordinates, half as many past OWN_PAIRS pairs (device.rs;
// p.round = 2), no list pass runs: this
// workgroup computes every pair's distance itself into scratch (list_own) each time,
// counting them against the guess as it writes them, and the guess is its one-workgroup
// selection's first bracket (common/radix_small.wgsl radix_select_guessed). One dispatch
// where there were three (the x texture's packing, the list pass, this); at these sizes
// the list pass is one workgroup too.
// The guess changes the work, never the result: the selection's values are the host
// selector's, bit for bit.
// A row that met a NaN (list_own: a NaN distance) makes the result NaN at once (every pair
// lies in [0, +inf] otherwise).
// Finishing (either stage): the two values (0 for a diagonal one, NaN bits after a NaN) in
// st[ST_SEL0..2], with the candidates and flags the host reads when asked; the next
// selection's guess (st[ST_PREV0 ..= ST_PREV_W]) and bracket (st[ST_LO], st[ST_HI]); and
// (h, 1/h) from them as median_finish computes it (softf64: the host's f64, bit for bit).
// Parts: common/params.wgsl, common/median_state.wgsl, common/softf64.wgsl,
//   common/radix_small.wgsl
// Loops: the radix rounds over every pair run 4 M / WG times an invocation (device.rs checks
//   them against llvmpipe's loop limit); list_own's M / WG pairs, n - 1 row steps and
//   M d / WG coordinates, at most 2^18 / WG + n, stay far within it.
// Bindings: 0 uniform MedianParams | 1 vals [m] (the list, f32 bits; one placeholder
//   word at p.round = 2) | 2 scratch [m] (the
//   gathered values, or list_own's) | 3 counts [2n] | 4 offsets [n + 1] | 5 st |
//   6 out [2] = (h, 1/h) | 7 x [n, d] (list_own's particles)
// Dispatch: (1, 1, 1) with p.stage 1 after the list pass (p.round = 2: alone); past
//   OWN_MISS_WORK, indirect (1 or 0, 1, 1) with p.stage 2 after the second list pass.
@group(0) @binding(0) var<uniform> p: MedianParams;
// Bindings 1 and 2, `vals` and `scratch`, and the override WG are common/radix_small.wgsl's.
@group(0) @binding(3) var<storage, read> counts: array<u32>;
@group(0) @binding(4) var<storage, read> offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> st: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> x: array<f32>;

// The guess's relative half-width at first, and the values it aims to hold: few enough that
// the radix rounds over them cost little, many enough that the statistics' drift between
// steps of particles that move stays inside (a miss costs a second listing of every pair,
// by list_own or the second list pass, and a selection over every pair). The width follows
// the values held, within a factor of 2 a step, four times wider after a miss.
const GUESS_W0: f32 = 0.03125;
const GUESS_INSIDE: f32 = 2048.0;
// Where median_small lists every pair each step (p.round = 2), the guess only spares the
// one-workgroup selection its stride sample, and the radix rounds over the values it holds
// cost an atomic add each: fewer.
const OWN_INSIDE: f32 = 768.0;
// Particles that move steadily move the statistics by about as much each step: the width is
// at least this many times the last step's relative change.
const GUESS_DRIFT: f32 = 3.0;

// The previous selection (st[ST_PREV0 ..= ST_PREV_W]) and the bracket the list pass used
// (st[ST_LO], st[ST_HI]), read once, uniform.
var<workgroup> prev_st: vec4<u32>;
var<workgroup> list_st: vec2<u32>;

// The bracket [lo, hi] (bits) around the statistics `prev` (bits), relative half-width w.
fn guess(prev: vec2<u32>, w: f32) -> vec2<u32> {
    // (w = 1: 0, not inf * 0 = NaN where the statistic is +inf.)
    var lo = select(0.0, max(bitcast<f32>(prev.x) * (1.0 - w), 0.0), w < 1.0);
    var hi = bitcast<f32>(prev.y) * (1.0 + w);
    // No subnormal end: a device that flushes them in compares but not in arithmetic
    // would list values whose bits lie outside the bracket the gathered selection assumes.
    if lo < F32_MIN_NORMAL {
        lo = 0.0;
    }
    hi = max(hi, F32_MIN_NORMAL);
    return vec2<u32>(bitcast<u32>(lo), bitcast<u32>(hi));
}

// The smallest normal f32, 2^-126.
const F32_MIN_NORMAL: f32 = 1.17549435e-38;

// The statistics' relative change from `prev` to `now` (bits), the larger of the two, at most
// 1 (also where it is not finite).
fn drift(prev: vec2<u32>, now: vec2<u32>) -> f32 {
    let a = vec2<f32>(bitcast<f32>(prev.x), bitcast<f32>(prev.y));
    let b = vec2<f32>(bitcast<f32>(now.x), bitcast<f32>(now.y));
    let c = abs(b - a) / max(a, vec2<f32>(1e-30));
    let m = max(c.x, c.y);
    return select(1.0, m, m < 1.0);
}

// Invocation 0 finishes the selection `r` among `among` values (nan: a row met a NaN; hit:
// the guess held both ranks; w: the next guess's width, at least GUESS_DRIFT times the
// statistics' change since `prev` where `moved`; relisted: every pair was listed a second
// time after a missed guess, by the second list pass or by list_own).
fn finish(r: RadixResult, among: u32, nan: bool, hit: bool, w: f32, prev: vec2<u32>,
          moved: bool, relisted: bool) {
    var v = r.bits;
    for (var q = 0u; q < 2u; q++) {
        if ((p.flags >> q) & 1u) != 0u {
            v[q] = 0u;
        }
        if nan {
            v[q] = F32_NAN_BITS;
        }
    }
    st[ST_FLAGS] = select(0u, FLAG_NAN, nan);
    st[ST_INSIDE] = among;
    // After a miss every pair was listed again (the host's result counts a second pass).
    st[ST_OVF] = select(0u, p.n, relisted);
    st[ST_WHOLE] = r.whole;
    st[ST_SEL0] = v.x;
    st[ST_SEL1] = v.y;
    if hit {
        st[ST_GUESSES] = st[ST_GUESSES] + 1u;
    }
    // No guess after a NaN, nor in the tests that empty every bracket.
    let next = !nan && RADIX_SIGMAS >= 0.0;
    var wide = w;
    if moved {
        wide = max(wide, GUESS_DRIFT * drift(prev, r.bits));
    }
    let width = clamp(wide, 1e-6, 1.0);
    st[ST_PREV0] = r.bits.x;
    st[ST_PREV1] = r.bits.y;
    st[ST_PREV_OK] = select(0u, 1u, next);
    st[ST_PREV_W] = bitcast<u32>(width);
    var br = vec2<u32>(0u, F32_INF_BITS);
    if next {
        br = guess(r.bits, width);
    }
    st[ST_LO] = br.x;
    st[ST_HI] = br.y;
    // Through variables: the bits reach the stores at run time, never as a constant NaN.
    var h = median_finish_bits(p.n, v.x, v.y, vec2<u32>(p.ln_hi, p.ln_lo));
    out[0] = bitcast<f32>(h.x);
    out[1] = bitcast<f32>(h.y);
}

// Where median_small lists every pair each step (p.round = 2), invocation 0 finishes with
// the next guess's width from how this one fared (r.guessed).
fn finish_own(lid: u32, r: RadixResult, w: f32, prev: vec2<u32>) {
    if lid != 0u {
        return;
    }
    var wn = GUESS_W0;
    switch r.guessed {
        case 1u: {
            wn = w * clamp(OWN_INSIDE / f32(max(r.inside, 1u)), 0.5, 2.0);
        }
        case 2u: {
            wn = w * 4.0;
        }
        case 3u: {
            wn = w * 0.25;
        }
        default: {}
    }
    // (Not widened by the statistics' change: a width past RADIX_CAP values here makes the
    // guess hold too many, where the gathered selection takes any count.)
    finish(r, p.m, false, r.guessed == 1u, wn, prev, false, false);
}

// Every pair's distance into scratch, in the list's row order (pair e = lid, lid + WG, ...:
// row i, column i + 1 + c), each counted against the bracket `br` as it is written: returns
// the (below, inside, NaN) sums and leaves the offsets in radix_buf, as radix_count would
// over scratch (the selection then reads the distances from scratch).
// D_ij = |x_i - x_j|^2 as every pair pass computes it (pair_bracket.wgsl): r_0 * r_0, then
// fma(r_a, r_a, s) for a = 1..d-1, so the same bits.
fn list_own(lid: u32, br: vec2<u32>) -> vec3<u32> {
    let n = p.n;
    let d = p.d;
    let m = p.m;
    var tally = vec3<u32>(0u);
    var i = 0u;
    var c = lid;
    var left = n - 1u;
    for (var e = lid; e < m; e += WG) {
        while c >= left {
            c -= left;
            i += 1u;
            left -= 1u;
        }
        let xi = i * d;
        let xj = (i + 1u + c) * d;
        let r0 = x[xi] - x[xj];
        var s = r0 * r0;
        for (var a = 1u; a < d; a++) {
            let r = x[xi + a] - x[xj + a];
            s = fma(r, r, s);
        }
        let bits = bitcast<u32>(s);
        scratch[e] = bits;
        tally += radix_counts(bits, br);
        c += WG;
    }
    storageBarrier();
    return radix_lane_totals(lid, tally);
}

// The selection reads its values from scratch (radix_load) from here on.
fn read_scratch() {
    radix_gathered = true;
    radix_at = 0u;
}

@compute @workgroup_size(WG)
fn median_small(@builtin(local_invocation_index) lid: u32) {
    let targets = vec2<u32>(p.k0, p.k1);
    if lid == 0u {
        prev_st = vec4<u32>(st[ST_PREV0], st[ST_PREV1], st[ST_PREV_OK], st[ST_PREV_W]);
        list_st = vec2<u32>(st[ST_LO], st[ST_HI]);
    }
    let prev = workgroupUniformLoad(&prev_st);
    let listed = workgroupUniformLoad(&list_st);
    let w = bitcast<f32>(prev.w);
    if p.stage == 1u && p.round == 0u && lid == 0u {
        // No second list pass nor stage 2 unless the guess misses (below; recorded only at
        // p.round = 0).
        for (var q = 0u; q < 3u; q++) {
            st[ST_IND_ROWS + q] = select(1u, 0u, q == 0u);
            st[ST_IND_NARROW + q] = select(1u, 0u, q == 0u);
        }
    }
    if p.stage == 2u {
        // After a miss: every pair listed again; stage 1 widened the guess.
        let r = radix_select_small(lid, p.m, targets);
        if lid == 0u {
            finish(r, p.m, false, false, w, prev.xy, true, true);
        }
        return;
    }
    let guessed = prev.z == 1u;
    // The guess, or [0, +inf] where there is none (round 2 counts against it; rounds 0 and 1
    // read the list pass's counts against the bracket in the state, `listed`).
    var br = vec2<u32>(0u, F32_INF_BITS);
    if guessed {
        br = guess(prev.xy, w);
    }
    // NaN: a distance that is one (round 2), or a row that met one (the list pass's mark).
    var nan = false;
    var sums = vec3<u32>(0u);
    var tot = vec3<u32>(0u);
    if p.round == 2u {
        // The own list (device.rs OWN_WORK): no list pass; this workgroup lists every pair.
        sums = list_own(lid, br);
        nan = sums.z != 0u;
    } else {
        // The rows' counts (below, inside, rows that met a NaN), each invocation's rows in
        // order, then the invocations in order: the offsets of each invocation's gathered
        // values.
        var rows = vec3<u32>(0u);
        for (var i = lid; i < p.n; i += WG) {
            let b = counts[2u * i];
            rows += vec3<u32>(b & 0x7fffffffu, counts[2u * i + 1u], b >> 31u);
        }
        tot = radix_lane_totals(lid, rows);
        nan = tot.z != 0u;
    }
    if nan {
        var none: RadixResult;
        if lid == 0u {
            finish(none, p.m, true, false, GUESS_W0, prev.xy, false, false);
        }
        return;
    }
    if p.round == 2u {
        // Every pair in scratch, the guess as the selection's first bracket.
        read_scratch();
        let r = radix_select_guessed(lid, p.m, targets, br, guessed, sums);
        finish_own(lid, r, w, prev.xy);
        return;
    }
    if !guessed {
        // Every pair is in the list.
        let r = radix_select_small(lid, p.m, targets);
        if lid == 0u {
            finish(r, p.m, false, false, GUESS_W0, prev.xy, false, false);
        }
        return;
    }
    if targets.x < tot.x || targets.y >= tot.x + tot.y {
        if p.round == 1u {
            // The guess missed a rank, and every pair is little work (up to device.rs
            // OWN_MISS_WORK): this workgroup lists them itself, and selects among them.
            list_own(lid, vec2<u32>(0u, F32_INF_BITS));
            read_scratch();
            let r = radix_select_small(lid, p.m, targets);
            if lid == 0u {
                finish(r, p.m, false, false, w * 4.0, prev.xy, true, true);
            }
            return;
        }
        // The guess missed a rank: every row listed again, then stage 2.
        if lid == 0u {
            st[ST_LO] = 0u;
            st[ST_HI] = F32_INF_BITS;
            st[ST_PREV_W] = bitcast<u32>(clamp(w * 4.0, 1e-6, 1.0));
            st[ST_IND_ROWS] = p.groups;
            st[ST_IND_NARROW] = 1u;
        }
        return;
    }
    // The rows' values inside the guess, gathered in row order per invocation (each
    // invocation's offset read from radix_buf after the barrier above, before the barriers
    // below and the selection that rewrites it).
    var dst = radix_buf[3u * lid + 1u];
    for (var i = lid; i < p.n; i += WG) {
        let c = counts[2u * i + 1u];
        let src = offsets[i];
        for (var j = 0u; j < c; j++) {
            scratch[dst + j] = vals[src + j];
        }
        dst += c;
    }
    storageBarrier();
    workgroupBarrier();
    read_scratch();
    var r: RadixResult;
    if tot.y <= RADIX_CAP {
        // Every value gathered lies in the guess: the radix rounds from the first byte where
        // its ends differ.
        r = radix_inside(lid, tot.y, targets, listed, tot.x, false);
    } else {
        r = radix_select_small(lid, tot.y, targets - vec2<u32>(tot.x));
    }
    if lid == 0u {
        let aim = clamp(GUESS_INSIDE / f32(max(tot.y, 1u)), 0.5, 2.0);
        finish(r, tot.y, false, true, w * aim, prev.xy, true, false);
    }
}
