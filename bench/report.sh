#!/usr/bin/env bash
# The full benchmark report in one command: batchnn against its floors, its reference engine,
# 1 vs N threads, PyTorch and numpy, on the full-batch workloads W1-W6 and the mini-batch
# workloads M1-M3 (bench/workloads.h: M1 = 784,256,10 at --batch 64, M2 = the same at
# --batch 256, M3 = 2,16,16,1 at --batch 1024; plain SGD, batches in data order).
# Builds nothing: it runs an existing batchnn binary.
#
#   bench/report.sh [--bnn build/src/batchnn] [--out bench/out] [--workloads W1,...,W6,M1,M2,M3]
#                   [--repeat 5] [--threads N] [--no-peers] [--reuse]
#
#   1. batchnn bench --json OUT/batchnn.json          (stdout kept in OUT/batchnn.txt); the
#      mini-batch workloads too when this batchnn's bench knows them, otherwise they are
#      timed with `batchnn train --batch B --log` (median per-epoch seconds after a warm-up
#      epoch, 1 and N threads) into OUT/minibatch.json
#   2. /usr/bin/python3 bench/peers.py --json OUT/peers.json   (when Debian's python3 has
#      torch or numpy: apt-get install python3-torch python3-numpy; otherwise skipped), and
#      for the mini-batch workloads again on 1 thread (OUT/peers-1thread.json)
#   3. OUT/report.md: one markdown row per workload (a second table for the mini-batch
#      workloads), printed on stdout too.
# The two measurements run one after the other, never at the same time. --reuse skips 1 and 2
# and rebuilds the markdown from the JSON already in OUT. Positional arguments, as gate.sh
# takes them, also work: bench/report.sh BATCHNN [OUT].
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BNN=build/src/batchnn
OUT=$HERE/out
WL=W1,W2,W3,W4,W5,W6,M1,M2,M3
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
# shellcheck source=bench/workloads.sh
. "$HERE/workloads.sh"
export BNN_WL_BIN=${BNN_WL_BIN:-$BNN}  # the workloads' definitions (its bench --print-args)
FULL=() MINI=()
IFS=, read -ra IDS <<< "$WL"
for w in "${IDS[@]}"; do
  if [ $REUSE = 0 ]; then
    bnn_workload_args "$w" >/dev/null || { echo "report.sh: unknown workload '$w' ($(bnn_workload_ids))" >&2; exit 2; }
  else
    [[ "$w" =~ ^[WM][0-9]+$ ]] || { echo "report.sh: '$w' is not a workload id" >&2; exit 2; }
  fi
  case "$w" in M*) MINI+=("$w") ;; *) FULL+=("$w") ;; esac
