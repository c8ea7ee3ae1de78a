"""Make the Connect Four strength benchmark's labelled positions (run offline, output committed).

    python bench/label_connect4.py --run /tmp/c4runs/connect4-cpu [--random 600] [--selfplay 600]
                                   [--out bench/data/connect4_labels.jsonl] [--seed 0]

Positions come from two sources, one position per game:
  * random:   uniformly random games;
  * selfplay: games of a trained run's player against itself (its MCTS with the run's simulations,
              moves sampled by visit count for the first 8 plies as in self-play, then the most visited),
              so the set also holds the positions a learning player actually meets.
From each game one ply is drawn uniformly from [MIN_PLY, last ply - 1]. Kept: positions that are not
finished and have at least two legal moves; duplicates (the same stones, reached by any order) are
dropped. Positions under MIN_PLY = 8 stones are left out to keep labelling near a second a position
on one core (5-6 stones take 10 s and more each; the empty board's values are published: columns
1..7 score -2 -1 0 1 0 -1 -2).

Each record (one JSON object a line): moves, ply, source, score (solver score for the side to move),
outcome (W/D/L), values (score of each column's move, null for a full column), best (columns,
1-based, that reach the best score).
"""
import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import connect4_solver as cs  # noqa: E402

MIN_PLY = 8


def legal_columns(moves):
    _, every, _ = cs.replay(moves)
    return [c for c in range(cs.WIDTH) if cs.playable(every) & cs.column_cells(c)]


def is_over(moves):
    """True if the last move made four or the board is full."""
    if len(moves) == cs.CELLS:
        return True
    try:
        cs.replay(moves)
        return False
    except ValueError:
        return True


def random_game(rng):
    moves = ""
    while not is_over(moves):
        moves += str(rng.choice(legal_columns(moves)) + 1)
    return moves


def selfplay_games(nb, run_dir, n_games, seed, batch=64):
    """Games of the run's player against itself, as move strings (played in lockstep batches)."""
    player = nb.load_player(run_dir, None, "cpu")
    game = player.game
    gen = torch.Generator().manual_seed(seed)
    out = []
    while len(out) < n_games:
        state, moves = game.initial_state(batch), [""] * batch
        while True:
            done = game.terminal(state)[0]
            if bool(done.all()):
                break
            visits = player.analyse(state).visits                       # (B, 7)
            sample = (state.ply < 8) & ~done
            actions = nb.select_actions(visits, sample, gen)
            for i in (~done).nonzero().flatten().tolist():
                moves[i] += str(int(actions[i]) + 1)
            state = nb.state_where(done, state, game.step(state, actions))
        out += moves
    return out[:n_games]


def pick_position(moves, rng):
    """One non-finished position with >= 2 legal moves from the game, or None."""
    plies = list(range(MIN_PLY, len(moves)))
    rng.shuffle(plies)
    for p in plies:
        pos = moves[:p]
        if not is_over(pos) and len(legal_columns(pos)) >= 2:
            return pos
    return None


def label(pos, source, solver):
    values = solver.move_values(pos)
    best = max(v for v in values if v is not None)
    return {"moves": pos, "ply": len(pos), "source": source, "score": best, "outcome": cs.outcome(best),
            "values": values, "best": [c + 1 for c, v in enumerate(values) if v == best]}


def position_key(moves):
    cur, every, _ = cs.replay(moves)
    return cur + every


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", help="trained run folder for the self-play positions")
    ap.add_argument("--random", type=int, default=600)
    ap.add_argument("--selfplay", type=int, default=600)
    ap.add_argument("--out", default=str(HERE / "data" / "connect4_labels.jsonl"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    solver = cs.CSolver()
    seen, records, t0 = set(), [], time.perf_counter()

    def add(games, source, want):
        n = 0
        for g in games:
            pos = pick_position(g, rng)
            if pos is None or position_key(pos) in seen:
                continue
            seen.add(position_key(pos))
            records.append(label(pos, source, solver))
            n += 1
            if n % 100 == 0:
                print(f"{source}: {n} labelled, {time.perf_counter() - t0:.0f}s", flush=True)
            if n == want:
                return n
        return n

    got = add((random_game(rng) for _ in range(100 * args.random)), "random", args.random)
    if args.run and args.selfplay:
        from conftest import load_notebook_module
        nb = load_notebook_module()
        t1 = time.perf_counter()
        games = selfplay_games(nb, args.run, 2 * args.selfplay, args.seed)
        print(f"self-play: {len(games)} games in {time.perf_counter() - t1:.0f}s", flush=True)
        got_sp = add(games, "selfplay", args.selfplay)
        got = f"{got} random + {got_sp} selfplay"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    dt = time.perf_counter() - t0
    print(f"wrote {len(records)} positions ({got}) to {args.out} in {dt:.0f}s")
    print("outcomes:", dict(Counter((r["source"], r["outcome"]) for r in records)))


if __name__ == "__main__":
    main()
