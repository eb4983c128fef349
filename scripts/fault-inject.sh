#!/usr/bin/env bash
# Fault injection for `stein train`: kills training runs with SIGKILL at random moments,
# resumes them until they finish, and checks that every resume succeeds and that the finished
# run is bit for bit the uninterrupted one; then fills the disk during a checkpoint write and
# checks the error and that the previous checkpoint survives.
#
#   scripts/fault-inject.sh [--quick] [--kills N] [--seed S] [--bin PATH] [--keep]
#
# Kill test. A reference run (ring8, RBM with 8 hidden units, 1000 updates, a checkpoint after
# every update so that kills often land inside a checkpoint write) runs uninterrupted. Then the same run is
# started and killed with SIGKILL after a random delay (from an LCG seeded by --seed, so the
# delays are reproducible; where the kill lands also depends on the machine's speed), again
# and again: after each kill the run continues with `stein train --resume DIR`, which must
# succeed, or, when the run was killed before its first checkpoint, the directory is removed
# and the run started again (a run without a checkpoint has nothing to resume). When a run
# finishes, its model.safetensors, checkpoint.safetensors, model_samples.npy and density.png
# must equal the reference's byte for byte, its metrics.jsonl must hold the reference's lines
# (timings aside) each once, and no temporary file may be left in the directory. Runs repeat
# until N kills (default 50) have landed. A delay that makes no progress (no newer checkpoint)
# doubles the next delay's range, so a slow machine still gets through. The summary counts
# the kills that landed inside a checkpoint write (a temporary file of the checkpoint was left
# behind; the full mode fails if none did) and after the last update (the final files were
# being written).
#
# Made states. The finished reference run, its final files removed and a partial temporary
# checkpoint beside it (what a kill after the last checkpoint, inside a write, leaves), must
# resume to the same final files and no temporary file.
#
# Full disk. A run on a small generated CSV (d = 3, so no density plot) trains 20 updates;
# `--resume --steps 40` then runs under `ulimit -f` (SIGXFSZ ignored, so writes fail with EFBIG
# as on a full disk) sized so that the checkpoint at update 30 cannot be written. It must exit
# non-zero with one `error:` line naming the checkpoint, leave checkpoint.safetensors as it
# was and no temporary file, and resuming without the limit must finish with the model of an
# uninterrupted 40-update run.
#
# --quick: 5 kills of a 100-update run on the generated CSV (no density plot, a few seconds
# in all); the integration test `faults::fault_injection_quick` runs this mode. The full mode
# takes two minutes or so on lavapipe (each finished ring8 run draws its density plot, ~15 s).
# Needs bash, coreutils and the built binary (default target/release/stein, or $CARGO_TARGET_DIR's).
# Exits non-zero on any failure, saying what failed; --keep leaves the work directory.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/release/stein"
kills_wanted=50
seed=1
quick=0
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1; kills_wanted=5 ;;
        --kills) kills_wanted="$2"; shift ;;
        --seed) seed="$2"; shift ;;
        --bin) bin="$2"; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "fault-inject: unknown argument $1; see --help" >&2; exit 2 ;;
    esac
    shift
done
if [ ! -x "$bin" ]; then
    echo "fault-inject: no binary at $bin; run cargo build --release or give --bin PATH" >&2
    exit 2
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

work="$(mktemp -d "${TMPDIR:-/tmp}/stein-fault-inject.XXXXXX")"
if [ "$keep" = 1 ]; then
    echo "fault-inject: work directory $work"
else
    trap 'rm -rf "$work"' EXIT
fi
cd "$work"

fail() {
    echo "fault-inject: FAILED: $*" >&2
    [ "$keep" = 1 ] || echo "fault-inject: rerun with --keep to keep the work directory" >&2
    exit 1
}

# 31-bit LCG (the products fit in bash's 64-bit arithmetic); rand_below N sets $r in [0, N).
rng=$(( (seed * 2654435761 + 12345) % 2147483648 ))
rand_below() {
    rng=$(( (rng * 1103515245 + 12345) % 2147483648 ))
    r=$(( (rng >> 8) % $1 ))
}

# A small data set with d = 3 (no density plot): 256 rows from the LCG, fixed by the seed 7.
make_csv() {
    local saved=$rng i
    rng=7
    echo "a,b,c" >"$1"
    for ((i = 0; i < 256; i++)); do
        rand_below 2000; local x=$r
        rand_below 2000; local y=$r
        rand_below 2000
        printf '%d.%03d,%d.%03d,%d.%03d\n' $((x / 1000)) $((x % 1000)) $((y / 1000)) $((y % 1000)) \
            $((r / 1000)) $((r % 1000)) >>"$1"
    done
    rng=$saved
}
make_csv "$work/d3.csv"

