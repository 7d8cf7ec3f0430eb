#!/usr/bin/env bash
# Whole-process comparisons with hyperfine (Debian package 'hyperfine'): start-up, data
# generation and training together, as a user runs them. Four groups, each exported with
# --export-json and --export-markdown into the output directory:
#
#   hyperfine-engine   fast vs reference engine        2,16,16,1 on 65536 samples, 10 epochs
#   hyperfine-threads  --threads 1 vs 2 (all cores)    2,16,16,1 on 262144 samples, 20 epochs
#   hyperfine-isa      BATCHNN_ISA=scalar|avx2|avx512  (the paths this CPU has), same run
#   hyperfine-batch    --batch 0 (full), 64, 1024, 16384, same run
#
#   bench/hyperfine.sh [--bnn build/src/batchnn] [--out bench/out] [--warmup 2] [--runs 10]
#
# --warmup and --runs are hyperfine's own: untimed runs first (page cache, CPU clocks), then
# timed runs of each command; hyperfine prints mean +- sigma and min..max, and the relative
# summary ("... ran 3.2 +- 0.1 times faster than ..."). OUT/hyperfine.md gathers the four
# groups by median and minimum. The whole script takes about a minute.
# Builds nothing; every command runs one at a time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BNN=build/src/batchnn
OUT=$HERE/out
WARMUP=2
RUNS=10
while [ $# -gt 0 ]; do
  case "$1" in
    --bnn) BNN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "hyperfine.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v hyperfine >/dev/null || { echo "hyperfine.sh: hyperfine missing (apt-get install hyperfine)" >&2; exit 1; }
[ -x "$BNN" ] || { echo "hyperfine.sh: no batchnn binary at '$BNN' (build it, or pass --bnn PATH)" >&2; exit 1; }
BNN=$(cd "$(dirname "$BNN")" && pwd)/$(basename "$BNN")
mkdir -p "$OUT"
CORES=$(nproc)

W4="$BNN train --arch 2,16,16,1 --data synth:uniform --quiet"
hf() { # name, then hyperfine arguments
  local name=$1; shift
  echo "== $name" >&2
  hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" \
    --export-json "$OUT/$name.json" --export-markdown "$OUT/$name.md" "$@"
}

# the reference engine is ~20x slower per sample: a smaller n keeps it to a fraction of a second
hf hyperfine-engine \
  -n fast "$W4 --samples 65536 --epochs 10 --engine fast" \
  -n reference "$W4 --samples 65536 --epochs 10 --engine reference"

hf hyperfine-threads -L t "1,$CORES" -n 'threads {t}' \
  "$W4 --samples 262144 --epochs 20 --threads {t}"

isas=()
for isa in scalar avx2 avx512; do
  # a path the CPU lacks falls back to another one: keep only those that take effect
  if BATCHNN_ISA=$isa "$BNN" --version 2>/dev/null | grep -q "^isa: $isa"; then isas+=("$isa"); fi
done
hf hyperfine-isa -L isa "$(IFS=,; echo "${isas[*]}")" -n 'BATCHNN_ISA={isa}' \
  "BATCHNN_ISA={isa} $W4 --samples 262144 --epochs 20"

hf hyperfine-batch -L b 0,64,1024,16384 -n 'batch {b}' \
  "$W4 --samples 262144 --epochs 20 --batch {b}"

# one markdown file with the four groups. The median and the minimum lead: on a shared machine
# a neighbour's burst lands in the mean (hyperfine's own .md tables show mean +- sigma).
if [ -x /usr/bin/python3 ]; then
  /usr/bin/python3 - "$OUT" "$WARMUP" "$RUNS" <<'PY' > "$OUT/hyperfine.md"
import json, os, sys
out, warmup, runs = sys.argv[1:4]
print(f"### Whole-process timings (hyperfine --warmup {warmup} --runs {runs})")
print()
print("| group | command | median ms | min ms | mean +- sigma ms | relative (median) |")
print("|---|---|---:|---:|---:|---:|")
for g in ("engine", "threads", "isa", "batch"):
    res = json.load(open(os.path.join(out, f"hyperfine-{g}.json")))["results"]
    best = min(r["median"] for r in res)
    for r in res:
        print(f"| {g} | `{r['command']}` | {1e3 * r['median']:.1f} | {1e3 * r['min']:.1f} | "
              f"{1e3 * r['mean']:.1f} +- {1e3 * (r['stddev'] or 0):.1f} | {r['median'] / best:.2f}x |")
PY
else
  for g in engine threads isa batch; do cat "$OUT/hyperfine-$g.md"; echo; done > "$OUT/hyperfine.md"
fi
echo "hyperfine.sh: wrote $OUT/hyperfine-{engine,threads,isa,batch}.{json,md} and $OUT/hyperfine.md" >&2
