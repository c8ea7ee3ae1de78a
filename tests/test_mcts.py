"""Batched MCTS: forced wins and blocks, legal visits only, visit sums, batch independence, value signs."""
import functools
import random

import pytest
import torch


@pytest.fixture(scope="module")
def game(nb):
    return nb.make_game("connect4")


def uniform_eval(state):
    """Deterministic dummy evaluator: uniform logits, value 0."""
    B = state.cur.shape[0]
    return torch.zeros(B, 7), torch.zeros(B)


def hash_eval(state):
    """Deterministic per-position evaluator (integer hash of the bitboards): a game's output does not
    depend on the other games in the batch, bit for bit."""
    h = (state.cur * 1_000_003 + state.opp * 7_919 + 12_345) % 1_000_000_007
    a = torch.arange(7, dtype=torch.int64)
    logits = (((h.unsqueeze(1) * (a + 3)) % 997).float() / 997.0) * 2.0       # (B, 7) in [0, 2)
    value = ((h % 2001).float() - 1000.0) / 1000.0 * 0.5                       # (B,) in [-0.5, 0.5]
    return logits, value


class ZeroNet(torch.nn.Module):
    """A 'network' for MCTSPlayer: uniform logits and zero value for every position."""

    def forward(self, x):
        return torch.zeros(x.shape[0], 7), torch.zeros(x.shape[0])


@pytest.fixture(scope="module")
def net_eval(nb, game):
    torch.manual_seed(0)
    net = nb.build_network(game, 8, 1, "cpu")
    return nb.make_evaluator(game, net, nb.choose_precision("cpu"))


def random_moves(rng, n, game):
    """Random legal move string of up to n plies that is not finished."""
    while True:
        s, moves = game.initial_state(1), ""
        for _ in range(n):
            legal = game.legal_mask(s)[0].nonzero().flatten().tolist()
            if not legal:
                break
            a = rng.choice(legal)
            nxt = game.step(s, torch.tensor([a]))
            if bool(game.terminal(nxt)[0][0]):
                break
            s, moves = nxt, moves + str(a + 1)
        return moves


def winning_moves(game, state, i):
    """Actions that win at once for the player to move in game i."""
    one = game.index(state, i)
    out = []
    for a in game.legal_mask(one)[0].nonzero().flatten().tolist():
        done, value = game.terminal(game.step(one, torch.tensor([a])))
        if bool(done[0]) and float(value[0]) == -1.0:
            out.append(a)
    return out


def find_positions(game, rng, want, count):
    """Random positions where `want(state) -> bool` holds (state: a batch of one)."""
    found = []
    while len(found) < count:
        moves = random_moves(rng, rng.randrange(4, 30), game)
        s = game.from_moves([moves])
        if want(s):
            found.append(moves)
    return found


def has_win(game):
    return lambda s: bool(winning_moves(game, s, 0))


def must_block(game):
    """The mover has no win, and exactly one move stops the opponent's immediate win."""
    def want(s):
        if winning_moves(game, s, 0):
            return False
        good = []
        for a in game.legal_mask(s)[0].nonzero().flatten().tolist():
            nxt = game.step(s, torch.tensor([a]))
            if not winning_moves(game, nxt, 0):
                good.append(a)
        return len(good) == 1 and len(game.legal_mask(s)[0].nonzero()) > 2
    return want


# --- forced wins and blocks ---
HAND_WINS = ["434343",     # X to move: column 4 (vertical)
             "1415262",    # O to move: column 3 or 7 (horizontal)
             "112233",     # X to move: column 4 (horizontal)
             "1223343474"]  # X to move: column 4 (diagonal)


@pytest.mark.parametrize("sweep", [True, False])
@pytest.mark.parametrize("evaluator", ["uniform", "net"])
def test_takes_win_in_one(nb, game, net_eval, evaluator, sweep):
    """With the root sweep the win is proven before any simulation (2 suffice); without it the tree
    finds it and the solver proves it once the winning child is expanded."""
    ev = uniform_eval if evaluator == "uniform" else net_eval
    rng = random.Random(10)
    moves = HAND_WINS + find_positions(game, rng, has_win(game), 10)
    s = game.from_moves(moves)
    firsts = game.to_move_is_first(s).tolist()
    assert any(firsts) and not all(firsts), "positions should cover both colours to move"
    res = nb.BatchedMCTS(game, ev, 2 if sweep else 64, root_sweep=sweep).search(s)
    chosen = res.action.tolist()
    for i, m in enumerate(moves):
        wins = winning_moves(game, s, i)
        assert wins, f"test data: {m} has no win in one"
        assert chosen[i] in wins, f"{m}: played {chosen[i] + 1}, wins are {[w + 1 for w in wins]}"
    assert res.proven.tolist() == [1] * len(moves) and res.proven_plies.tolist() == [1] * len(moves)
    assert res.root_value.tolist() == [1.0] * len(moves)
    # the policy target puts its mass evenly on the winning moves (without the sweep: those the tree found)
    for i in range(len(moves)):
        wins = winning_moves(game, s, i)
        target = {int(a): float(p) for a, p in zip(res.child_action[i], res.policy[i]) if p > 0}
        assert (sorted(target) == wins) if sweep else set(target) <= set(wins), (moves[i], target)
        assert all(abs(p - 1 / len(target)) < 1e-6 for p in target.values()), (moves[i], target)


