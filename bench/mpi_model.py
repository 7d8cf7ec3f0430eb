#!/usr/bin/env python3
"""mpi_model.py - batchnn's data-parallel scaling on paper (the alpha-beta model).

Python 3 standard library only. bench/mpi.sh calls it with the figures it measured:

  bench/mpi_model.py --alpha-us A --beta-ns B --workload W5:60000:203530:EPOCH_MS ... \
      --md bench/sample/mpi_model.md --svg bench/sample/mpi_model.svg

--baseline FILE.json  W4, W5, W6 from `batchnn bench --json` (e.g. bench/baselines/*.json,
    recorded when the machine was quiet) instead of --workload.
--workload ID:N:PARAMS:EPOCH_MS  one full-batch workload: n samples, its parameter count and
    the epoch time of one node (this machine, all its cores) in ms; the per-sample compute
    time is EPOCH_MS / N. W4 also gives "W4-2^30": the same net on 2^30 samples.
--alpha-us, --beta-ns  latency (us) and inverse bandwidth (ns per byte) measured on this
    machine (bench/mpi_pingpong: ranks on one host, shared memory). Shown for reference.
--cluster-alpha-us (default 2), --cluster-gbps (default 25): the ASSUMED cluster network
    (25 Gb/s Ethernet or InfiniBand class, 2 us latency); the predictions use these.
--threads T (default 2): threads per node (this machine's cores).

The model of one full-batch epoch (one step) on N nodes:
  compute(N) = per-node share of the n samples' forward and backward passes. batchnn cuts the
    samples into S shards (S a function of n and the net only: at most 32, and at most
    64 MiB / (4 P) for wide nets, so W6 gets 10), each rank owns a contiguous range of them and
    each thread works a shard at a time; a node with s shards and T threads takes
    ceil(s / T) shard-times, a shard-time being T x epoch / S. So N x T beyond S adds nothing.
  reduce(N), batchnn's fixed tree: the K - 1 subtree sums go up a binary tree, ceil(log2 N)
    levels on the critical path, each one message of 4P bytes, then the total is broadcast
    (a binomial tree: ceil(log2 N) more levels):
      tree(N) = 2 ceil(log2 N) (alpha + 4 P beta)
    against a ring allreduce (reduce-scatter + allgather, what MPI_Allreduce does for large P):
      ring(N) = 2 (N - 1) (alpha + 4 P beta / N)
    The tree moves log2 N full copies of the gradient on its critical path; the ring moves
    about 2 copies whatever N, but its association depends on N, so it is not bitwise
    reproducible across rank counts, which batchnn promises.
  epoch(N) = compute(N) + reduce(N); strong scaling: n fixed, efficiency epoch(1) / (N
  epoch(N)); weak scaling: n x N samples, efficiency epoch(1) / epoch(N).
"""
import argparse
import math
import sys

NODES = [1, 2, 4, 8, 16, 32, 64]
MAX_SHARDS = 32
PARTIAL_BUDGET = 64 << 20


