"""Chess rules of the notebook's ChessGame against python-chess as an oracle, plus perft.

The `nb` fixture (conftest.py) is the notebook's exported cells as one module."""
import math
import os
import random
import types
from collections import Counter

import chess
import pytest
import torch

START = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
KIWIPETE = "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"
PERFT = [
    (START, 4, 197281),
    (KIWIPETE, 3, 97862),
    ("8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1", 4, 43238),
    ("r3k2r/Pppp1ppp/1b3nbN/nP6/BBP1P3/q4N2/Pp1P2PP/R2Q1RK1 w kq - 0 1", 3, 9467),
    ("rnbq1k1r/pp1Pbppp/2p5/8/2B5/8/PPP1NnPP/RNBQK2R w KQ - 1 8", 3, 62379),
    ("r4rk1/1pp1qppp/p1np1n2/2b1p1B1/2B1P1b1/P1NP1N2/1PP1QPPP/R4RK1 w - - 0 10", 3, 89890),
]
# Start positions for the random playouts: perft positions plus positions rich in promotions, castling,
# en passant (including the pinned / discovered-check cases), few pieces, and halfmove clocks near 100.
ORACLE_FENS = [p[0] for p in PERFT] + [
    START, START, START,
    "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1",
    "r3k2r/p6p/8/8/8/8/P6P/R3K2R b KQkq - 0 1",
    "r3k2r/1b4bq/8/8/8/8/7B/R3K2R w KQkq - 0 1",
    "8/PPPk4/8/8/8/8/4Kppp/8 w - - 0 1",
    "n1n5/PPPk4/8/8/8/8/4Kppp/5N1N b - - 0 1",
    "1r2k3/P1P5/8/8/8/8/5p1p/3K2R1 w - - 0 20",
    "8/8/8/KPp4r/8/8/8/7k w - c6 0 2",          # ep illegal: horizontal pin on the 5th rank
    "8/8/8/2k5/3Pp3/8/8/4K3 b - d3 0 1",         # ep captures the checking pawn
    "8/8/8/8/k2Pp2Q/8/8/3K4 b - d3 0 1",         # ep illegal: horizontal pin on the 4th rank
    "4k3/8/8/8/1b1pP3/8/8/5K2 b - e3 0 1",
    "8/2p5/8/KP5r/8/8/8/7k b - - 0 1",
    "4k3/pppppppp/8/8/8/8/PPPPPPPP/4K3 w - - 0 1",
    "4k3/pppppppp/8/P1P1P1P1/8/8/8/4K3 b - - 0 1",   # en passant chances
    "4k3/8/8/8/p1p1p1p1/8/PPPPPPPP/4K3 w - - 0 1",
    "r3k3/1p1p1p1p/8/P1P1P1P1/8/8/8/4K2R b Kq - 0 1",
    "8/8/4k3/8/8/3K4/8/R6R w - - 85 30",          # fifty-move rule soon
    "8/8/2n1k3/8/8/3K4/2B5/8 w - - 90 30",
    "6k1/5ppp/8/8/8/8/8/R5K1 w - - 99 40",        # mate on the 100th halfmove
    "k7/8/1Q6/8/8/8/8/7K w - - 0 1",              # stalemates / mates nearby
    "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1",
    "k7/8/1K6/8/8/8/8/7R w - - 0 1",
    "7k/8/6K1/8/8/8/8/5Q2 w - - 0 1",
    "7k/8/8/8/8/8/5Q2/K7 w - - 0 1",
    "8/8/3bk3/8/8/2KB4/8/8 w - - 0 1",
    "8/8/4k3/8/8/2K5/8/4N3 w - - 0 1",
    "8/8/4k3/3n4/8/8/2K5/1B6 b - - 0 1",
    "8/3k4/8/8/8/8/3K4/8 w - - 0 1",
]


def uci_list(g, state, mask):
    """Batched action -> UCI (same logic as action_to_str): list (per game) of {uci: action}."""
    turns = state.turn.tolist()
    boards = state.board.tolist()
    out = [dict() for _ in turns]
    b, a = mask.nonzero(as_tuple=True)
    for i, act in zip(b.tolist(), a.tolist()):
        out[i][g._uci_of(turns[i], act, boards[i])] = act
    return out


def over_by_rules(board):
    return (board.is_checkmate() or board.is_stalemate() or board.is_insufficient_material()
            or board.halfmove_clock >= 100 or board.is_repetition(3))


