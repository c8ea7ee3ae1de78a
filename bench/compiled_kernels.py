"""What compile_search buys in kernels: aten ops (the eager search's kernel launches) against the kernels
inductor makes of the same functions, per function and per simulation, with the cold compile times.

    python bench/compiled_kernels.py [--device cpu|cuda] [--net t4] [--batch 64] [--bound 8] [--warm]
                                     [--out results.md]

For each game and search type it runs one sync-free simulation of the graph path (what a CUDA graph
replays) at a depth bound, twice on the same tree: with the plain functions, then with the versions
compile_search uses (nb.compile_fixed, fixed shapes): the game's step, status and encode, the select
level (PUCT only: Gumbel's stays eager), the tree reads before the rules (fetch) and the tree writes
after them (write). It reports:
  * aten ops per call: operators that compute (views excluded), counted at the dispatcher: on a GPU
    each is one kernel launch of the eager search;
  * inductor kernels per call: what inductor generated for the function (C++ on a CPU, Triton on a
    GPU; torch._inductor.metrics.generated_kernel_count);
  * per simulation: aten ops with the plain functions, and with the compiled ones counted as their
    kernels and the rest (the network, the priors, the backup, the select path's record, Gumbel's
    select levels) as aten ops;
  * the cold compile time of each function (a fresh inductor cache unless --warm). A function the
    other search type compiled already (same game) is "shared": its code is reused.
On a CPU this is the fusion inductor's C++ backend does; a GPU run shows Triton's (bench/gpu_session.sh).
Nothing is asserted: it is a measurement.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

if "--warm" not in sys.argv:                              # before torch: a cold compile, as on a fresh Colab
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-cold-")

import torch  # noqa: E402
from torch._inductor import metrics  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import load_notebook_module  # noqa: E402
from test_graph_search import OpRecorder, c4_roots, chess_roots  # noqa: E402
from selfplay_throughput import NETS, hardware  # noqa: E402



def key_of(name):
    return "select level" if name == "level" else name


def measure(nb, game, search, net, batch, bound, device, known):
    """One sync-free simulation at the depth bound, run twice on the same tree: with the plain functions
    under the op recorder (aten ops per function and in all), then with compile_fixed versions of them,
    compiled at their first call (inductor kernels generated per function, compile seconds). known:
    kernels of functions compiled for an earlier search type of the same game (their compiled code is
    reused, so nothing is generated again)."""
    torch.manual_seed(0)
    cpu_game = nb.make_game(game.name)
    root = c4_roots(cpu_game, n=batch) if game.name == "connect4" else chess_roots(cpu_game, n=batch)
    root = nb.state_map(lambda x: x[:batch].to(device), root)          # (chess_roots adds two positions)
    evaluate = nb.make_evaluator(game, net, nb.choose_precision(device))
    mcts = nb.BatchedMCTS(game, evaluate, 32, search=search, considered=4, graphs=True, log=lambda m: None)
    st = mcts.runner.persistent(mcts._init_tree(root, False))
    saved = [x.clone() for x in mcts.runner.buffers(st)]
    plain = mcts._plain_fns()
    plain.encode = game.encode                            # as with compile_search: the search encodes
    names = ("step", "status", "encode", "fetch", "write") + ("level",) * (search == "puct")
    ops_of, calls = {}, {}
    game.sync_free = True
    try:
        def recorded(name, fn):
            def call(*args):
                with OpRecorder() as rec:
                    out = fn(*args)
                k = key_of(name)
                ops_of[k] = rec.count
                calls[k] = calls.get(k, 0) + 1
                return out
            return call
        mcts._fns = nb.types.SimpleNamespace(**{**vars(plain), **{n: recorded(n, getattr(plain, n)) for n in names}})
        with OpRecorder() as rec:
            mcts.runner.simulate(st, bound)
        total = rec.count
        for x, y in zip(mcts.runner.buffers(st), saved):        # the same tree again
            x.copy_(y)

        kernels, secs = {}, {}
        me, g = type(mcts), type(game)
        fns = {"step": (g.step, game), "status": (g.status, game), "encode": (g.encode, game),
               "level": (me._select_level, mcts), "fetch": (me._fetch, mcts), "write": (me._write, mcts)}

        def compiled(name, fn, obj):
            fn = nb.compile_fixed(fn, exact_floats=name == "level")       # as the search compiles it

            def call(*args):
                k = key_of(name)
                if k in kernels:
                    return fn(obj, *args)
                metrics.reset()
                t0 = time.perf_counter()
                out = fn(obj, *args)
                secs[k], kernels[k] = time.perf_counter() - t0, metrics.generated_kernel_count
                if kernels[k] == 0 and k in known:        # compiled for the other search type already
                    kernels[k], secs[k] = known[k], None
                known.setdefault(k, kernels[k])
                return out
            return call
        mcts._fns = nb.types.SimpleNamespace(**{**vars(plain), **{n: compiled(n, *fns[n]) for n in names}})
        mcts.runner.simulate(st, bound)
    finally:
        game.sync_free = False
    rows = [(k, ops_of[k], kernels[k], secs[k]) for k in ops_of]
    compiled_total = total - sum(ops_of[k] * calls[k] for k in ops_of) + sum(kernels[k] * calls[k] for k in ops_of)
    return rows, total, compiled_total, sum(v for v in secs.values() if v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--net", default="t4", choices=sorted(NETS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--bound", type=int, default=8, help="the select loop's depth bound")
    ap.add_argument("--warm", action="store_true", help="keep the inductor cache (compile times are then warm)")
    ap.add_argument("--out")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(1) if device.type == "cpu" else None
    nb = load_notebook_module()
    filters, blocks = NETS[args.net]
    lines = [f"Hardware: {hardware(device)}. Network {args.net} ({blocks}x{filters}), B = {args.batch}, "
             f"depth bound {args.bound}, {'warm' if args.warm else 'cold'} inductor cache.", "",
             "| game | search | function | aten ops | inductor kernels | compile s |", "|---|---|---|---:|---:|---:|"]
    sims = ["", f"| game | search | aten ops / simulation (plain) | kernels / simulation (compiled) | ratio | "
                f"compile s |", "|---|---|---:|---:|---:|---:|"]
    for name in ("connect4", "chess"):
        game = nb.make_game(name, device)
        net = nb.build_network(game, filters, blocks, device)
        known = {}
        for search in ("puct", "gumbel"):
            rows, plain, compiled, secs = measure(nb, game, search, net, args.batch, args.bound, device, known)
            for fn, n_ops, k, s in rows:
                lines.append(f"| {name} | {search} | {fn} | {n_ops} | {k} | {'shared' if s is None else f'{s:.1f}'} |")
            sims.append(f"| {name} | {search} | {plain} | {compiled} | {compiled / plain:.2f} | {secs:.1f} |")
            print(lines[-1], sims[-1], sep="\n", flush=True)
    text = "\n".join(lines + sims)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
