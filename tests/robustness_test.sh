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

summary robustness
