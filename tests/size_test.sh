#!/usr/bin/env bash
# size_test.sh - the sizes of the sources under src/ and kernels/ (*.c, *.h): no function
# passes FUNC_MAX (130) lines and no file FILE_MAX (800) lines (the rules say ~120 and ~800;
# the functions' margin is for a comment or two). A function is found by its column-0 `{` line: from
# there back to its signature's first line (the lines up to a blank line, a preprocessor line
# or a line ending in `;`, `}` or `*/`), and forward to the next column-0 `}`; its length
# counts the signature, the braces and everything between.
# ALLOWED lists the functions still to split ("FILE:FUNCTION"; the list only shrinks); an
# allowed function that fits is reported so that it leaves the list.
# The checker then proves it can fail: on a copy of the tree it plants a long function and a
# long file and must report each.
# usage: size_test.sh SOURCE_ROOT
set -u
SRC=${1:?usage: size_test.sh SOURCE_ROOT}
FUNC_MAX=130
FILE_MAX=800
ALLOWED=''

# check DIR: 0 when every function and file under DIR fits; else 1, each one too long on stderr
check() (
    cd "$1" || exit 1
    files=$(find src kernels -name '*.[ch]' | sort)
    [ -n "$files" ] || { echo "size: no sources under $1" >&2; exit 1; }
    fails=0
    for f in $files; do
        n=$(wc -l <"$f")
        if [ "$n" -gt "$FILE_MAX" ]; then
            echo "size: $f: $n lines (at most $FILE_MAX)" >&2
            fails=$((fails + 1))
        fi
    done
    long=$(awk -v max="$FUNC_MAX" '
        FNR == 1 { delete line; start = 0 }
        { line[FNR] = $0 }
        /^\{/ {
            s = FNR - 1
            while (s > 1 && line[s - 1] !~ /^[[:space:]]*$/ && line[s - 1] !~ /^[[:space:]]*#/ &&
                   line[s - 1] !~ /(;|\}|\*\/)[[:space:]]*$/)
                s--
            start = s > 0 ? s : FNR
        }
        /^\}/ && start {
            len = FNR - start + 1
            if (len > max) {
                name = line[start]
                for (i = start; i < FNR; i++)
                    if (line[i] ~ /\(/) { name = line[i]; break }
                sub(/\(.*/, "", name)
                n = split(name, w, /[[:space:]*]+/)
                print FILENAME ":" w[n] ":" start ":" len
            }
            start = 0
        }' $files)
    while IFS=: read -r f fn at len; do
        [ -n "$f" ] || continue
        case " $ALLOWED " in *" $f:$fn "*) continue ;; esac
        echo "size: $f:$at: $fn is $len lines (at most $FUNC_MAX)" >&2
        fails=$((fails + 1))
    done <<<"$long"
    for a in $ALLOWED; do
        grep -q "^$a:" <<<"$long" || echo "size: $a fits now: take it off ALLOWED" >&2
    done
    if [ "$fails" -gt 0 ]; then
        echo "size: $fails too long" >&2
        exit 1
    fi
    echo "size: $(echo "$files" | wc -l) files, every function at most $FUNC_MAX lines," \
        "every file at most $FILE_MAX"
)

check "$SRC" || exit 1

# Each planted violation must be caught: FILE gets TEXT appended, and the report names FILE.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
plant() {
    rm -rf "$T/tree" && mkdir "$T/tree" && cp -r "$SRC/src" "$SRC/kernels" "$T/tree/" || exit 1
    printf '%s\n' "$2" >>"$T/tree/$1" || exit 1
    if check "$T/tree" 2>"$T/err" >/dev/null; then
        echo "size: FAILED to catch $1 with $3" >&2
        exit 1
    fi
    grep -q "^size: $1.*$4" "$T/err" ||
        { echo "size: wrong report for $1:" >&2; cat "$T/err" >&2; exit 1; }
}
body=$(for i in $(seq 1 "$FUNC_MAX"); do echo "    x += $i;"; done)
long_fn=$(printf '\nstatic int\nplanted_long(int x,\n             int y)\n{\n%s\n    return x + y;\n}' "$body")
plant src/io/csv.c "$long_fn" \
    "a long function" "planted_long is"
plant src/core/arch.c "$(seq 1 "$FILE_MAX" | sed 's|.*|/* filler */|')" "a long file" \
    "lines (at most $FILE_MAX)"
# and a function of FUNC_MAX lines, signature and braces included, passes
rm -rf "$T/tree" && mkdir "$T/tree" && cp -r "$SRC/src" "$SRC/kernels" "$T/tree/" || exit 1
printf '\nstatic int planted_fits(int x)\n{\n%s\n}\n' "$(head -n $((FUNC_MAX - 3)) <<<"$body")" \
    >>"$T/tree/kernels/dispatch.c"
check "$T/tree" >/dev/null 2>"$T/err" ||
    { echo "size: a function of $FUNC_MAX lines was reported:" >&2; cat "$T/err" >&2; exit 1; }
echo "size: a planted long function and a planted long file caught"
