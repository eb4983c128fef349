"""The cost of a score computed in NumPy (the host-score path) against the same target built
in, per SVGD step (issue 20 item 6).

For each (n, d): the target N(m, Σ) as stein's built-in `gaussian` (its score a WGSL kernel)
and as a NumPy function −(x − m)Σ⁻¹ of the same values; `stein.SVGD` takes one step to warm up,
then `--steps` timed steps of each (AdaGrad, exact median bandwidth). The host path adds, per
step, a submit and wait, the particles read back (n·d·4 bytes), the NumPy call and the score
written (n·d·4 bytes); the rest of the step (median, φ, update) is the same. Prints a table and
writes JSON (--json).

    python python/bench/host_score.py --sizes 4096,16384 --dims 2,64 --json bench/host_score.json
"""

import argparse
import json
import platform
import time

import numpy as np

import stein


def time_steps(target, x0, steps):
    s = stein.SVGD(target, x0, step_size=0.01)
    s.step(1)
    s.particles  # waits for the device
    start = time.perf_counter()
    s.step(steps)
    s.particles
    return (time.perf_counter() - start) / steps


def score_of(mean, prec):
    def score(x):
        return (mean - x) @ prec

    return score


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4096,16384")
    ap.add_argument("--dims", default="2,64")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    dev = stein.default_device()
    rows = []
    print(f"adapter: {dev.label}")
    print(f"{'n':>7} {'d':>4} {'built-in s/step':>16} {'NumPy s/step':>13} {'host extra s':>13} {'extra/step':>11} {'NumPy call s':>13}")
    for d in [int(v) for v in a.dims.split(",")]:
        rng = np.random.default_rng(d)
        a_ = rng.normal(size=(d, d)) / np.sqrt(d)
        cov = a_ @ a_.T + np.eye(d)
        mean = rng.normal(size=d)
        prec = np.linalg.inv(cov)
        target = {"kind": "gaussian", "mean": mean.tolist(), "cov": cov.tolist()}
        score = score_of(mean.astype(np.float32), prec.astype(np.float32))
        for n in [int(v) for v in a.sizes.split(",")]:
            x0 = rng.normal(size=(n, d)).astype(np.float32)
            built = time_steps(target, x0, a.steps)
            host = time_steps(score, x0, a.steps)
            t = time.perf_counter()
            for _ in range(3):
                score(x0)
            call = (time.perf_counter() - t) / 3
            extra = host - built
            rows.append(dict(n=n, d=d, builtin_seconds_per_step=built, numpy_seconds_per_step=host,
                             extra_seconds=extra, extra_fraction=extra / built, numpy_call_seconds=call))
            print(f"{n:>7} {d:>4} {built:>16.4f} {host:>13.4f} {extra:>13.4f} {extra / built:>10.1%} {call:>13.5f}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(adapter=dev.label, machine=platform.processor() or platform.machine(),
                           steps=a.steps, rows=rows), f, indent=2)


if __name__ == "__main__":
    main()
