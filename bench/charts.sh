#!/usr/bin/env bash
# SVG charts (gnuplot, Debian package gnuplot-nox) from what report.sh and grid.sh wrote:
#
#   chart-throughput-n.svg      samples/s against n, full batch, 1 and N threads (nsweep.csv)
#   chart-throughput-width.svg  samples/s against width, arch 2,W,W,1, per batch size and
#                               thread count (grid.csv)
#   chart-efficiency.svg        efficiency (floor / time) per workload, with the targets of
#                               bench/WORKLOADS.md (batchnn.json)
#   chart-peers.svg             ms/epoch per workload: batchnn, PyTorch, numpy, log scale
#                               (batchnn.json, peers.json)
#
#   bench/charts.sh [--out bench/out]
#
# A chart whose input is missing is skipped with a note. Measures nothing; to view an SVG as
# an image: rsvg-convert -o chart.png chart.svg (Debian librsvg2-bin).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/out
PY=/usr/bin/python3
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "charts.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v gnuplot >/dev/null || { echo "charts.sh: gnuplot missing (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -x "$PY" ] || { echo "charts.sh: $PY (Debian's python3) is needed to read the JSON" >&2; exit 1; }
[ -d "$OUT" ] || { echo "charts.sh: no directory $OUT (run report.sh and grid.sh first)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/batchnn-charts.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# Data files for gnuplot: one block per series (blank-line separated, title in the first row),
# so that `plot for [i=0:N-1] file index i ... title columnheader(1)` draws every series.
"$PY" - "$OUT" "$TMP" <<'EOF'
import csv, json, os, sys
out, tmp = sys.argv[1:3]
def blocks(path, series):  # series: [(title, [(x, y), ...])]
    with open(path, "w") as f:
        for title, pts in series:
            f.write(f'"{title}" ""\n')
            for x, y in pts:
                f.write(f"{x} {y}\n")
            f.write("\n\n")
    with open(path + ".n", "w") as f:
        f.write(str(len(series)))

p = os.path.join(out, "nsweep.csv")
if os.path.exists(p):
    rows = list(csv.DictReader(open(p)))
    keys = list(dict.fromkeys((r["arch"], int(r["threads"])) for r in rows))
    blocks(os.path.join(tmp, "nsweep.dat"),
           [(f"{a}, {t} thread{'s' if t > 1 else ''}",
             sorted((int(r["n"]), float(r["samples_per_s"])) for r in rows
                    if r["arch"] == a and int(r["threads"]) == t)) for a, t in keys])

p = os.path.join(out, "grid.csv")
if os.path.exists(p):
    rows = list(csv.DictReader(open(p)))
    keys = sorted({(int(r["batch"]), int(r["threads"])) for r in rows},
                  key=lambda k: (k[0], k[1]))  # full batch (0) first
    blocks(os.path.join(tmp, "grid.dat"),
           [(f"{'full batch' if b == 0 else 'batch ' + str(b)}, {t} thread{'s' if t > 1 else ''}",
             sorted((int(r["width"]), float(r["samples_per_s"])) for r in rows
                    if int(r["batch"]) == b and int(r["threads"]) == t)) for b, t in keys])

p = os.path.join(out, "batchnn.json")
if os.path.exists(p):
    bnn = json.load(open(p))
    target = {"W5": 1 / 1.10, "W6": 1 / 1.10}
    with open(os.path.join(tmp, "eff.dat"), "w") as f:
        for w in bnn["workloads"]:
            if "efficiency" in w:  # the full-batch workloads; mini-batch ones have no floor
                f.write(f'{w["id"]} {100 * w["efficiency"]:.2f} {100 * target.get(w["id"], 1 / 1.25):.1f}\n')
    with open(os.path.join(tmp, "machine.txt"), "w") as f:
        m = bnn["machine"]
        f.write(f"sgemm {m['sgemm_gflops']:.0f} GFLOP/s, read {m['read_gbs']:.0f} GB/s, "
                f"sigmoid {m['sigmoid_gs']:.1f} G/s, {m['threads']} threads, {m['isa']}")
    p2 = os.path.join(out, "peers.json")
    peers = json.load(open(p2)) if os.path.exists(p2) else {}
    cols = [("batchnn", {w["id"]: w["ms_per_epoch"] for w in bnn["workloads"]})]
    cols += [(name, peers[k]) for k, name in (("pytorch", "PyTorch"), ("numpy", "numpy")) if k in peers]
    with open(os.path.join(tmp, "peers.dat"), "w") as f:
        f.write("id " + " ".join(c[0] for c in cols) + "\n")
        for w in bnn["workloads"]:
            f.write(w["id"] + " " + " ".join(f"{c[1].get(w['id'], 'NaN')}" for c in cols) + "\n")
    with open(os.path.join(tmp, "peers.dat.n"), "w") as f:
        f.write(str(len(cols)))
    import math
    lo = min([v for _, c in cols for v in c.values() if v and v > 0] or [1])
    with open(os.path.join(tmp, "peers.dat.ymin"), "w") as f:
        f.write(repr(10.0 ** math.floor(math.log10(lo))))
EOF

TERM_SVG="set terminal svg size 860,500 dynamic enhanced font 'DejaVu Sans,12' background rgb 'white'"
COMMON="set grid; set key outside right top; set border 3; set tics nomirror
C = '#3465a4 #cc0000 #4e9a06 #f57900 #75507b #c17d11'"
MACHINE=$(cat "$TMP/machine.txt" 2>/dev/null || true)
made=()

if [ -f "$TMP/nsweep.dat" ]; then
  gnuplot <<EOF
$TERM_SVG
set output '$OUT/chart-throughput-n.svg'
$COMMON
set title "batchnn throughput against n (full batch, one epoch)"
set xlabel "samples n"; set ylabel "samples / s"
set logscale xy; set format x "2^{%L}"; set logscale x 2; set format y "10^{%L}"
N = $(cat "$TMP/nsweep.dat.n")
plot for [i=0:N-1] '$TMP/nsweep.dat' index i using 1:2 with linespoints lw 2 pt 5+2*(i/2) ps 1.2 \
     dt 2-i%2 lc rgb word(C, 1 + i / 2) title columnheader(1)
EOF
  made+=(chart-throughput-n.svg)
else
  echo "charts.sh: $OUT/nsweep.csv missing (bench/grid.sh); chart-throughput-n.svg skipped" >&2
fi

if [ -f "$TMP/grid.dat" ]; then
  gnuplot <<EOF
$TERM_SVG
set output '$OUT/chart-throughput-width.svg'
$COMMON
set title "batchnn throughput against width (arch 2,W,W,1)"
set xlabel "width W"; set ylabel "samples / s"
set logscale xy 2; set logscale y 10; set format y "10^{%L}"
set xtics (4, 16, 64, 256, 1024)
N = $(cat "$TMP/grid.dat.n")
plot for [i=0:N-1] '$TMP/grid.dat' index i using 1:2 with linespoints lw 2 pt 5+2*(i/2) ps 1.2 \
     dt 2-i%2 lc rgb word(C, 1 + i / 2) title columnheader(1)
EOF
  made+=(chart-throughput-width.svg)
else
  echo "charts.sh: $OUT/grid.csv missing (bench/grid.sh); chart-throughput-width.svg skipped" >&2
fi

if [ -f "$TMP/eff.dat" ]; then
  gnuplot <<EOF
$TERM_SVG
set output '$OUT/chart-efficiency.svg'
$COMMON
set title "batchnn efficiency = floor / time per workload\n{/*0.8 $MACHINE}"
set ylabel "efficiency (%)"; set yrange [0:110]
set style fill solid 0.8 border -1; set boxwidth 0.6
set key inside left top
plot '$TMP/eff.dat' using 0:2:xtic(1) with boxes lc rgb '#3465a4' title 'measured', \
     '' using 0:(\$2 / 2):(sprintf('%.0f%%', \$2)) with labels tc rgb 'white' font ',13' notitle, \
     '' using 0:3:(0.38) with xerrorbars pt 0 lw 3 lc rgb '#cc0000' title 'target (WORKLOADS.md)'
EOF
  made+=(chart-efficiency.svg)

  gnuplot <<EOF
$TERM_SVG
set output '$OUT/chart-peers.svg'
$COMMON
set title "ms per full-batch epoch: batchnn and its peers (lower is better)\n{/*0.8 $MACHINE}"
set ylabel "ms / epoch (log scale)"
set logscale y; set yrange [$(cat "$TMP/peers.dat.ymin"):*]
set style data histograms; set style histogram clustered gap 1
set style fill solid 0.85 border -1; set boxwidth 0.9
set key inside left top
N = $(cat "$TMP/peers.dat.n")
plot for [c=2:N+1] '$TMP/peers.dat' using c:xtic(1) title columnheader(c)
EOF
  made+=(chart-peers.svg)
else
  echo "charts.sh: $OUT/batchnn.json missing (bench/report.sh); efficiency and peers charts skipped" >&2
fi

if [ ${#made[@]} -eq 0 ]; then
  echo "charts.sh: no input in $OUT, no chart written" >&2
  exit 1
fi
echo "charts.sh: wrote $(printf "$OUT/%s " "${made[@]}")" >&2
