// batch_median: the median bandwidth of algorithms.md §1 for a small batch, on the device, so a
// training iteration needs no readback: h = med / log(n + 1) (h = 1 if med = 0), med the median
// of all n^2 squared distances (n zeros and each of the M = n(n-1)/2 pair distances twice;
// NumPy's mean of the two middle values for an even count). The M distances were listed by
// pair_bracket (list mode, bracket [0, inf], exact per-row offsets) in `list`; one workgroup
// selects the wanted order statistics exactly by radix selection on their f32 bit patterns
// (monotone for non-negative floats), 8 bits per pass, with integer counts in workgroup
// memory (the same totals in any order: deterministic).
// Parts: common/params.wgsl
// Bindings: 0 uniform SelectParams (n; samples = M) | 1 list [M] | 2 out [2] = (h, 1/h) (written)
// Dispatch: (1, 1, 1).
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: SelectParams;
@group(0) @binding(1) var<storage, read> list: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> chosen: array<u32, 2>;

@compute @workgroup_size(WG)
fn batch_median(@builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let n = p.n;
    let m = p.samples;
    let total = n * n;
    let hi_rank = total / 2u;
    var lo_rank = hi_rank;
    if (total % 2u) == 0u {
        lo_rank = hi_rank - 1u;
    }
    var v0 = 0.0;
    var v1 = 0.0;
    for (var q = 0u; q < 2u; q++) {
        let r = select(hi_rank, lo_rank, q == 0u);
        var value = 0.0;
        if r >= n {
            var rank = (r - n) / 2u;
            var prefix = 0u;
            var mask = 0u;
            for (var round = 0u; round < 4u; round++) {
                let shift = 24u - 8u * round;
                for (var b = lid; b < 256u; b += WG) {
                    atomicStore(&hist[b], 0u);
                }
                workgroupBarrier();
                for (var e = lid; e < m; e += WG) {
                    let bits = bitcast<u32>(list[e]);
                    if (bits & mask) == prefix {
                        atomicAdd(&hist[(bits >> shift) & 255u], 1u);
                    }
                }
                workgroupBarrier();
                if lid == 0u {
                    var acc = 0u;
                    var b = 0u;
                    loop {
                        let c = atomicLoad(&hist[b]);
                        if rank < acc + c || b == 255u {
                            break;
                        }
                        acc += c;
                        b += 1u;
                    }
                    chosen[0] = prefix | (b << shift);
                    chosen[1] = rank - acc;
                }
                workgroupBarrier();
                prefix = chosen[0];
                rank = chosen[1];
                mask = mask | (255u << shift);
                workgroupBarrier();
            }
            value = bitcast<f32>(prefix);
        }
        if q == 0u {
            v0 = value;
        } else {
            v1 = value;
        }
    }
    if lid == 0u {
        let med = 0.5 * (v0 + v1);
        var h = 1.0;
        if med > 0.0 {
            h = med / log(f32(n) + 1.0);
        }
        out[0] = h;
        out[1] = 1.0 / h;
    }
}
