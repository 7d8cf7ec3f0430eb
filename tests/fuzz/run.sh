#!/usr/bin/env bash
# Builds the libFuzzer targets (clang -fsanitize=fuzzer,address,undefined) for the CSV, npy
# and safetensors readers and runs each for a fixed time on a copy of its seed corpus.
# usage: tests/fuzz/run.sh [seconds per target, default 20]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-20}
if ! command -v clang >/dev/null; then
  echo "fuzz: clang not installed, skipped"; exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
flags=(-std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -Iinclude -Isrc)
common=(src/io/table.c src/io/mapped.c src/core/error.c src/core/memory.c src/io/outfile.c src/core/rng.c
        src/core/arch.c src/core/model.c)
build() { # name sources...
  local name=$1; shift
  clang "${flags[@]}" $(pkg-config --cflags json-c) "$@" "${common[@]}" \
    $(pkg-config --libs json-c) -lm -o "$out/$name"
}
build fuzz_csv tests/fuzz/fuzz_csv.c src/io/csv.c src/io/npy.c
build fuzz_npy tests/fuzz/fuzz_npy.c src/io/csv.c src/io/npy.c
build fuzz_safetensors tests/fuzz/fuzz_safetensors.c src/io/safetensors.c
for t in csv npy safetensors; do
  mkdir -p "$out/corpus_$t"
  cp -r "tests/fuzz/corpus_$t/." "$out/corpus_$t/"
  echo "== fuzz_$t: ${secs}s"
  (cd "$out" && TMPDIR=/dev/shm ./fuzz_$t -max_len=4096 -timeout=10 -max_total_time="$secs" \
      -print_final_stats=1 "corpus_$t" 2>&1 | grep -E "stat::number_of_executed_units|ERROR|SUMMARY|crash" || true)
  # libFuzzer exits non-zero and leaves crash-* files on a finding
  if ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* >/dev/null 2>&1; then
    echo "fuzz_$t: FOUND A FAILURE"; exit 1
  fi
done
echo "fuzz: ok"
