#!/usr/bin/env bash
# The whole test suite: the release build (GCC), the same with clang, then under AddressSanitizer +
# UndefinedBehaviorSanitizer (build-asan/), then short fuzzing runs when clang can build them.
# Kernel and fast-engine tests run once per CPU path (BATCHNN_ISA=scalar|avx2|avx512).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== release build: meson test"
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
meson test -C build --print-errorlogs --num-processes 2
bash tests/install_test.sh build # meson install into a temp dir, examples built against it

echo "== build without the AVX-512 objects (-Davx512=disabled): kernel and fast-engine tests"
[ -f build-noavx512/build.ninja ] || meson setup build-noavx512 --buildtype=release \
  -Davx512=disabled -Dbench=false >/dev/null
ninja -C build-noavx512 >/dev/null
meson test -C build-noavx512 --print-errorlogs --num-processes 2 --suite isa

echo "== clang build (Debian's clang 14, release): meson test"
# The same promises from a second compiler: warnings as errors, and the bitwise tests (scalar
# and SIMD optimizer steps, any thread count) with clang's code generation.
if command -v clang >/dev/null 2>&1; then
  [ -f build-clang/build.ninja ] || CC=clang CXX=clang++ meson setup build-clang \
    --buildtype=release -Dbench=false >/dev/null
  ninja -C build-clang >/dev/null
  meson test -C build-clang --print-errorlogs --num-processes 2 --no-suite slow
else
  echo "clang: not installed, skipped"
fi

echo "== AddressSanitizer + UndefinedBehaviorSanitizer: meson test"
if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbench=false \
    -Dc_args=-fno-sanitize-recover=all -Dcpp_args=-fno-sanitize-recover=all >/dev/null
fi
ninja -C build-asan >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite slow

echo "== fuzzing (libFuzzer, short fixed time per reader)"
bash tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"

echo "== performance regression gate: A/B against the previous commit, then tests/gate_test.sh"
# W3,W4 interleaved with HEAD~1 (built once in build-compare/): fails when either is slower
# than the previous commit's by more than 1 / (1 - 0.25) = 1.33x at the 95% level. Skipped
# (exit 3) when there is no previous commit to build, e.g. in a shallow clone.
gate=0; bash bench/gate.sh --ab build/src/batchnn 0.25 W3,W4 || gate=$?
[ "$gate" = 3 ] && echo "gate: A/B skipped: no previous commit to compare with"
[ "$gate" = 0 ] || [ "$gate" = 3 ]
bash tests/gate_test.sh build/src/batchnn 0.7
