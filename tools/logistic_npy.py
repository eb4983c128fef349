#!/usr/bin/env python3
"""Writes a CSV's features and labels as the built-in logistic target reads them
(algorithms.md §5.1, src/io/bayes.rs), as .npy files for a WGSL target
(bench/targets/logistic.wgsl): X.npy [N, F + 1] float64, each feature standardised with
the rows' mean and standard deviation (divisor N; a constant feature only centred), the
intercept 1 last; y.npy [N] float64, the larger label 1 and the smaller 0.

The same f64 operations in the same order as stein's reader, so the values agree bit for
bit. Standard library only.

    tools/logistic_npy.py DATA.csv LABEL OUT_DIR
"""
import csv
import math
import os
import struct
import sys


def write_npy(path, values, shape):
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }" % (
        "".join(f"{s}, " for s in shape) if len(shape) == 1 else ", ".join(map(str, shape))
    )
    # Magic, version 1.0, header padded with spaces to a multiple of 64 bytes with its newline.
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack(f"<{len(values)}d", *values))


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    data, label, out = sys.argv[1:]
    with open(data, newline="") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    header = [c.strip().strip('"') for c in rows[0]]
    body = [[float(c.strip().strip('"')) for c in r] for r in rows[1:]]
    lc = header.index(label)
    n = len(body)
    feats = [c for c in range(len(header)) if c != lc]
    cols = [[r[c] for r in body] for c in feats]
    stats = []
    for col in cols:
        m = 0.0
        for v in col:
            m += v
        m /= n
        var = 0.0
        for v in col:
            var += (v - m) ** 2
        var /= n
        stats.append((m, math.sqrt(var) if var > 0.0 else 1.0))
    x = []
    for r in range(n):
        for col, (m, s) in zip(cols, stats):
            x.append((col[r] - m) / s)
        x.append(1.0)
    classes = sorted({r[lc] for r in body})
    if len(classes) != 2:
        sys.exit(f"{data}: label {label} has {len(classes)} values, not 2")
    y = [1.0 if r[lc] == classes[1] else 0.0 for r in body]
    os.makedirs(out, exist_ok=True)
    write_npy(os.path.join(out, "X.npy"), x, (n, len(feats) + 1))
    write_npy(os.path.join(out, "y.npy"), y, (n,))


if __name__ == "__main__":
    main()
