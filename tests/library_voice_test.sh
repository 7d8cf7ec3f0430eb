#!/usr/bin/env bash
# library_voice_test.sh - the library speaks as a library (issue 21): outside src/cli nothing
# prints and nothing reads the environment (the command reads its variables and passes them
# in, src/cli/environ.c), library messages name fields, not flags (the command maps them),
# and the command still honours those variables and names the flags a user typed.
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

# the environment: only the launcher's variables (is this process an MPI rank?)
hits=$(grep -nE 'getenv[[:space:]]*\(' $LIB | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)' |
    grep -vE 'OMPI_COMM_WORLD_SIZE|PMIX_RANK|PMI_RANK')
if [ -n "$hits" ]; then fail "the library reads the environment:"; echo "$hits"; else
    pass "the library reads no environment (beyond mpirun's)"; fi

# messages: the library names the field or argument ("widths: ...", "momentum 2 must be
# ..."), never a command-line flag; the command maps fields to its flags (cli_flag_msg,
# cli_train_msg, cli_engine_msg).
hits=$(grep -nE '"[^"]*--[a-z][^"]*"' $LIB | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*|//)')
if [ -n "$hits" ]; then fail "library messages name command-line flags:"; echo "$hits"; else
    pass "library messages name no command-line flag"; fi
# ... and the command still names the flag the user typed
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
flag_msg() { # NAME WANT ARGS...: exit 2 and stderr exactly WANT
    local name=$1 want=$2
    shift 2
    "$BNN" "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ "$rc" = 2 ] && [ "$(cat "$T/err")" = "$want" ]; then pass "$name"; else
        fail "$name: exit $rc, stderr '$(cat "$T/err")', want '$want'"; fi
}
flag_msg "--arch named" "batchnn: --arch: width 2 is 'x', not a positive whole number" \
    train --arch 2,x,1 --data synth:xor --epochs 1
flag_msg "--arch named (gen)" "batchnn: --arch: width 2 is 'x', not a positive whole number" \
    gen synth:teacher --arch 2,x,1 --out "$T/o.csv"
flag_msg "--act named" \
    "batchnn: --act: unknown activation 'softmax' (known: identity, sigmoid, tanh, relu)" \
    train --arch 2,1 --act softmax --data synth:xor --epochs 1
flag_msg "--loss named" \
    "batchnn: --loss cross-entropy needs at least 2 outputs, the last layer has 1 (bce is the loss for one output)" \
    train --arch 2,4,1 --act sigmoid,identity --loss cross-entropy --data synth:xor --epochs 1
flag_msg "--lr-schedule named" \
    "batchnn: --lr-schedule 'step:0:1': EVERY must be a whole number >= 1 (step:EVERY:GAMMA)" \
    train --arch 2,1 --lr-schedule step:0:1 --data synth:xor --epochs 1
# bnn_train's messages too: its hint names the learning rate, the command --lr
"$BNN" train --arch 1,1 --act identity --no-bias --data synth:linear --samples 100 --epochs 100 \
    --lr 1e6 --quiet >/dev/null 2>"$T/err"
rc=$?
if [ "$rc" = 1 ] && grep -q '^batchnn: epoch [0-9]*: .*diverged (try a smaller --lr)$' "$T/err"; then
    pass "--lr named in the divergence hint"; else
    fail "--lr in the divergence hint: exit $rc, stderr '$(cat "$T/err")'"; fi

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
