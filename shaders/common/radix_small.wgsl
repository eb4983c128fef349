// One workgroup's exact radix selection of two order statistics (the device median's
// select_small and median_small): the values whose f32 bit patterns (monotone for non-negative
// floats) are vals[0 .. count), the ranks `targets` (ascending), in u32 order of the bits, 8
// bits a round from the top; integer counts in workgroup memory (the same totals in any order:
// deterministic), one histogram while both statistics share their prefix. The values are this
// part's binding 1, `vals` (the kernels that include it bind their list there), or, once a
// kernel sets `radix_gathered`, its binding 2, `scratch`, from `radix_at` on (median_small's
// gathered values, or its own list of every pair; select_small binds a placeholder there);
// every invocation of the workgroup (WG of them, at most 256) calls it (its barriers).
//
// Lists longer than RADIX_CAP are bracketed first, because a histogram costs an atomic add per
// counted value, and on llvmpipe one costs tens of nanoseconds (a loop over the lanes, run
// whether or not a lane takes the branch) while a load and two compares cost a few: a stride
// sample (radix_sample_size) is selected at the targets' positions ± (RADIX_SIGMAS·σ + 2),
// every value is counted against that bracket [lo, hi] in registers, the ones inside are
// compacted into workgroup memory, and the radix rounds run over those only, from the first
// byte where lo and hi differ. Where the bracket misses a target or holds more than RADIX_CAP
// values (a stride sample that misleads, or ties), the radix runs over every value: the same
// result, only slower.
// Returns the two values' bits, their ranks within their final prefix (0 when the ranks were
// in range) and, valid in invocation 0, the NaN patterns among the values and whether the
// bracket was bypassed.
override WG: u32 = 256u;
// The bracket's half-width in standard deviations of a sample rank (tests set it below zero:
// an empty bracket, so the selection over every value runs).
override RADIX_SIGMAS: f32 = 3.0;

@group(0) @binding(1) var<storage, read> vals: array<u32>;
@group(0) @binding(2) var<storage, read_write> scratch: array<u32>;

// Where radix_load reads: vals, or scratch from radix_at on.
var<private> radix_gathered: bool = false;
var<private> radix_at: u32 = 0u;

fn radix_load(e: u32) -> u32 {
    if radix_gathered {
        return scratch[radix_at + e];
    }
    return vals[e];
}

// The largest stride sample and the most values the bracket may hold: both live in radix_buf
// (with one slot past them for the compaction's discarded writes). 16 KiB of workgroup memory
// in all, the least WebGPU grants.
const RADIX_SAMPLE: u32 = 3072u;
const RADIX_CAP: u32 = 3200u;

var<workgroup> radix_hist: array<atomic<u32>, 513>;
var<workgroup> radix_chosen: array<u32, 4>;
// The stride sample; then each invocation's (below, inside, NaN) counts and the inside values'
// offsets; then the inside values.
var<workgroup> radix_buf: array<u32, 3201>;
var<workgroup> radix_tot: vec3<u32>;
var<workgroup> radix_bracket_u: vec2<u32>;

struct RadixResult {
    bits: vec2<u32>,
    rank: vec2<u32>,
    nans: u32,
    // 1 where a list longer than RADIX_CAP was selected over every value (its bracket missed
    // a target or held too many values), else 0: the tests check that they force it.
    whole: u32,
    // Where the caller guessed a bracket (radix_select_guessed): 1 where it held both ranks
    // (and `inside`, the values it held), 2 where it missed a rank, 3 where it held too many.
    guessed: u32,
    inside: u32,
}

