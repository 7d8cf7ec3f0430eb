#!/usr/bin/env bash
# report_test.sh - end-to-end tests of the classification diagnostics: eval --report and
# --report-csv (the confusion matrix and per-class scores, checked against an independent count
# in python3 from predict's raw outputs), predict --classes for any model with K > 1 outputs
# (mse too), and --loss on eval/predict for a model without loss metadata (as PyTorch exports).
# usage: report_test.sh path/to/batchnn
set -u
BNN=${1:?usage: report_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "report_test: no python3, skipped"; exit 77; }

# a learnable 3-class problem, labels in the last column; 5 epochs leave some errors to count
python3 - "$T/d.csv" <<'PYEOF'
import random, sys
rnd = random.Random(11)
with open(sys.argv[1], 'w') as f:
    for i in range(300):
        a, b = rnd.uniform(-1, 1), rnd.uniform(-1, 1)
        f.write('%.6f,%.6f,%d\n' % (a, b, 0 if a + b < -0.3 else (1 if a - b < 0.2 else 2)))
PYEOF
train() { "$BNN" train --data "$T/d.csv" --arch 2,6,3 --act tanh,identity --epochs 5 --seed 5 "$@" >/dev/null 2>&1; }
train --loss cross-entropy --save "$T/ce.safetensors"
train --save "$T/mse.safetensors"
ok "cross-entropy model trained" test -s "$T/ce.safetensors"
ok "mse model trained" test -s "$T/mse.safetensors"

# the independent count: argmax of predict's raw outputs (first of equals) against the labels
count() { # count MODEL REPORT.csv: exit 0 when the CSV report matches python's count
  "$BNN" predict --model "$1" --data "$T/d.csv" --out "$T/raw.csv" 2>/dev/null || return 1
  python3 - "$T/d.csv" "$T/raw.csv" "$2" <<'PYEOF'
import sys
lab = [int(l.split(',')[2]) for l in open(sys.argv[1])]
out = [[float(v) for v in l.split(',')] for l in open(sys.argv[2])]
k = len(out[0])
m = [[0] * k for _ in range(k)]
for t, o in zip(lab, out):
    m[t][max(range(k), key=lambda j: (o[j], -j))] += 1
rows = [l.strip().split(',') for l in open(sys.argv[3])]
assert rows[0] == ['class'] + ['pred_%d' % j for j in range(k)] + ['precision', 'recall', 'f1', 'support'], rows[0]
for c in range(k):
    r = rows[1 + c]
    assert [int(v) for v in r[1:1 + k]] == m[c], (r, m[c])
    tp, pred, sup = m[c][c], sum(m[i][c] for i in range(k)), sum(m[c])
    p = tp / pred if pred else 0.0
    rc = tp / sup if sup else 0.0
    f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    for got, want in zip(r[1 + k:], (p, rc, f1, sup)):
        assert abs(float(got) - want) < 1e-8, (r, p, rc, f1, sup)
assert sum(map(sum, m)) == len(lab) and any(m[i][j] for i in range(k) for j in range(k) if i != j)
PYEOF
}
ok "report of the cross-entropy model" "$BNN" eval --model "$T/ce.safetensors" --data "$T/d.csv" \
  --report --report-csv "$T/ce.csv"
check "its CSV matches an independent count" count "$T/ce.safetensors" "$T/ce.csv"
check "its printed matrix has a row per class" test "$(grep -cE '^ +[0-2]( +[0-9]+){3}$' "$T/out")" = 3
ok "report of the mse model (argmax)" "$BNN" eval --model "$T/mse.safetensors" --data "$T/d.csv" \
  --report-csv "$T/mse.csv"
check "its CSV matches an independent count" count "$T/mse.safetensors" "$T/mse.csv"
ok "mse report prints an accuracy" "$BNN" eval --model "$T/mse.safetensors" --data "$T/d.csv" --report
check "mse accuracy line" grep -q '^accuracy ' "$T/out"
# and numpy's count, when numpy is there (the issue's "against numpy's count")
npcount() { # npcount MODEL REPORT.csv
  "$BNN" predict --model "$1" --data "$T/d.csv" --out "$T/raw.csv" 2>/dev/null || return 1
  "$PYN" -c 'import sys, numpy as np
lab = np.loadtxt(sys.argv[1], delimiter=",")[:, 2].astype(int)
pred = np.loadtxt(sys.argv[2], delimiter=",", ndmin=2).argmax(1)  # first of equals
k = int(max(lab.max(), pred.max())) + 1
m = np.zeros((k, k), int); np.add.at(m, (lab, pred), 1)
got = np.loadtxt(sys.argv[3], delimiter=",", skiprows=1)[:, 1:1 + k].astype(int)
sys.exit(not (got.shape == m.shape and (got == m).all()))' "$T/d.csv" "$T/raw.csv" "$2"
}
"$BNN" train --data synth:xor --arch 2,4,1 --epochs 1 --save "$T/m1.safetensors" >/dev/null 2>&1
"$BNN" gen synth:xor --samples 20 --out "$T/d1.csv" >/dev/null 2>&1
bad "report of a 1-output mse model refused" 2 "--report needs a classifier" \
  "$BNN" eval --model "$T/m1.safetensors" --data "$T/d1.csv" --report
