#!/usr/bin/env bash
# classify_test.sh - end-to-end tests of a classification run without traps (issue 20):
# --val-split draws a random, stratified validation subset (sorted data trains as well as
# shuffled data), tail:F keeps the old last-rows split and warns when a part holds one class,
# the split is the same for any --threads and on --resume.
# Data: tests/blobs.py, a digits-like set of 10 gaussian blobs in 16 raw inputs (0..16).
# usage: classify_test.sh path/to/batchnn SRCDIR
set -u
BNN=${1:?usage: classify_test.sh path/to/batchnn SRCDIR}
SRC=${2:?usage: classify_test.sh path/to/batchnn SRCDIR}
. "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "classify: python3 missing, skipped"; exit 77; }

python3 "$SRC/blobs.py" "$T/sorted.csv" 1500 1 sorted
python3 "$SRC/blobs.py" "$T/mixed.csv" 1500 1 shuffled
python3 "$SRC/blobs.py" "$T/test.csv" 1000 2
RUN="--arch 16,32,10 --act relu,identity --loss cross-entropy --optimizer adam --lr 0.01
 --batch 32 --shuffle --patience 5 --epochs 100 --quiet"
acc() { "$BNN" eval --model "$1" --data "$T/test.csv" | awk '/^accuracy/ { print $2 }'; }

# --- item 1: the default split is a random stratified subset --------------------------------
ok "sorted, default split" "$BNN" train $RUN --data "$T/sorted.csv" --val-split 0.1 --save "$T/s.st"
check "sorted, default split: no warning" test ! -s "$T/err"
ok "mixed, default split" "$BNN" train $RUN --data "$T/mixed.csv" --val-split 0.1 --save "$T/m.st"
a_s=$(acc "$T/s.st"); a_m=$(acc "$T/m.st")
check "sorted reaches the mixed accuracy within 0.01 ($a_s vs $a_m)" \
  awk -v a="$a_s" -v b="$a_m" 'BEGIN { d = a - b; exit !(a > 0.85 && d < 0.01 && d > -0.01) }'
ok "sorted, tail split" "$BNN" train $RUN --data "$T/sorted.csv" --val-split tail:0.1 --save "$T/t.st"
check "tail split on sorted data warns" grep -q "warning: --val-split tail:0.1: the validation part holds one class only" "$T/err"
a_t=$(acc "$T/t.st")
check "tail split on sorted data is worse ($a_t vs $a_m)" \
  awk -v a="$a_t" -v b="$a_m" 'BEGIN { exit !(a < b - 0.05) }'
ok "random:F is F" "$BNN" train $RUN --data "$T/sorted.csv" --val-split random:0.1 --save "$T/r.st"
check "random:F is F: same model" cmp -s "$T/s.st" "$T/r.st"

# the split is fixed by --seed: the same for any --threads, another for another seed
S="--arch 16,8,10 --act relu,identity --loss cross-entropy --data $T/sorted.csv --batch 50
 --shuffle --quiet"
ok "threads 1" "$BNN" train $S --val-split 0.2 --epochs 4 --threads 1 --save "$T/t1.st" --log "$T/t1.csv"
ok "threads 2" "$BNN" train $S --val-split 0.2 --epochs 4 --threads 2 --save "$T/t2.st" --log "$T/t2.csv"
check "the same split and model for --threads 1 and 2" cmp -s "$T/t1.st" "$T/t2.st"
check "the same validation losses for --threads 1 and 2" \
  test "$(cut -d, -f1,2,4- "$T/t1.csv")" = "$(cut -d, -f1,2,4- "$T/t2.csv")"
ok "seed 2" "$BNN" train $S --val-split 0.2 --epochs 4 --threads 1 --seed 2 --save "$T/t3.st" --log "$T/t3.csv"
check "another seed, another split" test "$(cut -d, -f5 "$T/t1.csv")" != "$(cut -d, -f5 "$T/t3.csv")"

# --resume restores the split from the checkpoint: bitwise the uninterrupted run
ok "checkpoint at 2" "$BNN" train $S --val-split 0.2 --epochs 2 --checkpoint "$T/ck.st"
ok "resume to 4" "$BNN" train --data "$T/sorted.csv" --epochs 4 --resume "$T/ck.st" --save "$T/res.st" --quiet
check "resumed split: bitwise the uninterrupted model" cmp -s "$T/t1.st" "$T/res.st"
ok "tail checkpoint" "$BNN" train $S --val-split tail:0.2 --epochs 2 --checkpoint "$T/ckt.st"
bad "tail checkpoint, random split asked" 2 "trained with --val-split tail:0.2; this run asks for --val-split 0.2" \
  "$BNN" train --data "$T/sorted.csv" --epochs 4 --resume "$T/ckt.st" --val-split 0.2
