"""How fast does chess learn? Train a preset for a wall-clock budget and judge the player at marks
against references that do not lie: mates in one and two, a uniform random mover, a 1-ply greedy player.

    python bench/learning_chess.py [--preset cpu] [--minutes 10] [--marks 0,2,5,10] [--match-marks last]
                                   [--games 100] [--device auto] [--threads 1] [--seed 0]
                                   [--simulations N] [--games-per-actor N] [--batch-size N] [--lr X]
                                   [--num-filters N] [--num-blocks N] [--max-plies N] [--steps N]
                                   [--fpu-reduction X] [--search puct|gumbel] [--set NAME=VALUE ...]
                                   [--out bench/results/learning_chess] [--keep RUN_DIR]

Training is the notebook's own loop (SingleProcessCoordinator.run; its checkpoints go to a temporary
folder, its strength curve keeps to the raw policy); the clock counts training only (it stops while the player is judged). At each mark:
  * mate in one (bench/data/chess_mate1.txt, 300 positions) and mate in two (chess_mate2.txt, 300):
    the share where the raw policy (the network's argmax, no search) and the search at the preset's
    simulations play a solving move (python-chess listed every one);
  * self-play since the last mark: games, the decisive share, the mean length;
  * at the match marks (default: the last one): `--games` games against a uniform random mover and as
    many against the 1-ply greedy player (mate if it can, else the most material), colours alternating,
    the same 4-ply random opening per pair, the preset's ply cap: W/D/L and the score with a 95% interval.
Prints a markdown table naming the device; writes <out>.json and <out>.png. Nothing is asserted.
bench/chess_strength.py adds Stockfish for a saved run: `--keep RUN_DIR` trains in that folder (a new
one) instead of a temporary one, so its checkpoints stay (bench/value_material_probe.py reads them too).
"""
import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from conftest import load_notebook_module  # noqa: E402
from learning_connect4 import config_sets  # noqa: E402
from selfplay_throughput import hardware  # noqa: E402

OVERRIDES = ("simulations", "games_per_actor", "batch_size", "lr", "num_filters", "num_blocks", "max_plies",
             "steps", "seed", "fpu_reduction", "min_buffer_size")
FLOATS = ("lr", "fpu_reduction")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--marks", default="0,2,5,10", help="minutes of training at which to judge")
    ap.add_argument("--match-marks", default="last", help="marks with matches: 'last', 'all' or minutes")
    ap.add_argument("--games", type=int, default=100, help="games per match")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--search", choices=("puct", "gumbel"))
    ap.add_argument("--out", default=str(HERE / "results" / "learning_chess"))
    ap.add_argument("--keep", help="train in this new run folder and keep it (default: a temporary one)")
    for name in OVERRIDES:
        ap.add_argument("--" + name.replace("_", "-"), type=float if name in FLOATS else int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="any other Config field, e.g. --set value_q_mix=0.5 (repeatable)")
    return ap.parse_args()


