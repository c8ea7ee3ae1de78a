"""How fast does Connect Four learn? Train a preset for a wall-clock budget and, at marks, judge the
player with the perfect solver's labels (bench/data/connect4_labels.jsonl).

    python bench/learning_connect4.py [--preset cpu] [--minutes 5] [--marks 1,2,3,5] [--device auto]
                                      [--threads 1] [--simulations N] [--games-per-actor N]
                                      [--batch-size N] [--lr X] [--num-filters N] [--num-blocks N]
                                      [--num-actors N] [--min-buffer-size N] [--steps N] [--seed N]
                                      [--fpu-reduction X] [--set NAME=VALUE ...]
                                      [--out bench/results/learning_connect4]

Training is the notebook's own loop (SingleProcessCoordinator.run, as the training cell runs it; its
checkpoints go to a temporary folder, its strength curve keeps to the raw policy). The clock counts training only: it stops while
the player is judged at a mark. At each mark, on every labelled position, three players choose a
move: the raw policy (network argmax, "1 simulation"), MCTS with 64 simulations and MCTS with the
preset's simulations. Reported per player: the share of won/drawn positions where the move keeps
the game-theoretic outcome, and the share of all positions where it is optimal (best solver score).

Why: "wins 200/200 against random" saturates within minutes and says nothing after; these shares
keep moving. Prints a markdown table naming the device; writes <out>.json and <out>.png.
Nothing is asserted.
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
import connect4_strength as strength  # noqa: E402
from selfplay_throughput import hardware  # noqa: E402

OVERRIDES = ("simulations", "games_per_actor", "batch_size", "lr", "num_filters", "num_blocks",
             "num_actors", "min_buffer_size", "steps", "seed", "fpu_reduction")
FLOATS = ("lr", "fpu_reduction")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--marks", default="1,2,3,5", help="minutes of training at which to evaluate")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--labels", default=str(strength.LABELS))
    ap.add_argument("--out", default=str(HERE / "results" / "learning_connect4"))
    for name in OVERRIDES:
        ap.add_argument("--" + name.replace("_", "-"), type=float if name in FLOATS else int, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="any other Config field, e.g. --set value_q_mix=0.5 (repeatable)")
    return ap.parse_args()


def config_sets(nb, items):
    """--set NAME=VALUE pairs -> overrides, each value parsed as its Config field's type."""
    types = {f.name: f.type for f in nb.dataclasses.fields(nb.Config)}
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        kind = types.get(name)
        if kind is None:
            raise SystemExit(f"--set {item}: {name!r} is not a Config field")
        kind = {"int": int, "float": float, "bool": lambda v: v.lower() in ("1", "true"), "str": str}.get(
            getattr(kind, "__name__", kind), str)
        out[name] = kind(value)
    return out


def judge(nb, coord, records, sims):
    player = coord.make_player()
    return {str(s): strength.score(player.game, strength.raw_policy_chooser(nb, player) if s == 1
                                   else strength.mcts_chooser(player, s), records) for s in sims}


def train_with_marks(nb, coord, marks, on_mark):
    """Run the notebook's training loop until the last mark; call on_mark(minutes, seconds) at each one.
    Only training time (self-play + gradient steps: coord.train_s) counts toward the marks."""
    for mark in sorted(marks):
        coord.run(until_step=math.inf, stop=lambda: coord.train_s >= mark * 60)   # the notebook's loop
        on_mark(mark, coord.train_s)


def table(rows, sims, device_line, baseline):
    head = ["min", "step", "games"] + [f"{'raw' if s == 1 else f'{s} sims'} keeps / optimal" for s in sims]
    lines = [f"Connect Four learning, judged by the solver on {baseline['n']} labelled positions "
             f"(keeps: share of the {baseline['n_keeps']} won/drawn ones; optimal: share of all) — {device_line}",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"{r['minutes']:g}", str(r["step"]), str(r["games"])]
        cells += [f"{100 * r['scores'][str(s)]['keeps']:.1f}% / {100 * r['scores'][str(s)]['optimal']:.1f}%"
                  for s in sims]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(f"| random mover | | | {100 * baseline['keeps']:.1f}% / {100 * baseline['optimal']:.1f}% |"
                 + " |" * (len(sims) - 1))
    return "\n".join(lines)


def plot(rows, sims, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    for k, (key, name) in enumerate((("keeps", "keeps outcome"), ("optimal", "optimal move"))):
        for s in sims:
            ax[k].plot([r["minutes"] for r in rows], [100 * r["scores"][str(s)][key] for r in rows], "o-",
                       label="raw policy" if s == 1 else f"{s} sims")
        ax[k].set_xlabel("training minutes"); ax[k].set_ylabel("%"); ax[k].set_title(name)
        ax[k].grid(alpha=0.3)
    ax[0].legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    nb = load_notebook_module()
    device = nb.pick_device() if args.device == "auto" else torch.device(args.device)
    overrides = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    overrides.update({"curve_share": 0.0, **config_sets(nb, args.set)})   # the bench judges itself: no curve searches
    cfg = nb.build_config("connect4", args.preset, "learning-bench", **overrides)
    records = strength.load_labels(args.labels)
    sims = sorted({1, 64, cfg.simulations})
    marks = sorted({float(m) for m in args.marks.split(",") if float(m) <= args.minutes} | {args.minutes})
    device_line = hardware(device) if device.type == "cuda" else f"CPU ({hardware(device)})"
    print(f"device: {device_line}\nconfig: preset {cfg.preset}, " + ", ".join(nb.config_diff(cfg)), flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = nb.ColabStorage(Path(tmp) / cfg.run_name, local_dir=Path(tmp) / "local")
        coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, device, log=lambda m: None)

        def on_mark(minutes, trained):
            t0 = time.perf_counter()
            scores = judge(nb, coord, records, sims)
            rows.append({"minutes": minutes, "train_seconds": round(trained, 1), "step": coord.step,
                         "games": coord.games, "scores": scores,
                         "judge_seconds": round(time.perf_counter() - t0, 1)})
            print(f"mark {minutes:g} min: step {coord.step}, games {coord.games}, "
                  + ", ".join(f"{s}: {100 * v['keeps']:.1f}/{100 * v['optimal']:.1f}" for s, v in scores.items())
                  + f" (judged in {rows[-1]['judge_seconds']}s)", flush=True)

        train_with_marks(nb, coord, marks, on_mark)

    baseline = strength.random_baseline(records)
    md = table(rows, sims, device_line, baseline)
    print("\n" + md)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"device": device_line, "threads": args.threads, "config": cfg.to_dict(), "marks": rows,
         "random_mover": baseline, "labels": str(Path(args.labels).name), "table": md}, indent=1))
    plot(rows, sims, out.with_suffix(".png"), f"Connect Four {cfg.preset} preset, {device_line}")
    print(f"\nwrote {out.with_suffix('.json')} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
