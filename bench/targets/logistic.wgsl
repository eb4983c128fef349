// Bayesian logistic regression (algorithms.md §5.1) as a WGSL target, the fixture of
// `stein bench --target` against the built-in {"kind": "logistic"} (docs/benchmarks/llvmpipe.md)
// and of the test that both move particles alike (tests/integration/targets.rs).
// θ = (w, log α), w of length DIM − 1 (the intercept is the last feature).
// Data: X [N, DIM − 1], the features as the model sees them (standardised, intercept 1 last);
// y [N], the labels as 0 or 1. "rows": "X". Constants: a0, b0 (α ~ Gamma(a0, rate b0)).
// tools/logistic_npy.py writes X and y from a CSV as the built-in model reads it.

fn sigmoid(z: f32) -> f32 {
    // exp of a non-positive argument only: no overflow at either end.
    let e = exp(-abs(z));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

fn softplus(z: f32) -> f32 {
    return max(z, 0.0) + log(1.0 + exp(-abs(z)));
}

// wᵀx_t for particle i.
fn wx(i: u32, t: u32) -> f32 {
    var z = 0.0;
    for (var k = 0u; k < X_cols; k++) {
        z = fma(X(t, k), x(i, k), z);
    }
    return z;
}

fn log_p(i: u32) -> f32 {
    let dw = DIM - 1u;
    let la = x(i, dw);
    let alpha = exp(la);
    var w2 = 0.0;
    for (var k = 0u; k < dw; k++) {
        let w = x(i, k);
        w2 = fma(w, w, w2);
    }
    // log σ(z) for y = 1 and log(1 − σ(z)) for y = 0, as −softplus(∓z).
    var ll = 0.0;
    for (var j = 0u; j < batch_size(); j++) {
        let t = batch_row(j);
        let z = wx(i, t);
        ll -= softplus(select(z, -z, y(t) > 0.5));
    }
    // The prior of w given α, of α, and the Jacobian of log α.
    return batch_scale() * ll + (0.5 * f32(dw) + a0) * la - 0.5 * alpha * w2 - b0 * alpha;
}

fn grad_log_p(i: u32) {
    let dw = DIM - 1u;
    let alpha = exp(x(i, dw));
    var w2 = 0.0;
    for (var k = 0u; k < dw; k++) {
        let w = x(i, k);
        w2 = fma(w, w, w2);
        set_grad(i, k, -alpha * w);
    }
    set_grad(i, dw, 0.5 * f32(dw) - 0.5 * alpha * w2 + (a0 - 1.0) - b0 * alpha + 1.0);
    for (var j = 0u; j < batch_size(); j++) {
        let t = batch_row(j);
        let g = batch_scale() * (y(t) - sigmoid(wx(i, t)));
        for (var k = 0u; k < dw; k++) {
            add_grad(i, k, g * X(t, k));
        }
    }
}
