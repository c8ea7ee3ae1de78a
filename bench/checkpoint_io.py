"""Checkpoint save and load time and size for each preset's network with a FULL replay buffer.

    python bench/checkpoint_io.py [--game connect4|chess] [--presets cpu,t4,a100_short,a100] [--dir /tmp/ckpt-bench]

The payload is what SingleProcessCoordinator.state_dict() saves: model, AdamW state, scheduler,
scaler, RNG states, counters, the buffer at its full capacity and the games in flight. Timings are
ColabStorage.save (local write + fsync + sha256 + copy + fsync + pointer) and load_latest (sha256
check + torch.load(weights_only=True)) on this machine's disk. Prints a markdown table.
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import load_notebook_module  # noqa: E402
from selfplay_throughput import hardware  # noqa: E402


def fill_buffer(nb, coord):
    """Write buffer_size positions of plausible content straight into the ring (no self-play)."""
    game, buf = coord.game, coord.buffer
    n, chunk = buf.capacity, 65536
    for start in range(0, n, chunk):
        b = min(chunk, n - start)
        state = nb.state_map(lambda t: t.expand(b, *t.shape[1:]), game.initial_state(1))
        k = game.policy_slots
        buf.add({f: getattr(state, f) for f in game.encode_fields},
                torch.randint(0, game.num_actions, (b, k)), torch.full((b, k), 1.0 / k),
                torch.arange(start, start + b), torch.zeros(b, dtype=torch.int64), torch.ones(b, dtype=torch.bool))
    buf.ready[:] = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--game", default="connect4")
    ap.add_argument("--presets", default="cpu,t4,a100_short,a100")
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    nb = load_notebook_module()
    root = Path(args.dir or tempfile.mkdtemp(prefix="ckpt-bench-"))
    print(f"\nHardware: {hardware(torch.device('cpu'))} · game {args.game} · disk: {root}\n")
    print("| preset | network | params | buffer positions | checkpoint size | save | load |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for preset in args.presets.split(","):
        cfg = nb.build_config(args.game, preset, f"bench-{preset}")
        storage = nb.ColabStorage(root / cfg.run_name, local_dir=root / "local", log=lambda m: None)
        coord = nb.SingleProcessCoordinator(cfg, nb.make_game(args.game, "cpu", cfg.max_plies), storage, "cpu",
                                            log=lambda m: None)
        for p in coord.net.parameters():                     # materialise AdamW's moment buffers
            p.grad = torch.zeros_like(p)
        coord.optimizer.step()
        fill_buffer(nb, coord)
        t0 = time.perf_counter(); entry = coord.save(); t_save = time.perf_counter() - t0
        t0 = time.perf_counter(); ck, _ = storage.load_latest(); t_load = time.perf_counter() - t0
        assert ck is not None and ck["buffer"]["z"].shape[0] == cfg.buffer_size
        params = sum(p.numel() for p in coord.net.parameters())
        print(f"| {preset} | {cfg.num_blocks}x{cfg.num_filters} | {params / 1e6:.2f}M | {cfg.buffer_size:,} | "
              f"{entry['size'] / 2**20:,.0f} MiB | {t_save:.2f} s | {t_load:.2f} s |", flush=True)
        shutil.rmtree(root / cfg.run_name)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