// The radix rounds from `first` (0..3) with `start` (the bits above it, shared by both
// statistics), over radix_buf (`sampled`) or radix_load's values, counting only the values in
// [lo, hi].
fn radix_rounds(
    lid: u32,
    count: u32,
    targets: vec2<u32>,
    sampled: bool,
    lo: u32,
    hi: u32,
    first: u32,
    start: u32,
) -> RadixResult {
    var rank = targets;
    var prefix = vec2<u32>(start);
    var mask = select(0u, 0xffffffffu << (32u - 8u * first), first > 0u);
    var nans = 0u;
    for (var round = first; round < 4u; round++) {
        let shift = 24u - 8u * round;
        for (var b = lid; b < 513u; b += WG) {
            atomicStore(&radix_hist[b], 0u);
        }
        workgroupBarrier();
        let same = prefix.x == prefix.y;
        // One branch with one atomic a value (llvmpipe runs every branch body, lane by lane
        // where it holds an atomic, whatever the lanes decide): a value carries at most one of
        // two different prefixes. NaN patterns counted in registers, added once.
        var nan = 0u;
        if sampled {
            for (var e = lid; e < count; e += WG) {
                let bits = radix_buf[e];
                let m0 = bits >= lo && bits <= hi && (bits & mask) == prefix.x;
                let m1 = bits >= lo && bits <= hi && !same && (bits & mask) == prefix.y;
                if m0 || m1 {
                    atomicAdd(&radix_hist[select(256u, 0u, m0) + ((bits >> shift) & 255u)], 1u);
                }
            }
        } else {
            for (var e = lid; e < count; e += WG) {
                let bits = radix_load(e);
                let m0 = bits >= lo && bits <= hi && (bits & mask) == prefix.x;
                let m1 = bits >= lo && bits <= hi && !same && (bits & mask) == prefix.y;
                if m0 || m1 {
                    atomicAdd(&radix_hist[select(256u, 0u, m0) + ((bits >> shift) & 255u)], 1u);
                }
                nan += u32(round == 0u && (bits & 0x7fffffffu) > 0x7f800000u);
            }
        }
        if round == 0u && nan > 0u {
            atomicAdd(&radix_hist[512u], nan);
        }
        workgroupBarrier();
        if lid == 0u {
            if round == 0u {
                nans = atomicLoad(&radix_hist[512u]);
            }
            for (var q = 0u; q < 2u; q++) {
                let h = select(q, 0u, same);
                var acc = 0u;
                var b = 0u;
                loop {
                    let c = atomicLoad(&radix_hist[h * 256u + b]);
                    if rank[q] < c + acc || b == 255u {
                        break;
                    }
                    acc += c;
                    b += 1u;
                }
                radix_chosen[2u * q] = prefix[q] | (b << shift);
                radix_chosen[2u * q + 1u] = rank[q] - min(acc, rank[q]);
            }
        }
        workgroupBarrier();
        prefix = vec2<u32>(radix_chosen[0], radix_chosen[2]);
        rank = vec2<u32>(radix_chosen[1], radix_chosen[3]);
        mask |= 255u << shift;
        workgroupBarrier();
    }
    return RadixResult(prefix, rank, nans, 0u, 0u, 0u);
}

// The stride sample's size for a bracket of count values sized for `cap` inside: the smallest
// of 1024, 2048 and 3072 whose RADIX_SIGMAS·σ + 2 margin fits (its selection costs an atomic
// add per value on llvmpipe, so no more than needed).
fn radix_sample_size(count: u32, cap: f32) -> u32 {
    for (var s = 1024u; s < RADIX_SAMPLE; s += 1024u) {
        let fs = f32(s);
        if 0.5 * (cap * fs / f32(count) - 8.0) >= RADIX_SIGMAS * 0.5 * sqrt(fs) + 2.0 {
            return s;
        }
    }
    return RADIX_SAMPLE;
}

// The sample position `side` (−1: below, +1: above) of the bracket around rank t of count, in
// a sample of s: RADIX_SIGMAS·σ + 2 positions out, or fewer where the bracket would hold more
// than `cap` values.
fn radix_position(t: u32, count: u32, side: f32, cap: f32, s: u32) -> i32 {
    let fs = f32(s);
    let q = f32(t) / f32(count);
    let fits = 0.5 * (cap * fs / f32(count) - 8.0);
    let margin = min(RADIX_SIGMAS * sqrt(fs * q * (1.0 - q)) + 2.0, fits);
    return i32(floor(q * fs + side * margin));
}

