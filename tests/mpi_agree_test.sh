#!/bin/bash
# mpi_agree_test.sh - ranks under mpirun (Open MPI) that disagree are refused together, never
# left waiting nor trained apart:
#  - data files that differ between ranks at one path (a stale copy on one "node": here a rank
#    started in another directory, with -wdir, reading the same relative path): fewer rows,
#    more rows, a CSV of the same size with another value, a --targets file; train and eval;
#  - standard input, a FIFO as --data with more than one rank;
#  - CPU paths (BATCHNN_ISA) that differ: named differently on two ranks is refused; one rank
#    naming a lower path than another's automatic choice takes the lowest on every rank;
#  - a stop signal at a step boundary: mini-batch epochs end at the next step with the model
#    and checkpoint of the last completed epoch, which --resume continues bitwise.
# Each refusal: exit 1 within the timeout (never a hang), one message from rank 0 naming the
# file and the rank, no output written.
# usage: mpi_agree_test.sh path/to/batchnn [path/to/mpirun]
BNN=${1:?usage: mpi_agree_test.sh path/to/batchnn [mpirun]}
MPIRUN=${2:-mpirun}
BNN=$(cd "$(dirname "$BNN")" && pwd)/$(basename "$BNN")
. "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
MPI="timeout -k 10 60 $MPIRUN --allow-run-as-root --oversubscribe --bind-to none"

# refused NAME PATTERN CMD...: exit 1 (not the timeout: mpirun runs under timeout 60, then
# SIGKILL 10 s later, as a hung mpirun may ignore SIGTERM), one "batchnn:" line matching
# PATTERN on stderr, nothing in $T/o
refused() {
  local name=$1 pat=$2; shift 2
  rm -rf "$T/o" && mkdir "$T/o"
  "$@" >"$T/stdout" 2>"$T/err" </dev/null; local got=$?
  if [ "$got" -ne 1 ]; then
    fail=$((fail + 1)); echo "FAIL $name: exit $got, want 1"; sed 's/^/  | /' "$T/err" | head -5
  elif ! grep -qE -- "$pat" "$T/err"; then
    fail=$((fail + 1)); echo "FAIL $name: stderr lacks /$pat/:"; sed 's/^/  | /' "$T/err" | head -5
  elif [ "$(grep -c '^batchnn:' "$T/err")" -ne 1 ]; then
    fail=$((fail + 1)); echo "FAIL $name: not one message:"; sed 's/^/  | /' "$T/err" | head -5
  elif [ -n "$(ls -A "$T/o")" ]; then
    fail=$((fail + 1)); echo "FAIL $name: output written: $(ls -A "$T/o")"
  else pass=$((pass + 1)); fi
}

mkdir -p "$T/n0" "$T/n1"
gen() { "$BNN" gen "$@" >/dev/null || { echo "gen failed: $*"; exit 1; }; }
gen synth:teacher --arch 16,4 --samples 3000 --out "$T/n0/w.npy" --seed 3
E="--arch 16,8,4 --epochs 3 --threads 1 --save $T/o/m.st --log $T/o/l.csv --checkpoint $T/o/c.st"
# two ranks in n0 and one in n1 (rank 2), the same arguments: data.* is another file there
on_nodes() { # on_nodes CMD...: 3 ranks, rank 2 in n1
  $MPI -np 2 -wdir "$T/n0" "$@" : -np 1 -wdir "$T/n1" "$@"
}

# fewer rows on one rank (a valid file of 2000 rows): once a false "out of float32 range"
# on rank 0 and a hang
gen synth:teacher --arch 16,4 --samples 2000 --out "$T/n1/w.npy" --seed 3
refused "npy: fewer rows on rank 2" \
  "^batchnn: w.npy: the ranks read different files at this path: [0-9]+ bytes on rank 0, [0-9]+ on rank 2;" \
  on_nodes "$BNN" train $E --data w.npy
# more rows on one rank: once a silent hang
gen synth:teacher --arch 16,4 --samples 4000 --out "$T/n1/w.npy" --seed 3
refused "npy: more rows on rank 2" "w.npy: the ranks read different files .* on rank 2" \
  on_nodes "$BNN" train $E --data w.npy
# same shape and size, other values (another seed): the checksum
gen synth:teacher --arch 16,4 --samples 3000 --out "$T/n1/w.npy" --seed 4
refused "npy: same size, other contents on rank 2" \
  "w.npy: the ranks read different files at this path: [0-9]+ bytes each, but the contents differ on rank 2" \
  on_nodes "$BNN" train $E --data w.npy
"$BNN" train --arch 16,8,4 --epochs 1 --data "$T/n0/w.npy" --save "$T/e.st" --quiet
refused "eval: other contents on rank 2" "w.npy: the ranks read different files" \
  on_nodes "$BNN" eval --model "$T/e.st" --data w.npy
