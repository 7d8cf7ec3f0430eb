#!/bin/bash
# mpi_test.sh - many processes under mpirun (Open MPI), end to end, against the plain binary:
#  - models, checkpoints and logs (the seconds column cut off) are byte-identical (cmp) for
#    K = 1..4 ranks and --threads 1..2, on the narrow path and the GEMM path, full batch and
#    mini-batches (--shuffle, adam), .npy and synthetic data, n not divisible by K nor by the
#    shard count, and n so small that some ranks hold no shard;
#  - validation and a classification loss (the per-shard sums gathered), eval and predict;
#    the random stratified --val-split and --standardize;
#  - --resume under mpirun from a single-process checkpoint, and the reverse;
#  - an error on one rank only ends every rank within seconds, with that rank's message: a
#    data file truncated on one "node" (a rank started in another directory; the ranks'
#    agreement on the file names it), rows only the last rank reads making training diverge,
#    arguments that differ between ranks (more disagreements: mpi_agree_test.sh);
#  - SIGTERM to mpirun: the ranks stop at the next step (full batch: the epoch's end), rank 0
#    writes the checkpoint once.
# usage: mpi_test.sh path/to/batchnn [path/to/mpirun]
BNN=${1:?usage: mpi_test.sh path/to/batchnn [mpirun]}
MPIRUN=${2:-mpirun}
BNN=$(cd "$(dirname "$BNN")" && pwd)/$(basename "$BNN") # ranks may start in other directories
. "$(dirname "$0")/lib.sh"

# Open MPI keeps some of its memory to the end of the process: under AddressSanitizer
# (build-asan) the leak report would be about it, not about batchnn
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# --allow-run-as-root: CI runs as root; --oversubscribe: 4 ranks on 2 cores
mpi() { # mpi K CMD...: K ranks, at most 120 s
  local k=$1; shift
  timeout 120 "$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none -np "$k" "$@"
}
nolog() { cut -d, -f3 --complement "$1"; } # a --log without its seconds column

"$BNN" gen synth:teacher --arch 64,10 --samples 9001 --out "$T/w.npy" --seed 3 >/dev/null &&
  "$BNN" gen synth:circle --samples 20001 --out "$T/c.npy" --seed 4 >/dev/null ||
  { echo "gen failed"; exit 1; }

