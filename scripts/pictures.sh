#!/usr/bin/env bash
# Regenerates the pictures the README shows, one of each kind stein draws, into docs/images/:
#   demo-particles.png  stein demo (SVGD, 500 particles, 1000 steps) over the target's density
#   geyser-density.png  a run's density.png (GRBM by SteinCD on the geyser data)
#   geyser-curves.png   the same run's curves.png
#   mnist-rbm-grid.png  an RBM's image grid on MNIST (samples beside their visible means)
#   bench.png           `stein plot` of a committed `stein bench` JSON with the CPU peers' lines
# Needs the data in ../shared/data (docs/experiments.md). About a minute on lavapipe.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=docs/images
cargo build --release --quiet
stein=./target/release/stein
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$stein --quiet demo --out-dir "$tmp/demo" >/dev/null
cp "$tmp/demo/particles.png" $OUT/demo-particles.png
$stein --quiet train --data "$DATA/geyser.csv" --standardize --holdout 50 --algo stein-cd \
  --hidden 8 --steps 2000 --log-every 50 --out "$tmp/geyser" >/dev/null
cp "$tmp/geyser/density.png" $OUT/geyser-density.png
cp "$tmp/geyser/curves.png" $OUT/geyser-curves.png
$stein --quiet train --data "$DATA/mnist-train-images.npy" --hidden 64 --algo cd \
  --steps 300 --log-every 100 --grid-every 300 --out "$tmp/mnist" >/dev/null
cp "$tmp/mnist/grids/step_0000300_langevin.png" $OUT/mnist-rbm-grid.png
$stein plot bench/llvmpipe-2cores-2026-12-01.json \
  --peer bench/llvmpipe-2cores-2026-11-30-peers.json --out "$tmp/bench.png" >/dev/null
cp "$tmp/bench.png" $OUT/bench.png
ls -l $OUT/demo-particles.png $OUT/geyser-*.png $OUT/mnist-rbm-grid.png $OUT/bench.png
