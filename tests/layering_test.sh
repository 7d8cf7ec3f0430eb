#!/usr/bin/env bash
# layering_test.sh - the layers of the source tree, checked by reading the #include lines
# (issue 21). Every file under src/ and kernels/ belongs to a layer, ranked bottom to top:
#   core (src/core) < kernels (kernels/) < io < data < dist < engine < train < api < cli
# and each layer's interface is one header: core/bnn_core.h, bnn_kernels.h (with
# bnn_narrow.h), io/bnn_io.h, data/bnn_data.h, dist/bnn_dist.h, engine/bnn_engine.h,
# train/bnn_train_internal.h, api/bnn_api.h. The rules, each a failure when broken:
#   1. no file includes a header of a layer above its own (headers and sources alike), and
#      every quoted include resolves to a file of a layer or the public header batchnn.h;
#   2. kernels/ includes only core (core/bnn_core.h) and kernels/ headers;
#   3. src/cli includes only batchnn.h, its own headers (src/cli/*.h), bench's workload table
#      (workloads.h) and the one internal interface train/bnn_train_internal.h; the one
#      exception: src/cli/bench.c and bench_bounds.c may include bnn_kernels.h (bench's kernel
#      micro-benchmarks and machine probes);
#   4. a header of src/engine other than bnn_engine.h (engines.h: the engines themselves) is
#      private to src/engine;
#   5. no src/cli file names an engine's own functions (bnn_fast_*, bnn_ref_*, bnn_fd_*,
#      bnn_notes_*, bnn_team_*), nor the kernel table outside bench.c.
# Quoted includes resolve as the compiler does: the including file's directory first, then
# include/, src/, kernels/ (and bench/ for the command). System headers (<...>) are not
# checked; tests/, bench/ and examples/ may include anything.
# The checker then proves it can fail: on a copy of the tree it plants one violation of each
# rule at a time and must report every one.
# usage: layering_test.sh SOURCE_ROOT
set -u
SRC=${1:?usage: layering_test.sh SOURCE_ROOT}
fail() {
    echo "layering: $*" >&2
    fails=$((fails + 1))
}

