#!/usr/bin/env bash
# Where threading helps and where it hurts: a width x batch x threads grid, and a sweep over n.
#
#   bench/grid.sh [--bnn build/src/batchnn] [--out bench/out] [--widths 4,16,64,256,1024]
#                 [--batches 0,64,1024,16384] [--threads 1,N] [--tries 2] [--no-nsweep]
#
# Grid: arch 2,W,W,1 (sigmoid, synth:uniform; W = 16 is the workload W4) for each width W,
# mini-batch size B (0 = full batch) and thread count T, on n(W) samples: 2^20 for W <= 64,
# 2^16 for W = 256, 2^14 for W = 1024 (so an epoch stays under about a second; there B = 16384
# is the full batch). Figure: median of the per-epoch seconds of `batchnn train --log` over the
# epochs after the first (3 timed epochs, 2 for W >= 1024; more for short runs, so that the
# timed epochs last about 0.3 s), the best of --tries such runs (the machine may be shared).
#   OUT/grid.csv          width,batch,threads,n,ms_per_epoch,samples_per_s
#   OUT/grid-summary.md   T-thread speedup over 1 thread per (width, batch), and where
#                         T threads beat 1 (> 1.05x) or lose (< 0.95x)
# n sweep (for the throughput-against-n chart): 2,1 / 2,16,16,1 / 784,256,10, full batch,
# 1 and T threads, n = 2^10 .. 2^22 (2^8 .. 2^16 for 784,256,10):
#   OUT/nsweep.csv        arch,n,threads,ms_per_epoch,samples_per_s
# Takes about 3 minutes on 2 cores; runs one process at a time. Builds nothing.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BNN=build/src/batchnn
OUT=$HERE/out
WIDTHS=4,16,64,256,1024
BATCHES=0,64,1024,16384
THREADS=1,$(nproc)
TRIES=2
NSWEEP=1
PY=/usr/bin/python3
while [ $# -gt 0 ]; do
  case "$1" in
    --bnn) BNN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --widths) WIDTHS=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --tries) TRIES=$2; shift 2 ;;
    --no-nsweep) NSWEEP=0; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "grid.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -x "$BNN" ] || { echo "grid.sh: no batchnn binary at '$BNN' (build it, or pass --bnn PATH)" >&2; exit 1; }
[ -x "$PY" ] || { echo "grid.sh: $PY (Debian's python3) is needed for the summary" >&2; exit 1; }
mkdir -p "$OUT"
LOG=$(mktemp /tmp/batchnn-grid.XXXXXX)
trap 'rm -f "$LOG"' EXIT

# median of the per-epoch seconds after the first epoch, in ms
median_ms() {
  tail -n +3 "$LOG" | cut -d, -f3 | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) exit 1;
          m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6g", 1e3 * m }'
}

train() { # arch n batch threads epochs
  "$BNN" train --arch "$1" --data synth:uniform --samples "$2" --batch "$3" --threads "$4" \
    --epochs "$5" --lr 0.1 --quiet --log "$LOG"
}

# arch n batch threads epochs -> prints ms_per_epoch: the median of the epochs after the first;
# a run whose timed epochs last less than 0.3 s is lengthened to about 0.3 s (at most 200
# epochs), and the best of --tries runs is kept (a neighbour's burst hits one run, not all)
run() {
  local epochs=$5 best="" ms
  for ((try = 1; try <= TRIES; try++)); do
    train "$1" "$2" "$3" "$4" "$epochs"
    ms=$(median_ms)
    if [ "$try" = 1 ]; then
      local more
      more=$(awk -v ms="$ms" -v e="$epochs" 'BEGIN { if (ms * (e - 1) < 300) {
               k = int(300 / ms) + 2; print (k > 201 ? 201 : k) } }')
      if [ -n "$more" ] && [ "$more" -gt "$epochs" ]; then
        epochs=$more
        train "$1" "$2" "$3" "$4" "$epochs"
        ms=$(median_ms)
      fi
    fi
    best=$(awk -v a="$best" -v b="$ms" 'BEGIN { print (a == "" || b < a) ? b : a }')
  done
  echo "$best"
}

IFS=, read -r -a widths <<< "$WIDTHS"
IFS=, read -r -a batches <<< "$BATCHES"
IFS=, read -r -a threads <<< "$THREADS"

