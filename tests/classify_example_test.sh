#!/usr/bin/env bash
# classify_example_test.sh - examples/classify.c, the library's classifier, built in the tree
# (examples/meson.build) and run on a digits-like set (tests/blobs.py: 16 raw inputs 0..16,
# 10 classes, sorted by class, as a CSV and as its gzip): it must print the command's
# validation loss and accuracy for the same options (`train --standardize --val-split 0.2
# --seed 1`: the library's split, scaler and training are the command's), and stay what the
# README promises: under 30 lines, none over 100 columns. Also: the classification example of
# `batchnn train --help` runs as printed.
# usage: classify_example_test.sh path/to/batchnn path/to/classify SRCDIR
set -u
BNN=${1:?usage: classify_example_test.sh path/to/batchnn path/to/classify SRCDIR}
CLS=${2:?usage: classify_example_test.sh path/to/batchnn path/to/classify SRCDIR}
SRC=${3:?usage: classify_example_test.sh path/to/batchnn path/to/classify SRCDIR}
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "classify-example: python3 missing, skipped"; exit 77; }

python3 "$SRC/tests/blobs.py" "$T/digits.csv" 1500 1 sorted
gzip -c "$T/digits.csv" >"$T/digits.csv.gz"
ok "the command, standardised, 20% held out" "$BNN" train --data "$T/digits.csv" \
  --arch 16,32,10 --act relu,identity --loss cross-entropy --epochs 60 --lr 0.05 --batch 32 \
  --val-split 0.2 --seed 1 --standardize --log "$T/cmd.log" --quiet
cmd=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { v = $c["val_loss"]; a = $c["val_accuracy"] } END { print v, a }' "$T/cmd.log")
for f in digits.csv digits.csv.gz; do
  ok "classify $f" "$CLS" "$T/$f" 16 10
  cp "$T/out" "$T/$f.out"
  check "classify $f: a row every 20 epochs" test "$(grep -c '^epoch .* val_accuracy' "$T/$f.out")" = 3
  lib=$(sed -n 's/^epoch 60 val_loss \([^ ]*\) val_accuracy \([^ ]*\)$/\1 \2/p' "$T/$f.out")
  check "classify $f: the command's val_loss and val_accuracy ($lib vs $cmd)" \
    awk -v l="$lib" -v c="$cmd" 'BEGIN { n = split(l, a, " "); split(c, b, " ");
      d1 = a[1] - b[1]; d2 = a[2] - b[2]; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2;
      exit !(n == 2 && b[2] + 0 > 0.8 && d1 <= 1e-6 && d2 <= 1e-6) }'
done
# the classification example of `batchnn train --help` runs as printed (on digits.csv here)
"$BNN" train --help | awk '/e.g. a classifier/ && !done {f = 1; next} f && /^ *$/ {f = 0; done = 1}
  f {sub(/\\$/, ""); printf "%s", $0}' >"$T/help.sh"
check "train --help shows a classification example" grep -q -- "--loss cross-entropy" "$T/help.sh"
ok "the help's classification example runs" sh -c 'cd "$1" && batchnn() { "$0" "$@"; } && . ./help.sh' \
  "$(realpath "$BNN")" "$T"
ok "its model evaluates" "$BNN" eval --model "$T/digits.st" --data "$T/digits.csv"
check "its model classifies (accuracy $(awk '/^accuracy/ {print $2}' "$T/out"))" \
  awk '/^accuracy/ { exit !($2 > 0.9) }' "$T/out"
bad "classify: a bad file names it" 1 "^classify: .*nothere.csv" "$CLS" "$T/nothere.csv" 16 10
bad "classify: usage" 2 "^usage: classify" "$CLS" "$T/digits.csv"
check "examples/classify.c: under 30 lines" test "$(wc -l <"$SRC/examples/classify.c")" -lt 30
check "examples/classify.c: no line over 100 columns" \
  test -z "$(awk 'length > 100' "$SRC/examples/classify.c")"
summary classify-example