def expected_status(board, max_plies):
    mate = board.is_checkmate()
    return over_by_rules(board) or board.ply() >= max_plies, (-1.0 if mate else 0.0)


PAWNS = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9}


def expected_verdict(board, max_plies):
    """adjudicate(): stopped by the ply cap alone, and tanh(material balance / 5) for the side to move."""
    own = sum(v * (len(board.pieces(p, board.turn)) - len(board.pieces(p, not board.turn))) for p, v in PAWNS.items())
    return board.ply() >= max_plies and not over_by_rules(board), math.tanh(own / 5)


@pytest.fixture(scope="module")
def game(nb):
    return nb.ChessGame("cpu")


# ---------------------------------------------------------------------------------------------- oracle
def test_oracle_random_playouts(nb):
    seed = int(os.environ.get("CHESS_ORACLE_SEED", 20240607))
    print(f"oracle seed {seed} (override with CHESS_ORACLE_SEED)")
    rng = random.Random(seed)
    max_plies = 240
    g = nb.ChessGame("cpu", max_plies=max_plies)
    g_cap = nb.ChessGame("cpu", max_plies=40)      # adjudicate() with a cap that many positions are past
    B, target = 64, int(os.environ.get("CHESS_ORACLE_POSITIONS", 12_000))
    fens = [rng.choice(ORACLE_FENS) for _ in range(B)]
    boards = [chess.Board(f) for f in fens]
    s = g.from_fen(fens)
    seen = Counter()
    key_to_hash, hash_to_key = {}, {}
    checked = roundtrips = it = 0
    while checked < target:
        mask, done, value = g.status(s)
        raw = g.rules_legal_mask(s)
        ours = uci_list(g, s, raw)
        ours_masked = uci_list(g, s, mask)
        my_fens = g.to_fen(s)
        reps = s.rep.tolist()
        hashes = s.hash.tolist()
        done_l, value_l = done.tolist(), value.tolist()
        capped, verdict = (t.tolist() for t in g_cap.adjudicate(s))
        actions = [0] * B
        reset = [False] * B
        for i, bd in enumerate(boards):
            assert my_fens[i] == bd.fen(), (i, bd.fen(), my_fens[i])
            legal = {m.uci(): m for m in bd.legal_moves}
            assert set(ours[i]) == set(legal), (bd.fen(), sorted(set(ours[i]) ^ set(legal)))
            exp_done, exp_val = expected_status(bd, max_plies)
            assert (done_l[i], value_l[i]) == (exp_done, exp_val), (bd.fen(), done_l[i], value_l[i], exp_done, exp_val)
            exp_capped, exp_verdict = expected_verdict(bd, 40)
            assert capped[i] == exp_capped and verdict[i] == pytest.approx(exp_verdict, abs=1e-6), bd.fen()
            seen["capped"] += exp_capped
            assert (reps[i] >= 2) == bd.is_repetition(2), bd.fen()
            assert (reps[i] >= 3) == bd.is_repetition(3), bd.fen()
            key = bd._transposition_key()
            assert key_to_hash.setdefault(key, hashes[i]) == hashes[i]
            assert hash_to_key.setdefault(hashes[i], key) == key
            checked += 1
            if exp_done:
                assert not ours_masked[i]
                seen["checkmate" if bd.is_checkmate() else "stalemate" if bd.is_stalemate() else
                     "insufficient" if bd.is_insufficient_material() else "fifty" if bd.halfmove_clock >= 100 else
                     "threefold" if bd.is_repetition(3) else "plycap"] += 1
                reset[i] = True
                continue
            assert ours_masked[i] == ours[i]
            # round trip action -> UCI -> parse_action (all moves every 4th step, special moves always)
            for u, act in ours[i].items():
                m = legal[u]
                special = m.promotion or bd.is_castling(m) or bd.is_en_passant(m)
                if special or it % 4 == 0:
                    assert g.action_to_str(s, i, act) == u
                    assert g.parse_action(s, i, u) == act
                    roundtrips += 1
            # biased random move: special moves, reversing the last own move (repetitions), captures
            moves = list(legal.values())
            specials = [m for m in moves if m.promotion or bd.is_castling(m) or bd.is_en_passant(m)]
            r = rng.random()
            mv = None
            if specials and r < 0.6:
                mv = rng.choice(specials)
            elif r < 0.68 and len(bd.move_stack) >= 2:
                last = bd.move_stack[-2]
                back = chess.Move(last.to_square, last.from_square)
                mv = back if back in legal.values() else None
            if mv is None and rng.random() < 0.3:
                caps = [m for m in moves if bd.is_capture(m)]
                mv = rng.choice(caps) if caps else None
            if mv is None and rng.random() < 0.3:
                checks = [m for m in moves if bd.gives_check(m)]
                mv = rng.choice(checks) if checks else None
            if mv is None:
                mv = rng.choice(moves)
            if mv.promotion:
                seen["promotion"] += 1
                if mv.promotion != chess.QUEEN:
                    seen["underpromotion"] += 1
            if bd.is_castling(mv):
                seen["castling_" + ("short" if chess.square_file(mv.to_square) == 6 else "long")] += 1
            if bd.is_en_passant(mv):
                seen["en_passant"] += 1
            actions[i] = ours[i][mv.uci()]
            bd.push(mv)
        s = g.step(s, torch.tensor(actions))
        if any(reset):
            for i in range(B):
                if reset[i]:
                    fens[i] = rng.choice(ORACLE_FENS)
                    boards[i] = chess.Board(fens[i])
            s0 = g.from_fen(fens)
            s = nb.state_where(torch.tensor(reset), s0, s)
        it += 1
    print(f"checked {checked} positions in {it} lockstep steps, {roundtrips} parse round trips; seen {dict(seen)}")
    for k, n in [("promotion", 100), ("underpromotion", 30), ("castling_short", 30), ("castling_long", 30),
                 ("en_passant", 30), ("checkmate", 20), ("stalemate", 3), ("insufficient", 20),
                 ("threefold", 20), ("fifty", 3), ("capped", 1000)]:
        assert seen[k] >= n, (k, seen[k])


