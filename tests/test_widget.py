"""Connect Four play widget, driven only through its ipywidgets buttons (button.click())."""
import re

import pytest
import torch


@pytest.fixture(scope="module")
def player(nb):
    game = nb.make_game("connect4")
    torch.manual_seed(0)
    net = nb.build_network(game, 8, 1, "cpu")
    net.eval()
    return nb.MCTSPlayer(game, net, 8)


@pytest.fixture
def w(nb, player):
    w = nb.Connect4Widget(player)
    w.CLICK_GUARD_S = 0          # these tests click faster than a person; the guard has its own test
    return w


def stones(w):
    return int((w.state.cur | w.state.opp).view(-1)[0].item().bit_count())


def board_cells(w):
    """Disc colours as drawn on the board's disc buttons, top row first."""
    return [d.style.button_color for d in w.discs]


def snapshot(w):
    return (int(w.state.cur[0]), int(w.state.opp[0]), int(w.state.ply[0]), len(w.history), tuple(board_cells(w)))


def text(html):
    return re.sub(r"<[^>]+>", "", html)


def test_widget_builds_with_buttons(w):
    import ipywidgets as W
    assert len(w.columns) == 7 and all(isinstance(b, W.Button) for b in w.columns)
    assert [b.description for b in w.columns] == [str(c) for c in range(1, 8)]
    assert isinstance(w.widget, W.VBox)
    assert stones(w) == 0
    assert len(board_cells(w)) == 42


def test_click_adds_person_and_model_stones(w, nb):
    game = w.game
    w.columns[3].click()
    assert stones(w) == 2
    assert int(w.state.ply[0]) == 2
    # the person's stone is at the bottom of column 4 (X, the first player; X is to move again now)
    planes = game.encode(w.state)[0]
    assert bool(game.to_move_is_first(w.state)[0])
    assert planes[0, 5, 3] == 1.0
    # the board HTML shows two discs of two different colours
    cells = board_cells(w)
    assert len(cells) == 42 and sum(c != "#ffffff" for c in cells) == 2
    assert cells[5 * 7 + 3] == nb.Connect4Widget.COLORS["X"]
    w.columns[0].click()
    assert stones(w) == 4


def test_info_shows_evaluation_and_probabilities(w):
    w.columns[2].click()
    info = text(w.info.value)
    m = re.search(r"evaluation ([+-]\d\.\d\d)", info)
    assert m, info
    assert -1.0 <= float(m.group(1)) <= 1.0
    probs = [(int(c), int(p)) for c, p in re.findall(r"\b([1-7]):? (\d+)%", info)]
    assert probs, f"no move probabilities in {info!r}"
    assert len({c for c, _ in probs}) == len(probs)       # each column listed once
    assert all(0 <= p <= 100 for _, p in probs)
    assert 50 <= sum(p for _, p in probs) <= 105, info      # shares of the visit counts, rounded
    m = re.search(r"played (\d)", info)
    assert m, info
    played = int(m.group(1))
    assert max(probs, key=lambda cp: cp[1])[1] == dict(probs)[played], info   # it played its most visited move
    col_bits = int(w.game.column[played - 1])
    assert int(w.state.opp[0]) & col_bits or int(w.state.cur[0]) & col_bits   # a stone in that column


def test_full_column_shows_message_and_changes_nothing(w):
    w.state = w.game.from_moves(["111111"])              # column 1 full, the person (X) to move
    before = snapshot(w)
    w.columns[0].click()
    assert "full" in text(w.message.value).lower()
    assert snapshot(w) == before


class FixedColumnModel:
    """A stand-in model that answers in a fixed column while it is open (else the first open one)."""

    def __init__(self, nb, game, column):
        self.nb, self.game, self.column, self.simulations = nb, game, column, 2

    def analyse(self, state, simulations=None):
        legal = self.game.legal_mask(state)[0]
        a = self.column if legal[self.column] else int(legal.float().argmax())
        visits = torch.zeros(1, 7)
        visits[0, a] = 1.0
        return self.nb.SearchResult(visits=visits, root_value=torch.zeros(1), child_visits=visits,
                                    child_action=torch.arange(7).view(1, 7), policy=visits,
                                    action=torch.tensor([a]), proven=torch.tensor([2], dtype=torch.int8),
                                    proven_plies=torch.zeros(1, dtype=torch.int16), tree=None)


def test_filling_a_column_by_clicking(w, nb, monkeypatch):
    """The model answers in the same column: three clicks fill column 1; a fourth is refused."""
    monkeypatch.setattr(w, "player", FixedColumnModel(nb, w.game, 0))
    for k in range(3):
        w.columns[0].click()
        assert stones(w) == 2 * (k + 1)
    assert bool((w.state.cur | w.state.opp)[0] & w.game.top[0]), "column 1 should be full"
    assert not bool(w.game.terminal(w.state)[0][0])
    before = snapshot(w)
    w.columns[0].click()
    assert "full" in text(w.message.value).lower()
    assert snapshot(w) == before
    w.columns[1].click()                                  # another column still works
    assert stones(w) == 8
    assert "full" not in text(w.message.value).lower()


