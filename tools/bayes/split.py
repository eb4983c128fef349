#!/usr/bin/env python3
"""Random train/test splits of a CSV file with a header row (standard library only).

The SVGD paper's protocols: 90/10 for Boston housing (20 splits), 80/20 for breast cancer.
The train part has round(fraction · N) rows (round half to even, as NumPy's `np.round` in the
authors' script: 455 of Boston's 506), the test part the rest; both keep the header and the rows
in the shuffled order (the order matters: the BNN's development set is the last rows of its
training file, and its minibatches walk the training rows in file order, as in the authors' code).

Usage: python3 tools/bayes/split.py DATA.csv --fraction 0.9 --seed 1 --out-dir DIR [--overwrite]
writes DIR/train.csv and DIR/test.csv and prints one line with the row counts. Existing files
are refused unless --overwrite is given.
"""
import argparse
import os
import random
import sys



def die(msg):
    """One line on stderr, exit status 2 (a user's mistake)."""
    print(msg, file=sys.stderr)
    sys.exit(2)

def split_rows(rows, fraction, seed):
    """Shuffles a copy of `rows` with Python's Mersenne Twister seeded by `seed`; returns
    (train, test)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n_train = round(fraction * len(rows))  # Python's round is half-to-even, as np.round
    return [rows[i] for i in order[:n_train]], [rows[i] for i in order[n_train:]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="CSV with a header row")
    ap.add_argument("--fraction", type=float, required=True, help="training fraction, in (0, 1)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args()
    if not 0.0 < a.fraction < 1.0:
        die(f"split.py: --fraction {a.fraction} is not in (0, 1); give e.g. 0.9")
    try:
        with open(a.data) as f:
            lines = [l.rstrip("\r\n") for l in f if l.strip()]
    except OSError as e:
        die(f"split.py: cannot read {a.data} ({e.strerror})")
    if len(lines) < 3:
        die(f"split.py: {a.data} needs a header and at least two rows")
    header, rows = lines[0], lines[1:]
    train, test = split_rows(rows, a.fraction, a.seed)
    if not train or not test:
        die(f"split.py: --fraction {a.fraction} leaves an empty part of {len(rows)} rows")
    os.makedirs(a.out_dir, exist_ok=True)
    paths = [os.path.join(a.out_dir, n) for n in ("train.csv", "test.csv")]
    for p in paths:
        if os.path.exists(p) and not a.overwrite:
            die(f"split.py: {p} exists; pass --overwrite to replace it")
    for p, part in zip(paths, (train, test)):
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join([header] + part) + "\n")
        os.replace(tmp, p)
    print(f"{a.data}: {len(train)} train rows, {len(test)} test rows (seed {a.seed}) in {a.out_dir}")


if __name__ == "__main__":
    main()
