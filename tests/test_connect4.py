"""Connect Four rules, checked against a tiny pure-Python reference board (the oracle)."""
import random

import pytest
import torch

ROWS, COLS = 6, 7


# --- a plain-Python reference: grid[r][c], r = 0 is the bottom row; 1 = first player, 2 = second ---
class RefBoard:
    def __init__(self):
        self.grid = [[0] * COLS for _ in range(ROWS)]
        self.moves = []

    def height(self, c):
        return sum(1 for r in range(ROWS) if self.grid[r][c])

    def legal(self):
        return [c for c in range(COLS) if self.height(c) < ROWS] if self.winner() is None else []

    def to_move(self):
        return 1 + len(self.moves) % 2

    def play(self, c):
        r = self.height(c)
        assert r < ROWS
        self.grid[r][c] = self.to_move()
        self.moves.append(c)

    def undo(self):
        c = self.moves.pop()
        self.grid[self.height(c) - 1][c] = 0

    def winner(self):
        for r in range(ROWS):
            for c in range(COLS):
                p = self.grid[r][c]
                if not p:
                    continue
                for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                    if all(0 <= r + k * dr < ROWS and 0 <= c + k * dc < COLS and self.grid[r + k * dr][c + k * dc] == p
                           for k in range(4)):
                        return p
        return None

    def last_move_wins(self):
        """Does the last stone lie on four in a row? (fast: only lines through that stone)"""
        c = self.moves[-1]
        r = self.height(c) - 1
        p = self.grid[r][c]
        for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
            n = 1
            for sgn in (1, -1):
                rr, cc = r + sgn * dr, c + sgn * dc
                while 0 <= rr < ROWS and 0 <= cc < COLS and self.grid[rr][cc] == p:
                    n, rr, cc = n + 1, rr + sgn * dr, cc + sgn * dc
            if n >= 4:
                return True
        return False

    def moves_str(self):
        return "".join(str(c + 1) for c in self.moves)


def ref_from(moves):
    b = RefBoard()
    for ch in moves:
        b.play(int(ch) - 1)
    return b


def ref_value(b):
    """(done, value for the player to move) by the reference rules."""
    w = b.winner()
    if w is not None:
        return True, (1.0 if w == b.to_move() else -1.0)
    return len(b.moves) == ROWS * COLS, 0.0


def random_game_moves(rng, max_len=42):
    """A random legal move string (stops at the end of the game or at max_len)."""
    b = RefBoard()
    while len(b.moves) < max_len and b.legal():
        b.play(rng.choice(b.legal()))
    return b.moves_str()


@pytest.fixture(scope="module")
def game(nb):
    return nb.make_game("connect4")


def fields(state):
    return {k: v.clone() for k, v in vars(state).items()}


# --- conformance ---
@pytest.mark.parametrize("batch_size,seed", [(1, 0), (7, 1), (64, 2), (256, 3)])
def test_check_game_passes(nb, game, batch_size, seed):
    report = nb.check_game(game, batch_size=batch_size, seed=seed)
    assert report["plies"] >= 7                     # no game ends before 7 plies
    assert report["finished"] >= 1


def test_static_facts(game):
    assert game.name == "connect4"
    assert game.num_actions == 7 and game.obs_shape == (3, 6, 7) and game.max_legal == 7
    s = game.initial_state(3)
    assert game.legal_mask(s).all()
    done, value = game.terminal(s)
    assert not done.any() and (value == 0).all()


def test_unknown_game_name(nb):
    with pytest.raises(ValueError, match="connect4"):
        nb.make_game("checkers")


# --- wins in all four directions ---
def _find_win(direction, seed):
    """A random game whose last move makes four in a row in `direction` (checked by the reference)."""
    rng = random.Random(seed)
    dirs = {"vertical": (1, 0), "horizontal": (0, 1), "diag_up": (1, 1), "diag_down": (1, -1)}
    dr, dc = dirs[direction]
    for _ in range(20000):
        b = RefBoard()
        while b.legal():
            b.play(rng.choice(b.legal()))
            w = b.winner()
            if w is not None:
                c = b.moves[-1]
                r = b.height(c) - 1
                p = b.grid[r][c]
                # does the last stone lie on a four in the requested direction?
                for start in range(-3, 1):
                    cells = [(r + (start + k) * dr, c + (start + k) * dc) for k in range(4)]
                    if all(0 <= rr < ROWS and 0 <= cc < COLS and b.grid[rr][cc] == p for rr, cc in cells):
                        return b.moves_str()
                break
    raise AssertionError(f"no {direction} win found")


