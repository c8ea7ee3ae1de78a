"""The notebook's inline strength references (section 5.14): the Connect Four table agrees with the
solver labels and the solver itself, the chess positions are mates in one, and the scores count right."""
import json
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import chess
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import connect4_solver as solver  # noqa: E402


def tokens(nb):
    return [t.split(":") for t in nb.C4_SOLVED.split()]


def test_connect4_table_agrees_with_the_labels_and_the_solver(nb):
    labels = {r["moves"]: r for r in map(json.loads, (ROOT / "bench/data/connect4_labels.jsonl").open())}
    rows = tokens(nb)
    assert len(rows) == 300 and len({r[0] for r in rows}) == 300
    for moves, outcome, optimal, keeping in rows:
        r = labels[moves]
        assert outcome == r["outcome"] and optimal == "".join(map(str, r["best"])), moves   # 1-based
    for moves, outcome, optimal, keeping in random.Random(0).sample(rows, 25):   # re-solve a sample
        values = solver.move_values(moves)
        best = max(v for v in values if v is not None)
        assert optimal == "".join(str(c + 1) for c, v in enumerate(values) if v == best), moves
        assert outcome == ("W" if best > 0 else "D" if best == 0 else "L"), moves
        legal = [c for c, v in enumerate(values) if v is not None]
        keep = [c for c in legal if (values[c] > 0) - (values[c] < 0) >= (best > 0) - (best < 0)]
        assert keeping == ("*" if keep == legal else "".join(str(c + 1) for c in keep)), moves


def test_chess_positions_are_mates_in_one(nb):
    rows = [line.split(";") for line in nb.CHESS_MATE1.strip().splitlines()]
    assert len(rows) == 100
    for fen, moves in rows:
        b = chess.Board(fen.strip())
        mates = set()
        for m in list(b.legal_moves):
            b.push(m)
            if b.is_checkmate():
                mates.add(m.uci())
            b.pop()
        assert mates and set(moves.split()) == mates, fen


def fixed_player(nb, game, raw_cols, search_cols):
    """A player whose raw policy and search play the given moves (per position)."""
    player = SimpleNamespace(game=game, simulations=1)
    player.analyse = lambda state, simulations=None: SimpleNamespace(action=torch.tensor(search_cols))
    return player, (lambda p, state: torch.tensor(raw_cols))


def test_solved_score_counts(nb, monkeypatch):
    game = nb.make_game("connect4")
    rows = tokens(nb)
    optimal = [int(r[2][0]) - 1 for r in rows]
    # a move that loses a won/drawn position where there is one, else the optimal move
    def spoiler(r):
        s = game.from_moves([r[0]])
        legal = game.legal_mask(s)[0].nonzero().flatten().tolist()
        bad = [c for c in legal if r[3] != "*" and str(c + 1) not in r[3]]
        return bad[0] if bad else int(r[2][0]) - 1
    worse = [spoiler(r) for r in rows]
    player, raw = fixed_player(nb, game, optimal, worse)
    monkeypatch.setattr(nb, "raw_policy_moves", raw)
    st = nb.solved_score(player)
    assert st["raw"] == {"keeps": 1.0, "optimal": 1.0}
    won_drawn = [r for r in rows if r[1] != "L"]
    spoilable = sum(r[3] != "*" for r in won_drawn)
    assert spoilable > 50
    assert st["search"]["keeps"] == (len(won_drawn) - spoilable) / len(won_drawn)


def test_mate_in_one_score_counts(nb, monkeypatch):
    game = nb.make_game("chess")
    rows = [line.split(";") for line in nb.CHESS_MATE1.strip().splitlines()]
    state = game.from_fen([r[0].strip() for r in rows])
    mates = [game.parse_action(state, i, r[1].split()[0]) for i, r in enumerate(rows)]
    half = [m if i % 2 else int(game.legal_mask(state)[i].nonzero()[0]) for i, m in enumerate(mates)]
    half_hits = sum(game.action_to_str(state, i, a) in rows[i][1].split() for i, a in enumerate(half))
    player, raw = fixed_player(nb, game, mates, half)
    monkeypatch.setattr(nb, "raw_policy_moves", raw)
    st = nb.mate_in_one_score(player)
    assert st["raw"]["mates"] == 1.0 and st["search"]["mates"] == half_hits / 100 < 1.0


