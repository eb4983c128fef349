// Bayesian logistic regression (algorithms.md §5.1), the built-in {"kind": "logistic"} model
// written as a WGSL target. θ = (w, log α), w of length dw = DIM − 1 = X_cols;
// w | α ~ N(0, α⁻¹ I), α ~ Gamma(a0, rate b0), p(y_t = ±1 | x_t, w) = σ(y_t wᵀx_t). Up to a
// constant, on the step's minibatch B of m of the N rows (all rows, m = N, without
// `--score-batch`),
//   log p(θ) = (N/m) Σ_{t∈B} log σ(y_t wᵀx_t) + (dw/2) log α − (α/2)‖w‖² + (a0 − 1) log α
//              − b0 α + log α
// (the last term the Jacobian of log α), and its gradient
//   ∇_w = (N/m) Σ_{t∈B} ((y_t + 1)/2 − σ(wᵀx_t)) x_t − α w
//   ∂/∂log α = dw/2 − (α/2)‖w‖² + (a0 − 1) − b0 α + 1.
// The target file's "rows": "X" makes batch_size(), batch_row(j) and batch_scale() (= N/m)
// walk X's rows as the built-in model walks them for the same "seed".
// Data: X [N, dw], the features standardised with the rows' mean and standard deviation and
// an intercept column of ones last; y [N], the labels ±1. logistic-x.npy and logistic-y.npy
// hold breast-cancer.csv so (tools/logistic_example_data.py writes them). About 2·m·dw loop
// passes per particle and step (36 000 on the full data; llvmpipe stops at 65 535).

// σ(z), with exp of a non-positive argument only: no overflow at either end.
fn sigmoid(z: f32) -> f32 {
    let e = exp(-abs(z));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), z >= 0.0);
}

// log σ(z), the same way.
fn log_sigmoid(z: f32) -> f32 {
    return min(z, 0.0) - log(1.0 + exp(-abs(z)));
}

fn log_p(i: u32) -> f32 {
    let dw = DIM - 1u;
    let log_alpha = x(i, dw);
    let alpha = exp(log_alpha);
    var w2 = 0.0;
    for (var k = 0u; k < dw; k++) {
        w2 = fma(x(i, k), x(i, k), w2);
    }
    var lik = 0.0;
    for (var j = 0u; j < batch_size(); j++) {
        let t = batch_row(j);
        var z = 0.0;
        for (var k = 0u; k < dw; k++) {
            z = fma(X(t, k), x(i, k), z);
        }
        lik += log_sigmoid(y(t) * z);
    }
    return batch_scale() * lik + (0.5 * f32(dw) + a0) * log_alpha - 0.5 * alpha * w2 - b0 * alpha;
}

fn grad_log_p(i: u32) {
    let dw = DIM - 1u;
    // w, the gradient and the row in arrays of the invocation's own, whose loops run a
    // constant number of times (the compiler keeps them in registers): x and each value of
    // a row are read once, and each coordinate of the score written once (docs/targets.md,
    // a fast target).
    var w: array<f32, DIM>;
    var g: array<f32, DIM>;
    var row: array<f32, DIM>;
    let alpha = exp(x(i, dw));
    var w2 = 0.0;
    for (var k = 0u; k < dw; k++) {
        w[k] = x(i, k);
        w2 = fma(w[k], w[k], w2);
        g[k] = -alpha * w[k];
    }
    let scale = batch_scale();
    for (var j = 0u; j < batch_size(); j++) {
        let t = batch_row(j);
        var z = 0.0;
        for (var k = 0u; k < dw; k++) {
            row[k] = X(t, k);
            z = fma(row[k], w[k], z);
        }
        let c = scale * (0.5 * (y(t) + 1.0) - sigmoid(z));
        for (var k = 0u; k < dw; k++) {
            g[k] = fma(c, row[k], g[k]);
        }
    }
    for (var k = 0u; k < dw; k++) {
        set_grad(i, k, g[k]);
    }
    set_grad(i, dw, 0.5 * f32(dw) - 0.5 * alpha * w2 + (a0 - 1.0) - b0 * alpha + 1.0);
}