# same NAME "KxT ..." ARGS...: one process (--threads 2), then each K ranks x T threads:
# the same model, final checkpoint and log
same() {
  local name=$1 runs=$2; shift 2
  rm -rf "$T/one" && mkdir "$T/one"
  ok "$name: one process" "$BNN" train "$@" --threads 2 --save "$T/one/m.st" \
    --log "$T/one/l.csv" --checkpoint "$T/one/c.st" --checkpoint-every 1 --quiet
  nolog "$T/one/l.csv" >"$T/one/l.cut"
  for kt in $runs; do
    local k=${kt%x*} t=${kt#*x}
    rm -rf "$T/k" && mkdir "$T/k"
    ok "$name: $k ranks x $t threads" mpi "$k" "$BNN" train "$@" --threads "$t" \
      --save "$T/k/m.st" --log "$T/k/l.csv" --checkpoint "$T/k/c.st" --checkpoint-every 1 --quiet
    check "$name: $k x $t: model" cmp -s "$T/one/m.st" "$T/k/m.st"
    check "$name: $k x $t: checkpoint" cmp -s "$T/one/c.st" "$T/k/c.st"
    check "$name: $k x $t: log" cmp -s "$T/one/l.cut" <(nolog "$T/k/l.csv")
    check "$name: $k x $t: no other file" test "$(ls "$T/k" | tr '\n' ' ')" = "c.st l.csv m.st "
  done
}

ALL="1x1 1x2 2x1 2x2 3x1 3x2 4x1 4x2"
# narrow path, 20001 samples: 32 shards over 3 ranks (10, 11, 11)
same "narrow synth full batch" "$ALL" --arch 2,16,16,1 --data synth:circle --samples 20001 \
  --epochs 3
# GEMM path, 9001 samples of a .npy: 32 shards of uneven sizes
same "gemm npy full batch" "$ALL" --arch 64,300,10 --data "$T/w.npy" --epochs 3
# the GEMM path forced on a narrow net, a .npy
same "gemm forced, npy" "2x1 3x2" --arch 2,16,16,1 --data "$T/c.npy" --epochs 2 \
  --optimizer momentum
export BATCHNN_PATH=gemm
same "BATCHNN_PATH=gemm" "3x1 4x2" --arch 2,16,16,1 --data "$T/c.npy" --epochs 2
unset BATCHNN_PATH
# mini-batches: narrow shards spread over the ranks; GEMM split mode computed by every rank
same "narrow mini-batches shuffled adam" "2x1 3x2 4x1" --arch 2,16,16,1 --data "$T/c.npy" \
  --epochs 2 --batch 3001 --shuffle --optimizer adam --lr 0.01
same "gemm mini-batches shuffled adam" "2x2 3x1" --arch 64,300,10 --data "$T/w.npy" \
  --epochs 2 --batch 1000 --shuffle --optimizer adam --lr 0.01
same "gemm mini-batches of 5000 (sharded)" "3x1" --arch 64,300,10 --data synth:teacher \
  --samples 7000 --epochs 2 --batch 5000
# GEMM mini-batches of 2 pieces (256 samples) and more are cut into pieces the ranks share
same "gemm mini-batches in 3 pieces, shuffled adam" "2x1 3x2 4x1" --arch 64,300,10 \
  --data "$T/w.npy" --epochs 2 --batch 800 --shuffle --optimizer adam --lr 0.01
# the run header says when mini-batches are computed whole by every rank (split mode)
ok "split-mode note" mpi 2 "$BNN" train --arch 64,300,10 --data "$T/w.npy" --epochs 1 \
  --batch 256 --threads 1
check "split-mode note: said once" \
  test "$(grep -c '^batchnn: note: mini-batches of up to 511 samples are computed whole by every rank' "$T/err")" -eq 1
ok "batches in pieces: no note" mpi 2 "$BNN" train --arch 64,300,10 --data "$T/w.npy" \
  --epochs 1 --batch 512 --threads 1
check "batches in pieces: no note" test "$(grep -c 'computed whole by every rank' "$T/err")" -eq 0
ok "sharded batches: no note" mpi 2 "$BNN" train --arch 64,300,10 --data "$T/w.npy" \
  --epochs 1 --batch 5000 --threads 1
check "sharded batches: no note" test "$(grep -c 'computed whole by every rank' "$T/err")" -eq 0
# few samples: 2 shards (700 samples) or 1 (300) over more ranks than shards
same "narrow 700 samples, K > shards" "3x1 4x2" --arch 2,16,16,1 --data synth:circle \
  --samples 700 --epochs 3
same "gemm 300 samples, K > shards" "4x1" --arch 64,300,10 --data synth:teacher \
  --samples 300 --epochs 3 --batch 0
# the other CPU paths' kernels (chosen per process by BATCHNN_ISA, passed on by mpirun)
for isa in avx2 scalar; do
  [ "$isa" = avx2 ] && ! grep -qw avx2 /proc/cpuinfo && continue # a CPU without it
  BATCHNN_ISA=$isa same "narrow, BATCHNN_ISA=$isa" "3x1" --arch 2,16,16,1 --data "$T/c.npy" \
    --epochs 2
done
# CSV: every rank parses the whole file
"$BNN" gen synth:circle --samples 3001 --out "$T/c.csv" --seed 6 >/dev/null
same "narrow csv" "3x1" --arch 2,16,16,1 --data "$T/c.csv" --epochs 3
# validation and a classification loss (costs and correct counts gathered per shard)
same "validation, bce" "3x1" --arch 64,40,10 --act relu,identity --loss bce \
  --data synth:uniform --samples 6001 --val-split 0.25 --epochs 3 --optimizer nesterov

# the random stratified --val-split and --standardize's statistics: the same on every rank
awk 'BEGIN { srand(5); for (i = 0; i < 3001; i++) { c = int(i * 4 / 3001);
  printf "%.5f,%.5f,%d\n", c + rand() * 1.5, 100 + rand() * 10, c } }' >"$T/lab.csv"
same "stratified split, --standardize" "3x1" --hidden 16 --act relu,identity --loss ce \
  --data "$T/lab.csv" --val-split 0.2 --standardize --epochs 3 --batch 64 --shuffle

# --resume: one process to 2 epochs, then 3 ranks to 4; and 2 ranks to 2, one process to 4
R="--arch 2,16,16,1 --data synth:circle --samples 20001 --optimizer adam --lr 0.01"
ok "resume: whole run" "$BNN" train $R --epochs 4 --checkpoint "$T/whole.st" --quiet
ok "resume: first half, one process" "$BNN" train $R --epochs 2 --checkpoint "$T/h1.st" --quiet
ok "resume: second half, 3 ranks" mpi 3 "$BNN" train $R --epochs 4 --resume "$T/h1.st" \
  --checkpoint "$T/r1.st" --threads 1 --quiet
