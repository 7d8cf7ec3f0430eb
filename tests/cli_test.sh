#!/usr/bin/env bash
# cli_test.sh - end-to-end tests of the batchnn command: every command on good input, and bad
# arguments and malformed files, each with its expected exit status and message, and the
# promise that a failed run leaves existing output files untouched.
# usage: cli_test.sh path/to/batchnn [source-dir]
set -u
BNN=${1:?usage: cli_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"

# --- good runs --------------------------------------------------------------------------
ok version "$BNN" --version
check "version names the ISA" grep -q '^isa: ' "$T/out"
ok help "$BNN" --help
for c in train predict eval gradcheck gen info demo; do ok "help $c" "$BNN" $c --help; done

ok "train linear" "$BNN" train --arch 1,1 --act identity --no-bias --data synth:linear \
  --samples 1000 --epochs 200 --lr 1 --save "$T/lin.safetensors" --log "$T/lin.csv" --quiet
check "log header" test "$(head -1 "$T/lin.csv")" = "epoch,loss,seconds,lr"
check "log rows" test "$(wc -l <"$T/lin.csv")" -eq 201
ok "info" "$BNN" info "$T/lin.safetensors"
check "info arch" grep -q '^arch: 1,1$' "$T/out"
w=$(awk -F'max ' '/^layer 1/ {split($2, a, " "); print a[1]}' "$T/out")
check "w close to 2 ($w)" awk -v w="$w" 'BEGIN { exit !(w > 1.999 && w < 2.001) }'

ok "gen csv" "$BNN" gen synth:xor --samples 8 --out "$T/xor.csv"
check "gen csv rows" test "$(wc -l <"$T/xor.csv")" -eq 8
check "gen csv row 4" test "$(sed -n 4p "$T/xor.csv")" = "1,1,0"
ok "gen npy" "$BNN" gen synth:uniform --arch 3,5,2 --samples 100 --out "$T/u.npy" --seed 4
ok "train xor from csv" "$BNN" train --arch 2,3,1 --data "$T/xor.csv" --epochs 3000 --lr 2 \
  --save "$T/xor.safetensors" --quiet
ok "eval xor" "$BNN" eval --model "$T/xor.safetensors" --data "$T/xor.csv"
check "eval prints one number" grep -qE '^[0-9.e+-]+$' "$T/out"
ok "predict csv to stdout" "$BNN" predict --model "$T/xor.safetensors" --data "$T/xor.csv"
check "predict rows" test "$(wc -l <"$T/out")" -eq 8
ok "predict to npy" "$BNN" predict --model "$T/xor.safetensors" --data "$T/xor.csv" --out "$T/p.npy"
check "npy magic" test "$(head -c 6 "$T/p.npy" | tail -c 5)" = "NUMPY"
ok "train from npy" "$BNN" train --arch 3,4,2 --data "$T/u.npy" --epochs 5 --quiet --save "$T/u.safetensors"
ok "train --init continues" "$BNN" train --init "$T/u.safetensors" --data "$T/u.npy" --epochs 5 --quiet
ok "train reference engine" "$BNN" train --arch 3,4,2 --data "$T/u.npy" --epochs 3 --engine reference --quiet
ok "train seed gradient" "$BNN" train --arch 3,4,2 --data "$T/u.npy" --epochs 3 --gradient seed --quiet
ok "train finite-diff" "$BNN" train --arch 3,2,2 --data "$T/u.npy" --epochs 2 --gradient finite-diff --quiet
ok "train mini-batch" "$BNN" train --arch 3,4,2 --data "$T/u.npy" --epochs 2 --batch 7 --quiet
ok "gradcheck" "$BNN" gradcheck --arch 3,7,2 --samples 9
check "gradcheck verdict" grep -q ': ok$' "$T/out"
ok "gradcheck seed" "$BNN" gradcheck --arch 1,1,1,1,1 --gradient seed
ok "gradcheck notes' linear" "$BNN" gradcheck --arch 1,1 --act identity --no-bias
# the narrow path's kernels (tiny nets in one pass, wider narrow nets layer-wise) on every
# ISA table this CPU has, 37 samples (a partial group of vectors), against finite differences
for isa in scalar avx2 avx512; do
  for net in "2,1 sigmoid" "1,1,1,1,1 tanh" "2,2,1 relu" "4,1 identity" "2,16,16,1 sigmoid" \
             "3,5,2 tanh"; do
    read -r arch act <<<"$net"
    ok "gradcheck $arch $act [$isa]" env BATCHNN_ISA=$isa "$BNN" gradcheck --arch "$arch" \
      --act "$act" --samples 37
  done
done

# separate targets
cut -d, -f1,2 "$T/xor.csv" >"$T/xin.csv"; cut -d, -f3 "$T/xor.csv" >"$T/xout.csv"
ok "train --targets" "$BNN" train --arch 2,2,1 --data "$T/xin.csv" --targets "$T/xout.csv" --epochs 2 --quiet
ok "eval --targets" "$BNN" eval --model "$T/xor.safetensors" --data "$T/xin.csv" --targets "$T/xout.csv"

# threads do not change the result
"$BNN" train --arch 2,8,1 --data synth:circle --samples 3000 --epochs 5 --threads 1 --save "$T/t1.safetensors" --quiet
"$BNN" train --arch 2,8,1 --data synth:circle --samples 3000 --epochs 5 --threads 2 --save "$T/t2.safetensors" --quiet
check "threads 1 == threads 2, bitwise" cmp -s "$T/t1.safetensors" "$T/t2.safetensors"

# checkpoints: an interrupted run resumed from its checkpoint reaches bitwise the same weights
"$BNN" train --arch 2,5,1 --data synth:circle --samples 2000 --epochs 12 --save "$T/full.safetensors" --quiet
ok "train to a checkpoint" "$BNN" train --arch 2,5,1 --data synth:circle --samples 2000 --epochs 7 \
  --checkpoint "$T/ck.safetensors" --checkpoint-every 3 --quiet
ok "resume" "$BNN" train --arch 2,5,1 --data synth:circle --samples 2000 --epochs 12 \
  --resume "$T/ck.safetensors" --save "$T/resumed.safetensors" --log "$T/resumed.csv" --quiet
"$BNN" info "$T/full.safetensors" >"$T/full.info"; "$BNN" info "$T/resumed.safetensors" >"$T/resumed.info"
check "resumed run == uninterrupted run, bitwise" cmp -s "$T/full.safetensors" "$T/resumed.safetensors"
check "resumed log continues at epoch 8" test "$(sed -n 2p "$T/resumed.csv" | cut -d, -f1)" = "8"
bad "resume past --epochs" 2 "past --epochs" "$BNN" train --data synth:circle --samples 2000 --epochs 3 --resume "$T/ck.safetensors"
bad "resume other data" 1 "2000 samples" "$BNN" train --data synth:circle --samples 100 --epochs 20 --resume "$T/ck.safetensors"
bad "resume a plain model" 1 "not a batchnn checkpoint" "$BNN" train --data synth:circle --samples 2000 --epochs 20 --resume "$T/full.safetensors"
ok "plot" "$BNN" train --arch 2,3,1 --data synth:xor --epochs 50 --plot "$T/loss.svg" --quiet
check "plot is svg" grep -q "<polyline" "$T/loss.svg"

# --- bad arguments (exit 2) -------------------------------------------------------------
bad "no command" 2 "no command given" "$BNN"
bad "unknown command" 2 "unknown command 'fly'" "$BNN" fly
bad "unknown option" 2 "unknown option '--bogus'" "$BNN" train --bogus
bad "missing value" 2 "--epochs needs a value" "$BNN" train --epochs
bad "no data" 2 "--data" "$BNN" train --arch 2,1
bad "no arch" 2 "--arch is required" "$BNN" train --data synth:xor
bad "bad arch" 2 "width 2 is 'x'" "$BNN" train --arch 2,x,1 --data synth:xor
bad "zero width" 2 "at least 1" "$BNN" train --arch 2,0,1 --data synth:xor
bad "absurd arch" 2 "larger than the limit" "$BNN" train --arch 2,100000000,100000000,1 --data synth:uniform
bad "absurd but representable arch" 1 "do not fit" "$BNN" train --arch 2,16000000,16000000,1 --data synth:uniform
bad "bad act" 2 "unknown activation 'softmax'" "$BNN" train --arch 2,1 --act softmax --data synth:xor
bad "act count" 2 "3 names for 2 layers" "$BNN" train --arch 2,2,1 --act sigmoid,sigmoid,sigmoid --data synth:xor
bad "bad epochs" 2 "--epochs: 'ten'" "$BNN" train --arch 2,1 --data synth:xor --epochs ten
bad "negative lr" 2 "--lr" "$BNN" train --arch 2,1 --data synth:xor --lr -1
bad "nan lr" 2 "--lr: 'nan'" "$BNN" train --arch 2,1 --data synth:xor --lr nan
bad "bad gradient" 2 "--gradient: 'fast'" "$BNN" train --arch 2,1 --data synth:xor --gradient fast
bad "bad engine" 2 "--engine: 'gpu'" "$BNN" train --arch 2,1 --data synth:xor --engine gpu
bad "zero samples" 2 "--samples" "$BNN" train --arch 2,1 --data synth:xor --samples 0
bad "unknown synth" 1 "unknown synthetic set" "$BNN" train --arch 2,1 --data synth:nope
bad "synth widths" 1 "synth:xor has 2 input" "$BNN" train --arch 3,1 --data synth:xor
bad "init conflicts arch" 2 "conflicts with --init" "$BNN" train --init "$T/xor.safetensors" --arch 2,5,1 --data synth:xor
bad "gen without out" 2 "--out" "$BNN" gen synth:xor --samples 4
bad "gen no name" 2 "synthetic set" "$BNN" gen --samples 4 --out "$T/x.csv"

# --- bad files (exit 1, naming the file) -------------------------------------------------
bad "missing data file" 1 "$T/none.csv: cannot open" "$BNN" train --arch 2,1 --data "$T/none.csv"
printf '0,0,0\n0,1\n' >"$T/ragged.csv"
bad "ragged csv" 1 "ragged.csv:2" "$BNN" train --arch 2,1 --data "$T/ragged.csv"
printf '0,0,0\n0,abc,1\n' >"$T/text.csv"
bad "text in csv" 1 "text.csv:2:2" "$BNN" train --arch 2,1 --data "$T/text.csv"
printf '0,0,0\n0,nan,1\n' >"$T/nan.csv"
bad "nan in csv" 1 "nan.csv:2" "$BNN" train --arch 2,1 --data "$T/nan.csv"
bad "wrong column count" 1 "3 columns" "$BNN" train --arch 3,1 --data "$T/xor.csv"
printf 'not a model' >"$T/junk.safetensors"
bad "junk model" 1 "junk.safetensors" "$BNN" info "$T/junk.safetensors"
bad "missing model" 1 "none.safetensors" "$BNN" eval --model "$T/none.safetensors" --data "$T/xor.csv"
printf '\x93NUMPY\x01\x00\x10\x00{garbage}      \n' >"$T/bad.npy"
bad "bad npy" 1 "bad.npy" "$BNN" train --arch 2,1 --data "$T/bad.npy"
bad "predict width mismatch" 1 "xin.csv: 2 columns" "$BNN" predict --model "$T/u.safetensors" --data "$T/xin.csv"

# --- failures leave existing outputs untouched --------------------------------------------
echo "keep me" >"$T/keep.safetensors"; echo "keep me" >"$T/keep.csv"
bad "divergence" 1 "epoch [0-9]+: .*diverged" "$BNN" train --arch 1,1 --act identity --no-bias \
  --data synth:linear --samples 100 --epochs 100 --lr 1e6 --save "$T/keep.safetensors" --quiet
check "diverged run kept the old model" test "$(cat "$T/keep.safetensors")" = "keep me"
bad "bad data, outputs untouched" 1 "ragged.csv" "$BNN" train --arch 2,1 --data "$T/ragged.csv" \
  --save "$T/keep.safetensors" --log "$T/keep.csv"
check "old model untouched" test "$(cat "$T/keep.safetensors")" = "keep me"
check "old log untouched" test "$(cat "$T/keep.csv")" = "keep me"
bad "predict bad data keeps output" 1 "ragged.csv" "$BNN" predict --model "$T/xor.safetensors" --data "$T/ragged.csv" --out "$T/keep.csv"
check "predict output untouched" test "$(cat "$T/keep.csv")" = "keep me"
check "no temporary files left" test -z "$(ls "$T" | grep '\.tmp\.')"

summary cli
