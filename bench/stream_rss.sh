#!/usr/bin/env bash
# stream_rss.sh - peak resident memory of one full-batch epoch against the number of samples:
# a streamed synthetic set (sample i generated from the seed and i, chunk by chunk) keeps
# the resident memory flat in n. Prints a markdown table.
#
# usage: bench/stream_rss.sh [--bin build/src/batchnn] [--sizes "20 26 30 32"] [--limit KiB]
#                            [--threads T] [--ranks K] [--out FILE.md]
#   --sizes   exponents e of n = 2^e (default 20 26 30 32; 2^32 takes minutes on a loaded
#             machine: one epoch plus the final loss, 2 passes over 2^32 samples)
#   --limit   ulimit -v for each run, KiB (default 1048576 = 1 GiB). batchnn keeps a synthetic
#             set in memory when it fits a quarter of what the process may use, so without a
#             limit a set of up to (RAM / 4) bytes is stored, not streamed; the limit makes
#             every n above 2^25 stream (2 floats a sample). 0: no limit.
#   --ranks   also run the largest n below 2^31 over K ranks with mpirun (default 2) when the
#             binary has MPI built in (`batchnn --version` says "mpi: built in"); 0: skip
#
# Each run: batchnn train --arch 1,1 --act identity --data synth:linear --samples 2^e
# --epochs 1; the figure is the "peak RSS" of its summary line (getrusage ru_maxrss), and
# GNU time's maximum RSS when /usr/bin/time exists (for MPI: rank 0's summary).
set -u
BIN=build/src/batchnn
SIZES="20 26 30 32"
LIMIT=1048576
THREADS=2
RANKS=2
OUT=
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=${2:?}; shift 2 ;;
    --sizes) SIZES=${2:?}; shift 2 ;;
    --limit) LIMIT=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    --ranks) RANKS=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stream_rss.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$BIN" ]; then echo "stream_rss.sh: $BIN: not an executable (build first)" >&2; exit 1; fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OPENBLAS_NUM_THREADS=1 # see tests/memory_test.sh: OpenBLAS buffers under ulimit -v

# run NAME CMD...: the command under the limit; prints "peak_rss_summary|gnu_time_kib|seconds"
run() {
  local name=$1; shift
  local tm=()
  if [ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
    tm=(/usr/bin/time -o "$T/time" -f "%M %e"); fi
  rm -f "$T/time"
  if ! ( if [ "$LIMIT" != 0 ]; then ulimit -v "$LIMIT" || exit 125; fi
         exec "${tm[@]}" "$@" ) >"$T/out" 2>"$T/err"; then
    echo "stream_rss.sh: $name failed:" >&2; sed 's/^/  | /' "$T/err" | tail -5 >&2; return 1
  fi
  local rss sec kib
  rss=$(sed -n 's/.*peak RSS \([0-9.]* [KMG]iB\).*/\1/p' "$T/out" | head -1)
  sec=$(sed -n 's/^trained 1 epoch in \([0-9.]*\) s.*/\1/p' "$T/out" | head -1)
  kib=$(awk '{print $1}' "$T/time" 2>/dev/null | tail -1)
  echo "${rss:-?}|${kib:-?}|${sec:-?}"
}

ARGS=(--arch 1,1 --act identity --data synth:linear --epochs 1 --seed 1)
{
  echo "Peak resident memory of one full-batch epoch, \`batchnn train ${ARGS[*]} --threads $THREADS --samples N\`"
  echo "(ulimit -v $([ "$LIMIT" = 0 ] && echo none || echo "$LIMIT KiB"); $(uname -m), $(nproc) cores; $(date -u +%Y-%m-%d))."
  echo
  echo "| n | ranks | peak RSS (summary) | GNU time max RSS (KiB) | epoch s |"
  echo "|---|---|---|---|---|"
  mpi_n=0
  for e in $SIZES; do
    n=$((1 << e))
    r=$(run "2^$e" "$BIN" train "${ARGS[@]}" --threads "$THREADS" --samples "$n") || exit 1
    IFS='|' read -r rss kib sec <<<"$r"
    echo "| 2^$e | 1 | $rss | $kib | $sec |"
    if [ "$e" -lt 31 ]; then mpi_n=$e; fi
  done
  if [ "$RANKS" -gt 1 ] && [ "$mpi_n" -gt 0 ]; then
    if ! "$BIN" --version 2>/dev/null | grep -q "mpi: built in"; then
      echo "stream_rss.sh: $BIN has no MPI built in: the $RANKS-rank row is skipped" >&2
    elif ! command -v mpirun >/dev/null 2>&1; then
      echo "stream_rss.sh: no mpirun: the $RANKS-rank row is skipped" >&2
    else
      mp=(mpirun -np "$RANKS")
      [ "$(id -u)" = 0 ] && mp+=(--allow-run-as-root)
      mp+=(--oversubscribe)
      r=$(run "2^$mpi_n over $RANKS ranks" "${mp[@]}" "$BIN" train "${ARGS[@]}" \
          --threads 1 --samples $((1 << mpi_n))) || exit 1
      IFS='|' read -r rss kib sec <<<"$r"
      echo "| 2^$mpi_n | $RANKS (1 thread each) | $rss (rank 0) | $kib (mpirun) | $sec |"
    fi
  fi
} >"$T/table" || exit 1
cat "$T/table"
if [ -n "$OUT" ]; then cp "$T/table" "$OUT.tmp" && mv "$OUT.tmp" "$OUT"; fi