// The bracket [lo, hi] (bit patterns) around the ranks `targets` of the count values that
// radix_load reads, from a stride sample of them (radix_sample_size), sized for `cap` values
// inside. Not uniform in the analysis's sense (it comes through workgroup memory).
fn radix_bracket(lid: u32, count: u32, targets: vec2<u32>, cap: f32) -> vec2<u32> {
    let s = radix_sample_size(count, cap);
    let stride = count / s;
    let rest = count % s;
    for (var i = lid; i < s; i += WG) {
        radix_buf[i] = radix_load(i * stride + (i * rest) / s);
    }
    workgroupBarrier();
    let plo = radix_position(targets.x, count, -1.0, cap, s);
    let phi = radix_position(targets.y, count, 1.0, cap, s) + 1;
    let at = vec2<u32>(u32(clamp(plo, 0, i32(s) - 1)), u32(clamp(phi, 0, i32(s) - 1)));
    let picked = radix_rounds(lid, s, at, true, 0u, 0xffffffffu, 0u, 0u);
    return vec2<u32>(
        select(picked.bits.x, 0u, plo < 0),
        select(picked.bits.y, 0xffffffffu, phi >= i32(s)),
    );
}

// The radix rounds over the values in `bracket` only (it holds the targets' ranks once the
// `below` values under it are taken off), from the first byte where its ends differ.
fn radix_inside(lid: u32, count: u32, targets: vec2<u32>, bracket: vec2<u32>, below: u32,
                sampled: bool) -> RadixResult {
    let first = min(countLeadingZeros(bracket.x ^ bracket.y) / 8u, 3u);
    let start = select(0u, bracket.x & (0xffffffffu << (32u - 8u * first)), first > 0u);
    let t = targets - vec2<u32>(below);
    return radix_rounds(lid, count, t, sampled, bracket.x, bracket.y, first, start);
}

// Every invocation's three counts `c`, summed over the workgroup (returned, uniform), and in
// radix_buf[3 lid + 1] each invocation's offset: the sum of the second counts of the
// invocations before it (radix_try's compaction, median_small's gather). Every invocation
// calls it; its writes to radix_buf need radix_buf's earlier readers to have ended at a
// barrier, and a caller reads its offset before the next write to radix_buf's first 3 WG
// words.
fn radix_lane_totals(lid: u32, c: vec3<u32>) -> vec3<u32> {
    radix_buf[3u * lid] = c.x;
    radix_buf[3u * lid + 1u] = c.y;
    radix_buf[3u * lid + 2u] = c.z;
    workgroupBarrier();
    if lid == 0u {
        var tot = vec3<u32>(0u);
        for (var t = 0u; t < WG; t++) {
            let v = vec3<u32>(radix_buf[3u * t], radix_buf[3u * t + 1u], radix_buf[3u * t + 2u]);
            radix_buf[3u * t + 1u] = tot.y;
            tot += v;
        }
        radix_tot = tot;
    }
    return workgroupUniformLoad(&radix_tot);
}

struct RadixTry {
    ok: bool,
    r: RadixResult,
}

// The values radix_load reads (e = lid, lid + WG, ... in each invocation) counted against
// the bracket `br` in registers (no branches, no atomics): radix_lane_totals' (below, inside,
// NaN) sums, each invocation's offset for radix_try's compaction left in radix_buf. A caller
// that makes the values itself counts them as it writes them instead (median_small).
fn radix_count(lid: u32, count: u32, br: vec2<u32>) -> vec3<u32> {
    var c = vec3<u32>(0u);
    for (var e = lid; e < count; e += WG) {
        c += radix_counts(radix_load(e), br);
    }
    // (No barrier needed before radix_lane_totals' writes: radix_buf's earlier readers, a
    // failed attempt's or the stride sample's radix rounds, each end at a barrier.)
    return radix_lane_totals(lid, c);
}

