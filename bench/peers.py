#!/usr/bin/python3
"""peers.py - the workloads W1-W6 and the mini-batch M1-M3 of batchnn bench in PyTorch (CPU) and numpy.

Run with Debian's python (python3-torch, python3-numpy), not a pyenv/venv python:

    /usr/bin/python3 bench/peers.py [--workloads W1,W4] [--threads 2] [--repeat 5]
                                    [--warmup 3] [--peers pytorch,numpy]
                                    [--modes eager,script,trace,fused] [--json FILE]
    /usr/bin/python3 bench/peers.py --check     # numpy and PyTorch agree on small nets

Same workloads as `batchnn bench`: float32, full-batch gradient descent, one epoch =
forward over all n samples, backward, the gradient averaged over n, one update;
cost C = (1/n) sum_i ||a_i - y_i||^2; inputs and targets U[0,1) from a fixed seed
(W1: y = 2x + U(-0.001, 0.001)); lr 0.1 (W1: 1e-3); weights Glorot-uniform, biases 0.
M1-M3 are mini-batch epochs (plain SGD, batches of B consecutive samples in data order,
the last one smaller when B does not divide n, each batch's gradient averaged over its own
size, one update per batch): M1 = 784,256,10 at B = 64, M2 = the same at B = 256 (n =
60000, W5's net), M3 = 2,16,16,1 at B = 1024 (n = 2^20, W4's net).
Figure: median wall time per epoch over --repeat epochs after --warmup epochs, data
generation excluded (the same definition as batchnn's --log seconds).

  pytorch  nn.Linear layers, loss = ((out - y)**2).sum(dim=1).mean(), loss.backward(),
           SGD update under no_grad, grads set to None. Modes: eager; script
           (torch.jit.script of model + loss); trace (torch.jit.trace); fused (script with the
           TensorExpr fuser allowed on CPU; skipped when torch has no LLVM backend, as Debian's).
           The best mode per workload is the PyTorch figure,
           as WORKLOADS.md quotes "best mode". torch.set_num_threads(T).
  numpy    hand-written forward/backward, float32 row-major (samples x width) arrays,
           matmul (OpenBLAS, T threads) for the layer products, in-place element-wise ops
           (which numpy runs on one thread).

Each peer runs in a child process of its own (separate thread pools and memory; the
environment sets OMP_NUM_THREADS and OPENBLAS_NUM_THREADS = T before the import). A peer
whose module is missing is skipped with a note. Output: a table on stdout and, with --json,
{"pytorch": {"W1": ms_per_epoch, ...}, "numpy": {...}, "meta": {...}}; "meta" holds the
versions, threads, repeat, the best PyTorch mode per workload and every mode's figures.
"""
import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import time

