#!/usr/bin/env bash
# signals_test.sh - write failures and stop signals lose nothing but what failed (README
# "Outputs, inputs, signals and memory"): a closed pipe or a file-size limit is a write error
# like a full disk (reported, the other outputs written, exit 1); a stop signal leaves no
# temporary file in any command and never waits for a writer; a log written by one run is
# refused to another. FIFOs live in the temporary directory; waits poll with generous limits.
# usage: signals_test.sh path/to/batchnn
set -u
BNN=${1:?usage: signals_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
# on exit, background runs still going are ended (jobs -p: this shell's own, never a reused pid)
trap 'for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
"$BNN" train --arch 2,3,1 --data synth:xor --samples 64 --epochs 5 --quiet --save m.st
no_temps() { test -z "$(ls | grep '\.tmp\.')"; }
# wait_for SECONDS CMD...: polls CMD every 0.1 s; false when it never held
wait_for() {
  local n=$(($1 * 10)); shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}
alive() { kill -0 "$1" 2>/dev/null; }
# blocked_in PID PATTERN: the kernel function the process sleeps in matches (opening a FIFO:
# wait_for_partner; reading a pipe: pipe_read or anon_pipe_read)
blocked_in() { grep -qE "$2" "/proc/$1/wchan" 2>/dev/null; }
has_fd_on() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q -- "$2"; }

# --- a pipe whose reader is gone: reported, the model still saved, exit 1 ----------------------
# fd 3 writes to a FIFO whose one reader read a line and left (as `| head -1` does, but
# without racing the reader)
mkfifo gone.fifo
head -1 <gone.fifo >/dev/null & h=$!
exec 3>gone.fifo
echo first >&3
wait $h
"$BNN" train --arch 2,3,1 --data synth:xor --samples 64 --epochs 5 --quiet --log - --save p.st >&3 2>err; st=$?
check "--log - on a closed pipe: exit 1, not SIGPIPE (got $st)" test "$st" -eq 1
check "--log - on a closed pipe: says so" grep -q "log -: cannot write: Broken pipe; training goes on" err
check "--log - on a closed pipe: the model is saved" sh -c "\"$BNN\" info p.st >/dev/null"
"$BNN" gen synth:xor --samples 100000 --out - >&3 2>err; st=$?
check "gen to a closed pipe: exit 1 (got $st)" test "$st" -eq 1
check "gen to a closed pipe: one line" grep -qx "batchnn: standard output: cannot write: Broken pipe" err
"$BNN" predict --model m.st --data synth:xor --samples 100000 >&3 2>err; st=$?
check "predict to a closed pipe: exit 1 (got $st)" test "$st" -eq 1
check "predict to a closed pipe: one line" grep -qx "batchnn: standard output: cannot write: Broken pipe" err
exec 3>&-

# --- a --log FIFO whose reader exits during the run ---------------------------------------------
mkfifo log.fifo
exec 4<>log.fifo # a reader (and writer) held here, so batchnn's open does not wait
"$BNN" train --arch 2,16,1 --data synth:uniform --samples 4096 --epochs 1000000 --quiet \
  --log log.fifo --save f.st 2>err 4<&- & p=$!
read -r -u 4 header # batchnn opened the FIFO and wrote the header
exec 4<&-           # the last reader is gone
wait_for 60 grep -q "log log.fifo: cannot write: Broken pipe; training goes on" err
check "a --log FIFO whose reader left: reported" grep -q "log log.fifo: cannot write: Broken pipe; training goes on" err
check "a --log FIFO whose reader left: training goes on" alive "$p"
kill -TERM "$p"; wait "$p"; st=$?
check "a --log FIFO whose reader left: exit 1 (got $st)" test "$st" -eq 1
check "a --log FIFO whose reader left: the model is saved" sh -c "\"$BNN\" info f.st >/dev/null"

# --- a file-size limit (ulimit -f) during --save -----------------------------------------------
( ulimit -f 4; exec "$BNN" train --arch 2,2048,1 --data synth:xor --samples 64 --epochs 3 --quiet \
  --save big.st --log small.csv ) 2>err; st=$?
check "ulimit -f during --save: exit 1, not SIGXFSZ (got $st)" test "$st" -eq 1
check "ulimit -f during --save: names --save and the error" grep -q "save big.st: cannot write: File too large" err
check "ulimit -f during --save: no partial model" test ! -e big.st
check "ulimit -f during --save: the log is written" test "$(wc -l <small.csv)" -eq 4
check "ulimit -f during --save: no temporary files" no_temps

# --- a stop signal in gen and predict: no temporary file, exit 128 + signal, one line ----------
for cmd in gen predict; do
  if [ $cmd = gen ]; then
    "$BNN" gen synth:uniform --arch 16,1 --samples 2^24 --out big.csv 2>err & p=$!
  else
    "$BNN" predict --model m.st --data synth:uniform --samples 2^23 --out big.csv 2>err & p=$!
  fi
  wait_for 120 sh -c 'ls | grep -q "^big.csv.tmp."'
  check "$cmd: the temporary output appeared" sh -c 'ls | grep -q "^big.csv.tmp."'
  kill -TERM "$p"; wait "$p"; st=$?
  check "$cmd: SIGTERM exits 143 (got $st)" test "$st" -eq 143
  check "$cmd: SIGTERM removes the temporary file" no_temps
  check "$cmd: SIGTERM says so" grep -q "batchnn: stopped by SIGTERM" err
  check "$cmd: no output file" test ! -e big.csv
