#!/usr/bin/env python3
"""The SVGD paper's Bayesian experiments in JAX: the algorithm of svgd_numpy.py, jit-compiled.

The same model, minibatches, bandwidth (algorithms.md §1: h = med / log(n + 1), med over all
n² squared distances), AdaGrad with momentum, initial draws and evaluation as svgd_numpy.py
(data, draws and evaluation come from bayes_common.py, in float64 NumPy); only the SVGD loop
is JAX. The scores are jax.grad of §5.1's and §5.2's log-posteriors (vmapped over particles),
so they also check svgd_numpy.py's hand-written gradients.

Loop (--loop): `scan` (default) compiles the whole run into one lax.scan; `python` compiles one
step and calls it from a Python loop, a dispatch per step. Either way the program is compiled
ahead of time (jit(...).lower(...).compile(), reported as compile_s, part of setup_s) and
iter_s is the compiled run alone, ended by block_until_ready. float32 by default (--x64:
float64, for the tight cross-check against svgd_numpy.py).

Usage: the options of svgd_numpy.py, plus --loop scan|python and --x64; prints one JSON line
(metrics, import_s, setup_s with compile_s, iter_s, per_iter_ms, eval_s).
Cross-check: svgd_numpy.py --iters K --out-init X0.npy --out-f64 A.npy, then this script with
--init-npy X0.npy --iters K --out-f64 B.npy and the same seed (the same minibatches), then
report.py diff A.npy B.npy.
"""
import argparse
import math
import os
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402

import bayes_common as bc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bc.add_common_args(ap)
    ap.add_argument("--loop", choices=["scan", "python"], default="scan")
    ap.add_argument("--x64", action="store_true", help="float64 (default float32)")
    args = ap.parse_args()
    bc.fill_defaults(args)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    from jax import lax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    dt = jnp.float64 if args.x64 else jnp.float32
    t0 = time.perf_counter()

    data = bc.model_data(args)
    x0 = bc.initial_particles(args, data)
    xtr, ytr = jnp.asarray(data.x_train, dt), jnp.asarray(data.y_train, dt)
    n_rows = data.n_rows
    m = min(args.batch, n_rows)
    scale = n_rows / m

    if args.model == "logistic":
        perm = jnp.asarray(data.perm, jnp.int32)
        dw = data.dw

        def log_post(th, xb, yb):
            w, log_alpha = th[:-1], th[-1]
            alpha = jnp.exp(log_alpha)
            lik = scale * jnp.sum(jax.nn.log_sigmoid(yb * (xb @ w)))
            prior_w = dw / 2 * log_alpha - alpha / 2 * jnp.dot(w, w)
            prior_alpha = (bc.LOGISTIC_A0 - 1) * log_alpha - bc.LOGISTIC_B0 * alpha + log_alpha
            return lik + prior_w + prior_alpha

        def rows_of(t):
            return perm[(t * m + jnp.arange(m)) % n_rows]
    else:
        d, h, p_w = data.d, data.h, data.n_weights
        log2pi = math.log(2 * math.pi)

        def log_post(th, xb, yb):
            w1 = th[: d * h].reshape(d, h)
            b1 = th[d * h : d * h + h]
            w2 = th[d * h + h : d * h + 2 * h]
            b2, log_gamma, log_lambda = th[-3], th[-2], th[-1]
            pred = jax.nn.relu(xb @ w1 + b1) @ w2 + b2
            gamma, lam = jnp.exp(log_gamma), jnp.exp(log_lambda)
            lik = -(m / 2) * (log2pi - log_gamma) - gamma / 2 * jnp.sum((pred - yb) ** 2)
            prior_gamma = (bc.BNN_A0 - 1) * log_gamma - bc.BNN_B0 * gamma + log_gamma
            weights = th[:-2]
            prior_w = (-(p_w / 2) * (log2pi - log_lambda) - lam / 2 * jnp.dot(weights, weights)
                       + (bc.BNN_A0 - 1) * log_lambda - bc.BNN_B0 * lam + log_lambda)
            return scale * lik + prior_gamma + prior_w

        def rows_of(t):
            return (t * m + jnp.arange(m)) % n_rows

    score_all = jax.vmap(jax.grad(log_post), in_axes=(0, None, None))

    def phi(x, s):
        diff = x[:, None, :] - x[None, :, :]
        d2 = jnp.sum(diff * diff, -1)
        med = jnp.median(d2)
        hh = jnp.where(med > 0, med / math.log(x.shape[0] + 1), 1.0)
        k = jnp.exp(-d2 / hh)
        return (k @ s + (2.0 / hh) * (x * k.sum(1)[:, None] - k @ x)) / x.shape[0]

    def step(x, g, t):
        rows = rows_of(t)
        p = phi(x, score_all(x, xtr[rows], ytr[rows]))
        g = jnp.where(t == 0, p * p, 0.9 * g + 0.1 * p * p)
        return x + args.step_size * p / (1e-6 + jnp.sqrt(g)), g

    x0j = jnp.asarray(x0, dt)
    g0 = jnp.zeros_like(x0j)
    tc = time.perf_counter()
    if args.loop == "scan":
        def run(x):
            def body(carry, t):
                return step(carry[0], carry[1], t), None
            (x, _), _ = lax.scan(body, (x, jnp.zeros_like(x)), jnp.arange(args.iters))
            return x

        compiled = jax.jit(run).lower(x0j).compile()
        t1 = time.perf_counter()
        theta = compiled(x0j).block_until_ready()
    else:
        compiled = jax.jit(step).lower(x0j, g0, jnp.int32(0)).compile()
        t1 = time.perf_counter()
        x, g = x0j, g0
        for t in range(args.iters):
            x, g = compiled(x, g, jnp.int32(t))
        theta = x.block_until_ready()
    t2 = time.perf_counter()
    theta = np.asarray(theta, np.float64)
    metrics = bc.evaluate(args, data, theta)
    t3 = time.perf_counter()
    record = {"tool": f"svgd_jax_{args.loop}", "model": args.model, "train": args.train,
              "test": args.test, "n": args.particles, "dim": data.dim, "iters": args.iters,
              "step_size": args.step_size, "batch": args.batch, "seed": args.seed,
              "dtype": "float64" if args.x64 else "float32", "jax": jax.__version__, **metrics,
              "import_s": round(t0 - T_START, 4), "setup_s": round(t1 - t0, 4),
              "compile_s": round(t1 - tc, 4), "iter_s": round(t2 - t1, 4),
              "per_iter_ms": round(1e3 * (t2 - t1) / max(args.iters, 1), 4),
              "eval_s": round(t3 - t2, 4)}
    bc.finish(args, record, theta, x0)


if __name__ == "__main__":
    main()