# The update count in a checkpoint's metadata ("step":"N"), or -1 when there is none.
checkpoint_step() {
    local s
    s="$(grep -ao '"step":"[0-9]*"' "$1/checkpoint.safetensors" 2>/dev/null | head -n1 | tr -dc 0-9)" || true
    echo "${s:--1}"
}

# metrics.jsonl without the timing field, for comparing runs.
metrics_sans_time() {
    sed -E 's/"step_seconds":[^,}]*,?//' "$1"
}

if [ "$quick" = 1 ]; then
    data="$work/d3.csv"
    steps=100
    every=1
    lo_ms=60
    span_ms=500
    final_files="model.safetensors checkpoint.safetensors"
    last_file=model.safetensors # the last file a run writes
else
    data=ring8
    steps=1000
    every=1
    lo_ms=100
    span_ms=900
    final_files="model.safetensors checkpoint.safetensors model_samples.npy density.png"
    last_file=density.png
fi
train_args=(train --data "$data" --model grbm --hidden 8 --batch 64 --steps "$steps"
    --checkpoint-every "$every" --log-every 10 --seed 3)

# ---- the reference run --------------------------------------------------------------------
"$bin" "${train_args[@]}" --out ref >ref.log 2>&1 || { cat ref.log >&2; fail "the reference run failed"; }

# ---- kill and resume ----------------------------------------------------------------------
kills=0 restarts=0 resumes=0 in_write=0 after_last=0 rounds=0 attempts=0
while [ "$kills" -lt "$kills_wanted" ]; do
    rounds=$((rounds + 1))
    dir="run$rounds"
    mode=fresh
    boost=1
    last_step=-1
    final_kills=0
    while :; do
        attempts=$((attempts + 1))
        if [ "$attempts" -gt $((20 * kills_wanted + 100)) ]; then
            fail "no progress after $attempts starts ($kills kills); is the machine very slow?"
        fi
        if [ "$mode" = fresh ]; then
            "$bin" "${train_args[@]}" --out "$dir" >"$dir.log" 2>&1 &
        else
            # The checkpoint interval is the schedule's, not the run's: given again.
            "$bin" train --resume "$dir" --checkpoint-every "$every" >"$dir.log" 2>&1 &
        fi
        pid=$!
        # The kill count only stops the killing; a started run always goes on to finish. After
        # the last update (the final files and the density plot being written) at most 2 kills
        # a run, the plot taking most of a run's time.
        if [ "$kills" -lt "$kills_wanted" ] && [ "$final_kills" -lt 2 ]; then
            rand_below $((span_ms * boost))
            delay=$((lo_ms + r))
            sleep "$((delay / 1000)).$(printf '%03d' $((delay % 1000)))"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        if [ "$rc" = 0 ]; then
            break # finished before the kill
        fi
        if [ "$rc" != 137 ]; then
            cat "$dir.log" >&2
            what="--out $dir"
            [ "$mode" = fresh ] || what="--resume $dir"
            fail "round $rounds: \`stein train $what\` exited $rc (not killed)"
        fi
        kills=$((kills + 1))
        if [ -e "$dir/$last_file" ]; then
            break # killed on its way out, after writing everything: a finished run
        fi
        if compgen -G "$dir/.checkpoint.safetensors.tmp-*" >/dev/null; then
            in_write=$((in_write + 1))
        fi
        step="$(checkpoint_step "$dir")"
        if [ "$step" = "$steps" ]; then
            after_last=$((after_last + 1))
            final_kills=$((final_kills + 1))
        fi
        if [ "$step" -gt "$last_step" ]; then
            boost=1
        elif [ "$boost" -lt 64 ]; then
            boost=$((boost * 2))
        fi
        last_step=$step
        if [ "$step" -lt 0 ]; then
            # Killed before the first checkpoint: nothing to resume, start again.
            rm -rf "$dir"
            mode=fresh
            restarts=$((restarts + 1))
        else
            mode=resume
            resumes=$((resumes + 1))
        fi
    done
    for f in $final_files; do
        cmp -s "ref/$f" "$dir/$f" || fail "round $rounds: $f differs from the uninterrupted run's"
    done
    if ! diff <(metrics_sans_time ref/metrics.jsonl) <(metrics_sans_time "$dir/metrics.jsonl") >/dev/null; then
        diff <(metrics_sans_time ref/metrics.jsonl) <(metrics_sans_time "$dir/metrics.jsonl") | head -n 10 >&2
        fail "round $rounds: metrics.jsonl differs from the uninterrupted run's (timings aside)"
    fi
    left="$(find "$dir" -name '.*.tmp-*' | head -n 3)"
    [ -z "$left" ] || fail "round $rounds: temporary files left in the finished run: $left"
