#!/usr/bin/env bash
# The SVGD paper's Bayesian experiments (issue 19 item 6; docs/bayes.md), one command:
# (i) the BNN on Boston housing (20 random 90/10 splits, 20 particles, 2000 iterations,
# AdaGrad with momentum 1e-3, batch 100, the dev-set rule), (ii) Bayesian logistic regression
# on breast cancer (5 random 80/20 splits, 100 particles, 6000 iterations, step 0.05, batch 100)
# against NumPyro NUTS (4 chains × 2000 + 5000), (iii) time to result: stein vs the NumPy and
# JAX implementations in tools/bayes/, same machine.
#
# Usage: scripts/experiments-bayes.sh [--quick] [--parts bnn,logistic,time] [--tools stein,numpy,jax]
#        [--machine NAME] [--overwrite] [--from-raw] [any option of tools/bayes/experiments.py]
# --quick: 2 splits each, 200 BNN / 500 logistic iterations and a short NUTS, to check that it
# works. stein is $STEIN (default target/release/stein; built here if missing). Name the machine
# (default llvmpipe-2cores) so the raw files say where they were measured: raw records go to
# bench/MACHINE-DATE-bayes-*.jsonl, the Markdown tables to stdout and bench/MACHINE-DATE-bayes*.md,
# split files and particles to out/bayes[-quick]/.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bayes/setup.sh >/dev/null
export STEIN=${STEIN:-target/release/stein}
if [ ! -x "$STEIN" ] && [ "$STEIN" = target/release/stein ]; then cargo build --release --quiet; fi
export JAX_PLATFORMS=${JAX_PLATFORMS:-cpu}
exec tools/bayes/.venv/bin/python tools/bayes/experiments.py "$@"