# check DIR: 0 when the tree at DIR keeps every rule; else 1, each violation on stderr
check() (
cd "$1" || exit 1
fails=0
# rank FILE: the layer rank of a path relative to ROOT ("" when in no layer)
rank() {
    case $1 in
    src/core/*) echo 0 ;;
    kernels/*) echo 1 ;;
    src/io/*) echo 2 ;;
    src/data/*) echo 3 ;;
    src/dist/*) echo 4 ;;
    src/engine/*) echo 5 ;;
    src/train/*) echo 6 ;;
    src/api/*) echo 7 ;;
    src/cli/*) echo 8 ;;
    include/batchnn.h) echo -1 ;; # the public header: below everything
    *) echo "" ;;
    esac
}

# resolve FILE NAME: the path (relative to ROOT) a quoted include of NAME in FILE opens
resolve() {
    local d
    d=$(dirname "$1")
    for dir in "$d" include src kernels bench; do
        [ "$dir" = bench ] && [ "${1#src/cli/}" = "$1" ] && continue
        if [ -f "$dir/$2" ]; then
            echo "$dir/$2" | sed 's|^\./||'
            return
        fi
    done
}

files=$(find src kernels -name '*.[ch]' | sort)
[ -n "$files" ] || { echo "layering: no sources under $ROOT" >&2; exit 1; }
for f in $files; do
    r=$(rank "$f")
    if [ -z "$r" ]; then
        fail "$f: in no layer (src/LAYER/ or kernels/)"
        continue
    fi
    while IFS= read -r name; do
        h=$(resolve "$f" "$name")
        if [ -z "$h" ]; then
            fail "$f: includes \"$name\", which is no file of the tree"
            continue
        fi
        hr=$(rank "$h")
        if [ -z "$hr" ] && [ "${h#bench/}" = "$h" ]; then
            fail "$f: includes $h, which is in no layer"
            continue
        fi
        if [ -n "$hr" ] && [ "$hr" -gt "$r" ]; then # rule 1
            fail "$f: includes $h, a layer above its own"
        fi
        case $f in # rule 2
        kernels/*)
            case $h in
            kernels/* | src/core/* | include/batchnn.h) ;;
            *) fail "$f: a kernel file includes $h (kernels include only core)" ;;
            esac ;;
        esac
        case $f in # rule 3
        src/cli/*)
            case $h in
            include/batchnn.h | src/cli/* | bench/workloads.h | src/train/bnn_train_internal.h) ;;
            kernels/bnn_kernels.h)
                [ "$f" = src/cli/bench.c ] || [ "$f" = src/cli/bench_bounds.c ] ||
                    fail "$f: the command includes $h (only bench's micro-benchmarks may)" ;;
            *) fail "$f: the command includes $h (it may include batchnn.h, src/cli/*.h," \
                "workloads.h and train/bnn_train_internal.h)" ;;
            esac ;;
        esac
        case $h in # rule 4
        src/engine/bnn_engine.h) ;;
        src/engine/*) [ "${f#src/engine/}" != "$f" ] ||
            fail "$f: includes $h, private to src/engine (use engine/bnn_engine.h)" ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

# rule 5: the command calls no engine and no kernel directly
while IFS= read -r hit; do
    fail "${hit%:*}: the command names an engine's own ${hit##*:} (use bnn_engine_*)"
done < <(grep -noE '\bbnn_(fast|ref|fd|notes|team)_[a-z0-9_]+' src/cli/*.[ch])
while IFS= read -r hit; do
    fail "${hit%:*}: the command calls ${hit##*:}) (bnn_engine_isa() names the CPU path)"
done < <(grep -noE '\bbnn_kernels(_[a-z0-9]+)?\(' src/cli/*.[ch] | grep -vE '^src/cli/bench(_bounds)?\.c:')

if [ "$fails" -gt 0 ]; then
    echo "layering: $fails violation(s)" >&2
    exit 1
fi
echo "layering: $(echo "$files" | wc -l) files, every include points down"
)

check "$SRC" || exit 1

# Each planted violation must be caught: FILE gets the line TEXT (after its first line).
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
plant() {
    rm -rf "$T/tree" && mkdir "$T/tree" &&
        cp -r "$SRC/include" "$SRC/src" "$SRC/kernels" "$SRC/bench" "$T/tree/" || exit 1
    sed -i "1a $2" "$T/tree/$1" || exit 1
    if check "$T/tree" 2>"$T/err" >/dev/null; then
        echo "layering: FAILED to catch $1 with '$2'" >&2
        exit 1
    fi
    grep -q "^layering: $1" "$T/err" || { echo "layering: wrong report for $1:" >&2; cat "$T/err" >&2; exit 1; }
}
plant src/io/table.c '#include "engine/bnn_engine.h"'                 # rule 1, a source
plant src/data/bnn_data.h '#include "train/bnn_train_internal.h"'     # rule 1, a header
plant src/core/bnn_core.h '#include "bnn_kernels.h"'                  # rule 1, core below kernels
plant src/io/csv.c '#include "bnn_internal.h"'                        # rule 1, no such file
plant kernels/dispatch.c '#include "io/bnn_io.h"'                     # rule 2
plant src/cli/eval.c '#include "bnn_kernels.h"'                       # rule 3
plant src/cli/predict.c '#include "data/bnn_data.h"'                  # rule 3
plant src/train/train.c '#include "engine/engines.h"'                 # rule 4
plant src/cli/report.c 'static void f(void) { bnn_fast_free(0); }'    # rule 5
plant src/cli/main.c 'static const char *f(void) { return bnn_kernels()->isa; }' # rule 5
echo "layering: each planted violation caught"