def test_blocks_an_immediate_threat(nb, game):
    rng = random.Random(11)
    moves = ["15161",     # O to move: must block column 1 (vertical)
             "11223",     # O to move: must block column 4 (horizontal)
             "123242"]    # X to move: must block column 2 (vertical)
    moves += find_positions(game, rng, must_block(game), 5)
    s = game.from_moves(moves)
    firsts = game.to_move_is_first(s).tolist()
    assert any(firsts) and not all(firsts)
    res = nb.BatchedMCTS(game, uniform_eval, 160).search(s)
    chosen = res.action.tolist()
    for i, m in enumerate(moves):
        one = game.index(s, i)
        assert not winning_moves(game, one, 0), f"test data: {m} has a win for the mover"
        safe = [a for a in game.legal_mask(one)[0].nonzero().flatten().tolist()
                if not winning_moves(game, game.step(one, torch.tensor([a])), 0)]
        assert len(safe) == 1, f"test data: {m} should have exactly one saving move, has {safe}"
        assert chosen[i] == safe[0], f"{m}: played {chosen[i] + 1}, must block at {safe[0] + 1}"


# --- legality and visit counts ---
def full_column_positions(game, rng, n):
    """Random unfinished positions, many with one or more full columns."""
    out = []
    while len(out) < n:
        s, moves = game.initial_state(1), ""
        target = rng.randrange(0, 7)
        for _ in range(rng.randrange(0, 36)):
            legal = game.legal_mask(s)[0].nonzero().flatten().tolist()
            a = target if target in legal and rng.random() < 0.5 else rng.choice(legal)
            nxt = game.step(s, torch.tensor([a]))
            if bool(game.terminal(nxt)[0][0]):
                break
            s, moves = nxt, moves + str(a + 1)
        out.append(moves)
    return out


@pytest.mark.parametrize("evaluator,noise", [("uniform", False), ("net", False), ("hash", True), ("net", True)])
def test_visits_only_legal_and_sum_to_simulations(nb, game, net_eval, evaluator, noise):
    ev = {"uniform": uniform_eval, "hash": hash_eval, "net": net_eval}[evaluator]
    rng = random.Random(12)
    moves = full_column_positions(game, rng, 24)
    s = game.from_moves(moves)
    legal = game.legal_mask(s)
    assert (~legal).any(dim=1).sum() >= 5, "test data: want positions with full columns"
    sims = 24
    torch.manual_seed(0)
    res = nb.BatchedMCTS(game, ev, sims).search(s, add_noise=noise)
    assert res.visits.shape == (24, 7)
    assert (res.visits[~legal] == 0).all(), "visits on an illegal action"
    # every simulation visits a root move, except where the root is proven: proven nodes are leaves
    open_ = res.proven == nb.UNPROVEN
    assert open_.sum() >= 12, "test data: most roots should stay unproven"
    assert torch.equal(res.visits.sum(1)[open_], torch.full((int(open_.sum()),), float(sims)))
    assert torch.equal(res.child_visits.sum(1), res.visits.sum(1)) and (res.visits.sum(1) <= sims).all()
    # child_action lists exactly the legal actions
    for i in range(24):
        acts = sorted(a for a in res.child_action[i].tolist() if a >= 0)
        assert acts == legal[i].nonzero().flatten().tolist()
    assert torch.isfinite(res.root_value).all() and (res.root_value.abs() <= 1).all()


def test_noise_changes_search_but_keeps_it_legal(nb, game):
    s = game.from_moves(["", "333333", "1111112222223"] * 4)
    legal = game.legal_mask(s)
    torch.manual_seed(1)
    a = nb.BatchedMCTS(game, uniform_eval, 32, dirichlet_frac=0.5).search(s, add_noise=True)
    b = nb.BatchedMCTS(game, uniform_eval, 32, dirichlet_frac=0.5).search(s, add_noise=False)
    assert (a.visits[~legal] == 0).all()
    assert (a.visits.sum(1) == 32).all()
    assert not torch.equal(a.visits, b.visits), "Dirichlet noise had no effect"