# ---------------------------------------------------------------------------------------------- perft
def perft(nb, g, fen, depth, chunk=4096):
    """Leaf count: expand the whole frontier as a batch (chunked), count legal moves at depth-1."""
    frontier = [g.from_fen([fen])]
    for _ in range(depth - 1):
        nxt = []
        for s in frontier:
            mask = g.legal_mask(s)
            b, a = mask.nonzero(as_tuple=True)
            for k in range(0, len(b), chunk):
                nxt.append(g.step(nb.state_map(lambda x: x[b[k:k + chunk]], s), a[k:k + chunk]))
        frontier = nxt
    return sum(int(g.legal_mask(s).sum()) for s in frontier)


@pytest.mark.parametrize("fen,depth,expected", PERFT)
def test_perft(nb, game, fen, depth, expected):
    assert perft(nb, game, fen, depth) == expected


# ---------------------------------------------------------------------------------------------- API
def test_protocol_attributes(nb, game):
    assert isinstance(game, nb.Game)
    assert game.name == "chess" and game.num_actions == 4672 and game.max_legal == 218
    assert game.policy_slots <= game.max_legal and game.max_plies == 512
    assert game.obs_shape[1:] == (8, 8)
    s = game.initial_state(3)
    assert nb.state_batch_size(s) == 3
    for f in nb.dataclasses.fields(s):
        assert getattr(s, f.name).shape[0] == 3
    assert set(game.encode_fields) <= {f.name for f in nb.dataclasses.fields(s)}


def test_initial_state_is_the_start_fen_and_the_parts_stand_alone(nb, game):
    """initial_state builds the start position from the tables (no FEN parsing in the rules) and equals
    from_fen(START_FEN) field by field and python-chess's start board; ChessGame is its four parts
    side by side, none of them built on another or on Game."""
    s, ref = game.initial_state(2), game.from_fen([game.START_FEN] * 2)
    for f in nb.dataclasses.fields(s):
        a, b = getattr(s, f.name), getattr(ref, f.name)
        assert a.dtype == b.dtype and torch.equal(a, b), f.name
    assert game.to_fen(s)[1] == chess.Board().fen()
    parts = (nb.ChessIO, nb.ChessStep, nb.ChessMoves, nb.ChessTables)
    assert nb.ChessGame.__bases__ == parts + (nb.Game,)
    assert all(part.__bases__ == (object,) for part in parts)


def test_step_does_not_modify_input(nb, game):
    s = game.from_fen([START, KIWIPETE, "8/8/8/2k5/3Pp3/8/8/4K3 b - d3 0 1", "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1"])
    mask = game.legal_mask(s)
    for trial in range(5):
        a = torch.multinomial(mask.float(), 1, generator=torch.Generator().manual_seed(trial)).squeeze(1)
        before = nb.state_map(lambda x: x.clone(), s)
        s2 = game.step(s, a)
        for f in nb.dataclasses.fields(s):
            assert torch.equal(getattr(s, f.name), getattr(before, f.name)), f.name
        assert not torch.equal(s2.board, s.board)


