"""MCTS-Solver in the batched search: every proof in the tree is checked against an exact oracle.

Connect Four: each proven node of searches from random middlegames is solved by the project's perfect
solver (bench/connect4_solver.py); the proven value must be the game-theoretic one. Chess: each proven
win or loss within 3 plies is checked by an exhaustive python-chess search. Also: a proven loss at the
root, the shortest win preferred, a move proven lost never played, and the search stopping in proofs."""
import random
import sys
from pathlib import Path

import chess
import pytest
import torch

from test_mcts import hash_eval, random_moves, uniform_eval

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import connect4_solver as cs  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "bench" / "data"


@pytest.fixture(scope="module")
def c4(nb):
    return nb.make_game("connect4")


@pytest.fixture(scope="module")
def chessgame(nb):
    return nb.make_game("chess")


@pytest.fixture(scope="module")
def solver(tmp_path_factory):
    return cs.CSolver(build_dir=tmp_path_factory.mktemp("c4build"))


def node_moves(t, b, n, root_moves):
    """The move string of node n of tree b: the root's, then the actions down the tree."""
    path = []
    while n > 0:
        p = int(t.parent[b, n])
        k = t.child[b, p].tolist().index(n)
        path.append(str(int(t.action[b, p, k]) + 1))
        n = p
    return root_moves + "".join(reversed(path))


def proven_nodes(nb, t, b):
    return [n for n in range(t.proven.shape[1]) if int(t.proven[b, n]) != nb.UNPROVEN
            and (n == 0 or int(t.parent[b, n]) >= 0)]


@pytest.mark.parametrize("search", ["puct", "gumbel"])
def test_every_connect4_proof_is_the_solvers_value(nb, c4, solver, search):
    rng = random.Random(5)
    roots = [random_moves(rng, rng.randrange(14, 28), c4) for _ in range(24)]
    res = nb.BatchedMCTS(c4, hash_eval, 300, search=search, considered=8).search(c4.from_moves(roots))
    t, checked, kinds = res.tree, 0, set()
    for b, moves in enumerate(roots):
        for n in proven_nodes(nb, t, b):
            line = node_moves(t, b, n, moves)
            if bool(t.terminal[b, n]):         # the last move made four or filled the board: the rules' value
                assert int(t.proven[b, n]) == int(t.term_value[b, n]), line
                continue
            truth = solver.solve(line)
            got = int(t.proven[b, n])
            assert got == (truth > 0) - (truth < 0), f"{line}: proven {got}, solver score {truth}"
            if got == 1:                       # a win in p plies cannot come sooner than the solver's fastest
                stones = len(line)
                fastest = 2 * (22 - truth) - 1 - stones     # plies until the winning stone, best play
                assert int(t.plies[b, n]) >= fastest, (line, int(t.plies[b, n]), fastest)
            checked += 1
            kinds.add(got)
    assert checked >= 40 and {1, -1} <= kinds, (checked, kinds)
    assert int((res.proven != nb.UNPROVEN).sum()) >= 3, "test data: some roots should be proven"


def wins_within(board, n):
    """The side to move mates within n plies (n odd) against every defence."""
    for m in list(board.legal_moves):
        board.push(m)
        ok = board.is_checkmate() or (n >= 3 and not board.is_game_over() and loses_within(board, n - 1))
        board.pop()
        if ok:
            return True
    return False


def loses_within(board, n):
    """Every move of the side to move allows a mate within n - 1 more plies (n even)."""
    if board.is_checkmate():
        return True
    if n < 2 or board.is_game_over():
        return False
    for m in list(board.legal_moves):
        board.push(m)
        ok = wins_within(board, n - 1)
        board.pop()
        if not ok:
            return False
    return True


def uniform_chess(state):
    return torch.zeros(state.board.shape[0], 4672), torch.zeros(state.board.shape[0])


def data_rows(name, n):
    rows = [line.split(";") for line in (DATA / name).read_text().splitlines() if not line.startswith("#")]
    return [(fen.strip(), sol.split()) for fen, sol in rows[:n]]


