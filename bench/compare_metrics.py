"""Compare two runs' metrics.jsonl at equal steps: the training losses, counters and learning rate.

    python bench/compare_metrics.py RUN_A/metrics.jsonl RUN_B/metrics.jsonl

Used for issue 19's check that a restructuring left training unchanged: the README main command
(same seed) before and after it. Prints a markdown table of the largest differences over every step
both runs logged and the values at a few steps. Nothing is asserted.
"""
import json
import sys

KEYS = ("loss/total", "loss/policy", "loss/value", "games", "positions", "buffer/size", "lr")


def training_records(path):
    """step -> the training log record of that step (evaluations and curve records left out)."""
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if "loss/total" in r:
                out[r["step"]] = r
    return out


def main(path_a, path_b):
    a, b = training_records(path_a), training_records(path_b)
    steps = sorted(set(a) & set(b))
    if not steps:
        sys.exit("no step is logged in both files")
    print(f"{len(steps)} steps logged in both ({steps[0]}..{steps[-1]}); only in A: {len(set(a) - set(b))}, "
          f"only in B: {len(set(b) - set(a))}\n")
    print("| value | largest difference A - B over those steps |\n|---|---:|")
    for k in KEYS:
        print(f"| {k} | {max(abs(float(a[s][k]) - float(b[s][k])) for s in steps):.3g} |")
    shown = sorted({steps[0], *steps[len(steps) // 4::len(steps) // 4 or 1], steps[-1]})
    print("\n| step | " + " | ".join(f"{k} A / B" for k in KEYS[:3]) + " | games A / B |\n|---:|" + "---:|" * 4)
    for s in shown:
        print(f"| {s} | " + " | ".join(f"{a[s][k]:.6f} / {b[s][k]:.6f}" for k in KEYS[:3])
              + f" | {a[s]['games']} / {b[s]['games']} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
