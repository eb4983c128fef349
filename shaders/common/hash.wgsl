// Counter-based hashing: PCG-style permutation of a 32-bit counter (the "pcg_hash" of
// Jarzynski & Olano, JCGT 2020). Stateless, so any invocation can draw the value it needs, and
// src/cpu/hash.rs reproduces it bit for bit.

fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Uniform pair (i, j), i != j, of 0..n-1 for draw number t of stream seed; n >= 2.
// Modulo reduction: its bias is below n / 2^32, far under the sampling error it feeds.
fn hash_pair(seed: u32, t: u32, n: u32) -> vec2<u32> {
    let i = pcg_hash(seed ^ pcg_hash(2u * t)) % n;
    var j = pcg_hash(seed ^ pcg_hash(2u * t + 1u)) % (n - 1u);
    if j >= i {
        j += 1u;
    }
    return vec2<u32>(i, j);
}

// Uniform in (0, 1) from the top 24 bits: (k + 0.5) / 2^24. Exact in f64 (src/cpu/hash.rs);
// in f32, k + 0.5 is exact for k < 2^23 and rounds to even above, so half the draws can differ
// from the f64 value by one f32 ulp (the tests' tolerances state this).
fn uniform01(h: u32) -> f32 {
    return (f32(h >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// Standard normal for counter ctr of stream key (Box-Muller on two hashed uniforms);
// src/cpu/hash.rs computes the same uniforms (to the f32 rounding noted above) and the
// transform in f64.
fn normal(key: u32, ctr: u32) -> f32 {
    let u1 = uniform01(pcg_hash(key ^ pcg_hash(2u * ctr)));
    let u2 = uniform01(pcg_hash(key ^ pcg_hash(2u * ctr + 1u)));
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

// The key of step `step` of a run whose 64-bit seed was folded to `seed` = seed ^ (seed >> 32)
// on the host: cpu::hash::stream_key for steps below 2^32.
fn stream_key(seed: u32, step: u32) -> u32 {
    return pcg_hash(seed ^ pcg_hash(step ^ pcg_hash(0u)));
}