def test_every_chess_proof_within_three_plies_is_a_forced_mate(nb, chessgame):
    """Mates in two from bench/data, uniform evaluator: the proven roots play a move that forces
    mate (python-chess lists every such first move), and every proven node within 3 plies is a
    forced mate (or a forced loss) by an exhaustive search. The rules' extra draws (repetition in
    the tree's own history, the ply cap) can only make our proofs harder, never easier."""
    rows = data_rows("chess_mate2.txt", 60)
    root = chessgame.from_fen([fen for fen, _ in rows])
    res = nb.BatchedMCTS(chessgame, uniform_chess, 256, fpu_reduction=0.0).search(root)
    t, checked = res.tree, 0
    for b, (fen, solutions) in enumerate(rows):
        if int(res.proven[b]) == 1:
            move = chessgame.action_to_str(root, b, int(res.action[b]))
            assert move in solutions, (fen, move, solutions)
            assert int(res.proven_plies[b]) == 3, fen
        nodes = [n for n in proven_nodes(nb, t, b) if int(t.plies[b, n]) <= 3 and int(t.proven[b, n]) != 0]
        fens = chessgame.to_fen(nb.state_map(lambda x: x[b * t.proven.shape[1] + torch.tensor(nodes)], t.states)) \
            if nodes else []
        for n, node_fen in zip(nodes, fens):
            board, p = chess.Board(node_fen), int(t.plies[b, n])
            ok = wins_within(board, p) if int(t.proven[b, n]) == 1 else loses_within(board, p)
            assert ok, (fen, node_fen, int(t.proven[b, n]), p)
            checked += 1
    assert int((res.proven == 1).sum()) >= 3 and checked >= 20, (int((res.proven == 1).sum()), checked)


def test_a_root_where_every_move_loses_is_a_proven_loss(nb, c4):
    """X to move, O threatens columns 3 and 7 on the bottom row: every move loses in two plies. The
    search proves it, says so, and its simulations stop at the proof."""
    s = c4.from_moves(["141526"])
    res = nb.BatchedMCTS(c4, uniform_eval, 200).search(s)
    assert int(res.proven[0]) == -1 and int(res.proven_plies[0]) == 2 and float(res.root_value[0]) == -1.0
    assert int(res.child_visits[0].sum()) < 200             # once proven, the root is a leaf
    assert torch.allclose(res.policy.sum(1), torch.ones(1))


@pytest.mark.parametrize("search", ["puct", "gumbel"])
def test_a_move_proven_lost_is_never_played(nb, c4, search):
    """Positions where every move but one lets the opponent make four at once: with few simulations
    the search may not know the saving move is good, but it knows the others lose once seen, and
    never plays them while the saving move is unproven."""
    from test_mcts import find_positions, must_block
    moves = ["15161", "11223", "123242"] + find_positions(c4, random.Random(11), must_block(c4), 5)
    s = c4.from_moves(moves)
    for sims in (16, 64):
        res = nb.BatchedMCTS(c4, uniform_eval, sims, search=search, considered=4).search(s)
        t = res.tree
        c_prov, _ = nb.root_children_proofs(t)
        for i, m in enumerate(moves):
            slot = res.child_action[i].tolist().index(int(res.action[i]))
            assert int(c_prov[i, slot]) != 1, (m, sims)
            lost = (c_prov[i] == 1) & (res.child_action[i] >= 0)
            assert float(res.policy[i][lost].sum()) == 0.0, (m, sims)    # nor in the target
    assert int((c_prov == 1).sum()) >= 2 * len(moves), "test data: the search should prove losing moves"


def test_root_choice_rules(nb, c4):
    """root_choice on a real tree whose root children are given proofs by hand: the shortest win is
    played and is the whole target (ties: evenly, the most visited played); a lost move is dropped
    while another exists; when all are lost, the longest loss is played."""
    res = nb.BatchedMCTS(c4, uniform_eval, 30, root_sweep=False, solver=False).search(c4.initial_state(1))
    t = res.tree
    nodes = t.child[0, 0].long()                            # every root move was expanded (7 moves, 30 sims)
    assert bool((nodes > 0).all())

    def choose(proven, plies):
        t.proven[0, nodes], t.plies[0, nodes] = torch.tensor(proven, dtype=torch.float32), torch.tensor(plies, dtype=torch.int16)
        c_prov, c_plies = nb.root_children_proofs(t)
        policy, slot = nb.root_choice(t, c_prov, c_plies, res.child_visits, res.policy, res.child_visits.argmax(1))
        return policy[0].tolist(), int(slot[0])

    U = nb.UNPROVEN
    policy, slot = choose([U, -1, U, -1, U, U, U], [0, 4, 0, 2, 0, 0, 0])    # wins in 5 and in 3 plies
    assert slot == 3 and policy == [0, 0, 0, 1, 0, 0, 0]
    policy, slot = choose([U, -1, U, -1, U, U, U], [0, 2, 0, 2, 0, 0, 0])    # two wins in 3 plies
    assert policy == [0, 0.5, 0, 0.5, 0, 0, 0]
    assert slot == (1 if float(res.child_visits[0, 1]) >= float(res.child_visits[0, 3]) else 3)
    policy, slot = choose([1, 1, U, 1, 1, 1, 1], [1] * 7)                    # only move 3 is not lost
    assert slot == 2 and policy == [0, 0, 1, 0, 0, 0, 0]
    policy, slot = choose([1] * 7, [1, 3, 1, 5, 1, 1, 1])                    # all lost: the longest loss
    assert slot == 3 and abs(sum(policy) - 1) < 1e-6
