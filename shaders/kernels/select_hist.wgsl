// select_hist: one round of the device median's radix selection (src/median/device.rs): per
// workgroup, the histogram of the 8-bit digit `round` (from the top) of the f32 bit patterns
// (monotone for non-negative floats) of vals[0 .. st[ST_COUNT]), for each of the two order
// statistics q among the values whose higher digits match its running prefix st[ST_P0 + q]:
//   hist[g * 513 + q * 256 + digit] = this workgroup's count (q = 1 left at zero where both
//   prefixes agree); hist[g * 513 + 512] = NaNs (round 0 only). median_control's PICK stage sums the workgroups and picks the digits.
// Integer counts in workgroup memory: the same totals in any order (deterministic).
// Parts: common/median_state.wgsl
// Bindings: 0 uniform MedianParams | 1 vals [count] (f32 bits) | 2 st | 3 hist [groups * 513]
// Dispatch: (groups, 1, 1), grid-stride over the values.
override WG: u32 = 256u;

@group(0) @binding(0) var<uniform> p: MedianParams;
@group(0) @binding(1) var<storage, read> vals: array<u32>;
@group(0) @binding(2) var<storage, read> st: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;

var<workgroup> local: array<atomic<u32>, 513>;

@compute @workgroup_size(WG)
fn select_hist(@builtin(local_invocation_index) lid: u32,
               @builtin(workgroup_id) wid: vec3<u32>) {
    for (var b = lid; b < 513u; b += WG) {
        atomicStore(&local[b], 0u);
    }
    workgroupBarrier();
    let shift = 24u - 8u * p.round;
    // The digits above this round's: none in round 0.
    let mask = select(0xffffffffu << (32u - 8u * p.round), 0u, p.round == 0u);
    let p0 = st[ST_P0] & mask;
    let p1 = st[ST_P1] & mask;
    let count = st[ST_COUNT];
    let stride = p.groups * WG;
    var nans = 0u;
    // Two statistics on one prefix (round 0, and nearly always later: they are neighbours)
    // share one histogram, which PICK reads for both.
    let same = p0 == p1;
    for (var e = wid.x * WG + lid; e < count; e += stride) {
        let bits = vals[e];
        let digit = (bits >> shift) & 255u;
        if (bits & mask) == p0 {
            atomicAdd(&local[digit], 1u);
        }
        if !same && (bits & mask) == p1 {
            atomicAdd(&local[256u + digit], 1u);
        }
        if (bits & 0x7fffffffu) > 0x7f800000u {
            nans += 1u;
        }
    }
    if p.round == 0u && nans > 0u {
        atomicAdd(&local[512u], nans);
    }
    workgroupBarrier();
    let at = wid.x * 513u;
    for (var b = lid; b < 513u; b += WG) {
        hist[at + b] = atomicLoad(&local[b]);
    }
}