def test_legal_mask_terminal_and_nonterminal(game):
    fens = [START,
            "rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3",   # checkmated
            "7k/5Q2/6K1/8/8/8/8/8 b - - 0 1",                                # stalemate
            "8/8/4k3/8/8/3K4/8/R7 w - - 100 80",                             # fifty-move draw
            "R5k1/5ppp/8/8/8/8/8/6K1 b - - 100 80",                          # mate beats the 50-move draw
            "8/8/4k3/8/8/3K4/8/8 w - - 0 1",                                 # insufficient
            "8/8/2b1k3/8/8/2KB4/8/8 w - - 0 1",                              # KB v KB, same colour
            "8/8/3bk3/8/8/2KB4/8/8 w - - 0 1",                               # opposite colours: play on
            "1R5R/8/8/8/8/8/8/k6K w - - 0 1"]
    s = game.from_fen(fens)
    mask, done, value = game.status(s)
    assert done.tolist() == [False, True, True, True, True, True, True, False, False]
    assert value.tolist() == [0.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]
    n = mask.sum(1)
    assert (n[done] == 0).all() and ((n[~done] >= 1) & (n[~done] <= game.max_legal)).all()
    assert torch.equal(mask, game.legal_mask(s))
    d2, v2 = game.terminal(s)
    assert torch.equal(d2, done) and torch.equal(v2, value)
    assert value.dtype == torch.float32 and mask.dtype == torch.bool and mask.shape == (len(fens), 4672)
    # the position with 218 legal moves
    s = game.from_fen(["R6R/3Q4/1Q4Q1/4Q3/2Q4Q/Q4Q2/pp1Q4/kBNN1KB1 w - - 0 1"])
    assert int(game.legal_mask(s).sum()) == 218


def test_mate_on_100th_halfmove(game):
    s = game.from_fen(["6k1/5ppp/8/8/8/8/8/R5K1 w - - 99 40"])
    s = game.step(s, torch.tensor([game.parse_action(s, 0, "a1a8")]))
    assert int(s.halfmove[0]) == 100
    done, value = game.terminal(s)
    assert bool(done[0]) and float(value[0]) == -1.0


def test_threefold_and_ply_cap(nb, game):
    s = game.initial_state(1)
    seq = ["g1f3", "g8f6", "f3g1", "f6g8"] * 2
    reps = []
    for u in seq:
        assert not bool(game.terminal(s)[0][0])
        s = game.step(s, torch.tensor([game.parse_action(s, 0, u)]))
        reps.append(int(s.rep[0]))
    assert reps == [1, 1, 1, 2, 2, 2, 2, 3]
    done, value = game.terminal(s)
    assert bool(done[0]) and float(value[0]) == 0.0
    assert not game.legal_mask(s).any()
    x = game.encode(s)
    assert x[0, 12].min() == 1 and x[0, 13].min() == 1
    g4 = nb.ChessGame("cpu", max_plies=4)
    s = g4.initial_state(2)
    for u in ["e2e4", "e7e5", "g1f3", "b8c6"]:
        assert not g4.terminal(s)[0].any()
        s = g4.step(s, torch.tensor([g4.parse_action(s, 0, u)] * 2))
    done, value = g4.terminal(s)
    assert done.all() and (value == 0).all()


def test_insufficient_material_matches_python_chess(game):
    fens = ["8/8/4k3/8/8/3K4/8/8 w - - 0 1", "8/8/4k3/8/8/3K4/8/5N2 w - - 0 1", "8/8/4k3/8/8/3K4/8/5B2 b - - 0 1",
            "8/8/4k3/8/8/3K4/8/4NN2 w - - 0 1", "8/8/4kn2/8/8/3K4/8/5N2 w - - 0 1", "8/8/2b1k3/8/8/2KB4/8/8 w - - 0 1",
            "8/8/3bk3/8/8/2KB4/8/8 w - - 0 1", "8/8/4kq2/8/8/3K4/8/5N2 w - - 0 1", "8/8/4k3/8/8/3K4/8/3BB3 w - - 0 1",
            "8/8/4k3/8/8/3K4/8/2B1B3 w - - 0 1", "8/8/4k3/8/8/3K4/6p1/5B2 w - - 0 1", "8/8/4kb2/8/8/3K4/8/5N2 w - - 0 1",
            "8/8/4k3/8/8/3K4/7P/8 w - - 0 1", "8/8/2b1k3/8/2b5/2KB4/8/8 w - - 0 1"]
    s = game.from_fen(fens)
    done, _ = game.terminal(s)
    assert done.tolist() == [chess.Board(f).is_insufficient_material() for f in fens]


