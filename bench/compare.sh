#!/usr/bin/env bash
# A/B comparison of two builds of batchnn on this machine: A = a git revision (or a binary),
# B = the working tree (or a binary). Both run interleaved, A B A B ..., so drift and a
# neighbour's load hit both alike; the answer is per workload the ratio of medians B/A with a
# bootstrap confidence interval and a verdict.
#
#   bench/compare.sh [options] REV [workloads, default W3,W4] [rounds, default 5]
#
#   REV            a git revision (HEAD~1, main, a tag, a hash) of this repository, exported
#                  with `git archive` and built (meson release, no Google Benchmark) in
#                  build-compare/<hash>/, kept for the next runs (the 4 most recently used);
#                  or the path of a batchnn binary
#   workloads      W1-W6 (batchnn bench's full-batch workloads), M1-M3 (mini-batches)
#   rounds         each round runs every workload once with A, then once with B
#   --bnn PATH     B is this binary (default: the working tree, built in build/ with ninja)
#   --epochs E     timed epochs per run, after one warm-up epoch (default 5)
#   --threads T    --threads of every run (default: batchnn's default, all cores)
#   --env-a V=X, --env-b V=X   an environment variable for A's runs or B's only (repeatable)
#   --level L      the confidence level of the intervals (default 0.95)
#   --max-slowdown F   exit 1 when a workload is slower with the interval's lower bound above
#                  1 + F (B takes more than 1 + F times A's time, at the interval's level)
#   --json FILE    the per-run figures and the results
#
# Each run is one `batchnn train ... --log` process; its figure is the median of its timed
# epochs' seconds (the log's per-epoch wall time, data generation excluded). Per workload:
# ratio = median(B's run figures) / median(A's run figures); the interval is the percentile
# bootstrap of that ratio over the run figures, resampling whole rounds (a round's A and B
# runs, adjacent in time, stay together, so a neighbour's load that comes and goes weighs on
# both sides alike): 10000 resamples, fixed seed, so the same figures give the same interval. Verdict: "B faster" when the whole
# interval is below 1, "B slower" when it is above 1, else "no difference" (at that level).
# Exit status: 0, or 1 (--max-slowdown exceeded), 2 (bad command line), 3 (REV could not be
# resolved or built, or a run failed).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/workloads.sh
. "$HERE/workloads.sh"
PY=/usr/bin/python3
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
die() { echo "compare.sh: $2" >&2; exit "$1"; }

BNN_B="" EPOCHS=5 THREADS="" LEVEL=0.95 MAXSLOW="" JSON=""
ENV_A=() ENV_B=() POS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bnn) BNN_B=${2:?}; shift 2 ;;
    --epochs) EPOCHS=${2:?}; shift 2 ;;
    --threads) THREADS=${2:?}; shift 2 ;;
    --env-a) ENV_A+=("${2:?}"); shift 2 ;;
    --env-b) ENV_B+=("${2:?}"); shift 2 ;;
    --level) LEVEL=${2:?}; shift 2 ;;
    --max-slowdown) MAXSLOW=${2:?}; shift 2 ;;
    --json) JSON=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die 2 "unknown option '$1' (see --help)" ;;
    *) POS+=("$1"); shift ;;
  esac
