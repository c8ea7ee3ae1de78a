"""Self-play speed next to the network's own throughput ceiling, same device, same batch size.

    python bench/selfplay_throughput.py [--device cpu|cuda] [--game connect4|chess] [--nets cpu,t4]
                                        [--batches 128,512] [--sims 32] [--moves 3]
                                        [--paths eager,graph,compiled] [--out results.md]
    (the defaults shown; bench/gpu_session.sh runs the GPU rows: B = 512, 2048, 4096 at 64 simulations)

For each network and batch size B it measures, in one run:
  * net-only: positions/s of the bare forward pass at batch B (encode excluded, inference mode, AMP
    as in self-play), run eagerly and, on CUDA, replayed as a captured CUDA graph: the ceiling
    self-play could reach if search cost nothing;
  * self-play: simulations/s of SelfPlayActor.play_move (search + move + buffer writes) on the eager
    search loop and on the graph path (BatchedMCTS(graphs=True): CUDA graphs on a GPU; on a CPU the
    same sync-free code runs eagerly), counting one simulation = one leaf evaluated for one game;
  * self-play on the graph path with compile_search=True (torch.compile'd rules, tree reads and writes,
    PUCT's select level);
  * the ratio of the fastest self-play path to the best net-only figure;
  * per simulation: aten ops that compute (views excluded; any device; plain functions) and, on CUDA,
    kernel launches (torch.profiler, one eager run of the sync-free simulation = the kernels a graph
    replays), with the plain and with the compiled functions;
  * peak GPU memory of the self-play runs, the graph capture time and the compile time
    (start-up costs).
Prints a markdown table naming the hardware. Nothing is asserted: speed is reported, not tested.
"""
import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import load_notebook_module  # noqa: E402
from test_graph_search import OpRecorder  # noqa: E402

NETS = {"cpu": (32, 3), "t4": (64, 5), "a100_short": (128, 10), "a100": (192, 15)}


def hardware(device):
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        return f"{p.name} ({p.total_memory / 2**30:.0f} GiB), torch {torch.__version__}"
    cpu = platform.processor() or "CPU"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, min_time=1.0, min_reps=3):
    fn(); sync(device)                                  # warm-up
    reps, t0 = 0, time.perf_counter()
    while reps < min_reps or time.perf_counter() - t0 < min_time:
        fn(); reps += 1
    sync(device)
    return (time.perf_counter() - t0) / reps


def net_rates(net, x, prec, device):
    """(eager positions/s, CUDA-graph positions/s or None)."""
    @torch.inference_mode()
    def forward():
        with prec.autocast():
            return net(x)
    eager = x.shape[0] / timed(forward, device)
    if device.type != "cuda":
        return eager, None
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            forward()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        forward()
    return eager, x.shape[0] / timed(graph.replay, device)


def per_simulation_counts(nb, game, mcts, state, device):
    """aten ops and (CUDA) kernel launches of one sync-free simulation, run eagerly (with the search
    object's functions: the compiled ones if it compiled them; aten ops are then not counted: inductor's
    kernels are not aten ops, and compiled code called under a dispatch mode is not compiled again
    for later batch sizes)."""
    own = mcts.runner                                     # the eager loop's search borrows a runner
    runner = own if own is not None else nb.GraphRunner(mcts, False, False, 2)
    mcts.runner, cuda, runner.cuda_graphs = runner, runner.cuda_graphs, False
    try:
        mcts.search(state)                                # fills the persistent buffers
        st = runner.persistent(mcts._init_tree(state, False))
        bound = 8
        game.sync_free = True
        mcts._fns = runner.compiler.functions(mcts, st)
        ops = None
        if not runner.compiler.enabled:
            with OpRecorder() as rec:
                runner.simulate(st, bound)
            ops = rec.count
        kernels = None
        if device.type == "cuda":
            from torch.profiler import ProfilerActivity, profile
            sync(device)
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                runner.simulate(st, bound)
                sync(device)
            kernels = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    finally:
        game.sync_free = False
        runner.cuda_graphs, runner.st = cuda, None
        mcts._fns = mcts._plain_fns()
        mcts.runner = own
    return ops, kernels


