"""Chess rules throughput of the notebook's batched ChessGame, next to python-chess on the same positions.

    python bench/chess_rules.py [--devices cpu,cuda] [--batches 1,256,1024,4096] [--threads N]
                                [--min-time 0.2] [--reps 5] [--max-plies 160] [--seed 0]

Positions come from random playouts (each game stops at its own random ply in 0..max-plies, finished games
dropped), so boards have realistic material, checks, castling rights and en-passant chances. For each
device and batch size B it times, per call on a batch of B positions (median of --reps timings, each the
mean over >= --min-time seconds):
  * step (one random legal move per position), legal_mask, terminal, encode, and their sum, the
    "rules" cost of one self-play ply done with separate calls;
  * status (legal mask + done + value from one move generation) and step + status + encode, which is
    what self-play and matches use.
python-chess (CPU, one position at a time, same positions via to_fen, same moves): Board.push + the
list of legal moves of the new position + Board.pop, and the same plus outcome() (the terminal check).
Prints a markdown table naming the hardware; nothing is asserted: speed is reported, not tested.
"""
import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import chess
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import load_notebook_module  # noqa: E402
from selfplay_throughput import hardware, sync  # noqa: E402


def median_time(fn, device, min_time, reps):
    """Median over `reps` timings of the mean seconds per call (each timing runs >= min_time)."""
    fn(); sync(device)                                   # warm-up (and CUDA lazy init)
    out = []
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while True:
            fn(); n += 1
            if n % 4 == 0 or n == 1:
                sync(device)
                if time.perf_counter() - t0 >= min_time:
                    break
        sync(device)
        out.append((time.perf_counter() - t0) / n)
    return statistics.median(out)


def random_legal(legal, gen):
    """A uniformly random legal action per row of a bool [B, 4672] mask with >= 1 True per row.
    (torch.multinomial over 4672 columns costs ~100 µs/row on CPU; this counts moves per plane by
    summing the mask's bytes 8 at a time, picks a plane, then a square in it.)"""
    B = legal.shape[0]
    words = legal.contiguous().view(torch.uint8).view(B, 73, 8, 8).view(torch.int64)[..., 0]   # [B, 73, 8]
    per_plane = (((words * 0x0101010101010101) >> 56) & 0xFF).sum(2)                           # [B, 73]
    cum = per_plane.cumsum(1)
    total = cum[:, -1]
    r = (torch.rand(B, generator=gen, device=legal.device) * total).long().minimum(total - 1)
    plane = (cum <= r[:, None]).sum(1)
    r = r - (cum - per_plane).gather(1, plane[:, None])[:, 0]
    in_plane = legal.view(B, 73, 64)[torch.arange(B, device=legal.device), plane].long().cumsum(1)
    return plane * 64 + (in_plane <= r[:, None]).sum(1)


