"""Write bench/data/connect4_inline.py: a small solver-labelled table for the notebook's evaluation.

    python bench/make_connect4_inline.py [--n 300] [--seed 0]

Takes --n positions from bench/data/connect4_labels.jsonl (half random-play, half self-play, drawn
with a fixed seed), leaving out positions where every legal move is optimal (they cannot tell players
apart). Each position becomes one token  moves:outcome:optimal:keeping
  moves    1-based columns from the empty board ("4453"), the notebook's from_moves format;
  outcome  W/D/L for the side to move under perfect play;
  optimal  the columns that reach the best solver score;
  keeping  the columns that keep the outcome, "*" when every legal move does (always so for L).
The output file also holds the scoring function the notebook can paste next to the table.
"""
import argparse
import random
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import connect4_strength as strength  # noqa: E402

SCORER = '''

def connect4_solver_score(player, table=C4_SOLVED, simulations=None):
    """Solver-labelled strength of `player`: keeps_outcome = share of the won and drawn positions
    where its move keeps the game-theoretic outcome (a won position stays won, a drawn one at least
    drawn; a uniformly random mover: ~49%); optimal_move = share of all positions where its move
    reaches the best solver score. player: an MCTSPlayer (load_player / coord.make_player);
    simulations=None uses its own count. Why: "beats a random mover" saturates within minutes."""
    rows = [t.split(":") for t in table.split()]
    state = player.game.from_moves([r[0] for r in rows])
    cols = player.analyse(state, simulations).visits.argmax(1).tolist()    # one batched search
    wd = [(r, c) for r, c in zip(rows, cols) if r[1] != "L"]               # lost: every move keeps it
    keeps = sum(r[3] == "*" or str(c + 1) in r[3] for r, c in wd)
    optimal = sum(str(c + 1) in r[2] for r, c in zip(rows, cols))
    return {"positions": len(rows), "keeps_outcome": keeps / len(wd), "optimal_move": optimal / len(rows)}
'''


def token(r):
    legal = [c for c, v in enumerate(r["values"]) if v is not None]
    keep = [c for c in legal if strength.judge(r, c)[0]]
    keeping = "*" if keep == legal else "".join(str(c + 1) for c in keep)
    return f"{r['moves']}:{r['outcome']}:{''.join(map(str, r['best']))}:{keeping}"


def choose(records, n, seed):
    rng = random.Random(seed)
    informative = [r for r in records if len(r["best"]) < sum(v is not None for v in r["values"])]
    out = []
    for source in ("random", "selfplay"):
        pool = [r for r in informative if r["source"] == source]
        out += rng.sample(pool, min(len(pool), n // 2))
    return sorted(out, key=lambda r: (r["ply"], r["moves"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "data" / "connect4_inline.py"))
    ap.add_argument("--labels", default=str(strength.LABELS))
    args = ap.parse_args()
    rows = choose(strength.load_labels(args.labels), args.n, args.seed)
    body = textwrap.wrap(" ".join(token(r) for r in rows), 96, break_on_hyphens=False)
    counts = {o: sum(r["outcome"] == o for r in rows) for o in "WDL"}
    header = (f'"""{len(rows)} solver-labelled Connect Four positions for the notebook\'s evaluation, made by\n'
              f"bench/make_connect4_inline.py from bench/data/connect4_labels.jsonl (outcomes: {counts}).\n"
              'Token: moves:outcome:optimal columns:outcome-keeping columns ("*" = any legal move)."""\n\n')
    text = header + "C4_SOLVED = (\n" + "".join(f'    "{line} "\n' for line in body) + ")\n" + SCORER
    Path(args.out).write_text(text)
    print(f"wrote {len(rows)} positions, {len(text.encode())} bytes, to {args.out}; outcomes {counts}")


if __name__ == "__main__":
    main()
