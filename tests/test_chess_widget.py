"""The chess play widget (and the Connect Four one) driven only through its ipywidgets, as a person would:
square buttons, the typed-move box, the promotion dropdown, New game / Undo and the first-move toggle.

The model is an MCTSPlayer with a tiny untrained network and a few simulations; its moves are checked
for legality with python-chess, not for quality. Runs with ipywidgets 8 and 7.7.1 (Colab's version)."""
import re

import chess
import pytest
import torch

START = chess.STARTING_FEN


@pytest.fixture(scope="module")
def game(nb):
    return nb.ChessGame("cpu")


@pytest.fixture(scope="module")
def player(nb, game):
    torch.manual_seed(0)
    return nb.MCTSPlayer(game, nb.build_network(game, 8, 1, "cpu").eval(), simulations=4)


@pytest.fixture
def w(nb, player):
    w = nb.ChessWidget(player)
    w.CLICK_GUARD_S = 0          # these tests click faster than a person; the guard is tested in test_widget.py
    return w


# --- helpers: everything goes through the widgets ---
def cell(w, name):
    """Screen (row, col) of the square called `name` (e.g. "e2")."""
    sq = chess.parse_square(name)
    return next(rc for rc in w.squares if w.square_at(*rc) == sq)


def click(w, *names):
    for name in names:
        w.squares[cell(w, name)].click()


def type_move(w, text):
    w.uci.value = text
    w.uci_button.click()


def fen(w):
    return w.game.to_fen(w.state)[0]


def colored(w, color):
    return {w.squares[rc].tooltip for rc in w.squares if w.squares[rc].style.button_color == color}


def model_move(w):
    m = re.search(r"Model played <b>(\w+)</b>", w.info.value)
    assert m, w.info.value
    return m.group(1)


def set_position(w, fen_):
    w.state = w.game.from_fen([fen_])
    w.draw()


def check_replay(before, moves, after):
    """`after` is `before` with the UCI `moves` played (python-chess as the oracle)."""
    b = chess.Board(before)
    for m in moves:
        assert chess.Move.from_uci(m) in b.legal_moves, (b.fen(), m)
        b.push_uci(m)
    assert b.fen() == after
    return b


def after(fen_, *moves):
    b = chess.Board(fen_)
    for m in moves:
        b.push_uci(m)
    return b.fen()


# --- chess ---
def test_click_move_and_model_reply(w, nb):
    assert fen(w) == START and w.human_first and w.info.value == ""
    assert w.squares[cell(w, "e2")].description == "♙" and w.squares[cell(w, "e8")].description == "♚"
    assert w.square_at(7, 0) == 0 and w.square_at(0, 7) == 63               # white at the bottom
    click(w, "e2", "e4")
    reply = model_move(w)
    b = check_replay(START, ["e2e4", reply], fen(w))
    assert b.ply() == 2 and b.turn == chess.WHITE
    assert w.squares[cell(w, "e4")].description == "♙" and w.squares[cell(w, "e2")].description == nb.BLANK
    assert re.search(r"evaluation [+-]\d\.\d\d", w.info.value)
    tops = re.search(r"top moves: (.*)$", w.info.value).group(1).split()
    assert tops[0] == reply and all(re.fullmatch(r"\d+%", p) for p in tops[1::2])
    after_e4 = chess.Board(after(START, "e2e4"))
    assert all(chess.Move.from_uci(m) in after_e4.legal_moves for m in tops[::2])
    assert w.message.value == "" and "Your move." in w.caption.value
    assert colored(w, w.LAST) == {reply[:2], reply[2:4]}                     # the model's move is highlighted


def test_no_highlight_before_any_move(w):
    assert colored(w, w.LAST) == colored(w, w.TARGET) == colored(w, w.SELECTED) == set()
    light, dark = colored(w, w.LIGHT), colored(w, w.DARK)
    assert len(light) == len(dark) == 32 and "a1" in dark and "h1" in light


@pytest.mark.parametrize("fen_", [
    START,
    "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",   # castling, pins
    "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1",
])
def test_selecting_a_piece_highlights_exactly_its_legal_targets(w, fen_):
    set_position(w, fen_)
    board = chess.Board(fen_)
    for sq in chess.SquareSet(board.occupied_co[chess.WHITE]):
        name = chess.square_name(sq)
        click(w, name)
        want = {chess.square_name(m.to_square) for m in board.legal_moves if m.from_square == sq}
        assert colored(w, w.SELECTED) == {name}
        assert colored(w, w.TARGET) == want, name
        assert w.message.value == "" and fen(w) == board.fen()          # selecting another own piece: no move


