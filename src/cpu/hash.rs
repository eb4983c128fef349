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
