// The banana (Rosenbrock) density of Goodman & Weare (2010), in two dimensions:
//   log p(x) = -(b (x1 - x0^2)^2 + (a - x0)^2) / s      (up to a constant)
// a, b and s are constants of banana.json. docs/targets.md explains what stein declares:
// x(i, k) reads coordinate k of particle i, set_grad(i, k, v) writes the score.

fn log_p(i: u32) -> f32 {
    let x0 = x(i, 0u);
    let x1 = x(i, 1u);
    let r = x1 - x0 * x0;
    return -(b * r * r + (a - x0) * (a - x0)) / s;
}

fn grad_log_p(i: u32) {
    let x0 = x(i, 0u);
    let x1 = x(i, 1u);
    let r = x1 - x0 * x0;
    set_grad(i, 0u, (4.0 * b * x0 * r + 2.0 * (a - x0)) / s);
    set_grad(i, 1u, -2.0 * b * r / s);
}