def selfplay_rate(nb, game, cfg, net, prec, device, graphs, moves, compile_search=False, notes=None):
    """simulations/s of play_move, peak memory (GiB or None), capture seconds, the search object.
    The search's log lines (compile and capture reports, fallbacks) are printed and added to `notes`."""
    actor = nb.SelfPlayActor(game, cfg, 0, device)
    buf = nb.ReplayBuffer(game, cfg.buffer_size, device)
    log = []
    mcts = nb.BatchedMCTS(game, nb.make_evaluator(game, net, prec), cfg.simulations, cfg.c_puct,
                          cfg.dirichlet_alpha, cfg.dirichlet_frac, graphs=graphs, compile_search=compile_search,
                          log=log.append)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(2):                                    # warm-up: captures the first depth buckets
        actor.play_move(mcts, buf)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(moves):
        actor.play_move(mcts, buf)
    sync(device)
    rate = cfg.games_per_actor * cfg.simulations * moves / (time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    for line in log:
        print(f"<!-- {line} -->", flush=True)
        if notes is not None:
            notes.append(f"<!-- B={cfg.games_per_actor}: {line} -->")
    return rate, peak, mcts.runner.capture_seconds if mcts.runner else 0.0, mcts, actor.state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--game", default="connect4")
    ap.add_argument("--nets", default="cpu,t4")
    ap.add_argument("--batches", default="128,512")
    ap.add_argument("--sims", type=int, default=32)
    ap.add_argument("--moves", type=int, default=3)
    ap.add_argument("--paths", default="eager,graph,compiled", help="any of eager, graph, compiled")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    nb = load_notebook_module()
    device = torch.device(args.device)
    game = nb.make_game(args.game, device)
    prec = nb.choose_precision(device)
    paths = args.paths.split(",")
    if not set(paths) <= {"eager", "graph", "compiled"}:
        ap.error(f"--paths {args.paths}: the paths are eager, graph and compiled")
    lines = [f"Hardware: {hardware(device)} · precision {prec.label} · game {args.game} · "
             f"{args.sims} simulations/move · graph path on {'CUDA graphs' if device.type == 'cuda' else 'CPU (eager, sync-free)'}",
             "",
             "| network | B | net-only eager pos/s | net-only graph pos/s | self-play eager sims/s | "
             "self-play graph sims/s | graph + compiled sims/s | ratio fastest path / net | aten ops/sim | "
             "kernels/sim | kernels/sim compiled | peak GiB | capture s | compile s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    fmt = lambda v, f="{:,.0f}": "—" if v is None else f.format(v)
    notes = []                                            # the searches' log lines, kept under the table
    for net_name in args.nets.split(","):
        filters, blocks = NETS[net_name]
        torch.manual_seed(0)
        net = nb.build_network(game, filters, blocks, device).eval()
        for B in map(int, args.batches.split(",")):
            x = game.encode(game.initial_state(B)).contiguous(memory_format=torch.channels_last)  # as self-play
            net_eager, net_graph = net_rates(net, x, prec, device)
            cfg = nb.build_config(args.game, "cpu", games_per_actor=B, simulations=args.sims,
                                  num_filters=filters, num_blocks=blocks,
                                  buffer_size=max(2048, B * (args.moves + 3)))
            eager = graph = compiled = peak = capture = compile_s = kernels_c = None
            peaks = []
            if "eager" in paths:
                eager, p, _, _, _ = selfplay_rate(nb, game, cfg, net, prec, device, False, args.moves, notes=notes)
                peaks.append(p)
            state = None
            if "graph" in paths:
                graph, p, capture, mcts, state = selfplay_rate(nb, game, cfg, net, prec, device, True, args.moves,
                                                               notes=notes)
                peaks.append(p)
            if "compiled" in paths:
                compiled, p, _, mcts_c, state_c = selfplay_rate(nb, game, cfg, net, prec, device, True, args.moves,
                                                                compile_search=True, notes=notes)
                peaks.append(p)
                if mcts_c.compile_search:
                    compile_s = mcts_c.runner.compiler.seconds
                    _, kernels_c = per_simulation_counts(nb, game, mcts_c, state_c, device)
                else:                                     # it fell back to the plain functions (see the notes)
                    compiled = "fell back"
            peak = max((p for p in peaks if p is not None), default=None)
            ceiling = net_graph or net_eager
            best = max((r for r in (graph, compiled) if isinstance(r, float)), default=eager)
            if state is None:
                mcts = nb.BatchedMCTS(game, nb.make_evaluator(game, net, prec), args.sims)
                state = game.initial_state(B)
            ops, kernels = per_simulation_counts(nb, game, mcts, state, device)
            row = (f"| {net_name} ({blocks}x{filters}) | {B} | {fmt(net_eager)} | {fmt(net_graph)} | {fmt(eager)} | "
                   f"{fmt(graph)} | {compiled if isinstance(compiled, str) else fmt(compiled)} | "
                   f"{fmt(best and 100 * best / ceiling, '{:.0f}%')} | {ops:,} | {fmt(kernels)} | "
                   f"{fmt(kernels_c)} | {fmt(peak, '{:.2f}')} | {fmt(capture, '{:.1f}')} | {fmt(compile_s, '{:.1f}')} |")
            lines.append(row)
            print(row, flush=True)
            if args.out:                                  # after every row: a run cut short keeps its rows
                Path(args.out).write_text("\n".join(lines + [""] + notes) + "\n")


if __name__ == "__main__":
    main()
