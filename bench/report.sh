#!/usr/bin/env bash
# The full benchmark report in one command: batchnn against its floors, its reference engine,
# 1 vs N threads, PyTorch and numpy, on the workloads W1-W6 of shared/WORKLOADS.md.
# Builds nothing: it runs an existing batchnn binary.
#
#   bench/report.sh [--bnn build/src/batchnn] [--out bench/out] [--workloads W1,...,W6]
#                   [--repeat 5] [--threads N] [--no-peers] [--reuse]
#
#   1. batchnn bench --json OUT/batchnn.json          (stdout kept in OUT/batchnn.txt)
#   2. /usr/bin/python3 bench/peers.py --json OUT/peers.json   (when Debian's python3 has
#      torch or numpy: apt-get install python3-torch python3-numpy; otherwise skipped)
#   3. OUT/report.md: one markdown row per workload, printed on stdout too.
# The two measurements run one after the other, never at the same time. --reuse skips 1 and 2
# and rebuilds the markdown from the JSON already in OUT. Positional arguments, as gate.sh
# takes them, also work: bench/report.sh BATCHNN [OUT].
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BNN=build/src/batchnn
OUT=$HERE/out
WL=W1,W2,W3,W4,W5,W6
REPEAT=5
THREADS=$(nproc)
PEERS=1
REUSE=0
PY=/usr/bin/python3
pos=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bnn) BNN=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --workloads) WL=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --no-peers) PEERS=0; shift ;;
    --reuse) REUSE=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "report.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) if [ $pos = 0 ]; then BNN=$1; else OUT=$1; fi; pos=$((pos + 1)); shift ;;
  esac
done
[ -x "$PY" ] || { echo "report.sh: $PY (Debian's python3) is needed for the tables" >&2; exit 1; }
if [ $REUSE = 0 ]; then
  [ -x "$BNN" ] || { echo "report.sh: no batchnn binary at '$BNN' (build it, or pass --bnn PATH)" >&2; exit 1; }
  mkdir -p "$OUT"
  "$BNN" --version > "$OUT/version.txt"
  echo "== batchnn bench --workloads $WL --repeat $REPEAT --threads $THREADS" >&2
  "$BNN" bench --workloads "$WL" --repeat "$REPEAT" --threads "$THREADS" \
    --json "$OUT/batchnn.json" | tee "$OUT/batchnn.txt" >&2
  rm -f "$OUT/peers.json"
  if [ $PEERS = 1 ]; then
    if "$PY" -c 'import torch' 2>/dev/null || "$PY" -c 'import numpy' 2>/dev/null; then
      echo "== peers.py --workloads $WL --repeat $REPEAT --threads $THREADS" >&2
      "$PY" "$HERE/peers.py" --workloads "$WL" --repeat "$REPEAT" --threads "$THREADS" \
        --json "$OUT/peers.json" >&2 || echo "report.sh: peers.py failed; report without peers" >&2
    else
      echo "report.sh: $PY has neither torch nor numpy; peers skipped" \
           "(apt-get install python3-torch python3-numpy)" >&2
    fi
  fi
fi
[ -f "$OUT/batchnn.json" ] || { echo "report.sh: $OUT/batchnn.json missing (run without --reuse)" >&2; exit 1; }

"$PY" - "$OUT" <<'EOF' > "$OUT/report.md"
import json, os, sys, time
out = sys.argv[1]
bnn = json.load(open(os.path.join(out, "batchnn.json")))
peers_path = os.path.join(out, "peers.json")
peers = json.load(open(peers_path)) if os.path.exists(peers_path) else {}
meta = peers.get("meta", {})
m = bnn["machine"]
thr = m.get("threads", "N")

def f(v, fmt="{:.2f}"):
    return "-" if v is None else fmt.format(v)

def times(peer_ms, ms):
    return "-" if peer_ms is None or not ms else f"{peer_ms / ms:.1f}x"

version = ""
vp = os.path.join(out, "version.txt")
if os.path.exists(vp):
    lines = [l.strip() for l in open(vp) if l.strip()]
    blas = [l.split()[1:3] for l in lines if l.startswith("blas:")]
    version = lines[0] + (", " + " ".join(blas[0]) if blas else "")
print(f"### batchnn benchmark report ({time.strftime('%Y-%m-%d', time.localtime(os.path.getmtime(os.path.join(out, 'batchnn.json'))))})")
print()
print(f"Machine (measured by `batchnn bench`): sgemm {m['sgemm_gflops']:.0f} GFLOP/s, memory read "
      f"{m['read_gbs']:.1f} GB/s, sigmoid {m['sigmoid_gs']:.2f} G/s, {thr} threads, CPU path {m['isa']}."
      + (f" {version}." if version else ""))
if peers:
    pv = ", ".join(f"{k} {meta[k]}" for k in ("torch", "numpy") if k in meta)
    print(f"Peers ({pv}; {meta.get('threads', '?')} threads): median of {meta.get('repeat', '?')} "
          f"epochs after {meta.get('warmup', '?')} warm-up; PyTorch in its best mode per workload "
          f"(of {', '.join(meta.get('pytorch_all_modes', {}).keys()) or '-'}).")
print()
print("Milliseconds per full-batch epoch (median, data generation excluded); efficiency = floor / time; "
      "\"x PyTorch\" and \"x numpy\": how many times faster batchnn is.")
print()
hdr = ["id", "model", "n", f"batchnn ms ({thr} thr)", "floor ms", "bound", "efficiency",
       "vs reference", "1 thread ms", f"{thr} vs 1 thread",
       "PyTorch ms", "x PyTorch", "numpy ms", "x numpy"]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join("---" if i < 3 or i == 5 else "---:" for i in range(len(hdr))) + "|")
pt, npy = peers.get("pytorch", {}), peers.get("numpy", {})
modes = meta.get("pytorch_mode", {})
for w in bnn["workloads"]:
    i, ms = w["id"], w["ms_per_epoch"]
    ptm = pt.get(i)
    row = [i, f"{w['arch']} {w['act']}", str(w["n"]), f(ms), f(w["floor_ms"]), w["bound"],
           f"{100 * w['efficiency']:.0f}%", f"{w['reference_speedup']:.0f}x",
           f(w["ms_per_epoch_1thread"]), f"{w['thread_speedup']:.2f}x",
           f(ptm) + (f" ({modes[i]})" if ptm is not None and i in modes else ""), times(ptm, ms),
           f(npy.get(i)), times(npy.get(i), ms)]
    print("| " + " | ".join(row) + " |")
EOF
cat "$OUT/report.md"
echo >&2
echo "report.sh: wrote $OUT/report.md, $OUT/batchnn.json$([ -f "$OUT/peers.json" ] && echo ", $OUT/peers.json")" >&2
