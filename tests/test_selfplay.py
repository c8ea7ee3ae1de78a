"""Self-play actor: lockstep moves, slot refill, results written to the buffer, resignation, and the
material verdict on chess games stopped by the ply cap."""
import pytest
import torch


class HopelessSearch:
    """A search stub: uniform visits over legal moves and a root value of -1 (the mover is lost)."""
    gumbel = False

    def __init__(self, game):
        self.game = game

    def search(self, state, add_noise=False):
        from types import SimpleNamespace
        legal = self.game.legal_mask(state)
        B, K = legal.shape
        action = torch.where(legal, torch.arange(K).expand(B, K), -1).to(torch.int32)
        return SimpleNamespace(visits=legal.float(), root_value=torch.full((B,), -1.0),
                               child_visits=legal.float(), child_action=action,
                               policy=legal.float() / legal.sum(1, keepdim=True), action=legal.float().argmax(1),
                               proven=torch.full((B,), 2, dtype=torch.int8))


def make(nb, **kw):
    cfg = nb.build_config("connect4", "cpu", games_per_actor=8, num_actors=1, **kw)
    game = nb.make_game("connect4")
    return cfg, game, nb.SelfPlayActor(game, cfg, 0, "cpu"), nb.ReplayBuffer(game, 64, "cpu")


def test_resigning_mover_loses_and_slots_restart(nb):
    cfg, game, actor, buf = make(nb, resign_threshold=-0.5, no_resign_frac=0.0)
    actor.play_move(HopelessSearch(game), buf)
    games, plies, first_wins, draws, resigns = actor.stats[:5].tolist()
    assert games == resigns == 8 and first_wins == 0 and draws == 0     # the first player resigned at once
    assert buf.counts() == (8, 8)
    assert bool((buf.z[:8] == -1).all())                                 # from the resigning mover's view
    assert bool((actor.ply == 0).all()) and bool((actor.state.ply == 0).all())   # slots restarted
    assert bool((actor.uid == torch.arange(8) + 8).all())                # new game ids


def test_no_resign_games_play_on_and_count_would_be_resigns(nb):
    cfg, game, actor, buf = make(nb, resign_threshold=-0.5, no_resign_frac=1.0)
    for _ in range(42):
        actor.play_move(HopelessSearch(game), buf)
    games, _, first_wins, draws, resigns, flagged, false_resigns = actor.stats.tolist()
    assert resigns == 0 and games >= 8 and flagged == games
    # the first player "would have resigned" in every game: each game it did not lose was a false resign
    assert false_resigns == games - (games - first_wins - draws)


def test_without_resign_threshold_games_end_by_the_rules(nb):
    cfg, game, actor, buf = make(nb)
    for _ in range(42):
        actor.play_move(HopelessSearch(game), buf)
    games, plies, first_wins, draws, resigns = actor.stats[:5].tolist()
    assert resigns == 0 and games >= 8 and plies >= 7 * games           # a win needs at least 7 plies


class PlannedSearch:
    """A search stub that plays a fixed UCI move per game and call: plan[i][k] for game i at call k."""
    gumbel = False

    def __init__(self, game, plan):
        self.game, self.plan, self.calls = game, plan, 0

    def search(self, state, add_noise=False):
        from types import SimpleNamespace
        B = len(self.plan)
        action = torch.tensor([self.game.parse_action(state, i, self.plan[i][self.calls]) for i in range(B)])
        self.calls += 1
        visits = torch.zeros(B, self.game.num_actions)
        visits[torch.arange(B), action] = 1.0
        return SimpleNamespace(visits=visits, root_value=torch.zeros(B), child_visits=torch.ones(B, 1),
                               child_action=action[:, None].to(torch.int32), policy=torch.ones(B, 1), action=action,
                               proven=torch.full((B,), 2, dtype=torch.int8))


QUEENS_W = "4k3/8/8/8/8/8/8/QQQ1K3 w - - 0 10"     # ply 18: white's move reaches the cap (19), up 27 pawns
QUEENS_B = "4k3/8/8/8/8/8/8/QQQ1K3 b - - 0 9"      # ply 17: black moves, then white reaches the cap
MATE_ON_CAP = "6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 10"  # ply 18: Ra8# lands on the cap ply: a win, not a verdict


