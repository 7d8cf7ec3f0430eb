#!/usr/bin/env bash
# train_options_test.sh - end-to-end tests of the training options: optimizers, schedules,
# losses, shuffling, validation, patience, integer labels, eval accuracy, predict --proba and
# --classes, checkpoints with the optimizer state. Bitwise across --threads 1/2 and bitwise
# resume for each optimizer with --shuffle and validation; every bad value a one-line error
# with its exit status, outputs untouched.
# usage: train_options_test.sh path/to/batchnn
set -u
BNN=${1:?usage: train_options_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"

# --- a 3-class problem: 2 inputs, one-hot targets (class = which third of x0 + x1) --------
awk 'BEGIN { srand(7); for (i = 0; i < 600; i++) { a = rand(); b = rand(); s = a + b;
  c = s < 0.66 ? 0 : (s < 1.33 ? 1 : 2);
  printf "%.6f,%.6f,%d,%d,%d\n", a, b, c == 0, c == 1, c == 2 } }' >"$T/cls.csv"
cut -d, -f1,2 "$T/cls.csv" >"$T/cls_x.csv"
awk -F, '{ print ($3 == 1 ? 0 : ($4 == 1 ? 1 : 2)) }' "$T/cls.csv" >"$T/cls_labels.csv"
head -450 "$T/cls.csv" >"$T/train.csv"; tail -150 "$T/cls.csv" >"$T/val.csv"

CE="--arch 2,12,3 --act tanh,identity --loss cross-entropy"
ok "cross-entropy adam" "$BNN" train $CE --data "$T/train.csv" --epochs 60 --optimizer adam \
  --lr 0.05 --batch 32 --shuffle --val "$T/val.csv" --log "$T/ce.csv" --save "$T/ce.st" --quiet
check "log header" test "$(head -1 "$T/ce.csv")" = "epoch,loss,seconds,lr,val_loss,accuracy,val_accuracy"
check "log rows" test "$(wc -l <"$T/ce.csv")" -eq 61
acc=$(tail -1 "$T/ce.csv" | cut -d, -f7)
check "validation accuracy above 0.85 ($acc)" awk -v a="$acc" 'BEGIN { exit !(a > 0.85) }'
first=$(sed -n 2p "$T/ce.csv" | cut -d, -f2); last=$(tail -1 "$T/ce.csv" | cut -d, -f2)
check "loss falls ($first -> $last)" awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 2) }'
check "model records its loss" grep -qa '"loss":"cross-entropy"' "$T/ce.st"
ok "info" "$BNN" info "$T/ce.st"
check "info shows the loss" grep -q '^loss: cross-entropy$' "$T/out"
ok "eval" "$BNN" eval --model "$T/ce.st" --data "$T/val.csv"
check "eval: cost then accuracy" test "$(sed -n 2p "$T/out" | cut -d' ' -f1)" = "accuracy"
check "eval accuracy = the log's val_accuracy" test "$(sed -n 2p "$T/out" | cut -d' ' -f2)" = "$acc"
ok "eval reference" "$BNN" eval --model "$T/ce.st" --data "$T/val.csv" --engine reference
check "reference accuracy = fast" test "$(sed -n 2p "$T/out" | cut -d' ' -f2)" = "$acc"
ok "predict --proba" "$BNN" predict --model "$T/ce.st" --data "$T/cls_x.csv" --proba
check "probabilities sum to 1" awk -F, '{ s = $1 + $2 + $3; if (s < 0.9999 || s > 1.0001 || NF != 3) bad = 1 } END { exit bad }' "$T/out"
ok "predict --classes" "$BNN" predict --model "$T/ce.st" --data "$T/cls_x.csv" --classes --out "$T/pred.csv"
check "classes are labels 0..2, one column" awk -F, '{ if (NF != 1 || $1 !~ /^[012]$/) bad = 1 } END { exit bad || NR != 600 }' "$T/pred.csv"
right=$(paste -d, "$T/pred.csv" "$T/cls_labels.csv" | awk -F, '$1 == $2 { n++ } END { print n + 0 }')
check "predicted classes mostly right ($right of 600)" test "$right" -gt 500

ok "bce" "$BNN" train --arch 2,8,3 --act sigmoid,identity --loss bce --data "$T/cls.csv" --epochs 20 \
  --optimizer nesterov --lr 0.5 --val-split 0.2 --log "$T/bce.csv" --save "$T/bce.st" --quiet
