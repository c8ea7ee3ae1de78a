"""The benchmark's perfect Connect Four solver (bench/connect4_solver.py and its C twin).

Three independent checks: published solver scores of standard test positions (the benchmark set
of Pascal Pons' "Solving Connect 4" tutorial: positions and their scores, not code), an exhaustive
minimax without any pruning on late positions, and agreement between the C and Python versions.
"""
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import connect4_solver as cs  # noqa: E402

# (moves, published score for the side to move). Pons' sets: Test_L3_R1 (end game), Test_L2_R1,
# Test_L2_R2 (middle game), Test_L1_R2 (14 stones).
PUBLISHED = [
    ("2252576253462244111563365343671351441", -1), ("7422341735647741166133573473242566", 1),
    ("23163416124767223154467471272416755633", 0), ("71255763773133525731261364622167124446454", 0),
    ("65214673556155731566316327373221417", -1), ("52677675164321472411331752454", 0),
    ("3135151421347443544172316522225776773566", 0), ("562154564361751726662253737734213275114", 0),
    ("233377345754465174223731671122611552", 1), ("6763525635134453444361412671365712", -1),
    ("211376455663355325112113664364524722", 0), ("3146762114467714356347741621375222", -1),
    ("67152117737262713366376314254", 6), ("2762751722231276466633475674533", 5),
    ("3642756176227637211322113551637574556", 2), ("22647455554314246733661634615122372377511", 0),
    ("427566236745127177115664464254", 2), ("7172212567451542223676134464437761515", 0),
    ("641154574541323641152467137655232232366", 0), ("5775265212657176476365522624313714333", 2),
    ("3575316255751336464276636772271112", -3), ("5554224333234511764415115", 4),
    ("2737772244262123677516643354", 0), ("274552224131661", 0), ("555317266147361", -1),
    ("32751571231557", -3), ("75734233473735", 0), ("32164625", 11), ("25144", 18),
]


@pytest.fixture(scope="module")
def csolver(tmp_path_factory):
    return cs.CSolver(build_dir=tmp_path_factory.mktemp("c4build"))


def brute_force(moves):
    """Exact score by plain minimax over every legal move: no pruning, no table, no shortcuts."""
    cur, every, n = cs.replay(moves)

    def value(cur, every, n):
        if n == cs.CELLS:
            return 0
        best = -99
        for c in range(cs.WIDTH):
            m = cs.playable(every) & cs.column_cells(c)
            if not m:
                continue
            if m & cs.threats(cur, every):
                return (cs.CELLS + 1 - n) // 2          # a four now: no move can score higher
            best = max(best, -value(cur ^ every, every | m, n + 1))
        return best
    return value(cur, every, n)


def random_position(rng, plies):
    """A non-terminal position reached by uniformly random legal moves (retries on a finished game)."""
    while True:
        moves = ""
        for _ in range(plies):
            _, every, _ = cs.replay(moves)
            cols = [str(c + 1) for c in range(cs.WIDTH) if cs.playable(every) & cs.column_cells(c)]
            moves += rng.choice(cols)
            try:
                cs.replay(moves)
            except ValueError:
                break
        else:
            return moves


@pytest.mark.parametrize("moves,score", PUBLISHED)
def test_c_solver_matches_published_scores(csolver, moves, score):
    assert csolver.solve(moves) == score


@pytest.mark.parametrize("moves,score", [p for p in PUBLISHED if len(p[0]) >= 25])
def test_python_solver_matches_published_scores(moves, score):
    assert cs.PySolver().solve(moves) == score


def test_both_solvers_match_exhaustive_minimax_on_late_positions(csolver):
    rng = random.Random(11)
    positions = []
    while len(positions) < 12:                  # skip the many positions with a four to play at once
        moves = random_position(rng, rng.choice((33, 34)))
        cur, every, _ = cs.replay(moves)
        if not cs.threats(cur, every) & cs.playable(every):
            positions.append(moves)
    for moves in positions:
        exact = brute_force(moves)
        assert cs.PySolver().solve(moves) == exact, moves
        assert csolver.solve(moves) == exact, moves
        # the best move's value is the position's value
        assert max(v for v in csolver.move_values(moves) if v is not None) == exact, moves
    assert len({cs.outcome(brute_force(m)) for m in positions}) == 3    # wins, draws and losses


def test_c_and_python_move_values_agree_in_the_middle_game(csolver):
    rng = random.Random(5)
    for plies in (22, 24, 26, 28, 30, 32):
        moves = random_position(rng, plies)
        assert csolver.move_values(moves) == cs.PySolver().move_values(moves), moves


def test_immediate_win_and_full_columns(csolver):
    # first player has three in column 4 and wins at once there: score (43 - 6) // 2 = 18
    assert csolver.solve("414141") == cs.PySolver().solve("414141") == 18
    # columns 1-5 are full in this end-game position: no value; the other two have one
    vals = csolver.move_values("2252576253462244111563365343671351441")
    assert vals[:5] == [None] * 5 and None not in vals[5:]
    assert max(vals[5:]) == -1                          # its published score


@pytest.mark.parametrize("bad", ["8", "0", "4444444", "4141414", "41414141"])
def test_invalid_or_finished_games_are_rejected(csolver, bad):
    with pytest.raises(ValueError):
        csolver.solve(bad)
    with pytest.raises(ValueError):
        cs.PySolver().solve(bad)