ok "tail checkpoint, tail:0.2 again" "$BNN" train --data "$T/sorted.csv" --epochs 3 --resume "$T/ckt.st" --val-split tail:0.2 --quiet
bad "bad split" 2 "--val-split: 'tail:1.5' is not a fraction strictly between 0 and 1" \
  "$BNN" train $S --val-split tail:1.5
bad "split leaves nothing" 1 "--val-split 0.0001: validation split: 0.0001 of 1500 samples leaves 0 for validation" \
  "$BNN" train $S --val-split 0.0001

# --- item 2: --standardize ------------------------------------------------------------------
ok "standardized run" "$BNN" train $RUN --data "$T/sorted.csv" --val-split 0.1 --standardize --save "$T/z.st"
a_z=$(acc "$T/z.st")
check "standardized: accuracy at least the raw run's ($a_z vs $a_s)" \
  awk -v a="$a_z" -v b="$a_s" 'BEGIN { exit !(a >= b - 0.005) }'
check "info lists the scaler" sh -c "'$BNN' info '$T/z.st' | grep -q '^standardize: input.mean, input.std \[16\]'"
head -100 "$T/test.csv" >"$T/t100.csv"
ok "predict a standardized model" "$BNN" predict --model "$T/z.st" --data "$T/t100.csv" --out "$T/zp.csv"
ok "predict = (x - mean) / std then the net, to 1e-5" python3 "$SRC/st_forward.py" "$T/z.st" "$T/t100.csv" "$T/zp.csv" 1e-5
ok "eval, reference engine" "$BNN" eval --model "$T/z.st" --data "$T/test.csv" --engine reference
check "eval: reference and fast engines agree on the accuracy" \
  test "$(awk '/^accuracy/ { print $2 }' "$T/out")" = "$a_z"
# the statistics: the population mean and deviation of the training rows; a constant input
# gets std 1
awk -F, '{ print $0 ",7" }' "$T/test.csv" | awk -F, 'BEGIN { OFS = "," } { l = $17; $17 = $18; $18 = l; print }' >"$T/const.csv"
ok "standardize with a constant input" "$BNN" train --data "$T/const.csv" --hidden 4 --epochs 1 --standardize --save "$T/c.st" --quiet
check "constant input: std 1" test "$(python3 "$SRC/st_forward.py" "$T/c.st" --std | sed -n 17p)" = 1
want=$(awk -F, '{ s += $1; q += $1 * $1 } END { m = s / NR; printf "%.6g", sqrt(q / NR - m * m) }' "$T/test.csv")
got=$(python3 "$SRC/st_forward.py" "$T/c.st" --std | sed -n 1p)
check "input 1: the population deviation ($got vs $want)" \
  awk -v a="$got" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }'
# a damaged scaler is refused, naming the tensor
python3 "$SRC/st_forward.py" "$T/z.st" --drop-std "$T/nostd.st"
bad "input.mean without input.std" 1 "tensor \"input.std\" is missing \(input.mean and input.std come together\)" \
  "$BNN" predict --model "$T/nostd.st" --data "$T/t100.csv"
python3 "$SRC/st_forward.py" "$T/z.st" --zero-std "$T/zstd.st"
bad "a zero deviation" 1 "tensor \"input.std\": value 0 is 0 \(a deviation must be finite and above 0\)" \
  "$BNN" eval --model "$T/zstd.st" --data "$T/t100.csv"
# --resume keeps the checkpoint's statistics: bitwise the uninterrupted run
Z="--arch 16,8,10 --act relu,identity --loss ce --data $T/sorted.csv --val-split 0.2 --batch 50 --shuffle --standardize --quiet"
ok "standardized, 4 epochs" "$BNN" train $Z --epochs 4 --save "$T/z4.st"
ok "standardized, checkpoint at 2" "$BNN" train $Z --epochs 2 --checkpoint "$T/zck.st"
ok "standardized, resume to 4" "$BNN" train --data "$T/sorted.csv" --epochs 4 --resume "$T/zck.st" --save "$T/zr.st" --quiet
check "standardized resume: bitwise the uninterrupted model" cmp -s "$T/z4.st" "$T/zr.st"
bad "--standardize on resuming a raw checkpoint" 2 "the checkpoint was trained without --standardize" \
  "$BNN" train --data "$T/sorted.csv" --epochs 4 --resume "$T/ck.st" --standardize
