"""Perfect Connect Four solver: exact game-theoretic scores for the project's strength benchmarks.

    from connect4_solver import solve, move_values
    solve("4453")          # score for the side to move
    move_values("4453")    # [score of playing column 1, ..., column 7], None for a full column

Positions are move strings of 1-based columns played from the empty board ("4453"), the format of
the notebook's `from_moves`.

Score convention (the usual one for this game): 0 is a draw; a win whose winning stone is played
when m stones are already on the board scores (43 - m) // 2 for the winner, so the earliest wins
score highest; a loss is minus the winner's score. The empty board scores +1 (the first player
wins with the centre opening, with almost the whole board filled).

Two implementations of the same search (bitboards, negamax with alpha-beta, transposition table,
move ordering, null-window bisection of the score range):
  * C (`connect4_solver.c`), compiled on first use with the system C compiler into a shared library
    next to this file's build folder and loaded with ctypes: fast enough to label early positions;
  * pure Python (`PySolver`): the readable reference, slow, used by the tests to check the C version
    and as a fallback when no compiler is present.
Why our own: the benchmark's labels must be trustworthy and reproducible from this repository alone.

Moves strings that contain a move after a four was made, or whose last move made a four (a finished
game), or that overfill a column, raise ValueError.
"""
import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

WIDTH, HEIGHT = 7, 6
CELLS = WIDTH * HEIGHT
BOTTOM = sum(1 << (7 * c) for c in range(WIDTH))          # lowest cell of every column
FULL = BOTTOM * ((1 << HEIGHT) - 1)                       # all 42 playable cells
CENTRE_FIRST = (3, 2, 4, 1, 5, 0, 6)
SRC = Path(__file__).with_name("connect4_solver.c")


def column_cells(c):
    return ((1 << HEIGHT) - 1) << (7 * c)


def threats(me, every):
    """Empty cells where the stones `me` would complete four in a row (playable now or later).

    Bit layout: column c uses bits 7c..7c+5, bit 7c+6 is an always-empty guard, so a chain of
    shifts by 1, 6, 7 or 8 from a real cell meets the guard before it could wrap into a wrong
    column."""
    t = (me << 1) & (me << 2) & (me << 3)                 # vertical: three below
    for d in (7, 6, 8):                                   # horizontal and both diagonals
        p = (me << d) & (me << 2 * d)
        t |= p & ((me << 3 * d) | (me >> d))              # xxx_ and xx_x
        p = (me >> d) & (me >> 2 * d)
        t |= p & ((me >> 3 * d) | (me << d))              # _xxx and x_xx
    return t & (FULL ^ every)


def playable(every):
    return (every + BOTTOM) & FULL


def replay(moves):
    """(cur, every, n) bitboards after `moves`: cur = stones of the side to move."""
    cur = every = 0
    for n, ch in enumerate(moves):
        c = ord(ch) - ord("1")
        if not 0 <= c < WIDTH:
            raise ValueError(f"bad column {ch!r} in {moves!r}")
        cell = playable(every) & column_cells(c)
        if not cell:
            raise ValueError(f"column {ch} is full at move {n + 1} of {moves!r}")
        if cell & threats(cur, every):
            raise ValueError(f"move {n + 1} of {moves!r} makes four: the game is over")
        cur, every = cur ^ every, every | cell
    return cur, every, len(moves)


