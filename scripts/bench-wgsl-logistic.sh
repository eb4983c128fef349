#!/bin/bash
# Issue 19 item 7 on this machine: the built-in logistic score against the same model written
# as a WGSL target (examples/targets/logistic.json, breast-cancer's 569 rows, all of them,
# d = 32), at n = 16 384, each timed by `stein bench --target`, alternated REPS times (the
# machine may be shared: compare medians of runs taken in one session).
#   scripts/bench-wgsl-logistic.sh OUT_DIR [REPS]     (default 3; needs target/release/stein)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?give an output directory}
reps=${2:-3}
stein=${STEIN:-$root/target/release/stein}
data=$root/../shared/data/breast-cancer.csv
mkdir -p "$out"
cat > "$out/builtin.json" <<JSON
{"kind": "logistic", "data": "$data", "label": "label"}
JSON
for rep in $(seq "$reps"); do
  for t in builtin wgsl; do
    json=$out/builtin.json
    [ "$t" = wgsl ] && json=$root/examples/targets/logistic.json
    echo "=== rep $rep target $t $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)"
    "$stein" bench --target "$json" --n-min 16384 --n-max 16384 \
      --json "$out/$t.$rep.json" --overwrite 2>/dev/null
  done
done
