#!/usr/bin/env python3
"""st_forward.py - a batchnn model applied in double by a reader of its own (stdlib only), to
check --standardize: x' = (x - input.mean) / input.std, then the layers (relu hidden,
identity last), against `batchnn predict`'s outputs.

usage: st_forward.py MODEL.st DATA.csv PRED.csv [TOL]   exit 0 when every output agrees
       st_forward.py MODEL.st --std                      prints input.std, one per line
       st_forward.py MODEL.st --drop-std|--zero-std OUT  a damaged copy: without input.std, or
                                                         with input.std[0] = 0
"""
import json
import struct
import sys


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = (v["shape"], struct.unpack("<%df" % ((e - b) // 4), data[b:e]))
    return out


def save(path, tensors, meta):
    hdr, blobs, off = {"__metadata__": meta}, [], 0
    for k, (shape, vals) in tensors.items():
        data = struct.pack("<%df" % len(vals), *vals)
        hdr[k] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    js = json.dumps(hdr).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(blobs))


t = load(sys.argv[1])
if sys.argv[2] in ("--drop-std", "--zero-std"):
    with open(sys.argv[1], "rb") as f:
        meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
    shape, vals = t.pop("input.std")
    if sys.argv[2] == "--zero-std":
        t["input.std"] = (shape, (0.0,) + tuple(vals[1:]))
    save(sys.argv[3], t, meta)
    sys.exit(0)
if sys.argv[2] == "--std":
    print("\n".join("%.9g" % v for v in t["input.std"][1]))
    sys.exit(0)
mean, std = t["input.mean"][1], t["input.std"][1]
nl = sum(1 for k in t if k.endswith(".weight"))
tol = float(sys.argv[4]) if len(sys.argv) > 4 else 1e-5
worst = 0.0
with open(sys.argv[2]) as fx, open(sys.argv[3]) as fp:
    for lx, lp in zip(fx, fp):
        x = [float(v) for v in lx.split(",")][: len(mean)]
        a = [(v - m) / s for v, m, s in zip(x, mean, std)]
        for l in range(nl):
            (o, i), w = t["layers.%d.weight" % l]
            b = t["layers.%d.bias" % l][1]
            z = [b[r] + sum(w[r * i + c] * a[c] for c in range(i)) for r in range(o)]
            a = z if l == nl - 1 else [max(0.0, v) for v in z]
        p = [float(v) for v in lp.split(",")]
        for u, v in zip(a, p):
            worst = max(worst, abs(u - v) / max(1.0, abs(u)))
print("worst relative difference %.3g" % worst)
sys.exit(0 if worst <= tol else 1)
