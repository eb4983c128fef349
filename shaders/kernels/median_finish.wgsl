// median_finish: the median bandwidth of algorithms.md §1 from the selected order statistics,
// on the device and bit for bit the host's: med = (v0 + v1) / 2 in f64 (n even: the two
// middle values of the n^2 squared distances, NumPy's convention; n odd: med = v0), then
// h = med / ln(n + 1) in f64 (h = 1 when med = 0; bandwidth::from_median), written as the f32s
// `h as f32` and `(1.0 / h) as f32` (kernels::pair_params). Every f64 step is softf64's,
// rounded as the host rounds; ln(n + 1) comes from the host as its f64 bits, so no
// transcendental is evaluated here. A NaN, infinite or negative order statistic (diverged
// particles) gives NaN for both, which the host reports when it reads them.
// Parts: common/params.wgsl, common/softf64.wgsl
// Bindings: 0 uniform FinishParams | 1 sel [1 (n odd) or 2] = bits of v0 <= v1 (read) |
//           2 out [2] = (h, 1/h) (written)
// Dispatch: (1, 1, 1), one invocation (WG = 1).
override WG: u32 = 1u;

@group(0) @binding(0) var<uniform> p: FinishParams;
@group(0) @binding(1) var<storage, read> sel: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn median_finish() {
    var b1 = 0u;
    if (p.n & 1u) == 0u {
        b1 = sel[1];
    }
    // Through a variable: the bits reach the stores at run time, never as a constant NaN.
    var r = median_finish_bits(p.n, sel[0], b1, vec2<u32>(p.ln_hi, p.ln_lo));
    out[0] = bitcast<f32>(r.x);
    out[1] = bitcast<f32>(r.y);
}
