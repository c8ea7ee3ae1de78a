"""The network on a CPU, by memory layout: what build_network's channels_last buys there, with
torch.compile's inference as a reference, measured in one run on this machine.

    python bench/cpu_forward.py [--game connect4] [--nets cpu,t4] [--threads 1,2] [--batch 128]
                                [--train-batch 256] [--out bench/results/cpu_forward.md]

Per network and thread count:
  * inference positions/s at the self-play batch (inference mode, fp32): the plain NCHW network,
    the same weights in channels_last (what build_network makes), and channels_last through
    torch.compile for that one batch shape, with its compile time. The notebook does not compile on a
    CPU: a compiled self-play forward calls the same oneDNN convolutions and gained no training steps
    at equal wall-clock (Google Colab/README.md, the technique table);
  * one training step (forward, backward, SGD step) of the training batch, in ms: NCHW against
    channels_last.
Prints a markdown table naming the CPU; nothing is asserted.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import load_notebook_module  # noqa: E402
from selfplay_throughput import NETS, hardware, timed  # noqa: E402

CPU = torch.device("cpu")


def seconds_per_call(fn):
    return timed(fn, CPU, min_time=1.5, min_reps=5)         # one warm-up call, then the mean of the rest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--game", default="connect4")
    ap.add_argument("--nets", default="cpu,t4")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--train-batch", type=int, default=256)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    nb = load_notebook_module()
    game = nb.make_game(args.game, "cpu")
    lines = [f"Game {args.game}; inference batch {args.batch}, training batch {args.train_batch}; fp32.", "",
             "| network | threads | CPU | inference NCHW pos/s | channels_last pos/s | channels_last + compiled "
             "pos/s | compile s | training step NCHW ms | training step channels_last ms |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    x = game.encode(game.initial_state(args.batch))
    xt = game.encode(game.initial_state(args.train_batch))
    for net_name in args.nets.split(","):
        filters, blocks = NETS[net_name]
        for threads in map(int, args.threads.split(",")):
            torch.set_num_threads(threads)
            torch.manual_seed(0)
            plain = nb.AlphaZeroNet(game.obs_shape, game.num_actions, filters, blocks)
            fast = nb.build_network(game, filters, blocks, "cpu")
            fast.load_state_dict(plain.state_dict())
            xc, xtc = (t.contiguous(memory_format=torch.channels_last) for t in (x, xt))
            compiled = torch.compile(fast, dynamic=False)
            with torch.inference_mode():
                plain.eval()
                fast.eval()
                t0 = time.perf_counter()
                compiled(xc)                              # compiles
                compile_s = time.perf_counter() - t0
                rates = [args.batch / seconds_per_call(lambda: net(inp))
                         for net, inp in ((plain, x), (fast, xc), (compiled, xc))]
            step_ms = []
            for net, inp in ((plain, xt), (fast, xtc)):
                net.train()
                opt = torch.optim.SGD(net.parameters(), lr=1e-3)

                def step():
                    logits, value = net(inp)
                    (logits.logsumexp(1).mean() + value.square().mean()).backward()
                    opt.step()
                    opt.zero_grad()
                step_ms.append(1000 * seconds_per_call(step))
            row = (f"| {net_name} ({blocks}x{filters}) | {threads} | {hardware(CPU).split(',')[0]} | "
                   f"{rates[0]:,.0f} | {rates[1]:,.0f} | {rates[2]:,.0f} | {compile_s:.1f} | {step_ms[0]:.1f} | "
                   f"{step_ms[1]:.1f} |")
            lines.append(row)
            print(row, flush=True)
    if args.out:
        Path(args.out).write_text(f"# bench/cpu_forward.py, torch {torch.__version__}\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
