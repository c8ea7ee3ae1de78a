"""Chess strength beyond "beats a random mover": mate puzzles and matches against fixed opponents.

    python bench/chess_strength.py [--run RUN_DIR [--run-only]] [--simulations N] [--device auto]
                                   [--games 100] [--sf-nodes 100] [--max-plies 300] [--skip-stockfish]
    python bench/chess_strength.py --make-mates [--count 300] [--seed 0]      # regenerate the data

Measures, for the player of a trained run (or, without --run, for the baselines only):
  * mate-in-1 and mate-in-2 accuracy: share of positions of bench/data/chess_mate{1,2}.txt where the
    player's move is a mating move (mate-in-2: a first move that forces mate next move against
    every defence). The positions come from playouts (one side greedy for captures, the other
    random, so that one side gets ahead and mates appear) and are verified exhaustively with
    python-chess: a mate-in-2 position has no mate in 1;
  * matches against the uniform random mover and a 1-ply material-greedy player (mates if it can, else maximises the material
    balance after its move, ties broken at random);
  * matches against Stockfish (Debian package `stockfish`, through python-chess's UCI engine API)
    at fixed low strengths: Skill Level 0 (10,000 nodes a move), and full skill limited to
    --sf-nodes nodes a move.
Matches: games in pairs from the same 4-ply random opening with colours swapped; a game reaching
--max-plies is a draw; draws by repetition / 50 moves are claimed. Score (win 1, draw 1/2) with a
95% interval and the Elo difference it implies. The network sees each position as a FEN (no
repetition history). Runs with or without a GPU. Prints markdown; nothing is asserted.
Stockfish stays out of the notebook: this file is the only place that uses it.
"""
import argparse
import math
import random
import shutil
import sys
import time
from pathlib import Path

import chess
import chess.engine

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
VALUES = {chess.PAWN: 1, chess.KNIGHT: 3, chess.BISHOP: 3, chess.ROOK: 5, chess.QUEEN: 9, chess.KING: 0}
STOCKFISH = shutil.which("stockfish") or "/usr/games/stockfish"


# ---- mate puzzles -----------------------------------------------------------------------------

def mating_moves(board):
    """Moves that checkmate at once (only checking moves are tried: gives_check is cheap)."""
    out = []
    for m in board.legal_moves:
        if board.gives_check(m):
            board.push(m)
            if board.is_checkmate():
                out.append(m)
            board.pop()
    return out


def forces_mate_next(board, move):
    """After `move`, does every defence allow a mate in 1? (False if `move` itself ends the game.)"""
    board.push(move)
    try:
        if board.is_game_over():
            return False
        for reply in board.legal_moves:
            board.push(reply)
            ok = bool(mating_moves(board))
            board.pop()
            if not ok:
                return False
        return True
    finally:
        board.pop()


def mate_in_two_moves(board):
    """First moves of a forced mate in exactly two (empty if a mate in 1 exists)."""
    if mating_moves(board):
        return []
    return [m for m in board.legal_moves if forces_mate_next(board, m)]


def material(board, color):
    return sum(VALUES[p.piece_type] * (1 if p.color == color else -1) for p in board.piece_map().values())


def greedy_move(board, rng):
    """1-ply material greedy: a mate if there is one, else the best material balance after the move
    (stalemate and other immediate draws count as balance 0); ties at random."""
    best, score = [], -math.inf
    for m in board.legal_moves:
        board.push(m)
        s = 1000 if board.is_checkmate() else 0 if board.is_game_over() else material(board, not board.turn)
        board.pop()
        if s > score:
            best, score = [m], s
        elif s == score:
            best.append(m)
    return rng.choice(best)


def make_mates(count, seed, max_positions=200_000):
    """Collect `count` mate-in-1 and `count` mate-in-2 positions from biased playouts (one of each
    kind per playout at most, no duplicate FENs)."""
    rng = random.Random(seed)
    found = {1: {}, 2: {}}
    tried = 0
    while min(len(found[1]), len(found[2])) < count and tried < max_positions:
        board, strong = chess.Board(), rng.choice([chess.WHITE, chess.BLACK])
        got = set()
        while not board.is_game_over() and board.ply() < 200:
            if board.turn == strong and board.ply() >= 16:
                tried += 1
                key = board.fen()
                m1 = mating_moves(board)
                if m1 and 1 not in got and len(found[1]) < count and key not in found[1]:
                    found[1][key] = m1
                    got.add(1)
                elif not m1 and 2 not in got and len(found[2]) < count and key not in found[2]:
                    m2 = mate_in_two_moves(board)
                    if m2:
                        found[2][key] = m2
                        got.add(2)
            greedy = board.turn == strong and rng.random() < 0.8
            board.push(greedy_move(board, rng) if greedy else rng.choice(list(board.legal_moves)))
    return found, tried


