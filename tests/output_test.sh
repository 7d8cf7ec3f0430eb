#!/usr/bin/env bash
# output_test.sh - what batchnn does to the paths it writes and to long runs: the output rules
# (standard output, devices, FIFOs, sockets, symlinks, modes, read-only files), outputs checked
# before training, late write failures that lose nothing else, signals, --resume settings,
# non-finite results, write errors on standard output, and a data file truncated under a run.
# Device nodes, FIFOs and sockets are made in a temporary directory (never the real /dev);
# cases that need root for mknod are skipped without it.
# usage: output_test.sh path/to/batchnn
set -u
BNN=${1:?usage: output_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"
XOR="--arch 2,3,1 --data synth:xor --samples 64 --quiet"

# --- standard output and device nodes --------------------------------------------------------
ok "train" "$BNN" train $XOR --epochs 50 --save "$T/m.st"
ok "predict to -" "$BNN" predict --model "$T/m.st" --data synth:xor --samples 4 --out -
check "predict - wrote 4 rows" test "$(wc -l <"$T/out")" -eq 4
ok "gen to -" "$BNN" gen synth:xor --samples 4 --out -
check "gen - wrote the truth table" test "$(sed -n 4p "$T/out")" = "1,1,0"

if mknod "$T/null" c 1 3 2>/dev/null && mknod "$T/full" c 1 7 2>/dev/null &&
   echo x >"$T/null" 2>/dev/null; then
  ok "predict to a null device" "$BNN" predict --model "$T/m.st" --data synth:xor --out "$T/null"
  check "the null device is still a device" test -c "$T/null"
  ok "gen to a null device" "$BNN" gen synth:xor --samples 4 --out "$T/null.npy" 2>/dev/null
  ok "bench json to a null device" "$BNN" bench --workloads W1 --samples 4096 --repeat 1 --json "$T/null"
  check "still a device after bench --json" test -c "$T/null"
  # a full disk: the log fails, training goes on, the model is still saved, the exit is 1
  "$BNN" train $XOR --epochs 5 --log "$T/full" --save "$T/saved.st" 2>"$T/err"; st=$?
  check "--log on a full device exits 1 (got $st)" test "$st" -eq 1
  check "--log failure is named" grep -q -- "--log $T/full: cannot write: No space left" "$T/err"
  check "--save written despite the log failure" test -s "$T/saved.st"
  check "the full device is still a device" test -c "$T/full"
  # a checkpoint that cannot be written is reported, training goes on, exit 1
  "$BNN" train $XOR --epochs 6 --checkpoint "$T/full" --checkpoint-every 2 --save "$T/saved2.st" \
    2>"$T/err"; st=$?
  check "failing checkpoints exit 1 (got $st)" test "$st" -eq 1
  check "each checkpoint failure reported (3, and the final retry)" test "$(grep -c 'training goes on' "$T/err")" -eq 4
  check "--save written despite checkpoint failures" test -s "$T/saved2.st"
  "$BNN" eval --model "$T/m.st" --data synth:xor >"$T/full" 2>"$T/err"; st=$?
  check "eval > full device exits 1 (got $st)" test "$st" -eq 1
  check "eval names standard output" grep -q "standard output: cannot write" "$T/err"
  for c in "info $T/m.st" "gradcheck --arch 2,2,1" "predict --model $T/m.st --data synth:xor"; do
    "$BNN" $c >"$T/full" 2>/dev/null; st=$?
    check "$c > full device exits 1 (got $st)" test "$st" -eq 1
  done
  "$BNN" train $XOR --epochs 2 >"$T/full" 2>/dev/null
  "$BNN" train --arch 2,3,1 --data synth:xor --epochs 2 >"$T/full" 2>/dev/null; st=$?
  check "train summary > full device exits 1 (got $st)" test "$st" -eq 1
  # a symlink to a device (like /dev/stdout -> /proc/self/fd/1) stays a symlink
  ln -s "$T/null" "$T/devlink"
  ok "predict through a link to a device" "$BNN" predict --model "$T/m.st" --data synth:xor --out "$T/devlink"
  check "the link is still a link" test -L "$T/devlink"
else
  echo "skip: device-node cases (mknod needs root and a filesystem without nodev)"
fi

# a link to /proc/self/fd/1, as /dev/stdout is: written through, whatever stdout is
ln -s /proc/self/fd/1 "$T/stdout"
check "predict --out a /dev/stdout-like link into a pipe" \
  test "$("$BNN" predict --model "$T/m.st" --data synth:xor --samples 4 --out "$T/stdout" | wc -l)" -eq 4
"$BNN" predict --model "$T/m.st" --data synth:xor --samples 4 --out "$T/stdout" >"$T/so.csv"
check "... and into a file" test "$(wc -l <"$T/so.csv")" -eq 4
check "the link is still a link" test -L "$T/stdout"

# --- FIFOs and sockets: written directly -----------------------------------------------------
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/fifo.out" & reader=$!
ok "predict into a FIFO" "$BNN" predict --model "$T/m.st" --data synth:xor --samples 4 --out "$T/fifo"
wait $reader
check "the FIFO reader got 4 rows" test "$(wc -l <"$T/fifo.out")" -eq 4
check "the FIFO is still a FIFO" test -p "$T/fifo"
cat "$T/fifo" >"$T/fifo.log" & reader=$!
ok "train --log into a FIFO" "$BNN" train $XOR --epochs 3 --log "$T/fifo"
wait $reader
check "the FIFO log has a header and 3 rows" test "$(wc -l <"$T/fifo.log")" -eq 4
if command -v python3 >/dev/null; then
  python3 - "$T/sock" "$T/sock.out" <<'PY' & listener=$!
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); data = b""
while True:
    b = c.recv(65536)
    if not b: break
    data += b
