"""What compile_search buys in kernels: aten ops (the eager search's kernel launches) against the kernels
inductor makes of the same functions, per function and per simulation, with the cold compile times.

    python bench/compiled_kernels.py [--device cpu|cuda] [--net t4] [--batch 64] [--bound 8] [--warm]
                                     [--out results.md]

For each game and search type it compiles, as the graph path does (nb.compile_fixed, fixed shapes),
the game's step and status and the select level (root and inner variants), and reports:
  * aten ops: operators that compute (views excluded), counted at the dispatcher: on a GPU each is
    one kernel launch of the eager search;
  * kernels: the kernels inductor generated for the function (C++ on a CPU, Triton on a GPU;
    torch._inductor.metrics.generated_kernel_count): what each call of the compiled function runs;
  * per simulation at a depth bound (one sync-free simulation of the graph path, as a CUDA graph
    replays it): aten ops with the plain functions, and the same simulation with the compiled
    functions counted as their kernels and the rest (network, priors, tree writes, backup) as aten ops;
  * the cold compile time of each function (a fresh inductor cache unless --warm); step and status
    are compiled once per game (the Gumbel rows use them too, and their compile time is in the PUCT row).
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
from torch.utils._python_dispatch import _disable_current_modes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import load_notebook_module  # noqa: E402
from test_graph_search import OpRecorder, c4_roots, chess_roots  # noqa: E402
from selfplay_throughput import NETS, hardware  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))


def compiled_once(nb, fn, obj, *args):
    """(kernels inductor generated, seconds) for the first call of compile_fixed(fn)(obj, *args)."""
    metrics.reset()
    t0 = time.perf_counter()
    nb.compile_fixed(fn)(obj, *args)
    return metrics.generated_kernel_count, time.perf_counter() - t0


def ops(fn, *args):
    with OpRecorder() as rec:
        fn(*args)
    return rec.count


def measure(nb, game, search, net, batch, bound, device, known):
    """known: the rules' (aten ops, kernels) from an earlier search type of the same game (compiled once)."""
    torch.manual_seed(0)
    cpu_game = nb.make_game(game.name)
    root = c4_roots(cpu_game, n=batch) if game.name == "connect4" else chess_roots(cpu_game, n=batch)
    root = nb.state_map(lambda x: x.to(device), root)
    evaluate = nb.make_evaluator(game, net, nb.choose_precision(device))
    mcts = nb.BatchedMCTS(game, evaluate, 32, search=search, considered=4, graphs=True, log=lambda m: None)
    st = mcts._persistent(mcts._init_tree(root, False))
    t = st.tree
    B, N, _ = t.child.shape
    base = torch.arange(B, device=device) * N
    start = (torch.zeros_like(base), torch.zeros_like(base), torch.ones_like(base, dtype=torch.bool))
    action = t.action[:, 0, 0].clamp_min(0).long()
    game.sync_free = True
    rows, kern, secs = [], {}, 0.0
    try:
        parts = [("step", type(game).step, game, (root, action)), ("status", type(game).status, game, (root,))]
        parts += [(f"select level ({'root' if r else 'inner'})", type(mcts)._select_level, mcts, (t, base, *start, r))
                  for r in ((True, False) if search == "gumbel" else (True,))]
        for name, fn, obj, args in parts:
            if name in known:                             # the same rules, compiled for the other search type
                kern[name] = known[name][1]
                continue
            n_ops = ops(fn, obj, *args)
            k, s = compiled_once(nb, fn, obj, *args)
            kern[name] = k
            secs += s
            rows.append((name, n_ops, k, s))
            if name in ("step", "status"):
                known[name] = (n_ops, k)
        if search != "gumbel":
            kern["select level (inner)"] = kern["select level (root)"]

        # one simulation: the compiled functions' calls count as their kernels, the rest as aten ops
        inner = {"ops": 0, "kernels": 0}

        def counted(plain, name_of):
            def call(*args):
                with OpRecorder() as rec:
                    out = plain(*args)
                inner["ops"] += rec.count
                inner["kernels"] += kern[name_of(args)]
                return out
            return call
        mcts._fns = nb.types.SimpleNamespace(
            step=counted(game.step, lambda a: "step"), status=counted(game.status, lambda a: "status"),
            level=counted(mcts._select_level,
                          lambda a: f"select level ({'root' if a[-1] else 'inner'})"))
        with OpRecorder() as rec:
            mcts._simulate(st, bound)
        total = rec.count
        return rows, total, total - inner["ops"] + inner["kernels"], secs
    finally:
        game.sync_free = False


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
                lines.append(f"| {name} | {search} | {fn} | {n_ops} | {k} | {s:.1f} |")
            sims.append(f"| {name} | {search} | {plain} | {compiled} | {compiled / plain:.2f} | {secs:.1f} |")
            print(lines[-1], sims[-1], sep="\n", flush=True)
    text = "\n".join(lines + sims)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