check "bce log header" test "$(head -1 "$T/bce.csv")" = "epoch,loss,seconds,lr,val_loss,accuracy,val_accuracy"
ok "bce eval" "$BNN" eval --model "$T/bce.st" --data "$T/cls.csv"
check "bce eval accuracy" grep -qE '^accuracy 0\.[0-9]+' "$T/out"
ok "bce predict --proba" "$BNN" predict --model "$T/bce.st" --data "$T/cls_x.csv" --proba
check "sigmoid probabilities in (0,1)" awk -F, '{ for (i = 1; i <= NF; i++) if ($i <= 0 || $i >= 1) bad = 1 } END { exit bad }' "$T/out"
ok "mse log" "$BNN" train --arch 2,3,3 --data "$T/cls.csv" --epochs 3 --lr-schedule step:1:0.5 --log "$T/mse.csv" --quiet
check "mse log header" test "$(head -1 "$T/mse.csv")" = "epoch,loss,seconds,lr"
check "step schedule halves lr" test "$(cut -d, -f4 "$T/mse.csv" | tr '\n' ' ')" = "lr 0.1 0.05 0.025 "
ok "cosine log" "$BNN" train --arch 2,3,3 --data "$T/cls.csv" --epochs 4 --lr 1 --lr-schedule cosine:0.1 --log "$T/cos.csv" --quiet
check "cosine schedule" test "$(cut -d, -f4 "$T/cos.csv" | tr '\n' ' ')" = "lr 1 0.868198052 0.55 0.231801948 "
for l in mse cross-entropy bce; do
  ok "gradcheck --loss $l" "$BNN" gradcheck --arch 3,6,4 --act tanh,identity --loss $l
  check "gradcheck $l ok" grep -q ': ok$' "$T/out"
done

# --- patience: stops, and --save holds the best model -------------------------------------
ok "patience" "$BNN" train --arch 2,16,3 --act tanh,identity --loss cross-entropy --data "$T/train.csv" \
  --val "$T/val.csv" --epochs 400 --optimizer adam --lr 0.3 --patience 3 --save "$T/best.st" --log "$T/pat.csv"
check "patience stopped early" test "$(wc -l <"$T/pat.csv")" -lt 401
check "summary names the best epoch" grep -q 'best validation loss at epoch' "$T/out"
bestep=$(sed -n 's/.*best validation loss at epoch \([0-9]*\).*/\1/p' "$T/out")
bestloss=$(awk -F, -v e="$bestep" '$1 == e { print $5 }' "$T/pat.csv")
minloss=$(tail -n +2 "$T/pat.csv" | cut -d, -f5 | sort -g | head -1)
check "best epoch has the lowest val_loss ($bestloss, $minloss)" test "$bestloss" = "$minloss"
"$BNN" eval --model "$T/best.st" --data "$T/val.csv" >"$T/beval"
check "saved model is the best epoch's" awk -v a="$(head -1 "$T/beval")" -v b="$bestloss" 'BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }'

# --- bitwise: threads 1 == 2, and resume == uninterrupted, per optimizer -------------------
for opt in sgd momentum nesterov adam adamw; do
  A="--arch 2,9,3 --act tanh,identity --data $T/cls.csv --loss cross-entropy --optimizer $opt
     --lr 0.05 --batch 40 --shuffle --val-split 0.25 --weight-decay 0.01 --lr-schedule step:2:0.7 --quiet"
  "$BNN" train $A --epochs 9 --threads 1 --save "$T/t1.st" --log "$T/t1.csv"
  "$BNN" train $A --epochs 9 --threads 2 --save "$T/t2.st" --log "$T/t2.csv"
  check "$opt: threads 1 == 2 (model)" cmp -s "$T/t1.st" "$T/t2.st"
  check "$opt: threads 1 == 2 (losses)" test "$(cut -d, -f2,4- "$T/t1.csv")" = "$(cut -d, -f2,4- "$T/t2.csv")"
  ok "$opt: to a checkpoint" "$BNN" train $A --epochs 5 --checkpoint "$T/ck.st" --checkpoint-every 2
  ok "$opt: resume" "$BNN" train $A --epochs 9 --resume "$T/ck.st" --save "$T/res.st" --threads 2
  check "$opt: resumed == uninterrupted, bitwise" cmp -s "$T/t1.st" "$T/res.st"
