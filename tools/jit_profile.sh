#!/bin/bash
# Profiles the code llvmpipe compiled for φ: runs `stein bench --phi-only` at one d and n in
# the background, samples it with perf once its pipeline is built, dumps the hot JIT code
# with gdb, and prints the loops that hold most samples (tools/jit_loops.py): their size in
# bytes and instructions and the instruction mix. Needs perf and gdb (Debian: linux-perf, gdb)
# and a release build. Extra arguments go to `env` (e.g. STEIN_PHI_LAYOUT=shuffle).
#   tools/jit_profile.sh D N LABEL [VAR=VALUE ...]
# Example (README, Known limits): tools/jit_profile.sh 64 65536 c2
# The bench must still be in φ's timing loop after WAIT seconds (default 20): pick n so that
# one φ takes several seconds.
set -euo pipefail
D=$1; N=$2; LAB=$3; shift 3
BIN=$(cd "$(dirname "$0")/.." && pwd)/target/release/stein
OUT=${OUT:-/tmp/stein-jit}
mkdir -p "$OUT"
env "$@" NODEVICE_SELECT=1 "$BIN" bench --phi-only --dims "$D" --n-min "$N" --n-max "$N" \
    --json "$OUT/bench.json" > "$OUT/bench.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep "${WAIT:-20}"
if ! kill -0 "$PID" 2>/dev/null; then
    echo "jit_profile: the bench ended before WAIT (${WAIT:-20} s); raise N or WAIT (see $OUT/bench.log)" >&2
    exit 2
fi
perf record -p "$PID" -o "$OUT/$LAB.data" -- sleep 4 > /dev/null 2>&1
perf script -i "$OUT/$LAB.data" -F ip 2>/dev/null | sort | uniq -c | sort -rn > "$OUT/$LAB.ips"
# The hot region: every sampled address within 200 KB of the hottest one.
read -r LO LEN < <(python3 - "$OUT/$LAB.ips" <<'PY'
import sys
ips = [(int(l.split()[1], 16), int(l.split()[0])) for l in open(sys.argv[1])]
top = max(ips, key=lambda t: t[1])[0]
hot = sorted(i for i, c in ips if abs(i - top) < 200000 and c >= 3)
print(hex(hot[0] - 4096), hot[-1] - hot[0] + 8192)
PY
)
gdb -p "$PID" -batch -ex "set pagination off" -ex "x/$((LEN / 3))i $LO" 2>/dev/null \
    | grep "^ *0x" > "$OUT/$LAB.dis"
python3 "$(dirname "$0")/jit_loops.py" "$OUT/$LAB.dis" "$OUT/$LAB.ips" "$LAB"
