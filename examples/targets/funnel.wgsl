// Neal's funnel (Neal 2003) in DIM dimensions: v = x_0 ~ N(0, 3^2) and, given v, each of
// x_1 .. x_{DIM-1} ~ N(0, e^v). Up to a constant,
//   log p(x) = -v^2 / 18 - (DIM - 1) v / 2 - e^{-v} sum_k x_k^2 / 2
// Any "dim" in funnel.json works: the loops run to DIM, which stein declares.

fn log_p(i: u32) -> f32 {
    let v = x(i, 0u);
    var ss = 0.0;
    for (var k = 1u; k < DIM; k++) {
        ss += x(i, k) * x(i, k);
    }
    return -v * v / (2.0 * v_scale * v_scale) - 0.5 * f32(DIM - 1u) * v - 0.5 * exp(-v) * ss;
}

fn grad_log_p(i: u32) {
    let v = x(i, 0u);
    let w = exp(-v);
    var ss = 0.0;
    for (var k = 1u; k < DIM; k++) {
        let xk = x(i, k);
        ss += xk * xk;
        set_grad(i, k, -w * xk);
    }
    set_grad(i, 0u, -v / (v_scale * v_scale) - 0.5 * f32(DIM - 1u) + 0.5 * w * ss);
}
