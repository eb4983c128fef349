#!/usr/bin/env bash
# The full step against its PyTorch peer on one GPU (issue 21 item 4): `stein bench` (full
# step with the exact median, per-phase device times with --profile) and the PyTorch step
# (tools/torch_svgd_step.py: dense φ, torch.kthvalue median, float32, TF32 off) and φ alone
# (tools/torch_phi_baseline.py) over the same n and d, each writing its JSON into OUT, then one
# picture of all three (`stein bench --plot --peer`, drawn from the JSON).
#   scripts/bench-peers.sh OUT [DIMS] [N_MIN] [N_MAX]    (default 2,16,64 4096 65536)
# Needs target/release/stein (or STEIN=...) and a Python with a CUDA build of torch (PYTHON=...);
# a peer that cannot run is reported and skipped, never faked. TORCH_DEVICE=cpu runs the
# PyTorch peers on the CPU instead (to check this script on a machine without a GPU).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: scripts/bench-peers.sh OUT [DIMS] [N_MIN] [N_MAX]}
dims=${2:-2,16,64}
nmin=${3:-4096}
nmax=${4:-65536}
stein=${STEIN:-$root/target/release/stein}
py=${PYTHON:-python3}
mkdir -p "$out"
"$stein" bench --dims "$dims" --n-min "$nmin" --n-max "$nmax" --profile \
    --json "$out/stein.json" --overwrite || exit $?
peers=()
for tool in torch_svgd_step:torch-step torch_phi_baseline:torch-phi; do
    script=${tool%%:*}
    json=$out/${tool##*:}.json
    extra=()
    if [ -n "${TORCH_DEVICE:-}" ]; then
        extra=(--device "$TORCH_DEVICE")
    fi
    if "$py" "$root/tools/$script.py" --dims "$dims" --n-min "$nmin" --n-max "$nmax" \
        --json "$json" "${extra[@]}"; then
        peers+=(--peer "$json")
    else
        echo "bench-peers: tools/$script.py did not run (no torch or no GPU?); skipped" >&2
    fi
done
"$stein" plot "$out/stein.json" --out "$out/bench.png" "${peers[@]}" --overwrite