done
[ ${#POS[@]} -ge 1 ] && [ ${#POS[@]} -le 3 ] || die 2 "usage: compare.sh [options] REV [workloads] [rounds] (see --help)"
REV=${POS[0]} WL=${POS[1]:-W3,W4} ROUNDS=${POS[2]:-5}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die 2 "rounds: '$ROUNDS' is not a positive count"
[[ "$EPOCHS" =~ ^[1-9][0-9]*$ ]] || die 2 "--epochs: '$EPOCHS' is not a positive count"
[ -z "$THREADS" ] || [[ "$THREADS" =~ ^[1-9][0-9]*$ ]] || die 2 "--threads: '$THREADS' is not a positive count"
[ -z "$MAXSLOW" ] || [[ "$MAXSLOW" =~ ^[0-9]*\.?[0-9]+$ ]] || die 2 "--max-slowdown: '$MAXSLOW' is not a fraction >= 0"
[[ "$LEVEL" =~ ^0\.[0-9]+$ ]] || die 2 "--level: '$LEVEL' is not a fraction between 0 and 1"
for v in ${ENV_A[@]+"${ENV_A[@]}"} ${ENV_B[@]+"${ENV_B[@]}"}; do
  [[ "$v" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die 2 "--env-a/--env-b: '$v' is not VAR=VALUE"
done
IFS=, read -ra IDS <<< "$WL"
for w in "${IDS[@]}"; do  # the names here; their definitions from B's binary below
  [[ "$w" =~ ^[WM][0-9]+$ ]] || die 2 "workloads: '$w' is not a workload id (W1-W6, M1-M3)"
done
[ -x "$PY" ] || die 2 "$PY (Debian's python3) is needed for the statistics"

find_bnn() { # the batchnn executable of a build directory (src/ or src/cli/, by revision)
  find "$1" -name batchnn -type f -perm -u+x 2>/dev/null | sort | head -1
}
build_dir() { # build_dir SRC BUILD: a meson release build of SRC's command-line tool
  local opts=(--buildtype=release)
  grep -q "'bench'" "$1/meson_options.txt" 2>/dev/null && opts+=(-Dbench=false)
  if [ ! -f "$2/build.ninja" ]; then
    meson setup "$2" "$1" "${opts[@]}" >"$2.log" 2>&1 || { cat "$2.log" >&2; return 1; }
  fi
  ninja -C "$2" >>"$2.log" 2>&1 || { tail -20 "$2.log" >&2; return 1; }
}

# ---- A: the revision (or a binary)
if [ -f "$REV" ] && [ -x "$REV" ]; then
  BNN_A=$(cd "$(dirname "$REV")" && pwd)/$(basename "$REV") A_NAME="$REV"
else
  SHA=$(git -C "$ROOT" rev-parse --verify --quiet "$REV^{commit}") ||
    die 3 "'$REV' is neither a batchnn binary nor a revision of $ROOT (a shallow clone lacks history: git fetch --unshallow)"
  A_NAME="$REV ($(git -C "$ROOT" rev-parse --short "$SHA"))"
  DIR=$ROOT/build-compare/$SHA
  if [ -z "$(find_bnn "$DIR/build")" ]; then
    echo "compare: building $A_NAME in ${DIR#"$ROOT"/}" >&2
    rm -rf "$DIR" && mkdir -p "$DIR/src" || die 3 "cannot create $DIR"
    git -C "$ROOT" archive "$SHA" | tar -x -C "$DIR/src" || die 3 "git archive $SHA failed"
    build_dir "$DIR/src" "$DIR/build" || die 3 "the build of $A_NAME failed (log: $DIR/build.log)"
    # keep the 4 most recent revisions' builds
    ls -1dt "$ROOT"/build-compare/*/ | tail -n +5 | xargs -r rm -rf
  fi
  touch "$DIR"
  BNN_A=$(find_bnn "$DIR/build")
  [ -n "$BNN_A" ] || die 3 "no batchnn binary in $DIR/build"
fi
# ---- B: the working tree (or a binary)
if [ -n "$BNN_B" ]; then
  [ -x "$BNN_B" ] || die 2 "--bnn: '$BNN_B' is not an executable"
  B_NAME=$BNN_B
else
  echo "compare: building the working tree in build/" >&2
  build_dir "$ROOT" "$ROOT/build" || die 3 "the build of the working tree failed (log: $ROOT/build.log)"
  BNN_B=$ROOT/build/src/batchnn
  [ -x "$BNN_B" ] || BNN_B=$(find_bnn "$ROOT/build")
  B_NAME="working tree"
fi

# the workloads' train arguments: from B (the working tree's bench/workloads.h), the same
# for both sides
export BNN_WL_BIN=$BNN_B
for w in "${IDS[@]}"; do
  bnn_workload_args "$w" >/dev/null || die 2 "workloads: unknown workload '$w' ($(bnn_workload_ids))"
done
TMP=$(mktemp -d) || die 3 "mktemp failed"
trap 'rm -rf "$TMP"' EXIT
TARGS=()
[ -n "$THREADS" ] && TARGS=(--threads "$THREADS")
isa() { env "$@" | grep -m1 '^isa:' | awk '{ print $2 }'; }
echo "compare: A = $A_NAME: $BNN_A${ENV_A[*]+ [${ENV_A[*]}]}, path $(isa ${ENV_A[@]+"${ENV_A[@]}"} "$BNN_A" --version)"
echo "compare: B = $B_NAME: $BNN_B${ENV_B[*]+ [${ENV_B[*]}]}, path $(isa ${ENV_B[@]+"${ENV_B[@]}"} "$BNN_B" --version)"
echo "compare: $WL, $ROUNDS rounds A B A B ..., each run 1 warm-up + $EPOCHS timed epochs${THREADS:+, $THREADS threads}"
for ((r = 1; r <= ROUNDS; r++)); do
  for w in "${IDS[@]}"; do
    read -ra ARGS <<< "$(bnn_workload_args "$w")"
    for side in A B; do
      if [ $side = A ]; then bin=$BNN_A envs=(${ENV_A[@]+"${ENV_A[@]}"}); else bin=$BNN_B envs=(${ENV_B[@]+"${ENV_B[@]}"}); fi
      ms=$(for v in ${envs[@]+"${envs[@]}"}; do export "${v?}"; done
           bnn_epoch_ms "$bin" "$TMP/log.csv" "$EPOCHS" "${ARGS[@]}" ${TARGS[@]+"${TARGS[@]}"} 2>"$TMP/err") ||
        { sed 's/^/  | /' "$TMP/err" >&2; die 3 "run $r of $w with $side failed"; }
      printf '%s\t%s\t%d\t%s\n' "$w" "$side" "$r" "$ms" >> "$TMP/runs.tsv"
    done
  done
  echo "compare: round $r of $ROUNDS done" >&2
done

"$PY" - "$TMP/runs.tsv" "$LEVEL" "${MAXSLOW:--1}" "$JSON" "$A_NAME" "$B_NAME" "$WL" <<'EOF'
import json, os, random, statistics, sys
path, level, maxslow, jpath, a_name, b_name, wl = sys.argv[1:8]
level, maxslow = float(level), float(maxslow)
runs = {}
for line in open(path):
    w, side, r, ms = line.split("\t")
    runs.setdefault(w, {"A": [], "B": []})[side].append(float(ms))

def interval(a, b, level, resamples=10000, seed=12345):
    """Percentile bootstrap of median(b) / median(a), resampling rounds: a round's A and B
    runs, adjacent in time, are drawn together, so a load that comes and goes hits both."""
    rng = random.Random(seed)
    k = len(a)
    ratios = []
    for _ in range(resamples):
        idx = rng.choices(range(k), k=k)
        ratios.append(statistics.median(b[i] for i in idx) / statistics.median(a[i] for i in idx))
    ratios.sort()
    lo = ratios[int((1 - level) / 2 * resamples)]
    hi = ratios[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return lo, hi

results, regressions = [], []
pct = f"{100 * level:g}%"
print(f"{'id':<4} {'A ms':>9} {'B ms':>9} {'B/A':>7}  {pct + ' interval':<17} verdict")
for w in wl.split(","):
    a, b = runs[w]["A"], runs[w]["B"]
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = mb / ma
    lo, hi = interval(a, b, level)
    verdict = "B slower" if lo > 1 else "B faster" if hi < 1 else "no difference"
    bad = maxslow >= 0 and lo > 1 + maxslow
    if bad:
        regressions.append(w)
    print(f"{w:<4} {ma:9.3f} {mb:9.3f} {ratio:7.3f}  [{lo:6.3f}, {hi:6.3f}]  {verdict}"
          f" ({100 * (ratio - 1):+.1f}%)" + ("  REGRESSION" if bad else ""))
    results.append({"id": w, "a_ms": a, "b_ms": b, "a_median_ms": ma, "b_median_ms": mb,
                    "ratio": ratio, "interval": [lo, hi], "level": level, "verdict": verdict,
                    "regression": bad})
if maxslow >= 0:
    if regressions:
        print(f"compare: {', '.join(regressions)} slower than A by more than {100 * maxslow:g}% "
              f"at the {pct} level")
    else:
        print(f"compare: ok, no workload slower than A by more than {100 * maxslow:g}% at the {pct} level")
if jpath:
    doc = {"a": a_name, "b": b_name, "level": level, "workloads": results}
    with open(jpath + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(jpath + ".tmp", jpath)
sys.exit(1 if regressions else 0)
EOF
