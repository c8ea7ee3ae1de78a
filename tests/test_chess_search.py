"""Chess through the generic machinery: conformance checker, batched MCTS on chess positions,
and a training step of the coordinator with chess."""
import torch
import pytest


@pytest.fixture(scope="module")
def chess(nb):
    return nb.make_game("chess", "cpu")


def uniform(game):
    def evaluate(state):
        b = state.board.shape[0]
        return torch.zeros(b, game.num_actions), torch.zeros(b)
    return evaluate


def test_check_game_passes_on_chess(nb, chess):
    r = nb.check_game(chess, batch_size=12, max_plies=50, seed=3)
    assert r["plies"] == 50


def test_mcts_finds_mate_in_one_for_both_colours(nb, chess):
    # white: Ra1-a8 mates (back-rank); black: Ra8-a1 mates (mirror image)
    s = chess.from_fen(["6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1", "r5k1/8/8/8/8/8/5PPP/6K1 b - - 0 1"])
    res = nb.BatchedMCTS(chess, uniform(chess), 300, dirichlet_frac=0.0).search(s)
    best = res.action
    assert [chess.action_to_str(s, i, int(best[i])) for i in range(2)] == ["a1a8", "a8a1"]
    assert bool((res.root_value > 0.5).all())          # the side to move is winning


def test_mcts_visits_only_legal_moves_and_sum_to_simulations(nb, chess):
    fens = ["r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",
            "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1",
            "rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8"]
    s = chess.from_fen(fens)
    res = nb.BatchedMCTS(chess, uniform(chess), 40).search(s, add_noise=True)
    legal = chess.legal_mask(s)
    assert bool((res.visits[~legal] == 0).all())
    assert res.visits.sum(1).tolist() == [40.0] * 3


def test_coordinator_trains_chess(nb, tmp_path):
    cfg = nb.build_config("chess", "cpu", "c", steps=2, num_filters=8, num_blocks=1, games_per_actor=8,
                          simulations=4, batch_size=16, min_buffer_size=16, max_plies=12)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, nb.ColabStorage(tmp_path / "c", local_dir=tmp_path),
                                                         "cpu", log=lambda m: None)
    before = [p.clone() for p in coord.net.parameters()]
    while coord.step < cfg.steps:
        coord.self_play()
        coord.train_step()
    assert coord.games >= 8                                  # the 12-ply cap ended games as draws
    assert any(not torch.equal(a, b) for a, b in zip(before, coord.net.parameters()))
    planes, policy, z = coord.buffer.sample(16)
    assert planes.shape == (16, *coord.game.obs_shape)
    assert torch.allclose(policy.sum(1), torch.ones(16), atol=1e-2)
