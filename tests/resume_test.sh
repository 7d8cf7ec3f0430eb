#!/usr/bin/env bash
# resume_test.sh - end-to-end tests of --resume restoring the whole run: every run-defining
# setting (optimizer and its hyper-parameters, --lr-schedule, --weight-decay, --shuffle, --loss,
# --lr, --batch, --seed) is taken from the checkpoint when not given, so a resumed run with no
# training options repeated is bitwise the uninterrupted one; a differing value is refused
# naming both; a checkpoint whose metadata holds a bad value is "bad metadata" naming the key.
# usage: resume_test.sh path/to/batchnn
set -u
BNN=${1:?usage: resume_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"

D="--data synth:circle --samples 256 --threads 1 --quiet"
R="--data synth:circle --threads 1 --quiet" # resumed: --samples from the checkpoint too
A="--arch 2,8,1"

# --- resumed with no training option repeated == uninterrupted, bitwise --------------------
i=0
while read -r opts; do
  i=$((i + 1))
  "$BNN" train $D $A $opts --epochs 6 --save "$T/full$i.st"
  ok "case $i ($opts): to a checkpoint" "$BNN" train $D $A $opts --epochs 3 --checkpoint "$T/ck$i.st" --checkpoint-every 3
  ok "case $i: resume with no training option" "$BNN" train $R --epochs 6 --resume "$T/ck$i.st" --save "$T/res$i.st"
  check "case $i ($opts): resumed == uninterrupted, bitwise" cmp -s "$T/full$i.st" "$T/res$i.st"
done <<'CASES'
--optimizer sgd --weight-decay 0.01 --shuffle --batch 32 --seed 5
--optimizer momentum --momentum 0.5 --lr-schedule step:2:0.5 --lr 0.3
--optimizer nesterov --momentum 0.7 --batch 64 --shuffle
--optimizer adam --beta1 0.8 --beta2 0.99 --adam-eps 1e-6 --lr 0.01 --batch 50
--optimizer adamw --weight-decay 0.1 --lr 0.01 --shuffle --batch 64 --seed 7
--optimizer momentum --act tanh,identity --loss bce --lr 0.2
--optimizer adam --val-split 0.25 --batch 16 --gradient exact --engine fast --lr 0.02
CASES

# cosine follows --epochs, so its checkpoint comes from a 3-epoch run: resuming it with no
# option repeated equals resuming it with every option repeated
C="--optimizer adam --lr 0.01 --lr-schedule cosine:0.001 --shuffle --batch 32"
ok "cosine: to a checkpoint" "$BNN" train $D $A $C --epochs 3 --checkpoint "$T/cos.st"
ok "cosine: resume, options repeated" "$BNN" train $D $A $C --epochs 6 --resume "$T/cos.st" --save "$T/cos_given.st"
ok "cosine: resume, no option" "$BNN" train $R --epochs 6 --resume "$T/cos.st" --save "$T/cos_taken.st"
check "cosine: the same model either way" cmp -s "$T/cos_given.st" "$T/cos_taken.st"

# --- a differing value is refused naming both ----------------------------------------------
K="$T/ck3.st" # nesterov, momentum 0.7, batch 64, shuffle
bad "other --momentum" 2 "trained with --momentum 0.7; this run asks for --momentum 0.5 " \
  "$BNN" train $D --epochs 6 --resume "$K" --momentum 0.5
bad "other --optimizer" 2 "trained with --optimizer nesterov; this run asks for --optimizer momentum " \
  "$BNN" train $D --epochs 6 --resume "$K" --optimizer momentum
bad "other --batch" 2 "trained with --batch 64; this run asks for --batch 32 " \
  "$BNN" train $D --epochs 6 --resume "$K" --batch 32
bad "other --lr-schedule" 2 "trained with --lr-schedule step:2:0.5; this run asks for --lr-schedule constant " \
  "$BNN" train $D --epochs 6 --resume "$T/ck2.st" --lr-schedule constant
bad "other --weight-decay" 2 "trained with --weight-decay 0.1; this run asks for --weight-decay 0.2 " \
  "$BNN" train $D --epochs 6 --resume "$T/ck5.st" --weight-decay 0.2
bad "--shuffle on a run without" 2 "trained without --shuffle; this run asks for it" \
  "$BNN" train $D --epochs 6 --resume "$T/ck2.st" --shuffle
bad "other --val-split" 2 "trained with --val-split 0.25; this run asks for --val-split 0.5 " \
  "$BNN" train $D --epochs 6 --resume "$T/ck7.st" --val-split 0.5
bad "--val-split on a run without" 2 "trained without --val-split; this run asks for --val-split 0.5" \
  "$BNN" train $D --epochs 6 --resume "$T/ck2.st" --val-split 0.5
# (the reference engine trains in double: its checkpoint, in float, resumes close, not bitwise)
ok "reference engine: to a checkpoint" "$BNN" train $D $A --engine reference --epochs 2 --checkpoint "$T/ref.st"
bad "other --engine" 2 "trained with --engine reference; this run asks for --engine fast " \
  "$BNN" train $D --epochs 6 --resume "$T/ref.st" --engine fast
bad "other --samples: the data differ" 1 "trained on 256 samples, this run has 100" \
  "$BNN" train $R --epochs 6 --resume "$T/ck1.st" --samples 100
ok "the same values given" "$BNN" train $D --epochs 6 --resume "$K" --optimizer nesterov \
  --momentum 0.70 --batch 2^6 --shuffle --save "$T/same.st"
check "the same values given: the same model" cmp -s "$T/same.st" "$T/full3.st"

# --- a checkpoint's metadata is validated ---------------------------------------------------
# meta IN OUT KEY VALUE: a copy of checkpoint IN with __metadata__[KEY] = VALUE
meta() {
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst, key, value = sys.argv[1:5]
b = open(src, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
h['__metadata__'][key] = value
j = json.dumps(h, separators=(',', ':')).encode()
j += b' ' * (-len(j) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(j)) + j + b[8 + n:])
PY
}
K="$T/ck4.st" # adam
while IFS='|' read -r key value; do
  meta "$K" "$T/bad.st" "$key" "$value"
  bad "metadata $key=$value" 1 "--resume .*: bad metadata: \"$key\"" \
    "$BNN" train $D --epochs 6 --resume "$T/bad.st" --log "$T/nolog.csv"
done <<'BAD'
optimizer.step|-1
optimizer.step|1e30
optimizer.step|100000000000000000000000000000
optimizer.step|99999999
samples_option|2^8
val_split|1
val_split|-0.1
optimizer.step|
optimizer|foo
optimizer.momentum|abc
optimizer.beta1|-0.5
optimizer.beta2|1
optimizer.eps|nan
lr|inf
seed|-3
batch|1k
shuffle|2
lr_schedule|step:0:x
loss|hinge
engine|turbo
BAD
check "nothing written for a bad checkpoint" test ! -e "$T/nolog.csv"
meta "$K" "$T/esc.st" optimizer "$(printf 'a\033[31mb')"
bad "a bad value is printed escaped" 1 'bad metadata: "optimizer" is "a\\x1b\[31mb"' \
  "$BNN" train $D --epochs 6 --resume "$T/esc.st"

summary resume
