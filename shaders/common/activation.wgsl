// Smooth activations of the MLP energy (algorithms.md section 2) and their derivatives, written
// so that no intermediate overflows for any finite z. `kind`: 0 softplus, 1 SiLU, 2 tanh
// (mirrored by `Activation` in src/model/mlp.rs).

// log(1 + u) for u in [0, 1], accurate for small u (Goldberg's trick; WGSL has no log1p).
fn log1p_unit(u: f32) -> f32 {
    let w = 1.0 + u;
    if w == 1.0 {
        return u;
    }
    return log(w) * (u / (w - 1.0));
}

// 1 / (1 + e^{-z}) from e^{-|z|} <= 1: no overflow.
fn sigmoid(z: f32) -> f32 {
    let e = exp(-abs(z));
    let r = 1.0 / (1.0 + e);
    return select(e * r, r, z >= 0.0);
}

// tanh with its argument clamped where tanh(z) rounds to +-1 in f32 anyway, so an
// implementation as (e^{2z} - 1) / (e^{2z} + 1) cannot produce inf / inf.
fn tanh_clamped(z: f32) -> f32 {
    return tanh(clamp(z, -15.0, 15.0));
}

fn activation(kind: u32, z: f32) -> f32 {
    if kind == 0u {
        // softplus: max(z, 0) + log1p(e^{-|z|})
        return max(z, 0.0) + log1p_unit(exp(-abs(z)));
    } else if kind == 1u {
        // SiLU: z sigmoid(z)
        return z * sigmoid(z);
    }
    return tanh_clamped(z);
}

fn activation_grad(kind: u32, z: f32) -> f32 {
    if kind == 0u {
        return sigmoid(z);
    } else if kind == 1u {
        let s = sigmoid(z);
        return s * (1.0 + z * (1.0 - s));
    }
    let t = tanh_clamped(z);
    return 1.0 - t * t;
}
