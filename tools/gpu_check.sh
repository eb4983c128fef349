#!/usr/bin/env bash
# The GPU check of a lent machine without Rust or network (how the H200 figures of 2026-11-30
# were taken): the test binaries and `stein` are built on the development machine, carried
# over with the data and the Vulkan loader, and run from the paths compiled into them.
#
# On the development machine, in the repository root:
#   echo /.gl/ >> .git/info/exclude; echo /.dev/ >> .git/info/exclude
#   mkdir -p .gl && (cd .gl && apt-get download libvulkan1)      # the Vulkan loader
#   cargo test --release --no-run                                 # prints the test binaries
#   mkdir -p .dev && cp target/release/stein .dev/stein
#   cp target/release/deps/stein-<hash> .dev/unit                 # "unittests src/lib.rs"
#   cp target/release/deps/integration-<hash> .dev/integration
#   strip .dev/*; cp -r ../shared/data .dev/shared-data
# then carry .gl and .dev and run `bash tools/gpu_check.sh OUTDIR` in the repository root
# there. The binaries look for the checkout at the path they were built in (/work/main: the
# integration tests run `stein` and read ../shared/data from there), so that path is linked
# to this checkout. Everything is logged to OUTDIR/gpu-check.log; benchmark JSON beside it.
# Each step is cut at its limit so the whole script ends within LIMIT seconds (default 540).
set -u
OUTDIR=${1:?usage: tools/gpu_check.sh OUTDIR}
LIMIT=${LIMIT:-540}
mkdir -p "$OUTDIR"
exec > >(tee "$OUTDIR/gpu-check.log") 2>&1
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }
lim() {
    local left=$((LIMIT - ($(date +%s) - T0)))
    [ "$left" -lt 5 ] && left=5
    [ "$1" -lt "$left" ] && echo "$1" || echo "$left"
}
stamp setup
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
ROOT=$PWD
BUILT=/work/main
mkdir -p "$(dirname "$BUILT")"
[ -e "$BUILT" ] || ln -s "$ROOT" "$BUILT"
# ../shared/data resolves from the real directory of the checkout and from the built path.
for p in "$(dirname "$BUILT")/shared" "$(dirname "$ROOT")/shared"; do
    [ -e "$p" ] || { mkdir -p "$p" && ln -s "$ROOT/.dev/shared-data" "$p/data"; }
done
mkdir -p "$ROOT/target/release"
cp .dev/stein "$ROOT/target/release/stein"
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$ICD" ] && export VK_DRIVER_FILES=$ICD
cd "$BUILT" || exit 1
S=$BUILT/target/release/stein
nvidia-smi --query-gpu=name,driver_version --format=csv 2>/dev/null
$S info
stamp unit tests
timeout "$(lim 120)" .dev/unit --test-threads 8 2>&1 | tail -3
stamp integration tests
timeout "$(lim 240)" .dev/integration --test-threads 8 2>&1 | grep -vE "^test .* ok$" | tail -40
stamp "bench: default layout"
timeout "$(lim 150)" $S bench --n-max 1048576 --step-budget 1.5 --json "$OUTDIR/bench.json"
stamp "bench: phi alone per layout"
for layout in gemm lane; do
    STEIN_PHI_LAYOUT=$layout timeout "$(lim 60)" $S bench --phi-only --dims 8,16,32,64 \
        --n-min 16384 --n-max 262144 --step-budget 0.4 --json "$OUTDIR/phi-$layout.json"
done
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    stamp "PyTorch baseline"
    PYTHONUNBUFFERED=1 timeout "$(lim 90)" python3 tools/torch_phi_baseline.py --dims 16,64,256 \
        --n-min 16384 --n-max 262144 --budget 1 --json "$OUTDIR/torch.json"
fi
stamp done
