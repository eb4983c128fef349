#!/usr/bin/env python3
"""Writes the data of examples/targets/logistic.json from the shared breast-cancer.csv: the
model's features X [569, 31] float32 (the 30 features standardised with the rows' mean and
standard deviation, divisor N, then an intercept column of ones) and the labels y [569]
float32 (label 1 -> +1, 0 -> -1), in the file's row order. These are the arrays the built-in
{"kind": "logistic", "data": "breast-cancer.csv", "label": "label"} target builds (arithmetic
in the same order, so the float32 values are the same bits; a test checks that).

    tools/logistic_example_data.py [CSV] [OUT_DIR]

CSV defaults to ../shared/data/breast-cancer.csv and OUT_DIR to examples/targets, both from
the project's root. Plain Python: no NumPy needed."""
import csv
import math
import os
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "data", "breast-cancer.csv")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "examples", "targets")

with open(src, newline="") as f:
    rows = list(csv.reader(f))
header, body = rows[0], [[float(c) for c in r] for r in rows[1:] if r]
label = header.index("label")
features = [c for c in range(len(header)) if c != label]
n = len(body)

# Mean and standard deviation of each feature: sequential sums, as the Rust reader's.
mean, std = [], []
for c in features:
    s = 0.0
    for r in body:
        s += r[c]
    m = s / n
    v = 0.0
    for r in body:
        e = r[c] - m
        v += e * e
    v /= n
    mean.append(m)
    std.append(math.sqrt(v) if v > 0.0 else 1.0)

x = []
for r in body:
    x.extend((r[c] - m) / s for c, m, s in zip(features, mean, std))
    x.append(1.0)
classes = sorted(set(r[label] for r in body))
assert len(classes) == 2, classes
y = [1.0 if r[label] == classes[1] else -1.0 for r in body]


def write_npy(path, values, shape):
    """float32 little-endian, C order, format 1.0 with the header padded to 64 bytes."""
    dims = "(%s,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(map(str, shape))
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % dims
    pad = (64 - (10 + len(d) + 1) % 64) % 64
    head = (d + " " * pad + "\n").encode("latin1")
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head)
        f.write(struct.pack("<%df" % len(values), *values))


write_npy(os.path.join(out, "logistic-x.npy"), x, (n, len(features) + 1))
write_npy(os.path.join(out, "logistic-y.npy"), y, (n,))
print("wrote %s/logistic-{x,y}.npy: %d rows, %d features and the intercept" % (out, n, len(features)))
