"""Does a chess value head count material? Take one piece of the side to move off the board and see
how far the network's value falls.

    python bench/value_material_probe.py RUN_DIR [RUN_DIR ...] [--positions 600] [--seed 0]

Positions: `--positions` from uniformly random playouts of 6-59 plies (python-chess, seeded), each
paired with a copy that lacks one piece (not the king) of the side to move, picked at random (and the
castling right of a rook taken off its corner); pairs where the copy is illegal or over are skipped.
For each run's newest checkpoint (load_player), the value of both positions (the side to move's view,
-1..1, no search) is computed; the table gives the mean drop per piece type, the mean drop over all
pairs and the mean |value|. An untrained network
reads 0 everywhere; a value head that counts material falls most for a queen, least for a pawn.
Nothing is asserted. (Used for issue 18's material target: bench/results/techniques_cpu.md.)
"""
import argparse
import random
import sys
from pathlib import Path

import chess
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import load_notebook_module  # noqa: E402

PIECES = "PNBRQ"


def probe_pairs(count, seed):
    """[(fen, fen without one piece of the mover, piece letter)] from random playouts."""
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < count:
        board = chess.Board()
        for _ in range(rng.randrange(6, 60)):
            if board.is_game_over():
                break
            board.push(rng.choice(list(board.legal_moves)))
        own = [(sq, p) for sq, p in board.piece_map().items() if p.color == board.turn and p.piece_type != chess.KING]
        if board.is_game_over() or not own:
            continue
        sq, piece = rng.choice(own)
        fewer = board.copy()
        fewer.remove_piece_at(sq)
        fewer.castling_rights = fewer.clean_castling_rights()   # a rook taken off its corner: its right goes
        if fewer.is_valid() and not fewer.is_game_over():
            pairs.append((board.fen(), fewer.fen(), piece.symbol().upper()))
    return pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="trained chess run folders")
    ap.add_argument("--positions", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    nb = load_notebook_module()
    pairs = probe_pairs(args.positions, args.seed)
    counts = {p: sum(q == p for _, _, q in pairs) for p in PIECES}
    print(f"{len(pairs)} positions from random playouts (seed {args.seed}); value drop when one piece of the "
          "side to move is taken off\n")
    print("| run | mean abs value | " + " | ".join(f"{p} ({counts[p]})" for p in PIECES) + " | all |")
    print("|---|---:|" + "---:|" * (len(PIECES) + 1))
    for run in args.runs:
        player = nb.load_player(run, device="cpu")
        g = player.game
        evaluate = nb.make_evaluator(g, player.net, player.precision)
        value = lambda fens: evaluate(nb.puzzle_positions(g, fens))[1]              # (N,) side to move
        full, fewer = value([a for a, _, _ in pairs]), value([b for _, b, _ in pairs])
        drop = full - fewer
        per = [drop[[i for i, (_, _, q) in enumerate(pairs) if q == p]].mean().item() for p in PIECES]
        print(f"| {Path(run).name} | {full.abs().mean().item():.3f} | " + " | ".join(f"{d:+.3f}" for d in per)
              + f" | {drop.mean().item():+.3f} |", flush=True)


if __name__ == "__main__":
    main()
