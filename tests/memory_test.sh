#!/usr/bin/env bash
# memory_test.sh - memory limits end to end: the batchnn command under `ulimit -v` (RLIMIT_AS),
# under a fake cgroup limit (BATCHNN_PROC_ROOT / BATCHNN_SYSFS_ROOT, see src/core/memory.c), and,
# where this machine allows it, in a real cgroup v2 with memory.max 512M. Each case checks
# the exit status and the message: a run that cannot fit must fail with exit 1 and one line
# saying why, not crash or be killed. Cases whose mechanism is missing are skipped; exit 77
# when every case was.
# usage: memory_test.sh path/to/batchnn [source-dir]
set -u
BNN=${1:?usage: memory_test.sh path/to/batchnn [source-dir]}
T=$(mktemp -d)
CG= # the cgroup this script created, if any
cleanup() {
  if [ -n "$CG" ] && [ -d "$CG" ]; then # empty once its one process has been reaped
    for _ in 1 2 3 4 5 6 7 8 9 10; do rmdir "$CG" 2>/dev/null && break; sleep 0.2; done
  fi
  rm -rf "$T"
}
trap cleanup EXIT
pass=0
fail=0
skip=0

# OpenBLAS starts one thread per core when loaded, each reserving a 128 MiB buffer: under
# ulimit -v on a many-core machine that alone exceeds the limit (and OpenBLAS then retries
# forever). The engine sets OpenBLAS to one thread anyway.
export OPENBLAS_NUM_THREADS=1
TO=()
if command -v timeout >/dev/null 2>&1; then TO=(timeout 300); fi

