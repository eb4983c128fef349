//! Reference of `madd_peak.wgsl`, the multiply-add ceiling of `stein bench`.

/// Independent chains of one `madd_peak` invocation.
pub const CHAINS: usize = 32;

/// Multiply-adds one invocation runs per loop pass (four rounds of every chain).
pub const MADDS_PER_PASS: u64 = 4 * CHAINS as u64;

/// One invocation of `madd_peak`: `CHAINS` chains a_c = k + c, each stepped
/// a_c ← a_c·m + k four times per pass for `iters` passes; returns their sum.
pub fn madd_chains(k: f64, m: f64, iters: u32) -> f64 {
    (0..CHAINS)
        .map(|c| {
            let mut a = k + c as f64;
            for _ in 0..4 * u64::from(iters) {
                a = a * m + k;
            }
            a
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chains_contract_to_their_fixed_point() {
        // a ↦ a·m + k has the fixed point k / (1 − m); after many steps every chain sits there.
        let (k, m) = (0.25, 0.75);
        let want = CHAINS as f64 * k / (1.0 - m);
        assert!((madd_chains(k, m, 100) - want).abs() < 1e-9 * want);
        // No steps: the starting values k + c.
        let start = CHAINS as f64 * k + (CHAINS * (CHAINS - 1) / 2) as f64;
        assert_eq!(madd_chains(k, m, 0), start);
    }
}
