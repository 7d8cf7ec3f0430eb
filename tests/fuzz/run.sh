#!/usr/bin/env bash
# Builds the libFuzzer targets through meson (build-fuzz/: clang, -Dfuzz=true, AddressSanitizer
# + UndefinedBehaviorSanitizer; tests/fuzz/meson.build lists their sources) and runs each for a
# fixed time on a copy of its seed corpus.
# usage: tests/fuzz/run.sh [seconds per target, default 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
if ! command -v clang >/dev/null; then
  echo "fuzz: clang not installed, skipped"; exit 0
fi
targets=(csv npy archive safetensors)
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz --buildtype=debugoptimized -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false >/dev/null
fi
ninja -C build-fuzz "${targets[@]/#/tests/fuzz/fuzz_}" >/dev/null
root=$PWD
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$out/corpus_$t"
  cp -r "tests/fuzz/corpus_$t/." "$out/corpus_$t/"
  echo "== fuzz_$t: ${secs}s"
  (cd "$out" && TMPDIR=/dev/shm "$root/build-fuzz/tests/fuzz/fuzz_$t" -max_len=4096 -timeout=10 \
      -max_total_time="$secs" -print_final_stats=1 "corpus_$t" 2>&1 |
    grep -E "stat::number_of_executed_units|ERROR|SUMMARY|crash" || true)
  # libFuzzer exits non-zero and leaves crash-* files on a finding
  if ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
    echo "fuzz_$t: FOUND A FAILURE"; exit 1
  fi
done
echo "fuzz: ok"
