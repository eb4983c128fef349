#!/usr/bin/env python3
"""The PyTorch baseline for `stein bench`: the SVGD direction φ as a researcher would write it.

    φ(x_i) = (1/n) Σ_j [k(x_j,x_i) s_j + (2/h)(x_i − x_j) k(x_j,x_i)],  k = exp(−‖x_i−x_j‖²/h)

written with matrix products (‖a‖² + ‖b‖² − 2 a·bᵀ, then K @ s and K @ x), in row blocks so the
B×n kernel block fits in memory, and the exact median bandwidth of `algorithms.md` from the
full n×n matrix of squared distances where that fits (torch.median, lower middle; the bench
reports the time, not the value). Each configuration is first checked in float64 against the
pairwise formula on a few rows, so a wrong baseline cannot look fast.

Usage: python3 tools/torch_phi_baseline.py [--dims 2,16,64] [--n-max 1048576] [--json out.json]
Needs a CUDA build of PyTorch; it is not part of the project's tests.
"""
import argparse
import json
import math
import time

import torch


def phi_blocked(x, s, h, block_elems=1 << 28):
    n, d = x.shape
    out = torch.empty_like(x)
    sq = (x * x).sum(1)
    b = max(1, min(n, block_elems // n))
    for i0 in range(0, n, b):
        xi = x[i0:i0 + b]
        d2 = (sq[i0:i0 + b, None] + sq[None, :] - 2.0 * (xi @ x.T)).clamp_min_(0.0)
        k = torch.exp_(d2.mul_(-1.0 / h))
        out[i0:i0 + b] = (k @ s + (2.0 / h) * (xi * k.sum(1, keepdim=True) - k @ x)) / n
    return out


def phi_reference_rows(x, s, h, rows):
    x64, s64 = x.double(), s.double()
    res = []
    for i in rows:
        diff = x64[i][None, :] - x64  # x_i − x_j
        k = torch.exp(-(diff * diff).sum(1) / h)
        res.append(((k[:, None] * s64).sum(0) + (2.0 / h) * (k[:, None] * diff).sum(0)) / x.shape[0])
    return torch.stack(res)


def median_bandwidth(x):
    n = x.shape[0]
    sq = (x * x).sum(1)
    d2 = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min_(0.0)
    med = torch.median(d2.flatten())
    return float(med) / math.log(n + 1)


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(f, min_time=0.5):
    f()
    sync()
    times = []
    t_start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - t_start < min_time and len(times) < 50):
        t = time.perf_counter()
        f()
        sync()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", default="2,16,64")
    ap.add_argument("--n-min", type=int, default=1024)
    ap.add_argument("--n-max", type=int, default=1 << 20)
    ap.add_argument("--budget", type=float, default=2.0, help="stop growing n once φ takes longer")
    ap.add_argument("--json", default="torch-baseline.json")
    ap.add_argument("--device", default="cuda",
                    help="cuda (the comparison), or cpu to check this script without a GPU")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # plain float32, as stein computes
    rows_out = []
    for d in [int(v) for v in args.dims.split(",")]:
        n = args.n_min
        while n <= args.n_max:
            g = torch.Generator(device=dev).manual_seed(n * 131 + d)
            x = torch.randn(n, d, device=dev, generator=g)
            s = -x  # standard-normal score; φ's cost does not depend on the target
            h = 2.0 * d / math.log(n + 1)
            got = phi_blocked(x, s, h)
            rows = [0, n // 2, n - 1]
            want = phi_reference_rows(x, s, h, rows)
            err = float(((got[rows].double() - want).abs() / (want.abs() + 1e-3)).max())
            t_phi = timed(lambda: phi_blocked(x, s, h))
            t_med = None
            if n * n * 4 * 3 < 40e9:
                t_med = timed(lambda: median_bandwidth(x))
            row = dict(n=n, d=d, phi_seconds=t_phi, pairs_per_second=n * n / t_phi,
                       median_seconds=t_med, check_max_rel_err=err)
            print(json.dumps(row), flush=True)
            rows_out.append(row)
            if t_phi > args.budget:
                break
            n *= 2
            del x, s, got
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    adapter = (torch.cuda.get_device_name() if dev.type == "cuda"
               else f"CPU ({torch.get_num_threads()} threads)")
    report = dict(tool="PyTorch φ", adapter=adapter, torch=torch.__version__, tf32=False,
                  rows=rows_out)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