def test_fen_round_trip_and_ep_semantics(game):
    fens = [START, KIWIPETE, "8/8/8/2k5/3Pp3/8/8/4K3 b - d3 0 1", "rnbqkbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w KQkq e6 0 2",
            "8/8/8/KPp4r/8/8/8/7k w - c6 0 2", "r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 5 17", "4k3/8/8/8/8/8/8/4K3 w KQkq - 0 1"]
    assert game.to_fen(game.from_fen(fens)) == [chess.Board(f).fen() for f in fens]
    s = game.initial_state(1)
    s = game.step(s, torch.tensor([game.parse_action(s, 0, "e2e4")]))
    assert game.to_fen(s) == ["rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"]


def test_action_strings_and_parse_errors(game):
    s = game.initial_state(1)
    assert game.action_to_str(s, 0, game.parse_action(s, 0, "e2e4")) == "e2e4"
    assert game.parse_action(s, 0, " G1F3 ") == game.parse_action(s, 0, "g1f3")
    for bad in ["e9e4", "hello", "", "e2", "e2e4x", "e7e8k"]:
        with pytest.raises(ValueError, match="malformed"):
            game.parse_action(s, 0, bad)
    with pytest.raises(ValueError, match="illegal.*e2.*e2e3, e2e4"):
        game.parse_action(s, 0, "e2e5")
    with pytest.raises(ValueError, match="black's"):
        game.parse_action(s, 0, "e7e5")
    with pytest.raises(ValueError, match="no piece"):
        game.parse_action(s, 0, "e3e4")
    s = game.from_fen(["4k3/P7/8/8/8/8/8/4K3 w - - 0 1"])
    with pytest.raises(ValueError, match="must promote"):
        game.parse_action(s, 0, "a7a8")
    for u in ["a7a8q", "a7a8r", "a7a8b", "a7a8n"]:
        assert game.action_to_str(s, 0, game.parse_action(s, 0, u)) == u
    s = game.from_fen(["rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3"])
    with pytest.raises(ValueError, match="game is over"):
        game.parse_action(s, 0, "e2e4")
    # black's moves are mirrored: e7e5 for black is the same action as e2e4 for white
    s0 = game.initial_state(1)
    s1 = game.step(s0, torch.tensor([game.parse_action(s0, 0, "g1f3")]))
    assert game.parse_action(s1, 0, "e7e5") == game.parse_action(s0, 0, "e2e4")
    assert "a" in game.render(s1, 0) and "r n b q k b n r" in game.render(s1, 0)


def test_encode(nb, game):
    fens = [START, KIWIPETE, "8/8/8/2k5/3Pp3/8/8/4K3 b - d3 0 1"]
    s = game.from_fen(fens)
    x = game.encode(s)
    assert x.shape == (3, *game.obs_shape) and x.dtype == torch.float32
    only = types.SimpleNamespace(**{k: getattr(s, k) for k in game.encode_fields})
    assert torch.equal(game.encode(only), x)
    # colour symmetry: a position and its mirror (colours swapped) look the same to the side to move
    for f in fens:
        b = chess.Board(f)
        a = game.from_fen([b.fen(), b.mirror().fen()])
        xa = game.encode(a)
        keep = [c for c in range(game.obs_shape[0]) if c not in (14, 20)]
        assert torch.equal(xa[0, keep], xa[1, keep]), f
    assert x[0, 5].sum() == 1 and x[0, 5, 0, 4] == 1       # own king on e1
    assert x[2, 5, 3, 2] == 1                               # black king c5 -> mirrored rank 4 (index 3)
    assert x[2, 21].sum() == 1 and x[2, 21, 5, 3] == 1      # ep d3 -> mirrored d6


def test_state_size(nb, game):
    s = game.initial_state(4)
    per_state = sum(getattr(s, f.name)[0].numel() * getattr(s, f.name).element_size() for f in nb.dataclasses.fields(s))
    per_encoded = sum(getattr(s, k)[0].numel() * getattr(s, k).element_size() for k in game.encode_fields)
    print(f"bytes per state {per_state}, per replay-buffer entry (encode_fields) {per_encoded}")
    assert per_state <= 300 and per_encoded <= 80


