#!/usr/bin/env bash
# crash_test.sh - crash safety of `train --save --checkpoint --log`: kill -9 at seeded random
# moments (24 runs) and SIGTERM at others (6 runs). After every kill:
#   - the model file is the old one or the complete new one, byte for byte (never a part);
#   - a surviving checkpoint resumes to bitwise the model of an uninterrupted run;
#   - the log is a prefix of the uninterrupted run's log (epoch and loss columns);
# and after a caught signal no temporary file is left. Kill moments are drawn from a fixed seed
# as fractions of the uninterrupted run's measured duration, so they land all over the run.
# usage: crash_test.sh path/to/batchnn
set -u
BNN=${1:?usage: crash_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"
RUN="train --arch 2,16,16,1 --data synth:uniform --samples 2^13 --epochs 400 --quiet"
RANDOM=20261128

start=$(date +%s%N)
ok "uninterrupted run" "$BNN" $RUN --save "$T/ref.st" --log "$T/ref.csv"
duration_ms=$((($(date +%s%N) - start) / 1000000))
ok "an older model" "$BNN" train --arch 2,16,16,1 --data synth:uniform --samples 64 --epochs 1 \
  --quiet --save "$T/old.st"
cut -d, -f1,2 "$T/ref.csv" >"$T/ref.rows"

survived=0
for i in $(seq 1 30); do
  sig=KILL; [ "$i" -gt 24 ] && sig=TERM
  cp "$T/old.st" "$T/m.st"; rm -f "$T/ck.st" "$T/log.csv" "$T"/*.tmp.*
  # a moment between 0 and 1.2 x the run's duration
  at_ms=$((RANDOM % (duration_ms * 12 / 10 + 1)))
  "$BNN" $RUN --save "$T/m.st" --checkpoint "$T/ck.st" --checkpoint-every 25 --log "$T/log.csv" \
    2>/dev/null & p=$!
  sleep "$(printf '%d.%03d' $((at_ms / 1000)) $((at_ms % 1000)))"
  kill -$sig $p 2>/dev/null; wait $p 2>/dev/null; st=$?
  if cmp -s "$T/m.st" "$T/old.st"; then state=old
  elif cmp -s "$T/m.st" "$T/ref.st"; then state=new
  elif [ "$sig" = TERM ] && "$BNN" info "$T/m.st" >/dev/null 2>&1; then state=saved-on-signal
  else state=broken; fi
  check "run $i (SIG$sig at ${at_ms} ms, exit $st): the model is old or new, not $state" test $state != broken
  if [ -s "$T/log.csv" ]; then
    n=$(($(wc -l <"$T/log.csv")))
    check "run $i: the log is a prefix of the full log" \
      test "$(cut -d, -f1,2 "$T/log.csv" | head -n "$n")" = "$(head -n "$n" "$T/ref.rows")"
  fi
  if [ "$sig" = TERM ] && [ "$st" -ne 0 ]; then
    check "run $i: SIGTERM exits 143 (got $st)" test "$st" -eq 143
    check "run $i: no temporary file after SIGTERM" test -z "$(ls "$T" | grep '\.tmp\.')"
    # a SIGTERM before the first epoch ends the run with nothing to save; after it, the model
    # of the last finished epoch is saved, and it is the final checkpoint's: resuming that
    # checkpoint for 0 epochs gives the same file
    if [ -s "$T/log.csv" ] && [ "$(wc -l <"$T/log.csv")" -gt 1 ]; then
      check "run $i: the model was saved on SIGTERM" test "$state" != old
      ep=$(($(wc -l <"$T/log.csv") - 1))
      ok "run $i: resume the final checkpoint for 0 epochs" "$BNN" ${RUN/--epochs 400/--epochs $ep} \
        --resume "$T/ck.st" --save "$T/zero.st"
      check "run $i: the model saved on SIGTERM is the final checkpoint's" cmp -s "$T/zero.st" "$T/m.st"
    fi
  fi
  if [ -e "$T/ck.st" ]; then
    survived=$((survived + 1))
    rm -f "$T/res.st"
    ok "run $i: resume from the surviving checkpoint" "$BNN" $RUN --resume "$T/ck.st" --save "$T/res.st"
    check "run $i: resumed == uninterrupted, bitwise" cmp -s "$T/res.st" "$T/ref.st"
  fi
done
echo "crash: $survived of 30 runs left a checkpoint to resume from"
check "some runs were killed after a checkpoint" test "$survived" -ge 5
summary crash
