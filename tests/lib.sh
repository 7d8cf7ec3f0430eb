# lib.sh - what the shell tests share: a temp dir removed on exit, and three checks that count
# passes and failures. Source it after setting BNN; finish with `summary NAME`.
# Every case names itself; a failure shows the command and the first lines of its stderr.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { # ok NAME CMD...: exit 0
  local name=$1; shift
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -eq 0 ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL $name: exit $got from: $*"; sed 's/^/  | /' "$T/err" | head -5; fi
}
bad() { # bad NAME STATUS PATTERN CMD...: exits STATUS with one stderr line matching PATTERN
  local name=$1 want=$2 pat=$3; shift 3
  "$@" >"$T/out" 2>"$T/err"; local got=$?
  if [ "$got" -ne "$want" ]; then
    fail=$((fail + 1)); echo "FAIL $name: exit $got, want $want: $*"; sed 's/^/  | /' "$T/err" | head -5
  elif ! grep -qE -- "$pat" "$T/err"; then
    fail=$((fail + 1)); echo "FAIL $name: stderr lacks /$pat/:"; sed 's/^/  | /' "$T/err" | head -5
  elif [ "$(wc -l <"$T/err")" -ne 1 ]; then
    fail=$((fail + 1)); echo "FAIL $name: $(wc -l <"$T/err") lines on stderr, want 1"; sed 's/^/  | /' "$T/err" | head -5
  else pass=$((pass + 1)); fi
}
check() { # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $name"; fi
}
summary() { # summary NAME: the closing line, and the exit status
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
