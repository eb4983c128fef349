#!/bin/bash
# Issue 19 item 7 on this machine: the built-in logistic score against the same model written
# as a WGSL target (bench/targets/logistic.wgsl), at n = 16 384 on breast-cancer's 569 rows
# (all of them, d = 32), each timed by `stein bench --target`, alternated REPS times (the
# machine is shared: compare medians of runs taken in one session).
#   scripts/bench-wgsl-logistic.sh OUT_DIR [REPS]     (default 3; needs target/release/stein)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?give an output directory}
reps=${2:-3}
stein=$root/target/release/stein
data=$root/../shared/data/breast-cancer.csv
mkdir -p "$out"
python3 "$root/tools/logistic_npy.py" "$data" label "$out"
cat > "$out/builtin.json" <<JSON
{"kind": "logistic", "data": "$data", "label": "label"}
JSON
cat > "$out/wgsl.json" <<JSON
{"kind": "wgsl", "source": "$root/bench/targets/logistic.wgsl", "dim": 32,
 "data": {"X": "X.npy", "y": "y.npy"}, "rows": "X", "constants": {"a0": 1.0, "b0": 0.01}}
JSON
for rep in $(seq "$reps"); do
  for t in builtin wgsl; do
    echo "=== rep $rep target $t $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$stein" bench --target "$out/$t.json" --n-min 16384 --n-max 16384 \
      --json "$out/$t.$rep.json" --overwrite 2>/dev/null
  done
done