def test_finished_roots_get_no_visits(nb, game):
    s = game.from_moves(["4343434", "", "1122334"])
    res = nb.BatchedMCTS(game, uniform_eval, 16).search(s)
    assert res.visits[0].sum() == 0 and res.visits[2].sum() == 0
    assert res.visits[1].sum() == 16
    assert float(res.root_value[0]) == -1.0          # the rules' value for the player to move


# --- batch independence ---
@pytest.mark.parametrize("evaluator", ["hash", "uniform", "net"])
def test_game_alone_equals_game_in_batch(nb, game, net_eval, evaluator):
    ev = {"uniform": uniform_eval, "hash": hash_eval, "net": net_eval}[evaluator]
    rng = random.Random(13)
    moves = ["", "4", "434343", "333333"] + full_column_positions(game, rng, 6)
    s = game.from_moves(moves)
    mcts = nb.BatchedMCTS(game, ev, 40)
    batch = mcts.search(s)
    for i, m in enumerate(moves):
        alone = mcts.search(game.from_moves([m]))
        assert torch.equal(alone.visits[0], batch.visits[i]), (m, alone.visits[0], batch.visits[i])
        if evaluator == "net":       # float reductions may differ in the last bits with the batch size
            torch.testing.assert_close(alone.root_value[0], batch.root_value[i], rtol=0, atol=1e-5)
        else:
            assert float(alone.root_value[0]) == float(batch.root_value[i]), m


@pytest.mark.parametrize("moves", [[""], ["", "4", "123", "333333", "1122"]])
@pytest.mark.parametrize("evaluator", ["hash", "uniform"])
def test_tree_is_consistent(nb, game, moves, evaluator):
    """Every node the search created hangs under exactly one child slot of its parent (no subtree is
    overwritten), and a non-terminal node's visits are 1 (its own expansion) + its children's visits."""
    ev = {"uniform": uniform_eval, "hash": hash_eval}[evaluator]
    sims = 40
    t = nb.BatchedMCTS(game, ev, sims).search(game.from_moves(moves)).tree
    B, N, K = t.child.shape
    for b in range(B):
        refs = {}
        for n in range(N):
            for k in range(K):
                c = int(t.child[b, n, k])
                if c >= 0:
                    assert int(t.parent[b, c]) == n, (moves[b], n, k, c)
                    refs.setdefault(c, []).append((n, k))
        used = [n for n in range(1, N) if int(t.parent[b, n]) >= 0]
        for n in used:
            assert len(refs.get(n, [])) == 1, \
                f"{moves[b]!r}: node {n} (parent {int(t.parent[b, n])}) is not referenced by its parent"
        for n in [0] + used:
            if bool(t.terminal[b, n]):
                continue
            kids = [int(c) for c in t.child[b, n] if c >= 0]
            below = 1 + sum(float(t.visits[b, c]) for c in kids)
            if int(t.proven[b, n]) == nb.UNPROVEN:
                assert float(t.visits[b, n]) == below, (moves[b], n)
            else:                           # once proven, a node is a leaf: later visits stop at it
                assert float(t.visits[b, n]) >= below, (moves[b], n)
        assert float(t.visits[b, 0]) == sims + 1


def test_search_is_deterministic_without_noise(nb, game):
    s = game.from_moves(["", "44", "123"])
    a = nb.BatchedMCTS(game, hash_eval, 30).search(s)
    b = nb.BatchedMCTS(game, hash_eval, 30).search(s)
    assert torch.equal(a.visits, b.visits) and torch.equal(a.root_value, b.root_value)


# --- value signs ---
def test_root_value_sign_with_forced_win(nb, game):
    rng = random.Random(14)
    moves = HAND_WINS + find_positions(game, rng, has_win(game), 4)
    s = game.from_moves(moves)
    res = nb.BatchedMCTS(game, uniform_eval, 64).search(s)
    assert (res.root_value > 0.5).all(), res.root_value
    # the same position one ply later (the opponent just won) is -1 for the player to move
    won = game.step(s, res.action)
    done, value = game.terminal(won)
    assert done.all() and (value == -1).all()


