#!/bin/bash
# Alternated before/after, bnn score on Boston housing, llvmpipe.
cd /tmp/bnnb
for n in 1024 4096; do
  for batch in 100 full; do
    for who in before after; do
      ba=""; [ $batch != full ] && ba="--score-batch $batch"
      echo "== $who n=$n batch=$batch $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
      /tmp/bnn-$who bench --target boston.json --n-min $n --n-max $n $ba --json raw/$who-n$n-b$batch.json --quiet --overwrite 2>&1 | grep -v XDG | tail -2 | head -1
      echo "   load after $(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
done
echo done
