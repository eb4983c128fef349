#!/usr/bin/env python3
"""A long NUTS reference run (NumPyro) for the Bayesian logistic regression of algorithms.md §5.1.

The posterior that stein's SVGD samples, on the full training data (no minibatches): labels ±1,
features standardised with the training rows' statistics and an intercept last (bayes_common.py,
the same preparation as stein's {"kind": "logistic"} target), α ~ Gamma(1, rate 0.01),
w | α ~ N(0, α⁻¹ I) including the intercept. NUTS samples θ = (w, log α) directly, in stein's
coordinates: NumPyro's NUTS is given the potential −log p(θ) with

    log p(θ) = Σ_t log σ(y_t wᵀx_t) + (d/2) log α − (α/2)‖w‖² + (a0 − 1) log α − b0 α + log α

(d the length of w; the last log α is the Jacobian of α = exp(log α), so the density is the one
whose score stein uses). Float64. Chains start at w ~ N(0, 0.1² I), log α = 0, one key each.

Output, one JSON line (and appended to --json): the posterior mean and std (ddof 1) of each
coordinate of θ in stein's order (the features in the file's order, the intercept, log α),
split R-hat and effective sample size (NumPyro's diagnostics; max R-hat, min and median ESS),
the number of divergent transitions, the largest |mean| / (sd/√S) over coordinates of
svgd_numpy.py's full-data score at the samples (Stein's identity: ≈ 0 under the posterior), the §5.1 predictive accuracy and test log-likelihood
averaged over all retained samples, and the wall-clock seconds.

Usage: nuts_logistic.py --train train.csv --test test.csv [--label label] [--chains 4]
       [--warmup 2000] [--samples 5000] [--seed 0] [--chain-method sequential|vectorized]
       [--json out.jsonl] [--out-samples S.npy]
"""
import argparse
import json
import os
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402

import bayes_common as bc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--label", default="label")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chain-method", choices=["sequential", "vectorized"], default="sequential")
    ap.add_argument("--json", help="append the result line to this file too")
    ap.add_argument("--out-samples", help="all retained samples [chains·samples, dim] .npy")
    args = ap.parse_args()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    import numpyro
    from numpyro.diagnostics import summary
    from numpyro.infer import MCMC, NUTS

    numpyro.enable_x64()
    data = bc.LogisticData(args.train, args.test, args.label, seed=args.seed)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    dw, a0, b0 = data.dw, bc.LOGISTIC_A0, bc.LOGISTIC_B0

    def potential(th):
        w, log_alpha = th[:-1], th[-1]
        alpha = jnp.exp(log_alpha)
        lp = (jnp.sum(jax.nn.log_sigmoid(y * (x @ w))) + dw / 2 * log_alpha
              - alpha / 2 * jnp.dot(w, w) + (a0 - 1) * log_alpha - b0 * alpha + log_alpha)
        return -lp

    rng = np.random.default_rng([args.seed, 3])
    init = np.hstack([0.1 * rng.standard_normal((args.chains, dw)), np.zeros((args.chains, 1))])
    mcmc = MCMC(NUTS(potential_fn=potential), num_warmup=args.warmup, num_samples=args.samples,
                num_chains=args.chains, chain_method=args.chain_method, progress_bar=False)
    t0 = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(args.seed), init_params=jnp.asarray(init),
             extra_fields=("diverging",))
    chains = np.asarray(mcmc.get_samples(group_by_chain=True))  # [chains, samples, dim]
    t1 = time.perf_counter()
    diag = summary({"theta": chains}, group_by_chain=True)["theta"]
    flat = chains.reshape(-1, data.dim)
    metrics = bc.evaluate_logistic(data, flat)
    # Stein's identity E_p[∇ log p] = 0 with svgd_numpy.py's full-data score: checks that NUTS
    # sampled the density whose score the SVGD implementations use (z ignores autocorrelation,
    # so it is if anything too large).
    from svgd_numpy import logistic_score
    data.batch = data.n_rows
    score = logistic_score(data, flat, 0)
    z = np.abs(score.mean(0)) / (score.std(0) / np.sqrt(len(score)))
    divergences = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    record = {"tool": "nuts_logistic", "train": args.train, "test": args.test,
              "chains": args.chains, "warmup": args.warmup, "samples": args.samples,
              "seed": args.seed, "chain_method": args.chain_method,
              "numpyro": numpyro.__version__, **metrics,
              "coords": data.features + ["intercept", "log_alpha"],
              "mean": flat.mean(0).tolist(), "std": flat.std(0, ddof=1).tolist(),
              "r_hat_max": float(np.max(diag["r_hat"])),
              "ess_min": float(np.min(diag["n_eff"])),
              "ess_median": float(np.median(diag["n_eff"])),
              "divergences": divergences, "score_mean_max_z": float(z.max()),
              "import_s": round(t0 - T_START, 3), "sample_s": round(t1 - t0, 3)}
    if args.out_samples:
        np.save(args.out_samples, flat)
    line = json.dumps(record)
    print(line)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