def test_root_value_sign_when_every_move_loses(nb, game):
    """X to move; O has two open threats (columns 3 and 7 on the bottom row): every reply loses."""
    s = game.from_moves(["141526"])    # X: 1,1,2  O: 4,5,6 -> O threatens 3 and 7
    assert not winning_moves(game, s, 0)
    for a in game.legal_mask(s)[0].nonzero().flatten().tolist():
        assert winning_moves(game, game.step(s, torch.tensor([a])), 0), "test data: a reply should lose"
    res = nb.BatchedMCTS(game, uniform_eval, 200).search(s)
    assert float(res.root_value[0]) < -0.3, res.root_value


def test_backed_up_value_matches_rules_at_terminal_children(nb, game):
    """Q of a winning root child, seen from the root's mover, is +1 (no root sweep: the tree finds it)."""
    s = game.from_moves(["434343"])
    res = nb.BatchedMCTS(game, uniform_eval, 32, root_sweep=False).search(s)
    t = res.tree
    k = res.child_action[0].tolist().index(3)
    node = int(t.child[0, 0, k])
    assert node > 0 and bool(t.terminal[0, node]) and float(t.term_value[0, node]) == -1.0
    q = -float(t.value_sum[0, node]) / float(t.visits[0, node])
    assert q == 1.0


# --- move selection ---
def test_select_actions_greedy_and_sampled(nb):
    visits = torch.tensor([[1., 5., 2., 0., 0., 0., 0.],
                           [0., 0., 0., 0., 0., 0., 9.],
                           [3., 3., 3., 3., 3., 3., 4.]])
    greedy = nb.select_actions(visits, torch.zeros(3, dtype=torch.bool))
    assert greedy.tolist() == [1, 6, 6]
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(7)
    for _ in range(400):
        a = nb.select_actions(visits[:1], torch.ones(1, dtype=torch.bool), generator=gen)
        counts[a] += 1
    assert counts[3:].sum() == 0                      # zero visits are never sampled
    assert counts[0] > 0 and counts[2] > 0 and counts[1] > counts[2] > counts[0] * 0.8


# --- playing strength ---
def test_mcts_player_beats_random(nb, game):
    player = nb.MCTSPlayer(game, ZeroNet(), 32)
    rand = nb.RandomPlayer(game, torch.Generator().manual_seed(3))
    r = nb.play_match(game, player, rand, 40, seed=0)
    assert r["games"] == 40
    assert r["wins"] + r["draws"] + r["losses"] == r["games"]
    assert r["wins"] >= 32, r
    assert 0.0 <= r["score_lo"] <= r["score"] <= r["score_hi"] <= 1.0


def counting_searches(nb, monkeypatch, as_on_a_gpu=False):
    """BatchedMCTS that counts the objects built and (as_on_a_gpu: a graph-path search that believes
    it runs on CUDA, each capture a stand-in that replays the real simulation) the graphs captured."""
    built, captures = [], []

    class Counting(nb.BatchedMCTS):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            built.append(self)
            if as_on_a_gpu and self.runner is not None:
                self.runner.cuda_graphs = True
                self.runner.capture = functools.partial(capture, self.runner)

    def capture(runner, st, bound):
        captures.append((st.tree.child.shape[0], bound))
        return type("Replays", (), {"replay": lambda _: runner.simulate(st, bound)})()

    monkeypatch.setattr(nb, "BatchedMCTS", Counting)
    return built, captures


def test_mcts_player_reuses_its_search_per_batch_size(nb, game, monkeypatch):
    """Evaluation and the widget keep their search objects (on a GPU: their CUDA graphs): a second
    match builds none, and a third search at another simulation count builds one."""
    built, _ = counting_searches(nb, monkeypatch)
    player = nb.MCTSPlayer(game, ZeroNet(), 8)
    rand = nb.RandomPlayer(game, torch.Generator().manual_seed(3))
    nb.play_match(game, player, rand, 12, seed=0)
    first = len(built)
    assert first == len(player._searches) >= 1
    assert {b for b, _ in player._searches} <= set(range(1, 7)) and {s for _, s in player._searches} == {8}
    nb.play_match(game, player, rand, 12, seed=0)
    assert len(built) == first                            # every batch size seen already has its search
    s = game.from_moves(full_column_positions(game, random.Random(1), 3))
    player.analyse(s, 16)
    player.analyse(s, 16)
    assert len(built) == first + 1 and (3, 16) in player._searches


