#!/usr/bin/env bash
# install_test.sh [BUILD_DIR] - the install, tested rather than assumed: `meson install` of a
# built tree (default build/) into a temporary DESTDIR, then examples/xor.c,
# examples/regression.c and examples/classify.c compiled against the installed copy with
# `pkg-config --cflags --libs batchnn` (PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR pointing
# into it), once against the shared library and once against the static archive, and run:
# xor must put each output on the right side of 0.5, regression must reload its net with the
# same cost, classify must reach the command's validation loss and accuracy on a 4-class CSV. Also checks the soname chain, that the archive is a regular one holding the
# kernels, that only the public header is installed and that the shared library exports the
# public API only.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${1:-build}
# shellcheck source=tests/lib.sh
. tests/lib.sh

CC=${CC:-cc}
D=$T/destdir
if ! meson install -C "$BUILD" --destdir "$D" --no-rebuild >"$T/install.log" 2>&1; then
  echo "FAIL meson install:"; sed 's/^/  | /' "$T/install.log" | tail -5; exit 1
fi
pc=$(find "$D" -name batchnn.pc | head -1)
check "batchnn.pc installed" test -n "$pc"
[ -n "$pc" ] || { summary install; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
# batchnn.pc is relocatable (prefix=${pcfiledir}/...); a build dir configured before that
# option needs the sysroot instead (which also prefixes the system paths of openblas, json-c)
grep -q '^prefix=${pcfiledir}' "$pc" || export PKG_CONFIG_SYSROOT_DIR=$D
libdir=$(pkg-config --variable=libdir batchnn)
incdir=$(pkg-config --variable=includedir batchnn)

# what is installed
check "soname chain libbatchnn.so -> .so.0 -> .so.0.x" \
  test "$(readlink "$libdir/libbatchnn.so")" = libbatchnn.so.0 -a -f "$libdir/libbatchnn.so.0" -a \
  "$(readelf -d "$libdir/libbatchnn.so.0" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" = libbatchnn.so.0
case "$(readlink "$libdir/libbatchnn.so.0")" in libbatchnn.so.0.*) r=0 ;; *) r=1 ;; esac
check "libbatchnn.so.0 -> libbatchnn.so.0.x" test $r -eq 0
check "libbatchnn.a is a regular (not thin) archive" \
  sh -c "file -b '$libdir/libbatchnn.a' | grep -q '^current ar archive' && ! head -c 8 '$libdir/libbatchnn.a' | grep -q thin"
check "libbatchnn.a holds the kernels" sh -c "ar t '$libdir/libbatchnn.a' | grep -q '^dispatch.c.o$'"
check "only the public header is installed" test "$(cd "$incdir" && ls)" = batchnn.h
check "no internal header anywhere" test -z "$(find "$D" -name 'bnn_*.h')"
exported=$(nm -D --defined-only "$libdir/libbatchnn.so.0" | awk '$2 == "T" {print $3}' | sort)
declared=$(grep 'BNN_API' "$incdir/batchnn.h" | grep -o 'bnn_[a-z0-9_]*(' | tr -d '(' | sort -u)
check "the shared library exports exactly the public API" test "$exported" = "$declared"
[ "$exported" = "$declared" ] || diff <(echo "$exported") <(echo "$declared") | head -10

# build the examples against the installed copy
read -r -a cflags <<<"$(pkg-config --cflags batchnn)"
read -r -a libs <<<"$(pkg-config --libs batchnn)"
read -r -a slibs <<<"$(pkg-config --static --libs batchnn | sed 's/-lbatchnn\b/-l:libbatchnn.a/')"
check "cflags point into the install" test "${cflags[0]}" = "-I$incdir"
for ex in xor regression classify; do
  ok "$ex: build, shared" "$CC" -std=c11 -Wall -Wextra -Werror "$SRC/examples/$ex.c" "${cflags[@]}" \
    "${libs[@]}" -o "$T/$ex-shared"
  ok "$ex: build, static" "$CC" -std=c11 -Wall -Wextra -Werror "$SRC/examples/$ex.c" "${cflags[@]}" \
    "${slibs[@]}" -o "$T/$ex-static"
done
check "the static build needs no libbatchnn.so" \
  sh -c "! readelf -d '$T/xor-static' | grep -q 'libbatchnn'"
check "the shared build loads the installed libbatchnn.so.0" \
  sh -c "LD_LIBRARY_PATH='$libdir' ldd '$T/xor-shared' | grep -q '$libdir/libbatchnn.so.0'"