def load_workloads(path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads.h")):
    """The workloads from their one definition, bench/workloads.h (the C initializer of
    bnn_bench_workloads): {id: (widths, activation, bias, n, lr, data)} and {id: batch} for the
    mini-batch ones."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.index("bnn_bench_workloads[] = {") + len("bnn_bench_workloads[] = {")
    body = text[start:text.index("};", start)]

    def value(tok):
        tok = tok.strip()
        if tok.startswith('"'):
            return tok[1:-1]
        m = re.fullmatch(r"BNN_BENCH_K\((\d+)\)", tok)
        if m:
            return 1 << int(m.group(1))
        return float(tok) if any(c in tok for c in ".eE") else int(tok)

    work, batch = {}, {}
    for entry in re.findall(r"\{([^{}]*)\}", body):
        # commas outside quotes and parentheses separate the fields
        fields = [value(t) for t in re.findall(r'(?:"[^"]*"|\([^()]*\)|[^,"()])+', entry)]
        wid, arch, act, data, bias, n, _n_ref, lr, size = fields[:9]
        work[wid] = ([int(w) for w in arch.split(",")], act, bool(bias), int(n), float(lr),
                     data.split(":", 1)[1])
        if size:
            batch[wid] = int(size)
    if not work:
        raise SystemExit(f"peers.py: no workloads found in {path}")
    return work, batch


# widths, activation, bias, n, lr, data (synth: name); BATCH: the mini-batch sizes, the others
# are full batches
WORKLOADS, BATCH = load_workloads()


def batches(n, batch):
    """(start, stop) of each batch of an epoch, in data order; batch 0 = the full batch."""
    b = batch or n
    return [(i, min(n, i + b)) for i in range(0, n, b)]
PEERS = ("pytorch", "numpy")
MODES = ("eager", "script", "trace", "fused")
SEED = 1


def data_numpy(np, widths, kind, n, seed=SEED):
    rng = np.random.default_rng(seed)
    x = rng.random((n, widths[0]), dtype=np.float32)
    if kind == "linear":
        y = 2 * x + rng.uniform(-0.001, 0.001, size=(n, widths[-1])).astype(np.float32)
    else:
        y = rng.random((n, widths[-1]), dtype=np.float32)
    return x, y


def glorot(np, widths, bias, seed=SEED):
    """[(W [out, in], b [out] or None)] with W ~ U(-r, r), r = sqrt(6 / (in + out)), b = 0."""
    rng = np.random.default_rng(seed + 1000)
    layers = []
    for i, o in zip(widths, widths[1:]):
        r = (6.0 / (i + o)) ** 0.5
        w = rng.uniform(-r, r, size=(o, i)).astype(np.float32)
        layers.append((w, np.zeros(o, dtype=np.float32) if bias else None))
    return layers


def timed_epochs(step, warmup, repeat):
    for _ in range(warmup):
        step()
    sec = []
    for _ in range(repeat):
        t = time.perf_counter()
        step()
        sec.append(time.perf_counter() - t)
    return 1e3 * statistics.median(sec)


# ---------------------------------------------------------------- numpy ----

def numpy_trainer(np, widths, act, bias, x, y, lr, layers, batch=0):
    """Returns step() doing one epoch of gradient descent (full batch, or mini-batches of
    `batch` in data order) and the parameters; step() returns the last batch's C."""
    params = [(w.copy(), None if b is None else b.copy()) for w, b in layers]
    sig = act == "sigmoid"
    spans = [(x[i:j], y[i:j]) for i, j in batches(x.shape[0], batch)]

    def step():
        for xb, yb in spans:
            cost = update(xb, yb)
        return cost

    def update(x, y):
        n = x.shape[0]
        with np.errstate(over="ignore"):
            acts = [x]
            a = x
            for w, b in params:
                z = np.matmul(a, w.T)  # (n, out), float32
                if b is not None:
                    z += b
                if sig:  # z <- 1 / (1 + exp(-z)), in place
                    np.negative(z, out=z)
                    np.exp(z, out=z)
                    z += 1
                    np.reciprocal(z, out=z)
                acts.append(z)
                a = z
            diff = a - y
            cost = float(np.einsum("ij,ij->", diff, diff, dtype=np.float64)) / n
            delta = diff
            delta *= 2.0 / n  # dC/da^(m), averaged over n
            grads = []
            for l in range(len(params) - 1, -1, -1):
                w, b = params[l]
                a_out, a_in = acts[l + 1], acts[l]
                if sig:  # q = delta * s * (1 - s); a_out's storage is free after this
                    q = a_out * delta
                    np.subtract(1, a_out, out=a_out)
                    q *= a_out
                else:
                    q = delta
                gw = np.matmul(q.T, a_in)  # (out, in)
                gb = q.sum(axis=0) if b is not None else None
                if l > 0:
                    delta = np.matmul(q, w)  # (n, in)
                grads.append((l, gw, gb))
            for l, gw, gb in grads:
                w, b = params[l]
                w -= lr * gw
                if b is not None:
                    b -= lr * gb
        return cost

    return step, params


def run_numpy(names, threads, warmup, repeat, log):
    import numpy as np

    out = {}
    for name in names:
        widths, act, bias, n, lr, kind = WORKLOADS[name]
        x, y = data_numpy(np, widths, kind, n)
        step, _ = numpy_trainer(np, widths, act, bias, x, y, lr, glorot(np, widths, bias),
                                BATCH.get(name, 0))
        out[name] = timed_epochs(step, warmup, repeat)
        log(f"numpy {name}: {out[name]:.2f} ms/epoch")
        del x, y, step
        gc.collect()
    return out, {"numpy": np.__version__}


# -------------------------------------------------------------- pytorch ----

def torch_model(torch, widths, act, bias, layers=None):
    nn = torch.nn
    mods = []
    for l, (i, o) in enumerate(zip(widths, widths[1:])):
        lin = nn.Linear(i, o, bias=bias)
        if layers is not None:
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layers[l][0]))
                if bias:
                    lin.bias.copy_(torch.from_numpy(layers[l][1]))
        else:
            r = (6.0 / (i + o)) ** 0.5
            with torch.no_grad():
                lin.weight.uniform_(-r, r)
                if bias:
                    lin.bias.zero_()
        mods.append(lin)
        mods.append(nn.Sigmoid() if act == "sigmoid" else nn.Identity())

    class WithLoss(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(*mods)

        def forward(self, x, y):
            out = self.net(x)
            return ((out - y) ** 2).sum(dim=1).mean()

    return WithLoss()


def torch_trainer(torch, module, mode, x, y, lr, batch=0):
    """Returns step(): one epoch (full batch, or mini-batches of `batch` in data order, one
    SGD update each); it returns the last batch's cost."""
    params = list(module.parameters())
    spans = [(x[i:j], y[i:j]) for i, j in batches(x.shape[0], batch)]
    if mode == "eager":
        f = module
    elif mode in ("script", "fused"):
        f = torch.jit.script(module)
    elif mode == "trace":
        f = torch.jit.trace(module, spans[0], check_trace=False)
    else:
        raise ValueError(mode)

    def step():
        for xb, yb in spans:
            loss = f(xb, yb)
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p.add_(p.grad, alpha=-lr)
                    p.grad = None
        return loss.item()

    return step


def torch_data(torch, widths, kind, n):
    g = torch.Generator().manual_seed(SEED)
    x = torch.rand(n, widths[0], generator=g, dtype=torch.float32)
    if kind == "linear":
        y = 2 * x + (torch.rand(n, widths[-1], generator=g) * 0.002 - 0.001)
    else:
        y = torch.rand(n, widths[-1], generator=g, dtype=torch.float32)
    return x, y


def run_pytorch(names, threads, warmup, repeat, modes, log):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    best, best_mode, all_modes = {}, {}, {m: {} for m in modes}
    fuse_default = torch._C._jit_can_fuse_on_cpu()
    if "fused" in modes and not torch._C._llvm_enabled():
        log("note: pytorch mode 'fused' skipped: this torch has no LLVM backend for the "
            "TensorExpr fuser on CPU")
        modes = [m for m in modes if m != "fused"]
        del all_modes["fused"]
    for name in names:
        widths, act, bias, n, lr, kind = WORKLOADS[name]
        x, y = torch_data(torch, widths, kind, n)
        for mode in modes:
            torch._C._jit_override_can_fuse_on_cpu(mode == "fused" or fuse_default)
            try:
                module = torch_model(torch, widths, act, bias)
                step = torch_trainer(torch, module, mode, x, y, lr, BATCH.get(name, 0))
                ms = timed_epochs(step, warmup, repeat)
            except Exception as exc:  # a mode that fails to compile is skipped, not fatal
                log(f"pytorch {name} {mode}: failed ({type(exc).__name__}: {exc}); skipped")
                continue
            finally:
                torch._C._jit_override_can_fuse_on_cpu(fuse_default)
            all_modes[mode][name] = ms
            log(f"pytorch {name} {mode}: {ms:.2f} ms/epoch")
            if name not in best or ms < best[name]:
                best[name], best_mode[name] = ms, mode
            del step, module
            gc.collect()
        del x, y
        gc.collect()
    meta = {"torch": torch.__version__, "pytorch_mode": best_mode, "pytorch_all_modes": all_modes}
    return best, meta


# ----------------------------------------------------------------- check ----

def check():
    """numpy and PyTorch (eager) from the same weights and data agree on every workload's
    shape, small n, after 3 epochs (costs and weights, float32 tolerance)."""
    import numpy as np
    import torch

    worst = 0.0
    for name, (widths, act, bias, _, lr, kind) in WORKLOADS.items():
        n = 512
        batch = BATCH.get(name, 0) and 100  # mini-batches: 5 of 100 and one of 12
        x, y = data_numpy(np, widths, kind, n)
        layers = glorot(np, widths, bias)
        step, params = numpy_trainer(np, widths, act, bias, x, y, lr, layers, batch)
        module = torch_model(torch, widths, act, bias, layers)
        tstep = torch_trainer(torch, module, "eager", torch.from_numpy(x), torch.from_numpy(y), lr,
                              batch)
        for _ in range(3):
            c_np, c_t = step(), tstep()
            worst = max(worst, abs(c_np - c_t) / max(abs(c_t), 1e-30))
        tparams = [p.detach().numpy() for p in module.parameters()]
        nparams = [t for w, b in params for t in ((w,) if b is None else (w, b))]
        for a, b in zip(nparams, tparams):
            err = float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))
            worst = max(worst, err)
        print(f"check {name}: cost numpy {c_np:.7g} pytorch {c_t:.7g}")
    ok = worst < 1e-4
    print(f"check: worst relative difference {worst:.3g} ({'ok' if ok else 'FAIL'})")
    return 0 if ok else 1


