#!/usr/bin/env bash
# Bit-identity check for refactors (issue 17): runs a fixed set of commands with two stein
# binaries and compares every output file byte for byte (and stdout, timings aside).
# Usage: scripts/compare-outputs.sh BASE_BIN NEW_BIN [WORK_DIR]
set -euo pipefail
base=$1 new=$2 work=${3:-$(mktemp -d)}
mkdir -p "$work/t"
t=$work/t
vec() { # vec LEN VALUE -> [v, v, ...]
    local out="" i
    for ((i = 0; i < $1; i++)); do out+="${out:+, }$2"; done
    echo "[$out]"
}
for d in 1 2 16 100; do
    echo "{\"kind\":\"gmm\",\"weights\":[1,2],\"means\":[$(vec $d -2),$(vec $d 2)],\"stds\":[$(vec $d 1),$(vec $d 1)]}" >"$t/gmm$d.json"
done
echo '{"kind":"gaussian","mean":[0.0,1.0,-1.0],"cov":[[1.0,0.8,0.1],[0.8,1.0,0.2],[0.1,0.2,2.0]]}' >"$t/gauss3.json"

run() { # run BIN DIR
    local s=$1 o=$2
    mkdir -p "$o"
    {
        for d in 1 2 16 100; do
            "$s" svgd --target "$t/gmm$d.json" --n 300 --init-mean 0 --init-std 1 --steps 20 \
                --step-size 0.1 --seed 1 --out "$o/svgd$d.npy" --ksd-every 10
            "$s" phi --target "$t/gmm$d.json" --particles "$o/svgd$d.npy" --out "$o/phi$d.npy"
        done
        "$s" svgd --target "$t/gauss3.json" --n 5000 --init-mean 0 --init-std 1 --steps 3 \
            --step-size 0.1 --seed 2 --out "$o/svgd_gauss.npy" --ksd-every 3
        "$s" svgd --target "$t/gmm2.json" --n 300 --init-mean 0 --init-std 1 --steps 5 \
            --step-size 0.1 --seed 1 --out "$o/svgd_sampled.npy" --bandwidth median-sampled
        for layout in lane tiled gemm; do
            for d in 16 100; do
                STEIN_PHI_LAYOUT=$layout "$s" svgd --target "$t/gmm$d.json" --n 300 --init-mean 0 \
                    --init-std 1 --steps 5 --step-size 0.1 --seed 1 --out "$o/svgd_${layout}_$d.npy"
            done
        done
        for algo in cd pcd stein-cd stein-gan hybrid; do
            "$s" train --model grbm --hidden 4 --data ring8 --algo "$algo" --steps 20 \
                --nz 4 --gen-widths 16 --batch 64 --seed 3 --out "$o/train_$algo" --log-every 10
        done
        "$s" train --model mlp --widths 16 --data ring8 --algo stein-cd --steps 10 --batch 64 \
            --seed 3 --out "$o/train_mlp" --log-every 5
        "$s" eval --model "$o/train_cd/model.safetensors" --data ring8
        "$s" sample --model "$o/train_cd/model.safetensors" --n 100 --steps 5 --out "$o/sample_gibbs.npy"
        "$s" sample --model "$o/train_cd/model.safetensors" --n 100 --steps 5 --method langevin --out "$o/sample_langevin.npy"
        "$s" sample --model "$o/train_mlp/model.safetensors" --n 100 --steps 5 --method svgd --out "$o/sample_svgd.npy"
    } >"$o/stdout.txt" 2>"$o/stderr.txt"
}
run "$base" "$work/base"
run "$new" "$work/new"
# JSON without timings
strip() { sed -E 's/"[a-z_]*(second|secs|elapsed|time|wall)[a-z_]*": *[0-9.e+-]+//g' "$1"; }
status=0
while IFS= read -r f; do
    case $f in
    *stdout.txt | *stderr.txt) continue ;;
    *.jsonl) # metrics: timings aside
        if ! diff <(strip "$work/base/$f") <(strip "$work/new/$f") >/dev/null; then
            echo "DIFFERS: $f"
            status=1
        fi
        continue
        ;;
    esac
    if ! cmp -s "$work/base/$f" "$work/new/$f"; then
        echo "DIFFERS: $f"
        status=1
    fi
done < <(cd "$work/base" && find . -type f | sort)
if ! diff <(strip "$work/base/stdout.txt") <(strip "$work/new/stdout.txt") >/dev/null; then
    echo "DIFFERS: stdout (see $work/{base,new}/stdout.txt)"
    status=1
fi
echo "compared $(cd "$work/base" && find . -type f | wc -l) files in $work: $([ $status = 0 ] && echo identical || echo DIFFERENT)"
exit $status
