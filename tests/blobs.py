#!/usr/bin/env python3
"""blobs.py - a deterministic digits-like classification set for the tests (stdlib only).

usage: blobs.py OUT.csv N SEED [sorted|shuffled] [K] [D]
K gaussian blobs (default 10) in D dimensions (default 16), centres on a grid of values
0..16 (raw, unscaled, like digits' pixels), N rows "x1,...,xD,label". With "sorted" the
rows are ordered by label (as exported data sets often are); "shuffled" keeps them mixed.
The same N, SEED, K, D give the same rows in either order (a permutation of each other).
"""
import random
import sys

out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
order = sys.argv[4] if len(sys.argv) > 4 else "shuffled"
k = int(sys.argv[5]) if len(sys.argv) > 5 else 10
d = int(sys.argv[6]) if len(sys.argv) > 6 else 16
r = random.Random(1234)  # the centres: the same for every seed (train and test sets)
centres = [[r.choice([0, 4, 8, 12, 16]) for _ in range(d)] for _ in range(k)]
r = random.Random(seed)
rows = []
for i in range(n):
    c = i % k
    rows.append(([min(16.0, max(0.0, m + r.gauss(0, 6.0))) for m in centres[c]], c))
r.shuffle(rows)
if order == "sorted":
    rows.sort(key=lambda t: t[1])
with open(out, "w") as f:
    for x, c in rows:
        f.write(",".join("%.4f" % v for v in x) + ",%d\n" % c)
