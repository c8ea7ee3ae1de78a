/* Perfect Connect Four solver (7 columns x 6 rows), written for this project's benchmarks.
 *
 * Built at run time by bench/connect4_solver.py (cc -O2 -shared) and loaded with ctypes; the
 * Python file holds a slower reference implementation of the same search that the tests compare
 * against this one.
 *
 * Board: two 64-bit bitboards. Column c owns bits 7c .. 7c+5 (bottom to top); bit 7c+6 is an
 * always-empty guard so that shifts by 1 (vertical), 6, 7, 8 (diagonals, horizontal) never wrap
 * from one column into the next.  `cur` holds the stones of the side to move, `all` every stone.
 *
 * Score of a position, for the side to move: 0 for a draw; a win whose winning stone is played
 * when m stones are already on the board scores (43 - m) / 2 (integer division), i.e. the number
 * of own stones still unplayed at the end, plus one; a loss is the negative of the opponent's
 * win. So faster wins score higher and slower losses score higher (less negative).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define W 7
#define H 6
#define CELLS (W * H)

typedef uint64_t bb;

static const bb BOTTOM = 0x0040810204081ULL;             /* bit 7c for c = 0..6 */
static const bb FULL = 0x0040810204081ULL * 0x3FULL;      /* the 42 playable cells */

static bb column_cells(int c) { return 0x3FULL << (7 * c); }

/* Empty cells where `me` would complete four in a row (playable now or not). */
static bb threats(bb me, bb all) {
    bb t = (me << 1) & (me << 2) & (me << 3);             /* vertical: three below */
    static const int dirs[3] = {7, 6, 8};                 /* horizontal, two diagonals */
    for (int k = 0; k < 3; k++) {
        int d = dirs[k];
        bb p = (me << d) & (me << 2 * d);                 /* two to the left of x */
        t |= p & (me << 3 * d);                           /* xxx_ */
        t |= p & (me >> d);                               /* xx_x */
        p = (me >> d) & (me >> 2 * d);                    /* two to the right of x */
        t |= p & (me >> 3 * d);                           /* _xxx */
        t |= p & (me << d);                               /* x_xx */
    }
    return t & (FULL ^ all);
}

static bb playable(bb all) { return (all + BOTTOM) & FULL; }

static int popcount(bb x) { return __builtin_popcountll(x); }

/* ---- transposition table: one 64-bit word per slot: key (49 bits) << 8 | flag << 6 | value+32 */
#define TT_SIZE 8388593ULL                                /* prime, 64 MiB */
static bb *tt = NULL;
enum { UPPER = 1, LOWER = 2, EXACT = 3 };

static void tt_put(bb key, int flag, int v) {
    tt[key % TT_SIZE] = (key << 8) | ((bb)flag << 6) | (bb)(v + 32);
}

static int tt_get(bb key, int *flag, int *v) {
    bb e = tt[key % TT_SIZE];
    if (e == 0 || (e >> 8) != key) return 0;
    *flag = (int)((e >> 6) & 3);
    *v = (int)(e & 63) - 32;
    return 1;
}

static uint64_t nodes;

/* Negamax with alpha-beta (fail-hard) over the window [alpha, beta]. Returns the exact score when
 * it lies strictly inside the window, else a bound on the correct side. */