def test_invalid_actions_do_not_raise(game):
    """Finished games in a batch may be stepped with a dummy action: no exception (result unspecified)."""
    s = game.from_fen(["7k/8/8/8/8/8/8/5K2 w - - 0 1"] * 4)
    s2 = game.step(s, torch.tensor([0, 15 * 64 + 5, 4671, 64 * 63]))
    assert torch.equal(s2.board, s.board)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(nb, game):
    gc = nb.ChessGame("cuda")
    fens = ORACLE_FENS * 4
    s, sc = game.from_fen(fens), gc.from_fen(fens)
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):
        m, d, v = game.status(s)
        mc, dc, vc = gc.status(sc)
        assert torch.equal(m, mc.cpu()) and torch.equal(d, dc.cpu()) and torch.equal(v, vc.cpu())
        assert torch.equal(game.encode(s), gc.encode(sc).cpu())
        for f in nb.dataclasses.fields(s):
            assert torch.equal(getattr(s, f.name), getattr(sc, f.name).cpu()), f.name
        if d.all():
            break
        m[d, 0] = True                      # dummy action for finished games
        a = torch.multinomial(m.float(), 1, generator=gen).squeeze(1)
        s, sc = game.step(s, a), gc.step(sc, a.cuda())


# ------------------------------------------------------------------------------- malformed FENs
REJECTED = (chess.STATUS_INVALID_EP_SQUARE | chess.STATUS_TOO_MANY_KINGS | chess.STATUS_NO_WHITE_KING
            | chess.STATUS_NO_BLACK_KING | chess.STATUS_PAWNS_ON_BACKRANK | chess.STATUS_OPPOSITE_CHECK)


@pytest.mark.parametrize("fen, words", [
    ("r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R b KQkq a3 0 1", "en passant square a3"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq e3 0 1", "en passant"),     # wrong rank
    ("rnbqkbnr/pppppppp/8/8/4P3/8/PPPPPPPP/RNBQKBNR b KQkq e3 0 1", "en passant"),   # e2 not empty
    ("rnbqkbnr/ppppxppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "bad rank"),
    ("rnbqkbnr/ppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "not 8 squares"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR/8 w KQkq - 0 1", "8 ranks"),
    ("4k3/8/8/8/8/8/8/4K2K w - - 0 1", "one king"),
    ("8/8/8/8/8/8/8/4K3 w - - 0 1", "one king"),
    ("P3k3/8/8/8/8/8/8/4K3 w - - 0 1", "first or last rank"),
    ("4k3/8/8/8/8/8/8/4R1K1 w - - 0 1", "not to move is in check"),   # black, not to move, is in check
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR x KQkq - 0 1", "side"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkz - 0 1", "castling"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - x 1", "counters"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - -1 1", "counters"),
])
def test_malformed_fen_is_refused_with_the_reason(game, fen, words):
    with pytest.raises(ValueError) as e:
        game.from_fen([fen])
    assert words in str(e.value) and fen in str(e.value), str(e.value)


def test_fen_validation_agrees_with_python_chess_on_mutated_positions(nb, game):
    """Random playout positions, mutated the ways FENs go wrong (a random en passant square, side to
    move flipped, a piece dropped on a random square): from_fen refuses exactly the ones python-chess
    calls invalid for those reasons, and every accepted one has python-chess's legal moves."""
    rng = random.Random(11)
    accepted, refused = [], 0
    pieces = "PNBRQKpnbrqk"
    while len(accepted) < 400 or refused < 400:
        b = chess.Board(rng.choice(ORACLE_FENS))
        for _ in range(rng.randrange(0, 40)):
            moves = list(b.legal_moves)
            if not moves:
                break
            b.push(rng.choice(moves))
        board = b.copy(stack=False)
        kind = rng.randrange(3)
        if kind == 0:
            board.ep_square = rng.choice([None, *range(16, 24), *range(40, 48), rng.randrange(64)])
        elif kind == 1:
            board.turn = not board.turn
            board.ep_square = None
        else:
            board.set_piece_at(rng.randrange(64), chess.Piece.from_symbol(rng.choice(pieces)))
            board.ep_square = None
        fen = board.fen(en_passant="fen")
        status = chess.Board(fen).status()
        if status & REJECTED:
            with pytest.raises(ValueError):
                game.from_fen([fen])
            refused += 1
            continue
        s = game.from_fen([fen])
        ours = set(uci_list(game, s, game.rules_legal_mask(s))[0])
        assert ours == {m.uci() for m in chess.Board(fen).legal_moves}, fen
        accepted.append(fen)