check "resume: one process then 3 ranks == whole" cmp -s "$T/whole.st" "$T/r1.st"
ok "resume: first half, 2 ranks" mpi 2 "$BNN" train $R --epochs 2 --checkpoint "$T/h2.st" --quiet
ok "resume: second half, one process" "$BNN" train $R --epochs 4 --resume "$T/h2.st" \
  --checkpoint "$T/r2.st" --quiet
check "resume: 2 ranks then one process == whole" cmp -s "$T/whole.st" "$T/r2.st"

# eval and predict: rank 0 prints and writes, rows in sample order
ok "model for eval" "$BNN" train --arch 64,300,10 --data "$T/w.npy" --epochs 1 \
  --save "$T/e.st" --quiet
"$BNN" eval --model "$T/e.st" --data "$T/w.npy" >"$T/e1.txt"
"$BNN" predict --model "$T/e.st" --data "$T/w.npy" --out "$T/p1.npy"
"$BNN" predict --model "$T/e.st" --data "$T/w.npy" >"$T/p1.csv"
for k in 2 3 4; do
  mpi "$k" "$BNN" eval --model "$T/e.st" --data "$T/w.npy" --threads 1 >"$T/ek.txt" 2>"$T/err"
  check "eval, $k ranks" cmp -s "$T/e1.txt" "$T/ek.txt"
  ok "predict, $k ranks" mpi "$k" "$BNN" predict --model "$T/e.st" --data "$T/w.npy" \
    --out "$T/pk.npy" --threads 1
  check "predict .npy, $k ranks" cmp -s "$T/p1.npy" "$T/pk.npy"
done
mpi 3 "$BNN" predict --model "$T/e.st" --data "$T/w.npy" >"$T/pk.csv" 2>"$T/err"
check "predict to stdout, 3 ranks" cmp -s "$T/p1.csv" "$T/pk.csv"

# --version; the statistics line: 32 shards over 2 ranks meet at the root, 1 message of
# 4 x 22510 bytes, and the broadcast (1 more)
ok "--version" "$BNN" --version
check "--version says MPI is built in" grep -q "^mpi: built in" "$T/out"
BATCHNN_MPI_STATS=1 mpi 2 "$BNN" train --arch 64,300,10 --data "$T/w.npy" --epochs 3 \
  --threads 1 --quiet >"$T/stdout" 2>"$T/err"
check "BATCHNN_MPI_STATS line" grep -qE "^mpi: ranks 2 threads 1 steps 3 reduce_s [0-9.]+ \
per_step_us [0-9.]+ msgs_per_step 2 bytes_per_step 180080 params 22510 shards 32 \
cpu_s_min [0-9.]+ cpu_s_median [0-9.]+ cpu_s_max [0-9.]+$" "$T/err"
check "BATCHNN_MPI_STATS: one line" test "$(grep -c '^mpi:' "$T/err")" -eq 1

# errors on one rank: every rank ends within the timeout, with that rank's message
fails_with() { # fails_with NAME PATTERN CMD...: non-zero exit (not the timeout), PATTERN on stderr
  local name=$1 pat=$2; shift 2
  timeout 30 "$@" >"$T/stdout" 2>"$T/err"; local got=$?
  if [ "$got" -eq 0 ] || [ "$got" -eq 124 ] || [ "$got" -eq 137 ]; then
    fail=$((fail + 1)); echo "FAIL $name: exit $got"; sed 's/^/  | /' "$T/err" | head -5
  elif ! grep -qE -- "$pat" "$T/err"; then
    fail=$((fail + 1)); echo "FAIL $name: stderr lacks /$pat/:"; sed 's/^/  | /' "$T/err" | head -5
  else pass=$((pass + 1)); fi
}
# a node whose copy of the data is truncated: rank 2 runs in another directory
mkdir -p "$T/n0" "$T/n1" "$T/o"
cp "$T/w.npy" "$T/n0/w.npy"
head -c 2000000 "$T/w.npy" >"$T/n1/w.npy"
E="--arch 64,300,10 --epochs 50 --threads 1 --save $T/o/m.st --log $T/o/l.csv"
fails_with "one rank's data truncated" \
  "^batchnn: w.npy: the ranks read different files at this path: [0-9]+ bytes on rank 0, 2000000 on rank 2" \
  "$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none \
  -np 2 -wdir "$T/n0" "$BNN" train $E --data w.npy : -np 1 -wdir "$T/n1" "$BNN" train $E --data w.npy
