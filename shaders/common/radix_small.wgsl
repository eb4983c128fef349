// One workgroup's exact radix selection of two order statistics (the device median's
// select_small and median_small): the values whose f32 bit patterns (monotone for non-negative
// floats) are vals[0 .. count), the ranks `targets` (ascending), 8 bits a round from the top,
// four rounds; integer counts in workgroup memory (the same totals in any order:
// deterministic), one histogram while both statistics share their prefix. The values are this
// part's binding 1, `vals` (the kernels that include it bind their list there), and every
// invocation of the workgroup (WG of them) calls it (its barriers).
// Returns the two values' bits, their ranks within their final prefix (0 when the ranks were
// in range) and, valid in invocation 0, the NaN patterns counted in round 0.
override WG: u32 = 256u;

@group(0) @binding(1) var<storage, read> vals: array<u32>;

var<workgroup> radix_hist: array<atomic<u32>, 513>;
var<workgroup> radix_chosen: array<u32, 4>;

struct RadixResult {
    bits: vec2<u32>,
    rank: vec2<u32>,
    nans: u32,
}

fn radix_select_small(lid: u32, count: u32, targets: vec2<u32>) -> RadixResult {
    var rank = targets;
    var prefix = vec2<u32>(0u);
    var mask = 0u;
    var nans = 0u;
    for (var round = 0u; round < 4u; round++) {
        let shift = 24u - 8u * round;
        for (var b = lid; b < 513u; b += WG) {
            atomicStore(&radix_hist[b], 0u);
        }
        workgroupBarrier();
        let same = prefix.x == prefix.y;
        for (var e = lid; e < count; e += WG) {
            let bits = vals[e];
            let digit = (bits >> shift) & 255u;
            if (bits & mask) == prefix.x {
                atomicAdd(&radix_hist[digit], 1u);
            }
            if !same && (bits & mask) == prefix.y {
                atomicAdd(&radix_hist[256u + digit], 1u);
            }
            if round == 0u && (bits & 0x7fffffffu) > 0x7f800000u {
                atomicAdd(&radix_hist[512u], 1u);
            }
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
                    if rank[q] < acc + c || b == 255u {
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
    return RadixResult(prefix, rank, nans);
}
