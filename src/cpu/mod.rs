//! Plain f64 reference implementations, one per kernel, written as the mathematics reads.
//! They are the oracle for the GPU tests and the statement of what each shader computes.
//! Inputs are row-major `[n, d]` slices.

pub mod ais;
pub mod bnn;
pub mod generator;
pub mod gmm;
pub mod hash;
pub mod ksd;
pub mod logistic;
pub mod median;
pub mod mlp;
pub mod mmd;
pub mod peak;
pub mod rbm;
pub mod svgd;
pub mod update;

/// Squared Euclidean distance between rows `i` and `j` of `x` (`[n, d]`).
pub fn sqdist(x: &[f64], d: usize, i: usize, j: usize) -> f64 {
    (0..d).map(|a| (x[i * d + a] - x[j * d + a]).powi(2)).sum()
}
