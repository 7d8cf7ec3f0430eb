#!/bin/bash
# mpi_shards_test.sh - shards that grow with the samples, across many ranks (Open MPI): a net
# of 64,64,10 at 80001 samples is cut into 79 shards of about 1024 (the shard rule of
# src/engine/fast.c: past 32 shards of min_shard, shards of 4 chunks, no cap), so 36 ranks
# on 2 cores (--oversubscribe, 1 thread each) all own shards (2 or 3 each: the statistics line says 79
# shards) and train, full batch, mini-batches of 5000 (shards) and of 4000 (15 pieces),
# byte-identical models to one process; so do 1 to 4 ranks and 2 threads.
# usage: mpi_shards_test.sh path/to/batchnn [path/to/mpirun]
BNN=${1:?usage: mpi_shards_test.sh path/to/batchnn [mpirun]}
MPIRUN=${2:-mpirun}
BNN=$(cd "$(dirname "$BNN")" && pwd)/$(basename "$BNN")
. "$(dirname "$0")/lib.sh"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi() { # mpi K CMD...: K ranks, at most 300 s
  local k=$1; shift
  timeout 300 "$MPIRUN" --allow-run-as-root --oversubscribe --bind-to none -np "$k" "$@"
}

ARGS=(--arch 64,64,10 --data synth:teacher --samples 80001 --epochs 2 --seed 5)
ok "one process" "$BNN" train "${ARGS[@]}" --threads 2 --save "$T/one.st" --quiet
for k in 1 2 3 4 36; do
  rm -f "$T/k.st"
  BATCHNN_MPI_STATS=1 mpi "$k" "$BNN" train "${ARGS[@]}" --threads 1 --save "$T/k.st" \
    --quiet >"$T/out" 2>"$T/err"
  check "$k ranks: exit 0" test -s "$T/k.st"
  check "$k ranks: model == one process" cmp -s "$T/one.st" "$T/k.st"
  check "$k ranks: 79 shards" grep -qE "^mpi: ranks $k threads 1 .* shards 79 cpu_s_min .*$" "$T/err"
done
# mini-batches of 5000 (past split mode): 20 shards a batch, fewer than the ranks; the last
# batch (1 sample) in split mode
ok "mini-batches: one process" "$BNN" train "${ARGS[@]}" --batch 5000 --threads 2 \
  --save "$T/one.st" --quiet
ok "mini-batches: 36 ranks" mpi 36 "$BNN" train "${ARGS[@]}" --batch 5000 --threads 1 \
  --save "$T/k.st" --quiet
check "mini-batches: 36 ranks == one process" cmp -s "$T/one.st" "$T/k.st"
# mini-batches of 4000 (split mode's limit is 4096): 15 pieces of 256 or more each, shared by
# 15 of the 36 ranks (and by 3 ranks of 1 thread, 2 of 2), the last batch (1 sample) in split
# mode; bitwise one process
PIECES=(--arch 64,64,10 --data synth:teacher --samples 12001 --epochs 2 --seed 5 --batch 4000)
ok "pieces: one process" "$BNN" train "${PIECES[@]}" --threads 2 --save "$T/one.st" --quiet
for kt in 3x1 2x2 36x1; do
  rm -f "$T/k.st"
  ok "pieces: $kt" mpi "${kt%x*}" "$BNN" train "${PIECES[@]}" --threads "${kt#*x}" \
    --save "$T/k.st" --quiet
  check "pieces: $kt == one process" cmp -s "$T/one.st" "$T/k.st"
done
summary mpi_shards_test
