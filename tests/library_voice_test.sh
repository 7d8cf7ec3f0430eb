#!/usr/bin/env bash
# library_voice_test.sh - the library speaks as a library (issue 21): outside src/cli nothing
# prints and nothing reads the environment (the command reads its variables and passes them
# in, src/cli/environ.c), and the command still honours and reports those variables.
# Usage: library_voice_test.sh SOURCE_ROOT path/to/batchnn
set -u
ROOT=${1:?usage: library_voice_test.sh SOURCE_ROOT path/to/batchnn}
BNN=${2:?usage: library_voice_test.sh SOURCE_ROOT path/to/batchnn}
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }

cd "$ROOT" || exit 1
LIB=$(find src kernels -name '*.[ch]' ! -path 'src/cli/*' | sort)

# printing: stdio calls that write to a stream (snprintf into buffers is fine)
hits=$(grep -nE '(^|[^a-z_])(printf|fprintf|vfprintf|vprintf|puts|fputs|perror|putchar)[[:space:]]*\(' \
    $LIB | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)')
if [ -n "$hits" ]; then fail "the library prints:"; echo "$hits"; else pass "the library prints nothing"; fi

# the environment: only the launcher's variables (is this process an MPI rank?) and, until
# the fast engine's owners move it, its BATCHNN_PATH test hook
hits=$(grep -nE 'getenv[[:space:]]*\(' $LIB | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' |
    grep -vE 'OMPI_COMM_WORLD_SIZE|PMIX_RANK|PMI_RANK' |
    grep -vE '^src/engine/fast\.c:[0-9]+:.*getenv\("BATCHNN_PATH"\)')
if [ -n "$hits" ]; then fail "the library reads the environment:"; echo "$hits"; else
    pass "the library reads no environment (beyond mpirun's and BATCHNN_PATH)"; fi

# the command still reads BATCHNN_ISA: a path it names, and a warning for a bad name
out=$(BATCHNN_ISA=scalar "$BNN" --version 2>&1)
if grep -q '^isa: scalar' <<<"$out"; then pass "BATCHNN_ISA=scalar is used"; else
    fail "BATCHNN_ISA=scalar: $out"; fi
err=$(BATCHNN_ISA=bogus "$BNN" --version 2>&1 >/dev/null)
if [ "$(grep -c '^batchnn: BATCHNN_ISA=bogus is unknown or not available on this CPU or build (scalar, avx2, avx512, auto); choosing automatically$' <<<"$err")" = 1 ] &&
    [ "$(wc -l <<<"$err")" = 1 ]; then pass "BATCHNN_ISA=bogus: one warning line"; else
    fail "BATCHNN_ISA=bogus: '$err'"; fi
out=$(BATCHNN_ISA=auto "$BNN" --version 2>&1)
if grep -q '^isa: ' <<<"$out" && ! grep -q 'unknown' <<<"$out"; then
    pass "BATCHNN_ISA=auto: no warning"; else fail "BATCHNN_ISA=auto: $out"; fi

[ "$fails" = 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
