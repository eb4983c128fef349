//! The counter-based hash of `shaders/common/hash.wgsl`, bit for bit.

/// PCG-style permutation of a 32-bit counter (Jarzynski & Olano 2020).
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// The pair `(i, j)`, `i != j`, drawn for sample `t` of stream `seed` among `n >= 2` particles.
pub fn hash_pair(seed: u32, t: u32, n: u32) -> (u32, u32) {
    let i = pcg_hash(seed ^ pcg_hash(t.wrapping_mul(2))) % n;
    let mut j = pcg_hash(seed ^ pcg_hash(t.wrapping_mul(2).wrapping_add(1))) % (n - 1);
    if j >= i {
        j += 1;
    }
    (i, j)
}

/// Uniform in (0, 1) from the top 24 bits of a hash, as `uniform01` in WGSL.
pub fn uniform01(h: u32) -> f64 {
    (f64::from(h >> 8) + 0.5) / 16_777_216.0
}

/// The standard normal of counter `ctr` in stream `key`, as `normal` in WGSL (in f64).
pub fn normal(key: u32, ctr: u32) -> f64 {
    let u1 = uniform01(pcg_hash(key ^ pcg_hash(ctr.wrapping_mul(2))));
    let u2 = uniform01(pcg_hash(
        key ^ pcg_hash(ctr.wrapping_mul(2).wrapping_add(1)),
    ));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The stream key of step `step` of a run seeded with `seed` (`stream_key` in WGSL takes the
/// folded seed and a step below 2^32).
pub fn stream_key(seed: u64, step: u64) -> u32 {
    pcg_hash(fold_seed(seed) ^ pcg_hash(step as u32 ^ pcg_hash((step >> 32) as u32)))
}

/// A 64-bit seed folded to the 32 bits that [`stream_key`] hashes.
pub fn fold_seed(seed: u64) -> u32 {
    (seed ^ (seed >> 32)) as u32
}