# a CSV of the same size with one digit changed: once a different model, exit 0
"$BNN" gen synth:circle --samples 2001 --out "$T/n0/c.csv" --seed 6 >/dev/null
sed '1000s/\([0-9]\)\([^0-9]*\)$/X\2/' "$T/n0/c.csv" >"$T/n1/c.csv"
sed -i '1000s/X/'"$(sed -n '1000p' "$T/n0/c.csv" | grep -o '[0-9][^0-9]*$' | head -c1 | tr '0-9' '1-90')"'/' "$T/n1/c.csv"
check "csv copies: same size, one line differs" test "$(stat -c %s "$T/n0/c.csv")" = \
  "$(stat -c %s "$T/n1/c.csv")" -a "$(cmp "$T/n0/c.csv" "$T/n1/c.csv" | wc -l)" = 1
refused "csv: one value differs on rank 2" "c.csv: .*contents differ on rank 2" \
  on_nodes "$BNN" train --arch 2,8,1 --epochs 3 --threads 1 --save "$T/o/m.st" --data c.csv
head -n 1500 "$T/n0/c.csv" >"$T/n1/c.csv"
refused "csv: fewer rows on rank 2" "c.csv: the ranks read different files .* on rank 2" \
  on_nodes "$BNN" train --arch 2,8,1 --epochs 3 --threads 1 --save "$T/o/m.st" --data c.csv
# --targets: inputs agree, targets differ
"$BNN" gen synth:circle --samples 500 --out "$T/n0/x.npy" --seed 1 >/dev/null
cp "$T/n0/x.npy" "$T/n1/x.npy"
gen synth:uniform --arch 1,1 --samples 500 --out "$T/n0/y.npy" --seed 1
gen synth:uniform --arch 1,1 --samples 500 --out "$T/n1/y.npy" --seed 2
refused "targets: other contents on rank 2" "y.npy: .*contents differ on rank 2" \
  on_nodes "$BNN" train --arch 3,4,2 --epochs 3 --threads 1 --save "$T/o/m.st" --data x.npy \
  --targets y.npy
# the same files everywhere still train (the agreement lets them through)
cp "$T/n0/w.npy" "$T/n1/w.npy"
ok "npy: the same file on every rank trains" on_nodes "$BNN" train --arch 16,8,4 --epochs 2 \
  --threads 1 --data w.npy --quiet

# standard input and a FIFO with more than one rank: refused on every rank, at once
refused "--data - with 2 ranks" \
  "^batchnn: --data -: standard input is not supported with more than one rank" \
  $MPI -np 2 "$BNN" train $E --data -
mkfifo "$T/fifo"
refused "a FIFO with 2 ranks" "fifo: not a regular file \(a pipe, FIFO or device\) on rank 0" \
  $MPI -np 2 "$BNN" train $E --data "$T/fifo"

# one rank names scalar, the other chooses automatically (avx2 or avx512 here): every rank
# takes scalar, and the model is the one-process scalar model
if grep -qw avx2 /proc/cpuinfo; then # (a CPU without avx2 has one path only)
  # CPU paths: named differently on two ranks, refused (once a model equal to neither, exit 0)
  refused "BATCHNN_ISA differs between ranks" \
    "^batchnn: the ranks' CPU paths differ: rank 0 avx2 \(BATCHNN_ISA\), rank 1 scalar \(BATCHNN_ISA\);" \
    $MPI -np 1 -x BATCHNN_ISA=avx2 "$BNN" train $E --data "$T/n0/w.npy" : \
    -np 1 -x BATCHNN_ISA=scalar "$BNN" train $E --data "$T/n0/w.npy"
  X="--arch 2,16,16,1 --data synth:circle --samples 5000 --epochs 3 --quiet"
  BATCHNN_ISA=scalar "$BNN" train $X --save "$T/scalar.st"
  "$BNN" train $X --save "$T/auto.st"
  check "scalar and automatic models differ (else the next check proves nothing)" \
    test -n "$(cmp "$T/scalar.st" "$T/auto.st" 2>&1)"
  ok "BATCHNN_ISA=scalar on rank 0 only" $MPI -np 1 -x BATCHNN_ISA=scalar "$BNN" train $X \
    --save "$T/mix.st" : -np 1 "$BNN" train $X --save "$T/mix.st"
  check "the lowest path on every rank: the scalar model" cmp -s "$T/scalar.st" "$T/mix.st"
  check "the lowest path: rank 0 notes it" \
    grep -q "^batchnn: note: the ranks' CPU paths differ: every rank takes the lowest, rank 0's scalar$" "$T/err"
fi