@pytest.mark.parametrize("direction", ["vertical", "horizontal", "diag_up", "diag_down"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_win_detected_in_every_direction(game, direction, seed):
    moves = _find_win(direction, seed * 100 + len(direction))
    s = game.from_moves([moves, moves[:-1]])
    done, value = game.terminal(s)
    assert done.tolist() == [True, False], moves
    assert value.tolist() == [-1.0, 0.0], moves          # the player to move (who did not move last) lost
    assert not game.legal_mask(s)[0].any()
    assert game.legal_mask(s)[1].any()


@pytest.mark.parametrize("moves,winner_first", [
    ("4343434", True),         # X vertical
    ("1122334", True),         # X horizontal on the bottom row
    ("71122334", False),       # O horizontal on the bottom row (X opened in 7)
    ("12233434744", True),     # X diagonal up-right from column 1 (checked by the reference)
])
def test_hand_written_wins(game, moves, winner_first):
    ref = ref_from(moves)
    assert ref.winner() == (1 if winner_first else 2), "test data: the reference disagrees"
    assert ref_from(moves[:-1]).winner() is None
    s = game.from_moves([moves])
    done, value = game.terminal(s)
    assert bool(done[0]) and float(value[0]) == -1.0
    assert bool(game.to_move_is_first(s)[0]) != winner_first


def _find_draw(seed):
    """A full 42-move game with no four in a row: randomised DFS over the reference board, restarted
    with a fresh order whenever a node budget runs out (plain DFS can get stuck in a dead subtree)."""
    rng = random.Random(seed)
    for _ in range(500):
        b, budget = RefBoard(), [500]

        def dfs():
            if len(b.moves) == 42:
                return True
            budget[0] -= 1
            if budget[0] < 0:
                return False
            cols = [c for c in range(COLS) if b.height(c) < ROWS]
            rng.shuffle(cols)
            for c in cols:
                b.play(c)
                if not b.last_move_wins() and dfs():
                    return True
                b.undo()
            return False

        if dfs():
            return b.moves_str()
    raise AssertionError("no drawn game found")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_draw_on_full_board(game, seed):
    moves = _find_draw(seed)
    assert len(moves) == 42 and ref_from(moves).winner() is None
    s = game.from_moves([moves, moves[:-1]])
    done, value = game.terminal(s)
    assert done.tolist() == [True, False]
    assert value.tolist() == [0.0, 0.0]
    assert not game.legal_mask(s)[0].any()
    assert game.legal_mask(s)[1].sum() == 1              # one empty cell left before the last move


# --- terminal/legal moves agree with the reference on random games ---
def test_terminal_and_legal_match_reference(game):
    rng = random.Random(5)
    for _ in range(60):
        full = random_game_moves(rng)
        prefixes = [full[:k] for k in range(len(full) + 1)]
        s = game.from_moves(prefixes)
        done, value = game.terminal(s)
        legal = game.legal_mask(s)
        for k, p in enumerate(prefixes):
            ref = ref_from(p)
            rd, rv = ref_value(ref)
            assert (bool(done[k]), float(value[k])) == (rd, rv), p
            assert sorted(legal[k].nonzero().flatten().tolist()) == ref.legal(), p


# --- illegal moves ---
def test_parse_action_full_column(game):
    s = game.from_moves(["333333"])
    with pytest.raises(ValueError, match=r"(?i)column 3 is full"):
        game.parse_action(s, 0, "3")
    assert game.parse_action(s, 0, "4") == 3


@pytest.mark.parametrize("text", ["8", "0", "a", "", " ", "-1", "12", "3.0", "four"])
def test_parse_action_rejects_non_columns(game, text):
    s = game.initial_state(1)
    with pytest.raises(ValueError) as e:
        game.parse_action(s, 0, text)
    msg = str(e.value)
    assert "1" in msg and "7" in msg, f"message should say what is allowed: {msg!r}"


def test_parse_action_after_game_over(game):
    s = game.from_moves(["4343434"])
    for col in "1234567":
        with pytest.raises(ValueError, match=r"(?i)over"):
            game.parse_action(s, 0, col)


def test_parse_action_uses_game_i_of_a_batch(game):
    s = game.from_moves(["", "111111"])
    assert game.parse_action(s, 0, "1") == 0
    with pytest.raises(ValueError, match="full"):
        game.parse_action(s, 1, "1")


@pytest.mark.parametrize("moves", ["1111111", "43434348", "4343434" + "1", "12x", "4 4"])
def test_from_moves_rejects_illegal_sequences(game, moves):
    with pytest.raises(ValueError):
        game.from_moves([moves])


def test_from_moves_error_names_the_move(game):
    with pytest.raises(ValueError, match=r"move 7"):
        game.from_moves(["1111111"])


# --- step is pure and batch-independent ---
def test_step_does_not_modify_input(game):
    rng = random.Random(1)
    s = game.from_moves([random_game_moves(rng, 10) for _ in range(16)])
    before = fields(s)
    actions = torch.tensor([rng.randrange(7) for _ in range(16)])
    a_before = actions.clone()
    game.step(s, actions)
    game.terminal(s), game.legal_mask(s), game.encode(s)
    for k, v in before.items():
        assert torch.equal(getattr(s, k), v), k
    assert torch.equal(actions, a_before)


def test_batch_independence_of_step_and_terminal(nb, game):
    rng = random.Random(2)
    moves = [random_game_moves(rng, rng.randrange(0, 30)) for _ in range(24)]
    s = game.from_moves(moves)
    legal = game.legal_mask(s)
    actions = torch.tensor([rng.choice(legal[i].nonzero().flatten().tolist()) if legal[i].any() else 0
                            for i in range(24)])
    batch_next = game.step(s, actions)
    batch_done, batch_value = game.terminal(batch_next)
    batch_legal = game.legal_mask(batch_next)
    batch_planes = game.encode(batch_next)
    for i in range(24):
        one = game.from_moves([moves[i]])
        nxt = game.step(one, actions[i:i + 1])
        for k, v in fields(nxt).items():
            assert torch.equal(v[0], getattr(batch_next, k)[i]), (i, k)
        d, v = game.terminal(nxt)
        assert bool(d[0]) == bool(batch_done[i]) and float(v[0]) == float(batch_value[i])
        assert torch.equal(game.legal_mask(nxt)[0], batch_legal[i])
        assert torch.equal(game.encode(nxt)[0], batch_planes[i])


def test_step_matches_reference(game):
    rng = random.Random(3)
    for _ in range(30):
        moves = random_game_moves(rng, rng.randrange(0, 35))
        ref = ref_from(moves)
        if not ref.legal():
            continue
        c = rng.choice(ref.legal())
        s = game.step(game.from_moves([moves]), torch.tensor([c]))
        assert torch.equal(game.encode(s), game.encode(game.from_moves([moves + str(c + 1)])))
        assert int(s.ply[0]) == len(moves) + 1


# --- encode / render ---
def test_encode_planes_match_rendered_board_and_reference(game):
    rng = random.Random(4)
    for _ in range(20):
        moves = random_game_moves(rng, rng.randrange(0, 42))
        ref = ref_from(moves)
        s = game.from_moves([moves])
        planes = game.encode(s)[0]                                   # (3, 6, 7), row 0 = top
        rows = game.render(s, 0).splitlines()
        assert rows[-1].split() == list("1234567")
        grid = [r.split() for r in rows[:-1]]
        assert len(grid) == 6 and all(len(r) == 7 for r in grid)
        to_move_sym = "X" if len(moves) % 2 == 0 else "O"
        other_sym = "O" if to_move_sym == "X" else "X"
        for r in range(6):
            for c in range(7):
                ref_cell = ref.grid[5 - r][c]                         # reference row 0 = bottom
                sym = {0: ".", 1: "X", 2: "O"}[ref_cell]
                assert grid[r][c] == sym, (moves, r, c)
                assert planes[0, r, c] == (1.0 if sym == to_move_sym else 0.0)
                assert planes[1, r, c] == (1.0 if sym == other_sym else 0.0)
        assert torch.equal(planes[2], torch.ones(6, 7))


def test_render_first_move_lands_at_the_bottom(game):
    rows = game.render(game.from_moves(["4"]), 0).splitlines()
    assert rows[5].split()[3] == "X" and rows[4].split()[3] == "."
    assert sum(row.split().count("X") for row in rows[:-1]) == 1


# --- text round trip ---
def test_action_text_round_trip(game):
    rng = random.Random(6)
    s = game.from_moves([random_game_moves(rng, rng.randrange(0, 40)) for _ in range(20)])
    legal = game.legal_mask(s)
    for i in range(20):
        for a in legal[i].nonzero().flatten().tolist():
            text = game.action_to_str(s, i, a)
            assert text == str(a + 1)
            assert game.parse_action(s, i, text) == a
            assert game.parse_action(s, i, f" {text} ") == a
