"""The network learns: a short Connect Four run of the notebook's own loop must clear a bar well above
chance on the solved positions (section 5.14). Without this, a sign error in the value target or a
wrong symmetry would pass every other test; both were tried and fail this one (see the note of the
issue that added it, and MUTATIONS below)."""
import os
import sys

import pytest
import torch

STEPS = 300                    # about 75 s of the 2-core CI machine's time
BAR = 0.62                     # raw policy keeps the solved outcome: this run 65.3%; value sign flipped 57.7%,
                               # a symmetry that mirrors the board only 58.6%; random moves ~46%


def learn(nb, tmp_path, mutate=None):
    """Train STEPS steps of the `cpu` preset (seed 0) and return the raw policy's solved-outcome share."""
    cfg = nb.build_config("connect4", "cpu", "learn", seed=0, steps=STEPS, checkpoint_interval=10**6, curve_share=0.0)
    storage = nb.ColabStorage(tmp_path / "learn", local_dir=tmp_path / "local", log=lambda m: None)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None)
    if mutate:
        mutate(nb, coord)
    coord.run()
    return nb.solved_score(coord.make_player(), search=False)["raw"]["keeps"]


def flip_value_sign(nb, coord):
    sample = coord.buffer.sample
    coord.buffer.sample = lambda n, generator=None: (lambda p, pi, z: (p, pi, -z))(*sample(n, generator))


def mirror_planes_only(nb, coord):
    sym = coord.game.symmetries
    coord.game.symmetries = lambda planes, policy: (sym(planes, policy)[0], policy)


MUTATIONS = {"value sign flipped": flip_value_sign, "symmetry mirrors the board, not the policy": mirror_planes_only}


def test_a_short_connect4_run_learns(nb, tmp_path):
    keeps = learn(nb, tmp_path)
    print(f"raw policy keeps the solved outcome in {keeps:.1%}")
    assert keeps >= BAR, f"raw policy keeps the solved outcome in {keeps:.1%} after {STEPS} steps (bar {BAR:.0%})"


@pytest.mark.skipif(not os.environ.get("LEARNING_MUTATIONS"), reason="set LEARNING_MUTATIONS=1: each mutation is "
                    "another training run; the note reports them")
@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_the_bar_catches_a_broken_learner(nb, tmp_path, name):
    keeps = learn(nb, tmp_path, MUTATIONS[name])
    print(f"{name}: raw policy keeps the solved outcome in {keeps:.1%}")
    assert keeps < BAR, f"{name}: {keeps:.1%} still clears the bar"
