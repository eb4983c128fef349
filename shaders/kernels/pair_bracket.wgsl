// pair_bracket: one pass over the implicit upper triangle of squared distances
// D_ij = |x_i - x_j|^2, j > i, against a bracket [lo, hi] (both inclusive):
//   counts[2i] = #{j > i : D_ij < lo}, counts[2i+1] = #{j > i : lo <= D_ij <= hi}
//   (mode 2: bit 31 of counts[2i] set where row i met a NaN, common/bracket.wgsl)
//   and, in list mode, the in-bracket D_ij of row i in j order at out[offsets[i] + c], for
//   c < offsets[i+1] - offsets[i] (a row that finds more than its slots counts them all and
//   lists its first ones; the host sees it and lists again, with exact offsets, the row blocks
//   that hold such rows; block0 is the row block of the dispatch's first workgroup).
// No atomics and a fixed order: the selection is deterministic.
// Distances use the same expression, in the same order, as pair_sample and the CPU check:
// s = r_0 * r_0, then s = fma(r_a, r_a, s) for a = 1..d-1, r = x_i - x_j; D_ij = D_ji exactly.
// Each invocation owns 4 rows (strided by WG); for d <= 4 (override D) their coordinates stay in
// registers (pair_bracket_mid and _wide unroll up to 16 and 64; this file loops beyond 4).
// Column chunks: one dispatch per chunk [j_begin, j_end); flags bit 0 = first chunk; later
// chunks continue the counts, and the list cursor is offsets[i] + counts[2i+1].
// Parts: common/params.wgsl, common/bracket.wgsl
// Bindings: 0 uniform SelectParams | 1 x [n,d] | 2 offsets [n+1] | 3 counts [2n] | 4 out [capacity]
// Dispatch: (ceil(n / (4 WG)), 1, 1), or fewer row blocks from block0 on (the host re-lists the
// blocks of rows that overflowed their slots).
override WG: u32 = 64u;
override D: u32 = 2u;

@group(0) @binding(0) var<uniform> p: SelectParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn coord(r: vec4<u32>, a: u32) -> vec4<f32> {
    return vec4<f32>(x[r.x * D + a], x[r.y * D + a], x[r.z * D + a], x[r.w * D + a]);
}

@compute @workgroup_size(WG)
fn pair_bracket(@builtin(local_invocation_id) lid3: vec3<u32>,
                @builtin(workgroup_id) wid: vec3<u32>) {
    let base = (p.block0 + wid.x) * WG * 4u + lid3.x;
    let ra = vec4<u32>(base, base + WG, base + 2u * WG, base + 3u * WG);
    let rc = min(ra, vec4<u32>(p.n - 1u));
    let live = ra < vec4<u32>(p.n);
    let listing = p.mode != 0u;
    let marking = p.mode == 2u;
    let first = (p.flags & 1u) != 0u;
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
    var inside = vec4<u32>(0u);
    if !first {
        below = vec4<u32>(counts[2u * rc.x], counts[2u * rc.y], counts[2u * rc.z], counts[2u * rc.w]);
        inside = vec4<u32>(counts[2u * rc.x + 1u], counts[2u * rc.y + 1u], counts[2u * rc.z + 1u], counts[2u * rc.w + 1u]);
    }
    var start = vec4<u32>(0u);
    var end = vec4<u32>(0u);
    if listing {
        start = vec4<u32>(offsets[rc.x], offsets[rc.y], offsets[rc.z], offsets[rc.w]);
        end = vec4<u32>(offsets[rc.x + 1u], offsets[rc.y + 1u], offsets[rc.z + 1u], offsets[rc.w + 1u]);
    }
    // Columns j > i: no row of this invocation has a partner at or below `base`.
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
        let st = bracket_column(s, mine, p.lo, p.hi, start, end, &below, &inside, marking);
        if listing {
            if st.fits.x { out[st.at.x] = s.x; }
            if st.fits.y { out[st.at.y] = s.y; }
            if st.fits.z { out[st.at.z] = s.z; }
            if st.fits.w { out[st.at.w] = s.w; }
        }
    }
    for (var q = 0u; q < 4u; q++) {
        if live[q] {
            let i = ra[q];
            counts[2u * i] = below[q];
            counts[2u * i + 1u] = inside[q];
        }
    }
}
