// select_small: the device median's radix selection (select_hist + median_control's PICK, four
// rounds) in one workgroup and one dispatch, for lists short enough that one workgroup reads
// them four times faster than eight dispatches start (llvmpipe starts a dispatch in about
// 0.1 ms). The same rule: the two order statistics' running ranks and prefixes in `st`, 8
// bits a round from the top of the f32 bit patterns, one histogram while both prefixes agree,
// integer counts in workgroup memory (deterministic).
// Parts: common/median_state.wgsl
// Bindings: 0 uniform MedianParams | 1 vals [st[ST_COUNT]] (f32 bits) | 2 st
// Dispatch: (1, 1, 1).
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: MedianParams;
@group(0) @binding(1) var<storage, read> vals: array<u32>;
@group(0) @binding(2) var<storage, read_write> st: array<u32>;

var<workgroup> local: array<atomic<u32>, 513>;
var<workgroup> chosen: array<u32, 4>;

@compute @workgroup_size(WG)
fn select_small(@builtin(local_invocation_index) lid: u32) {
    let count = st[ST_COUNT];
    var rank = vec2<u32>(st[ST_T0], st[ST_T1]);
    var prefix = vec2<u32>(0u);
    var mask = 0u;
    for (var round = 0u; round < 4u; round++) {
        let shift = 24u - 8u * round;
        for (var b = lid; b < 513u; b += WG) {
            atomicStore(&local[b], 0u);
        }
        workgroupBarrier();
        let same = prefix.x == prefix.y;
        for (var e = lid; e < count; e += WG) {
            let bits = vals[e];
            let digit = (bits >> shift) & 255u;
            if (bits & mask) == prefix.x {
                atomicAdd(&local[digit], 1u);
            }
            if !same && (bits & mask) == prefix.y {
                atomicAdd(&local[256u + digit], 1u);
            }
            if round == 0u && (bits & 0x7fffffffu) > 0x7f800000u {
                atomicAdd(&local[512u], 1u);
            }
        }
        workgroupBarrier();
        if lid == 0u {
            if round == 0u {
                st[ST_NAN] = st[ST_NAN] + atomicLoad(&local[512u]);
            }
            for (var q = 0u; q < 2u; q++) {
                let h = select(q, 0u, same);
                var acc = 0u;
                var b = 0u;
                loop {
                    let c = atomicLoad(&local[h * 256u + b]);
                    if rank[q] < acc + c || b == 255u {
                        break;
                    }
                    acc += c;
                    b += 1u;
                }
                chosen[2u * q] = prefix[q] | (b << shift);
                chosen[2u * q + 1u] = rank[q] - min(acc, rank[q]);
            }
        }
        workgroupBarrier();
        prefix = vec2<u32>(chosen[0], chosen[2]);
        rank = vec2<u32>(chosen[1], chosen[3]);
        mask |= 255u << shift;
        workgroupBarrier();
    }
    if lid == 0u {
        st[ST_P0] = prefix.x;
        st[ST_P1] = prefix.y;
        st[ST_R0] = rank.x;
        st[ST_R1] = rank.y;
    }
}