open(sys.argv[2], "wb").write(data)
PY
  for _ in $(seq 50); do [ -S "$T/sock" ] && break; sleep 0.1; done
  ok "predict into a Unix socket" "$BNN" predict --model "$T/m.st" --data synth:xor --samples 4 --out "$T/sock"
  wait $listener
  check "the socket listener got 4 rows" test "$(wc -l <"$T/sock.out")" -eq 4
  check "the socket is still a socket" test -S "$T/sock"
fi

# --- regular files: atomic, symlinks followed, modes kept, read-only refused ----------------
cp "$T/m.st" "$T/target.st"; ln -s target.st "$T/link.st"; chmod 600 "$T/target.st"
ok "save through a relative symlink" "$BNN" train $XOR --epochs 3 --save "$T/link.st"
check "the link is still a link" test -L "$T/link.st"
check "the target was replaced" test "$(stat -c %Y "$T/target.st")" -ge "$(stat -c %Y "$T/m.st")"
check "the target's mode 0600 is kept" test "$(stat -c %a "$T/target.st")" = 600
check "the replaced target is a model" "$BNN" info "$T/link.st"
ln -s "$T/new-target.st" "$T/dangling.st"
ok "save through a dangling link" "$BNN" train $XOR --epochs 3 --save "$T/dangling.st"
check "the dangling link's target was created" test -s "$T/new-target.st"
check "and the link stays a link" test -L "$T/dangling.st"
echo "keep me" >"$T/ro"; chmod 444 "$T/ro"
for o in save log checkpoint plot; do
  bad "--$o refuses a read-only file" 1 "--$o $T/ro: is read-only" "$BNN" train $XOR --epochs 2 --$o "$T/ro"
done
bad "predict --out refuses a read-only file" 1 "$T/ro: is read-only" "$BNN" predict --model "$T/m.st" --data synth:xor --out "$T/ro"
check "the read-only file is untouched" test "$(cat "$T/ro")" = "keep me"
mkdir "$T/adir"
bad "--log to a directory" 1 "--log $T/adir: is a directory" "$BNN" train $XOR --epochs 2 --log "$T/adir"
bad "--plot in a missing directory, before training" 1 "--plot $T/nodir/p.svg: cannot write: the directory .* does not exist" \
  "$BNN" train $XOR --epochs 2 --log "$T/early.csv" --plot "$T/nodir/p.svg"
check "nothing was written before the failed check" test ! -e "$T/early.csv"
bad "two outputs on one file" 2 "--save .*/x and --log .*/x are the same file" "$BNN" train $XOR --save "$T/x" --log "$T/x"
umask 027; ok "new file under umask 027" "$BNN" gen synth:xor --samples 4 --out "$T/umask.csv"; umask 022
check "new file mode follows the umask" test "$(stat -c %a "$T/umask.csv")" = 640

# --- the log: in place, flushed every epoch, visible while training --------------------------
"$BNN" train --arch 2,16,16,1 --data synth:uniform --samples 2^18 --epochs 100000 --quiet \
  --log "$T/live.csv" 2>/dev/null & p=$!
