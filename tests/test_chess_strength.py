"""bench/chess_strength.py: its mate puzzle files are right (re-checked here by brute force with
python-chess, without the bench's shortcuts), and its greedy player, matches and scores behave."""
import random
import sys
from pathlib import Path

import chess
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import chess_strength as cstr  # noqa: E402


def mates_now(board):
    """Every move that checkmates, trying all legal moves."""
    out = set()
    for m in list(board.legal_moves):
        board.push(m)
        if board.is_checkmate():
            out.add(m.uci())
        board.pop()
    return out


def forces_mate(board, move):
    board.push(move)
    ok = not board.is_game_over() and all(_reply_allows_mate(board, r) for r in list(board.legal_moves))
    board.pop()
    return ok


def _reply_allows_mate(board, reply):
    board.push(reply)
    ok = bool(mates_now(board))
    board.pop()
    return ok


def test_mate_in_one_file():
    rows = cstr.load_mates(1)
    assert len(rows) >= 300 and len({f for f, _ in rows}) == len(rows)
    for fen, sols in random.Random(0).sample(rows, 60):
        assert mates_now(chess.Board(fen)) == set(sols), fen


def test_mate_in_two_file():
    rows = cstr.load_mates(2)
    assert len(rows) >= 300 and len({f for f, _ in rows}) == len(rows)
    for fen, sols in random.Random(1).sample(rows, 12):
        b = chess.Board(fen)
        assert not mates_now(b), fen                    # a real mate in two, not in one
        assert {m.uci() for m in list(b.legal_moves) if forces_mate(b, m)} == set(sols), fen


def test_greedy_player_mates_and_takes_material():
    rng = random.Random(0)
    assert cstr.greedy_move(chess.Board("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1"), rng).uci() == "a1a8"
    assert cstr.greedy_move(chess.Board("4k3/8/8/3q4/8/8/8/3RK3 w - - 0 1"), rng).uci() == "d1d5"


def test_match_and_score_line():
    w, d, l = cstr.play_match(cstr.greedy_player(1), cstr.random_player(2), 6, 80, seed=0)
    assert w + d + l == 6 and l <= w                     # greedy does not lose more than random
    assert "+inf" in cstr.score_line(10, 0, 0) and cstr.score_line(5, 0, 5).split("|")[2].strip().startswith("+0")
    assert "-191" in cstr.score_line(1, 0, 3)            # score 0.25 -> -400 log10(3) = -191


def test_score_interval_is_wilson():
    """All games lost: the interval is [0, z^2 / (n + z^2)] (Wilson), not the empty [0, 0] of the
    normal approximation; a win-loss record gives the textbook Wilson interval; draws narrow it."""
    s, lo, hi = cstr.score_interval(0, 0, 100)
    assert s == 0 and lo == 0 and hi == pytest.approx(1.96 ** 2 / (100 + 1.96 ** 2))
    s, lo, hi = cstr.score_interval(30, 0, 70)            # binomial 30/100: Wilson [0.219, 0.396]
    assert (round(lo, 3), round(hi, 3)) == (0.219, 0.396)
    _, lo_d, hi_d = cstr.score_interval(0, 60, 40)        # same score 0.3 with draws: less spread
    assert lo < lo_d < 0.3 < hi_d < hi
    elo_hi = cstr.score_line(0, 0, 100).split("|")[2].split(",")[1].strip(" ]")
    assert elo_hi == "-566", elo_hi                      # -400 log10(1 / 0.0370 - 1): an upper bound, not -inf


def test_mate_accuracy_counts_hits():
    rows = cstr.load_mates(1)[:20]
    sols = dict(rows)
    assert cstr.mate_accuracy(lambda boards: [chess.Move.from_uci(sols[b.fen()][0]) for b in boards], rows) == 1.0
    assert cstr.mate_accuracy(cstr.random_player(0), rows) < 1.0
    assert cstr.mate_accuracy(cstr.greedy_player(0), rows) == 1.0     # greedy always takes a mate in 1