def shard_cap(params):
    """The fast engine's shard cap (src/engine/fast.c): MAX_SHARDS, fewer when the partials
    (one per shard, the parameter count rounded up to 16 floats) exceed PARTIAL_BUDGET."""
    pstride = (params + 15) // 16 * 16
    return max(1, min(MAX_SHARDS, PARTIAL_BUDGET // (4 * pstride)))


def tree(n_nodes, p, alpha, beta):
    if n_nodes == 1:
        return 0.0
    return 2 * math.ceil(math.log2(n_nodes)) * (alpha + 4 * p * beta)


def ring(n_nodes, p, alpha, beta):
    if n_nodes == 1:
        return 0.0
    return 2 * (n_nodes - 1) * (alpha + 4 * p * beta / n_nodes)


def compute(n_nodes, epoch1, shards, threads, capped=True):
    """One node's compute time for one epoch of shards spread over n_nodes."""
    s = shards if capped else max(shards, n_nodes * threads)
    shard_time = threads * epoch1 / s
    if n_nodes >= s:
        return shard_time
    per_node = math.ceil(s / n_nodes)
    return shard_time * math.ceil(per_node / threads)


def params_of(arch):
    """Weights and biases of a net with widths arch (W0,W1,...: every layer biased)."""
    w = [int(x) for x in arch.split(",")]
    return sum(w[i] * w[i + 1] + w[i + 1] for i in range(len(w) - 1))


def from_baseline(path):
    """ID:N:PARAMS:EPOCH_MS specs of W4, W5, W6 from a `batchnn bench --json` file."""
    import json
    try:
        with open(path) as f:
            doc = json.load(f)
        out = []
        for w in doc["workloads"]:
            if w["id"] in ("W4", "W5", "W6"):
                out.append(f'{w["id"]}:{int(w["n"])}:{params_of(w["arch"])}:'
                           f'{float(w["ms_per_epoch"])}')
    except (OSError, ValueError, KeyError, TypeError) as e:
        die(f"--baseline {path}: cannot read W4, W5, W6 from it ({e})")
    if not out:
        die(f"--baseline {path}: no W4, W5 or W6 in it")
    return out


def die(msg):
    """One line on stderr, exit 2 (bad usage)."""
    sys.stderr.write(f"mpi_model.py: {msg}\n")
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", action="append", default=[], metavar="ID:N:PARAMS:EPOCH_MS")
    ap.add_argument("--baseline", default=None, metavar="FILE.json",
                    help="take W4, W5, W6 from a `batchnn bench --json` file (bench/baselines/)")
    ap.add_argument("--alpha-us", type=float, default=None)
    ap.add_argument("--beta-ns", type=float, default=None)
    ap.add_argument("--cluster-alpha-us", type=float, default=2.0)
    ap.add_argument("--cluster-gbps", type=float, default=25.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--md", default=None)
    ap.add_argument("--svg", default=None)
    a = ap.parse_args()
    if a.baseline:
        a.workload += from_baseline(a.baseline)
    if not a.workload:
        die("give at least one --workload ID:N:PARAMS:EPOCH_MS (bench/mpi.sh does)")
    wl = []
    for spec in a.workload:
        try:
            wid, n, p, ms = spec.split(":")
            n, p, ms = int(n), int(p), float(ms)
        except ValueError:
            die(f"--workload {spec}: expected ID:N:PARAMS:EPOCH_MS, e.g. W5:60000:203530:41.2")
        if n < 1 or p < 1 or not ms > 0:
            die(f"--workload {spec}: n, params and the epoch time must be positive")
        wl.append((wid, n, p, ms / 1e3))
        if wid == "W4":
            big = 1 << 30
            wl.append(("W4-2^30", big, p, ms / 1e3 / n * big))
    order = {"W5": 0, "W6": 1, "W4-2^30": 2, "W4": 3}
    wl.sort(key=lambda w: order.get(w[0], 9))
    ca = a.cluster_alpha_us * 1e-6
    cb = 8.0 / (a.cluster_gbps * 1e9)  # seconds per byte
    T = a.threads

    out = []
    w = out.append
    w("# Scaling model (alpha-beta)\n")
    w("Generated by `bench/mpi_model.py` from the figures `bench/mpi.sh` measured; see the "
      "script's header for the formulas.\n")
    if a.alpha_us is not None and a.beta_ns is not None:
        w(f"- Measured on this machine (2 ranks on one host, shared memory): alpha = "
          f"{a.alpha_us:.2f} us, beta = {a.beta_ns:.3f} ns/byte "
          f"({1 / a.beta_ns if a.beta_ns > 0 else 0:.2f} GB/s).")
    w(f"- **Assumed** cluster network: alpha = {a.cluster_alpha_us:g} us, {a.cluster_gbps:g} Gb/s "
      f"(beta = {cb * 1e9:.3f} ns/byte); nodes as fast as this machine with {T} threads; "
      "full batch (one reduction per epoch); compute does not overlap the reduction.")
    w(f"- Per-node epoch (1 node, measured{' by batchnn bench: ' + a.baseline if a.baseline else ''}): " + "; ".join(
        f"{wid} {ep * 1e3:.4g} ms ({n} samples, {p} parameters, shard cap {shard_cap(p)})"
        for wid, n, p, ep in wl) + ".")
    w("- The shard cap limits how many ranks x threads share one step: N nodes x "
      f"{T} threads beyond the shard count S leave threads or whole nodes idle (columns "
      "\"as built\"); \"S unlimited\" shows the same model if the engine cut at least "
      f"N x {T} shards.\n")

    rows = {}
    for wid, n, p, ep in wl:
        S = shard_cap(p)
        w(f"## {wid}: {n} samples, {p} parameters, {4 * p} bytes of gradient\n")
        w("| nodes | strong: epoch ms | strong eff. | strong eff. (S unlimited) | reduce share "
          "| ring allreduce eff. | weak: epoch ms | weak eff. | weak eff. (S unlimited) |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        series = []
        for N in NODES:
            red = tree(N, p, ca, cb)
            rred = ring(N, p, ca, cb)
            cs = compute(N, ep, S, T)
            cs_u = compute(N, ep, S, T, capped=False)
            strong = cs + red
            e_strong = ep / (N * strong)
            e_strong_u = ep / (N * (cs_u + red))
            e_ring = ep / (N * (cs + rred))
            # weak: N x n samples; the shard count still stops at S
            cw = compute(N, ep * N, S, T)
            cw_u = ep  # every node keeps its n samples' shards
            weak = cw + red
            e_weak = ep / weak
            e_weak_u = ep / (cw_u + red)
            share = red / strong
            w(f"| {N} | {strong * 1e3:.4g} | {e_strong:.2f} | {e_strong_u:.2f} | {share:.0%} | "
              f"{e_ring:.2f} | {weak * 1e3:.4g} | {e_weak:.2f} | {e_weak_u:.2f} |")
            series.append((N, e_strong, e_strong_u, e_weak_u, share))
        rows[wid] = series
        w("")
        dom = [N for N, _, _, _, sh in series if sh > 0.5]
        if dom:
            w(f"The reduction is more than half of the epoch from {dom[0]} nodes on (strong "
              "scaling). ")
        w("")

    # mini-batches: one reduction per batch of B samples (the batch split over the nodes)
    w("## Mini-batch steps: one reduction per batch\n")
    w("Strong-scaling efficiency of one step of a global batch of B samples (compute B x the "
      "per-sample time / N, shard cap ignored) with batchnn's tree on the assumed network:\n")
    w("| workload | batch | " + " | ".join(f"{N} nodes" for N in NODES[1:]) + " |")
    w("|---|---:|" + "---:|" * (len(NODES) - 1))
    for wid, n, p, ep in wl:
        if wid.startswith("W4-"):
            continue
        for B in (256, 4096):
            step1 = ep / n * B
            effs = [step1 / (N * (step1 / N + tree(N, p, ca, cb))) for N in NODES[1:]]
            w(f"| {wid} | {B} | " + " | ".join(f"{e:.2f}" for e in effs) + " |")
    w("")
    w("## Where the reduction dominates, and what would change it\n")
    w("- **Bigger steps**: a full-batch epoch is one reduction for n samples; in mini-batch "
      "training every batch is a step, so the reduction's share grows as the batch shrinks: "
      "keep the per-node batch large (thousands of samples for W5, W6).")
    w("- **Overlap**: reduce layer l's gradient while layer l - 1's backward pass runs "
      "(the last layer's gradient is ready first); the cost then hides behind compute up to "
      "the backward time.")
    w("- **Fewer bytes**: float16/bfloat16 gradients halve beta's term; a ring (or "
      "reduce-scatter + allgather) moves 2 x 4P bytes per node whatever N instead of "
      "log2 N x 4P on the tree's critical path, at the price of an association that depends "
      "on N (not bitwise reproducible across rank counts: batchnn keeps the tree).")
    w("- **More shards**: the shard cap (32; 10 for W6) bounds useful ranks x threads; "
      "beyond it nodes idle (the \"S unlimited\" columns show the gain of lifting it, which "
      "would change the summation order and so every result).")
    text = "\n".join(out) + "\n"
    if a.md:
        with open(a.md + ".tmp", "w") as f:
            f.write(text)
        import os
        os.replace(a.md + ".tmp", a.md)
    else:
        sys.stdout.write(text)
    if a.svg:
        write_svg(a.svg, rows)


COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def write_svg(path, rows):
    """Efficiency against nodes (log2 axis): solid strong scaling as built, dashed weak
    scaling with unlimited shards, for each workload."""
    W, H, L, R, TP, B = 720, 420, 70, 190, 40, 60
    pw, ph = W - L - R, H - TP - B
    xmax = math.log2(NODES[-1])

    def x(n):
        return L + pw * math.log2(n) / xmax

    def y(e):
        return TP + ph * (1 - max(0.0, min(1.05, e)) / 1.05)

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="15">batchnn data-parallel efficiency (model: '
         'assumed 25 Gb/s, 2 us network)</text>']
    for e in [0, 0.25, 0.5, 0.75, 1.0]:
        s.append(f'<line x1="{L}" y1="{y(e):.1f}" x2="{L + pw}" y2="{y(e):.1f}" '
                 'stroke="#ddd"/>')
        s.append(f'<text x="{L - 8}" y="{y(e) + 4:.1f}" text-anchor="end">{e:.2f}</text>')
    for n in NODES:
        s.append(f'<line x1="{x(n):.1f}" y1="{TP}" x2="{x(n):.1f}" y2="{TP + ph}" '
                 'stroke="#eee"/>')
        s.append(f'<text x="{x(n):.1f}" y="{TP + ph + 18}" text-anchor="middle">{n}</text>')
    s.append(f'<text x="{L + pw / 2}" y="{H - 15}" text-anchor="middle">nodes</text>')
    s.append(f'<text x="18" y="{TP + ph / 2}" text-anchor="middle" '
             f'transform="rotate(-90 18 {TP + ph / 2})">parallel efficiency</text>')
    s.append(f'<rect x="{L}" y="{TP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    ly = TP + 10
    for i, (wid, series) in enumerate(rows.items()):
        c = COLORS[i % len(COLORS)]
        strong = " ".join(f"{x(n):.1f},{y(es):.1f}" for n, es, _, _, _ in series)
        weak = " ".join(f"{x(n):.1f},{y(ew):.1f}" for n, _, _, ew, _ in series)
        s.append(f'<polyline points="{strong}" fill="none" stroke="{c}" stroke-width="2"/>')
        s.append(f'<polyline points="{weak}" fill="none" stroke="{c}" stroke-width="2" '
                 'stroke-dasharray="6 4"/>')
        for n, es, _, _, _ in series:
            s.append(f'<circle cx="{x(n):.1f}" cy="{y(es):.1f}" r="3" fill="{c}"/>')
        s.append(f'<line x1="{L + pw + 15}" y1="{ly}" x2="{L + pw + 40}" y2="{ly}" '
                 f'stroke="{c}" stroke-width="2"/>')
        s.append(f'<text x="{L + pw + 45}" y="{ly + 4}">{wid} strong</text>')
        s.append(f'<line x1="{L + pw + 15}" y1="{ly + 18}" x2="{L + pw + 40}" y2="{ly + 18}" '
                 f'stroke="{c}" stroke-width="2" stroke-dasharray="6 4"/>')
        s.append(f'<text x="{L + pw + 45}" y="{ly + 22}">{wid} weak*</text>')
        ly += 44
    s.append(f'<text x="{L + pw + 15}" y="{ly + 8}" font-size="10">strong: shard cap as built</text>')
    s.append(f'<text x="{L + pw + 15}" y="{ly + 22}" font-size="10">*weak: shards unlimited</text>')
    s.append("</svg>")
    import os
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(s) + "\n")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
