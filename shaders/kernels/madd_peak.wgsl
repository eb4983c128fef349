// madd_peak: the adapter's rate of independent multiply-adds, the ceiling `stein bench` sets
// phi's pairs/s against (a pair needs at least 2d: d for the distance's dot product, d for the
// accumulation). Each invocation runs CHAINS = 32 independent chains
//   a_c <- fma(a_c, m, k),  a_c = k + c at the start,
// four rounds (written out) per pass of a loop of p.iters passes (128 multiply-adds a pass), then writes
// the chains' sum. 32 chains cover the latency of a multiply-add on every device we know
// (llvmpipe lowers fma to a multiply and an add; 8 chains there ran at 78 % of 32). k and m
// come from a buffer so that no compiler can fold the chains; with 0 < m < 1 they contract to
// k / (1 - m), so they neither overflow nor turn denormal.
// Reference: cpu::peak::madd_chains.
// Parts: common/params.wgsl
// Bindings: 0 uniform PeakParams | 1 km [2 len] (k, m of each invocation) | 2 out [len]
// Dispatch: (ceil(len / WG), 1, 1). Passes through loop ends per invocation: iters + 1.
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: PeakParams;
@group(0) @binding(1) var<storage, read> km: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn madd_peak(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = min(gid.x, p.len - 1u);
    let k = km[2u * i];
    let m = km[2u * i + 1u];
    var a0 = k + 0.0; var a1 = k + 1.0; var a2 = k + 2.0; var a3 = k + 3.0;
    var a4 = k + 4.0; var a5 = k + 5.0; var a6 = k + 6.0; var a7 = k + 7.0;
    var a8 = k + 8.0; var a9 = k + 9.0; var a10 = k + 10.0; var a11 = k + 11.0;
    var a12 = k + 12.0; var a13 = k + 13.0; var a14 = k + 14.0; var a15 = k + 15.0;
    var a16 = k + 16.0; var a17 = k + 17.0; var a18 = k + 18.0; var a19 = k + 19.0;
    var a20 = k + 20.0; var a21 = k + 21.0; var a22 = k + 22.0; var a23 = k + 23.0;
    var a24 = k + 24.0; var a25 = k + 25.0; var a26 = k + 26.0; var a27 = k + 27.0;
    var a28 = k + 28.0; var a29 = k + 29.0; var a30 = k + 30.0; var a31 = k + 31.0;
    for (var t = 0u; t < p.iters; t++) {
        a0 = fma(a0, m, k); a1 = fma(a1, m, k); a2 = fma(a2, m, k); a3 = fma(a3, m, k);
        a4 = fma(a4, m, k); a5 = fma(a5, m, k); a6 = fma(a6, m, k); a7 = fma(a7, m, k);
        a8 = fma(a8, m, k); a9 = fma(a9, m, k); a10 = fma(a10, m, k); a11 = fma(a11, m, k);
        a12 = fma(a12, m, k); a13 = fma(a13, m, k); a14 = fma(a14, m, k); a15 = fma(a15, m, k);
        a16 = fma(a16, m, k); a17 = fma(a17, m, k); a18 = fma(a18, m, k); a19 = fma(a19, m, k);
        a20 = fma(a20, m, k); a21 = fma(a21, m, k); a22 = fma(a22, m, k); a23 = fma(a23, m, k);
        a24 = fma(a24, m, k); a25 = fma(a25, m, k); a26 = fma(a26, m, k); a27 = fma(a27, m, k);
        a28 = fma(a28, m, k); a29 = fma(a29, m, k); a30 = fma(a30, m, k); a31 = fma(a31, m, k);
        a0 = fma(a0, m, k); a1 = fma(a1, m, k); a2 = fma(a2, m, k); a3 = fma(a3, m, k);
        a4 = fma(a4, m, k); a5 = fma(a5, m, k); a6 = fma(a6, m, k); a7 = fma(a7, m, k);
        a8 = fma(a8, m, k); a9 = fma(a9, m, k); a10 = fma(a10, m, k); a11 = fma(a11, m, k);
        a12 = fma(a12, m, k); a13 = fma(a13, m, k); a14 = fma(a14, m, k); a15 = fma(a15, m, k);
        a16 = fma(a16, m, k); a17 = fma(a17, m, k); a18 = fma(a18, m, k); a19 = fma(a19, m, k);
        a20 = fma(a20, m, k); a21 = fma(a21, m, k); a22 = fma(a22, m, k); a23 = fma(a23, m, k);
        a24 = fma(a24, m, k); a25 = fma(a25, m, k); a26 = fma(a26, m, k); a27 = fma(a27, m, k);
        a28 = fma(a28, m, k); a29 = fma(a29, m, k); a30 = fma(a30, m, k); a31 = fma(a31, m, k);
        a0 = fma(a0, m, k); a1 = fma(a1, m, k); a2 = fma(a2, m, k); a3 = fma(a3, m, k);
        a4 = fma(a4, m, k); a5 = fma(a5, m, k); a6 = fma(a6, m, k); a7 = fma(a7, m, k);
        a8 = fma(a8, m, k); a9 = fma(a9, m, k); a10 = fma(a10, m, k); a11 = fma(a11, m, k);
        a12 = fma(a12, m, k); a13 = fma(a13, m, k); a14 = fma(a14, m, k); a15 = fma(a15, m, k);
        a16 = fma(a16, m, k); a17 = fma(a17, m, k); a18 = fma(a18, m, k); a19 = fma(a19, m, k);
        a20 = fma(a20, m, k); a21 = fma(a21, m, k); a22 = fma(a22, m, k); a23 = fma(a23, m, k);
        a24 = fma(a24, m, k); a25 = fma(a25, m, k); a26 = fma(a26, m, k); a27 = fma(a27, m, k);
        a28 = fma(a28, m, k); a29 = fma(a29, m, k); a30 = fma(a30, m, k); a31 = fma(a31, m, k);
        a0 = fma(a0, m, k); a1 = fma(a1, m, k); a2 = fma(a2, m, k); a3 = fma(a3, m, k);
        a4 = fma(a4, m, k); a5 = fma(a5, m, k); a6 = fma(a6, m, k); a7 = fma(a7, m, k);
        a8 = fma(a8, m, k); a9 = fma(a9, m, k); a10 = fma(a10, m, k); a11 = fma(a11, m, k);
        a12 = fma(a12, m, k); a13 = fma(a13, m, k); a14 = fma(a14, m, k); a15 = fma(a15, m, k);
        a16 = fma(a16, m, k); a17 = fma(a17, m, k); a18 = fma(a18, m, k); a19 = fma(a19, m, k);
        a20 = fma(a20, m, k); a21 = fma(a21, m, k); a22 = fma(a22, m, k); a23 = fma(a23, m, k);
        a24 = fma(a24, m, k); a25 = fma(a25, m, k); a26 = fma(a26, m, k); a27 = fma(a27, m, k);
        a28 = fma(a28, m, k); a29 = fma(a29, m, k); a30 = fma(a30, m, k); a31 = fma(a31, m, k);
    }
    let s = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
        + ((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15))
        + ((a16 + a17) + (a18 + a19)) + ((a20 + a21) + (a22 + a23))
        + ((a24 + a25) + (a26 + a27)) + ((a28 + a29) + (a30 + a31));
    if gid.x < p.len {
        out[gid.x] = s;
    }
}
