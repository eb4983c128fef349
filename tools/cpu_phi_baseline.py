#!/usr/bin/env python3
"""The CPU baselines of issue 2 on this machine: the SVGD direction φ with a fixed bandwidth,

    φ(x_i) = (1/n) Σ_j [k(x_j,x_i) s_j + (2/h)(x_i − x_j) k(x_j,x_i)],  k = exp(−‖x_i−x_j‖²/h),

written as a researcher would, in float32: NumPy dense (‖a‖² + ‖b‖² − 2 a·bᵀ, then K @ s and
K @ x), the same function under `jax.jit`, and KeOps (pykeops LazyTensors, tiled, no n×n
matrix; its CPU backend compiles the formula on first use). Each configuration is first checked in float64
against the pairwise formula on a few rows, so a wrong baseline cannot look fast. Times are
medians of at least three calls after a warm-up (JAX: after compilation, with
block_until_ready). Compare with `stein bench --phi-only` run on the same machine just before
or after, since instances of a machine class differ (README, Benchmarks).

Usage: python3 tools/cpu_phi_baseline.py [--n 16384] [--dims 2,16,64] [--json out.json]
       [--peers numpy,jax,keops]
Needs numpy (jax and pykeops for their columns, each skipped if absent); not part of the
project's tests. --n-max-dense skips the dense columns above that n (they need the n×n matrix).
"""
import argparse
import json
import math
import os
import platform
import time

import numpy as np


def phi_numpy(x, s, h):
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(d2, 0.0, out=d2)
    k = np.exp(d2 * np.float32(-1.0 / h), out=d2)
    return (k @ s + np.float32(2.0 / h) * (x * k.sum(1, keepdims=True) - k @ x)) / np.float32(n)


def phi_reference_rows(x, s, h, rows):
    x64, s64 = x.astype(np.float64), s.astype(np.float64)
    out = []
    for i in rows:
        diff = x64[i][None, :] - x64
        k = np.exp(-(diff * diff).sum(1) / h)
        out.append((k @ s64 + (2.0 / h) * (k[:, None] * diff).sum(0)) / x.shape[0])
    return np.array(out)


def timed(f, min_time=1.0):
    f()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < 20):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--dims", default="2,16,64")
    ap.add_argument("--json", default="cpu-baseline.json")
    ap.add_argument("--n-max-dense", type=int, default=16384)
    ap.add_argument("--peers", default="numpy,jax,keops",
                    help="which to run, comma-separated (for runs interleaved with stein's)")
    args = ap.parse_args()
    peers = set(args.peers.split(","))
    try:
        import jax
        import jax.numpy as jnp

        @jax.jit
        def phi_jax(x, s, inv_h):
            n = x.shape[0]
            sq = jnp.sum(x * x, axis=1)
            d2 = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
            k = jnp.exp(-d2 * inv_h)
            return (k @ s + 2.0 * inv_h * (x * k.sum(1, keepdims=True) - k @ x)) / n
    except ImportError:
        jax = None
    try:
        import pykeops
        from pykeops.numpy import LazyTensor

        def phi_keops(x, s, h):
            xi = LazyTensor(x[:, None, :])
            xj = LazyTensor(x[None, :, :])
            sj = LazyTensor(s[None, :, :])
            k = (-((xi - xj) ** 2).sum(-1) * np.float32(1.0 / h)).exp()
            return (k * (sj + np.float32(2.0 / h) * (xi - xj))).sum(1) / np.float32(x.shape[0])
    except ImportError:
        pykeops = None
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "numpy": np.__version__,
        "jax": jax.__version__ if jax else None,
        "pykeops": pykeops.__version__ if pykeops else None,
        "rows": [],
    }
    rng = np.random.default_rng(7)
    for d in [int(v) for v in args.dims.split(",")]:
        n = args.n
        x = (2.0 * rng.standard_normal((n, d))).astype(np.float32)
        s = rng.standard_normal((n, d)).astype(np.float32)
        pairs = rng.integers(0, n, size=(4096, 2))
        med = float(np.median(((x[pairs[:, 0]] - x[pairs[:, 1]]) ** 2).sum(1)))
        h = max(med, 1e-12) / math.log(n + 1)
        rows = list(range(0, n, max(1, n // 6)))
        want = phi_reference_rows(x, s, h, rows)
        scale = max(1e-3, float(np.abs(want).max()))
        row = {"n": n, "d": d, "h": h}

        def measure(name, f):
            got = np.asarray(f())
            err = float(np.abs(got[rows] - want).max() / scale)
            assert err < 1e-3, (name, row, err)
            t = timed(f)
            row.update({f"{name}_check_max_rel_err": err, f"{name}_phi_seconds": t,
                        f"{name}_pairs_per_second": n * n / t})

        if pykeops and "keops" in peers:
            measure("keops", lambda: phi_keops(x, s, h))
        if n <= args.n_max_dense:
            if "numpy" in peers:
                measure("numpy", lambda: phi_numpy(x, s, h))
            if jax and "jax" in peers:
                xj, sj, inv_h = jnp.asarray(x), jnp.asarray(s), jnp.float32(1.0 / h)
                measure("jax", lambda: phi_jax(xj, sj, inv_h).block_until_ready())
        print(json.dumps(row), flush=True)
        report["rows"].append(row)
    with open(args.json + ".tmp", "w") as f:
        json.dump(report, f, indent=1)
    os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
