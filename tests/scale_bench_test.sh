#!/usr/bin/env bash
# scale_bench_test.sh - the scaling scripts of bench/: mpi_model.py (its figures against the
# formulas recomputed here, bad input, a well-formed SVG), stream_rss.sh and streamed.sh on
# small sizes, mpi.sh's refusal of a binary without MPI, and, when batchnn has MPI built in
# and mpirun exists, `bench/mpi.sh --quick` end to end (every run's model equal to the 1x1 run's).
# usage: scale_bench_test.sh path/to/batchnn source-dir
set -u
BNN=${1:?usage: scale_bench_test.sh path/to/batchnn source-dir}
SRC=${2:?usage: scale_bench_test.sh path/to/batchnn source-dir}
. "$SRC/tests/lib.sh"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: no python3"; exit 77; }
MODEL=$SRC/bench/mpi_model.py

# --- mpi_model.py -------------------------------------------------------------------------
ok "mpi_model.py runs" python3 "$MODEL" --workload W5:60000:203530:40 \
  --workload W6:16384:1591312:150 --workload W4:1048576:337:20 --alpha-us 1 --beta-ns 1 \
  --md "$T/m.md" --svg "$T/m.svg"
row() { # row WORKLOAD NODES: that row of the workload's table, fields split on |
  awk -v w="## $1:" -v n="$2" 'index($0, w) == 1 { p = 1; next } /^## / { p = 0 }
    p && $0 ~ "^\\| " n " \\|" { print; exit }' "$T/m.md"
}
col() { row "$1" "$2" | awk -F'|' -v c="$3" '{ gsub(/ /, "", $(c + 1)); print $(c + 1) }'; }
close_to() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.005 * b) }'; }
# the tree over S shards and K ranks, recomputed here from the documented rule: the
# messages (MSGS: nodes whose halves start on different ranks) and the longest chain of them
tree() { # tree S K: "MSGS CHAIN"
  awk -v S="$1" -v K="$2" '
    function own(s,  r) { r = int(s * K / S); while (r > 0 && int(r * S / K) > s) r--
      while (r + 1 < K && int((r + 1) * S / K) <= s) r++; return r }
    function mid(lo, hi,  p) { p = 1; while (2 * p < hi - lo) p *= 2; return lo + p }
    function node(lo, hi,  m, cl, cr, x) { if (own(lo) == own(hi - 1)) return 0
      m = mid(lo, hi); cl = node(lo, m); cr = node(m, hi); x = (own(lo) != own(m)); MSGS += x
      return cl > cr + x ? cl : cr + x }
    BEGIN { c = node(0, S); print MSGS + 0, c }'
}
one_level=$(awk 'BEGIN { printf "%.9f", 0.002 + 4 * 203530 * 8 / 25e9 * 1e3 }') # ms
# one node: efficiency 1 and no reduction
check "1 node: efficiency 1" [ "$(col W5 1 3)" = "1.00" ]
check "1 node: no reduction" [ "$(col W5 1 4)" = "0%" ]
# W5: min_shard 256 (4 MFLOP is 3 samples; a chunk is 256) would be 235 shards, past 32, so
# shards of 4 chunks: max(32, ceil(60000 / 1024)) = 59 shards, no cap
check "W5: 59 shards" grep -q "W5 40 ms (60000 samples, 203530 parameters, 59 shards, min_shard 256)" "$T/m.md"
# per-sample time of a thread: the 40 ms epoch is ceil(59 / 2) = 30 shard-times of 60000 / 59
# samples; on 2 nodes each has 30 shards, 15 per thread; then the chain and the broadcast
read -r msgs chain <<<"$(tree 59 2)"
want=$(awk -v c="$chain" -v l="$one_level" 'BEGIN { t = 40 / (30 * 60000 / 59)
  printf "%.6f", 15 * 60000 / 59 * t + (c + 1) * l }')
check "W5 strong 2 nodes: 15 shard-times + (chain + 1) tree levels" close_to "$(col W5 2 2)" "$want"
check "W5 2 nodes: the tree's messages and the broadcast" [ "$(col W5 2 5)" = "$((msgs + 1))" ]
# 64 nodes: ceil(59 / 64) = 1 shard a node (5 nodes idle); chain + 6 broadcast levels
read -r msgs chain <<<"$(tree 59 64)"
want=$(awk -v c="$chain" -v l="$one_level" 'BEGIN { t = 40 / (30 * 60000 / 59)
  printf "%.6f", 60000 / 59 * t + (c + 6) * l }')