// One value's (below, inside, NaN) against the bracket `br` (bit patterns, both ends in).
fn radix_counts(bits: u32, br: vec2<u32>) -> vec3<u32> {
    return vec3<u32>(u32(bits < br.x), u32(bits >= br.x && bits <= br.y),
                     u32((bits & 0x7fffffffu) > 0x7f800000u));
}

// Selects within the bracket `br` where it holds both ranks and at most RADIX_CAP values:
// `sums` and the offsets as radix_count leaves them; the values inside compacted into
// radix_buf, the radix rounds over those. `ok` false (and nothing selected) where it does
// not; the caller then selects over every value. `br` must be the same in every invocation
// (invocation 0's is the one the compaction uses), though the analysis need not see it as
// uniform.
fn radix_try(lid: u32, count: u32, targets: vec2<u32>, br: vec2<u32>, sums: vec3<u32>)
    -> RadixTry {
    var at_out = radix_buf[3u * lid + 1u];
    if lid == 0u {
        radix_bracket_u = br;
    }
    // Uniform from here: the barriers below depend on it (and its load orders the read above
    // before the writes below).
    let bracket = workgroupUniformLoad(&radix_bracket_u);
    var none: RadixResult;
    if targets.x < sums.x || targets.y >= sums.x + sums.y || sums.y > RADIX_CAP {
        none.guessed = select(3u, 2u, targets.x < sums.x || targets.y >= sums.x + sums.y);
        return RadixTry(false, none);
    }
    // The inside values into radix_buf, each invocation's in its order at its offset; the
    // others written to the spare slot past RADIX_CAP (a store without a branch: llvmpipe
    // runs a branch's stores lane by lane).
    for (var e = lid; e < count; e += WG) {
        let bits = radix_load(e);
        let ok = bits >= bracket.x && bits <= bracket.y;
        radix_buf[select(RADIX_CAP, at_out, ok)] = bits;
        at_out += u32(ok);
    }
    workgroupBarrier();
    var r = radix_inside(lid, sums.y, targets, bracket, sums.x, true);
    r.nans = sums.z;
    r.inside = sums.y;
    return RadixTry(true, r);
}

// The two order statistics of the `count` values radix_load reads: within a stride sample's
// bracket past RADIX_CAP values, else (or where that bracket misses) over every value.
fn radix_select_small(lid: u32, count: u32, targets: vec2<u32>) -> RadixResult {
    if count <= RADIX_CAP || count > (1u << 22u) {
        return radix_rounds(lid, count, targets, false, 0u, 0xffffffffu, 0u, 0u);
    }
    let br = radix_bracket(lid, count, targets, f32(RADIX_CAP));
    let t = radix_try(lid, count, targets, br, radix_count(lid, count, br));
    if t.ok {
        return t.r;
    }
    var r = radix_rounds(lid, count, targets, false, 0u, 0xffffffffu, 0u, 0u);
    r.whole = 1u;
    return r;
}

// radix_select_small, within the bracket `guess` first where `guessed` (uniform; median_small
// at p.round = 2: the previous selection's statistics ± a width), `sums`
// the values' counts against it as radix_count leaves them: where particles move little
// between steps it holds both ranks and a few hundred values, and the stride sample's radix
// rounds (four atomic adds for each of its 1024-3072 values), or up to RADIX_CAP values the
// radix over every value, are not needed. Where it misses, those follow (r.guessed says how
// it fared): a guess changes the work, never the result.
fn radix_select_guessed(lid: u32, count: u32, targets: vec2<u32>, guess: vec2<u32>,
                        guessed: bool, sums: vec3<u32>) -> RadixResult {
    var missed = 0u;
    if guessed && count <= (1u << 22u) {
        let t = radix_try(lid, count, targets, guess, sums);
        if t.ok {
            var r = t.r;
            r.guessed = 1u;
            return r;
        }
        missed = t.r.guessed;
    }
    var r = radix_select_small(lid, count, targets);
    r.guessed = missed;
    return r;
}