def test_mcts_player_on_the_graph_path_pads_batches_and_captures_once(nb, game, monkeypatch):
    """As on a GPU (stand-in captures on CPU): a shrinking match batch is padded to powers of two, so the
    searches built are a few sizes, each captured once for the depth buckets it needs; the padded search
    plays exactly what the eager player plays."""
    torch.manual_seed(0)
    net = nb.build_network(game, 8, 1, "cpu").eval()
    eager = nb.MCTSPlayer(game, net, 12)
    s = game.from_moves(full_column_positions(game, random.Random(7), 5))
    ref = eager.analyse(s)
    built, captures = counting_searches(nb, monkeypatch, as_on_a_gpu=True)
    graph = nb.MCTSPlayer(game, net, 12, graphs=True, log=[].append)
    got = graph.analyse(s)
    assert [m.graphs for m in built] == [True] and list(graph._searches) == [(8, 12)]   # 5 -> 8
    assert torch.equal(got.action, ref.action) and torch.equal(got.visits, ref.visits)
    assert got.visits.shape == (5, 7) and got.proven.shape == (5,)
    n = len(captures)
    assert n >= 1 and {b for b, _ in captures} == {8}
    graph.analyse(game.from_moves(full_column_positions(game, random.Random(8), 7)))   # 7 -> 8 as well
    assert len(built) == 1
    rand = nb.RandomPlayer(game, torch.Generator().manual_seed(3))
    nb.play_match(game, graph, rand, 16, seed=0)
    sizes = {b for b, _ in graph._searches}
    assert sizes <= {1, 2, 4, 8} and len(built) == len(sizes)
    per = [(b, d) for b, d in captures]
    assert len(per) == len(set(per))                      # no (batch, depth bucket) captured twice


def test_random_vs_random_is_balanced_and_counts_add_up(nb, game):
    a = nb.RandomPlayer(game, torch.Generator().manual_seed(4))
    b = nb.RandomPlayer(game, torch.Generator().manual_seed(5))
    r = nb.play_match(game, a, b, 200, seed=1)
    assert r["wins"] + r["draws"] + r["losses"] == r["games"] == 200
    assert 60 <= r["wins"] <= 140, r


def test_mcts_player_act_is_legal(nb, game):
    torch.manual_seed(0)
    net = nb.build_network(game, 8, 1, "cpu")
    player = nb.MCTSPlayer(game, net, 8)
    s = game.from_moves(full_column_positions(game, random.Random(15), 12))
    acts = player.act(s)
    legal = game.legal_mask(s)
    assert acts.shape == (12,)
    assert legal[torch.arange(12), acts].all()


def test_the_players_evaluator_averages_each_position_with_its_mirror(nb, game):
    """make_evaluator(mirror=True), what MCTSPlayer uses in Connect Four: the policy is the mean of the
    position's and its mirror's (probabilities, the mirror's mapped back column for column), the value
    the mean of both, so the output is exactly mirror-symmetric; without `mirror` (self-play's) and in a
    game without a mirror (chess) it is a single pass."""
    torch.manual_seed(3)
    net = nb.build_network(game, 8, 1, "cpu").eval()
    prec = nb.choose_precision("cpu")
    plain, mirror = nb.make_evaluator(game, net, prec), nb.make_evaluator(game, net, prec, mirror=True)
    rng = random.Random(5)
    moves = [random_moves(rng, rng.randrange(0, 20), game) for _ in range(24)]
    flipped = [m.translate(str.maketrans("1234567", "7654321")) for m in moves]
    s, sm = game.from_moves(moves), game.from_moves(flipped)
    (l, v), (lm, vm) = plain(s), plain(sm)
    assert not torch.allclose(l, lm.flip(-1), atol=1e-3)          # the net itself is not symmetric
    ml, mv = mirror(s)
    want = 0.5 * (l.softmax(-1) + lm.flip(-1).softmax(-1))
    torch.testing.assert_close(ml.softmax(-1), want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(mv, 0.5 * (v + vm), atol=1e-5, rtol=1e-4)
    mlm, mvm = mirror(sm)
    torch.testing.assert_close(mlm, ml.flip(-1), atol=1e-5, rtol=1e-4)   # symmetric by construction
    torch.testing.assert_close(mvm, mv, atol=1e-5, rtol=1e-4)
    player = nb.MCTSPlayer(game, net, 8)
    torch.testing.assert_close(player.evaluate(s)[1], mv)                # players evaluate with the mirror,
    want_moves = ml.masked_fill(~game.legal_mask(s), float("-inf")).argmax(1)
    torch.testing.assert_close(nb.raw_policy_moves(player, s), want_moves)   # the raw policy lines too
    torch.testing.assert_close(nb.MCTSPlayer(game, net, 8, mirror=False).evaluate(s)[1], v)   # unless told not to
    chess = nb.make_game("chess")
    cnet = nb.build_network(chess, 8, 1, "cpu").eval()
    cs = chess.initial_state(2)
    a, b = nb.make_evaluator(chess, cnet, prec)(cs), nb.make_evaluator(chess, cnet, prec, mirror=True)(cs)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
