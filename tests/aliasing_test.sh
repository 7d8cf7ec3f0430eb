#!/usr/bin/env bash
# aliasing_test.sh - no output of a command may be one of its inputs or another of its outputs
# (README "Outputs, inputs, signals and memory"): files are compared, not spellings, before
# anything is read or written; every refusal exits 2 and leaves every file as it was.
# usage: aliasing_test.sh path/to/batchnn
set -u
BNN=${1:?usage: aliasing_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
mkdir sub
"$BNN" gen synth:xor --samples 64 --out d.csv
cp d.csv d.orig
"$BNN" train --arch 2,3,1 --data d.csv --epochs 5 --quiet --save m.st
"$BNN" train --arch 2,3,1 --data d.csv --epochs 5 --quiet --checkpoint ck.st
cp m.st m.orig
A="--arch 2,3,1 --epochs 5 --quiet"
same_data() { cmp -s d.csv d.orig; }

# --- an output that is also an input ---------------------------------------------------------
bad "--log on --data" 2 "--log d.csv is the same file as --data d.csv; refusing to overwrite an input" \
  "$BNN" train $A --data d.csv --log d.csv
check "the data survives --log" same_data
bad "--save on --data" 2 "--save d.csv is the same file as --data d.csv" "$BNN" train $A --data d.csv --save d.csv
bad "--checkpoint on --data, spelled ./" 2 "--checkpoint ./d.csv is the same file as --data d.csv" \
  "$BNN" train $A --data d.csv --checkpoint ./d.csv
bad "--plot on --targets" 2 "--plot d.csv is the same file as --targets d.csv" \
  "$BNN" train --arch 2,3,1 --epochs 1 --quiet --data synth:xor --samples 4 --plot d.csv --targets d.csv
bad "--log on --val" 2 "--log d.csv is the same file as --val d.csv" "$BNN" train $A --data synth:xor --val d.csv --log d.csv
bad "--save on --init" 2 "--save m.st is the same file as --init m.st" "$BNN" train $A --data d.csv --init m.st --save m.st
bad "--checkpoint on --init" 2 "--checkpoint m.st is the same file as --init m.st" \
  "$BNN" train $A --data d.csv --init m.st --checkpoint m.st
bad "--save on --resume" 2 "--save ck.st is the same file as --resume ck.st" \
  "$BNN" train $A --data d.csv --resume ck.st --save ck.st
ln -s d.csv link.csv
bad "--log on --data through a symlink" 2 "--log link.csv is the same file as --data d.csv" \
  "$BNN" train $A --data d.csv --log link.csv
bad "predict --out on --data, spelled ../" 2 "--out ../$(basename "$T")/d.csv is the same file as --data d.csv" \
  "$BNN" predict --model m.st --data d.csv --out "../$(basename "$T")/d.csv"
bad "predict --out on --model" 2 "--out m.st is the same file as --model m.st" "$BNN" predict --model m.st --data d.csv --out m.st
echo '{}' >b.json
bad "bench --json on its --baseline" 2 "--json ./b.json is the same file as --baseline b.json" \
  "$BNN" bench --baseline b.json --json ./b.json
check "the baseline survives" test "$(cat b.json)" = '{}'
bad "eval --data - --targets -" 2 "--data - and --targets - both read standard input" \
  sh -c "\"$BNN\" eval --model m.st --data - --targets - <d.csv"
check "the data survives every refusal" same_data
check "the model survives every refusal" cmp -s m.st m.orig
bad "standard output is the --data file" 2 "--out - is the same file as --data d.csv" \
  sh -c "\"$BNN\" predict --model m.st --data d.csv --out - >>d.csv"
check "the data survives predict >>d.csv" same_data

# --- two outputs on one file, however spelled ------------------------------------------------
bad "--save and --log spelled the same" 2 "--save x and --log x are the same file" "$BNN" train $A --data d.csv --save x --log x
bad "--save m2.st --log ./m2.st (new files)" 2 "--save m2.st and --log ./m2.st are the same file" \
  "$BNN" train $A --data d.csv --save m2.st --log ./m2.st
bad "--save sub/../n.st --log n.st" 2 "--save sub/../n.st and --log n.st are the same file" \
  "$BNN" train $A --data d.csv --save sub/../n.st --log n.st
ln -s new.st dangling
bad "a dangling link and its target" 2 "--save dangling and --plot new.st are the same file" \
  "$BNN" train $A --data d.csv --save dangling --plot new.st
bad "--save - --log -" 2 "--save - and --log - both write to standard output" "$BNN" train $A --data d.csv --save - --log -
bad "standard output is the --log file" 2 "--save - and --log out.csv are the same file" \
  sh -c "\"$BNN\" train $A --data d.csv --save - --log out.csv >out.csv"
mkfifo f.fifo
bad "two outputs on one FIFO" 2 "--save f.fifo and --log f.fifo are the same file" \
  "$BNN" train $A --data d.csv --save f.fifo --log f.fifo
bad "--data - --targets -" 2 "--data - and --targets - both read standard input" \
  sh -c "\"$BNN\" train $A --data - --targets - <d.csv"
check "nothing was created by a refusal" test ! -e x -a ! -e m2.st -a ! -e n.st -a ! -e new.st

# --- what stays allowed ----------------------------------------------------------------------
ok "--resume ck.st --checkpoint ck.st continues a run" "$BNN" train --arch 2,3,1 --epochs 9 --quiet --data d.csv \
  --resume ck.st --checkpoint ck.st
check "the checkpoint moved on to epoch 9" sh -c "\"$BNN\" info ck.st | grep -q '9 steps'"
ok "two inputs on one file" "$BNN" train $A --data d.csv --val d.csv --save v.st
ok "synth: names no file" "$BNN" train $A --data synth:xor --val synth:xor --save w.st
if [ "$(id -u)" = 0 ] && mknod null c 1 3 2>/dev/null; then # a null device of our own
  ok "a character device shared by two outputs" "$BNN" train $A --data d.csv --save null --log null
fi
check "no temporary files" test -z "$(ls | grep '\.tmp\.')"
summary aliasing