ok "raw, 4 epochs" "$BNN" train ${Z% --standardize --quiet} --quiet --epochs 4 --save "$T/r4.st"
check "standardize changes the training" test "$(cmp -s "$T/z4.st" "$T/r4.st"; echo $?)" = 1

# --- item 6: widths from the data -----------------------------------------------------------
ok "--hidden on one file" "$BNN" train --data "$T/test.csv" --hidden 8 --act relu,identity --loss ce --epochs 2 --save "$T/h.st"
check "--hidden: 16 inputs, 10 outputs from the labels, in the run header" \
  grep -q "^batchnn: --hidden 8: 16 inputs (the data's columns but the last), 10 outputs (the last column's largest label + 1)" "$T/err"
check "--hidden: the header shows the widths" grep -q "^batchnn: 16,8,10 (relu,identity)" "$T/err"
ok "--arch auto,8,auto is --hidden 8" "$BNN" train --data "$T/test.csv" --arch auto,8,auto --act relu,identity --loss ce --epochs 2 --save "$T/h2.st"
check "--arch auto,8,auto: the same model" cmp -s "$T/h.st" "$T/h2.st"
cut -d, -f1-16 "$T/test.csv" >"$T/x.csv"; cut -d, -f17 "$T/test.csv" >"$T/y.csv"
ok "--hidden with --targets labels" "$BNN" train --data "$T/x.csv" --targets "$T/y.csv" --hidden 8 --act relu,identity --loss ce --epochs 2 --save "$T/h3.st"
check "--targets labels: the same model" cmp -s "$T/h.st" "$T/h3.st"
cut -d, -f17 "$T/test.csv" | awk '{ printf "%d,%d\n", $1, 1 - $1 }' >"$T/y2.csv"
ok "--hidden with --targets one-hot" "$BNN" train --data "$T/test.csv" --targets "$T/y2.csv" --hidden 4 --epochs 1
check "--targets one-hot: 17 inputs, 2 outputs" grep -q "^batchnn: 17,4,2 " "$T/err"
ok "auto inputs, 1 output (regression on the last column)" "$BNN" train --data "$T/test.csv" --arch auto,4,1 --epochs 1
check "auto inputs, 1 output: 16,4,1" grep -q "^batchnn: 16,4,1 " "$T/err"
bad "--hidden with --arch" 2 "--hidden and --arch cannot be combined" "$BNN" train --data "$T/test.csv" --hidden 4 --arch 16,4,10
bad "--hidden with synth" 2 "--hidden 4: the widths come from a data file" "$BNN" train --data synth:xor --hidden 4
bad "auto in the middle" 2 "only the first \(inputs\) and last \(outputs\) widths can be auto" "$BNN" train --data "$T/test.csv" --arch auto,auto,3
awk -F, '{ $NF = $NF + 0.5; print }' OFS=, "$T/test.csv" >"$T/frac.csv"
bad "auto outputs on a non-label column" 1 "row 1: the last column is not a class label" "$BNN" train --data "$T/frac.csv" --hidden 4
bad "--hidden on resume" 2 "--hidden conflicts with --resume" "$BNN" train --data "$T/sorted.csv" --resume "$T/ck.st" --hidden 4 --epochs 5

# --- item 7: messages that point to the fix ---------------------------------------------------
bad "column count names the label column" 1 "17 columns, but the model needs 15 inputs \+ 10 targets = 25 per row, or 16 with one label column" \
  "$BNN" train --arch 15,8,10 --data "$T/test.csv" --epochs 1
bad "targets of the wrong width: one label column works" 1 "3 outputs \(or 1 column of class labels\)" \
  "$BNN" train --arch 17,8,3 --data "$T/test.csv" --targets "$T/y2.csv" --epochs 1
for c in "train --val-splt 0.1:--val-split" "eval --modle x:--model" "predict --mod x:--model" \
         "train --epoch 3:--epochs" "gen --sample 3:--samples"; do
  args=${c%%:*}; want=${c##*:}
  bad "did you mean $want ($args)" 2 "unknown option '--[a-z-]+'; did you mean $want\?" "$BNN" $args
done
bad "nothing close: no guess" 2 "unknown option '--zzzzzz' \(see 'batchnn train --help'\)" "$BNN" train --zzzzzz

summary classify
