#!/usr/bin/env bash
# The 2-D energy-model experiments of the README: an MLP energy 2-64-64-1 (softplus, σ₀ = 3)
# on the built-in ring of 8 Gaussians (held-out: ring8-valid) and on geyser.csv (standardised,
# 50 rows held out), trained by CD-10 and PCD-10 with Langevin (η = 0.01) and by SteinCD
# (ε = 1, median bandwidth), 3000 updates, batch 100, Adam lr 1e-3, seed 1. Each run directory
# gets metrics.jsonl (held-out log-likelihood by quadrature), model.safetensors and density.png.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
S=./target/release/stein
OUT=${1:-out/experiments-2d}
common=(--model mlp --widths 64,64 --activation softplus --sigma0 3 --steps 3000 --batch 100
        --lr 1e-3 --seed 1 --log-every 500)
for set in ring8 geyser; do
    if [ "$set" = ring8 ]; then data=(--data ring8 --valid ring8-valid);
    else data=(--data ../shared/data/geyser.csv --standardize --holdout 50); fi
    $S train "${common[@]}" "${data[@]}" --algo cd --sampler langevin --k 10 --langevin-step 0.01 --out "$OUT/$set-cd"
    $S train "${common[@]}" "${data[@]}" --algo pcd --sampler langevin --k 10 --langevin-step 0.01 --out "$OUT/$set-pcd"
    $S train "${common[@]}" "${data[@]}" --algo stein-cd --svgd-step 1 --out "$OUT/$set-stein-cd"
done