class PySolver:
    """Reference solver in pure Python; same algorithm as the C file, written plainly."""

    def __init__(self):
        self.table = {}                                   # key -> (flag, value)
        self.nodes = 0

    def negamax(self, cur, every, n, alpha, beta):
        """Score of the position if inside (alpha, beta), else a bound on the right side."""
        self.nodes += 1
        moves = playable(every)
        if threats(cur, every) & moves:
            return (CELLS + 1 - n) // 2                   # win now
        theirs = threats(cur ^ every, every)
        forced = theirs & moves
        if forced & (forced - 1):
            return -((CELLS - n) // 2)                    # two threats to block: lost
        if forced:
            moves = forced
        moves &= ~(theirs >> 1)                           # never play just under their threat
        if not moves:
            return -((CELLS - n) // 2)
        if n >= CELLS - 2:
            return 0
        alpha = max(alpha, -((CELLS - 2 - n) // 2))       # they cannot win before their 2nd move
        beta = min(beta, (CELLS - 1 - n) // 2)            # we cannot win before our next move
        if alpha >= beta:
            return alpha
        key = cur + every + BOTTOM
        flag, v = self.table.get(key, (None, 0))
        if flag == "exact":
            return v
        if flag == "lower":
            alpha = max(alpha, v)
        elif flag == "upper":
            beta = min(beta, v)
        if alpha >= beta:
            return alpha
        a0 = alpha
        for m in self.ordered(cur, every, moves):
            s = -self.negamax(cur ^ every, every | m, n + 1, -beta, -alpha)
            if s >= beta:
                self.table[key] = ("lower", s)
                return s
            alpha = max(alpha, s)
        self.table[key] = ("exact" if alpha > a0 else "upper", alpha)
        return alpha

    @staticmethod
    def ordered(cur, every, moves):
        """Moves that create the most own threats first, ties centre-first."""
        cells = [moves & column_cells(c) for c in CENTRE_FIRST if moves & column_cells(c)]
        return sorted(cells, key=lambda m: -bin(threats(cur | m, every | m)).count("1"))

    def solve_bb(self, cur, every, n):
        """Exact score by null-window searches bisecting the possible range."""
        lo, hi = -((CELLS - n) // 2), (CELLS + 1 - n) // 2
        while lo < hi:
            m = lo + (hi - lo) // 2
            if m <= 0 and int(lo / 2) < m:
                m = int(lo / 2)
            elif m >= 0 and hi // 2 > m:
                m = hi // 2
            r = self.negamax(cur, every, n, m, m + 1)
            if r <= m:
                hi = r
            else:
                lo = r
        return lo

    def solve(self, moves):
        cur, every, n = replay(moves)
        return 0 if n == CELLS else self.solve_bb(cur, every, n)

    def move_values(self, moves):
        cur, every, n = replay(moves)
        out = []
        for c in range(WIDTH):
            m = playable(every) & column_cells(c)
            if not m:
                out.append(None)
            elif m & threats(cur, every):
                out.append((CELLS + 1 - n) // 2)
            elif n + 1 == CELLS:
                out.append(0)
            else:
                out.append(-self.solve_bb(cur ^ every, every | m, n + 1))
        return out


class CSolver:
    """The C solver via ctypes. Its transposition table (64 MiB) persists across calls: entries
    are facts about positions, so solving many related positions gets faster."""

    def __init__(self, build_dir=None):
        self.lib = ctypes.CDLL(str(build_library(build_dir)))
        self.lib.c4_solve.argtypes = [ctypes.c_char_p]
        self.lib.c4_move_values.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        self.lib.c4_nodes.restype = ctypes.c_uint64
        if not self.lib.c4_init():
            raise MemoryError("connect4 solver: cannot allocate the transposition table")

    @property
    def nodes(self):
        return self.lib.c4_nodes()

    def solve(self, moves):
        replay(moves)                                     # validates, with a clear message
        return self.lib.c4_solve(moves.encode())

    def move_values(self, moves):
        replay(moves)
        out = (ctypes.c_int * WIDTH)()
        if self.lib.c4_move_values(moves.encode(), out) != 0:
            raise ValueError(f"bad position {moves!r}")
        return [None if v == -1000 else v for v in out]


def build_library(build_dir=None):
    """Compile connect4_solver.c (once per source version) and return the .so path."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc/clang) found")
    build_dir = Path(build_dir or os.environ.get("C4_SOLVER_BUILD", Path(tempfile.gettempdir()) / "c4solver"))
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{SRC.stat().st_mtime_ns}-{SRC.stat().st_size}"
    lib = build_dir / f"connect4_solver-{stamp}.so"
    if not lib.exists():
        tmp = lib.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SRC)], check=True)
        os.replace(tmp, lib)                              # atomic: parallel builds cannot clash
    return lib


_default = None


def default_solver():
    """The C solver when a compiler exists, else the Python one (warned: much slower)."""
    global _default
    if _default is None:
        try:
            _default = CSolver()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            import warnings
            warnings.warn(f"C solver unavailable ({e}); using the slow Python solver")
            _default = PySolver()
    return _default


def solve(moves):
    """Score of `moves` for the side to move (see the module docstring)."""
    return default_solver().solve(moves)


def move_values(moves):
    """Per column (index 0 = column "1"): the mover's score after playing it; None if full."""
    return default_solver().move_values(moves)


def outcome(score):
    """'W', 'D' or 'L' for a score."""
    return "W" if score > 0 else "L" if score < 0 else "D"


if __name__ == "__main__":
    import sys
    import time
    for line in sys.argv[1:] or [""]:
        t = time.perf_counter()
        print(line or "(empty)", move_values(line), f"{time.perf_counter() - t:.2f}s")
