#!/usr/bin/env python3
"""mpi_model.py - batchnn's data-parallel scaling on paper (the alpha-beta model).

Python 3 standard library only. bench/mpi.sh calls it with the figures it measured:

  bench/mpi_model.py --alpha-us A --beta-ns B --workload W5:60000:203530:EPOCH_MS ... \
      --md bench/sample/mpi_model.md --svg bench/sample/mpi_model.svg

--baseline FILE.json  W4, W5, W6 from `batchnn bench --json` (e.g. bench/baselines/*.json,
    recorded when the machine was quiet) instead of --workload.
--workload ID:N:ARCH:EPOCH_MS  one full-batch workload: n samples, its widths (784,256,10;
    for W4, W5, W6 their parameter count will do) and the epoch time of one node of --threads
    threads in ms. W4, W5, W6 also give W4-2^30, W5-2^24, W6-2^20: the same net on that many
    samples at the measured per-sample rate.
--alpha-us, --beta-ns  latency (us) and inverse bandwidth (ns per byte) measured on this
    machine (bench/mpi_pingpong: ranks on one host, shared memory). Shown for reference.
--cluster-alpha-us (default 2), --cluster-gbps (default 25): the ASSUMED cluster network
    (25 Gb/s Ethernet or InfiniBand class, 2 us latency); the predictions use these.
--threads T (default 2): threads per node, those the epochs were measured with.

The model of one full-batch epoch (one step) on N nodes of T threads, as the code runs it
(src/engine/fast.c, src/dist/dist.c, src/dist/tree.c):
  shards: S = ceil(n / min_shard), min_shard from the widths only (shard_rule below: about
    4 MFLOP and at least a chunk on the GEMM path; 1 MFLOP and at least 256 on the narrow
    path), no cap; past 32 such shards, shards grow to big_shard samples (4 chunks; narrow:
    4096): max(32, ceil(n / big_shard)) shards. Rank r owns shards
    [floor(r S / N), floor((r + 1) S / N)); its T threads
    take equal contiguous parts of them.
  compute(N) = ceil(ceil(S / N) / T) shard-times (the busiest thread of the busiest node), a
    shard-time being n / S samples at the per-thread rate the node's measured epoch gives
    (epoch = ceil(S1 / T) shard-times of its own n samples in S1 shards).
  reduce(N), the fixed tree over shards: every tree node whose halves start on different
    ranks is one message of 4P bytes (messages per step: counted on the tree, as
    bnn_dist_tree_messages does); the critical path is the longest chain of such messages
    (each node waits for its left child and for the right child's message), then the root is
    broadcast (a binomial tree, ceil(log2 N) levels):
      reduce(N) = (chain(S, N) + ceil(log2 N)) (alpha + 4 P beta)
  epoch(N) = compute(N) + reduce(N); strong scaling: n fixed, efficiency epoch(1) / (N
  epoch(N)); weak scaling: n N samples (S grows with them), efficiency epoch(1) / epoch(N).
  Mini-batches (GEMM path) of at most split_max samples (4096, less for nets too wide for a
  whole-batch workspace): a batch of at least 2 pieces, piece = max(256, min_shard) samples,
  is cut into P = floor(B / piece) pieces that are computed and reduced exactly like P shards
  (compute over ceil(P / N) pieces, the same tree); a smaller one is computed whole by every
  rank with no exchange (split mode): N nodes take as long as one, efficiency 1 / N. Larger
  batches are sharded like a full batch. (Narrow nets have no split mode: sharded always.)
"""
import argparse
import math
import sys

NODES = [1, 2, 4, 8, 16, 32, 64]
# src/engine/fast.c and kernels/bnn_narrow.h
GEMM_CHUNK = 256
GEMM_WIDE = 1 << 18
WORKSPACE_MAX = (64 << 20) // 4  # floats
NARROW_MAX_WIDTH = 32
NARROW_MIN_SHARD = 256
NARROW_CHUNK = 4096  # BNN_NARROW_CHUNK_MAX: narrow shards past FEW_SHARDS
FEW_SHARDS = 32
SPLIT_MAX = 4096
PIECE_MIN = 256  # fast_impl.h: mini-batch pieces of at least max(PIECE_MIN, min_shard)
# the workloads of bench/workloads.sh, for specs that give a parameter count
ARCHS = {"W4": "2,16,16,1", "W5": "784,256,10", "W6": "512,1024,1024,16"}


