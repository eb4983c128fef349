"""An RBM trained by SteinCD on the ring of 8 Gaussians, and its samples plotted.

`stein.train` runs `stein train` in a run directory (config.json, metrics.jsonl, checkpoints,
model.safetensors, and for 2-D data stein's own density plot density.png with the model's
samples over it); here the model then draws samples by Gibbs sweeps and, where matplotlib is
installed, they are plotted again with it. STEIN_EXAMPLE_SMALL=1 makes it quick (CI).
"""

import os
import tempfile
import time
from pathlib import Path

import stein

small = os.environ.get("STEIN_EXAMPLE_SMALL") == "1"
out = Path(os.environ.get("STEIN_EXAMPLE_OUT") or tempfile.mkdtemp()) / "rbm-steincd"
steps = 200 if small else 5000
start = time.perf_counter()
run = stein.train("ring8", out=out, overwrite=True, algo="stein-cd", hidden=10, steps=steps,
                  log_every=steps // 4, progress=not small)
seconds = time.perf_counter() - start
model = run.model()
loglik = model.log_likelihood("ring8-valid")
samples = model.sample(1000, steps=500)
print(f"trained {run.steps} updates in {seconds:.2f} s; held-out log-likelihood {loglik['loglik']:.3f} ({loglik['method']})")
print(f"stein's plot of the density and samples: {run.out / 'density.png'}")
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(samples[:, 0], samples[:, 1], s=2)
    ax.set_title("RBM (SteinCD) samples, 500 Gibbs sweeps")
    fig.savefig(run.out / "samples.png", dpi=100)
    print(f"matplotlib's plot of the samples: {run.out / 'samples.png'}")
except ImportError:
    print("matplotlib is not installed: no samples.png")
print(f"time: {time.perf_counter() - start:.2f} s in all")
assert (run.out / "density.png").exists()