for _ in $(seq 100); do [ "$(cat "$T/live.csv" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
check "the log grows while training runs" test "$(wc -l <"$T/live.csv")" -ge 3
check "no temporary log file" test -z "$(ls "$T" | grep 'live.csv.tmp')"
kill -TERM $p; wait $p; st=$?
check "SIGTERM exits 143 (got $st)" test "$st" -eq 143

# --- signals: finish the epoch, write everything, exit 128 + signal, no temporary files -------
for sig in INT TERM HUP; do
  rm -f "$T/s.st" "$T/s.csv" "$T/s.ckpt"
  "$BNN" train --arch 2,16,16,1 --data synth:uniform --samples 2^18 --epochs 100000 --quiet \
    --save "$T/s.st" --log "$T/s.csv" --checkpoint "$T/s.ckpt" --checkpoint-every 1000 \
    2>"$T/err" & p=$!
  for _ in $(seq 100); do [ "$(cat "$T/s.csv" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
  kill -$sig $p; wait $p; st=$?
  want=$((128 + $(kill -l $sig)))
  check "SIG$sig exits $want (got $st)" test "$st" -eq "$want"
  check "SIG$sig: model saved" "$BNN" info "$T/s.st"
  epochs=$(($(wc -l <"$T/s.csv") - 1))
  check "SIG$sig: final checkpoint at the last logged epoch ($epochs)" \
    "$BNN" train --arch 2,16,16,1 --data synth:uniform --samples 2^18 --epochs $epochs --quiet --resume "$T/s.ckpt"
  check "SIG$sig: says it stopped" grep -q "stopped by SIG$sig after epoch $epochs" "$T/err"
  check "SIG$sig: no temporary files" test -z "$(ls "$T" | grep '\.tmp\.')"
done

# --- --resume: the checkpoint's settings win or conflict -------------------------------------
R="--arch 2,3,1 --data synth:xor --samples 64 --quiet"
ok "checkpointed run" "$BNN" train $R --epochs 10 --checkpoint-every 10 --lr 0.5 --seed 3 --checkpoint "$T/r.ckpt"
ok "full run" "$BNN" train $R --epochs 20 --lr 0.5 --seed 3 --save "$T/full.st" --log "$T/full.csv"
for o in "--seed 4" "--lr 0.25" "--batch 8" "--gradient seed" "--engine reference"; do
  bad "resume with a different ${o% *}" 2 "the checkpoint was trained with ${o% *} .*; this run asks for $o" \
    "$BNN" train $R --epochs 20 --resume "$T/r.ckpt" $o
done
bad "resume with a different --act" 2 "--act tanh conflicts with --resume" "$BNN" train $R --epochs 20 --resume "$T/r.ckpt" --act tanh
bad "resume with --no-bias" 2 "--no-bias conflicts with --resume" "$BNN" train $R --epochs 20 --resume "$T/r.ckpt" --no-bias
bad "init with a different --act" 2 "--act relu conflicts with --init" "$BNN" train $R --epochs 20 --init "$T/full.st" --act relu
ok "resume takes lr and seed from the checkpoint" "$BNN" train $R --epochs 20 --resume "$T/r.ckpt" --save "$T/resumed.st"
check "resumed == uninterrupted, bitwise" cmp -s "$T/resumed.st" "$T/full.st"
ok "resume with the same settings given" "$BNN" train $R --epochs 20 --resume "$T/r.ckpt" --lr 0.5 --seed 3 --save "$T/resumed2.st"
check "the same model again" cmp -s "$T/resumed2.st" "$T/full.st"
# the log of a run killed in epoch 14, after its checkpoint at 10: rows 11-13 and a partial row
head -14 "$T/full.csv" >"$T/resumed.csv"; printf '14,0.25' >>"$T/resumed.csv"
ok "resume appends to the log" "$BNN" train $R --epochs 20 --resume "$T/r.ckpt" --log "$T/resumed.csv"
check "the resumed log has the rows of the full run" \
  test "$(cut -d, -f1,2 "$T/resumed.csv")" = "$(cut -d, -f1,2 "$T/full.csv")"

# --- non-finite results are errors -----------------------------------------------------------
echo "keep me" >"$T/keep.st"
bad "divergence in the last update" 1 "after the last update \(epoch 1\) .*diverged" \
  "$BNN" train --arch 1,1 --act identity --no-bias --data synth:linear --lr 1e30 --epochs 1 \
  --save "$T/keep.st" --quiet
check "the diverged model was not saved" test "$(cat "$T/keep.st")" = "keep me"
if command -v python3 >/dev/null; then
  # a model whose output overflows float32 (weight 3e38, input 10), and one without activations
  python3 - "$T" <<'PY'
import json, struct, sys
def model(path, w, meta):
    h = {"layers.0.weight": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 4]}}
    if meta is not None: h["__metadata__"] = meta
    hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
    open(path, "wb").write(struct.pack("<Q", len(hb)) + hb + struct.pack("<f", w))
