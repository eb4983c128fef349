// pair_row_list: lists again, complete, the in-bracket squared distances of the rows whose
// pair_bracket list pass found more than their slots (the device median's PLAN stage names
// them in `ovf` and gives each a region of exactly its count in `list`, at rowplan[2i]).
// Workgroup (r, c) takes row i = ovf[r] against the columns j > i of chunk c
// ([c * chunk, (c + 1) * chunk)); each in-bracket D_ij takes the next place of the row's
// cursor (an integer atomic: the row's values land in some order, and the selection that reads
// them depends only on the multiset, so the result is deterministic).
// D_ij is pair_bracket's expression in its order (s = r_0 * r_0, then s = fma(r_a, r_a, s),
// r = x_i - x_j), so the row's values and count are those of the list pass, bit for bit.
// Parts: common/median_state.wgsl
// Bindings: 0 uniform MedianParams | 1 x [n,d] | 2 st (cursors, bracket) | 3 rowplan [2n]
//   | 4 ovf [rows_max] | 5 counts [2n] | 6 list (written in the rows' regions)
// Dispatch: indirect (rows, chunks, 1), written by median_control's PLAN stage.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: MedianParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> st: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> rowplan: array<u32>;
@group(0) @binding(4) var<storage, read> ovf: array<u32>;
@group(0) @binding(5) var<storage, read> counts: array<u32>;
@group(0) @binding(6) var<storage, read_write> list: array<f32>;

@compute @workgroup_size(WG)
fn pair_row_list(@builtin(local_invocation_index) lid: u32,
                 @builtin(workgroup_id) wid: vec3<u32>) {
    let i = ovf[wid.x];
    let lo = bitcast<f32>(atomicLoad(&st[ST_LO]));
    let hi = bitcast<f32>(atomicLoad(&st[ST_HI]));
    let at = rowplan[2u * i];
    let len = counts[2u * i + 1u];
    let j0 = max(wid.y * p.chunk, i + 1u);
    let j1 = min(wid.y * p.chunk + p.chunk, p.n);
    for (var j = j0 + lid; j < j1; j += WG) {
        let e0 = x[i * p.d] - x[j * p.d];
        var s = e0 * e0;
        for (var a = 1u; a < p.d; a++) {
            let e = x[i * p.d + a] - x[j * p.d + a];
            s = fma(e, e, s);
        }
        if s >= lo && s <= hi {
            let c = atomicAdd(&st[ST_CURSOR + wid.x], 1u);
            if c < len {
                list[at + c] = s;
            }
        }
    }
}