def test_puzzles_survive_a_short_ply_cap(nb):
    """The cpu preset caps chess at 160 plies, and some puzzles come from move 89: loaded as puzzles
    they keep their position and are still mates in one under that cap."""
    game = nb.make_game("chess", "cpu", 160)
    rows = [line.split(";") for line in nb.CHESS_MATE1.strip().splitlines()]
    fens = [r[0].strip() for r in rows]
    assert sum(int(f.split()[5]) * 2 >= 160 for f in fens) >= 5, "test data: some puzzles lie past the cap"
    state = nb.puzzle_positions(game, fens)
    assert not bool(game.terminal(state)[0].any())
    assert [f.split()[:5] for f in game.to_fen(state)] == [f.split()[:5] for f in fens]
    res = nb.BatchedMCTS(game, lambda s: (torch.zeros(len(fens), 4672), torch.zeros(len(fens))), 2).search(state)
    assert all(game.action_to_str(state, i, int(a)) in r[1].split() for i, (r, a) in enumerate(zip(rows, res.action)))


def material_after(board, move):
    values = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9, chess.KING: 0}
    board.push(move)
    side = not board.turn                                       # the mover
    s = 1000 if board.is_checkmate() else 0 if board.is_game_over() else \
        sum(v * (len(board.pieces(p, side)) - len(board.pieces(p, not side))) for p, v in values.items())
    board.pop()
    return s


def test_greedy_player_plays_a_best_one_ply_move(nb):
    """On random-playout positions the greedy player's move scores the best of python-chess's 1-ply
    scores (mate 1000, another game end 0, else the mover's material balance), ties broken at random."""
    game = nb.make_game("chess")
    rng = random.Random(3)
    fens = []
    while len(fens) < 60:
        b = chess.Board()
        for _ in range(rng.randrange(4, 80)):
            moves = list(b.legal_moves)
            if not moves:
                break
            b.push(rng.choice(moves))
        if not b.is_game_over():
            fens.append(b.fen())
    state = game.from_fen(fens)
    acts = nb.GreedyPlayer(game, torch.Generator().manual_seed(0)).act(state)
    picks = set()
    for i, fen in enumerate(fens):
        b = chess.Board(fen)
        scores = {m.uci(): material_after(b, m) for m in b.legal_moves}
        got = game.action_to_str(state, i, int(acts[i]))
        assert scores[got] == max(scores.values()), (fen, got, scores)
    # ties at random: the same position many times gets several moves
    same = game.from_fen([chess.STARTING_FEN] * 40)
    picks = {game.action_to_str(same, 0, int(a)) for a in nb.GreedyPlayer(game).act(same)}
    assert len(picks) >= 5


def test_tactics_score_counts(nb, monkeypatch):
    """Connect Four tactics on the inline positions: which positions have a four at once or a threat to
    stop, by the rules, and the shares a player that always takes / blocks (or never does) gets."""
    game = nb.make_game("connect4")
    rows = tokens(nb)
    state = game.from_moves([r[0] for r in rows])
    wins, safe = nb.connect4_tactics(game, state)
    for i in random.Random(1).sample(range(len(rows)), 40):     # against the solver's move values
        values = solver.move_values(rows[i][0])
        ply = len(rows[i][0])
        for c, v in enumerate(values):
            assert bool(wins[i, c]) == (v is not None and v == (43 - ply) // 2), (rows[i][0], c)
    has_win = wins.any(1)
    must = ~has_win & safe.any(1) & (safe != game.legal_mask(state)).any(1)
    assert int(has_win.sum()) >= 30 and int(must.sum()) >= 30, "test data: want enough of both"
    good = torch.where(has_win, wins.float().argmax(1), safe.float().argmax(1))
    legal = game.legal_mask(state)
    bad = torch.where(has_win, (legal & ~wins).float().argmax(1), (legal & ~safe).float().argmax(1))
    player, raw = fixed_player(nb, game, good.tolist(), bad.tolist())
    monkeypatch.setattr(nb, "raw_policy_moves", raw)
    st = nb.tactics_score(player)
    assert st["n_wins"] == int(has_win.sum()) and st["n_blocks"] == int(must.sum())
    assert st["raw"] == {"wins": 1.0, "blocks": 1.0}
    every_move_wins = int((legal[has_win] == wins[has_win]).all(1).sum())
    assert st["search"]["wins"] == every_move_wins / int(has_win.sum()) and st["search"]["blocks"] == 0.0


# --- the strength curve logged while training ---
def test_capture_positions_each_offer_a_winning_capture_and_no_mate(nb):
    """Checked with python-chess: every position is still in play, some move captures or promotes (the
    greedy rule has material to win) and no move mates (that is the mate-in-one line's job)."""
    game = nb.make_game("chess")
    state = nb.capture_positions(game)
    assert nb.state_batch_size(state) == 300
    for fen in game.to_fen(state):
        b = chess.Board(fen)
        assert not b.is_game_over(), fen
        assert any(b.is_capture(m) or m.promotion for m in b.legal_moves), fen
        for m in list(b.legal_moves):
            b.push(m)
            mate = b.is_checkmate()
            b.pop()
            assert not mate, fen


def test_greedy_agreement_is_one_for_the_greedy_rule_and_zero_for_its_worst_move(nb, monkeypatch):
    game = nb.make_game("chess")
    state = nb.capture_positions(game)
    b, a, score = nb.GreedyPlayer.scores(game, state)
    B = nb.state_batch_size(state)
    worst = torch.full((B,), float("inf")).scatter_reduce(0, b, score, "amin")
    pick_worst = torch.zeros(B, dtype=torch.int64).scatter(0, b[score == worst[b]], a[score == worst[b]])
    player = SimpleNamespace(game=game)
    for moves, want in ((nb.GreedyPlayer(game).act(state), 1.0), (pick_worst, 0.0)):
        monkeypatch.setattr(nb, "raw_policy_moves", lambda p, s, moves=moves: moves)
        assert nb.greedy_agreement(player) == want


def small_coordinator(nb, tmp_path, game, **kw):
    cfg = nb.build_config(game, "cpu", games_per_actor=4, simulations=4, min_buffer_size=32, batch_size=16,
                          num_filters=8, num_blocks=1, max_plies=0 if game == "connect4" else 40, **kw)
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=lambda m: None)
    return nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None)