# run them: xor learns the gate, regression reloads its net with the same cost
for kind in shared static; do
  (cd "$T" && LD_LIBRARY_PATH=$libdir "./xor-$kind" >"xor-$kind.out" 2>&1)
  check "xor ($kind) exits 0" test $? -eq 0
  learned=$(awk '$4 == "=" {n++; if (($1 != $3) == ($5 > 0.5)) good++} END {print n + 0, good + 0}' \
    "$T/xor-$kind.out")
  check "xor ($kind): four outputs, each on the right side of 0.5 ($learned)" test "$learned" = "4 4"
  (cd "$T" && LD_LIBRARY_PATH=$libdir "./regression-$kind" "$T/reg-$kind.safetensors" \
    >"reg-$kind.out" 2>&1)
  check "regression ($kind) exits 0" test $? -eq 0
  cost=$(sed -n 's/^final cost //p' "$T/reg-$kind.out")
  check "regression ($kind): final cost $cost below 0.01" \
    awk -v c="$cost" 'BEGIN {exit !(c != "" && c + 0 < 0.01)}'
  check "regression ($kind): the reloaded net has the same cost" grep -q '(same)$' "$T/reg-$kind.out"
done
check "shared and static builds print the same" cmp -s "$T/xor-shared.out" "$T/xor-static.out"
same_run() { cmp -s <(sed 's/reg-shared/reg/' "$1") <(sed 's/reg-static/reg/' "$2"); }
check "shared and static regressions print the same" same_run "$T/reg-shared.out" "$T/reg-static.out"
check "the installed batchnn command runs" sh -c "LD_LIBRARY_PATH='$libdir' '$(find "$D" -path '*/bin/batchnn')' --version >/dev/null"
# classify (the public data API) trains a 4-class problem from a CSV and must reach the
# command's accuracy on it (the command evaluates on the whole file, trained the same way)
python3 - "$T/c4.csv" <<'PYEOF'
import random, sys
rnd = random.Random(3)
with open(sys.argv[1], 'w') as f:
    f.write('a,b,label\n')
    for i in range(800):
        a, b = rnd.uniform(-1, 1), rnd.uniform(-1, 1)
        f.write('%.6f,%.6f,%d\n' % (a, b, (a > 0) * 2 + (b > 0)))
PYEOF
for kind in shared static; do
  (cd "$T" && LD_LIBRARY_PATH=$libdir "./classify-$kind" "$T/c4.csv" 2 4 >"cls-$kind.out" 2>&1)
  check "classify ($kind) exits 0" test $? -eq 0
done
check "classify: an epoch row every 20 epochs" test "$(grep -c '^epoch .* val_accuracy' "$T/cls-shared.out")" = 3
check "shared and static classify print the same" cmp -s "$T/cls-shared.out" "$T/cls-static.out"
# the command on the same split: --val-split 0.2 --seed 1 draws the samples val_split draws
# (bnn_dataset_split's), --standardize the same scaler; its log's last row holds the
# validation loss and accuracy
"$BUILD/src/batchnn" train --data "$T/c4.csv" --arch 2,32,4 --act relu,identity \
  --loss cross-entropy --epochs 60 --lr 0.05 --batch 32 --val-split 0.2 --seed 1 --standardize \
  --log "$T/c4.log" --quiet >/dev/null 2>&1
cmd=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  { v = $c["val_loss"]; a = $c["val_accuracy"] } END { print v, "x", a }' "$T/c4.log")
lib=$(sed -n 's/^epoch 60 .*val_loss \([^ ]*\) val_accuracy \([^ ]*\)$/\1 \2/p' "$T/cls-shared.out")
check "classify reaches the command's validation loss and accuracy ($lib vs $cmd)" \
  awk -v l="$lib" -v c="$cmd" 'BEGIN {n = split(l, a, " "); split(c, b, " ");
    d1 = a[1] - b[1]; d2 = a[2] - b[3]; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2;
    exit !(n == 2 && b[3] + 0 > 0.9 && d1 < 5e-5 && d2 < 5e-5)}'
readme_xor() { awk '/is a whole program:/ {f = 1; next} f && /^```c$/ {p = 1; next} p && /^```$/ {exit} p' README.md; }
check "README's xor program is examples/xor.c" \
  cmp -s <(readme_xor) <(sed -n '/^#include <stdio.h>/,$p' examples/xor.c)
summary install
