"""Gumbel AlphaZero search (search="gumbel"): sequential halving at the root, forced wins with few
simulations, legal-only targets that sum to one, batch independence, and self-play/training with it."""
import random

import pytest
import torch

from test_mcts import (HAND_WINS, find_positions, full_column_positions, has_win, hash_eval, must_block,
                       uniform_eval, winning_moves)


@pytest.fixture(scope="module")
def game(nb):
    return nb.make_game("connect4")


def gumbel(nb, game, ev, sims, m=16, **kw):
    return nb.BatchedMCTS(game, ev, sims, search="gumbel", considered=m, **kw)


@pytest.mark.parametrize("m, n", [(1, 5), (2, 8), (4, 16), (7, 32), (16, 16), (16, 200), (5, 3)])
def test_halving_schedule(nb, m, n):
    sched = nb.halving_schedule(m, n)
    assert len(sched) == n
    assert sched[: min(m, n)] == [0] * min(m, n)               # the first m simulations try m moves
    assert all(a <= b for a, b in zip(sched, sched[1:]))
    # simulate it: each entry visits one move that has exactly that count; the set in play halves
    counts = {}
    for c in sched:
        counts[c] = counts.get(c, 0) + 1
    widths = [counts[c] for c in sorted(counts)]
    assert widths[0] == min(m, n) and all(a >= b for a, b in zip(widths, widths[1:]))
    if m > 1 and n >= 2 * m:
        assert widths[-1] == 2                                  # ends with the best two moves


def test_root_visits_follow_sequential_halving(nb, game):
    """7 legal moves, 4 considered, 16 simulations: 4 moves get 2 visits, then the best 2 get 4 more."""
    res = gumbel(nb, game, uniform_eval, 16, m=4).search(game.initial_state(1))
    assert sorted(res.child_visits[0].tolist(), reverse=True) == [6, 6, 2, 2, 0, 0, 0]
    assert int(res.child_visits[0].sum()) == 16


@pytest.mark.parametrize("sweep", [True, False])
@pytest.mark.parametrize("sims", [8, 16, 32])
def test_takes_win_in_one_with_few_simulations(nb, game, sims, sweep):
    moves = HAND_WINS + find_positions(game, random.Random(10), has_win(game), 10)
    s = game.from_moves(moves)
    res = gumbel(nb, game, uniform_eval, sims, root_sweep=sweep).search(s)
    for i, m in enumerate(moves):
        wins = winning_moves(game, s, i)
        assert int(res.action[i]) in wins, f"{m}: played {int(res.action[i]) + 1}, wins {[w + 1 for w in wins]}"
        # the improved policy puts most of its mass on winning moves
        slot_of = {int(a): k for k, a in enumerate(res.child_action[i].tolist()) if a >= 0}
        assert sum(float(res.policy[i, slot_of[w]]) for w in wins) > 0.5, m


def test_blocks_an_immediate_threat(nb, game):
    moves = ["15161", "11223", "123242"] + find_positions(game, random.Random(11), must_block(game), 5)
    s = game.from_moves(moves)
    res = gumbel(nb, game, uniform_eval, 400).search(s)   # halving: each of 7 moves needs ~7 visits to see a reply
    nxt = game.step(s, res.action)
    for i, m in enumerate(moves):
        opp_wins = winning_moves(game, nxt, i)
        assert not opp_wins, f"{m}: played {int(res.action[i]) + 1} and the opponent wins with {opp_wins}"


@pytest.mark.parametrize("noise", [False, True])
def test_targets_are_legal_and_sum_to_one(nb, game, noise):
    moves = ["", "4", "1111112", "333333"] + full_column_positions(game, random.Random(3), 6)
    s = game.from_moves(moves)
    res = gumbel(nb, game, hash_eval, 24).search(s, add_noise=noise)
    legal_slot = res.child_action >= 0
    torch.testing.assert_close(res.policy.sum(1), torch.ones(len(moves)))
    assert (res.policy[~legal_slot] == 0).all()
    assert game.legal_mask(s)[torch.arange(len(moves)), res.action].all()
    assert (res.visits * ~game.legal_mask(s)).sum() == 0
    open_ = res.proven == nb.UNPROVEN            # a proven root is a leaf: its simulations stop there
    assert int(open_.sum()) >= 6, "test data: most roots should stay unproven"
    assert (res.child_visits.sum(1)[open_] == 24).all() and (res.child_visits.sum(1) <= 24).all()


def test_game_alone_equals_game_in_batch(nb, game):
    moves = ["", "4", "434343", "333333"] + full_column_positions(game, random.Random(13), 6)
    s = game.from_moves(moves)
    mcts = gumbel(nb, game, hash_eval, 40)
    batch = mcts.search(s)
    for i, m in enumerate(moves):
        alone = mcts.search(game.from_moves([m]))
        assert torch.equal(alone.visits[0], batch.visits[i]), m
        assert torch.equal(alone.policy[0], batch.policy[i]) and int(alone.action[0]) == int(batch.action[i]), m


def test_noise_varies_the_move_and_no_noise_is_deterministic(nb, game):
    s = game.initial_state(64)
    mcts = gumbel(nb, game, uniform_eval, 16)
    torch.manual_seed(0)
    noisy = mcts.search(s, add_noise=True).action
    assert len(set(noisy.tolist())) >= 4                      # Gumbel sampling explores
    quiet = mcts.search(s, add_noise=False).action
    assert len(set(quiet.tolist())) == 1


def test_self_play_and_training_with_gumbel(nb, tmp_path):
    cfg = nb.build_config("connect4", "cpu", "g", steps=3, num_filters=8, num_blocks=1, games_per_actor=16,
                          simulations=8, batch_size=32, min_buffer_size=32, search="gumbel", gumbel_considered=4)
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=lambda m: None)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None)
    for _ in range(3):
        coord.self_play()
        coord.train_step()
    assert coord.step == 3 and coord.games > 0
    planes, pi, z = coord.buffer.sample(32)
    torch.testing.assert_close(pi.sum(1), torch.ones(32), rtol=0, atol=2e-3)   # stored as fp16
    player = coord.make_player(8)
    assert player.search == "gumbel"
    coord.save()
    loaded = nb.load_player(tmp_path / "run", device="cpu")
    assert loaded.search == "gumbel" and loaded.considered == 4