note_skip() { skip=$((skip + 1)); echo "SKIP $*"; }
record() { # record NAME OK(0/1) DETAIL
  if [ "$2" -eq 0 ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL $1: $3"; sed 's/^/  | /' "$T/err" | head -5; fi
}
# limited KB CMD...: CMD under ulimit -v KB (KiB), stdout/stderr to $T/out, $T/err
limited() {
  local kb=$1; shift
  ( ulimit -v "$kb" 2>/dev/null || exit 125; exec "${TO[@]}" "$@" ) >"$T/out" 2>"$T/err"
}
ok() { # ok NAME STATUS: the command exited 0
  record "$1" $(( $2 != 0 )) "exit $2, want 0"
}
refused() { # refused NAME STATUS PATTERN: exit 1 and one stderr line matching PATTERN
  if [ "$2" -ne 1 ]; then record "$1" 1 "exit $2, want 1"
  elif ! grep -qE -- "$3" "$T/err"; then record "$1" 1 "stderr lacks /$3/"
  elif [ "$(wc -l <"$T/err")" -ne 1 ]; then record "$1" 1 "$(wc -l <"$T/err") lines on stderr"
  else record "$1" 0 ""; fi
}

# --- RLIMIT_AS --------------------------------------------------------------------------
# A sanitizer build reserves terabytes of address space and cannot run under ulimit -v.
limited 1572864 "$BNN" --version; st=$?
if [ "$st" -ne 0 ]; then
  note_skip "ulimit -v: batchnn does not start under a 1.5 GiB address-space limit (exit $st; a sanitizer build?)"
else
  # a 12 MB model with a million-wide layer: its workspace is bounded whatever the width
  limited 1572864 "$BNN" train --arch 1,1000000,1 --threads 1 --data synth:uniform \
    --samples 64 --epochs 1 --quiet
  ok "1,1000000,1 under ulimit -v 1.5 GiB" $?
  limited 307200 "$BNN" --version; st=$?
  if [ "$st" -ne 0 ]; then
    note_skip "ulimit -v 300 MiB: batchnn does not start (exit $st)"
  else
    # 5 workspaces of 60 MiB and 58 MiB of partials: more than 300 MiB, refused up front
    limited 307200 "$BNN" train --arch 1,1000000,1 --threads 8 --data synth:uniform \
      --samples 64 --epochs 1 --quiet
    refused "engine refused under ulimit -v 300 MiB" $? \
      'fast engine: needs [0-9.]+ MiB of working memory for 8 threads .*this process may use 300\.0 MiB \(RLIMIT_AS\); use fewer --threads'
    # 30 M parameters (4 copies: 458 MiB): the model itself is refused
    limited 307200 "$BNN" train --arch 1,10000000,1 --threads 1 --data synth:uniform \
      --samples 64 --epochs 1 --quiet
    refused "model refused under ulimit -v 300 MiB" $? \
      'architecture: 30000001 parameters .* do not fit: .*300\.0 MiB \(RLIMIT_AS\)'
  fi
fi

# --- a memory-mapped .npy larger than ulimit -v ---------------------------------------------
# A sparse float32 file (a header, then a hole made by truncate/ftruncate: no disk used) of
# 1.25 GiB trained under a 1 GiB address-space limit: the reader maps it in windows (a whole
# mapping would not fit), and the peak resident memory stays far below the file's size.
sparse_npy() { # sparse_npy FILE ROWS COLS
  local d="{'descr': '<f4', 'fortran_order': False, 'shape': ($2, $3), }" pad hl
  pad=$(( 64 - (10 + ${#d} + 1) % 64 )); [ "$pad" -eq 64 ] && pad=0
  hl=$(( ${#d} + pad + 1 ))
  { printf '\223NUMPY\001\000'
    printf "\\$(printf %03o $((hl & 255)))\\$(printf %03o $((hl >> 8)))"
    printf '%s%*s\n' "$d" "$pad" ''; } >"$1" && truncate -s $(( 10 + hl + $2 * $3 * 4 )) "$1"
}
limited 1048576 "$BNN" --version; st=$?
if [ "$st" -ne 0 ]; then
  note_skip "sparse npy: batchnn does not start under ulimit -v 1 GiB (exit $st)"
elif ! sparse_npy "$T/big.npy" 167772160 2 2>/dev/null; then
  note_skip "sparse npy: cannot make a sparse 1.25 GiB file in $T"
else
  limited 1048576 "$BNN" train --arch 1,1 --act identity --data "$T/big.npy" --epochs 1 \
    --threads 2
  st=$?
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' "$T/out" | head -1)
  if [ "$st" -ne 0 ]; then record "1.25 GiB sparse npy under ulimit -v 1 GiB" 1 "exit $st"
  elif [ -z "$rss" ]; then
    record "1.25 GiB sparse npy under ulimit -v 1 GiB" 1 "no 'peak RSS ... MiB' in the summary"
  elif ! awk -v r="$rss" 'BEGIN { exit !(r < 192) }'; then
    record "1.25 GiB sparse npy under ulimit -v 1 GiB" 1 "peak RSS $rss MiB, want < 192 MiB"
  else pass=$((pass + 1)); fi
  rm -f "$T/big.npy"
fi

# The windows give the same models as the whole mapping: full batch, and shuffled mini-batches
# (single rows read all over the file), and mini-batches in order. BATCHNN_NPY_WINDOWS=1 forces
# the windows (tests only).
if "$BNN" gen synth:teacher --arch 5,3 --samples 100000 --out "$T/t.npy" >/dev/null 2>&1; then
  same=0
  # read-ahead windows (BATCHNN_NPY_AHEAD_BYTES, tests only; rows are 32 bytes): the default
  # 4 MiB, one sample, 7 samples and 4 bytes (rows straddle windows, which do not divide n)
  # rows lent in place from the windows (the default; 1024 bytes: 32 rows, and the narrow
  # path's chunks of 4096 rows straddle windows, copied) or copied (one sample, 228 bytes);
  # a hidden layer (chunks of 256 rows) and the narrow path (5,3 identity), --standardize
  # (lent rows scaled into the buffer)
  : >"$T/err"
  for net in "5,8,3" "5,3 --act identity" "5,3 --act identity --standardize"; do
  for extra in "" "--batch 100 --shuffle" "--batch 999"; do
    # shellcheck disable=SC2086
    "$BNN" train --arch $net --data "$T/t.npy" --epochs 2 --threads 2 $extra \
      --save "$T/m0.safetensors" --quiet 2>>"$T/err" || same=1
    for ahead in 0 32 228 1024; do
      # shellcheck disable=SC2086
      BATCHNN_NPY_WINDOWS=1 BATCHNN_NPY_AHEAD_BYTES=$ahead "$BNN" train --arch $net \
        --data "$T/t.npy" --epochs 2 --threads 2 $extra --save "$T/m1.safetensors" --quiet \
        2>>"$T/err" &&
      cmp -s "$T/m0.safetensors" "$T/m1.safetensors" || same=1
    done
  done
  done
  record "npy windows: models equal to the whole mapping's" "$same" "models differ or a run failed"
  rm -f "$T/t.npy" "$T/m0.safetensors" "$T/m1.safetensors"
else
  record "npy windows: gen" 1 "batchnn gen failed"
fi

# --- a fake cgroup limit ------------------------------------------------------------------
mkdir -p "$T/proc/self" "$T/sys/fs/cgroup/job"
echo "0::/job" >"$T/proc/self/cgroup"
echo 209715200 >"$T/sys/fs/cgroup/job/memory.max" # 200 MiB
BATCHNN_PROC_ROOT=$T/proc BATCHNN_SYSFS_ROOT=$T/sys "${TO[@]}" "$BNN" train \
  --arch 1,1000000,1 --threads 8 --data synth:uniform --samples 64 --epochs 1 --quiet \
  >"$T/out" 2>"$T/err"
refused "engine refused in a (fake) 200 MiB cgroup" $? \
  'needs [0-9.]+ MiB of working memory for 8 threads .*this process may use 200\.0 MiB \(cgroup memory\.max\)'
BATCHNN_PROC_ROOT=$T/proc BATCHNN_SYSFS_ROOT=$T/sys "${TO[@]}" "$BNN" train \
  --arch 1,1000000,1 --threads 1 --data synth:uniform --samples 64 --epochs 1 --quiet \
  >"$T/out" 2>"$T/err"
ok "1,1000000,1 with 1 thread in a (fake) 200 MiB cgroup" $?
# 2^26 samples of 2 -> 1 are 768 MiB: in a 512 MiB cgroup they must be streamed, not stored
echo 536870912 >"$T/sys/fs/cgroup/job/memory.max"
if [ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1; then
  BATCHNN_PROC_ROOT=$T/proc BATCHNN_SYSFS_ROOT=$T/sys "${TO[@]}" /usr/bin/time -o "$T/rss" \
    -f %M "$BNN" train --arch 2,1 --data synth:uniform --samples 2^26 --epochs 1 --quiet \
    >"$T/out" 2>"$T/err"
  st=$?
  rss=$(tail -1 "$T/rss" 2>/dev/null)
  if [ "$st" -ne 0 ]; then record "2^26 samples in a (fake) 512 MiB cgroup" 1 "exit $st"
  elif ! [ "$rss" -lt 409600 ] 2>/dev/null; then
    record "2^26 samples in a (fake) 512 MiB cgroup" 1 "peak RSS ${rss} KiB: the set was stored"
  else pass=$((pass + 1)); fi
else
  note_skip "fake 512 MiB cgroup: no GNU time to measure the peak RSS"
fi

# --- a real cgroup v2 with memory.max 512M ----------------------------------------------
# Only where /sys/fs/cgroup is a cgroup v2 mount, our own cgroup is writable and already
# delegates the memory controller to its children (never changed here: only a child cgroup
# is created, used by one run and removed).
real_cgroup() {
  local root=/sys/fs/cgroup self parent
  if [ "$(stat -fc %T "$root" 2>/dev/null)" != cgroup2fs ]; then
    note_skip "cgroup v2: $root is not a cgroup v2 mount"; return; fi
  self=$(sed -n 's/^0:://p' /proc/self/cgroup)
  parent=$root${self%/}
  if [ -z "$self" ] || [ ! -d "$parent" ] || [ ! -w "$parent" ]; then
    note_skip "cgroup v2: our cgroup '$self' is not writable"; return; fi
  if ! grep -qw memory "$parent/cgroup.subtree_control" 2>/dev/null; then
    note_skip "cgroup v2: the memory controller is not delegated below '$self'"; return; fi
  CG=$parent/batchnn-memtest-$$
  if ! mkdir "$CG" 2>/dev/null; then
    CG=; note_skip "cgroup v2: cannot create a child of '$self'"; return; fi
  if ! echo 536870912 >"$CG/memory.max" 2>/dev/null; then
    note_skip "cgroup v2: cannot set memory.max"; return; fi
  [ -e "$CG/memory.swap.max" ] && echo 0 >"$CG/memory.swap.max" 2>/dev/null
  # 768 MiB of samples: stored, they would get the run killed; the budget (512M / 4 for the
  # command line's data) makes it stream them
  ( echo "$BASHPID" >"$CG/cgroup.procs" 2>/dev/null || exit 125
    exec "${TO[@]}" "$BNN" train --arch 2,1 --data synth:uniform --samples 2^26 --epochs 1 \
      --quiet ) >"$T/out" 2>"$T/err"
  local st=$?
  if [ "$st" -eq 125 ]; then note_skip "cgroup v2: cannot move a process into the child"; return; fi
  local kills
  kills=$(awk '$1 == "oom_kill" {print $2}' "$CG/memory.events" 2>/dev/null)
  if [ "$st" -ne 0 ]; then
    record "2^26 samples in a 512M cgroup v2" 1 "exit $st (oom_kill ${kills:-?}): stored, not streamed?"
  else pass=$((pass + 1)); fi
}
real_cgroup

echo "memory_test: $pass passed, $fail failed, $skip skipped"
if [ "$fail" -gt 0 ]; then exit 1; fi
if [ "$pass" -eq 0 ]; then exit 77; fi
exit 0