def test_curve_point_logs_the_lines_within_its_share_and_leaves_the_rng_alone(nb, tmp_path):
    coord = small_coordinator(nb, tmp_path, "connect4")
    coord.self_play(); coord.train_step()
    torch.manual_seed(5); expect = torch.rand(3)
    torch.manual_seed(5)
    rec = coord.curve_point()                     # curve time 0 <= share x training time: the search's lines too
    assert torch.equal(torch.rand(3), expect)     # the curve drew nothing from the training's streams
    assert set(k for k in rec if k.startswith("curve/")) == {"curve/solved_keeps_raw", "curve/solved_keeps_search",
                                                             "curve/tactics_blocks_raw", "curve/tactics_blocks_search"}
    assert 0 < rec["train_min"] == coord.train_s / 60 and rec["event"] == "curve"
    assert coord.curve_s > 0 and rec["curve_share"] == pytest.approx(coord.curve_s / coord.train_s)
    assert coord.curve_search_s == coord.curve_s                         # what the search's lines cost
    coord.train_s = coord.curve_s / coord.cfg.curve_share * 1.5         # under its share now, but not after
    assert "curve/solved_keeps_search" not in coord.curve_point()       # one more such point: raw lines only
    coord.train_s = coord.curve_s / coord.cfg.curve_share / 2           # over its share: raw lines only
    assert "curve/solved_keeps_search" not in coord.curve_point()
    lines = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in lines if r.get("event")] == ["curve"] * 3   # (before the fourth)
    coord.cfg = nb.dataclasses.replace(coord.cfg, curve_share=0.0)      # 0: never the search's lines
    coord.curve_s = 0.0
    assert "curve/solved_keeps_search" not in coord.curve_point()
    ck = coord.state_dict()["counters"]                                   # the clocks survive a resume
    assert (ck["train_s"], ck["curve_s"], ck["curve_search_s"]) == (coord.train_s, coord.curve_s, coord.curve_search_s)


def test_chess_curve_lines(nb, tmp_path, monkeypatch):
    monkeypatch.setattr(nb, "CURVE_GAMES", 2)
    coord = small_coordinator(nb, tmp_path, "chess")
    rec = nb.strength_curve(coord.make_player(), search=True)
    assert set(rec) == {"curve/mate1_raw", "curve/mate1_search", "curve/greedy_agree_raw", "curve/greedy_score"}
    assert rec["curve/mate1_search"] == 1.0 and all(0 <= v <= 1 for v in rec.values())   # the root sweep mates
    assert set(nb.strength_curve(coord.make_player(), search=False)) == {"curve/mate1_raw", "curve/greedy_agree_raw"}