done
if [ $REUSE = 0 ]; then
  [ -x "$BNN" ] || { echo "report.sh: no batchnn binary at '$BNN' (build it, or pass --bnn PATH)" >&2; exit 1; }
  mkdir -p "$OUT"
  "$BNN" --version > "$OUT/version.txt"
  rm -f "$OUT/peers.json" "$OUT/peers-1thread.json" "$OUT/minibatch.json"
  BENCH_WL=$(IFS=,; echo "${FULL[*]}")
  if [ ${#MINI[@]} -gt 0 ] && "$BNN" bench --help | grep -q 'M1'; then  # bench knows M1-M3
    BENCH_WL=$WL MINI_BY_TRAIN=()
  else
    MINI_BY_TRAIN=(${MINI[@]+"${MINI[@]}"})
  fi
  echo "== batchnn bench --workloads $BENCH_WL --repeat $REPEAT --threads $THREADS" >&2
  "$BNN" bench --workloads "$BENCH_WL" --repeat "$REPEAT" --threads "$THREADS" \
    --json "$OUT/batchnn.json" | tee "$OUT/batchnn.txt" >&2
  if [ ${#MINI_BY_TRAIN[@]} -gt 0 ]; then
    echo "== batchnn train --batch B --log: ${MINI_BY_TRAIN[*]}, 1 and $THREADS threads" >&2
    LOG=$(mktemp)
    sep="{"
    for w in "${MINI_BY_TRAIN[@]}"; do
      read -ra ARGS <<< "$(bnn_workload_args "$w")"
      one=$(bnn_epoch_ms "$BNN" "$LOG" "$REPEAT" "${ARGS[@]}" --threads 1) &&
        all=$(bnn_epoch_ms "$BNN" "$LOG" "$REPEAT" "${ARGS[@]}" --threads "$THREADS") ||
        { rm -f "$LOG"; echo "report.sh: batchnn train failed on $w" >&2; exit 1; }
      echo "$w: $all ms/epoch on $THREADS threads, $one on 1" >&2
      printf '%s
 "%s": {"ms_per_epoch": %s, "ms_per_epoch_1thread": %s}' "$sep" "$w" "$all" "$one" >> "$OUT/minibatch.json"
      sep=","
    done
    printf '
}
' >> "$OUT/minibatch.json"
    rm -f "$LOG"
  fi
  if [ $PEERS = 1 ]; then
    if "$PY" -c 'import torch' 2>/dev/null || "$PY" -c 'import numpy' 2>/dev/null; then
      echo "== peers.py --workloads $WL --repeat $REPEAT --threads $THREADS" >&2
      "$PY" "$HERE/peers.py" --workloads "$WL" --repeat "$REPEAT" --threads "$THREADS" \
        --json "$OUT/peers.json" >&2 || echo "report.sh: peers.py failed; report without peers" >&2
      if [ ${#MINI[@]} -gt 0 ] && [ "$THREADS" != 1 ]; then
        MWL=$(IFS=,; echo "${MINI[*]}")
        echo "== peers.py --workloads $MWL --repeat $REPEAT --threads 1" >&2
        "$PY" "$HERE/peers.py" --workloads "$MWL" --repeat "$REPEAT" --threads 1 \
          --json "$OUT/peers-1thread.json" >&2 || echo "report.sh: peers.py (1 thread) failed" >&2
      fi
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
full = {w["id"]: w for w in bnn["workloads"]}
for w in bnn["workloads"]:
    i, ms = w["id"], w["ms_per_epoch"]
    if i.startswith("M"):
        continue
    ptm = pt.get(i)
    row = [i, f"{w['arch']} {w['act']}", str(w["n"]), f(ms), f(w["floor_ms"]), w["bound"],
           f"{100 * w['efficiency']:.0f}%", f"{w['reference_speedup']:.0f}x",
           f(w["ms_per_epoch_1thread"]), f"{w['thread_speedup']:.2f}x",
           f(ptm) + (f" ({modes[i]})" if ptm is not None and i in modes else ""), times(ptm, ms),
           f(npy.get(i)), times(npy.get(i), ms)]
    print("| " + " | ".join(row) + " |")

# ---- mini-batch workloads: from batchnn.json when bench ran them, else from minibatch.json
mini = {w["id"]: w for w in bnn["workloads"] if w["id"].startswith("M")}
mp = os.path.join(out, "minibatch.json")
if os.path.exists(mp):
    mini.update(json.load(open(mp)))
p1_path = os.path.join(out, "peers-1thread.json")
p1 = json.load(open(p1_path)) if os.path.exists(p1_path) else {}
MINI = {  # id: model, n, batch, the full-batch workload of the same net
    "M1": ("784,256,10 sigmoid", 60000, 64, "W5"),
    "M2": ("784,256,10 sigmoid", 60000, 256, "W5"),
    "M3": ("2,16,16,1 sigmoid", 1 << 20, 1024, "W4"),
}
if mini:
    print()
    print(f"Mini-batch epochs (plain SGD, batches of B consecutive samples in data order, one update "
          f"per batch; median ms per epoch after a warm-up), batchnn and the peers on 1 and {thr} "
          f"threads; \"vs full batch\": the epoch's time over the full-batch epoch of the same net "
          f"(W5, W4) in this run; \"x PyTorch\", \"x numpy\": how many times faster batchnn is on {thr} threads.")
    print()
    hdr = ["id", "model", "n", "batch", "batchnn ms 1 thr", f"batchnn ms {thr} thr",
           f"{thr} vs 1 thread", "vs full batch", "PyTorch ms 1 thr", f"PyTorch ms {thr} thr",
           "x PyTorch", "numpy ms 1 thr", f"numpy ms {thr} thr", "x numpy"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(hdr))) + "|")
    pt1, np1 = p1.get("pytorch", {}), p1.get("numpy", {})
    modes1 = p1.get("meta", {}).get("pytorch_mode", {})
    for i in sorted(mini):
        w = mini[i]
        model, n, batch, fid = MINI.get(i, (w.get("arch", "?"), w.get("n", "?"), w.get("batch", "?"), None))
        ms, ms1 = w.get("ms_per_epoch"), w.get("ms_per_epoch_1thread")
        fb = full.get(fid, {}).get("ms_per_epoch") if fid else None
        ptm, ptm1 = pt.get(i), pt1.get(i)
        row = [i, model, str(n), str(batch), f(ms1), f(ms),
               "-" if not ms or not ms1 else f"{ms1 / ms:.2f}x",
               "-" if not ms or not fb else f"{ms / fb:.2f}x",
               f(ptm1) + (f" ({modes1[i]})" if ptm1 is not None and i in modes1 else ""),
               f(ptm) + (f" ({modes[i]})" if ptm is not None and i in modes else ""),
               times(ptm, ms), f(np1.get(i)), f(npy.get(i)), times(npy.get(i), ms)]
        print("| " + " | ".join(row) + " |")
EOF
cat "$OUT/report.md"
echo >&2
echo "report.sh: wrote $OUT/report.md, and the figures in $(cd "$OUT" && ls -m -- *.json)" >&2
