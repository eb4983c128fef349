// pair_histogram: one pass over the implicit upper triangle of squared distances
// D_ij = |x_i - x_j|^2, j > i, counting per workgroup how many lie below lo and how many fall
// in each of BINS equal bins of [lo, hi] in the bit pattern of f32 (monotone for
// non-negative floats): bin = (bits(D) - bits(lo)) / width, width = (bits(hi) - bits(lo)) / BINS + 1.
//   hist[g * (BINS + 1) + b] = this workgroup's count in bin b; slot BINS = count below lo.
// The median uses it when a bracket holds more candidates than its list: one pass narrows the
// bracket about BINS-fold, where halving needed log2(BINS) passes.
// Counts are integers: the workgroup-memory atomics give the same totals in any order, and each
// workgroup writes only its own slots, so the result is deterministic (no float atomics).
// Distances use the same expression, in the same order, as pair_sample and pair_bracket.
// Rows: 4 per invocation (strided by WG), as pair_bracket; coordinates in registers for
// d <= 4, looped beyond. Column chunks: one dispatch per chunk [j_begin, j_end); flags bit 0 =
// first chunk (write), later chunks add.
// Parts: common/params.wgsl
// Bindings: 0 uniform SelectParams | 1 x [n,d] | 2 hist [groups * (BINS + 1)] (written)
// Dispatch: (ceil(n / (4 WG)), 1, 1).
override WG: u32 = 64u;
override D: u32 = 2u;
const BINS: u32 = HISTOGRAM_BINS;

@group(0) @binding(0) var<uniform> p: SelectParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;

var<workgroup> local: array<atomic<u32>, BINS>;

fn coord(r: vec4<u32>, a: u32) -> vec4<f32> {
    return vec4<f32>(x[r.x * D + a], x[r.y * D + a], x[r.z * D + a], x[r.w * D + a]);
}

@compute @workgroup_size(WG)
fn pair_histogram(@builtin(local_invocation_id) lid3: vec3<u32>,
                  @builtin(workgroup_id) wid: vec3<u32>) {
    let lid = lid3.x;
    for (var b = lid; b < BINS; b += WG) {
        atomicStore(&local[b], 0u);
    }
    workgroupBarrier();
    let base = wid.x * WG * 4u + lid;
    let ra = vec4<u32>(base, base + WG, base + 2u * WG, base + 3u * WG);
    let rc = min(ra, vec4<u32>(p.n - 1u));
    let live = ra < vec4<u32>(p.n);
    let lo_bits = bitcast<u32>(p.lo);
    let width = (bitcast<u32>(p.hi) - lo_bits) / BINS + 1u;
    var x0 = vec4<f32>(0.0);
    var x1 = vec4<f32>(0.0);
    var x2 = vec4<f32>(0.0);
    var x3 = vec4<f32>(0.0);
    if D <= 4u {
        x0 = coord(rc, 0u);
        if D > 1u { x1 = coord(rc, 1u); }
        if D > 2u { x2 = coord(rc, 2u); }
        if D > 3u { x3 = coord(rc, 3u); }
    }
    var below = vec4<u32>(0u);
    for (var t = max(p.j_begin, base + 1u); t < p.j_end; t++) {
        let o = t * D;
        var s: vec4<f32>;
        if D <= 4u {
            let e0 = x0 - x[o];
            s = e0 * e0;
            if D > 1u { let e = x1 - x[o + 1u]; s = fma(e, e, s); }
            if D > 2u { let e = x2 - x[o + 2u]; s = fma(e, e, s); }
            if D > 3u { let e = x3 - x[o + 3u]; s = fma(e, e, s); }
        } else {
            let e0 = coord(rc, 0u) - x[o];
            s = e0 * e0;
            for (var a = 1u; a < D; a++) {
                let e = coord(rc, a) - x[o + a];
                s = fma(e, e, s);
            }
        }
        let mine = live & (vec4<u32>(t) > ra);
        let lt = mine & (s < vec4<f32>(p.lo));
        let inb = mine & (s >= vec4<f32>(p.lo)) & (s <= vec4<f32>(p.hi));
        below += select(vec4<u32>(0u), vec4<u32>(1u), lt);
        for (var q = 0u; q < 4u; q++) {
            if inb[q] {
                atomicAdd(&local[(bitcast<u32>(s[q]) - lo_bits) / width], 1u);
            }
        }
    }
    workgroupBarrier();
    let at = wid.x * (BINS + 1u);
    let first = (p.flags & 1u) != 0u;
    for (var b = lid; b < BINS; b += WG) {
        let v = atomicLoad(&local[b]);
        if first { hist[at + b] = v; } else { hist[at + b] = hist[at + b] + v; }
    }
    // The below-lo count: this invocation's four rows, summed per workgroup in lid order by
    // a second pass through workgroup memory (slot 0 reused after a barrier).
    workgroupBarrier();
    if lid == 0u { atomicStore(&local[0], 0u); }
    workgroupBarrier();
    atomicAdd(&local[0], below.x + below.y + below.z + below.w);
    workgroupBarrier();
    if lid == 0u {
        let v = atomicLoad(&local[0]);
        if first { hist[at + BINS] = v; } else { hist[at + BINS] = hist[at + BINS] + v; }
    }
}