# at most the log, which is written in place as epochs end (tail -f); no model, no temp file
only_log() { local l; l=$(ls -A "$T/o"); [ -z "$l" ] || [ "$l" = l.csv ]; }
check "truncated on one rank: no model, no temp file" only_log
rm -f "$T/o/l.csv"
# rows of huge targets that only the last rank reads: every rank stops at the divergence
cp "$T/w.npy" "$T/n1/w.npy"
size=$(stat -c %s "$T/w.npy")
huge=$(printf '\\xca\\xf2\\x49\\x71%.0s' $(seq 1 512)) # 512 x 1e30f
printf "$huge" | dd of="$T/n1/w.npy" bs=1 seek=$((size - 2048)) conv=notrunc status=none
fails_with "one rank's rows diverge" "diverged" \
  "$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none -np 3 \
  "$BNN" train $E --data "$T/n1/w.npy"
check "divergence: no model, no temp file" only_log
rm -f "$T/o/l.csv"
# a nan in the rows the last rank scans at load: every rank reports it, printed once
cp "$T/w.npy" "$T/n1/w.npy"
printf '\x00\x00\xc0\x7f' | dd of="$T/n1/w.npy" bs=1 seek=$((size - 40)) conv=notrunc status=none
fails_with "a nan only the last rank scans" "w.npy: element \[9000, 64\] is nan" \
  "$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none -np 3 \
  "$BNN" train $E --data "$T/n1/w.npy"
check "the nan: one message" test "$(grep -c '^batchnn:' "$T/err")" -eq 1
check "the nan: no output" test -z "$(ls -A "$T/o")"
fails_with "arguments differ between ranks" "rank 1: the arguments differ" \
  "$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none \
  -np 1 "$BNN" train $E --data "$T/w.npy" : -np 1 "$BNN" train $E --data "$T/w.npy" --lr 1
check "arguments differ: no model, no temp file" only_log

# SIGTERM to mpirun: Open MPI 4.1 sends the ranks SIGCONT at once, SIGTERM after
# odls_base_sigkill_timeout seconds and SIGKILL after as many again; in between the ranks
# finish the epoch, agree, and rank 0 writes every output once
# (mpirun alone gets the signal: not through timeout(1), which also signals its whole process
# group, mpirun included twice, and mpirun kills the ranks at once on a second signal)
rm -rf "$T/sig" && mkdir "$T/sig"
"$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none \
  --mca odls_base_sigkill_timeout 10 -np 3 "$BNN" train --arch 2,16,16,1 --data synth:circle \
  --samples 20001 --epochs 1000000 --threads 1 --checkpoint "$T/sig/c.st" \
  --checkpoint-every 1000000 --log "$T/sig/l.csv" --save "$T/sig/m.st" >"$T/sig.out" \
  2>"$T/sig.err" &
pid=$!
( for _ in $(seq 1 600); do # a watchdog: never hang the suite (120 s)
    sleep 0.2; [ -e "$T/sig.done" ] && exit 0
  done; kill -KILL $pid ) >/dev/null 2>&1 &
dog=$!
for _ in $(seq 1 300); do # until a few epochs are logged
  [ -f "$T/sig/l.csv" ] && [ "$(wc -l <"$T/sig/l.csv")" -gt 3 ] && break
  sleep 0.2
done
kill -TERM $pid
wait $pid
touch "$T/sig.done"
wait $dog
check "SIGTERM: stopped after an epoch, every output written" \
  grep -q "stopped by SIGTERM after epoch .*; every output was written" "$T/sig.err"
check "SIGTERM: the message once" test "$(grep -c "stopped by SIGTERM" "$T/sig.err")" -eq 1
ep=$(tail -n 1 "$T/sig/l.csv" | cut -d, -f1)
check "SIGTERM: checkpoint and model written" test -s "$T/sig/c.st" -a -s "$T/sig/m.st"
check "SIGTERM: the checkpoint is of the last logged epoch" \
  grep -q "\"epoch\":\"$ep\"" "$T/sig/c.st"
check "SIGTERM: no temp file" test "$(ls -A "$T/sig" | tr '\n' ' ')" = "c.st l.csv m.st "
# the run goes on from that checkpoint, under mpirun, to the same model as one process
ok "SIGTERM: resume to epoch $((ep + 2))" mpi 2 "$BNN" train --resume "$T/sig/c.st" \
  --arch 2,16,16,1 --data synth:circle --samples 20001 --epochs $((ep + 2)) --threads 1 \
  --save "$T/sig/r.st" --quiet
ok "SIGTERM: one process to epoch $((ep + 2))" "$BNN" train --arch 2,16,16,1 \
  --data synth:circle --samples 20001 --epochs $((ep + 2)) --save "$T/sig/w.st" --quiet
check "SIGTERM: resumed == uninterrupted" cmp -s "$T/sig/r.st" "$T/sig/w.st"

summary mpi_test