model(sys.argv[1] + "/huge.st", 3e38, {"format": "batchnn/1", "activations": "identity"})
model(sys.argv[1] + "/noact.st", 0.5, None)
open(sys.argv[1] + "/ten.csv", "w").write("10,1\n")
PY
  bad "predict of an overflowing output" 1 "sample 1: output 1 of the model is infinite" \
    "$BNN" predict --model "$T/huge.st" --data "$T/ten.csv"
  bad "eval of an overflowing cost" 1 "the cost of .*huge.st on .* is infinite" \
    "$BNN" eval --model "$T/huge.st" --data "$T/ten.csv"
  ok "a model without activations loads" "$BNN" info "$T/noact.st"
  check "with one warning naming the default" \
    test "$(grep -c 'has no "activations" metadata; taking sigmoid' "$T/err")" -eq 1
  ok "no warning when --act is given" "$BNN" info "$T/noact.st" --act identity
  check "no warning" test ! -s "$T/err"
fi

# --- inputs that are not regular files: read once, capped -----------------------------------
"$BNN" gen synth:xor --samples 64 --out "$T/xor.csv"
ok "train from standard input" sh -c "\"$BNN\" train --arch 2,3,1 --epochs 5 --quiet --data - --save \"$T/stdin.st\" <\"$T/xor.csv\""
check "the model from standard input is saved" test -s "$T/stdin.st"
mkfifo "$T/data.fifo"; cat "$T/xor.csv" >"$T/data.fifo" &
ok "train from a FIFO (opened once, nothing lost)" "$BNN" train --arch 2,3,1 --epochs 5 --quiet --data "$T/data.fifo" --save "$T/fifo.st"
check "FIFO and file give the same model" sh -c "\"$BNN\" train --arch 2,3,1 --epochs 5 --quiet --data \"$T/xor.csv\" --save \"$T/file.st\" && cmp -s \"$T/file.st\" \"$T/fifo.st\""
mkfifo "$T/endless"
( while :; do printf '0,0,0\n%.0s' $(seq 512); done >"$T/endless" ) 2>/dev/null & writer=$!
BATCHNN_STREAM_LIMIT=1M "$BNN" train --arch 2,3,1 --epochs 1 --quiet --data "$T/endless" 2>"$T/err"; st=$?
kill $writer 2>/dev/null; wait $writer 2>/dev/null
check "an endless input stops at the cap with exit 1 (got $st)" test "$st" -eq 1
check "the message names the cap and BATCHNN_STREAM_LIMIT" grep -q "the limit for input read from a pipe or FIFO; set BATCHNN_STREAM_LIMIT" "$T/err"

# --- wide outputs stream in blocks sized from the width --------------------------------------
ok "a 1 -> 100000 model" "$BNN" train --arch 1,100000 --act identity --data synth:uniform --samples 4 \
  --epochs 0 --quiet --save "$T/wide.st"
echo 0.5 >"$T/one.csv"
ok "predict one sample through it" "$BNN" predict --model "$T/wide.st" --data "$T/one.csv" --out "$T/wide.npy"
check "100000 outputs" test "$(stat -c %s "$T/wide.npy")" -eq $((128 + 400000))

# --- a memory-mapped data file truncated during training --------------------------------------
ok "gen a large npy" "$BNN" gen synth:uniform --arch 2,1 --samples 2^22 --out "$T/big.npy"
"$BNN" train --arch 2,1 --data "$T/big.npy" --epochs 100000 --quiet --save "$T/bus.st" 2>"$T/err" & p=$!
sleep 1; : >"$T/big.npy"; wait $p; st=$?
check "truncated data file: exit 135 (got $st)" test "$st" -eq 135
check "names the file and the cause" grep -q "big.npy: the memory-mapped data file was truncated" "$T/err"
check "no model from a broken run" test ! -e "$T/bus.st"
check "no temporary files" test -z "$(ls "$T" | grep '\.tmp\.')"

summary output
