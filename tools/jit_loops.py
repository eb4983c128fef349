#!/usr/bin/env python3
"""The loops of a disassembled JIT region that hold over 5 % of perf's samples, innermost
first: address range, bytes, instructions, share of samples, and the instruction mix
(arithmetic, loads, stores, blends, permutes), plus the bytes each kind takes.

    jit_loops.py CODE.dis SAMPLES.ips LABEL

CODE.dis: gdb's `x/Ni` output; SAMPLES.ips: `perf script -F ip | sort | uniq -c` (count,
address). tools/jit_profile.sh makes both."""
import collections
import re
import sys

dis, ipsf, lab = sys.argv[1:4]
ins = []
for line in open(dis):
    m = re.match(r"\s*0x([0-9a-f]+):\s*(\S+)\s*(.*)", line)
    if m:
        ins.append((int(m.group(1), 16), m.group(2), m.group(3)))
ips = [(int(l.split()[1], 16), int(l.split()[0])) for l in open(ipsf)]
total = sum(c for _, c in ips)


def kind(op, arg):
    mem = "(" in arg
    if op in ("vmulps", "vaddps", "vsubps", "vfmadd231ps", "vfmadd213ps"):
        return "arith" + (" mem" if mem else "")
    if op in ("vpermd", "vpermps", "vpermpd", "vbroadcastss", "vpermilps"):
        return "permute"
    if op.startswith("vblend"):
        return "blend"
    if "gather" in op:
        return "gather"
    if op.startswith("vmov"):
        if arg.rstrip().endswith(")"):
            return "store"
        return "load" if mem else "move"
    return "other"


loops = []
for a, op, arg in ins:
    m = re.match(r"0x([0-9a-f]+)", arg) if op.startswith("j") else None
    if m and int(m.group(1), 16) < a:
        t = int(m.group(1), 16)
        w = sum(c for i, c in ips if t <= i <= a)
        if w > 0.05 * total:
            loops.append((a - t, t, a, w))
for size, lo, hi, w in sorted(set(loops)):
    body = [
        (ins[k][1], ins[k][2], ins[k + 1][0] - ins[k][0])
        for k in range(len(ins) - 1)
        if lo <= ins[k][0] <= hi
    ]
    n = collections.Counter()
    b = collections.Counter()
    for op, arg, sz in body:
        n[kind(op, arg)] += 1
        b[kind(op, arg)] += sz
    mix = ", ".join(f"{k} {n[k]} ({b[k]} B)" for k, _ in n.most_common())
    print(f"{lab}: {hex(lo)}..{hex(hi)}: {size} bytes, {len(body)} instructions, "
          f"{100 * w / total:.0f} % of samples | {mix}")
