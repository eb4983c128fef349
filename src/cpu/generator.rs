//! The SteinGAN generator (algorithms.md §3.3) in f64, as `generator_ops` and the MLP kernels
//! compute it: latent draws from the counter-based hash, x = out(MLP_η(z)), and the parameter
//! part of the vector-Jacobian product of an output cotangent.

use super::hash::{pcg_hash, uniform01};
use super::mlp::{network, sigmoid, vjp};
use crate::model::generator::{GenOutput, GenSpec};

/// z ~ U(−1, 1) for `len` elements of stream `key`: element e is 2·uniform01(hash) − 1 with
/// hash = pcg_hash(key ^ pcg_hash(e)), exactly as on the device.
pub fn latent(key: u32, len: usize) -> Vec<f64> {
    (0..len as u32)
        .map(|e| 2.0 * uniform01(pcg_hash(key ^ pcg_hash(e))) - 1.0)
        .collect()
}

/// x = G(z; η) for every row of `z` (`[n, n_z]` → `[n, d]`).
pub fn forward(eta: &[f64], spec: &GenSpec, z: &[f64]) -> Vec<f64> {
    let out = network(eta, &spec.net, z);
    match spec.output {
        GenOutput::Identity => out,
        GenOutput::Sigmoid => out.into_iter().map(sigmoid).collect(),
    }
}

/// dη = scale · Σᵢ ∂G(zᵢ)/∂η · φᵢ: the cotangent of the linear output is scale·φ, times
/// x(1 − x) for the sigmoid output (x = sigmoid(output)).
pub fn eta_grad(eta: &[f64], spec: &GenSpec, z: &[f64], phi: &[f64], scale: f64) -> Vec<f64> {
    let x = forward(eta, spec, z);
    let u: Vec<f64> = phi
        .iter()
        .zip(&x)
        .map(|(&p, &x)| match spec.output {
            GenOutput::Identity => scale * p,
            GenOutput::Sigmoid => scale * p * x * (1.0 - x),
        })
        .collect();
    vjp(eta, &spec.net, z, &u).1
}

/// φ normalised by the kernel row sums instead of the count: φᵢ · n / Σ_j k(xᵢ, x_j).
pub fn rowsum_norm(x: &[f64], phi: &[f64], d: usize, h: f64) -> Vec<f64> {
    let n = x.len() / d;
    (0..n)
        .flat_map(|i| {
            let s: f64 = (0..n)
                .map(|j| super::svgd::rbf(super::sqdist(x, d, i, j), h))
                .sum();
            phi[i * d..(i + 1) * d]
                .iter()
                .map(move |&p| p * n as f64 / s)
                .collect::<Vec<_>>()
        })
        .collect()
}
