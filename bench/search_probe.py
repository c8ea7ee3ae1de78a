"""What the search finds on the board, whatever the network knows: mates in one and two, Connect Four
wins taken and losses blocked, per piece of the search (issue 17), and what each piece costs.

    python bench/search_probe.py [--run RUN_DIR] [--mate1-sims 2,8,32,64,128,256] [--mate2-sims 64,256,1024]
                                 [--c4-sims 16,64,200] [--variants none-fpu0.25,all-fpu0] [--search puct,gumbel] [--out FILE]

Evaluator: a uniform one (every logit 0, value 0: what an untrained network tells the search) and,
with --run, the newest checkpoint of a saved run (chess or Connect Four, whichever it is).
Variants `<pieces>-<urgency>` (the pieces on and off; see the notebook's section 5.7):
  pieces   none (no root sweep, no solver: the search before issue 17), solver (proven results, no root
           sweep), sweep (the root sweep only), all (both: the notebook's search), graph (all, on the
           graph path: the sync-free simulation a GPU captures, run eagerly here)
  urgency  first-play urgency: fpu0.25 (the parent's value - 0.25: what the notebook shipped before),
           fpu0 (the parent's value: the notebook's default since)
(Lc0's urgency, the parent's value - 0.44 x sqrt(prior mass visited), was measured once and lost to
fpu0 on every line; its code is gone: bench/results/search_probe_cpu.md keeps the figures.)
Tables (markdown, to stdout and --out):
  * chess: share of bench/data/chess_mate1.txt (300) / the first 200 of chess_mate2.txt where the
    move played is a solving move (python-chess listed them all), per variant, search and simulations;
  * Connect Four, the 1,200 solver-labelled positions of bench/data/connect4_labels.jsonl: an
    immediate win taken (over positions that have one), an immediate loss blocked (over positions
    without a win where the opponent threatens one and some move stops it), and the solved outcome
    kept (over won and drawn positions);
  * cost: milliseconds per simulation for the whole batch, and the root sweep's time next to it.
One thread (torch.set_num_threads(1)), so that two runs side by side on 2 cores do not disturb each other.
Nothing is asserted.
"""
import argparse
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from conftest import load_notebook_module  # noqa: E402
from connect4_strength import load_labels, judge  # noqa: E402

FPU = {"fpu0.25": dict(fpu_reduction=0.25), "fpu0": dict(fpu_reduction=0.0)}
PIECES = {"none": dict(root_sweep=False, solver=False), "solver": dict(root_sweep=False),
          "sweep": dict(solver=False), "all": dict(), "graph": dict(graphs=True)}
VARIANTS = {f"{p}-{f}": {**PIECES[p], **FPU[f]} for p in PIECES for f in FPU}


