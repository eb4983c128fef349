//! The MLP energy of algorithms.md §2 in f64: f(x) = MLP_θ(x) − ‖x‖²/(2σ₀²), θ laid out as in
//! [`crate::model::mlp`] (per layer W `[in, out]` row-major, then b `[out]`). One sample at a time,
//! as the mathematics reads: forward a^{l+1} = act(W_lᵀ a^l + b_l), backward
//! δ^l = (W_l δ^{l+1}) ⊙ act'(z^l).

use crate::model::mlp::{Activation, MlpNet, MlpShape};

/// sigmoid(z) = 1/(1 + e^{−z}) without overflow.
pub fn sigmoid(z: f64) -> f64 {
    let e = (-z.abs()).exp();
    if z >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// The activation: softplus max(z, 0) + log1p(e^{−|z|}), SiLU z·sigmoid(z), or tanh z.
pub fn act(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Softplus => z.max(0.0) + (-z.abs()).exp().ln_1p(),
        Activation::Silu => z * sigmoid(z),
        Activation::Tanh => z.tanh(),
    }
}

/// Its derivative: sigmoid(z), sigmoid(z)(1 + z(1 − sigmoid(z))), or 1 − tanh² z.
pub fn act_grad(a: Activation, z: f64) -> f64 {
    match a {
        Activation::Softplus => sigmoid(z),
        Activation::Silu => {
            let s = sigmoid(z);
            s * (1.0 + z * (1.0 - s))
        }
        Activation::Tanh => 1.0 - z.tanh().powi(2),
    }
}

/// One sample's forward pass: pre-activations z^1 … z^L (z^L the output) and the layer
/// inputs a^0 = x, a^1 … a^{L−1}.
pub struct Trace {
    /// z^{l+1} = W_lᵀ a^l + b_l, l = 0 … L−1.
    pub z: Vec<Vec<f64>>,
    /// a^l, l = 0 … L−1 (the input of layer l).
    pub a: Vec<Vec<f64>>,
}

/// The forward pass of one sample `x` (`[w₀]`).
pub fn trace(theta: &[f64], net: &MlpNet, x: &[f64]) -> Trace {
    let mut t = Trace {
        z: Vec::new(),
        a: vec![x.to_vec()],
    };
    for l in 0..net.layers() {
        let a = &t.a[l];
        let z: Vec<f64> = (0..net.fan_out(l))
            .map(|j| {
                theta[net.b(l, j)]
                    + (0..net.fan_in(l))
                        .map(|k| a[k] * theta[net.w(l, k, j)])
                        .sum::<f64>()
            })
            .collect();
        if l + 1 < net.layers() {
            t.a.push(z.iter().map(|&v| act(net.act, v)).collect());
        }
        t.z.push(z);
    }
    t
}

/// The network's output for every row of `x` (`[n, w₀]` → `[n, w_L]`).
pub fn network(theta: &[f64], net: &MlpNet, x: &[f64]) -> Vec<f64> {
    x.chunks(net.d())
        .flat_map(|xi| trace(theta, net, xi).z.pop().unwrap())
        .collect()
}

/// The vector-Jacobian product of the output cotangents `u` (`[n, w_L]`): the input part
/// `[n, w₀]`, row i = Σ_j u_ij ∇ₓ out_j(x_i), and the parameter part Σ_i Σ_j u_ij ∇_θ
/// out_j(x_i) (θ's length).
pub fn vjp(theta: &[f64], net: &MlpNet, x: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (d, m) = (net.d(), net.out());
    let mut dx = Vec::with_capacity(x.len());
    let mut dtheta = vec![0.0; net.len()];
    for (xi, ui) in x.chunks(d).zip(u.chunks(m)) {
        let t = trace(theta, net, xi);
        // δ = cotangent of z^{l+1}, from the output down.
        let mut delta = ui.to_vec();
        for l in (0..net.layers()).rev() {
            let a = &t.a[l];
            for j in 0..net.fan_out(l) {
                dtheta[net.b(l, j)] += delta[j];
                for k in 0..net.fan_in(l) {
                    dtheta[net.w(l, k, j)] += a[k] * delta[j];
                }
            }
            // Cotangent of the layer's input a^l = W_l δ; of z^l for a hidden input.
            let c: Vec<f64> = (0..net.fan_in(l))
                .map(|k| {
                    (0..net.fan_out(l))
                        .map(|j| theta[net.w(l, k, j)] * delta[j])
                        .sum()
                })
                .collect();
            delta = if l > 0 {
                c.iter()
                    .zip(&t.z[l - 1])
                    .map(|(&ck, &zk)| ck * act_grad(net.act, zk))
                    .collect()
            } else {
                c
            };
        }
        dx.extend(delta);
    }
    (dx, dtheta)
}

/// f(x_i) = MLP(x_i) − ‖x_i‖²/(2σ₀²) per row of `x` (`[n, d]`).
pub fn energy(theta: &[f64], s: &MlpShape, x: &[f64]) -> Vec<f64> {
    let out = network(theta, &s.net(), x);
    x.chunks(s.d)
        .zip(out)
        .map(|(xi, o)| o - xi.iter().map(|v| v * v).sum::<f64>() / (2.0 * s.sigma0 * s.sigma0))
        .collect()
}

/// ∇ₓf(x_i) = ∇ₓMLP(x_i) − x_i/σ₀² per row: the backward pass with cotangent 1.
pub fn score(theta: &[f64], s: &MlpShape, x: &[f64]) -> Vec<f64> {
    let n = x.len() / s.d;
    let (dx, _) = vjp(theta, &s.net(), x, &vec![1.0; n]);
    dx.iter()
        .zip(x)
        .map(|(g, v)| g - v / (s.sigma0 * s.sigma0))
        .collect()
}

/// Σ_i w_i ∇_θ f(x_i) (the Gaussian term does not depend on θ): the backward pass with
/// cotangent w.
pub fn grad(theta: &[f64], s: &MlpShape, x: &[f64], w: &[f64]) -> Vec<f64> {
    vjp(theta, &s.net(), x, w).1
}
