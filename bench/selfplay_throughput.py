"""Self-play speed next to the network's own throughput ceiling, same device, same batch size.

    python bench/selfplay_throughput.py [--device cpu|cuda] [--game connect4] [--nets cpu,t4]
                                        [--batches 128,512] [--sims 32] [--moves 3]

For each preset network and batch size B it measures, in one run:
  * net-only: positions/s of the bare forward pass at batch B (encode excluded, inference mode, AMP
    as in self-play) — the ceiling self-play could reach if search cost nothing;
  * self-play: simulations/s of SelfPlayActor.play_move (search + move + buffer writes), counting one
    simulation = one leaf evaluated for one game, and the ratio self-play / net-only.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--game", default="connect4")
    ap.add_argument("--nets", default="cpu,t4")
    ap.add_argument("--batches", default="128,512")
    ap.add_argument("--sims", type=int, default=32)
    ap.add_argument("--moves", type=int, default=3)
    args = ap.parse_args()
    nb = load_notebook_module()
    device = torch.device(args.device)
    game = nb.make_game(args.game, device)
    prec = nb.choose_precision(device)
    print(f"\nHardware: {hardware(device)} · precision {prec.label} · game {args.game} · {args.sims} simulations/move\n")
    print("| network | B | net-only positions/s | self-play simulations/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for net_name in args.nets.split(","):
        filters, blocks = NETS[net_name]
        torch.manual_seed(0)
        net = nb.build_network(game, filters, blocks, device).eval()
        for B in map(int, args.batches.split(",")):
            x = game.encode(game.initial_state(B))
            if device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)

            @torch.inference_mode()
            def forward():
                with prec.autocast():
                    net(x)
            net_rate = B / timed(forward, device)
            cfg = nb.build_config(args.game, "cpu", games_per_actor=B, simulations=args.sims,
                                  num_filters=filters, num_blocks=blocks, buffer_size=max(2048, B * (args.moves + 2)))
            actor = nb.SelfPlayActor(game, cfg, 0, device)
            buf = nb.ReplayBuffer(game, cfg.buffer_size, device)
            mcts = nb.BatchedMCTS(game, nb.make_evaluator(game, net, prec), args.sims, cfg.c_puct,
                                  cfg.dirichlet_alpha, cfg.dirichlet_frac)
            actor.play_move(mcts, buf); sync(device)               # warm-up
            t0 = time.perf_counter()
            for _ in range(args.moves):
                actor.play_move(mcts, buf)
            sync(device)
            sims_rate = B * args.sims * args.moves / (time.perf_counter() - t0)
            print(f"| {net_name} ({blocks}x{filters}) | {B} | {net_rate:,.0f} | {sims_rate:,.0f} | "
                  f"{100 * sims_rate / net_rate:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