def mate_rows(name, n):
    rows = [line.split(";") for line in (ROOT / "bench" / "data" / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return [(fen.strip(), set(sol.split())) for fen, sol in rows[:n]]


def uniform(game):
    def evaluate(state):
        b = nb_state_size(state)
        return torch.zeros(b, game.num_actions), torch.zeros(b)
    return evaluate


def nb_state_size(state):
    return next(iter(vars(state).values())).shape[0]


def timed_search(nb, game, evaluate, sims, root, **kw):
    mcts = nb.BatchedMCTS(game, evaluate, sims, dirichlet_frac=0.0, **kw)
    t0 = time.perf_counter()
    res = mcts.search(root)
    return res, time.perf_counter() - t0


def chess_table(nb, game, evaluate, label, variants, searches, mate1_sims, mate2_sims, out):
    for name, sims_list, n in (("chess_mate1.txt", mate1_sims, 300), ("chess_mate2.txt", mate2_sims, 200)):
        rows = mate_rows(name, n)
        root = nb.puzzle_positions(game, [fen for fen, _ in rows])
        kind = "mate in one" if "1" in name else "mate in two"
        out(f"\n### Chess, {kind} ({len(rows)} positions), {label} evaluator: move played mates\n")
        out("| variant | search | " + " | ".join(f"{s} sims" for s in sims_list) + " | ms/simulation (largest) |")
        out("|---|---|" + "---:|" * (len(sims_list) + 1))
        for v in variants:
            for search in searches:
                cells, cost = [], ""
                for sims in sims_list:
                    res, dt = timed_search(nb, game, evaluate, sims, root, search=search, **VARIANTS[v])
                    hits = sum(game.action_to_str(root, i, int(a)) in sol for i, ((_, sol), a)
                               in enumerate(zip(rows, res.action.tolist())))
                    cells.append(f"{100 * hits / len(rows):.1f}%")
                    cost = f"{1000 * dt / sims:.1f}"
                out(f"| {v} | {search} | " + " | ".join(cells) + f" | {cost} |")


def immediate(game, state):
    """Per position: (columns that win at once, columns after which the opponent has no win at once)."""
    B = nb_state_size(state)
    wins, safe = [[] for _ in range(B)], [[] for _ in range(B)]
    legal = game.legal_mask(state)
    for c in range(7):
        nxt = game.step(state, torch.full((B,), c))
        done, value = game.terminal(nxt)
        threat = torch.zeros(B, dtype=torch.bool)
        nlegal = game.legal_mask(nxt)
        for r in range(7):
            d2, v2 = game.terminal(game.step(nxt, torch.full((B,), r)))
            threat |= nlegal[:, r] & d2 & (v2 == -1)
        for b in range(B):
            if legal[b, c]:
                if bool(done[b]) and float(value[b]) == -1:
                    wins[b].append(c)
                if not bool(threat[b]) or bool(done[b]):
                    safe[b].append(c)
    return wins, safe


def connect4_table(nb, game, evaluate, label, variants, searches, sims_list, out):
    records = load_labels()
    state = game.from_moves([r["moves"] for r in records])
    wins, safe = immediate(game, state)
    legal = game.legal_mask(state)
    has_win = [bool(w) for w in wins]
    must_block = [not w and 0 < len(s) < int(legal[b].sum()) for b, (w, s) in enumerate(zip(wins, safe))]
    out(f"\n### Connect Four ({len(records)} solver-labelled positions: {sum(has_win)} with a win at once, "
        f"{sum(must_block)} that must block), {label} evaluator\n")
    out("| variant | search | simulations | win taken | loss blocked | outcome kept | ms/simulation |")
    out("|---|---|---:|---:|---:|---:|---:|")
    for v in variants:
        for search in searches:
            for sims in sims_list:
                res, dt = timed_search(nb, game, evaluate, sims, state, search=search, **VARIANTS[v])
                acts = res.action.tolist()
                took = sum(a in wins[b] for b, a in enumerate(acts) if has_win[b]) / max(sum(has_win), 1)
                blocked = sum(a in safe[b] for b, a in enumerate(acts) if must_block[b]) / max(sum(must_block), 1)
                judged = [judge(r, a) for r, a in zip(records, acts)]
                wd = [k for r, (k, _) in zip(records, judged) if r["outcome"] != "L"]
                out(f"| {v} | {search} | {sims} | {100 * took:.1f}% | {100 * blocked:.1f}% | "
                    f"{100 * sum(wd) / len(wd):.1f}% | {1000 * dt / sims:.1f} |")


def sweep_cost(nb, out):
    """The root sweep alone against a search of 32 simulations at the presets' batch sizes."""
    out("\n### The root sweep's cost (uniform evaluator, PUCT, every piece on)\n")
    out("| game | batch | root sweep (ms) | search, 32 sims (ms) | share |")
    out("|---|---:|---:|---:|---:|")
    for which, B in (("chess", 64), ("chess", 512), ("connect4", 128), ("connect4", 512)):
        game = nb.make_game(which, "cpu")
        if which == "chess":
            rows = mate_rows("chess_mate2.txt", 300)
            root = game.from_fen([rows[i % len(rows)][0] for i in range(B)])
        else:
            root = game.from_moves([r["moves"] for r in load_labels()[:B]])
        legal, _, _ = game.status(root)
        action, _ = nb.children_from_logits(legal, torch.zeros(B, game.num_actions), game.max_legal)
        nb.root_sweep(game, root, action)                       # warm-up
        t0 = time.perf_counter()
        for _ in range(3):
            nb.root_sweep(game, root, action)
        ts = (time.perf_counter() - t0) / 3
        timed_search(nb, game, uniform(game), 32, root)         # warm-up
        _, dt = timed_search(nb, game, uniform(game), 32, root)
        out(f"| {which} | {B} | {1000 * ts:.1f} | {1000 * dt:.0f} | {100 * ts / dt:.1f}% |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", help="a run folder: its network as a second evaluator")
    ap.add_argument("--mate1-sims", default="2,8,32,64,128,256")
    ap.add_argument("--mate2-sims", default="64,256,1024")
    ap.add_argument("--c4-sims", default="16,64,200")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--search", default="puct,gumbel")
    ap.add_argument("--tables", default="chess,connect4,cost")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(1)
    nb = load_notebook_module(name="nb")
    lines = []

    def out(line=""):
        print(line, flush=True)
        lines.append(line)
    ints = lambda s: [int(x) for x in s.split(",") if x]
    variants, searches = a.variants.split(","), a.search.split(",")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine()) \
        if Path("/proc/cpuinfo").exists() else platform.machine()
    out(f"# Search probe\n\n{cpu}, {torch.get_num_threads()} thread, torch {torch.__version__}; "
        f"`python bench/search_probe.py {' '.join(sys.argv[1:])}`")
    evaluators = [("uniform", None)]
    if a.run:
        player = nb.load_player(a.run, device="cpu")
        evaluators.append((f"{Path(a.run).name} (trained)", player))
    tables = a.tables.split(",")
    for label, player in evaluators:
        for which in ("chess", "connect4"):
            if which not in tables or (player is not None and player.game.name != which):
                continue
            game = nb.make_game(which, "cpu") if player is None else player.game     # (its ply cap: encode sees it)
            ev = uniform(game) if player is None else nb.make_evaluator(game, player.net, player.precision)
            if which == "chess":
                chess_table(nb, game, ev, label, variants, searches, ints(a.mate1_sims), ints(a.mate2_sims), out)
            else:
                connect4_table(nb, game, ev, label, variants, searches, ints(a.c4_sims), out)
    if "cost" in tables:
        sweep_cost(nb, out)
    if a.out:
        Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
