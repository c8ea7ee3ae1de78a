"""Score a Connect Four player against the solver-labelled positions (bench/data/connect4_labels.jsonl).

Two shares, over the positions of the set:
  * keeps outcome: the chosen move keeps the game-theoretic outcome (a won position stays won, a
    drawn one at least drawn; in a lost position every move keeps it);
  * optimal move: the chosen move reaches the best solver score (the fastest win, the slowest loss).
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
    """The network's most probable legal move: what the policy has learned, no search."""
    evaluate = nb.make_evaluator(player.game, player.net, player.precision)

    def choose(state):
        logits, _ = evaluate(state)                                    # (B, 7)
        logits = logits.masked_fill(~player.game.legal_mask(state), float("-inf"))
        return logits.argmax(1)
    return choose


def mcts_chooser(player, simulations):
    """MCTS with `simulations` per move, no noise, most visited move (what player.act does)."""
    return lambda state: player.analyse(state, simulations).visits.argmax(1)


def score(game, choose, records, batch=400):
    """{'keeps': share, 'optimal': share, 'n': count} of `choose` on the records."""
    keeps = optimal = 0
    for i in range(0, len(records), batch):
        chunk = records[i:i + batch]
        cols = choose(game.from_moves([r["moves"] for r in chunk])).tolist()
        for r, c in zip(chunk, cols):
            k, o = judge(r, int(c))
            keeps += k
            optimal += o
    n = max(len(records), 1)
    return {"keeps": keeps / n, "optimal": optimal / n, "n": len(records)}


def random_baseline(records):
    """Expected shares of a uniformly random mover (exact, averaged over legal moves)."""
    keeps = optimal = 0.0
    for r in records:
        legal = [c for c, v in enumerate(r["values"]) if v is not None]
        judged = [judge(r, c) for c in legal]
        keeps += sum(k for k, _ in judged) / len(legal)
        optimal += sum(o for _, o in judged) / len(legal)
    n = max(len(records), 1)
    return {"keeps": keeps / n, "optimal": optimal / n, "n": len(records)}


@torch.no_grad()
def evaluate(nb, player, records, simulations=(1, 64)):
    """Scores for the raw policy (simulations == 1) and MCTS at each other count."""
    out = {}
    for s in simulations:
        choose = raw_policy_chooser(nb, player) if s == 1 else mcts_chooser(player, s)
        out[s] = score(player.game, choose, records)
    return out