def play_to_cap(nb, material_value, material_mix=0.0, material_horizon=8):
    cfg = nb.build_config("chess", "cpu", games_per_actor=8, max_plies=19, material_value=material_value,
                          material_mix=material_mix, material_horizon=material_horizon)
    game = nb.make_game("chess", max_plies=19)
    actor, buf = nb.SelfPlayActor(game, cfg, 0, "cpu"), nb.ReplayBuffer(game, 64, "cpu")
    actor.state = game.from_fen([QUEENS_W] * 4 + [QUEENS_B] * 2 + [MATE_ON_CAP] * 2)
    plan = [["e1e2", "e2e4"]] * 4 + [["e8d8", "e1e2"]] * 2 + [["a1a8", "e2e4"]] * 2
    search = PlannedSearch(game, plan)
    for _ in range(2):
        actor.play_move(search, buf)
    return actor, buf


def test_capped_chess_games_train_toward_their_material(nb):
    import math
    actor, buf = play_to_cap(nb, 0.5)
    games, plies, first_wins, draws, resigns = actor.stats[:5].tolist()
    assert (games, first_wins, draws) == (8, 2, 6)      # the results are the rules' results: capped = draw
    v = 0.5 * math.tanh(27 / 5)                          # three queens up, scaled by material_value
    ready = buf.ready[:16].tolist()
    z = buf.z[:16].tolist()
    # call 0 wrote slots 0..7, call 1 wrote slots 8..15 (only the black games' second position is finished)
    assert ready == [True] * 8 + [False] * 4 + [True] * 2 + [False] * 2
    assert z[:4] == pytest.approx([v] * 4)               # white to move, up the queens
    assert z[4:6] == pytest.approx([-v] * 2)             # black to move, down the queens
    assert z[6:8] == [1.0, 1.0]                          # mate on the cap ply is a win
    assert z[12:14] == pytest.approx([v] * 2)            # white to move in the black games


def test_material_target_reads_the_same_game_later_from_the_movers_side(nb):
    """material_mix 0.5, horizon 1: a position trains half toward the capped result, half toward the
    material of the next position of its game, which the other side moves in (the sign flips). Only the
    black games have a next position (the white games and the mates ended after one move)."""
    import math
    _, buf = play_to_cap(nb, 0.5, material_mix=0.5, material_horizon=1)
    v, t = 0.5 * math.tanh(27 / 5), math.tanh(27 / 5)
    z = buf.z[:16].tolist()
    assert z[:4] == pytest.approx([v] * 4, abs=1e-3)                    # no next position: the result alone
    assert z[4:6] == pytest.approx([0.5 * -v + 0.5 * -t] * 2, abs=1e-3)   # black to move: white up 27 next
    assert z[6:8] == [1.0, 1.0] and z[12:14] == pytest.approx([v] * 2, abs=1e-3)


def test_material_target_with_two_actors_skips_the_other_actors_rows(nb):
    """Two actors in turn share the ring: each lockstep round writes actor 0's 4 rows, then actor 1's,
    so the same game's next ply is 8 rows on (all slots), not 4 (one actor's). Both play the black
    games to the cap: each first position reads its game's second one (white to move, up 27)."""
    import math
    cfg = nb.build_config("chess", "cpu", num_actors=2, games_per_actor=4, max_plies=19, material_value=0.5,
                          material_mix=0.5, material_horizon=1)
    game = nb.make_game("chess", max_plies=19)
    buf = nb.ReplayBuffer(game, 64, "cpu")
    actors = [nb.SelfPlayActor(game, cfg, i, "cpu") for i in range(2)]
    for a in actors:
        a.state = game.from_fen([QUEENS_B] * 4)
    searches = [PlannedSearch(game, [["e8d8", "e1e2"]] * 4) for _ in actors]
    for _ in range(2):
        for a, search in zip(actors, searches):
            a.play_move(search, buf)
    v, t = 0.5 * math.tanh(27 / 5), math.tanh(27 / 5)
    assert buf.slot[:16].tolist() == list(range(8)) * 2 and bool(buf.ready[:16].all())
    assert buf.z[:8].tolist() == pytest.approx([0.5 * -v + 0.5 * -t] * 8, abs=1e-3)
    assert buf.z[8:16].tolist() == pytest.approx([v] * 8, abs=1e-3)       # no next position: the result alone


def test_without_material_value_capped_games_are_draws(nb):
    actor, buf = play_to_cap(nb, 0.0)
    z = buf.z[:16].tolist()
    assert z[:6] == [0.0] * 6 and z[6:8] == [1.0, 1.0] and z[12:14] == [0.0, 0.0]