def test_castling_by_clicking_king_then_target(w):
    kiwipete = "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"
    set_position(w, kiwipete)
    click(w, "e1", "g1")
    b = check_replay(kiwipete, ["e1g1", model_move(w)], fen(w))
    assert w.squares[cell(w, "g1")].description == "♔" and b.piece_at(chess.G1) == chess.Piece.from_symbol("K")
    assert not b.has_castling_rights(chess.WHITE)


def test_illegal_click_is_refused(w):
    click(w, "e2", "e5")
    assert "e2e5 is not a legal move" in w.message.value
    assert fen(w) == START and w.history == [] and w.info.value == ""
    assert colored(w, w.SELECTED) == colored(w, w.TARGET) == set()          # selection dropped
    click(w, "e2", "e4")                                                   # and a legal move still works
    assert w.message.value == "" and len(w.history) == 1


@pytest.mark.parametrize("text, why", [
    ("e2e5", "illegal move 'e2e5'"),
    ("zz", "malformed move 'zz'"),
    ("e7e5", "it is white to move"),
    ("e3e4", "no piece on e3"),
    ("e1e2", "has no legal moves"),
    ("g1g3", "g1f3, g1h3"),                                                 # lists the piece's legal moves
    ("e2e4q", "only a pawn reaching the last rank can promote"),
    ("", "malformed"),
])
def test_typed_illegal_or_malformed_move_is_refused(w, text, why):
    type_move(w, text)
    assert why in w.message.value, w.message.value
    assert fen(w) == START and w.history == [] and w.uci.value == text     # the text stays for correcting


def test_typed_move_plays_and_clears_the_box(w):
    type_move(w, " E2E4 ")
    assert w.message.value == "" and w.uci.value == ""
    check_replay(START, ["e2e4", model_move(w)], fen(w))


@pytest.mark.parametrize("first", ["e4", "e7", "d8"])
def test_clicking_an_empty_square_or_an_opponent_piece_first(w, first):
    click(w, first)
    assert "Click one of your own pieces first" in w.message.value
    assert fen(w) == START and colored(w, w.SELECTED) == set()


def test_clicking_after_selection_a_non_target_keeps_position(w):
    click(w, "g1", "g3")
    assert "g1g3 is not a legal move" in w.message.value and fen(w) == START


PROMO = "7k/1P5p/8/8/8/8/8/K7 w - - 0 1"
PROMO_CAPTURE = "r6k/1P5p/8/8/8/8/8/4K3 w - - 0 1"


@pytest.mark.parametrize("fen_, move, piece", [
    (PROMO, "b7b8", "Knight"), (PROMO, "b7b8", "Queen"), (PROMO, "b7b8", "Rook"), (PROMO, "b7b8", "Bishop"),
    (PROMO_CAPTURE, "b7a8", "Knight"), ("1r5k/P6p/8/8/8/8/8/4K3 w - - 0 1", "a7b8", "Rook"),
])
def test_promotion_by_clicks_uses_the_dropdown(w, fen_, move, piece):
    set_position(w, fen_)
    w.promotion.value = piece
    click(w, move[:2])
    assert move[2:] in colored(w, w.TARGET)
    click(w, move[2:])
    uci = move + w.PROMOTIONS[piece]
    assert w.message.value == ""
    b = check_replay(fen_, [uci, model_move(w)], fen(w))
    assert b.piece_at(chess.parse_square(move[2:])) == chess.Piece.from_symbol(w.PROMOTIONS[piece].upper())
    assert w.squares[cell(w, move[2:])].description == w.GLYPHS[" pnbrqk".index(w.PROMOTIONS[piece])]


def test_typed_promotion(w):
    set_position(w, PROMO)
    type_move(w, "b7b8")
    assert "must promote" in w.message.value and fen(w) == PROMO
    type_move(w, "b7b8q")
    b = check_replay(PROMO, ["b7b8q", model_move(w)], fen(w))
    assert b.piece_at(chess.B8) == chess.Piece.from_symbol("Q") and w.uci.value == ""


