// median_gather: the device median's candidates into one dense list for the radix selection:
// row i's counts[2i + 1] in-bracket distances, from its slots or its relisted region
// (rowplan[2i]), to dense[rowplan[2i + 1] ..] (exclusive prefix of the counts, row order).
// Nothing with FLAG_NARROW (the narrowing passes select instead).
// Parts: common/median_state.wgsl
// Bindings: 0 uniform MedianParams | 1 st | 2 counts [2n] | 3 rowplan [2n] | 4 list
//   | 5 dense (written, st[ST_INSIDE] values)
// Dispatch: (ceil(n / WG), 1, 1) or the 2-D grid past 65535 groups; one invocation per row.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: MedianParams;
@group(0) @binding(1) var<storage, read> st: array<u32>;
@group(0) @binding(2) var<storage, read> counts: array<u32>;
@group(0) @binding(3) var<storage, read> rowplan: array<u32>;
@group(0) @binding(4) var<storage, read> list: array<f32>;
@group(0) @binding(5) var<storage, read_write> dense: array<f32>;

@compute @workgroup_size(WG)
fn median_gather(@builtin(global_invocation_id) gid: vec3<u32>,
                 @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * (nwg.x * WG);
    if i >= p.n || (st[ST_FLAGS] & FLAG_NARROW) != 0u {
        return;
    }
    let len = counts[2u * i + 1u];
    let src = rowplan[2u * i];
    let dst = rowplan[2u * i + 1u];
    for (var c = 0u; c < len; c++) {
        dense[dst + c] = list[src + c];
    }
}
