// The RBF kernel k(x, y) = exp(-|x - y|^2 / h), written with exp2 so that the hardware's
// (or llvmpipe's) base-2 exponential is used directly: exp(-s/h) = exp2(-s * log2(e) / h).
// The host passes inv_h = 1/h; LOG2E folds into one multiply.

const LOG2E: f32 = 1.4426950408889634;

fn rbf_from_sqdist(sqdist: f32, inv_h: f32) -> f32 {
    return exp2(-sqdist * (inv_h * LOG2E));
}

// The same for four squared distances at once.
fn rbf4_from_sqdist(sqdist: vec4<f32>, inv_h: f32) -> vec4<f32> {
    return exp2(-sqdist * (inv_h * LOG2E));
}
