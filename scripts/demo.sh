#!/usr/bin/env bash
# The main job: SVGD with 500 particles on a built-in ring of six Gaussians. Writes
# out/demo/{target.json, particles.npy, particles.png}; out/demo is the demo's own folder, so a
# rerun replaces its files (--overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --quiet
exec ./target/release/stein demo --out-dir out/demo --overwrite "$@"
