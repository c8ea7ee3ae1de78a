"""Section 8's evaluation (section 5.15): the plan and its estimate, the time budget that stops and
adjudicates match games, the progress bar, the previous checkpoint, and what lands in metrics.jsonl."""
import json
import time

import pytest
import torch


def small_coordinator(nb, tmp_path, game, **kw):
    cfg = nb.build_config(game, "cpu", games_per_actor=4, simulations=4, min_buffer_size=32, batch_size=16,
                          num_filters=8, num_blocks=1, max_plies=0 if game == "connect4" else 40, **kw)
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=lambda m: None)
    return nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None), storage


class Bar:
    """Stands in for tqdm: records the total and every update."""
    made = []

    def __init__(self, total, **kw):
        self.total, self.n, self.closed = total, 0, False
        Bar.made.append(self)

    def update(self, k):
        assert k >= 0
        self.n += k

    def close(self):
        self.closed = True


def test_stopped_chess_games_are_adjudicated_by_material(nb):
    chess = nb.make_game("chess")
    fens = ["4k3/8/8/8/8/8/8/R3K3 w - - 0 1",        # white to move, a rook up: a win for the mover
            "4k3/8/8/8/8/8/8/R3K3 b - - 0 1",        # black to move, a rook down: a loss
            "4k3/8/8/8/8/8/PP6/4K3 w - - 0 1",       # two pawns up: under the margin, a draw
            "4k3/8/8/8/8/8/8/1N2K3 b - - 0 1"]       # black to move, a knight down (3 pawns): a loss
    state = nb.puzzle_positions(chess, fens)
    assert nb.adjudicate_stopped(chess, state).tolist() == [1.0, -1.0, 0.0, -1.0]
    c4 = nb.make_game("connect4")
    assert nb.adjudicate_stopped(c4, c4.initial_state(3)).tolist() == [0.0, 0.0, 0.0]


def test_a_deadline_stops_the_match_and_counts_every_game(nb):
    chess = nb.make_game("chess", max_plies=200)
    a, b = nb.RandomPlayer(chess, torch.Generator().manual_seed(1)), nb.RandomPlayer(chess, torch.Generator().manual_seed(2))
    seen = []
    r = nb.play_match(chess, a, b, 10, seed=0, deadline=time.perf_counter() - 1, progress=seen.append)
    assert r["stopped"] == 10 and r["draws"] == 10 and seen == [0]      # stopped before the first move
    r = nb.play_match(chess, a, b, 10, seed=0, progress=seen.append)
    assert r["stopped"] == 0 and r["wins"] + r["draws"] + r["losses"] == 10
    assert seen[-1] == 10 and seen[1:] == sorted(seen[1:])            # finished games only grow
    assert "stopped" not in nb.format_match("x", r)
    assert "2 stopped at the time limit and adjudicated" in nb.format_match("x", {**r, "stopped": 2})


def test_evaluation_prints_its_plan_plays_within_budget_and_logs(nb, tmp_path):
    coord, storage = small_coordinator(nb, tmp_path, "connect4", eval_games=6, checkpoint_interval=1)
    for _ in range(2):
        coord.self_play(); coord.train_step(); coord.save()
    out, Bar.made = [], []
    res = nb.evaluate_run(coord, storage, progress_bar=Bar, out=out.append)
    plan = res["plan"]
    assert out[0].startswith("section 8 plan: vs random, vs previous checkpoint (step 1): 6 games each, up to 42 plies")
    assert "4 simulations (puct) a move" in out[0]
    assert any(l.startswith("  estimate: ~") and "positions/s" in l for l in out), out
    rate = coord.search_rate()
    assert rate > 0 and plan.estimate_s == pytest.approx(plan.positions / rate)
    assert plan.budget_s == nb.EVAL_MIN_S                      # a few seconds of training: the floor
    assert plan.positions >= 6 * 0.5 + 6 * 1.0 + 300           # two matches (one with both sides searching) + the lines
    assert [b.total for b in Bar.made] == [12] and Bar.made[0].n == 12 and Bar.made[0].closed
    assert res["random"]["stopped"] == res["previous"]["stopped"] == 0
    assert any(l.startswith("vs previous checkpoint (step 1): 6 games") for l in out)
    assert any(l.startswith("solved positions (300") for l in out) and any(l.startswith("tactics on") for l in out)
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = {k: v for r in lines if r.get("event") == "eval" for k, v in r.items()}
    assert evals["eval/previous_step"] == 1 and evals["eval/random_stopped"] == 0
    assert 0 <= evals["eval/random_score"] <= 1 and "eval/solved_keeps_search" in evals


def test_an_exhausted_budget_stops_the_matches_and_says_so(nb, tmp_path, monkeypatch):
    monkeypatch.setattr(nb, "EVAL_MIN_S", 0.0)
    coord, storage = small_coordinator(nb, tmp_path, "chess", eval_games=8, eval_share=0.001)
    coord.self_play(); coord.train_step()
    coord.train_s = 0.5                                        # budget 0.5 ms: spent before the first ply
    out = []
    start = time.perf_counter()
    res = nb.evaluate_run(coord, storage, out=out.append)
    assert res["random"]["stopped"] == res["greedy"]["stopped"] == 8 and "previous" not in res
    assert res["random"]["draws"] == 8                        # the starting position: level material
    assert res["plan"].estimate_s > res["plan"].budget_s
    assert any("over budget" in l and "a lead of 3 pawns or more wins" in l for l in out), out
    assert any("vs previous checkpoint: skipped (no older checkpoint" in l for l in out)
    assert any("8 stopped at the time limit and adjudicated" in l for l in out)
    assert any(l.startswith("mate in one (") for l in out)
    assert time.perf_counter() - start < 60


def test_section_8_without_self_play_this_session_uses_the_logged_rate(nb, tmp_path):
    coord, storage = small_coordinator(nb, tmp_path, "connect4")
    assert coord.search_rate() is None
    plan = nb.plan_evaluation(coord, storage)
    assert plan.estimate_s is None and any("no estimate" in l for l in plan.describe(coord.cfg))
    coord.metrics.append({"step": 10, "loss/total": 1.0, "selfplay/positions_per_sec": 250.0})
    assert coord.search_rate() == 250.0
