#!/usr/bin/env bash
# links_test.sh - the documentation's links lead somewhere, and README opens with its map.
#   usage: links_test.sh SOURCE_DIR
# Every Markdown link and image `](target)` in README.md, bench/*.md and docs/*.md (outside
# fenced code and `code spans`) must name a file or directory that exists inside the
# repository (resolved from the linking file's directory; no path outside it, such as a
# ../shared beside the checkout), and a `#anchor` must name a heading of its target .md file
# (GitHub's rule: lower case, punctuation dropped, spaces to '-'). README's first screen must
# be the two commands that set up and run, then the map. A check of a scratch tree with broken
# links first shows that the checker catches each kind.
set -u
. "$(dirname "$0")/lib.sh"

SRC=$(cd "${1:?usage: links_test.sh SOURCE_DIR}" && pwd -P)
not() { ! "$@"; }

# The anchors of a Markdown file, one a line (duplicates get -1, -2, ... as on GitHub).
anchors() {
  awk '/^```/ {code = !code; next}
       !code && /^#+ / {
         s = $0; sub(/^#+ +/, "", s); s = tolower(s)
         gsub(/[^a-z0-9 _-]/, "", s); gsub(/ /, "-", s)
         n = seen[s]++; print (n ? s "-" n : s)
       }' "$1"
}

# The link targets of a Markdown file, "LINE TARGET" a line.
targets() {
  awk '/^```/ {code = !code; next}
       !code {
         line = $0; gsub(/`[^`]*`/, "", line)
         while (match(line, /\]\([^) ]*\)/)) {
           print NR " " substr(line, RSTART + 2, RLENGTH - 3)
           line = substr(line, RSTART + RLENGTH)
         }
       }' "$1"
}

# Checks every link of the files given, in repository ROOT; prints one line per bad link and
# returns the number of bad links (capped at 100).
check_links() {
  local root=$1 bad=0 f line target path anchor dir full
  shift
  for f in "$@"; do
    dir=$(dirname "$f")
    while read -r line target; do
      case $target in
        http://* | https://* | mailto:*) continue ;;
      esac
      path=${target%%#*}
      anchor=""
      [ "$path" = "$target" ] || anchor=${target#*#}
      if [ -z "$path" ]; then
        full=$f
      else
        full=$(realpath -m "$dir/$path")
        case $full/ in
          "$root"/*) ;;
          *) echo "${f#"$root"/}:$line: $target: outside the repository"; bad=$((bad + 1)); continue ;;
        esac
        if [ ! -e "$full" ]; then
          echo "${f#"$root"/}:$line: $target: no such file"; bad=$((bad + 1)); continue
        fi
      fi
      if [ -n "$anchor" ] && [ -f "$full" ] && [ "${full%.md}" != "$full" ] &&
         ! anchors "$full" | grep -qxF -- "$anchor"; then
        echo "${f#"$root"/}:$line: $target: no heading with that anchor"; bad=$((bad + 1))
      fi
    done < <(targets "$f")
  done
  [ "$bad" -le 100 ] || bad=100
  return "$bad"
}

# README's first screen: the two commands of a fresh machine, then the map.
first_screen() {
  local readme=$1
  head -20 "$readme" | grep -qxF 'bash .ci/setup && build/src/batchnn demo' &&
    head -20 "$readme" | grep -qxF 'bash .ci/setup && bash tests/run.sh' &&
    [ "$(grep -m1 '^## ' "$readme")" = "## Map" ] &&
    [ "$(grep -n -m1 '^## Map$' "$readme" | cut -d: -f1)" -le 40 ]
}

# --- the checker catches what it should, on a scratch repository -----------------------------
mkdir -p "$T/repo/docs" "$T/repo/bench"
cat >"$T/repo/README.md" <<'EOF'
# t

```sh
bash .ci/setup && build/src/batchnn demo
```

## Intro

[fine](docs/a.md#part-two) [fine too](#intro) `[not a link](nowhere.md)`
[missing](docs/none.md) [bad anchor](docs/a.md#part-three) [outside](../shared/notes.md)

```
[in code](nowhere.md)
```
EOF
# a heading with punctuation: its anchor is part-two-the-end, so README's #part-two is bad too
printf '# A\n\n## Part two: the (end)\n\n[up](../README.md#intro) [self](#part-two-the-end)\n' \
  >"$T/repo/docs/a.md"
check_links "$T/repo" "$T/repo/README.md" "$T/repo/docs/a.md" >"$T/bad"
check "the checker counts four bad links in the scratch tree" test $? -eq 4
check "it names a missing file" grep -q 'README.md:10: docs/none.md: no such file' "$T/bad"
check "it names a missing anchor" grep -q 'docs/a.md#part-three: no heading' "$T/bad"
check "it refuses a path outside the repository" \
  grep -q '../shared/notes.md: outside the repository' "$T/bad"
check "it names an anchor that differs from the heading's" \
  grep -q 'README.md:9: docs/a.md#part-two: no heading' "$T/bad"
check "links in code are not links" not grep -q nowhere "$T/bad"
check "a first screen without the map is refused" not first_screen "$T/repo/README.md"

# --- the repository's documentation ----------------------------------------------------------
docs=("$SRC/README.md")
for f in "$SRC"/bench/*.md "$SRC"/docs/*.md; do
  [ -f "$f" ] && docs+=("$f")
done
check "bench/README.md and docs/ exist" test -f "$SRC/bench/README.md" -a -d "$SRC/docs"
check_links "$SRC" "${docs[@]}" >"$T/repo-bad"
n=$?
[ "$n" -eq 0 ] || cat "$T/repo-bad"
check "every link of README.md, bench/*.md and docs/*.md resolves (${#docs[@]} files)" test "$n" -eq 0
check "README's first screen: the two commands, then the map" first_screen "$SRC/README.md"

summary links_test
