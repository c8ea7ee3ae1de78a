"""TRAIN_MINUTES, the time budget (section 4's Config, `coord.run`): training stops at the first
checkpoint after that many minutes of self-play + training, counted across resumes; the last step is
logged, drawn on the curve and saved like any checkpoint; the learning rate's cosine reaches its floor
there if the budget ends before STEPS, and a resume sets the LR from the restored clock; a re-run of a
finished run trains no more until the budget is raised."""
import json

import pytest


def coordinator(nb, tmp_path, **kw):
    cfg = nb.build_config("connect4", "cpu", "budget", games_per_actor=8, simulations=4, min_buffer_size=32,
                          batch_size=16, num_filters=8, num_blocks=1, log_interval=1000, checkpoint_interval=4,
                          warmup_steps=2, **kw)
    storage = nb.ColabStorage(tmp_path / "budget", local_dir=tmp_path / "local", log=lambda m: None)
    return nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None)


def test_presets_and_checks(nb):
    chess = nb.build_config("chess", "cpu")
    assert chess.train_minutes > 0 and chess.steps > 2500          # the clock decides on any 2-core machine
    assert nb.build_config("connect4", "cpu").train_minutes == 0     # STEPS alone
    assert nb.build_config("chess", "cpu", train_minutes=5).train_minutes == 5
    assert nb.build_config("chess", "cpu", train_minutes=0).train_minutes == chess.train_minutes   # 0: the preset's
    with pytest.raises(ValueError) as e:
        nb.build_config("connect4", "cpu", TRAIN_MINUTES=-1)
    assert "TRAIN_MINUTES" in str(e.value) and "0.0.." in str(e.value), str(e.value)
    assert "TRAIN_MINUTES" in nb.FORM_FIELDS


def test_lr_follows_the_clock_when_it_is_further_on(nb, tmp_path):
    coord = coordinator(nb, tmp_path, steps=1000, train_minutes=10)
    floor = 0.1
    coord.train_s = 0.0
    by_steps = coord._lr_factor(501)                                 # (501 - 2 warm-up) / 998: cosine at 0.5
    assert by_steps == pytest.approx(0.55)
    coord.train_s = 450.0                                            # 75% of the budget spent
    assert coord._lr_factor(501) == pytest.approx(floor + 0.9 * 0.5 * (1 + nb.math.cos(nb.math.pi * 0.75)))
    coord.train_s = 6000.0                                           # past the budget: the floor
    assert coord._lr_factor(501) == pytest.approx(floor) and coord.out_of_time()
    coord.step = 5                                                   # not a checkpoint step: one more to go
    assert not coord.out_of_time()
    coord.train_s = 30.0                                             # the steps further on: they decide
    assert coord._lr_factor(501) == pytest.approx(by_steps)
    plain = coordinator(nb, tmp_path / "plain", steps=1000)          # no budget: the clock is ignored
    plain.train_s = 10**6
    assert plain._lr_factor(501) == pytest.approx(by_steps) and not plain.out_of_time()


def test_training_stops_at_the_budget_and_a_rerun_resumes_it(nb, tmp_path):
    budget_min = 0.02                                                # 1.2 s: a few dozen tiny steps
    coord = coordinator(nb, tmp_path, steps=100_000, train_minutes=budget_min)
    coord.run()
    stopped = coord.step
    assert 0 < stopped < 100_000 and stopped % 4 == 0 and coord.out_of_time()   # at a checkpoint step
    assert coord.train_s >= 60 * budget_min
    lines = [json.loads(l) for l in (tmp_path / "budget" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "loss/total" in r] == [stopped]          # the last step logged
    curve = [r["step"] for r in lines if r.get("event") == "curve"]
    assert curve == list(range(4, stopped + 1, 4))                               # drawn on the curve
    assert coord.last_saved_step == stopped and coord.storage.pending is None    # and saved
    gens = coord.storage.generations()
    assert [g["step"] for g in gens] == [stopped, stopped - 4]   # section 8's previous checkpoint: one interval back
    assert coord.scheduler.get_last_lr()[0] < 0.2 * coord.cfg.lr                 # near the cosine's floor

    again = coordinator(nb, tmp_path, steps=100_000, train_minutes=budget_min)  # the user re-runs: resumed,
    assert again.step == stopped and again.train_s == coord.train_s             # the clock too, and the LR
    assert again.optimizer.param_groups[0]["lr"] == pytest.approx(again.cfg.lr * again._lr_factor(stopped))
    assert again.optimizer.param_groups[0]["lr"] < 0.2 * again.cfg.lr           # from it (not from the steps)
    again.run()
    assert again.step == stopped                                                  # nothing more to train
    more = coordinator(nb, tmp_path, steps=100_000, train_minutes=2 * budget_min)   # a larger budget goes on
    more.run()
    assert more.step > stopped and more.train_s >= 120 * budget_min
