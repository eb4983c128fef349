"""SVGD on a posterior whose score is written in NumPy (or JAX, when installed).

The posterior of a Gaussian's mean μ and log standard deviation s given data y_1..y_N, with
priors μ ~ N(0, 10²) and s ~ N(0, 1):

    log p(μ, s | y) = −N s − Σ (y_k − μ)² / (2 e^{2s}) − μ²/200 − s²/2 + const.

stein calls the score once per step with the particles as an [n, 2] array; the φ, the exact
median bandwidth and the optimizer run on the GPU. STEIN_EXAMPLE_SMALL=1 makes it quick (CI).
"""

import os
import time

import numpy as np

import stein

small = os.environ.get("STEIN_EXAMPLE_SMALL") == "1"
rng = np.random.default_rng(0)
y = rng.normal(loc=1.5, scale=0.7, size=200)
N, sum_y, sum_y2 = len(y), y.sum(), (y**2).sum()


def score_numpy(x):
    mu, s = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    sq = sum_y2 - 2 * mu * sum_y + N * mu**2  # Σ (y_k − μ)²
    inv_var = np.exp(-2 * s)
    d_mu = (sum_y - N * mu) * inv_var - mu / 100
    d_s = -N + sq * inv_var - s
    return np.stack([d_mu, d_s], axis=1)


score = score_numpy
try:  # The same score from JAX's autodiff, where JAX is installed.
    import jax
    import jax.numpy as jnp

    def log_post(z):
        mu, s = z[0], z[1]
        return -N * s - jnp.sum((jnp.asarray(y) - mu) ** 2) / (2 * jnp.exp(2 * s)) - mu**2 / 200 - s**2 / 2

    grad = jax.jit(jax.vmap(jax.grad(log_post)))
    score = lambda x: np.asarray(grad(jnp.asarray(x)))  # noqa: E731
    print("score: JAX (jit, vmap, grad)")
except ImportError:
    print("score: NumPy")

n, steps = (100, 300) if small else (1000, 2000)
x0 = rng.normal(size=(n, 2))
start = time.perf_counter()
r = stein.svgd(score, x0, steps=steps, step_size=0.05, ksd_every=steps // 4, progress=not small)
seconds = time.perf_counter() - start
mu, sigma = r.particles[:, 0], np.exp(r.particles[:, 1])
print(f"posterior mean of mu    = {mu.mean():.3f} ± {mu.std():.3f}  (sample mean {y.mean():.3f})")
print(f"posterior mean of sigma = {sigma.mean():.3f} ± {sigma.std():.3f}  (sample std {y.std():.3f})")
print(f"KSD² trace: {[round(p.ksd2_u, 5) for p in r.ksd_trace]}")
print(f"time: {seconds:.2f} s for {n} particles × {steps} steps ({1e3 * r.seconds_per_step:.2f} ms/step) on {r.adapter}")
assert abs(mu.mean() - y.mean()) < 0.05 and abs(sigma.mean() - y.std()) < 0.05
