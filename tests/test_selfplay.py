"""Self-play actor: lockstep moves, slot refill, results written to the buffer, resignation."""
import torch


class HopelessSearch:
    """A search stub: uniform visits over legal moves and a root value of -1 (the mover is lost)."""
    def __init__(self, game):
        self.game = game

    def search(self, state, add_noise=False):
        from types import SimpleNamespace
        legal = self.game.legal_mask(state)
        B, K = legal.shape
        action = torch.where(legal, torch.arange(K).expand(B, K), -1).to(torch.int32)
        return SimpleNamespace(visits=legal.float(), root_value=torch.full((B,), -1.0),
                               child_visits=legal.float(), child_action=action)


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
