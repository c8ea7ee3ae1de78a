"""The notebook's inline strength references (section 5.14): the Connect Four table agrees with the
solver labels and the solver itself, the chess positions are mates in one, and the scores count right."""
import json
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import chess
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import connect4_solver as solver  # noqa: E402


def tokens(nb):
    return [t.split(":") for t in nb.C4_SOLVED.split()]


def test_connect4_table_agrees_with_the_labels_and_the_solver(nb):
    labels = {r["moves"]: r for r in map(json.loads, (ROOT / "bench/data/connect4_labels.jsonl").open())}
    rows = tokens(nb)
    assert len(rows) == 300 and len({r[0] for r in rows}) == 300
    for moves, outcome, optimal, keeping in rows:
        r = labels[moves]
        assert outcome == r["outcome"] and optimal == "".join(map(str, r["best"])), moves   # 1-based
    for moves, outcome, optimal, keeping in random.Random(0).sample(rows, 25):   # re-solve a sample
        values = solver.move_values(moves)
        best = max(v for v in values if v is not None)
        assert optimal == "".join(str(c + 1) for c, v in enumerate(values) if v == best), moves
        assert outcome == ("W" if best > 0 else "D" if best == 0 else "L"), moves
        legal = [c for c, v in enumerate(values) if v is not None]
        keep = [c for c in legal if (values[c] > 0) - (values[c] < 0) >= (best > 0) - (best < 0)]
        assert keeping == ("*" if keep == legal else "".join(str(c + 1) for c in keep)), moves


def test_chess_positions_are_mates_in_one(nb):
    rows = [line.split(";") for line in nb.CHESS_MATE1.strip().splitlines()]
    assert len(rows) == 100
    for fen, moves in rows:
        b = chess.Board(fen.strip())
        mates = set()
        for m in list(b.legal_moves):
            b.push(m)
            if b.is_checkmate():
                mates.add(m.uci())
            b.pop()
        assert mates and set(moves.split()) == mates, fen


def fixed_player(nb, game, raw_cols, search_cols):
    """A player whose raw policy and search play the given moves (per position)."""
    player = SimpleNamespace(game=game, simulations=1)
    player.analyse = lambda state, simulations=None: SimpleNamespace(action=torch.tensor(search_cols))
    return player, (lambda p, state: torch.tensor(raw_cols))


def test_solved_score_counts(nb, monkeypatch):
    game = nb.make_game("connect4")
    rows = tokens(nb)
    optimal = [int(r[2][0]) - 1 for r in rows]
    # a move that loses a won/drawn position where there is one, else the optimal move
    def spoiler(r):
        s = game.from_moves([r[0]])
        legal = game.legal_mask(s)[0].nonzero().flatten().tolist()
        bad = [c for c in legal if r[3] != "*" and str(c + 1) not in r[3]]
        return bad[0] if bad else int(r[2][0]) - 1
    worse = [spoiler(r) for r in rows]
    player, raw = fixed_player(nb, game, optimal, worse)
    monkeypatch.setattr(nb, "raw_policy_moves", raw)
    st = nb.solved_score(player)
    assert st["raw"] == {"keeps": 1.0, "optimal": 1.0}
    won_drawn = [r for r in rows if r[1] != "L"]
    spoilable = sum(r[3] != "*" for r in won_drawn)
    assert spoilable > 50
    assert st["search"]["keeps"] == (len(won_drawn) - spoilable) / len(won_drawn)


def test_mate_in_one_score_counts(nb, monkeypatch):
    game = nb.make_game("chess")
    rows = [line.split(";") for line in nb.CHESS_MATE1.strip().splitlines()]
    state = game.from_fen([r[0].strip() for r in rows])
    mates = [game.parse_action(state, i, r[1].split()[0]) for i, r in enumerate(rows)]
    half = [m if i % 2 else int(game.legal_mask(state)[i].nonzero()[0]) for i, m in enumerate(mates)]
    half_hits = sum(game.action_to_str(state, i, a) in rows[i][1].split() for i, a in enumerate(half))
    player, raw = fixed_player(nb, game, mates, half)
    monkeypatch.setattr(nb, "raw_policy_moves", raw)
    st = nb.mate_in_one_score(player)
    assert st["raw"]["mates"] == 1.0 and st["search"]["mates"] == half_hits / 100 < 1.0