def test_checkmate_ends_the_game(w):
    mate_in_1 = "6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1"
    set_position(w, mate_in_1)
    click(w, "a1", "a8")
    assert "Game over" in w.message.value and "You win" in w.message.value
    assert chess.Board(fen(w)).is_checkmate() and w.info.value == ""       # the model did not move
    assert "Your move" not in w.caption.value
    over = fen(w)
    click(w, "g1")                                                         # own piece
    assert "The game is over" in w.message.value and fen(w) == over and colored(w, w.SELECTED) == set()
    click(w, "g8")
    click(w, "a8", "b8")
    type_move(w, "g1f1")
    assert "The game is over" in w.message.value and fen(w) == over
    w.undo_button.click()                                                  # take the mating move back
    assert fen(w) == mate_in_1 and w.message.value == "" and colored(w, w.LAST) == set()
    w.new_button.click()
    assert fen(w) == START and w.message.value == "" and w.history == []


def test_model_mates_the_person(w):
    """A position where the model (black) mates in one; enough simulations to find it."""
    before = "1r4k1/5ppp/8/8/8/8/P4PPP/6K1 w - - 0 1"
    set_position(w, before)
    w.sims.value = 128
    click(w, "a2", "a3")
    check_replay(before, ["a2a3", "b8b1"], fen(w))
    assert "Game over" in w.message.value and "The model wins" in w.message.value
    click(w, "g1")
    assert "The game is over" in w.message.value


def test_stalemate_is_a_draw(w):
    before = "k7/8/8/2Q5/8/8/8/7K w - - 0 1"
    set_position(w, before)
    click(w, "c5", "b6")
    assert chess.Board(fen(w)).is_stalemate()
    assert "Game over: Draw." in w.message.value


def test_undo_restores_the_position_before_the_persons_move(w):
    click(w, "e2", "e4")
    after_first = fen(w)
    click(w, "g1", "f3")
    assert fen(w) != after_first
    w.undo_button.click()
    assert fen(w) == after_first and w.info.value == "" and colored(w, w.LAST) == set()
    w.undo_button.click()
    assert fen(w) == START
    w.undo_button.click()
    assert "Nothing to undo" in w.message.value and fen(w) == START
    click(w, "d2", "d4")                                                   # play goes on after undo
    check_replay(START, ["d2d4", model_move(w)], fen(w))


def test_new_game_resets(w):
    click(w, "e2", "e4")
    click(w, "g1")
    w.new_button.click()
    assert fen(w) == START and w.history == [] and w.info.value == "" and w.message.value == ""
    assert colored(w, w.SELECTED) == colored(w, w.LAST) == set()


def test_model_first_person_black_flips_the_board(w):
    w.starter.value = "Model"
    w.new_button.click()
    assert not w.human_first
    assert w.square_at(0, 0) == chess.H1 and w.square_at(7, 7) == chess.A8
    assert w.squares[(0, 0)].tooltip == "h1" and w.squares[(7, 7)].tooltip == "a8"
    assert w.squares[(7, 3)].description == "♚" and w.squares[(7, 3)].tooltip == "e8"   # black king at the bottom
    first = model_move(w)
    b = check_replay(START, [first], fen(w))
    assert b.turn == chess.BLACK and "You play black" in w.caption.value and "Your move." in w.caption.value
    assert colored(w, w.LAST) == {first[:2], first[2:4]}
    assert cell(w, "e7") == (6, 3)
    click(w, "e7")
    assert colored(w, w.TARGET) == {chess.square_name(m.to_square) for m in b.legal_moves
                                    if m.from_square == chess.E7}
    click(w, "e2")                                                         # white's pawn, selection e7
    assert "e7e2 is not a legal move" in w.message.value
    click(w, "e2")                                                         # white's pawn, no selection
    assert "Click one of your own pieces first" in w.message.value
    click(w, "e7", "e5")
    check_replay(START, [first, "e7e5", model_move(w)], fen(w))
    w.undo_button.click()                                                  # back to after the model's first move
    assert fen(w) == b.fen()
    w.undo_button.click()
    assert "Nothing to undo" in w.message.value