def assert_clicks_change_nothing(w):
    """After the game ended, every column click says so and changes nothing."""
    before = snapshot(w)
    for c in range(7):
        w.columns[c].click()
        assert "over" in text(w.message.value).lower()
        assert snapshot(w) == before


def test_click_after_game_over_changes_nothing(w):
    w.state = w.game.from_moves(["4343434"])             # X (the person) has won
    assert_clicks_change_nothing(w)


def test_person_wins_by_clicking(w, nb, monkeypatch):
    """A model that always answers in column 7: the person wins with four in column 1."""
    monkeypatch.setattr(w, "player", FixedColumnModel(nb, w.game, 6))
    for _ in range(4):
        w.columns[0].click()
    assert bool(w.game.terminal(w.state)[0][0])
    assert stones(w) == 7                                # the model does not move after the win
    msg = text(w.message.value).lower()
    assert "game over" in msg and "you win" in msg
    assert_clicks_change_nothing(w)


def test_model_wins_message(w, nb, monkeypatch):
    """The model plays column 7 four times while the person spreads stones: the model wins."""
    monkeypatch.setattr(w, "player", FixedColumnModel(nb, w.game, 6))
    w.starter.value = "Model"
    w.new_button.click()
    for c in (0, 1, 2):
        w.columns[c].click()
    assert bool(w.game.terminal(w.state)[0][0])
    msg = text(w.message.value).lower()
    assert "game over" in msg and "model wins" in msg


def test_undo_restores_state_before_persons_move(w):
    w.columns[3].click()
    after_first = (w.state.cur.clone(), w.state.opp.clone(), w.state.ply.clone())
    w.columns[2].click()
    assert stones(w) == 4
    w.undo_button.click()
    assert stones(w) == 2
    assert torch.equal(w.state.cur, after_first[0]) and torch.equal(w.state.opp, after_first[1])
    assert torch.equal(w.state.ply, after_first[2])
    w.undo_button.click()
    assert stones(w) == 0
    assert "nothing" not in text(w.message.value).lower()


def test_undo_with_nothing_to_undo(w):
    before = snapshot(w)
    w.undo_button.click()
    assert "nothing to undo" in text(w.message.value).lower()
    assert snapshot(w) == before


def test_model_first(w):
    w.starter.value = "Model"
    w.new_button.click()
    assert stones(w) == 1
    assert not bool(w.game.to_move_is_first(w.state)[0])   # the person plays second (O)
    assert "yellow" in w.caption.value.lower() or "(O)" in w.caption.value
    w.columns[0].click()
    assert stones(w) == 3
    w.undo_button.click()
    assert stones(w) == 1


def test_new_game_resets(w):
    w.columns[1].click()
    w.columns[1].click()
    w.starter.value = "You"
    w.new_button.click()
    assert stones(w) == 0 and w.history == []
    assert w.message.value == "" and w.info.value == ""


def test_simulation_slider_is_used(w, nb, monkeypatch):
    seen = []
    real = w.player.analyse

    def spy(state, simulations=None):
        seen.append(simulations)
        return real(state, simulations)
    monkeypatch.setattr(w.player, "analyse", spy)
    w.sims.value = 6
    w.columns[3].click()
    assert seen == [6]


def test_thinking_state_shows_the_persons_stone_and_disables_input(w, monkeypatch):
    """While the model searches, the person's stone is already drawn, the message says so and input is off."""
    seen = {}
    real = w.player.analyse

    def spy(state, simulations=None):
        seen["cells"] = board_cells(w)
        seen["message"] = text(w.message.value)
        seen["disabled"] = [b.disabled for b in w.columns] + [w.undo_button.disabled, w.new_button.disabled]
        seen["info"] = w.info.value
        return real(state, simulations)
    monkeypatch.setattr(w.player, "analyse", spy)
    w.columns[3].click()
    assert seen["cells"][5 * 7 + 3] == w.COLORS["X"] and sum(c != w.COLORS["."] for c in seen["cells"]) == 1
    assert "thinking" in seen["message"] and all(seen["disabled"]) and seen["info"] == ""
    assert not any(b.disabled for b in w.columns) and "thinking" not in w.message.value and stones(w) == 2


def test_a_click_queued_while_the_model_thought_is_dropped(nb, player, monkeypatch):
    """A double click: the second click reaches the kernel just after the reply and must not move again."""
    w = nb.Connect4Widget(player)
    w.columns[3].click()
    w.columns[3].click()                                  # handled at once after the first: dropped
    w.discs[0].click()                                    # (a disc is a column button too)
    assert stones(w) == 2
    monkeypatch.setattr(w, "CLICK_GUARD_S", 0.05)
    import time
    time.sleep(0.06)
    w.discs[2].click()                                    # a later click plays, in the disc's column
    assert stones(w) == 4 and int(w.state.opp[0] | w.state.cur[0]) & int(w.game.column[2])