done
if [ "$quick" = 0 ] && [ "$in_write" = 0 ]; then
    fail "none of the $kills kills landed inside a checkpoint write (about one in ten does); run again with another --seed"
fi
echo "fault-inject: $kills kills in $rounds runs ($resumes resumes, $restarts restarts before a first checkpoint, $in_write kills inside a checkpoint write, $after_last after the last update); every finished run is bit-identical to the uninterrupted one"

# ---- the states a kill can leave, made on purpose --------------------------------------------
# Random kills reach these only sometimes; here each is made from the finished reference run:
# stopped after the last checkpoint with none of the final files written, and with the
# partial temporary file of an interrupted checkpoint write beside it.
cp -r ref made
for f in $final_files; do
    [ "$f" = checkpoint.safetensors ] || rm -f "made/$f"
done
head -c 100 ref/checkpoint.safetensors >made/.checkpoint.safetensors.tmp-4194304
"$bin" train --resume made --checkpoint-every "$every" >made.log 2>&1 || { cat made.log >&2; fail "resuming a run stopped between its last checkpoint and its final files failed"; }
for f in $final_files; do
    cmp -s "ref/$f" "made/$f" || fail "the run resumed after its last checkpoint wrote a $f that differs from the uninterrupted run's"
done
left="$(find made -name '.*.tmp-*' | head -n 3)"
[ -z "$left" ] || fail "resuming left the partial checkpoint write in place: $left"
echo "fault-inject: a run stopped after its last checkpoint, a partial checkpoint write beside it, resumes to the same final files"

# ---- a full disk during a checkpoint write ------------------------------------------------
small=(train --data "$work/d3.csv" --model grbm --hidden 8 --batch 256 --log-every 1000
    --checkpoint-every 10 --seed 5)
"$bin" "${small[@]}" --steps 40 --out disk-ref >disk-ref.log 2>&1 || { cat disk-ref.log >&2; fail "the 40-update reference run failed"; }
"$bin" "${small[@]}" --steps 20 --out disk >disk1.log 2>&1 || { cat disk1.log >&2; fail "the 20-update run failed"; }
cp disk/checkpoint.safetensors disk-checkpoint-20
size=$(wc -c <disk-checkpoint-20)
limit_kb=$(( (size - 1) / 1024 ))
if [ "$limit_kb" -lt 2 ]; then
    fail "the checkpoint ($size bytes) is too small to fail under ulimit -f while the other files are written"
fi
rc=0
( trap '' XFSZ; ulimit -f "$limit_kb"; exec "$bin" train --resume disk --steps 40 --checkpoint-every 10 ) >disk2.out 2>disk2.err || rc=$?
[ "$rc" != 0 ] || fail "full disk: the resumed run exited 0 although its checkpoint could not be written"
[ "$rc" -lt 128 ] || fail "full disk: the run died of signal $((rc - 128)) instead of reporting the error"
errors="$(grep -c '^error:' disk2.err || true)"
if [ "$errors" != 1 ] || ! grep -q '^error:.*checkpoint\.safetensors' disk2.err; then
    cat disk2.err >&2
    fail "full disk: expected one error line naming checkpoint.safetensors"
fi
cmp -s disk-checkpoint-20 disk/checkpoint.safetensors || fail "full disk: the previous checkpoint was changed"
left="$(find disk -name '.*.tmp-*' | head -n 3)"
[ -z "$left" ] || fail "full disk: temporary files left behind: $left"
"$bin" train --resume disk --steps 40 --checkpoint-every 10 >disk3.log 2>&1 || { cat disk3.log >&2; fail "full disk: resuming after the failed write failed"; }
cmp -s disk-ref/model.safetensors disk/model.safetensors || fail "full disk: the resumed model differs from the uninterrupted run's"
echo "fault-inject: full disk (ulimit -f ${limit_kb} KiB) at a checkpoint write: exit $rc, \"$(head -c 160 disk2.err | head -n1)\"; the previous checkpoint kept, and the resumed run bit-identical"