def random_positions(game, n, max_plies, seed):
    """n non-terminal positions from random playouts, each game stopped at its own random ply in
    0..max_plies (only the games still going are stepped), plus one random legal move for each."""
    gen = torch.Generator(device=game.device).manual_seed(seed)
    B = int(n * 1.05) + 8
    target = torch.randint(0, max_plies + 1, (B,), generator=gen, device=game.device)
    state = game.initial_state(B)
    for ply in range(max_plies):
        idx = (target > ply).nonzero().flatten()
        if len(idx) == 0:
            break
        sub = type(state)(**{f.name: getattr(state, f.name)[idx] for f in dataclasses.fields(state)})
        legal, done, _ = game.status(sub)
        legal[done, 0] = True                            # finished games: any action (undone below)
        nxt = game.step(sub, random_legal(legal, gen))
        keep = done.nonzero().flatten()
        for f in dataclasses.fields(state):
            new = getattr(nxt, f.name)
            new[keep] = getattr(sub, f.name)[keep]
            getattr(state, f.name)[idx] = new
    legal, done, _ = game.status(state)
    keep = (~done).nonzero().flatten()[:n]
    if len(keep) < n:                                    # very unlikely: repeat to fill
        keep = keep.repeat((n + len(keep) - 1) // len(keep))[:n]
    state = type(state)(**{f.name: getattr(state, f.name)[keep] for f in dataclasses.fields(state)})
    return state, random_legal(legal[keep], gen)


def python_chess_times(fens, ucis, min_time, reps):
    """µs/position: (push + legal moves + pop, push + legal moves + outcome + pop)."""
    boards = [chess.Board(f) for f in fens]
    moves = [chess.Move.from_uci(u) for u in ucis]
    pairs = list(zip(boards, moves))

    def gen_only():
        for b, m in pairs:
            b.push(m)
            list(b.legal_moves)
            b.pop()

    def with_outcome():
        for b, m in pairs:
            b.push(m)
            list(b.legal_moves)
            b.outcome()
            b.pop()
    cpu = torch.device("cpu")
    return tuple(1e6 * median_time(fn, cpu, min_time, reps) / len(pairs) for fn in (gen_only, with_outcome))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", default="cpu,cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", default="1,256,1024,4096")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads, 0 = torch's default (on a shared 2-core machine 2 threads stall)")
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-plies", type=int, default=160)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    nb = load_notebook_module()
    batches = [int(b) for b in args.batches.split(",")]
    t0 = time.perf_counter()
    cpu_game = nb.ChessGame("cpu")
    pool, pool_actions = random_positions(cpu_game, max(batches), args.max_plies, args.seed)
    fens = cpu_game.to_fen(pool)
    ucis = [cpu_game.action_to_str(pool, i, a) for i, a in enumerate(pool_actions.tolist())]
    plies = pool.ply.float()
    print(f"\n{len(fens)} positions from random playouts (ply median {plies.median():.0f}, "
          f"max {plies.max():.0f}; {int((pool.ep >= 0).sum())} with en passant, "
          f"{int((pool.castling != 0).sum())} with castling rights) in {time.perf_counter() - t0:.1f} s")

    pc = {}
    for B in batches:
        n = min(B, 1024)                 # per-position cost; more positions only add run time
        pc[B] = python_chess_times(fens[:n], ucis[:n], args.min_time, args.reps)

    for dev_name in args.devices.split(","):
        device = torch.device(dev_name)
        game = nb.ChessGame(device)
        print(f"\nHardware: {hardware(device)} · python-chess {chess.__version__} on CPU "
              f"(µs/position: median of {args.reps} timings)\n")
        print("| device | B | step | legal_mask | terminal | encode | sum: positions/s | sum: µs/position | "
              "status | step+status+encode: positions/s | µs/position | python-chess push+legal | "
              "+outcome | positions/s |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for B in batches:
            state = nb.state_map(lambda t: t[:B].to(device), pool)
            actions = pool_actions[:B].to(device)
            t = {name: median_time(fn, device, args.min_time, args.reps) for name, fn in [
                ("step", lambda: game.step(state, actions)),
                ("legal_mask", lambda: game.legal_mask(state)),
                ("terminal", lambda: game.terminal(state)),
                ("encode", lambda: game.encode(state)),
                ("status", lambda: game.status(state)),
            ]}
            rules = t["step"] + t["legal_mask"] + t["terminal"] + t["encode"]
            ply = t["step"] + t["status"] + t["encode"]
            us = lambda s: f"{1e6 * s / B:,.1f}"
            g, o = pc[B]
            print(f"| {dev_name} | {B} | {us(t['step'])} | {us(t['legal_mask'])} | {us(t['terminal'])} | "
                  f"{us(t['encode'])} | {B / rules:,.0f} | {us(rules)} | {us(t['status'])} | {B / ply:,.0f} | "
                  f"{us(ply)} | {g:,.1f} | {o:,.1f} | {1e6 / o:,.0f} |", flush=True)
    print(f"\nstep/legal_mask/terminal/encode/status columns: µs per position per call at batch B; "
          f"python-chess: one position at a time on CPU (first {min(max(batches), 1024)} positions at most), "
          f"its positions/s for push+legal+outcome. Total run {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
