#!/usr/bin/env bash
# archive_test.sh - end-to-end tests of compressed and bundled data (src/io/archive.c): gzip
# of CSV and of .npy, .npz stored and deflated (arrays x/y, FILE.npz:NAME, --targets
# FILE.npz:y), read from files and from pipes, give exactly what the plain CSV gives; the
# format is sniffed from the bytes; truncated, corrupt and oversized files fail with one line
# naming the file and the format. The files are written by python3's stdlib (gzip, zipfile and
# .npy bytes by hand) and, when numpy is there, by numpy itself (np.savez, savez_compressed).
# usage: archive_test.sh path/to/batchnn
set -u
BNN=${1:?usage: archive_test.sh path/to/batchnn}
. "$(dirname "$0")/lib.sh"
PY="" # the first python3 with numpy, else the first python3
for p in python3 /usr/bin/python3; do
  command -v "$p" >/dev/null 2>&1 || continue
  [ -n "$PY" ] || PY=$p
  "$p" -c 'import numpy' 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { echo "archive_test: no python3, skipped"; exit 77; }

# a learnable 3-class problem: 2 inputs, a label; written as CSV, gz, npy.gz and npz
"$PY" - "$T" <<'PYEOF'
import gzip, io, random, struct, sys, zipfile
d = sys.argv[1]
rnd = random.Random(7)
rows = []
for i in range(240):
    a, b = rnd.uniform(-1, 1), rnd.uniform(-1, 1)
    rows.append((a, b, 0 if a + b < -0.3 else (1 if a - b < 0.2 else 2)))
def f32(v):  # the value as float32 does it, so CSV and npy agree bit for bit
    return struct.unpack('<f', struct.pack('<f', v))[0]