# Stop signals at a step boundary. stop_run DIR WAIT_CMD ARGS...: 2 ranks train ARGS (outputs
# in DIR), SIGTERM to mpirun (TARGET=rank: to one rank) once WAIT_CMD succeeds; a watchdog
# kills mpirun after 60 s.
# (mpirun alone gets the signal, not through timeout(1): see mpi_test.sh; it signals the
# ranks after odls_base_sigkill_timeout seconds, SIGKILL as many later: 10 here, generous.)
stop_run() {
  local dir=$1 until=$2 target=${TARGET:-mpirun}; shift 2
  rm -rf "$dir" "$T/stop.done" && mkdir "$dir"
  $MPIRUN --allow-run-as-root --oversubscribe --bind-to none --mca odls_base_sigkill_timeout 10 \
    -np 2 "$BNN" train "$@" >"$dir.out" 2>"$dir.err" &
  local pid=$!
  ( for _ in $(seq 1 300); do sleep 0.2; [ -e "$T/stop.done" ] && exit 0; done
    kill -KILL $pid ) >/dev/null 2>&1 &
  local dog=$!
  for _ in $(seq 1 300); do eval "$until" && break; sleep 0.1; done
  sleep 0.3
  if [ "$target" = mpirun ]; then kill -TERM $pid
  else kill -TERM "$(pgrep -P $pid -f "$BNN" | tail -n 1)"; fi # one rank alone
  wait $pid
  touch "$T/stop.done"
  wait $dog
}
# an epoch of a million steps of one sample (minutes): the stop comes within a step, not at
# the epoch's end, and ends with the last completed epoch: here the initial model
L="--arch 2,256,256,1 --data synth:circle --samples 1000000 --threads 1 --batch 1"
ok "stop: the initial model" "$BNN" train $L --epochs 0 --save "$T/init.st" --quiet
stop_run "$T/long" 'grep -q "^batchnn: 2,256,256,1" "$T/long.err"' $L --epochs 3 \
  --save "$T/long/m.st" --checkpoint "$T/long/c.st"
check "stop within a step: stopped after epoch 0, every output written" \
  grep -q "stopped by SIGTERM after epoch 0 of 3; every output was written" "$T/long.err"
check "stop within a step: the initial model saved" cmp -s "$T/init.st" "$T/long/m.st"
check "stop within a step: no temp file" test "$(ls -A "$T/long" | tr '\n' ' ')" = "m.st "
# the signal reaches one rank only (a scheduler signalling a task): the ranks agree at the
# next step, all stop there, rank 0 writes
TARGET=rank stop_run "$T/one" 'grep -q "^batchnn: 2,256,256,1" "$T/one.err"' $L --epochs 3 \
  --save "$T/one/m.st"
check "one rank signalled: every rank stopped after epoch 0, every output written" \
  grep -q "stopped by SIGTERM after epoch 0 of 3; every output was written" "$T/one.err"
check "one rank signalled: the initial model saved" cmp -s "$T/init.st" "$T/one/m.st"
# mini-batch epochs of 50 steps: a stop between steps undoes the epoch's steps; the model and
# checkpoint are those of the last logged epoch, and --resume continues bitwise
M="--arch 2,16,16,1 --data synth:circle --samples 200000 --batch 4000 --threads 1 --shuffle"
M="$M --optimizer adam --lr 0.01"
stop_run "$T/mb" '[ -f "$T/mb/l.csv" ] && [ "$(wc -l <"$T/mb/l.csv")" -gt 2 ]' $M \
  --epochs 1000000 --save "$T/mb/m.st" --checkpoint "$T/mb/c.st" --checkpoint-every 1000000 \
  --log "$T/mb/l.csv"
ep=$(tail -n 1 "$T/mb/l.csv" | cut -d, -f1)
check "mini-batches: stopped after the last logged epoch ($ep)" \
  grep -q "stopped by SIGTERM after epoch $ep of 1000000; every output was written" "$T/mb.err"
check "mini-batches: the checkpoint is of epoch $ep" grep -q "\"epoch\":\"$ep\"" "$T/mb/c.st"
"$BNN" train $M --epochs "$ep" --save "$T/mb1.st" --quiet
check "mini-batches: the model is one process's after $ep epochs" \
  cmp -s "$T/mb1.st" "$T/mb/m.st"
ok "mini-batches: resume to epoch $((ep + 2))" "$BNN" train --resume "$T/mb/c.st" $M \
  --epochs $((ep + 2)) --save "$T/mb/r.st" --quiet
ok "mini-batches: one process to epoch $((ep + 2))" "$BNN" train $M --epochs $((ep + 2)) \
  --save "$T/mb/w.st" --quiet
check "mini-batches: resumed == uninterrupted" cmp -s "$T/mb/r.st" "$T/mb/w.st"

summary mpi_agree_test
