//! Particle updates along φ (ascent), state kept by the caller.

/// x ← x + εφ.
pub fn sgd(x: &mut [f64], phi: &[f64], step_size: f64) {
    for (xi, f) in x.iter_mut().zip(phi) {
        *xi += step_size * f;
    }
}

/// The authors' AdaGrad with momentum: G = φ² on step t = 1, then G ← αG + (1 − α)φ²;
/// x ← x + ε φ / (fudge + √G), α = 0.9, fudge = 1e-6.
pub fn adagrad(x: &mut [f64], g: &mut [f64], phi: &[f64], step_size: f64, t: u64) {
    const ALPHA: f64 = 0.9;
    const FUDGE: f64 = 1e-6;
    for ((xi, gi), f) in x.iter_mut().zip(g.iter_mut()).zip(phi) {
        *gi = if t == 1 {
            f * f
        } else {
            ALPHA * *gi + (1.0 - ALPHA) * f * f
        };
        *xi += step_size * f / (FUDGE + gi.sqrt());
    }
}

/// Adam (bias-corrected) as an ascent step along g = φ − wd·x (L2 weight decay wd).
pub fn adam(
    x: &mut [f64],
    m: &mut [f64],
    v: &mut [f64],
    phi: &[f64],
    step_size: f64,
    (beta1, beta2, eps, wd): (f64, f64, f64, f64),
    t: u64,
) {
    let bc1 = 1.0 / (1.0 - beta1.powi(t as i32));
    let bc2 = 1.0 / (1.0 - beta2.powi(t as i32));
    for i in 0..x.len() {
        let g = phi[i] - wd * x[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        x[i] += step_size * (m[i] * bc1) / ((v[i] * bc2).sqrt() + eps);
    }
}
