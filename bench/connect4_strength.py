"""Score a Connect Four player against the solver-labelled positions (bench/data/connect4_labels.jsonl).

Two shares:
  * keeps outcome, over the won and drawn positions (in a lost one every move keeps the outcome, so
    counting them would only dilute the measure): the chosen move keeps the game-theoretic outcome,
    a won position stays won, a drawn one at least drawn. A uniformly random mover scores ~49% on
    the committed set (45% on its random-play half);
  * optimal move, over all positions: the chosen move reaches the best solver score (the fastest
    win, the slowest loss).
A player is judged through one function `choose(state) -> long[B]` (columns 0..6) so that the raw
network policy and MCTS with any number of simulations are scored the same way.
"""
import json
from pathlib import Path

import torch

LABELS = Path(__file__).resolve().parent / "data" / "connect4_labels.jsonl"


def load_labels(path=LABELS, source=None):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return [r for r in rows if source is None or r["source"] == source]


def judge(record, column):
    """(keeps outcome, optimal) for playing 0-based `column` in the labelled position."""
    values = record["values"]
    v, best = values[column], record["score"]
    if v is None:
        raise ValueError(f"column {column + 1} is full in {record['moves']!r}")
    sign = (v > 0) - (v < 0)
    return sign >= (best > 0) - (best < 0), v == best


def raw_policy_chooser(nb, player):
    """The network's most probable legal move: what the policy has learned, no search (the notebook's
    raw_policy_moves: the player's evaluator, with the mirror in Connect Four)."""
    return lambda state: nb.raw_policy_moves(player, state)


def mcts_chooser(player, simulations):
    """MCTS with `simulations` per move, no noise: the move player.act plays (PUCT: the most visited;
    Gumbel: the best of the last halving round)."""
    return lambda state: player.analyse(state, simulations).action


def shares(records, judged):
    """judged[i] = (keeps, optimal) for records[i], as numbers in [0, 1] ->
    {'keeps': share over won/drawn positions, 'optimal': share over all, 'n', 'n_keeps'}."""
    wd = [k for r, (k, _) in zip(records, judged) if r["outcome"] != "L"]
    return {"keeps": sum(wd) / max(len(wd), 1), "optimal": sum(o for _, o in judged) / max(len(judged), 1),
            "n": len(judged), "n_keeps": len(wd)}


def score(game, choose, records, batch=400):
    """Shares (see `shares`) of the moves `choose` picks on the records."""
    judged = []
    for i in range(0, len(records), batch):
        chunk = records[i:i + batch]
        cols = choose(game.from_moves([r["moves"] for r in chunk])).tolist()
        judged += [judge(r, int(c)) for r, c in zip(chunk, cols)]
    return shares(records, judged)


def random_baseline(records):
    """Expected shares of a uniformly random mover (exact, averaged over legal moves)."""
    judged = []
    for r in records:
        legal = [c for c, v in enumerate(r["values"]) if v is not None]
        js = [judge(r, c) for c in legal]
        judged.append((sum(k for k, _ in js) / len(legal), sum(o for _, o in js) / len(legal)))
    return shares(records, judged)


@torch.no_grad()
def evaluate(nb, player, records, simulations=(1, 64)):
    """Scores for the raw policy (simulations == 1) and MCTS at each other count."""
    out = {}
    for s in simulations:
        choose = raw_policy_chooser(nb, player) if s == 1 else mcts_chooser(player, s)
        out[s] = score(player.game, choose, records)
    return out
