#!/usr/bin/env python3
"""torch_check.py - batchnn's training options against PyTorch itself, in float64.

For each optimizer (sgd, momentum, nesterov, adam, adamw, with weight decay), loss (mse,
cross-entropy with probability targets, bce) and batching (full batch; mini-batches of 10
with --shuffle, whose documented permutation this script transcribes), with a step or cosine
schedule: batchnn trains a random net (3,6,4 tanh,identity) for 5 epochs from initial weights
it saved itself (--epochs 0), with the reference engine (double) and the fast engine
(float32); PyTorch trains the same net from the same weights in float64 with torch.optim, its
schedulers and its losses. Tolerances (relative, worst element reported with its index):
reference engine 1e-7 with floor 1e-3 (its model is rounded to float32 when saved), fast engine
2e-4 with floor 1e-2 (float32 arithmetic over 25 steps); the per-epoch losses of --log (the
reference engine, printed with 9 digits) 1e-8. And --standardize: the stored input.mean and
input.std against x.mean(0) and x.std(0, unbiased=False), predict against (x - mean) / std then
the net (1e-5).

usage: torch_check.py path/to/batchnn        (exit 77, "skipped", when torch is missing)
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    # Debian's python3-torch lives in /usr/bin/python3, which another python3 first in PATH
    # (pyenv, a venv) does not see
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3") and not os.environ.get("BNN_TORCH_REEXEC"):
        os.environ["BNN_TORCH_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("skipping: PyTorch is not installed (Debian: apt-get install python3-torch)")
    sys.exit(77)

torch.set_default_dtype(torch.float64)
BNN = sys.argv[1] if len(sys.argv) > 1 else "build/src/batchnn"

# --- the documented shuffle (README "Shuffling") ------------------------------------------
M64 = (1 << 64) - 1


def mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def hash64(seed, key):
    return mix(mix((key + 0x9E3779B97F4A7C15 * (seed + 1)) & M64) ^ seed)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Xoshiro:
    def __init__(self, seed):
        self.s, x = [], seed
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            self.s.append(mix(x))

    def next(self):
        s = self.s
        r = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return r


def permutation(n, seed, epoch):
    r, p = Xoshiro(hash64(seed, epoch)), list(range(n))
    for i in range(n - 1, 0, -1):
        j = (r.next() * (i + 1)) >> 64
        p[i], p[j] = p[j], p[i]
    return p


# --- files -----------------------------------------------------------------------------------
def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n])
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        vals = struct.unpack("<%df" % ((e - b) // 4), data[8 + n + b:8 + n + e])
        out[k] = torch.tensor(vals).reshape(v["shape"])
    return out


def flat(state, nlayers):
    parts = []
    for l in range(nlayers):
        parts += [state["layers.%d.weight" % l].reshape(-1), state["layers.%d.bias" % l]]
    return torch.cat(parts)


# --- the run in PyTorch ------------------------------------------------------------------------
ACT = {"tanh": torch.tanh, "identity": lambda t: t}


def torch_run(init, acts, x, y, loss, opt_name, lr, wd, batch, shuffle, seed, sched, epochs):
    nl = len(acts)
    params = []
    for l in range(nl):
        params += [init["layers.%d.weight" % l].clone().requires_grad_(True),
                   init["layers.%d.bias" % l].clone().requires_grad_(True)]

    def forward(a):
        for l in range(nl):
            a = ACT[acts[l]](a @ params[2 * l].T + params[2 * l + 1])
        return a

    if opt_name == "sgd":
        opt = torch.optim.SGD(params, lr=lr, weight_decay=wd)
    elif opt_name in ("momentum", "nesterov"):
        opt = torch.optim.SGD(params, lr=lr, momentum=0.8, dampening=0, weight_decay=wd,
                              nesterov=opt_name == "nesterov")
    elif opt_name == "adam":
        opt = torch.optim.Adam(params, lr=lr, betas=(0.85, 0.99), eps=1e-6, weight_decay=wd)
    else:
        opt = torch.optim.AdamW(params, lr=lr, betas=(0.85, 0.99), eps=1e-6, weight_decay=wd)
    if sched.startswith("step:"):
        _, every, gamma = sched.split(":")
        sch = torch.optim.lr_scheduler.StepLR(opt, step_size=int(every), gamma=float(gamma))
    else:
        sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs,
                                                         eta_min=float(sched.split(":")[1]))

    def loss_fn(z, t):
        if loss == "mse":
            return ((z - t) ** 2).sum(1).mean()
        if loss == "cross-entropy":
            return F.cross_entropy(z, t)  # probability targets
        return F.binary_cross_entropy_with_logits(z, t, reduction="none").sum(1).mean()

    n = x.shape[0]
    b = batch or n
    losses = []
    for e in range(epochs):
        order = permutation(n, seed, e) if shuffle else list(range(n))
        total = 0.0
        for b0 in range(0, n, b):
            idx = torch.tensor(order[b0:b0 + b])
            opt.zero_grad()
            c = loss_fn(forward(x[idx]), y[idx])
            total += c.item() * len(idx)
            c.backward()
            opt.step()
        losses.append(total / n)
        sch.step()
    return torch.cat([p.detach().reshape(-1) for p in params]), losses


# --- comparison ----------------------------------------------------------------------------
failures = 0


def compare(what, got, want, tol, floor):
    global failures
    den = torch.clamp(want.abs(), min=floor)
    rel = (got - want).abs() / den
    i = int(torch.argmax(rel))
    worst = float(rel[i])
    ok = worst <= tol and not math.isnan(worst)
    if not ok:
        failures += 1
        print("FAIL %s: worst relative difference %.3e > %.1e at index %d: got %.17g, want %.17g"
              % (what, worst, tol, i, float(got[i]), float(want[i])))
    return worst


def main():
    tmp = tempfile.mkdtemp(prefix="bnn_torch_")
    gen = torch.Generator().manual_seed(5)
    n, nin, k = 48, 3, 4
    x = torch.rand(n, nin, generator=gen) * 2 - 1
    targets = {
        "mse": torch.rand(n, k, generator=gen),
        "cross-entropy": torch.softmax(3 * torch.rand(n, k, generator=gen), 1),
        "bce": (torch.rand(n, k, generator=gen) < 0.5).double(),
    }
    acts = ["tanh", "identity"]
    init_path = os.path.join(tmp, "init.safetensors")
    subprocess.run([BNN, "train", "--arch", "3,6,4", "--act", ",".join(acts), "--data",
                    "synth:uniform", "--epochs", "0", "--seed", "11", "--save", init_path,
                    "--quiet"], check=True)
    init = load_safetensors(init_path)
    for nm in list(init):  # biases away from zero, so that every term is exercised
        if nm.endswith(".bias"):
            init[nm] = torch.linspace(-0.3, 0.3, init[nm].numel())
    init_f32 = os.path.join(tmp, "init2.safetensors")
    write_model(init_f32, init, acts)
    init = load_safetensors(init_f32)
    worst = {"reference": 0.0, "fast": 0.0, "loss": 0.0}
    cases = 0
    for loss, y in targets.items():
        # float32 values, written with 9 digits (which round-trip a float32 exactly): batchnn
        # and PyTorch start from the same numbers
        xs, ys = x.float().double(), y.float().double()
        data = os.path.join(tmp, "data_%s.csv" % loss)
        with open(data, "w") as f:
            for i in range(n):
                f.write(",".join("%.9g" % float(v) for v in list(xs[i]) + list(ys[i])) + "\n")
        for opt in ["sgd", "momentum", "nesterov", "adam", "adamw"]:
            for batch, shuffle, sched in [(0, False, "step:2:0.5"), (10, True, "cosine:0.001")]:
                lr = 0.01 if opt.startswith("adam") else 0.1
                wd = 0.01
                want, want_losses = torch_run(init, acts, xs, ys, loss, opt, lr, wd, batch,
                                              shuffle, 9, sched, 5)
                for engine in ["reference", "fast"]:
                    out = os.path.join(tmp, "out.safetensors")
                    log = os.path.join(tmp, "log.csv")
                    cmd = [BNN, "train", "--init", init_f32, "--data", data, "--epochs", "5",
                           "--lr", str(lr), "--optimizer", opt, "--weight-decay", str(wd),
                           "--loss", loss, "--batch", str(batch), "--lr-schedule", sched,
                           "--seed", "9", "--engine", engine, "--save", out, "--log", log,
                           "--quiet"]
                    if opt in ("momentum", "nesterov"):
                        cmd += ["--momentum", "0.8"]
                    if opt.startswith("adam"):
                        cmd += ["--beta1", "0.85", "--beta2", "0.99", "--adam-eps", "1e-6"]
                    if shuffle:
                        cmd += ["--shuffle"]
                    subprocess.run(cmd, check=True)
                    got = flat(load_safetensors(out), len(acts))
                    what = "%s %s %s batch %d%s %s" % (engine, loss, opt, batch,
                                                       " shuffled" if shuffle else "", sched)
                    if engine == "reference":
                        w = compare(what, got, want, 1e-7, 1e-3)
                        if os.environ.get("BNN_TORCH_VERBOSE"): print(what, w)
                        with open(log) as f:
                            rows = [line.split(",") for line in f.read().split("\n")[1:] if line]
                        got_l = torch.tensor([float(r[1]) for r in rows])
                        wl = compare(what + " (losses)", got_l, torch.tensor(want_losses), 1e-8,
                                     1e-12)
                        worst["loss"] = max(worst["loss"], wl)
                    else:
                        w = compare(what, got, want, 2e-4, 1e-2)
                    worst[engine] = max(worst[engine], w)
                    cases += 1
    standardize_check(tmp)
    print("torch_check: %d runs against PyTorch %s (float64); worst relative difference: "
          "reference %.2e (tolerance 1e-7), fast %.2e (2e-4), losses %.2e (1e-8; --log prints 9 digits): %s"
          % (cases, torch.__version__, worst["reference"], worst["fast"], worst["loss"],
             "FAILED" if failures else "ok"))
    return 1 if failures else 0


def standardize_check(tmp):
    """--standardize: input.mean and input.std are x.mean(0) and x.std(0, unbiased=False) of
    the training rows (1 for a constant input), and predict gives (x - mean) / std, then the
    net, as PyTorch computes it (1e-5)."""
    gen = torch.Generator().manual_seed(9)
    n = 200
    x = torch.rand(n, 4, generator=gen) * torch.tensor([10.0, 0.01, 300.0, 0.0]) + \
        torch.tensor([5.0, -2.0, 100.0, 7.0])  # mixed units and a constant input
    y = (x[:, 0] > 10).long() + (x[:, 2] > 250).long()
    data = os.path.join(tmp, "std.csv")
    with open(data, "w") as f:
        for r in range(n):
            f.write(",".join("%.9g" % float(v) for v in x[r]) + ",%d\n" % int(y[r]))
    model, pred = os.path.join(tmp, "std.st"), os.path.join(tmp, "std_pred.csv")
    subprocess.run([BNN, "train", "--data", data, "--hidden", "6", "--act", "tanh,identity",
                    "--loss", "cross-entropy", "--standardize", "--epochs", "20", "--lr", "0.5",
                    "--save", model, "--quiet"], check=True)
    subprocess.run([BNN, "predict", "--model", model, "--data", data, "--out", pred],
                   check=True)
    st = load_safetensors(model)
    # the values batchnn holds (the CSV read into float32), in float64 from here on
    xs = torch.tensor([[float(v) for v in l.split(",")[:4]] for l in open(data)],
                      dtype=torch.float32).double()
    st = {k: v.double() for k, v in st.items()}
    want_std = xs.std(0, unbiased=False)
    want_std[want_std == 0] = 1.0
    w1 = compare("standardize: input.mean", st["input.mean"], xs.mean(0), 1e-6, 1e-3)
    w2 = compare("standardize: input.std", st["input.std"], want_std, 1e-6, 1e-3)
    a = (xs - st["input.mean"]) / st["input.std"]
    a = torch.tanh(a @ st["layers.0.weight"].T + st["layers.0.bias"])
    z = a @ st["layers.1.weight"].T + st["layers.1.bias"]
    got = torch.tensor([[float(v) for v in l.split(",")] for l in open(pred)],
                       dtype=torch.float64)
    w3 = compare("standardize: predict vs (x - mean) / std then the net", got.reshape(-1),
                 z.reshape(-1), 1e-5, 1.0)
    print("torch_check: --standardize: worst relative difference mean %.2e, std %.2e, "
          "predictions %.2e (tolerance 1e-5)" % (w1, w2, w3))


def write_model(path, state, acts):
    names, blobs, off, hdr = [], [], 0, {}
    for l in range(len(acts)):
        for kind in ("weight", "bias"):
            t = state["layers.%d.%s" % (l, kind)]
            data = struct.pack("<%df" % t.numel(), *[float(v) for v in t.reshape(-1)])
            hdr["layers.%d.%s" % (l, kind)] = {"dtype": "F32", "shape": list(t.shape),
                                                "data_offsets": [off, off + len(data)]}
            off += len(data)
            blobs.append(data)
    hdr["__metadata__"] = {"format": "batchnn/1", "activations": ",".join(acts)}
    js = json.dumps(hdr).encode()
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(blobs))


if __name__ == "__main__":
    sys.exit(main())