rows = [(f32(a), f32(b), c) for a, b, c in rows]
csv = ''.join('%r,%r,%d\n' % r for r in rows).encode()
open(d + '/d.csv', 'wb').write(csv)
def npy(shape, descr, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + data
x = npy('(%d, 2)' % len(rows), '<f4', b''.join(struct.pack('<ff', a, b) for a, b, _ in rows))
y = npy('(%d,)' % len(rows), '<i8', b''.join(struct.pack('<q', c) for _, _, c in rows))
xy = npy('(%d, 3)' % len(rows), '<f8', b''.join(struct.pack('<ddd', *r) for r in rows))
open(d + '/d.csv.gz', 'wb').write(gzip.compress(csv))
open(d + '/two.gz', 'wb').write(gzip.compress(csv[:1000]) + gzip.compress(csv[1000:]))
open(d + '/d.npy.gz', 'wb').write(gzip.compress(xy))
open(d + '/noext', 'wb').write(gzip.compress(csv))
for name, how in (('s.npz', zipfile.ZIP_STORED), ('z.npz', zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(d + '/' + name, 'w', how) as z:
        z.writestr('x.npy', x); z.writestr('y.npy', y); z.writestr('all.npy', xy)
with zipfile.ZipFile(d + '/nox.npz', 'w') as z:
    z.writestr('a.npy', x)
g = gzip.compress(csv)
open(d + '/trunc.csv.gz', 'wb').write(g[:len(g) // 2])
bad = bytearray(g); bad[len(bad) - 6] ^= 0xff  # the CRC
open(d + '/crc.csv.gz', 'wb').write(bytes(bad))
open(d + '/junk.csv.gz', 'wb').write(g + b'junk')
zz = open(d + '/z.npz', 'rb').read()
open(d + '/trunc.npz', 'wb').write(zz[:len(zz) // 2])
cz = bytearray(zz); cz[60] ^= 0xff  # inside x.npy's deflated bytes
open(d + '/corrupt.npz', 'wb').write(bytes(cz))
open(d + '/bad.csv.gz', 'wb').write(gzip.compress(b'1,2,0\n3,4\n'))
open(d + '/plain.npz', 'wb').write(csv)
open(d + '/bomb.csv.gz', 'wb').write(gzip.compress(b'0,0,0\n' * 200000))
# 2.5 MB of text, a 1 MB table (86,000 rows of 3 floats): over a 1 MiB cap as text only
wide = ''.join('%.15f,%.15f,%d\n' % rows[i % len(rows)] for i in range(86000)).encode()
open(d + '/wide.csv', 'wb').write(wide)
open(d + '/wide.csv.gz', 'wb').write(gzip.compress(wide))
open(d + '/longline.csv.gz', 'wb').write(gzip.compress(b'1,2,0\n' + b'1' * 5000 + b'\n'))
big = 200000  # a deflated npz whose x.npy is 1.6 MB once decompressed
with zipfile.ZipFile(d + '/bomb.npz', 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('x.npy', npy('(%d, 2)' % big, '<f4', bytes(8 * big)))
    z.writestr('y.npy', npy('(%d,)' % big, '<i8', bytes(8 * big)))
PYEOF

"$BNN" train --data "$T/d.csv" --arch 2,8,3 --act tanh,identity --loss cross-entropy \
  --epochs 30 --seed 3 --save "$T/m.safetensors" >/dev/null 2>&1
ok "model trained from CSV" test -s "$T/m.safetensors"
"$BNN" eval --model "$T/m.safetensors" --data "$T/d.csv" >"$T/want" 2>/dev/null
check "the CSV model is evaluated" grep -q accuracy "$T/want"
same() { # same NAME ARGS...: eval gives exactly what it gives on d.csv
  local name=$1; shift
  "$BNN" eval --model "$T/m.safetensors" "$@" >"$T/got" 2>"$T/err"
  if cmp -s "$T/got" "$T/want"; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL $name: eval differs"; cat "$T/got" "$T/err" | head -3; fi
}
same "gzip of CSV" --data "$T/d.csv.gz"
same "gzip of two members" --data "$T/two.gz"
same "gzip of .npy (float64)" --data "$T/d.npy.gz"
same "gzip sniffed without its extension" --data "$T/noext"
same "npz stored, x and y" --data "$T/s.npz"
same "npz deflated, x and y" --data "$T/z.npz"
same "npz named array" --data "$T/z.npz:all"
same "npz --targets FILE.npz:y" --data "$T/z.npz:x" --targets "$T/s.npz:y"
same "gzip from a pipe" --data - <"$T/d.csv.gz"
same "npz from a pipe" --data - < <(cat "$T/z.npz")
"$BNN" train --data "$T/z.npz" --arch 2,8,3 --act tanh,identity --loss cross-entropy \
  --epochs 30 --seed 3 --save "$T/mz.safetensors" >/dev/null 2>&1
check "training on npz gives the CSV's model" cmp -s "$T/m.safetensors" "$T/mz.safetensors"

bad "truncated gzip" 1 "trunc.csv.gz \(gzip\): truncated gzip stream" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/trunc.csv.gz"
bad "gzip with a bad CRC" 1 "crc.csv.gz \(gzip\): corrupt gzip data" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/crc.csv.gz"
bad "gzip with trailing junk" 1 "junk.csv.gz \(gzip\): 4 bytes of trailing data" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/junk.csv.gz"
bad "bad CSV in gzip names the format and line" 1 "bad.csv.gz \(gzip of CSV\):2: expected 3" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/bad.csv.gz"
# the cap bounds what is kept, each decompressed file's table (4 bytes a value), not its text:
# bomb.csv.gz is 1.2 MB of text but a 2.4 MB table
bad "gzip over the stream limit" 1 "bomb.csv.gz \(gzip of CSV\): more than 1048576 bytes of values \([0-9]* rows of 3 so far\), the limit for decompressed data; set BATCHNN_STREAM_LIMIT" \
  env BATCHNN_STREAM_LIMIT=1M "$BNN" eval --model "$T/m.safetensors" --data "$T/bomb.csv.gz"
# the cap is per decompressed file (each npz member): stdin, npz members, and just under it
bad "gzip on stdin over the stream limit" 1 "\(gzip of CSV\): more than 1048576 bytes of values" \
  sh -c 'BATCHNN_STREAM_LIMIT=1M "$1" eval --model "$2" --data - <"$3"' sh "$BNN" \
  "$T/m.safetensors" "$T/bomb.csv.gz"
ok "gzip just under the stream limit" env BATCHNN_STREAM_LIMIT=2400000 "$BNN" eval \
  --model "$T/m.safetensors" --data "$T/bomb.csv.gz"
bad "npz member over the stream limit" 1 "bomb.npz:x \(npz member x.npy\): 1600000 bytes of values \(200000 x 2 float32\), more than the limit for decompressed data \(1048576\); set BATCHNN_STREAM_LIMIT" \
  env BATCHNN_STREAM_LIMIT=1M "$BNN" eval --model "$T/m.safetensors" --data "$T/bomb.npz"
ok "npz members each under the stream limit" env BATCHNN_STREAM_LIMIT=1600000 "$BNN" eval \
  --model "$T/m.safetensors" --data "$T/bomb.npz"
# streamed: text larger than the cap whose table fits is read (the text is never whole),
# from a file and from a pipe; the same rows as the plain CSV
"$BNN" eval --model "$T/m.safetensors" --data "$T/wide.csv" >"$T/wide.want" 2>&1
for src in file pipe; do
  if [ $src = file ]; then
    BATCHNN_STREAM_LIMIT=1M "$BNN" eval --model "$T/m.safetensors" --data "$T/wide.csv.gz" \
      >"$T/wide.got" 2>&1
  else
    BATCHNN_STREAM_LIMIT=1M "$BNN" eval --model "$T/m.safetensors" --data - \
      <"$T/wide.csv.gz" >"$T/wide.got" 2>&1
  fi
  check "gzip of 2.5 MB of text under a 1 MiB cap ($src)" cmp -s "$T/wide.want" "$T/wide.got"
done
check "the wide CSV was evaluated" grep -q accuracy "$T/wide.want"
bad "a line longer than the cap" 1 "longline.csv.gz \(gzip of CSV\): a line longer than 1024 bytes, the limit for decompressed data" \
  env BATCHNN_STREAM_LIMIT=1k "$BNN" eval --model "$T/m.safetensors" --data "$T/longline.csv.gz"
bad "truncated npz" 1 "trunc.npz \(npz\): not a valid zip archive" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/trunc.npz"
bad "corrupt npz member" 1 "corrupt.npz:x \(npz member x.npy\): " \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/corrupt.npz"
bad "npz without x lists its arrays" 1 "nox.npz \(npz\): no array 'x' \(arrays: a\)" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/nox.npz"
bad "npz unknown array" 1 "z.npz \(npz\): no array 'q' \(arrays: x, y, all\)" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/z.npz:q"
bad ".npz name on a CSV" 1 "plain.npz: not a .npz file" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/plain.npz"
bad "member of a non-zip" 1 "plain.npz: not a .npz file .*no array 'x'" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/plain.npz:x"
cp "$T/z.npz" "$T/w.npz"
bad "an output over FILE.npz of FILE.npz:NAME refused" 2 "w.npz" \
  "$BNN" predict --model "$T/m.safetensors" --data "$T/w.npz:x" --out "$T/w.npz"
check "the archive is untouched" cmp -s "$T/z.npz" "$T/w.npz"
bad "an output over FILE.npz of --targets FILE.npz:y refused" 2 "w.npz" \
  "$BNN" eval --model "$T/m.safetensors" --data "$T/d.csv" --report-csv "$T/w.npz" \
  --targets "$T/w.npz:y"

# numpy's own files, when numpy is installed
if "$PY" -c 'import numpy' 2>/dev/null; then
  "$PY" - "$T" <<'PYEOF'
import gzip, sys, numpy as np
d = sys.argv[1]
a = np.loadtxt(d + '/d.csv', delimiter=',', dtype=np.float64)
np.savez(d + '/np.npz', x=a[:, :2].astype(np.float32), y=a[:, 2].astype(np.int64))
np.savez_compressed(d + '/npc.npz', x=a[:, :2], y=a[:, 2:].astype(np.int32))
# streamed .npy readers: gzip of np.save (float64, Fortran order), an npz of Fortran arrays
with gzip.open(d + '/npf.npy.gz', 'wb') as f:
    np.save(f, np.asfortranarray(a))
np.savez_compressed(d + '/npf.npz', x=np.asfortranarray(a[:, :2]), y=a[:, 2].astype(np.uint8))
# larger than the readers' 1 MiB chunks: 150,000 rows, float64 Fortran order and float32
rng = np.random.default_rng(5)
b = rng.uniform(-1, 1, (150000, 2))
np.save(d + '/big.npy', b.astype(np.float32))
with gzip.open(d + '/big.npy.gz', 'wb') as f:
    np.save(f, np.asfortranarray(b.astype(np.float32).astype(np.float64)))
np.savez_compressed(d + '/big.npz', x=b.astype(np.float32))
np.savetxt(d + '/big.csv', b.astype(np.float32), fmt='%.9g', delimiter=',')
with gzip.open(d + '/big.csv.gz', 'wb') as f:
    f.write(open(d + '/big.csv', 'rb').read())
PYEOF
  same "numpy savez" --data "$T/np.npz"
  same "numpy savez_compressed" --data "$T/npc.npz"
  same "numpy .npy.gz, float64 Fortran order" --data "$T/npf.npy.gz"
  same "numpy npz of Fortran arrays, uint8 labels" --data "$T/npf.npz"
  "$BNN" train --data synth:uniform --arch 2,4,1 --samples 64 --epochs 1 --quiet \
    --save "$T/m2.safetensors" >/dev/null 2>&1
  "$BNN" predict --model "$T/m2.safetensors" --data "$T/big.npy" --out "$T/big.want" \
    >/dev/null 2>&1
  check "numpy's big .npy predicted" test -s "$T/big.want"
  for f in big.npy.gz big.npz big.csv big.csv.gz; do
    "$BNN" predict --model "$T/m2.safetensors" --data "$T/$f" --out "$T/big.got" >/dev/null 2>&1
    check "$f (150,000 rows, numpy) predicts as the .npy" cmp -s "$T/big.want" "$T/big.got"
  done
else
  echo "archive_test: numpy not installed: numpy's own files not checked"
fi
summary archive_test