echo "width,batch,threads,n,ms_per_epoch,samples_per_s" > "$OUT/grid.csv.tmp"
for w in "${widths[@]}"; do
  if [ "$w" -le 64 ]; then n=1048576; elif [ "$w" -le 256 ]; then n=65536; else n=16384; fi
  if [ "$w" -ge 1024 ]; then epochs=3; else epochs=4; fi
  for b in "${batches[@]}"; do
    for t in "${threads[@]}"; do
      ms=$(run "2,$w,$w,1" "$n" "$b" "$t" "$epochs")
      sps=$(awk -v n="$n" -v ms="$ms" 'BEGIN { printf "%.6g", n / (ms * 1e-3) }')
      echo "$w,$b,$t,$n,$ms,$sps" | tee -a "$OUT/grid.csv.tmp" >&2
    done
  done
done
mv "$OUT/grid.csv.tmp" "$OUT/grid.csv"

if [ $NSWEEP = 1 ]; then
  echo "arch,n,threads,ms_per_epoch,samples_per_s" > "$OUT/nsweep.csv.tmp"
  for arch in 2,1 2,16,16,1 784,256,10; do
    if [ "$arch" = 784,256,10 ]; then ns="256 1024 4096 16384 65536"
    else ns="1024 4096 16384 65536 262144 1048576 4194304"; fi
    for n in $ns; do
      epochs=4
      for t in "${threads[@]}"; do
        ms=$(run "$arch" "$n" 0 "$t" "$epochs")
        sps=$(awk -v n="$n" -v ms="$ms" 'BEGIN { printf "%.6g", n / (ms * 1e-3) }')
        echo "\"$arch\",$n,$t,$ms,$sps" | tee -a "$OUT/nsweep.csv.tmp" >&2
      done
    done
  done
  mv "$OUT/nsweep.csv.tmp" "$OUT/nsweep.csv"
fi

"$PY" - "$OUT" <<'EOF' | tee "$OUT/grid-summary.md"
import csv, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "grid.csv"))))
ms = {(int(r["width"]), int(r["batch"]), int(r["threads"])): float(r["ms_per_epoch"]) for r in rows}
nof = {int(r["width"]): int(r["n"]) for r in rows}
widths = sorted({k[0] for k in ms}); batches = sorted({k[1] for k in ms})
tmax = max(k[2] for k in ms)
if tmax == 1:
    print("grid: only 1 thread measured; no comparison"); sys.exit(0)
def bname(b, w):
    return "full" if b == 0 or b >= nof[w] else str(b)
print(f"### Threads: {tmax} vs 1 (arch 2,W,W,1, ms/epoch ratio 1-thread / {tmax}-thread; > 1: threads help)")
print()
print("| width (n) | " + " | ".join("full batch" if b == 0 else f"batch {b}" for b in batches) + " |")
print("|---|" + "---:|" * len(batches))
helps, hurts, flat = [], [], []
for w in widths:
    cells = []
    for b in batches:
        a, c = ms.get((w, b, 1)), ms.get((w, b, tmax))
        if a is None or c is None:
            cells.append("-"); continue
        s = a / c
        cells.append(f"{s:.2f}x ({c:.3g} ms)")
        label = f"width {w}, {'full batch' if b == 0 else 'batch ' + str(b)}"
        (helps if s > 1.05 else hurts if s < 0.95 else flat).append((s, label))
    print(f"| {w} ({nof[w]}) | " + " | ".join(cells) + " |")
print()
fmt = lambda l: "; ".join(f"{lab} {s:.2f}x" for s, lab in sorted(l, reverse=True)) or "none"
print(f"- {tmax} threads beat 1 (> 1.05x): {fmt(helps)}.")
print(f"- {tmax} threads lose to 1 (< 0.95x): {fmt(hurts)}.")
print(f"- no difference (0.95-1.05x): {fmt(flat)}.")
if flat:
    print("  (a batch smaller than two of the engine's shards runs on one thread whatever "
          "--threads says: the shard rule in src/engine/fast.c)")
p = os.path.join(out, "nsweep.csv")
if os.path.exists(p):
    sw = list(csv.DictReader(open(p)))
    d = {(r["arch"], int(r["n"]), int(r["threads"])): float(r["ms_per_epoch"]) for r in sw}
    print(f"- full batch against n ({tmax} vs 1 thread): " + "; ".join(
        f"{a}: " + ", ".join(f"n={n} {d[(a, n, 1)] / d[(a, n, tmax)]:.2f}x"
                             for n in sorted({k[1] for k in d if k[0] == a}) if (a, n, tmax) in d)
        for a in dict.fromkeys(r["arch"] for r in sw)) + ".")
EOF
echo "grid.sh: wrote $OUT/grid.csv$([ $NSWEEP = 1 ] && echo ", $OUT/nsweep.csv"), $OUT/grid-summary.md" >&2
