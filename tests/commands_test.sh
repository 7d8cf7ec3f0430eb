#!/usr/bin/env bash
# commands_test.sh - end-to-end tests of the command line's shared pieces and of what issue 11
# changed in it: the one option parser (bench included), gen's defaults, predict's message,
# the plot, and bench's workload list and per-CPU baselines (a fake /proc/cpuinfo through
# BATCHNN_PROC_ROOT; the machine's own files are never needed).
# usage: commands_test.sh path/to/batchnn
set -u
BNN=${1:?usage: commands_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"

# --- the option parser: every command, both forms, the same messages ----------------------
for c in train predict eval gradcheck gen info demo bench; do
  bad "$c unknown option" 2 "^batchnn: $c: unknown option '--bogus'" "$BNN" $c --bogus
done
bad "bench needs a value" 2 "^batchnn: bench: --repeat needs a value" "$BNN" bench --repeat
bad "bench given twice" 2 "^batchnn: bench: --json given twice" "$BNN" bench --json a --json b
bad "bench unknown workload" 2 "bench: --workloads: 'W9' is not a workload" "$BNN" bench --workloads W9
bad "bench unknown workload, = form" 2 "'W12' is not a workload" "$BNN" bench --workloads=W1,W12
bad "bench bad tolerance" 2 "--tolerance" "$BNN" bench --tolerance 1.5 --baseline x.json
bad "bench --print-args unknown" 2 "bench: --print-args: 'Q1' is not a workload" "$BNN" bench --print-args Q1
# --print-args: every listed workload's line is a valid train command line (checked by the
# parser: --help after the options), and one of each kind trains on a few samples
ok "bench --list-workloads" "$BNN" bench --list-workloads
for w in $("$BNN" bench --list-workloads | tr , ' '); do
  read -ra WA <<< "$("$BNN" bench --print-args "$w")"
  ok "bench --print-args $w parses" "$BNN" train "${WA[@]}" --epochs 1 --help
done
check "W4, M3 and M2 listed" bash -c "\"$BNN\" bench --list-workloads | grep -qx 'W1,.*W4,.*M2,M3'"
for w in W4 M2; do
  read -ra WA <<< "$("$BNN" bench --print-args "$w" | sed 's/--samples [0-9]*/--samples 3000/')"
  ok "bench --print-args $w trains" "$BNN" train "${WA[@]}" --epochs 1 --log "$T/wl.csv" --quiet
  check "$w: one epoch logged" test "$(wc -l <"$T/wl.csv")" -eq 2
done
check "M2 is W5 at --batch 256" bash -c "[ \"\$(\"$BNN\" bench --print-args M2)\" = \"\$(\"$BNN\" bench --print-args W5) --batch 256\" ]"
# bench/peers.py reads the same definitions (bench/workloads.h) as the binary: its view of
# each workload, written as train options, is what --print-args prints
if command -v python3 >/dev/null; then
  for w in $("$BNN" bench --list-workloads | tr , ' '); do
    peer=$(python3 -c "
import sys; sys.path.insert(0, sys.argv[1]); import peers
wd, act, bias, n, lr, data = peers.WORKLOADS[sys.argv[2]]
b = peers.BATCH.get(sys.argv[2])
print('--arch %s --act %s%s --data synth:%s --samples %d --lr %g%s' % (','.join(map(str, wd)), act,
      '' if bias else ' --no-bias', data, n, lr, ' --batch %d' % b if b else ''))
" "$(dirname "$0")/../bench" "$w" 2>&1)
    check "peers.py reads $w as bench does" [ "$peer" = "$("$BNN" bench --print-args "$w")" ]
  done
fi
bad "train = form" 2 "--epochs: 'x' is not a whole number" "$BNN" train --arch 2,1 --data synth:or --epochs=x

# --- gen: --samples defaults as in train; a set of any widths needs --arch (exit 2) --------
ok "gen default samples" "$BNN" gen synth:xor --out "$T/x.csv"
check "gen default is 1024 rows" test "$(wc -l <"$T/x.csv")" -eq 1024
bad "gen teacher without arch" 2 "synth:teacher takes its widths from --arch" "$BNN" gen synth:teacher --out "$T/t.csv"
bad "gen uniform without arch" 2 "synth:uniform takes its widths from --arch" "$BNN" gen synth:uniform --out "$T/t.csv"
check "gen teacher wrote nothing" test ! -e "$T/t.csv"
# sets of fixed widths need no --arch (linear was refused as "takes its widths from --arch")
for set in linear sine circle or; do
  ok "gen $set without arch" "$BNN" gen synth:$set --samples 4 --out "$T/f.csv"
done
bad "gen unknown set" 1 "unknown synthetic set" "$BNN" gen synth:nope --out "$T/t.csv"

# --- predict: targets after the inputs are optional, and the message says so ---------------
ok "train xor" "$BNN" train --arch 2,3,1 --data "$T/x.csv" --epochs 5 --quiet --save "$T/x.st"
printf '1,2,3,4\n5,6,7,8\n' >"$T/four.csv"
bad "predict width" 1 "four.csv: 4 columns, but the model takes 2 inputs, optionally followed by 1 target" \
  "$BNN" predict --model "$T/x.st" --data "$T/four.csv"
printf '1,2\n3,4\n' >"$T/in.csv"
ok "predict inputs only" "$BNN" predict --model "$T/x.st" --data "$T/in.csv"
check "predict inputs only: 2 rows" test "$(wc -l <"$T/out")" -eq 2

# --- --plot: ticks, grid, scale, validation curve ------------------------------------------
ok "plot xor" "$BNN" train --arch 2,3,1 --data "$T/x.csv" --epochs 2000 --lr 2 --quiet --plot "$T/p.svg"
check "plot: log scale for a loss that falls > 10x" grep -q 'loss C (log scale)' "$T/p.svg"
check "plot: labelled decades" grep -q '>0.01</text>' "$T/p.svg"
check "plot: tick marks and grid" test "$(grep -c '<line' "$T/p.svg")" -gt 20
check "plot: nice epoch ticks" grep -q '>500</text>' "$T/p.svg"
check "plot: one curve" test "$(grep -c '<polyline' "$T/p.svg")" -eq 1
ok "plot linear" "$BNN" train --arch 2,3,1 --data "$T/x.csv" --epochs 2000 --lr 2 --quiet --plot "$T/l.svg" --plot-scale linear
check "plot linear: no log scale" bash -c "! grep -q 'log scale' '$T/l.svg'"
ok "plot validation" "$BNN" train --arch 2,3,1 --data "$T/x.csv" --epochs 50 --quiet --val-split 0.25 --plot "$T/v.svg"
check "plot validation: two curves" test "$(grep -c '<polyline' "$T/v.svg")" -eq 2
check "plot validation: legend" grep -q '>validation</text>' "$T/v.svg"
ok "plot flat" "$BNN" train --arch 2,3,1 --data "$T/x.csv" --epochs 20 --lr 0.01 --quiet --plot "$T/f.svg"
check "plot flat: linear" bash -c "! grep -q 'log scale' '$T/f.svg'"
bad "plot scale value" 2 "--plot-scale: 'cubic' is not linear or log" "$BNN" train --arch 2,1 --data synth:or --plot "$T/c.svg" --plot-scale cubic
bad "plot scale without plot" 2 "--plot-scale needs --plot" "$BNN" train --arch 2,1 --data synth:or --plot-scale log

# --- bench: the baseline of this CPU and ISA path -----------------------------------------
mkdir -p "$T/proc" "$T/baselines"
printf 'processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz\n' >"$T/proc/cpuinfo"
BATCHNN_ISA=scalar BATCHNN_PROC_ROOT=$T/proc ok "baseline id" "$BNN" bench --baseline-id
check "baseline id: model slug and ISA" test "$(cat "$T/out")" = intel-xeon-gold-6248-cpu-2-50ghz-scalar
BATCHNN_ISA=scalar BATCHNN_PROC_ROOT=$T/proc bad "no baseline for this CPU" 3 \
  "no baseline for this CPU \(Intel\(R\) Xeon\(R\) Gold 6248 CPU @ 2.50GHz\) and ISA path scalar: intel-xeon-gold-6248-cpu-2-50ghz-scalar.json is not there" \
  "$BNN" bench --workloads W1 --baseline "$T/baselines"
check "no baseline: nothing measured" test ! -s "$T/out"
# virtual machines name Zen 3 and Zen 4 alike: the family and model numbers tell them apart
printf 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nprocessor\t: 1\ncpu family\t: 25\nmodel\t\t: 1\n' >"$T/proc/cpuinfo"
BATCHNN_ISA=avx2 BATCHNN_PROC_ROOT=$T/proc ok "baseline id, family and model" "$BNN" bench --baseline-id
check "baseline id: Zen 3 on a VM" bash -c "grep -qx 'amd-epyc-f25m1-avx2' '$T/out' || grep -qx 'amd-epyc-f25m1-scalar' '$T/out'"
BATCHNN_ISA=avx2 BATCHNN_PROC_ROOT=$T/proc bad "a Zen 3 does not take the Zen 4 baseline" 3 \
  "no baseline for this CPU \(AMD EPYC\)" "$BNN" bench --workloads W1 --baseline "$(dirname "$0")/../bench/baselines"
printf 'processor\t: 0\n' >"$T/proc/cpuinfo"
BATCHNN_ISA=scalar BATCHNN_PROC_ROOT=$T/proc ok "baseline id, no model name" "$BNN" bench --baseline-id
check "baseline id: unknown cpu" test "$(cat "$T/out")" = unknown-cpu-scalar
cat >"$T/baselines/unknown-cpu-scalar.json" <<'JSON'
{"machine": {"isa": "scalar"}, "workloads": [{"id": "user", "efficiency": 1e-9, "reference_speedup": 1e-9}]}
JSON
BATCHNN_ISA=scalar BATCHNN_PROC_ROOT=$T/proc ok "baseline picked from the directory" \
  "$BNN" bench --arch 2,1 --samples 4096 --repeat 1 --threads 2 --baseline "$T/baselines" \
  --json "$T/pp2.json"
check "baseline: names the file" grep -q "^baseline: $T/baselines/unknown-cpu-scalar.json" "$T/out"
check "baseline: gate ok" grep -q '^gate: ok, 2 quantities' "$T/out"
check "bench: the instruction-mix estimate under the row" \
  grep -Eq '^     estimate: [0-9.e+-]+ cycles/sample \(scalar ports, .*\) = .* ms at .* GHz x [0-9]+; memory .* ms; .*-bound: .* ms, [0-9]+% of the measured time$' "$T/out"
# the ping-pong latency of 2 threads (issue 18): one header line with a positive finite round
# trip (whatever its size: not a timing target) and the same in --json; n/a with one thread
pp=$(awk '/^ping-pong 2 threads: / { n++; v = $4 } END { if (n == 1) print v }' "$T/out")
ppj=$(sed -n 's/.*"pingpong_ns": \([^,}]*\).*/\1/p' "$T/pp2.json")
check "bench: the ping-pong line, once" grep -Eq '^ping-pong 2 threads: [0-9]+ ns round trip \(' "$T/out"
check "bench: ping-pong positive and finite, here and in --json" \
  awk -v v="$pp" -v j="$ppj" 'BEGIN { exit !(v ~ /^[0-9]+$/ && v > 0 && j ~ /^[0-9.e+-]+$/ && j > 0) }'
ok "bench with one thread" "$BNN" bench --arch 2,1 --samples 4096 --repeat 1 --threads 1 \
  --json "$T/pp1.json"
check "bench: ping-pong n/a with one thread" grep -qx 'ping-pong 2 threads: n/a (1 thread)' "$T/out"
check "bench: ping-pong 0 in --json with one thread" grep -q '"pingpong_ns": 0[,}]' "$T/pp1.json"

# --- notes: a CSV header row, an nn.Sequential state_dict ------------------------------------
printf 'x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n' >"$T/headed.csv"
ok "train on a CSV with a header" "$BNN" train --arch 2,2,1 --data "$T/headed.csv" --epochs 2 --quiet
check "a note names the header row" grep -q "note: $T/headed.csv: first row taken as a header" "$T/err"
printf 'a\tb\ty\n0\t0\t0\n0\t1\t1\n1\t0\t1\n1\t1\t0\n' >"$T/tabs.tsv"
ok "train on a tab-separated file" "$BNN" train --arch 2,2,1 --data "$T/tabs.tsv" --epochs 2 --quiet
if command -v python3 >/dev/null; then
  python3 - "$T/seq.st" <<'PY'
import json, struct, sys
t = {"0.weight": [3, 2], "0.bias": [3], "2.weight": [1, 3], "2.bias": [1]}
h, off, data = {}, 0, b""
for k, shape in t.items():
    n = 1
    for d in shape: n *= d
    h[k] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + 4 * n]}
    data += struct.pack("<%df" % n, *([0.25] * n)); off += 4 * n
h["__metadata__"] = {"format": "pt"}
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + data)
PY
  ok "an nn.Sequential state_dict loads" "$BNN" info "$T/seq.st" --act sigmoid,identity
  check "info: arch 2,3,1" grep -q '^arch: 2,3,1$' "$T/out"
  check "a note says how names became layers" grep -q "note: .*0 -> layers.0, 2 -> layers.1" "$T/err"
fi

summary commands_test