done
check "checkpoint holds adamw's state" grep -qa '"optimizer.0.weight.exp_avg_sq"' "$T/ck.st"
check "checkpoint records the step" grep -qa '"optimizer.step":"60"' "$T/ck.st"
ok "a checkpoint loads as a model" "$BNN" info "$T/ck.st"
check "info names the optimizer" grep -q '^optimizer: adamw, 60 steps' "$T/out"
ok "eval a checkpoint" "$BNN" eval --model "$T/ck.st" --data "$T/cls.csv"
bad "resume other optimizer" 2 "trained with --optimizer adamw; this run asks for --optimizer adam " \
  "$BNN" train --data "$T/cls.csv" --loss cross-entropy --optimizer adam --epochs 20 --resume "$T/ck.st"
bad "resume other loss" 2 "trained with --loss cross-entropy; this run asks for --loss mse " \
  "$BNN" train --data "$T/cls.csv" --loss mse --epochs 20 --resume "$T/ck.st"
sed 's/optimizer.0.weight.exp_avg_sq/optimizer.0.weight.exp_avg_zz/' "$T/ck.st" >"$T/ck_bad.st"
bad "checkpoint without its optimizer state" 1 'lacks the optimizer tensor "optimizer.0.weight.exp_avg_sq"' \
  "$BNN" train --data "$T/cls.csv" --loss cross-entropy --optimizer adamw --epochs 20 --resume "$T/ck_bad.st" --log "$T/nolog.csv"
check "nothing written for a bad checkpoint" test ! -e "$T/nolog.csv"
# the default run (sgd, mse) with --shuffle: threads and resume bitwise, full batch too
A="--arch 2,5,3 --data $T/cls.csv --shuffle --quiet"
"$BNN" train $A --epochs 6 --threads 1 --save "$T/s1.st"
"$BNN" train $A --epochs 6 --threads 2 --save "$T/s2.st"
check "shuffled full batch: threads 1 == 2" cmp -s "$T/s1.st" "$T/s2.st"

# --- streamed synthetic data can be shuffled (generated row by row) ------------------------
ok "shuffle a synthetic set" "$BNN" train --arch 4,8,2 --data synth:uniform --samples 3000 \
  --batch 100 --shuffle --epochs 2 --optimizer momentum --quiet