def test_make_play_widget_picks_the_chess_widget(nb, player):
    w = nb.make_play_widget(player, simulations=6)
    assert type(w) is nb.ChessWidget and w.sims.value == 6
    assert w.promotion.options == ("Queen", "Rook", "Bishop", "Knight")
    assert w.board_grid.children[7 * 8 + 4] is w.squares[(7, 4)]


def test_refused_typed_move_clears_the_selection_highlight(w):
    click(w, "e2")
    type_move(w, "zz")
    assert colored(w, w.SELECTED) == colored(w, w.TARGET) == set()


def test_undo_clears_the_selection(w):
    click(w, "g1", "f3")
    click(w, "f3")
    w.undo_button.click()
    assert colored(w, w.SELECTED) == set()


# --- ipywidgets 7.7.1 (Colab) compatibility ---
IPYWIDGETS8_ONLY = ["font_size", "font_weight", "font_style", "font_family", "text_color", "text_decoration",
                    "W.Stack", "TagsInput", "ColorsInput", "FloatsInput", "IntsInput", "description_allow_html",
                    "TimePicker", "NaiveDatetimePicker", "ipywidgets.widgets.widget_"]


def test_widget_code_avoids_ipywidgets8_only_apis():
    from conftest import export_cells
    src = "\n".join(c for c in export_cells() if "class PlayWidget" in c or "class ChessWidget" in c)
    assert "class ChessWidget" in src and "class Connect4Widget" in src
    used = [name for name in IPYWIDGETS8_ONLY if name in src]
    assert not used, f"not in ipywidgets 7.7.1 (Colab): {used}"


# --- Connect Four through make_play_widget ---
@pytest.fixture(scope="module")
def c4_player(nb):
    game = nb.Connect4("cpu")
    torch.manual_seed(0)
    return nb.MCTSPlayer(game, nb.build_network(game, 8, 1, "cpu").eval(), simulations=4)


def c4_state(w):
    s = w.state
    return (int(s.cur[0]), int(s.opp[0]), int(s.ply[0]))


def test_connect4_widget(nb, c4_player):
    w = nb.make_play_widget(c4_player)
    w.CLICK_GUARD_S = 0
    assert type(w) is nb.Connect4Widget and c4_state(w)[2] == 0 and "You play red (X)" in w.caption.value
    w.columns[3].click()
    assert c4_state(w)[2] == 2 and re.search(r"Model played <b>[1-7]</b>", w.info.value)
    red, yellow = ([d.style.button_color for d in w.discs].count(w.COLORS[k]) for k in "XO")
    assert (red, yellow) == (1, 1)
    w.undo_button.click()
    assert c4_state(w)[2] == 0 and w.info.value == ""
    w.undo_button.click()
    assert "Nothing to undo" in w.message.value

    w.state = w.game.from_moves(["444444"])                                # column 4 full
    full = c4_state(w)
    w.columns[3].click()
    assert "column 4 is full" in w.message.value and c4_state(w) == full

    w.state = w.game.from_moves(["121212"])                                # red wins with column 1
    w.columns[0].click()
    assert "Game over" in w.message.value and "You win" in w.message.value
    over = c4_state(w)
    w.columns[4].click()
    assert "game is over" in w.message.value and c4_state(w) == over

    w.starter.value = "Model"
    w.new_button.click()
    assert c4_state(w)[2] == 1 and "You play yellow (O)" in w.caption.value and w.message.value == ""
    assert re.search(r"Model played <b>[1-7]</b>", w.info.value)
    w.columns[0].click()
    assert c4_state(w)[2] == 3


def test_every_square_shows_the_position_after_moves_undo_and_new_game(w, nb):
    """The glyph of each of the 64 squares equals the board (an empty square is BLANK, never "": a Button view
    keeps its old text for "", see the browser tests)."""
    glyph = dict(zip("PNBRQKpnbrqk", "♙♘♗♖♕♔♟♞♝♜♛♚"))

    def check():
        b = chess.Board(fen(w))
        for rc, button in w.squares.items():
            p = b.piece_at(chess.parse_square(button.tooltip))
            assert button.description == (glyph[p.symbol()] if p else nb.BLANK), button.tooltip
    for moves in (["e2", "e4"], ["g1", "f3"], ["f1", "c4"]):
        click(w, *moves)
        check()
    w.undo_button.click()
    check()
    w.starter.value = "Model"
    w.new_button.click()
    check()