"$BNN" train --data synth:xor --arch 2,4,1 --act tanh,identity --loss bce --epochs 3 \
  --save "$T/bce.safetensors" >/dev/null 2>&1
"$BNN" gen synth:xor --samples 40 --out "$T/x.csv" >/dev/null 2>&1
ok "bce report" "$BNN" eval --model "$T/bce.safetensors" --data "$T/x.csv" --report-csv "$T/b.csv"
check "bce report: a 2x2 per output" test "$(head -1 "$T/b.csv")" = "output,class,pred_0,pred_1,precision,recall,f1,support" -a "$(wc -l <"$T/b.csv")" = 3
bad "report CSV over the model refused" 2 "report-csv" \
  "$BNN" eval --model "$T/ce.safetensors" --data "$T/d.csv" --report-csv "$T/ce.safetensors"

# predict --classes: mse with K > 1 outputs gives the argmax, like cross-entropy
ok "predict --classes on an mse model" "$BNN" predict --model "$T/mse.safetensors" \
  --data "$T/d.csv" --classes --out "$T/c.csv"
check "one column of classes, the raw outputs' argmax" python3 -c '
import sys
raw = [[float(v) for v in l.split(",")] for l in open(sys.argv[1])]
cls = [l.strip() for l in open(sys.argv[2])]
sys.exit(0 if cls == ["%d" % max(range(3), key=lambda j: (r[j], -j)) for r in raw] else 1)' \
  "$T/raw.csv" "$T/c.csv"

# a model without loss metadata (what nn.Sequential exports): --loss gives it
python3 - "$T/ce.safetensors" "$T/bare.safetensors" <<'PYEOF'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
h['__metadata__'].pop('loss', None)
s = json.dumps(h).encode()
s += b' ' * (-len(s) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(s)) + s + b[8 + n:])
PYEOF
ok "eval of the bare model" "$BNN" eval --model "$T/bare.safetensors" --data "$T/d.csv"
check "without --loss: mse, no accuracy" test "$(wc -l <"$T/out")" = 1
ok "eval --loss cross-entropy" "$BNN" eval --model "$T/bare.safetensors" --data "$T/d.csv" \
  --loss cross-entropy
"$BNN" eval --model "$T/ce.safetensors" --data "$T/d.csv" >"$T/want" 2>/dev/null
check "--loss gives what the metadata gives" cmp -s "$T/out" "$T/want"
# README's safetensors reader and writer (numpy only): a model read and written back with a
# loss keeps its cost, and gets the loss the writer put in
PYN="" # a python3 with numpy
for p in python3 /usr/bin/python3; do
  command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null && { PYN=$p; break; }
done
if [ -n "$PYN" ]; then
  # the README's python block that defines load_st, as printed
  awk '/^```python$/ {p = 1; b = ""; next} p && /^```$/ {p = 0; if (b ~ /\ndef load_st\(/) {
    printf "%s", b; exit } next} p {b = b "\n" $0}' "$(dirname "$0")/../README.md" >"$T/st.py"
  check "README's reader/writer found" grep -q '^def save_st' "$T/st.py"
  check "README's reader/writer: at most 15 lines ($(grep -c . "$T/st.py"))" \
    test "$(grep -c . "$T/st.py")" -le 15
  ok "README's reader/writer round trip" "$PYN" -c '
import sys; exec(open(sys.argv[1]).read())
state, meta = load_st(sys.argv[2])
save_st(sys.argv[3], state, {"activations": meta["activations"], "loss": "cross-entropy"})' \
    "$T/st.py" "$T/bare.safetensors" "$T/rt.safetensors"
  check "the cross-entropy confusion matrix is numpy's count" npcount "$T/ce.safetensors" "$T/ce.csv"
  check "the mse confusion matrix is numpy's count" npcount "$T/mse.safetensors" "$T/mse.csv"
  ok "eval of the round trip" "$BNN" eval --model "$T/rt.safetensors" --data "$T/d.csv"
  check "it has the loss the writer gave" cmp -s "$T/out" "$T/want"
else
  echo "report_test: numpy not installed: README's reader/writer not checked"
fi
summary report_test
