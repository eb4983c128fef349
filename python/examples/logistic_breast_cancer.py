"""The built-in Bayesian logistic regression (algorithms.md §5.1) on the breast-cancer data.

The data (../shared/data/breast-cancer.csv: 569 tumours, 30 features, label 0 malignant /
1 benign) is split 80/20; the model's score runs as a WGSL kernel of stein's on the GPU, with
the authors' initial particles (--init prior), minibatches of 100 rows and AdaGrad (50
particles, 200 steps and minibatches of 50 with STEIN_EXAMPLE_SMALL=1). The test
accuracy averages the particles' predictive probabilities, with the features standardised by
the training rows' statistics as the target does. STEIN_EXAMPLE_SMALL=1 makes it quick (CI).
"""

import os
import tempfile
import time
from pathlib import Path

import numpy as np

import stein

small = os.environ.get("STEIN_EXAMPLE_SMALL") == "1"
root = Path(__file__).resolve().parents[2]
csv = root.parent / "shared" / "data" / "breast-cancer.csv"
header = csv.read_text().splitlines()[0]
table = np.loadtxt(csv, delimiter=",", skiprows=1)
rng = np.random.default_rng(0)
order = rng.permutation(len(table))
test, train = table[order[: len(table) // 5]], table[order[len(table) // 5 :]]

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "train.csv"
    np.savetxt(path, train, delimiter=",", header=header, comments="", fmt="%.10g")
    target = {"kind": "logistic", "data": str(path), "label": "label"}
    n, steps, batch = (50, 200, 50) if small else (100, 6000, 100)
    start = time.perf_counter()
    r = stein.svgd(target, n, init="prior", seed=1, steps=steps, step_size=0.05, score_batch=batch,
                   progress=not small)
    seconds = time.perf_counter() - start

# θ = (w for the 30 standardised features and the intercept, log α).
x_train, x_test, y_test = train[:, :-1], test[:, :-1], test[:, -1]
mean, std = x_train.mean(0), x_train.std(0)
z = np.hstack([(x_test - mean) / np.where(std > 0, std, 1), np.ones((len(test), 1))])
w = r.particles[:, :-1].astype(np.float64)
p = (0.5 * (1 + np.tanh(z @ w.T / 2))).mean(1)  # σ(wᵀz), averaged over the particles
accuracy = ((p > 0.5) == (y_test == 1)).mean()
print(f"test accuracy: {accuracy:.3f} on {len(test)} held-out tumours ({n} particles, {steps} steps)")
print(f"time: {seconds:.2f} s ({1e3 * r.seconds_per_step:.2f} ms/step) on {r.adapter}")
assert accuracy > 0.9