done

# --- train blocked on a --data FIFO: a stop signal ends the wait --------------------------------
if [ -r /proc/self/wchan ]; then
  mkfifo nowriter.fifo
  "$BNN" train --arch 2,3,1 --data nowriter.fifo --epochs 5 --save nw.st 2>err & p=$!
  wait_for 30 blocked_in "$p" wait_for_partner # open() waits for a writer
  kill -TERM "$p"
  wait_for 10 sh -c "! kill -0 $p 2>/dev/null"
  check "a --data FIFO without a writer: SIGTERM ends the wait" sh -c "! kill -0 $p 2>/dev/null"
  kill -KILL "$p" 2>/dev/null; wait "$p"; st=$?
  check "a --data FIFO without a writer: exit 143 (got $st)" test "$st" -eq 143
  check "a --data FIFO without a writer: says so" grep -q "stopped by SIGTERM: nowriter.fifo: interrupted while opening it" err

  mkfifo silent.fifo
  exec 5<>silent.fifo # a writer that never writes
  "$BNN" train --arch 2,3,1 --data silent.fifo --epochs 5 --save sw.st 2>err & p=$!
  wait_for 30 has_fd_on "$p" silent.fifo
  wait_for 30 blocked_in "$p" pipe_read
  kill -TERM "$p"
  wait_for 10 sh -c "! kill -0 $p 2>/dev/null"
  check "a --data FIFO whose writer is silent: SIGTERM ends the read" sh -c "! kill -0 $p 2>/dev/null"
  kill -KILL "$p" 2>/dev/null; wait "$p"; st=$?
  exec 5>&-
  check "a --data FIFO whose writer is silent: exit 143 (got $st)" test "$st" -eq 143
  check "a --data FIFO whose writer is silent: says so" grep -q "stopped by SIGTERM: silent.fifo: interrupted while reading it" err
  check "nothing saved" test ! -e nw.st -a ! -e sw.st
fi

# --- a second stop signal in train: at once, with a message -------------------------------------
"$BNN" train --arch 32,64,1 --data synth:uniform --samples 4096 --epochs 10 --gradient finite-diff \
  --engine reference --save slow.st 2>err & p=$!
wait_for 60 grep -q "engine reference" err # the banner: training has started
kill -TERM "$p"
sleep 1 # two signals sent at once may merge into one
kill -TERM "$p"
wait_for 30 sh -c "! kill -0 $p 2>/dev/null"
check "a second SIGTERM: exits at once" sh -c "! kill -0 $p 2>/dev/null"
kill -KILL "$p" 2>/dev/null; wait "$p"; st=$?
check "a second SIGTERM: exit 143 (got $st)" test "$st" -eq 143
check "a second SIGTERM: says so" grep -q "stopped by SIGTERM (a second stop signal)" err
check "a second SIGTERM: no temporary files" no_temps

# --- a .npy read in windows ahead by a thread of its own: a stop signal ends the run ----------
# (BATCHNN_NPY_WINDOWS=1 and small windows, tests only: the reader thread is busy all along)
"$BNN" gen synth:uniform --arch 2,1 --samples 200000 --out ahead.npy >/dev/null
BATCHNN_NPY_WINDOWS=1 BATCHNN_NPY_AHEAD_BYTES=65536 "$BNN" train --arch 2,16,1 \
  --data ahead.npy --epochs 1000000 --quiet --log ahead.csv --save ahead.st 2>err & p=$!
wait_for 60 sh -c '[ "$(cat ahead.csv 2>/dev/null | wc -l)" -ge 3 ]'
kill -TERM "$p"
wait_for 30 sh -c "! kill -0 $p 2>/dev/null"
check "windows read ahead: SIGTERM ends the run" sh -c "! kill -0 $p 2>/dev/null"
kill -KILL "$p" 2>/dev/null; wait "$p"; st=$?
check "windows read ahead: exit 143 after the epoch (got $st)" test "$st" -eq 143
check "windows read ahead: the model is saved" sh -c "\"$BNN\" info ahead.st >/dev/null"
check "windows read ahead: no temporary files" no_temps

# --- two runs on one --log ----------------------------------------------------------------------
"$BNN" train --arch 2,16,1 --data synth:uniform --samples 4096 --epochs 1000000 --quiet \
  --log shared.csv 2>/dev/null & p=$!
wait_for 60 sh -c '[ "$(cat shared.csv 2>/dev/null | wc -l)" -ge 3 ]'
bad "a second run on the same --log" 1 "log shared.csv: is being written by another process" \
  "$BNN" train --arch 2,3,1 --data synth:xor --samples 4 --epochs 1 --quiet --log shared.csv
if grep -q "(pid " err; then
  check "the holder's pid is named" grep -q "(pid $p)" err
fi
check "the first run's log is intact" sh -c 'head -1 shared.csv | grep -q "^epoch,loss" && [ "$(wc -l <shared.csv)" -ge 3 ]'
kill -TERM "$p"; wait "$p"
check "no temporary files" no_temps
summary signals
