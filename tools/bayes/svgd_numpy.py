#!/usr/bin/env python3
"""The SVGD paper's Bayesian experiments in NumPy, as the authors' reference code runs them.

A clean implementation (not a copy) of the algorithm of the authors' python/svgd.py,
bayesian_logistic_regression.py and bayesian_nn.py (github.com/DartML/Stein-Variational-
Gradient-Descent), following /work/shared/docs/algorithms.md exactly:
- φ(x_i) = (1/n) Σ_j [k(x_j,x_i) s(x_j) + (2/h)(x_i − x_j) k(x_j,x_i)], k = exp(−‖x−y‖²/h),
  h = med / log(n + 1) with med the median of all n² squared distances (§1; the authors'
  sqrt(0.5·med/log(n+1)) with exp(−d²/(2h²)) is the same kernel);
- AdaGrad with momentum (§1): G = φ² on the first step, then G ← 0.9 G + 0.1 φ²;
  x ← x + ε φ / (1e-6 + √G);
- the scores, initial draws, minibatches and evaluation of §5.1 (logistic) and §5.2 (bnn),
  in float64 like the authors' code; the BNN gradient by hand-written back-propagation.
Data handling and evaluation are in bayes_common.py (shared with svgd_jax.py).

Usage (python from tools/bayes/setup.sh's virtualenv):
  svgd_numpy.py --model logistic --train train.csv --test test.csv [--particles 100]
      [--iters 6000] [--step-size 0.05] [--batch 100] [--seed S] [--out P.npy]
  svgd_numpy.py --model bnn --train train.csv --test test.csv [--particles 20] [--iters 2000]
      [--step-size 1e-3] [--batch 100] [--no-dev-rule] [--gamma-units data|authors]
Prints one JSON line: the metrics (accuracy and test_ll; rmse and test_ll with variants),
setup_s (data, initial particles), iter_s (the SVGD loop), per_iter_ms and eval_s. --init-npy
starts from given particles (the cross-check with svgd_jax.py), --out-init saves the draws.
"""
import argparse
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402

import bayes_common as bc  # noqa: E402


def logistic_score(data, theta, step):
    """§5.1 on minibatch `step`: ∇_w = (N/m) Σ ((y+1)/2 − σ(wᵀx)) x − α w,
    ∂/∂log α = d/2 − (α/2)‖w‖² + (a0 − 1) − b0 α + 1."""
    rows = data.batch_rows(step)
    xb, yb = data.x_train[rows], data.y_train[rows]
    w, alpha = theta[:, :-1], np.exp(theta[:, -1])
    sig = np.exp(-np.logaddexp(0.0, -(w @ xb.T)))  # σ(wᵀx) [n, m], no overflow
    dw = (data.n_rows / len(rows)) * (((yb[None, :] + 1) / 2 - sig) @ xb) - alpha[:, None] * w
    dlog_alpha = (data.dw / 2 - alpha / 2 * np.sum(w * w, 1) + (bc.LOGISTIC_A0 - 1)
                  - bc.LOGISTIC_B0 * alpha + 1)
    return np.hstack([dw, dlog_alpha[:, None]])


def bnn_score(data, theta, step, batch):
    """§5.2's log-posterior gradient on minibatch `step`, by back-propagation."""
    rows = data.batch_rows(step, batch)
    xb, yb = data.x_train[rows], data.y_train[rows]
    m, scale = len(rows), data.n_rows / len(rows)
    w1, b1, w2, b2, log_gamma, log_lambda = data.unpack(theta)
    gamma, lam = np.exp(log_gamma), np.exp(log_lambda)
    z = np.einsum("rd,ndh->nrh", xb, w1) + b1[:, None, :]
    a = np.maximum(z, 0.0)
    r = np.einsum("nrh,nh->nr", a, w2) + b2[:, None] - yb[None, :]  # ŷ − y
    g = -scale * gamma[:, None] * r  # ∂ log p / ∂ŷ
    dz = g[:, :, None] * w2[:, None, :] * (z > 0)
    lam_ = lam[:, None]
    dw1 = np.einsum("rd,nrh->ndh", xb, dz) - lam[:, None, None] * w1
    db1 = dz.sum(1) - lam_ * b1
    dw2 = np.einsum("nr,nrh->nh", g, a) - lam_ * w2
    db2 = g.sum(1) - lam * b2
    sq_w = (np.sum(w1 * w1, (1, 2)) + np.sum(b1 * b1, 1) + np.sum(w2 * w2, 1) + b2 * b2)
    dlog_gamma = (scale * (m / 2 - gamma / 2 * np.sum(r * r, 1)) + (bc.BNN_A0 - 1)
                  - bc.BNN_B0 * gamma + 1)
    dlog_lambda = (data.n_weights / 2 - lam / 2 * sq_w + (bc.BNN_A0 - 1) - bc.BNN_B0 * lam + 1)
    n = theta.shape[0]
    return np.hstack([dw1.reshape(n, -1), db1, dw2, db2[:, None], dlog_gamma[:, None],
                      dlog_lambda[:, None]])


def phi(x, s):
    """§1's SVGD direction with the median bandwidth."""
    k_h = bc.sq_dists(x)
    h = bc.median_bandwidth(k_h)
    k = np.exp(-k_h / h)
    return (k @ s + (2.0 / h) * (x * k.sum(1)[:, None] - k @ x)) / x.shape[0]


def svgd(x, score, iters, step_size):
    """`iters` steps of SVGD with §1's AdaGrad with momentum; score(x, step) → s."""
    x = x.copy()
    g = None
    for t in range(iters):
        p = phi(x, score(x, t))
        g = p * p if g is None else 0.9 * g + 0.1 * p * p
        x += step_size * p / (1e-6 + np.sqrt(g))
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bc.add_common_args(ap)
    args = ap.parse_args()
    bc.fill_defaults(args)
    t0 = time.perf_counter()
    data = bc.model_data(args)
    x0 = bc.initial_particles(args, data)
    if args.model == "logistic":
        score = lambda x, t: logistic_score(data, x, t)  # noqa: E731
    else:
        score = lambda x, t: bnn_score(data, x, t, args.batch)  # noqa: E731
    t1 = time.perf_counter()
    theta = svgd(x0, score, args.iters, args.step_size)
    t2 = time.perf_counter()
    metrics = bc.evaluate(args, data, theta)
    t3 = time.perf_counter()
    record = {"tool": "svgd_numpy", "model": args.model, "train": args.train, "test": args.test,
              "n": args.particles, "dim": data.dim, "iters": args.iters,
              "step_size": args.step_size, "batch": args.batch, "seed": args.seed,
              "dtype": "float64", **metrics,
              "import_s": round(t0 - T_START, 4), "setup_s": round(t1 - t0, 4),
              "iter_s": round(t2 - t1, 4),
              "per_iter_ms": round(1e3 * (t2 - t1) / max(args.iters, 1), 4),
              "eval_s": round(t3 - t2, 4)}
    bc.finish(args, record, theta, x0)


if __name__ == "__main__":
    main()