def write_mates(found, tried, seed):
    for k in (1, 2):
        path = DATA / f"chess_mate{k}.txt"
        lines = [f"# mate-in-{k} positions: FEN; every solving first move (UCI). Made by "
                 f"bench/chess_strength.py --make-mates --seed {seed} ({tried} positions tried), "
                 f"verified with python-chess{'; none has a mate in 1' if k == 2 else ''}."]
        lines += [f"{fen}; {' '.join(m.uci() for m in moves)}" for fen, moves in found[k].items()]
        path.write_text("\n".join(lines) + "\n")
        print(f"wrote {len(found[k])} positions to {path}")


def load_mates(k):
    rows = []
    for line in open(DATA / f"chess_mate{k}.txt"):
        if line.strip() and not line.startswith("#"):
            fen, moves = line.split(";")
            rows.append((fen.strip(), moves.split()))
    return rows


# ---- players: choose(boards) -> moves, one call for many positions ----------------------------

def random_player(seed=0):
    rng = random.Random(seed)
    return lambda boards: [rng.choice(list(b.legal_moves)) for b in boards]


def greedy_player(seed=0):
    rng = random.Random(seed)
    return lambda boards: [greedy_move(b, rng) for b in boards]


def network_player(run, simulations, device):
    """The run's MCTS player (no noise, most visited move), batched over the positions via FENs."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import load_notebook_module
    nb = load_notebook_module()
    player = nb.load_player(run, simulations, nb.pick_device() if device == "auto" else device)
    # The run's ply cap (e.g. 160 for the cpu preset) would end long match games inside the search:
    # python-chess referees the games here, so the network's game gets a cap it never reaches.
    player.game = game = nb.make_game("chess", player.game.device, 10_000)   # the config maximum

    def choose(boards):
        state = game.from_fen([b.fen() for b in boards])
        acts = player.act(state).tolist()
        moves = [chess.Move.from_uci(game.action_to_str(state, i, a)) for i, a in enumerate(acts)]
        for b, m in zip(boards, moves):
            if m not in b.legal_moves:
                raise RuntimeError(f"the network player chose illegal {m} in {b.fen()}")
        return moves
    return choose, player


# ---- measurements -----------------------------------------------------------------------------

def mate_accuracy(choose, rows, batch=256):
    hits = 0
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        moves = choose([chess.Board(fen) for fen, _ in chunk])
        hits += sum(m.uci() in sols for m, (_, sols) in zip(moves, chunk))
    return hits / len(rows)


def play_match(choose_a, choose_b, games, max_plies, seed):
    """A vs B, games in pairs from one random 4-ply opening with colours swapped, all in lockstep so
    a batched player gets one call per ply. Returns (wins, draws, losses) for A."""
    rng = random.Random(seed)
    boards, a_white = [], []
    for _ in range((games + 1) // 2):
        b = chess.Board()
        for _ in range(4):
            b.push(rng.choice(list(b.legal_moves)))
        boards += [b.copy(), b.copy()]
        a_white += [True, False]
    live = list(range(len(boards)))
    while live:
        a_turn = [i for i in live if (boards[i].turn == chess.WHITE) == a_white[i]]
        b_turn = [i for i in live if i not in set(a_turn)]
        for choose, idx in ((choose_a, a_turn), (choose_b, b_turn)):
            if idx:
                for i, m in zip(idx, choose([boards[i] for i in idx])):
                    boards[i].push(m)
        live = [i for i in live if not boards[i].is_game_over(claim_draw=True) and boards[i].ply() < max_plies]
    w = d = l = 0
    for b, aw in zip(boards, a_white):
        o = b.outcome(claim_draw=True)
        if o is None or o.winner is None:
            d += 1
        elif o.winner == (chess.WHITE if aw else chess.BLACK):
            w += 1
        else:
            l += 1
    return w, d, l


def score_interval(w, d, l, z=1.96):
    """(score, lo, hi): the match score with a 95% Wilson interval, the per-game variance taken from the
    games (draws count half). Unlike the plain normal approximation it does not collapse to [0, 0]
    when every game is lost, and it stays inside [0, 1]."""
    n = max(w + d + l, 1)
    s = (w + 0.5 * d) / n
    var = (w * (1 - s) ** 2 + d * (0.5 - s) ** 2 + l * s ** 2) / n     # per-game score variance
    k = z * z / n
    centre = (s + k / 2) / (1 + k)
    half = z * math.sqrt(var / n + k / (4 * n)) / (1 + k)
    return s, max(0.0, centre - half), min(1.0, centre + half)


def score_line(w, d, l, z=1.96):
    """Score with a 95% Wilson interval and the Elo difference each end implies."""
    s, lo, hi = score_interval(w, d, l, z)

    def elo(x):
        return "-inf" if x <= 0 else "+inf" if x >= 1 else f"{-400 * math.log10(1 / x - 1) + 0.0:+.0f}"
    return f"{w}/{d}/{l} | {s:.3f} [{lo:.3f}, {hi:.3f}] | {elo(s)} [{elo(lo)}, {elo(hi)}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--make-mates", action="store_true")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run", help="trained chess run folder (load_player)")
    ap.add_argument("--simulations", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--games", type=int, default=100)
    ap.add_argument("--max-plies", type=int, default=300)
    ap.add_argument("--sf-nodes", type=int, default=100)
    ap.add_argument("--skip-stockfish", action="store_true")
    ap.add_argument("--run-only", action="store_true", help="with --run: no baseline rows (random, greedy players)")
    args = ap.parse_args()
    if args.make_mates:
        t0 = time.perf_counter()
        found, tried = make_mates(args.count, args.seed)
        write_mates(found, tried, args.seed)
        print(f"{time.perf_counter() - t0:.0f}s")
        return

    if not args.skip_stockfish and not Path(STOCKFISH).is_file():     # before the long part, not after it
        raise SystemExit(f"no Stockfish at {STOCKFISH}: install it (Debian: apt-get install stockfish) "
                         "or pass --skip-stockfish")
    # factories: every puzzle set and every match gets a fresh, identically seeded random/greedy player,
    # so a baseline row does not depend on which matches were played before it
    players = {"random": lambda: random_player(args.seed), "greedy (1-ply material)": lambda: greedy_player(args.seed + 1)}
    if args.run:
        import torch
        if not torch.cuda.is_available():
            torch.set_num_threads(1)                 # CPU runs share small machines (CI, laptops)
        choose, player = network_player(args.run, args.simulations, args.device)
        name = f"run {Path(args.run).name} ({player.simulations} sims, {player.game.device})"
        players = {name: lambda: choose} if args.run_only else {name: lambda: choose, **players}
    mates = {k: load_mates(k) for k in (1, 2)}
    print(f"| player | mate-in-1 ({len(mates[1])}) | mate-in-2 ({len(mates[2])}) |\n|---|---|---|")
    for name, make in players.items():
        print(f"| {name} | {100 * mate_accuracy(make(), mates[1]):.1f}% | {100 * mate_accuracy(make(), mates[2]):.1f}% |",
              flush=True)

    opponents = {"random": lambda: random_player(args.seed + 3), "greedy (1-ply material)": lambda: greedy_player(args.seed + 2)}
    engine = None
    if not args.skip_stockfish:
        engine = chess.engine.SimpleEngine.popen_uci(STOCKFISH)
        engine.configure({"Threads": 1, "Hash": 16})
        print(f"\nStockfish: {engine.id.get('name', STOCKFISH)}")
        # Skill Level < 20 picks among moves with Stockfish's own clock-seeded generator: not repeatable
        opponents["stockfish skill 0"] = lambda: skill_player(engine, 0, chess.engine.Limit(nodes=10_000))
        opponents[f"stockfish {args.sf_nodes} nodes"] = lambda: skill_player(engine, 20, chess.engine.Limit(nodes=args.sf_nodes))
    print(f"\n{args.games} games each (W/D/L from the player's side; score [95% Wilson]; Elo [95%])\n")
    print("| player | opponent | W/D/L | score [95%] | Elo [95%] | time |\n|---|---|---|---|---|---|")
    try:
        for name, make in players.items():
            for oname, make_opp in opponents.items():
                if oname == name:                  # itself says nothing
                    continue
                t0 = time.perf_counter()
                w, d, l = play_match(make(), make_opp(), args.games, args.max_plies, args.seed)
                print(f"| {name} | {oname} | {score_line(w, d, l)} | {time.perf_counter() - t0:.0f}s |", flush=True)
    finally:
        if engine is not None:
            engine.quit()


def skill_player(engine, skill, limit):
    """Stockfish at a fixed Skill Level and search limit (the option is set before every move, so
    two Stockfish opponents can share one engine process)."""
    def choose(boards):
        engine.configure({"Skill Level": skill})
        return [engine.play(b, limit).move for b in boards]
    return choose


if __name__ == "__main__":
    main()
