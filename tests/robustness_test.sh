#!/usr/bin/env bash
# robustness_test.sh - end-to-end tests of the smaller robustness rules: the count syntax
# accepts exactly its documented forms; OMP_* and OPENBLAS_* in the environment neither crash
# the process nor change the model; bench --baseline type-checks every field and caps its read;
# strings read from files are printed escaped.
# usage: robustness_test.sh path/to/batchnn
set -u
BNN=${1:?usage: robustness_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"

# --- the count syntax (cli_parse_u64): DIGITS, DIGITS[kKMG], 2^DIGITS ------------------------
while read -r spelled rows; do
  rm -f "$T/g.csv"
  ok "count '$spelled' accepted" "$BNN" gen synth:xor --samples "$spelled" --out "$T/g.csv"
  check "count '$spelled' is $rows" test "$(wc -l <"$T/g.csv")" = "$rows"
done <<'OK'
5 5
007 7
2^4 16
2^0 1
2^10 1024
1k 1024
1K 1024
1M 1048576
OK
while IFS='|' read -r spelled why; do
  esc=$(printf '%s' "$spelled" | sed 's/[][\.*^$+?(){}|]/\\&/g') # as a literal in the pattern
  bad "count '$spelled' refused" 2 "--samples: '$esc' is $why" \
    "$BNN" gen synth:xor --samples "$spelled" --out "$T/g.csv"
done <<'BAD'
|not a whole number
 5|not a whole number
5 |not a whole number
+5|not a whole number
-0|not a whole number
-1|not a whole number
2^|not a whole number
^3|not a whole number
2^-1|not a whole number
2^+3|not a whole number
2^ 3|not a whole number
3^2|not a whole number
02^3|not a whole number
2^3k|not a whole number
1k2|not a whole number
k|not a whole number
1kk|not a whole number
1e|not a whole number
1e3|not a whole number
0x|not a whole number
0x10|not a whole number
1.5k|not a whole number
1.0|not a whole number
2^64|too large
2^99999999999999999999999|too large
18446744073709551616|too large
99999999999999999999k|too large
18014398509481984k|too large
BAD

# --- OpenMP and OpenBLAS variables: no crash, the same model as without them ----------------
# (a value libgomp itself refuses, e.g. OMP_NUM_THREADS=abc, is only warned about by libgomp)
R="train --data synth:circle --arch 2,8,1 --samples 512 --epochs 4 --batch 64 --shuffle
   --optimizer adam --lr 0.01 --threads 2 --quiet"
CLEAN="env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT -u OMP_DYNAMIC -u OMP_NESTED -u OMP_STACKSIZE
       -u OMP_MAX_ACTIVE_LEVELS -u OPENBLAS_NUM_THREADS -u GOMP_CPU_AFFINITY -u OMP_PROC_BIND"
ok "train without OMP_* variables" $CLEAN "$BNN" $R --save "$T/omp_ref.st"
"$BNN" predict --model "$T/omp_ref.st" --data synth:circle --samples 512 --threads 2 >"$T/omp_ref.out"
for v in OMP_NUM_THREADS=100000 OMP_THREAD_LIMIT=1 OMP_DYNAMIC=true OMP_NESTED=true \
         OMP_STACKSIZE=1G OMP_MAX_ACTIVE_LEVELS=0 OPENBLAS_NUM_THREADS=7 GOMP_CPU_AFFINITY=0 \
         OMP_PROC_BIND=true OMP_NUM_THREADS=1; do
  rm -f "$T/omp.st"
  ok "train with $v" $CLEAN "$v" "$BNN" $R --save "$T/omp.st"
  check "train with $v: the same model" cmp -s "$T/omp.st" "$T/omp_ref.st"
  ok "predict with $v" $CLEAN "$v" "$BNN" predict --model "$T/omp_ref.st" --data synth:circle \
    --samples 512 --threads 2
  check "predict with $v: the same output" cmp -s "$T/out" "$T/omp_ref.out"
done

# --- bench --baseline: every field type-checked, the read capped ----------------------------
G="bench --arch 2,1 --samples 4096 --repeat 1 --baseline"
while IFS='|' read -r name json pat; do
  printf '%s' "$json" >"$T/base.json"
  bad "baseline: $name" 1 "--baseline $T/base.json: $pat" "$BNN" $G "$T/base.json"
done <<'BAD'
null id|{"workloads": [{"id": null}]}|workloads\[0\]\.id is a JSON null, not a string
numeric id|{"workloads": [{"id": 7, "efficiency": 1}]}|workloads\[0\]\.id is a JSON number, not a string
no id|{"workloads": [{"efficiency": 1}]}|workloads\[0\] has no "id"
string quantity|{"workloads": [{"id": "user", "efficiency": "fast"}]}|workloads\[0\] \(id "user"\)\.efficiency is a JSON string, not a number
null quantity|{"workloads": [{"id": "user", "reference_speedup": null}]}|workloads\[0\] \(id "user"\)\.reference_speedup is a JSON null, not a number
object quantity|{"workloads": [{"id": "W1", "thread_speedup": {}}]}|workloads\[0\] \(id "W1"\)\.thread_speedup is a JSON object, not a number
workload not an object|{"workloads": [3]}|workloads\[0\] is a JSON number, not an object
workloads an object|{"workloads": {}}|"workloads" is a JSON object, not an array
no workloads|{"machine": {}}|no "workloads"
top level an array|[1, 2]|the top level is a JSON array, not an object
data after the value|{"workloads": []} x|cannot read it as JSON
not JSON|hello|cannot read it as JSON
BAD
printf '{"workloads": [{"id": "a\\u001b[31m\\n", "efficiency": true}]}' >"$T/base.json"
bad "baseline: an id printed escaped" 1 'id "a\\x1b\[31m\\x0a"\)\.efficiency is a JSON boolean' \
  "$BNN" $G "$T/base.json"
printf '{"workloads": [{"id": "user", "efficiency": 1e-9, "reference_speedup": 1e-9}]}' >"$T/base.json"
ok "baseline: a valid one" "$BNN" $G "$T/base.json"
# a FIFO fed endless bytes: read at most the stream limit, then refused
mkfifo "$T/base.fifo"
yes | head -c 100M >"$T/base.fifo" &
writer=$!
BATCHNN_STREAM_LIMIT=1M bad "baseline: an endless FIFO is capped" 1 \
  "--baseline $T/base.fifo: more than 1048576 bytes" "$BNN" $G "$T/base.fifo"
kill "$writer" 2>/dev/null; wait "$writer" 2>/dev/null
# a baseline of more than 1 MiB is not one (a regular file, mapped)
head -c 2000000 /dev/zero | tr '\0' ' ' >"$T/big.json"; printf '{"workloads": []}' >>"$T/big.json"
bad "baseline: more than 1 MiB" 1 "--baseline $T/big.json: 2000017 bytes, more than a baseline" \
  "$BNN" $G "$T/big.json"

# --- strings from files are printed escaped -------------------------------------------------
# setmeta IN OUT KEY=VALUE...: a copy of model IN with those __metadata__ entries
setmeta() {
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst = sys.argv[1:3]
b = open(src, 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
for kv in sys.argv[3:]:
    k, v = kv.split('=', 1)
    # VALUE holds \xNN escapes: the bytes they spell, as UTF-8 text
    h['__metadata__'][k] = v.encode().decode('unicode_escape').encode('latin-1').decode('utf-8')
j = json.dumps(h, separators=(',', ':')).encode()
j += b' ' * (-len(j) % 8)
open(dst, 'wb').write(struct.pack('<Q', len(j)) + j + b[8 + n:])
PY
}
ok "a checkpoint to alter" "$BNN" train --data synth:xor --arch 2,3,1 --epochs 2 --quiet \
  --optimizer adam --checkpoint "$T/m.st"
setmeta "$T/m.st" "$T/evil.st" 'loss=mse\x1b[31m\nred' 'optimizer=ad\x07am' 'optimizer.step=12\r'
ok "info of a model with control characters in its metadata" "$BNN" info "$T/evil.st"
check "info: loss escaped" grep -qxF 'loss: "mse\x1b[31m\x0ared"' "$T/out"
check "info: optimizer and step escaped" grep -qxF 'optimizer: "ad\x07am", "12\x0d" steps (checkpoint)' "$T/out"
check "info: no raw escape or control byte" bash -c "! LC_ALL=C grep -q \$'[\x01-\x08\x0b-\x1f\x7f]' '$T/out'"
setmeta "$T/m.st" "$T/utf8.st" 'optimizer=adam\xc3\xa9'
ok "info of a model with UTF-8 metadata" "$BNN" info "$T/utf8.st"
check "info: well-formed UTF-8 printed as itself" grep -qxF "optimizer: adamé, 2 steps (checkpoint)" "$T/out"
bad "predict: an unknown loss is escaped, one line" 1 'unknown loss "mse\\x1b\[31m\\x0ared" in __metadata__' \
  "$BNN" predict --model "$T/evil.st" --data synth:xor
setmeta "$T/m.st" "$T/data.st" 'data=x\x1b[2J\ny'
ok "resume from a checkpoint naming other data" "$BNN" train --data synth:xor --epochs 3 \
  --resume "$T/data.st" --save "$T/d.st"
check "resume: its data name printed escaped" grep -qF 'was trained on "x\x1b[2J\x0ay", this run uses synth:xor' "$T/err"

summary robustness