def mate_positions(nb, game, name):
    """The puzzles of bench/data/<name> (move counters set back: the preset's ply cap must not end them)."""
    rows = [line.split(";") for line in (HERE / "data" / name).read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    return nb.puzzle_positions(game, [r[0].strip() for r in rows]), [set(r[1].split()) for r in rows]


def mate_share(game, state, solutions, actions):
    return sum(game.action_to_str(state, i, int(a)) in sol for i, (sol, a) in enumerate(zip(solutions, actions.tolist()))) \
        / len(solutions)


def judge(nb, coord, puzzles, match, games, seed):
    player = coord.make_player()
    g = player.game
    out = {}
    for name, (state, solutions) in puzzles.items():
        out[f"{name}_raw"] = mate_share(g, state, solutions, nb.raw_policy_moves(player, state))
        out[f"{name}_search"] = mate_share(g, state, solutions, player.analyse(state).action)
    if match:
        for name, opponent in (("random", nb.RandomPlayer(g, torch.Generator(g.device).manual_seed(seed))),
                               ("greedy", nb.GreedyPlayer(g, torch.Generator(g.device).manual_seed(seed)))):
            out[name] = nb.play_match(g, player, opponent, games, opening_plies=4, seed=seed)
    return out


def selfplay_stats(coord, before):
    """Games finished since `before` (the actors' summed stats then): count, decisive share, mean length."""
    now = sum(a.stats for a in coord.actors).tolist()
    d = [x - y for x, y in zip(now, before)]
    if d[0] == 0:
        return {"games": 0, "decisive": None, "mean_plies": None}, now
    return {"games": int(d[0]), "decisive": 1 - d[3] / d[0], "mean_plies": d[1] / d[0]}, now


def table(rows, device_line, cfg):
    head = ["min", "step", "games", "decisive", "mean plies", "mate 1 raw / search", "mate 2 raw / search",
            "vs random", "vs greedy"]
    lines = [f"Chess learning, `{cfg.preset}` preset ({cfg.num_blocks}x{cfg.num_filters}, {cfg.simulations} "
             f"simulations, {cfg.search}, first-play urgency {cfg.fpu_reduction}, seed {cfg.seed}) — {device_line}",
             "", "| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    fmt = lambda m: "" if m is None else (f"{100 * m['score']:.1f}% ({100 * m['score_lo']:.0f}-{100 * m['score_hi']:.0f}) "
                                          f"{m['wins']}/{m['draws']}/{m['losses']}")
    for r in rows:
        j, sp = r["judge"], r["selfplay"]
        lines.append("| " + " | ".join([
            f"{r['minutes']:g}", str(r["step"]), str(r["games"]),
            "—" if sp["games"] == 0 else f"{100 * sp['decisive']:.0f}%",
            "—" if sp["games"] == 0 else f"{sp['mean_plies']:.0f}", f"{100 * j['mate1_raw']:.1f}% / {100 * j['mate1_search']:.1f}%",
            f"{100 * j['mate2_raw']:.1f}% / {100 * j['mate2_search']:.1f}%", fmt(j.get("random")),
            fmt(j.get("greedy"))]) + " |")
    return "\n".join(lines)


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.2))
    x = [r["minutes"] for r in rows]
    for key, label in (("mate1_raw", "mate in 1, raw"), ("mate1_search", "mate in 1, search"),
                       ("mate2_raw", "mate in 2, raw"), ("mate2_search", "mate in 2, search")):
        ax.plot(x, [100 * r["judge"][key] for r in rows], "o-", label=label)
    played = [r for r in rows if r["selfplay"]["games"]]
    ax.plot([r["minutes"] for r in played], [100 * r["selfplay"]["decisive"] for r in played], "k--",
            label="self-play decisive")
    ax.set_xlabel("training minutes"); ax.set_ylabel("%"); ax.grid(alpha=0.3); ax.legend(fontsize=7)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    nb = load_notebook_module()
    device = nb.pick_device() if args.device == "auto" else torch.device(args.device)
    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    if args.search:
        overrides["search"] = args.search
    steps_given = "steps" in overrides
    overrides.update({"curve_share": 0.0, **config_sets(nb, args.set)})   # the bench judges itself: no curve searches
    cfg = nb.build_config("chess", args.preset, "learning-chess", **overrides)
    if "train_minutes" not in overrides:      # the schedule: --steps alone, else the bench's own minutes as the budget
        cfg = nb.dataclasses.replace(cfg, train_minutes=0.0 if steps_given else args.minutes)
    marks = sorted({float(m) for m in args.marks.split(",") if float(m) <= args.minutes} | {args.minutes})
    match_marks = set(marks) if args.match_marks == "all" else {marks[-1]} if args.match_marks == "last" else \
        {float(m) for m in args.match_marks.split(",")}
    device_line = hardware(device) if device.type == "cuda" else f"CPU ({hardware(device)})"
    print(f"device: {device_line}\nconfig: preset {cfg.preset}, " + ", ".join(nb.config_diff(cfg)), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep and Path(args.keep).exists():
            raise SystemExit(f"--keep {args.keep}: the folder exists; name a new one")
        run_dir = Path(args.keep) if args.keep else Path(tmp) / cfg.run_name
        storage = nb.ColabStorage(run_dir, local_dir=Path(tmp) / "local")
        coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, device, log=lambda m: None)
        g = coord.game
        puzzles = {"mate1": mate_positions(nb, g, "chess_mate1.txt"), "mate2": mate_positions(nb, g, "chess_mate2.txt")}
        before, first = [0.0] * 7, {}
        for mark in marks:
            coord.run(until_step=math.inf, stop=lambda: coord.train_s >= mark * 60,      # the notebook's loop
                      on_step=lambda c: first.setdefault("step", c.train_s))
            trained, first_step = coord.train_s, first.get("step")
            t0 = time.perf_counter()
            sp, before = selfplay_stats(coord, before)
            j = judge(nb, coord, puzzles, mark in match_marks, args.games, cfg.seed)
            rows.append({"minutes": mark, "train_seconds": round(trained, 1), "step": coord.step, "games": coord.games,
                         "selfplay": sp, "judge": j, "judge_seconds": round(time.perf_counter() - t0, 1)})
            print(f"mark {mark:g} min: step {coord.step}, games {coord.games}, self-play {sp}, "
                  f"mate1 {100 * j['mate1_raw']:.1f}/{100 * j['mate1_search']:.1f}, mate2 "
                  f"{100 * j['mate2_raw']:.1f}/{100 * j['mate2_search']:.1f}"
                  + "".join(f", vs {k} {100 * j[k]['score']:.1f}%" for k in ("random", "greedy") if k in j)
                  + f" (judged in {rows[-1]['judge_seconds']} s)", flush=True)
    md = table(rows, device_line, cfg)
    md += f"\n\nFirst gradient step after {first_step or 0:.0f} s of self-play (filling MIN_BUFFER_SIZE = {cfg.min_buffer_size})."
    print("\n" + md)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"device": device_line, "threads": args.threads, "config": cfg.to_dict(), "marks": rows, "table": md}, indent=1))
    plot(rows, out.with_suffix(".png"), f"chess {cfg.preset}, {device_line}"[:120])
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