# ------------------------------------------------------------------ main ----

def child(args):
    names = args.workloads.split(",")
    log = lambda s: print(s, file=sys.stderr, flush=True)
    if args.child == "numpy":
        res, meta = run_numpy(names, args.threads, args.warmup, args.repeat, log)
    else:
        res, meta = run_pytorch(names, args.threads, args.warmup, args.repeat,
                                args.modes.split(","), log)
    print(json.dumps({"result": res, "meta": meta}))
    return 0


def module_present(peer):
    mod = {"pytorch": "torch", "numpy": "numpy"}[peer]
    r = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True)
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3,
                    help="epochs before timing (the JIT modes optimise during the first 2)")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--modes", default=",".join(MODES), help="PyTorch modes to try")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--check", action="store_true", help="numpy vs PyTorch agreement, small n")
    ap.add_argument("--child", choices=PEERS, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.check:
        return check()
    if args.child:
        return child(args)
    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    for w in names:
        if w not in WORKLOADS:
            ap.error(f"--workloads: unknown workload '{w}' ({', '.join(WORKLOADS)})")
    for m in args.modes.split(","):
        if m not in MODES:
            ap.error(f"--modes: unknown mode '{m}' ({', '.join(MODES)})")
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    for p in peers:
        if p not in PEERS:
            ap.error(f"--peers: unknown peer '{p}' ({', '.join(PEERS)})")
    if args.repeat < 1 or args.threads < 1 or args.warmup < 0:
        ap.error("--repeat and --threads must be >= 1, --warmup >= 0")

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    results = {}
    meta = {"threads": args.threads, "repeat": args.repeat, "warmup": args.warmup,
            "python": sys.version.split()[0]}
    for peer in peers:
        if not module_present(peer):
            mod = {"pytorch": "torch", "numpy": "numpy"}[peer]
            print(f"note: {peer} skipped: module '{mod}' missing for {sys.executable} "
                  f"(apt-get install python3-{mod})", file=sys.stderr)
            continue
        cmd = [sys.executable, os.path.abspath(__file__), "--child", peer,
               "--workloads", ",".join(names), "--threads", str(args.threads),
               "--repeat", str(args.repeat), "--warmup", str(args.warmup),
               "--modes", args.modes]
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
        if r.returncode != 0:
            print(f"note: {peer} failed (exit {r.returncode}); skipped", file=sys.stderr)
            continue
        out = json.loads(r.stdout.strip().splitlines()[-1])
        results[peer] = out["result"]
        meta.update(out["meta"])

    if not results:
        print("peers: no peer could run", file=sys.stderr)
        return 1
    # table
    cols = [p for p in PEERS if p in results]
    print(f"peers: {args.threads} thread(s), median of {args.repeat} epochs after "
          f"{args.warmup} warm-up; ms/epoch")
    head = f"{'id':<4} {'model':<27} {'n':>9} {'batch':>6}" + "".join(f" {c:>12}" for c in cols)
    if "pytorch" in results:
        head += f" {'torch mode':>10}"
    print(head)
    for w in names:
        widths, act, _, n, _, _ = WORKLOADS[w]
        model = ",".join(map(str, widths)) + " " + act
        line = f"{w:<4} {model:<27} {n:>9} {BATCH.get(w, 'full'):>6}"
        for c in cols:
            v = results[c].get(w)
            line += f" {v:12.2f}" if v is not None else f" {'-':>12}"
        if "pytorch" in results:
            line += f" {meta.get('pytorch_mode', {}).get(w, '-'):>10}"
        print(line)
    if args.json:
        doc = dict(results)
        doc["meta"] = meta
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