check "W5 strong 64 nodes: 1 shard-time + (chain + 6) tree levels" close_to "$(col W5 64 2)" "$want"
check "W5 64 nodes: $((msgs + 63)) messages" [ "$(col W5 64 5)" = "$((msgs + 63))" ]
# weak scaling: 4 x 60000 samples are 235 shards of 1024
check "W5 weak 4 nodes: 235 shards" [ "$(col W5 4 6)" = "235" ]
# W6: 1024 x 1024 weights take 1024-sample chunks: 16 shards at 16384 samples
check "W6: 16 shards of 1024" grep -q "W6 150 ms (16384 samples, 1591312 parameters, 16 shards, min_shard 1024)" "$T/m.md"
# W4 (narrow): shards of 548 (1 MFLOP) up to 32 of them, then of 4096: 256 shards
check "W4: 256 shards" grep -q "W4 20 ms (1048576 samples, 337 parameters, 256 shards, min_shard 548)" "$T/m.md"
# mini-batches of 256 are computed whole by every rank (split mode): efficiency 1 / N
check "W5 batch 256: split mode, 0.50 on 2 nodes" grep -qE "^\| W5 \| 256 \| 4096 \| whole \| 0.50 \| 0.25 \|" "$T/m.md"
# mini-batches of 2 pieces of 256 and more are shared: 1024 is 4 pieces, 4096 is 16
check "W5 batch 1024: 4 pieces" grep -qE "^\| W5 \| 1024 \| 4096 \| 4 pieces \|" "$T/m.md"
check "W5 batch 4096: 16 pieces" grep -qE "^\| W5 \| 4096 \| 4096 \| 16 pieces \|" "$T/m.md"
# recomputed here: 4 pieces on 2 nodes of 2 threads: one piece per thread, the compute of one
# node (2 pieces per thread) halved, plus the tree (one message and a broadcast level of
# 4 P bytes on the assumed 2 us, 25 Gb/s network)
check "W5 batch 1024: 2-node efficiency from the formula" python3 -c '
import sys
row = [l for l in open(sys.argv[1]) if l.startswith("| W5 | 1024 |")][0].split("|")
# W5:60000:203530:40 on 2 threads: 59 shards, 30 per thread, 40 ms in all
t_sample = 40e-3 / (30 * (60000 / 59))
one = 2 * 256 * t_sample
two = 1 * 256 * t_sample + 2 * (2e-6 + 4 * 203530 * 8 / 25e9)
want = one / (2 * two)
assert abs(float(row[5]) - want) < 0.006, (row[5], want)' "$T/m.md"
check "W4 gives W4-2^30" grep -q "^## W4-2^30: 1073741824 samples" "$T/m.md"
check "W5 gives W5-2^24" grep -q "^## W5-2^24: 16777216 samples, 203530 parameters, 814120 bytes of gradient, 16384 shards" "$T/m.md"
check "W6 gives W6-2^20" grep -q "^## W6-2^20: 1048576 samples" "$T/m.md"
check "no row for a design that does not exist" [ "$(grep -ci "unlimited\|ring allreduce eff" "$T/m.md")" -eq 0 ]
check "the assumed network is stated" grep -q "Assumed.* cluster network: alpha = 2 us, 25 Gb/s" "$T/m.md"
# two lines (strong, weak) for each of W5, W5-2^24, W6, W6-2^20, W4-2^30, W4
ok "the SVG is well-formed XML" python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg") and len(r.findall(".//{http://www.w3.org/2000/svg}polyline")) == 12' "$T/m.svg"
# an architecture instead of a parameter count, and the threads the epoch was measured with
ok "mpi_model.py ID:N:ARCH:EPOCH_MS" python3 "$MODEL" --workload X:8192:1024,4096,1024:4000 \
  --threads 1 --md "$T/x.md"
check "X: 8 shards of 1024" grep -q "X 4000 ms (8192 samples, 8393728 parameters, 8 shards, min_shard 1024)" "$T/x.md"
bad "mpi_model.py: a parameter count of an unknown net" 2 "give the architecture" \
  python3 "$MODEL" --workload X:10:100:1
bad "mpi_model.py: zero samples" 2 "n, params and the epoch time must be positive" \
  python3 "$MODEL" --workload W5:0:10:1
bad "mpi_model.py: a malformed workload" 2 "expected ID:N:ARCH:EPOCH_MS" \
  python3 "$MODEL" --workload W5:10:1
[ -e "$T/m.md.tmp" ] && { fail=$((fail + 1)); echo "FAIL a temp file left"; }

# --baseline: W4, W5, W6 from a `batchnn bench --json` file (made here, not by batchnn)
cat >"$T/b.json" <<'JSON'
{"machine": {"threads": 2}, "workloads": [
 {"id": "W1", "arch": "1,1", "n": 16, "ms_per_epoch": 1.0},
 {"id": "W5", "arch": "784,256,10", "n": 60000, "ms_per_epoch": 300.0},
 {"id": "W6", "arch": "512,1024,1024,16", "n": 16384, "ms_per_epoch": 800.0}]}