static int negamax(bb cur, bb all, int n, int alpha, int beta) {
    nodes++;
    bb moves = playable(all);
    bb mine = threats(cur, all), theirs = threats(cur ^ all, all);
    if (mine & moves) return (CELLS + 1 - n) / 2;          /* win now */
    bb forced = theirs & moves;
    if (forced & (forced - 1)) return -(CELLS - n) / 2;    /* two open threats: lost next move */
    if (forced) moves = forced;                            /* must block */
    moves &= ~(theirs >> 1);                               /* never play just below their threat */
    if (!moves) return -(CELLS - n) / 2;
    if (n >= CELLS - 2) return 0;                          /* board fills without a four */

    int lo = -(CELLS - 2 - n) / 2, hi = (CELLS - 1 - n) / 2;   /* no loss/win before that */
    if (alpha < lo) { alpha = lo; if (alpha >= beta) return alpha; }
    if (beta > hi) { beta = hi; if (alpha >= beta) return beta; }

    bb key = cur + all + BOTTOM;
    int flag, v;
    if (tt_get(key, &flag, &v)) {
        if (flag == EXACT) return v;
        if (flag == LOWER && v > alpha) { alpha = v; if (alpha >= beta) return alpha; }
        if (flag == UPPER && v < beta) { beta = v; if (alpha >= beta) return beta; }
    }

    /* Order: most new own threats first, ties broken centre-first (stable insertion sort). */
    static const int centre[W] = {3, 2, 4, 1, 5, 0, 6};
    bb list[W]; int rank[W], k = 0;
    for (int i = 0; i < W; i++) {
        bb m = moves & column_cells(centre[i]);
        if (!m) continue;
        int r = popcount(threats(cur | m, all | m));
        int j = k++;
        while (j > 0 && rank[j - 1] < r) { list[j] = list[j - 1]; rank[j] = rank[j - 1]; j--; }
        list[j] = m; rank[j] = r;
    }
    int a0 = alpha;
    for (int i = 0; i < k; i++) {
        bb m = list[i];
        int s = -negamax(cur ^ all, all | m, n + 1, -beta, -alpha);
        if (s >= beta) { tt_put(key, LOWER, s); return s; }
        if (s > alpha) alpha = s;
    }
    tt_put(key, alpha > a0 ? EXACT : UPPER, alpha);
    return alpha;
}

/* Exact score by repeated null-window searches that bisect the score range (each [m, m+1] search
 * only answers "above m or not", which prunes far more than a full window). */
static int solve_bb(bb cur, bb all, int n) {
    int lo = -(CELLS - n) / 2, hi = (CELLS + 1 - n) / 2;
    while (lo < hi) {
        int m = lo + (hi - lo) / 2;
        if (m <= 0 && lo / 2 < m) m = lo / 2;              /* probe near 0 first: most positions */
        else if (m >= 0 && hi / 2 > m) m = hi / 2;         /* are decided by the win/draw boundary */
        int r = negamax(cur, all, n, m, m + 1);
        if (r <= m) hi = r; else lo = r;
    }
    return lo;
}

/* ---- exported API ------------------------------------------------------------------------- */

int c4_init(void) {
    if (!tt) tt = calloc(TT_SIZE, sizeof(bb));
    return tt != NULL;
}

void c4_reset(void) { if (tt) memset(tt, 0, TT_SIZE * sizeof(bb)); }

uint64_t c4_nodes(void) { return nodes; }

/* Play `moves` ("4453": 1-based columns). Returns the number of stones, -1 on an illegal move or
 * a move after a four was made (such positions have no value for the side to move). */
static int replay(const char *moves, bb *cur, bb *all) {
    *cur = 0; *all = 0;
    int n = 0;
    for (const char *p = moves; *p; p++, n++) {
        int c = *p - '1';
        if (c < 0 || c >= W || (*all & column_cells(c) & (1ULL << (7 * c + 5)))) return -1;
        if (threats(*cur, *all) & ((*all + BOTTOM) & column_cells(c))) return -1;  /* wins: game over */
        *cur ^= *all;
        *all |= (*all + BOTTOM) & column_cells(c);
    }
    return n;
}

/* Score of the position for the side to move; -1000 for an illegal/finished move string. */
int c4_solve(const char *moves) {
    bb cur, all;
    int n = replay(moves, &cur, &all);
    if (n < 0 || !c4_init()) return -1000;
    if (n == CELLS) return 0;
    return solve_bb(cur, all, n);
}

/* Score of each column's move for the mover (out[c]); -1000 for a full column. Returns 0, or -1 on
 * an illegal/finished move string. */
int c4_move_values(const char *moves, int *out) {
    bb cur, all;
    int n = replay(moves, &cur, &all);
    if (n < 0 || !c4_init()) return -1;
    bb moves_bb = playable(all), wins = threats(cur, all);
    for (int c = 0; c < W; c++) {
        bb m = moves_bb & column_cells(c);
        if (!m) out[c] = -1000;
        else if (m & wins) out[c] = (CELLS + 1 - n) / 2;
        else if (n + 1 == CELLS) out[c] = 0;
        else out[c] = -solve_bb(cur ^ all, all | m, n + 1);
    }
    return 0;
}
