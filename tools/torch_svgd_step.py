#!/usr/bin/env python3
"""The PyTorch peer of a full `stein bench` step (issue 21 item 4): score, exact median
bandwidth, φ and the update, as a researcher would write them on a GPU.

The problem is `stein bench`'s (`bench::bench_problem`): the two-component diagonal Gaussian
mixture with weights 1 : 2, means −1 and 1.5 in every coordinate, standard deviations 1 and
0.7, particles from N(0, 2²) (a different random stream than stein's; the cost does not depend
on it). One step, as `Svgd::step` with `Bandwidth::Median` and `Optimizer::Adagrad`:

1. the score ∇ log p(x) (responsibilities by log-sum-exp, algorithms.md);
2. the median of all n² squared distances, NumPy's convention (the mean of the two middle
   values for an even count, `torch.kthvalue` twice over the dense n×n matrix),
   h = med / log(n + 1), h = 1 when med = 0 (algorithms.md §1);
3. φ with the dense n×n kernel in row blocks (as `tools/torch_phi_baseline.py`);
4. the authors' AdaGrad with momentum (α = 0.9, fudge 1e-6, `cpu::update::adagrad`).

float32 throughout, TF32 off (`allow_tf32 = False` for matmul and cuDNN), so the arithmetic is
stein's. The squared distances come from ‖a‖² + ‖b‖² − 2a·b, clamped at 0, the usual dense
form: its median can differ from stein's (which sums (a − b)²) in the last bits, which does
not change the cost being compared. Each size is first checked: φ on three rows against a
float64 pairwise computation, and the median against float64 NumPy-convention median of the
float64 distances where n ≤ 4096. The dense median needs the n×n matrix, so the step runs
only where 3 of them fit in `--mem-gb` (default 40); larger n are reported with null times.

Writes a JSON beside stein's (`stein bench --json`): the device, torch and CUDA versions, and
per (n, d) the seconds of a step and of each phase (median of timed runs after a warm-up,
CUDA-synchronised), with the checks' errors.

Usage: python3 tools/torch_svgd_step.py [--dims 2,16,64] [--n-min 1024] [--n-max 65536]
                                        [--json torch-step.json]
Needs a CUDA build of PyTorch for the comparison; not part of the project's tests.
`--device cpu` runs the same step on the CPU, to check the script where no GPU is lent: run
so on the 2-core development machine (torch 2.15 from PyPI), its checks' errors were at most
1.0e-5 (φ) and 1e-7 (median) at n = 256–2048, d = 2 and 16. Its GPU timings are unmeasured.
"""
import argparse
import json
import math
import time

import torch

ALPHA, FUDGE = 0.9, 1e-6


def mixture(d, dev):
    weights = torch.tensor([1.0, 2.0], device=dev)
    means = torch.stack([torch.full((d,), -1.0, device=dev), torch.full((d,), 1.5, device=dev)])
    stds = torch.stack([torch.full((d,), 1.0, device=dev), torch.full((d,), 0.7, device=dev)])
    return weights / weights.sum(), means, stds


def score(x, mix):
    """∇ log p(x) of the diagonal mixture: Σ_k r_k (μ_k − x) / σ_k²."""
    w, mu, sd = mix
    z = (x[:, None, :] - mu[None]) / sd[None]  # [n, K, d]
    logits = torch.log(w)[None] - 0.5 * (z * z).sum(2) - torch.log(sd).sum(1)[None]
    r = torch.softmax(logits, dim=1)  # log-sum-exp with the max subtracted
    return (r[:, :, None] * (mu[None] - x[:, None, :]) / (sd * sd)[None]).sum(1)


def sqdist(x):
    sq = (x * x).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min_(0.0)


