"""The committed solver labels (bench/data/connect4_labels.jsonl), the notebook's inline table made
from them (bench/data/connect4_inline.py) and the scoring that uses both."""
import json
import random
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import connect4_solver as cs  # noqa: E402
import connect4_strength as strength  # noqa: E402

INLINE = BENCH / "data" / "connect4_inline.py"


@pytest.fixture(scope="module")
def labels():
    return strength.load_labels()


def test_the_set_is_big_mixed_and_clean(labels):
    assert len(labels) >= 1000
    assert {r["source"] for r in labels} == {"random", "selfplay"}
    assert {r["outcome"] for r in labels} == {"W", "D", "L"}
    keys = set()
    for r in labels:
        cur, every, n = cs.replay(r["moves"])            # raises on a finished game
        assert n == r["ply"] >= 8
        assert sum(v is not None for v in r["values"]) >= 2
        assert [c for c in range(7) if r["values"][c] is None] == \
               [c for c in range(7) if not cs.playable(every) & cs.column_cells(c)]
        assert r["score"] == max(v for v in r["values"] if v is not None)
        assert r["outcome"] == cs.outcome(r["score"])
        assert r["best"] == [c + 1 for c, v in enumerate(r["values"]) if v == r["score"]]
        keys.add(cur + every)
    assert len(keys) == len(labels)                      # no position twice, in any move order


def test_a_sample_of_labels_matches_the_solver(labels):
    rng = random.Random(3)
    sample = rng.sample([r for r in labels if r["ply"] >= 16], 12)
    solver = cs.CSolver()
    for r in sample:
        assert solver.move_values(r["moves"]) == r["values"], r["moves"]


def test_judge_keeps_outcome_and_optimal():
    rec = {"moves": "x", "score": 2, "values": [2, 1, 0, -3, None, 2, 1]}
    assert strength.judge(rec, 0) == (True, True)
    assert strength.judge(rec, 1) == (True, False)       # still wins, more slowly
    assert strength.judge(rec, 2) == (False, False)      # a win thrown to a draw
    drawn = {"moves": "x", "score": 0, "values": [0, -1, 0, None, None, None, None]}
    assert strength.judge(drawn, 2) == (True, True) and strength.judge(drawn, 1) == (False, False)
    lost = {"moves": "x", "score": -2, "values": [-2, -5, None, None, None, None, None]}
    assert strength.judge(lost, 1) == (True, False)
    with pytest.raises(ValueError):
        strength.judge(rec, 4)


def inline_module():
    ns = {}
    exec(INLINE.read_text(), ns)
    return ns


def test_inline_table_is_small_and_agrees_with_the_labels(labels):
    assert INLINE.stat().st_size < 12_000
    by_moves = {r["moves"]: r for r in labels}
    tokens = inline_module()["C4_SOLVED"].split()
    assert len(tokens) >= 250
    for t in tokens:
        moves, outcome, optimal, keeping = t.split(":")
        r = by_moves[moves]
        assert outcome == r["outcome"] and optimal == "".join(map(str, r["best"]))
        legal = [c + 1 for c, v in enumerate(r["values"]) if v is not None]
        keep = [c for c in legal if strength.judge(r, c - 1)[0]]
        assert keeping == ("*" if keep == legal else "".join(map(str, keep)))
        assert len(r["best"]) < len(legal)               # every inline position can be missed


class ScriptedPlayer:
    """Stands in for an MCTSPlayer: analyse() puts all visits on the column pick(i) for row i."""

    def __init__(self, game, pick):
        self.game, self.pick = game, pick

    def analyse(self, state, simulations=None):
        visits = torch.zeros(state.ply.shape[0], 7)
        for i in range(visits.shape[0]):
            visits[i, self.pick(i)] = 1.0
        return type("R", (), {"visits": visits})()


def test_inline_scoring_function_in_the_notebook_module(nb):
    ns = inline_module()
    rows = [t.split(":") for t in ns["C4_SOLVED"].split()]
    game = nb.make_game("connect4", "cpu")
    perfect = ScriptedPlayer(game, lambda i: int(rows[i][2][0]) - 1)
    assert ns["connect4_solver_score"](perfect) == {"positions": len(rows), "keeps_outcome": 1.0, "optimal_move": 1.0}

    def worst(i):                                        # a legal column that is not optimal
        legal = game.legal_mask(game.from_moves([rows[i][0]]))[0].nonzero().flatten().tolist()
        return next(c for c in legal if str(c + 1) not in rows[i][2])
    r = ns["connect4_solver_score"](ScriptedPlayer(game, worst))
    assert r["optimal_move"] == 0.0 and r["keeps_outcome"] < 1.0


def test_keeps_outcome_counts_only_won_and_drawn_positions():
    won, lost = {"outcome": "W"}, {"outcome": "L"}
    r = strength.shares([won, lost, lost], [(False, False), (True, False), (True, True)])
    assert r == {"keeps": 0.0, "optimal": 1 / 3, "n": 3, "n_keeps": 1}