def workspace(w, chunk):
    """Floats of one thread's workspace for chunks of `chunk` samples (without rounding)."""
    return chunk * (sum(w[1:]) + 2 * max(w) + w[0] + w[-1])


def chunk_of(w):
    """The GEMM path's chunk (gemm_chunk, then default_chunk's workspace bound)."""
    most = max(w[i] * w[i + 1] for i in range(len(w) - 1))
    c = 4 * GEMM_CHUNK if most > 2 * GEMM_WIDE else 2 * GEMM_CHUNK if most > GEMM_WIDE \
        else GEMM_CHUNK
    if workspace(w, c) <= WORKSPACE_MAX:
        return c
    return max(1, min(c - 1, WORKSPACE_MAX // workspace(w, 1)))


def shard_rule(arch):
    """(min_shard, big_shard, split_max) of a net (mse, default path), as plan() sets them."""
    w = [int(x) for x in arch.split(",")]
    flops = sum(6.0 * w[i] * w[i + 1] for i in range(len(w) - 1))
    if max(w) <= NARROW_MAX_WIDTH:
        floor_, ms, split = NARROW_MIN_SHARD, 1e6 / flops, 0
    else:
        floor_, ms = chunk_of(w), 4e6 / flops
        split = SPLIT_MAX
        while split > 0 and workspace(w, split) > WORKSPACE_MAX:
            split = split - split // 16 if split > 64 else split - 1
    min_shard = floor_ if ms < floor_ else 65536 if ms > 65536 else int(ms)
    big = max(min_shard, NARROW_CHUNK if split == 0 else 4 * floor_)
    return min_shard, big, split


def pieces(B, rule):
    """piece_count: floor(B / piece) pieces for a GEMM mini-batch of 2 pieces up to split_max,
    piece = max(PIECE_MIN, min_shard); 0: split mode (whole on every rank) or not a mini-batch
    of the GEMM path."""
    piece = max(PIECE_MIN, rule[0])
    if rule[2] == 0 or B > rule[2] or B // piece < 2:
        return 0
    return B // piece


def shards(n, rule):
    """shard_count: ceil(n / min_shard); past FEW_SHARDS, max(FEW_SHARDS, ceil(n / big))."""
    s = -(-n // rule[0])
    if s > FEW_SHARDS and rule[1] > rule[0]:
        s = max(FEW_SHARDS, -(-n // rule[1]))
    return s


def owner(S, K, s):
    """The rank owning shard s (rank r owns [floor(r S / K), floor((r + 1) S / K)))."""
    r = min(K - 1, (s * K + K - 1) // S)
    while r > 0 and r * S // K > s:
        r -= 1
    while r + 1 < K and (r + 1) * S // K <= s:
        r += 1
    return r


def mid(lo, hi):
    p = 1
    while 2 * p < hi - lo:
        p *= 2
    return lo + p


def tree_walk(S, K):
    """(messages, chain): the tree's messages over K ranks and its longest chain of them."""
    def node(lo, hi):
        if owner(S, K, lo) == owner(S, K, hi - 1):
            return 0, 0
        m = mid(lo, hi)
        ml, cl = node(lo, m)
        mr, cr = node(m, hi)
        cross = owner(S, K, lo) != owner(S, K, m)
        return ml + mr + cross, max(cl, cr + cross)
    return node(0, S)


def tree(S, n_nodes, p, alpha, beta):
    """The reduction's time on the critical path: the chain, then the broadcast."""
    if n_nodes == 1:
        return 0.0
    _, chain = tree_walk(S, n_nodes)
    return (chain + math.ceil(math.log2(n_nodes))) * (alpha + 4 * p * beta)


def compute(n, S, n_nodes, threads, t_sample):
    """The busiest thread's time: ceil(ceil(S / N) / T) shards of n / S samples."""
    per_node = -(-S // n_nodes)
    return -(-per_node // threads) * (n / S) * t_sample


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


def parse_spec(spec):
    """ID:N:ARCH:EPOCH_MS (ARCH: widths W0,W1,...) or ID:N:PARAMS:EPOCH_MS for W4, W5, W6."""
    try:
        wid, n, net, ms = spec.split(":")
        n, ms = int(n), float(ms)
    except ValueError:
        die(f"--workload {spec}: expected ID:N:ARCH:EPOCH_MS, e.g. W5:60000:784,256,10:41.2")
    if "," in net:
        try:
            p = params_of(net)
        except ValueError:
            die(f"--workload {spec}: the architecture must be widths like 784,256,10")
        arch = net
    else:
        if wid not in ARCHS:
            die(f"--workload {spec}: give the architecture (ID:N:ARCH:EPOCH_MS) for {wid}")
        arch = ARCHS[wid]
        try:
            p = int(net)
        except ValueError:
            die(f"--workload {spec}: expected ID:N:ARCH:EPOCH_MS")
    if n < 1 or p < 1 or not ms > 0:
        die(f"--workload {spec}: n, params and the epoch time must be positive")
    return wid, n, arch, p, ms / 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", action="append", default=[], metavar="ID:N:ARCH:EPOCH_MS")
    ap.add_argument("--baseline", default=None, metavar="FILE.json",
                    help="take W4, W5, W6 from a `batchnn bench --json` file (bench/baselines/)")
    ap.add_argument("--alpha-us", type=float, default=None)
    ap.add_argument("--beta-ns", type=float, default=None)
    ap.add_argument("--cluster-alpha-us", type=float, default=2.0)
    ap.add_argument("--cluster-gbps", type=float, default=25.0)
    ap.add_argument("--threads", type=int, default=2,
                    help="threads per node, those the epoch times were measured with")
    ap.add_argument("--md", default=None)
    ap.add_argument("--svg", default=None)
    a = ap.parse_args()
    if a.baseline:
        a.workload += from_baseline(a.baseline)
    if not a.workload:
        die("give at least one --workload ID:N:ARCH:EPOCH_MS (bench/mpi.sh does)")
    if a.threads < 1:
        die("--threads must be at least 1")
    T = a.threads
    wl = []
    for spec in a.workload:
        wid, n, arch, p, ep = parse_spec(spec)
        rule = shard_rule(arch)
        split = rule[2]
        S1 = shards(n, rule)
        # the per-thread time of a sample: the measured epoch is ceil(S1 / T) shard-times
        t_sample = ep / (-(-S1 // T) * (n / S1))
        wl.append((wid, n, arch, p, ep, rule, split, t_sample))
        big = {"W4": 1 << 30, "W5": 1 << 24, "W6": 1 << 20}.get(wid)
        if big:
            wl.append((f"{wid}-2^{big.bit_length() - 1}", big, arch, p, None, rule, split,
                       t_sample))
    order = {"W5": 0, "W5-2^24": 1, "W6": 2, "W6-2^20": 3, "W4-2^30": 4, "W4": 5}
    wl.sort(key=lambda w: order.get(w[0], 9))
    ca = a.cluster_alpha_us * 1e-6
    cb = 8.0 / (a.cluster_gbps * 1e9)  # seconds per byte

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
    w(f"- Per-node epoch ({T} threads, measured{' by batchnn bench: ' + a.baseline if a.baseline else ''}): "
      + "; ".join(f"{wid} {ep * 1e3:.4g} ms ({n} samples, {p} parameters, {shards(n, r)} "
                  f"shards, min_shard {r[0]})" for wid, n, _, p, ep, r, _, _ in wl if ep) + ".")
    w("- Shards: S = ceil(n / min_shard), min_shard from the widths, no cap (past 32 shards "
      "of min_shard, shards of 4 chunks; narrow nets: 4096); a W*-2^k row is the same net "
      "on 2^k samples at the measured per-sample rate.\n")

    rows = {}
    for wid, n, arch, p, ep, rule, split, ts in wl:
        S = shards(n, rule)
        ep1 = compute(n, S, 1, T, ts)
        w(f"## {wid}: {n} samples, {p} parameters, {4 * p} bytes of gradient, {S} shards\n")
        w("| nodes | strong: epoch ms | strong eff. | reduce share | msgs/step | weak: shards "
          "| weak: epoch ms | weak eff. |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|")
        series = []
        for N in NODES:
            red = tree(S, N, p, ca, cb)
            strong = compute(n, S, N, T, ts) + red
            e_strong = ep1 / (N * strong)
            msgs = tree_walk(S, N)[0] + (N - 1) if N > 1 else 0
            SW = shards(n * N, rule)
            weak = compute(n * N, SW, N, T, ts) + tree(SW, N, p, ca, cb)
            e_weak = ep1 / weak
            share = red / strong
            w(f"| {N} | {strong * 1e3:.4g} | {e_strong:.2f} | {share:.0%} | {msgs} | {SW} | "
              f"{weak * 1e3:.4g} | {e_weak:.2f} |")
            series.append((N, e_strong, e_weak, share))
        rows[wid] = series
        w("")
        dom = [N for N, _, _, sh in series if sh > 0.5]
        if dom:
            w(f"The reduction is more than half of the epoch from {dom[0]} nodes on (strong "
              "scaling). ")
        w("")

    # mini-batches: split mode (every rank computes the batch) or sharded like a full batch
    w("## Mini-batch steps\n")
    w("Strong-scaling efficiency of one step of a global batch of B samples on the assumed "
      "network. A batch of at most split_max samples and fewer than 2 pieces (piece = "
      "max(256, min_shard) samples) is computed whole by every rank (split mode: no exchange, "
      "efficiency 1 / N); one of 2 pieces or more is cut into floor(B / piece) pieces the "
      "ranks share, reduced along the tree like shards; a larger one is sharded and reduced "
      "like a full batch. Pieces (or shards) bound the useful nodes: past that many, nodes "
      "idle:\n")
    w("| workload | batch | split_max | pieces or shards | "
      + " | ".join(f"{N} nodes" for N in NODES[1:]) + " |")
    w("|---|---:|---:|---:|" + "---:|" * (len(NODES) - 1))
    for wid, n, arch, p, ep, rule, split, ts in wl:
        if "-2^" in wid or wid == "W4":
            continue
        for B in (256, 1024, 4096, 65536):
            P = pieces(B, rule)
            if B <= split and P == 0:
                effs, cut = [1.0 / N for N in NODES[1:]], "whole"
            else:
                S = P if P else shards(B, rule)
                one = compute(B, S, 1, T, ts)
                effs = [one / (N * (compute(B, S, N, T, ts) + tree(S, N, p, ca, cb)))
                        for N in NODES[1:]]
                cut = f"{S} pieces" if P else f"{S} shards"
            w(f"| {wid} | {B} | {split} | {cut} | " + " | ".join(f"{e:.2f}" for e in effs)
              + " |")
    w("")
    w("## Where the reduction dominates, and what would change it\n")
    w("- **Bigger steps**: a full-batch epoch is one reduction for n samples; in mini-batch "
      "training every batch is a step, so the reduction's share grows as the batch shrinks.")
    w("- **Overlap**: reduce layer l's gradient while layer l - 1's backward pass runs; the "
      "cost then hides behind compute up to the backward time.")
    w("- **Fewer bytes**: float16/bfloat16 gradients halve beta's term; a ring allreduce "
      "moves about 2 x 4P bytes per node whatever N, at the price of an association that "
      "depends on N (not bitwise reproducible across rank counts: batchnn keeps the tree).")
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
    """Efficiency against nodes (log2 axis): solid strong scaling, dashed weak scaling, for
    each workload."""
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
        strong = " ".join(f"{x(n):.1f},{y(es):.1f}" for n, es, _, _ in series)
        weak = " ".join(f"{x(n):.1f},{y(ew):.1f}" for n, _, ew, _ in series)
        s.append(f'<polyline points="{strong}" fill="none" stroke="{c}" stroke-width="2"/>')
        s.append(f'<polyline points="{weak}" fill="none" stroke="{c}" stroke-width="2" '
                 'stroke-dasharray="6 4"/>')
        for n, es, _, _ in series:
            s.append(f'<circle cx="{x(n):.1f}" cy="{y(es):.1f}" r="3" fill="{c}"/>')
        s.append(f'<line x1="{L + pw + 15}" y1="{ly}" x2="{L + pw + 40}" y2="{ly}" '
                 f'stroke="{c}" stroke-width="2"/>')
        s.append(f'<text x="{L + pw + 45}" y="{ly + 4}">{wid} strong</text>')
        s.append(f'<line x1="{L + pw + 15}" y1="{ly + 18}" x2="{L + pw + 40}" y2="{ly + 18}" '
                 f'stroke="{c}" stroke-width="2" stroke-dasharray="6 4"/>')
        s.append(f'<text x="{L + pw + 45}" y="{ly + 22}">{wid} weak</text>')
        ly += 44
    s.append("</svg>")
    import os
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(s) + "\n")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
