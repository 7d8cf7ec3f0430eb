#!/bin/bash
# minibatch_test.sh - mini-batches end to end: the models trained with --threads 1, 2, 3 and 4
# are byte-identical (cmp), for the GEMM path (batches split over the threads), the narrow
# path (small shards) and a batch too large to split, with --shuffle and with --optimizer
# adam; and a mini-batch run still learns (its loss falls).
# usage: minibatch_test.sh path/to/batchnn
BNN=${1:?usage: minibatch_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"

"$BNN" gen synth:teacher --arch 40,3 --samples 3000 --out "$T/t.npy" --seed 5 >/dev/null ||
  { echo "gen failed"; exit 1; }

same_for_threads() { # same_for_threads NAME ARGS...: threads 1..4 give the same model
  local name=$1; shift
  for t in 1 2 3 4; do
    ok "$name, --threads $t" "$BNN" train "$@" --threads $t --save "$T/m$t.st" --quiet
  done
  for t in 2 3 4; do
    check "$name: threads $t == 1" cmp -s "$T/m1.st" "$T/m$t.st"
  done
}

same_for_threads "gemm --batch 64" --arch 40,70,33,3 --data "$T/t.npy" --epochs 2 --batch 64
same_for_threads "gemm --batch 256 --shuffle" --arch 40,70,3 --data "$T/t.npy" --epochs 2 \
  --batch 256 --shuffle
same_for_threads "gemm --batch 100 --shuffle adam" --arch 40,129,3 --act tanh,identity \
  --data "$T/t.npy" --epochs 2 --batch 100 --shuffle --optimizer adam --lr 0.01
same_for_threads "gemm --batch 17, bce" --arch 40,48,3 --act relu,identity --loss bce \
  --data synth:uniform --samples 500 --epochs 2 --batch 17 --shuffle
same_for_threads "gemm --batch 1000 (2 tiles)" --arch 40,70,3 --data "$T/t.npy" --epochs 2 \
  --batch 1000 --optimizer momentum
# the team rule (src/engine/fast.c, pick_team): a 40,70,3 net is 18060 FLOP per sample, so
# batches of 222 (4.01 MFLOP) run with the team, with a one-thread and team probe pair every
# 50 ms (20 epochs: more than 50 ms on any machine), and the last batch of each epoch (114
# samples) below TEAM_MIN_FLOP runs alone; the batches of 64 above (2.0 MFLOP) always alone
same_for_threads "gemm --batch 222 (team rule, both sides)" --arch 40,70,3 --data "$T/t.npy" \
  --epochs 20 --batch 222
same_for_threads "gemm batch too large to split" --arch 40,70,3 --data synth:uniform \
  --samples 9000 --epochs 1 --batch 5000
same_for_threads "narrow --batch 1024" --arch 2,16,16,1 --data synth:uniform --samples 20000 \
  --epochs 2 --batch 1024 --shuffle
same_for_threads "narrow --batch 600 adam" --arch 2,16,16,1 --data synth:uniform \
  --samples 5000 --epochs 2 --batch 600 --optimizer adam --lr 0.01

# learning: the loss of the last epoch is below the first's
ok "mini-batch learns" "$BNN" train --arch 40,32,3 --data "$T/t.npy" --epochs 5 --batch 64 \
  --lr 0.5 --log "$T/log.csv" --quiet
check "mini-batch loss falls" awk -F, 'NR == 2 { a = $2 } END { exit !($2 < a) }' "$T/log.csv"

summary minibatch_test