# --- integer class labels: CSV column and integer .npy, the same model as one-hot targets ---
npy_labels() { # npy_labels DTYPE OUT < labels (one per line): a 1-D integer .npy
  python3 -c '
import struct, sys
dt, out = sys.argv[1], sys.argv[2]
vals = [int(l) for l in sys.stdin if l.strip()]
fmt = {"<i1": "b", "|i1": "b", "<u1": "B", "|u1": "B", "<i2": "h", "<u2": "H", "<i4": "i",
       "<u4": "I", "<i8": "q", "<u8": "Q"}[dt]
hdr = "{'"'"'descr'"'"': '"'"'%s'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (%d,), }" % (dt, len(vals))
hdr += " " * (63 - (10 + len(hdr)) % 64) + "\n"
with open(out, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
    f.write(struct.pack("<%d%s" % (len(vals), fmt), *vals))
' "$1" "$2"
}
paste -d, "$T/cls_x.csv" "$T/cls_labels.csv" >"$T/cls_lab.csv"
L="--arch 2,6,3 --act tanh,identity --loss cross-entropy --epochs 4 --batch 50 --shuffle --optimizer adam --quiet"
"$BNN" train $L --data "$T/cls.csv" --save "$T/onehot.st"
ok "labels in the last CSV column" "$BNN" train $L --data "$T/cls_lab.csv" --save "$T/lab1.st"
check "CSV labels == one-hot targets, bitwise" cmp -s "$T/onehot.st" "$T/lab1.st"
ok "labels from --targets CSV" "$BNN" train $L --data "$T/cls_x.csv" --targets "$T/cls_labels.csv" --save "$T/lab2.st"
check "--targets labels == one-hot, bitwise" cmp -s "$T/onehot.st" "$T/lab2.st"
for dt in "<i1" "<u1" "|u1" "<i2" "<u2" "<i4" "<u4" "<i8" "<u8"; do
  npy_labels "$dt" "$T/lab.npy" <"$T/cls_labels.csv"
  ok "labels from a $dt .npy" "$BNN" train $L --data "$T/cls_x.csv" --targets "$T/lab.npy" --save "$T/lab3.st"
  check "$dt labels == one-hot, bitwise" cmp -s "$T/onehot.st" "$T/lab3.st"
done
ok "eval with labels" "$BNN" eval --model "$T/onehot.st" --data "$T/cls_x.csv" --targets "$T/lab.npy"
"$BNN" eval --model "$T/onehot.st" --data "$T/cls.csv" >"$T/eval_onehot"
check "eval: labels == one-hot" test "$(cat "$T/out")" = "$(cat "$T/eval_onehot")"
ok "labels with validation split" "$BNN" train $L --data "$T/cls_lab.csv" --val-split 0.2
printf '3\n1\n' | npy_labels "<i8" "$T/big.npy"; printf '0.1,0.2\n0.3,0.4\n' >"$T/two.csv"
bad "label out of range (npy)" 1 "big.npy: row 1: target 3 is not a class label .*0\.\.2" \
  "$BNN" train --arch 2,4,3 --act tanh,identity --loss cross-entropy --data "$T/two.csv" --targets "$T/big.npy" --save "$T/keep.st"
printf -- '-1\n1\n' | npy_labels "<i4" "$T/neg.npy"
bad "negative label" 1 "row 1: target -1 is not a class label" \
  "$BNN" train --arch 2,4,3 --act tanh,identity --data "$T/two.csv" --targets "$T/neg.npy"
printf '0.1,0.2,1\n0.3,0.4,1.5\n' >"$T/frac.csv"
bad "non-integer label" 1 "frac.csv: row 2: target 1.5 is not a class label" \
  "$BNN" train --arch 2,4,3 --act tanh,identity --loss cross-entropy --data "$T/frac.csv" --save "$T/keep.st"

# --- bad values: one line, exit 2, nothing written ------------------------------------------
echo "keep me" >"$T/keep.st"
X="--arch 2,12,3 --act tanh,identity --data $T/cls.csv --save $T/keep.st"
bad "unknown optimizer" 2 "--optimizer: 'rmsprop'" "$BNN" train $X --optimizer rmsprop
bad "unknown loss" 2 "--loss: 'hinge'" "$BNN" train $X --loss hinge
bad "unknown schedule" 2 "--lr-schedule: 'linear'" "$BNN" train $X --lr-schedule linear
bad "bad step schedule" 2 "step:0:0.5" "$BNN" train $X --lr-schedule step:0:0.5
bad "negative momentum" 2 "--momentum: -1 is negative" "$BNN" train $X --optimizer momentum --momentum -1
bad "beta1 of 1" 2 "--beta1: 1 is not below 1" "$BNN" train $X --optimizer adam --beta1 1
bad "nan eps" 2 "--adam-eps: 'nan'" "$BNN" train $X --optimizer adam --adam-eps nan
bad "inf weight decay" 2 "--weight-decay: 'inf'" "$BNN" train $X --weight-decay inf
bad "negative weight decay" 2 "--weight-decay: -0.1 is negative" "$BNN" train $X --weight-decay -0.1
bad "momentum for adam" 2 "--momentum 0.5 needs --optimizer momentum" "$BNN" train $X --optimizer adam --momentum 0.5
bad "val-split 0" 2 "--val-split: '0'" "$BNN" train $X --val-split 0
bad "val-split 1" 2 "--val-split: '1'" "$BNN" train $X --val-split 1
bad "val-split 1.5" 2 "--val-split: '1.5'" "$BNN" train $X --val-split 1.5
bad "val and val-split" 2 "cannot be combined" "$BNN" train $X --val-split 0.2 --val "$T/val.csv"
bad "patience without validation" 2 "--patience needs validation" "$BNN" train $X --patience 3
bad "val-targets without val" 2 "--val-targets needs --val" "$BNN" train $X --val-targets "$T/val.csv"
bad "ce with sigmoid last" 2 "needs an identity last layer .*not sigmoid" "$BNN" train --arch 2,4,3 --data "$T/cls.csv" --loss cross-entropy
bad "ce with one output" 2 "needs at least 2 outputs" "$BNN" train --arch 2,4,1 --act sigmoid,identity --data synth:xor --loss cross-entropy
bad "seed gradient with ce" 2 "--gradient seed" "$BNN" train $X --loss cross-entropy --gradient seed
bad "proba of an mse model" 2 "--proba needs a model trained with" "$BNN" predict --model "$T/s1.st" --data "$T/cls_x.csv" --proba
bad "missing val file" 1 "none.csv" "$BNN" train $X --val "$T/none.csv"
bad "val-split leaves nothing" 1 "leaves 0 for validation" "$BNN" train --arch 2,2,1 --data synth:xor --samples 4 --val-split 0.01 --save "$T/keep.st"
check "failed runs left the model untouched" test "$(cat "$T/keep.st")" = "keep me"

summary "train options"