def median_sq(x):
    """The median of all n² squared distances, NumPy's convention (diagonal zeros included)."""
    flat = sqdist(x).flatten()
    total = flat.numel()
    hi = torch.kthvalue(flat, total // 2 + 1).values
    if total % 2 == 1:
        return hi
    lo = torch.kthvalue(flat, total // 2).values
    return 0.5 * (lo.double() + hi.double())


def bandwidth(med, n):
    med = float(med)
    return med / math.log(n + 1) if med > 0.0 else 1.0


def phi_blocked(x, s, h, block_elems=1 << 28):
    n, _ = x.shape
    out = torch.empty_like(x)
    sq = (x * x).sum(1)
    b = max(1, min(n, block_elems // n))
    for i0 in range(0, n, b):
        xi = x[i0:i0 + b]
        d2 = (sq[i0:i0 + b, None] + sq[None, :] - 2.0 * (xi @ x.T)).clamp_min_(0.0)
        k = torch.exp_(d2.mul_(-1.0 / h))
        out[i0:i0 + b] = (k @ s + (2.0 / h) * (xi * k.sum(1, keepdim=True) - k @ x)) / n
    return out


def adagrad_(x, g, phi, step_size, t):
    if t == 1:
        g.copy_(phi * phi)
    else:
        g.mul_(ALPHA).add_((1.0 - ALPHA) * phi * phi)
    x.add_(step_size * phi / (FUDGE + g.sqrt()))


class Engine:
    """The particles and AdaGrad state of one run, stepped as `Svgd::step`."""

    def __init__(self, x, mix):
        self.x, self.mix = x, mix
        self.g = torch.zeros_like(x)
        self.t = 0

    def step(self, step_size=1e-3):
        n = self.x.shape[0]
        s = score(self.x, self.mix)
        h = bandwidth(median_sq(self.x), n)  # the median's value goes to the host, as h
        phi = phi_blocked(self.x, s, h)
        self.t += 1
        adagrad_(self.x, self.g, phi, step_size, self.t)


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(f, min_time=0.5):
    f()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < min_time and len(times) < 50):
        t = time.perf_counter()
        f()
        sync()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2]


def check(x, mix):
    """Relative error of φ on three rows against float64, and of the median where n ≤ 4096."""
    n = x.shape[0]
    s = score(x, mix)
    med = median_sq(x)
    h = bandwidth(med, n)
    got = phi_blocked(x, s, h)
    x64, s64 = x.double(), s.double()
    err = 0.0
    for i in [0, n // 2, n - 1]:
        diff = x64[i][None, :] - x64
        k = torch.exp(-(diff * diff).sum(1) / h)
        want = ((k[:, None] * s64).sum(0) + (2.0 / h) * (k[:, None] * diff).sum(0)) / n
        err = max(err, float(((got[i].double() - want).abs() / (want.abs() + 1e-3)).max()))
    med_err = None
    if n <= 4096:
        sq = (x64 * x64).sum(1)
        d64 = (sq[:, None] + sq[None, :] - 2.0 * (x64 @ x64.T)).clamp_min_(0.0).flatten()
        srt = torch.sort(d64).values
        total = srt.numel()
        want = float(srt[total // 2]) if total % 2 else 0.5 * float(srt[total // 2 - 1] + srt[total // 2])
        med_err = abs(float(med) - want) / max(want, 1e-30)
    return err, med_err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", default="2,16,64")
    ap.add_argument("--n-min", type=int, default=1024)
    ap.add_argument("--n-max", type=int, default=65536)
    ap.add_argument("--mem-gb", type=float, default=40.0, help="the n×n matrices' budget")
    ap.add_argument("--json", default="torch-step.json")
    ap.add_argument("--device", default="cuda",
                    help="cuda (the comparison), or cpu to check this script without a GPU")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = []
    for d in [int(v) for v in args.dims.split(",")]:
        mix = mixture(d, dev)
        n = args.n_min
        while n <= args.n_max:
            row = dict(n=n, d=d, step_seconds=None, score_seconds=None, median_seconds=None,
                       phi_seconds=None, update_seconds=None, check_phi_max_rel_err=None,
                       check_median_rel_err=None)
            if 3 * n * n * 4 > args.mem_gb * 1e9:
                row["skipped"] = "the dense n×n matrix does not fit --mem-gb"
                print(json.dumps(row), flush=True)
                rows.append(row)
                n *= 2
                continue
            gen = torch.Generator(device=dev).manual_seed(n * 131 + d)
            x = 2.0 * torch.randn(n, d, device=dev, generator=gen)
            row["check_phi_max_rel_err"], row["check_median_rel_err"] = check(x, mix)
            eng = Engine(x.clone(), mix)
            row["step_seconds"] = timed(eng.step)
            s = score(x, mix)
            h = bandwidth(median_sq(x), n)
            phi = phi_blocked(x, s, h)
            g = torch.zeros_like(x)
            row["score_seconds"] = timed(lambda: score(x, mix))
            row["median_seconds"] = timed(lambda: bandwidth(median_sq(x), n))
            row["phi_seconds"] = timed(lambda: phi_blocked(x, s, h))
            # On a copy of x, so the phases after it see the same particles (the copy's time
            # is included: an elementwise pass over n·d floats like the update's own).
            row["update_seconds"] = timed(lambda: adagrad_(x.clone(), g, phi, 1e-3, 2))
            print(json.dumps(row), flush=True)
            rows.append(row)
            del x, s, phi, g, eng
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            n *= 2
    adapter = (torch.cuda.get_device_name() if dev.type == "cuda"
               else f"CPU ({torch.get_num_threads()} threads)")
    report = dict(tool="PyTorch full step", adapter=adapter, torch=torch.__version__,
                  cuda=torch.version.cuda, tf32=False, problem="stein bench (bench_problem)",
                  optimizer="adagrad", bandwidth="median (NumPy convention)", rows=rows)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