JSON
ok "mpi_model.py --baseline" python3 "$MODEL" --baseline "$T/b.json" --md "$T/b.md"
check "--baseline: W5 and W6 with their parameter counts" \
  grep -q "W5 300 ms (60000 samples, 203530 parameters, 59 shards, min_shard 256); W6 800 ms (16384 samples, 1591312 parameters, 16 shards, min_shard 1024)" "$T/b.md"
check "--baseline: W1 left out" [ "$(grep -c '^## W1' "$T/b.md")" -eq 0 ]
echo '{"workloads": [{"id": "W1", "arch": "1,1", "n": 16, "ms_per_epoch": 1.0}]}' >"$T/w1.json"
bad "mpi_model.py: a baseline without W4-W6" 2 "no W4, W5 or W6" \
  python3 "$MODEL" --baseline "$T/w1.json"

# --- stream_rss.sh ------------------------------------------------------------------------
# stream_rss.sh runs under ulimit -v 1 GiB: a sanitizer build reserves terabytes of address
# space and cannot start there
if (ulimit -v 1048576 && "$BNN" --version >/dev/null 2>&1); then
  ok "stream_rss.sh small sizes" bash "$SRC/bench/stream_rss.sh" --bin "$BNN" --sizes "12 14" \
    --ranks 0 --threads 1 --out "$T/rss.md"
  check "stream_rss.sh: a row per size with a peak RSS" \
    [ "$(grep -cE '^\| 2\^1[24] \| 1 \| [0-9.]+ MiB \|' "$T/rss.md")" -eq 2 ]
else
  echo "SKIP stream_rss.sh: $BNN does not start under ulimit -v 1 GiB (a sanitizer build?)"
fi

# --- streamed.sh --------------------------------------------------------------------------
# the machinery on sets of 4096 and 2048 samples (kept in memory at that size: the timings of
# such a run say nothing, the rows and verdicts are what is checked)
if (ulimit -v 1048576 && "$BNN" --version >/dev/null 2>&1); then
  ok "streamed.sh on small sets" bash "$SRC/bench/streamed.sh" --bin "$BNN" --shift 14 \
    --rounds 2 --epochs 3 --threads 1
  cp "$T/out" "$T/st.txt"
  cp "$T/err" "$T/st.err"
  check "streamed.sh: a row for S1 and S2 with both times, the ratio and a verdict" \
    [ "$(grep -cE '^S[12] +[0-9,]+ +(4096|2048) +[0-9.]+ +[0-9.]+ +[0-9.]+x  streamed <= (3|1.5)x in memory: (met|MISSED)$' "$T/st.txt")" -eq 2 ]
  check "streamed.sh: a progress line per round with the peak RSS" \
    [ "$(grep -c 'round [12] of 2: streamed .* s (peak RSS [0-9.]*MiB), in memory' "$T/st.err")" -eq 4 ]
else
  echo "SKIP streamed.sh: $BNN does not start under ulimit -v 1 GiB (a sanitizer build?)"
fi
bad "streamed.sh: an unknown workload, before any run" 2 "unknown workload S9" \
  bash "$SRC/bench/streamed.sh" --bin "$BNN" S1,S9

# --- mpi.sh -------------------------------------------------------------------------------
printf '#!/bin/sh\necho "batchnn 0"; echo "mpi: not built in"\n' >"$T/nompi"
chmod +x "$T/nompi"
bad "mpi.sh refuses a binary without MPI" 1 "has no MPI built in" bash "$SRC/bench/mpi.sh" \
  --bin "$T/nompi" --quick
if "$BNN" --version 2>/dev/null | grep -q "mpi: built in" && command -v mpirun >/dev/null 2>&1
then
  # Open MPI keeps some of its memory to the end of the process: under AddressSanitizer the
  # leak report would be about it, not about batchnn
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  ok "mpi.sh --quick" bash "$SRC/bench/mpi.sh" --bin "$BNN" --quick --out "$T/q"
  check "mpi.sh: 3 timed + 1 checked row per workload" \
    [ "$(grep -cE '^\| W[456] \| [0-9]+ \| [124]x[12]' "$T/q/mpi.md")" -eq 12 ]
  check "mpi.sh: 3 mini-batch rows per batch" \
    [ "$(grep -cE '^\| (256|1024) \| [12]x[12] \|' "$T/q/mpi.md")" -eq 6 ]
  check "mpi.sh: every model equal to 1x1" [ "$(grep -c '| yes |$' "$T/q/mpi.md")" -eq 13 ]
  check "mpi.sh: the model written" [ -s "$T/q/mpi_model.md" ] && [ -s "$T/q/mpi_model.svg" ]
else
  echo "SKIP mpi.sh --quick: $BNN has no MPI built in or no mpirun"
fi
summary scale_bench_test
