"""The search's graph path (graphs=True): the sync-free simulation that a GPU captures as CUDA graphs.

On CPU the same code runs eagerly, so here it is checked against the eager loop for exact equality
(visit counts, value sums, root values, policy targets, moves) on both games, PUCT and Gumbel, with
and without root noise, and over several searches reusing the persistent buffers. A dispatch-level
op recorder proves that one simulation asks the device nothing (no .item(), no nonzero, no boolean
indexing), which is what lets CUDA capture it. The capture fallback is checked by making the capture
fail, disagree, fail in a later search or be interrupted. A run on the `meta` device (shapes, no
data) shows one simulation touches no CPU tensor. compile_search (torch.compile'd step, status and
select level in the simulations) is checked the same way, and its fallbacks by a compiler that fails
or miscompiles. The CUDA-only tests compare captured graphs, with plain and compiled functions, with
the eager loop on a GPU."""
import functools
import random

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from test_mcts import hash_eval, random_moves

# aten ops that read device data on the host (a sync on CUDA, and not capturable in a CUDA graph)
SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "is_nonzero", "unique_dim", "_unique2",
            "unique_consecutive", "repeat_interleave", "equal", "allclose"}


class OpRecorder(TorchDispatchMode):
    """Counts the aten ops run under it that compute (views excluded: a CPU proxy for kernel launches)
    and records every op that needs a host sync: the ops above, and indexing with a boolean mask (a
    data-dependent shape). A dtype conversion counts: under inference mode it arrives as `to`, which
    may return its input and so is marked a view, but copies when the dtype changes."""

    def __init__(self):
        super().__init__()
        self.count, self.syncs = 0, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name.split("::")[-1]
        out = func(*args, **(kwargs or {}))
        copied = name == "to" and isinstance(out, torch.Tensor) and out.data_ptr() != args[0].data_ptr()
        self.count += not func.is_view or copied
        if name in SYNC_OPS:
            self.syncs.append(name)
        if name.startswith("index") and any(
                isinstance(i, torch.Tensor) and i.dtype == torch.bool
                for a in args if isinstance(a, (list, tuple)) for i in a):
            self.syncs.append(name + " with a boolean mask")
        return out


@pytest.fixture(scope="module")
def c4(nb):
    return nb.make_game("connect4")


@pytest.fixture(scope="module")
def chess(nb):
    return nb.make_game("chess")


def net_eval(nb, game, seed=0):
    torch.manual_seed(seed)
    return nb.make_evaluator(game, nb.build_network(game, 8, 1, "cpu"), nb.choose_precision("cpu"))


def c4_roots(game, n=12, seed=0):
    rng = random.Random(seed)
    return game.from_moves([random_moves(rng, rng.randrange(0, 30), game) for _ in range(n)])


# en-passant captures possible at the root (the rules skip that code when no game has one, except
# on the sync-free path): white exf6, and black dxe3
EP_FENS = ["rnbqkbnr/ppp1p1pp/8/3pPp2/8/8/PPPP1PPP/RNBQKBNR w KQkq f6 0 3",
           "rnbqkbnr/ppp1pppp/8/8/3pP3/5N2/PPPP1PPP/RNBQKB1R b KQkq e3 0 3"]


def chess_roots(game, n=6, seed=0):
    """Positions after random legal plies, plus two with an en-passant capture at the root."""
    gen = torch.Generator().manual_seed(seed)
    s = game.initial_state(n)
    plies = torch.randint(0, 40, (n,), generator=gen)
    for k in range(40):
        legal, done, _ = game.status(s)
        legal[done, 0] = True
        a = torch.multinomial(legal.float(), 1, generator=gen).squeeze(1)
        nxt = game.step(s, a)
        keep = (plies > k) & ~game.status(nxt)[1]
        s = type(s)(**{f: torch.where(keep.view(-1, *[1] * (getattr(s, f).dim() - 1)), getattr(nxt, f),
                                      getattr(s, f)) for f in s.__dataclass_fields__})
    return game.from_fen(game.to_fen(s) + EP_FENS)


def same_result(a, b, where):
    for name in ("visits", "child_visits", "child_action", "policy", "action", "root_value", "proven",
                 "proven_plies"):
        assert torch.equal(getattr(a, name), getattr(b, name)), (where, name)
    assert torch.equal(a.tree.visits, b.tree.visits) and torch.equal(a.tree.value_sum, b.tree.value_sum), where
    assert torch.equal(a.tree.child, b.tree.child) and torch.equal(a.tree.depth, b.tree.depth), where
    for name in ("proven", "unsolved", "best", "plies", "root_end"):      # the solver's arrays
        assert torch.equal(getattr(a.tree, name), getattr(b.tree, name)), (where, name)


@pytest.mark.parametrize("which", ["connect4", "chess"])
@pytest.mark.parametrize("search", ["puct", "gumbel"])
@pytest.mark.parametrize("noise", [False, True], ids=["no-noise", "noise"])
def test_graph_path_equals_the_eager_loop(nb, c4, chess, which, search, noise):
    game = c4 if which == "connect4" else chess
    roots = [c4_roots(game, seed=k) for k in range(3)] if which == "connect4" else \
        [chess_roots(game, seed=k) for k in range(2)]
    ev = net_eval(nb, game)
    sims = 40 if which == "connect4" else 24
    eager = nb.BatchedMCTS(game, ev, sims, search=search, considered=4)
    graph = nb.BatchedMCTS(game, ev, sims, search=search, considered=4, graphs=True, sync_every=5)
    for k, root in enumerate(roots):                   # later searches reuse the persistent buffers
        torch.manual_seed(100 + k)
        a = eager.search(root, add_noise=noise)
        torch.manual_seed(100 + k)
        b = graph.search(root, add_noise=noise)
        same_result(a, b, (which, search, noise, k))
    assert graph.runner.st is not None and b.tree is graph.runner.st.tree


def mate_roots(game, rows, which="chess_mate1.txt"):
    """The positions of those rows of bench/data/<which> (mates in one or two, verified with python-chess)."""
    from pathlib import Path
    lines = (Path(__file__).resolve().parents[1] / "bench" / "data" / which).read_text().splitlines()
    fens = [line.split(";")[0] for line in lines if not line.startswith("#")]
    return game.from_fen([fens[i] for i in rows])


def uniform_chess(state):
    return torch.zeros(state.board.shape[0], 4672), torch.zeros(state.board.shape[0])


@pytest.mark.parametrize("which", ["connect4", "chess"])
@pytest.mark.parametrize("search", ["puct", "gumbel"])
def test_graph_path_equals_the_eager_loop_where_proofs_climb(nb, c4, chess, which, search):
    """Positions full of forced lines (late Connect Four middlegames; chess mates in two that a uniform
    evaluator proves at 128 simulations, and mates in one searched without the root sweep so that the
    tree proves them) and enough simulations that the solver proves nodes above the finished ones and
    whole roots: the solver's arrays and the proven choices are the same on both paths."""
    game = c4 if which == "connect4" else chess
    if which == "connect4":
        rng = random.Random(21)
        root = game.from_moves([random_moves(rng, rng.randrange(18, 30), game) for _ in range(16)])
        sims, ev, sweep = 200, hash_eval, True
    else:
        root = nb.state_cat([mate_roots(game, [14, 53, 58, 156], "chess_mate2.txt"), mate_roots(game, range(4))])
        sims, ev, sweep = 128, uniform_chess, False
    kw = dict(search=search, considered=8, fpu_reduction=0.0, root_sweep=sweep)
    a = nb.BatchedMCTS(game, ev, sims, **kw).search(root)
    b = nb.BatchedMCTS(game, ev, sims, graphs=True, **kw).search(root)
    same_result(a, b, (which, search))
    t = a.tree
    climbed = (t.proven != nb.UNPROVEN) & ~t.terminal & (t.parent >= 0)    # proven by the solver, not the rules
    assert int(climbed.sum()) >= 5, "test data: the solver should prove inner nodes"
    assert int((a.proven != nb.UNPROVEN).sum()) >= 1, "test data: some roots should be proven"


def test_deep_trees_cross_depth_buckets(nb, c4):
    """A sharp evaluator and many simulations make lines deeper than the first buckets:
    the host's depth bound must still cover every line, with rare depth reads."""
    root = c4_roots(c4, n=4, seed=7)
    a = nb.BatchedMCTS(c4, hash_eval, 300, c_puct=0.1).search(root)
    b = nb.BatchedMCTS(c4, hash_eval, 300, c_puct=0.1, graphs=True, sync_every=50).search(root)
    assert int(a.tree.depth.max()) > 12
    same_result(a, b, "deep")


@pytest.mark.parametrize("which", ["connect4", "chess"])
@pytest.mark.parametrize("search", ["puct", "gumbel"])
def test_one_simulation_asks_the_device_nothing(nb, c4, chess, which, search):
    game = c4 if which == "connect4" else chess
    root = c4_roots(game) if which == "connect4" else chess_roots(game)
    mcts = nb.BatchedMCTS(game, net_eval(nb, game), 16, search=search, considered=4, graphs=True)
    mcts.search(root)                                  # builds the persistent buffers
    st = mcts.runner.persistent(mcts._init_tree(root, False))
    game.sync_free = True
    try:
        with OpRecorder() as rec:
            mcts.runner.simulate(st, 8)
    finally:
        game.sync_free = False
    assert rec.syncs == [], rec.syncs
    assert rec.count > 50


def test_the_eager_loop_does_sync_so_the_recorder_can_tell(nb, c4):
    """The recorder is not blind: the eager loop's depth read per simulation is caught."""
    mcts = nb.BatchedMCTS(c4, hash_eval, 4)
    with OpRecorder() as rec:
        mcts.search(c4_roots(c4))
    assert "_local_scalar_dense" in rec.syncs


def as_on_a_gpu(nb, c4, sims=24):
    """A graph-path search that behaves as on CUDA (captures, checks, falls back) with a stand-in
    capture the test sets; -> (that search, its log, an eager search to compare with)."""
    log = []
    mcts = nb.BatchedMCTS(c4, hash_eval, sims, graphs=True, log=log.append)
    mcts.runner.cuda_graphs = True
    return mcts, log, nb.BatchedMCTS(c4, hash_eval, sims)


def test_a_failed_capture_falls_back_to_the_eager_loop_and_says_so(nb, c4):
    root = c4_roots(c4)
    mcts, log, eager = as_on_a_gpu(nb, c4)
    ref = eager.search(root)

    def broken(st, bound):
        raise RuntimeError("operation not permitted when stream is capturing")
    mcts.runner.capture = broken
    res = mcts.search(root)
    same_result(ref, res, "fallback")
    assert len(log) == 1 and "capturing a simulation" in log[0] and "not permitted" in log[0], log
    assert "eager" in log[0]
    assert mcts.graphs is False and mcts.runner is None            # later searches: the eager loop
    same_result(ref, mcts.search(root), "after the fallback")


class Replays:
    """A stand-in for a captured graph on CPU: replaying runs the real sync-free simulation."""

    def __init__(self, mcts, st, bound):
        self.mcts, self.st, self.bound = mcts, st, bound

    def replay(self):
        self.mcts.runner.simulate(self.st, self.bound)


def test_a_capture_failing_in_a_later_search_falls_back_mid_search(nb, c4):
    """Deeper trees need new depth buckets in later searches: a capture failing there (out of
    memory, say) must not stop self-play; the search finishes eagerly on a consistent tree."""
    roots = [c4_roots(c4, seed=k) for k in range(3)]
    mcts, log, eager = as_on_a_gpu(nb, c4)

    def capture(st, bound):
        if mcts.runner.checked:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return Replays(mcts, st, bound)
    mcts.runner.capture = capture
    same_result(eager.search(roots[0]), mcts.search(roots[0]), "first search")
    assert mcts.runner.checked and "matches the eager loop" in log[-1]
    mcts.runner.st.graphs.clear()                             # the next search needs a capture again
    same_result(eager.search(roots[1]), mcts.search(roots[1]), "capture fails mid-search")
    assert "failed (OutOfMemoryError: CUDA out of memory" in log[-1] and mcts.graphs is False, log
    same_result(eager.search(roots[2]), mcts.search(roots[2]), "eager from now on")


def test_an_interrupted_first_check_runs_again(nb, c4):
    """The stop button during the first search's comparison must not leave the graphs unchecked."""
    root = c4_roots(c4)
    mcts, log, eager = as_on_a_gpu(nb, c4)
    mcts.runner.capture = lambda st, bound: Replays(mcts, st, bound)
    real_eager = mcts._run_eager

    def interrupted(t):
        raise KeyboardInterrupt
    mcts._run_eager = interrupted
    with pytest.raises(KeyboardInterrupt):
        mcts.search(root)
    assert not mcts.runner.checked and log == []
    mcts._run_eager = real_eager
    same_result(eager.search(root), mcts.search(root), "checked again")
    assert mcts.runner.checked and len(log) == 1 and "matches the eager loop" in log[0], log


def test_a_capture_that_disagrees_is_not_used(nb, c4):
    """If the replayed simulations gave other results than the eager loop, self-play must not use them."""
    root = c4_roots(c4)
    mcts, log, eager = as_on_a_gpu(nb, c4)
    ref = eager.search(root)

    class SkipsBackup:                                 # a "graph" whose simulation forgets the backup
        def __init__(self, st, bound):
            self.st, self.bound = st, bound

        def replay(self):
            node, slot = mcts._select(self.st.tree, self.bound, self.st.path)
            mcts._expand(self.st.tree, self.st.s, node, slot)
            self.st.s += 1
    mcts.runner.capture = SkipsBackup
    res = mcts.search(root)
    same_result(ref, res, "disagreeing capture")
    assert len(log) == 1 and "differs from the eager loop" in log[0], log
    assert mcts.graphs is False


def test_a_capture_that_agrees_is_used_and_reported(nb, c4):
    root = c4_roots(c4)
    mcts, log, eager = as_on_a_gpu(nb, c4)
    ref = eager.search(root)
    mcts.runner.capture = lambda st, bound: Replays(mcts, st, bound)
    same_result(ref, mcts.search(root), "agreeing capture")
    assert mcts.graphs and len(log) == 1 and "matches the eager loop (visits equal in 100.0%" in log[0], log
    assert mcts.runner.st.graphs and set(mcts.runner.st.graphs) <= set(nb.DEPTH_BUCKETS)
    same_result(ref, mcts.search(root), "second search")    # no second check, same answer
    assert len(log) == 1


def test_self_play_keeps_one_search_object(nb, tmp_path):
    """The coordinator's search survives between calls (it holds the captured graphs) and is rebuilt
    when a search setting changes."""
    from test_storage import Log, small_cfg
    log = Log()
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=log)
    coord = nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb), storage, "cpu", log=log)
    m = coord.mcts
    assert coord.mcts is m and m.graphs is False          # CPU: the eager loop
    coord.cfg.simulations += 1
    assert coord.mcts is not m and coord.mcts.sims == coord.cfg.simulations
    m = coord.mcts
    coord.cfg.compile_search = True
    m2 = coord.mcts                                      # rebuilt; on CPU still the eager loop, where
    assert m2 is not m and m2.graphs is False and m2.compile_search is False   # there is nothing to compile
    assert coord.mcts is m2


@pytest.mark.parametrize("field", ["cuda_graphs", "compile_search"])
@pytest.mark.parametrize("value", ["yes", 1.5, None])
def test_search_switches_are_checked(nb, field, value):
    if value is None:
        assert getattr(nb.build_config("connect4", "cpu", **{field: True}), field) is True
        return
    with pytest.raises(nb.ConfigError, match=field.upper()):
        nb.build_config("connect4", "cpu", **{field: value})


# --- compile_search: the graph path's simulations call torch.compile'd rules, tree reads and writes, select level ---
COMPILED = ("step", "status", "encode", "_fetch", "_write", "_select_level")   # each checked before use
EXACT = {"eager_numerics.division_rounding": True, "eager_numerics.disable_ftz": True}


@pytest.mark.parametrize("which,search", [("connect4", "gumbel"), ("chess", "puct")])
def test_compiled_search_gives_the_eager_loops_results(nb, c4, chess, which, search):
    """Inductor (C++ on a CPU, Triton on a GPU) compiles the rules, encode, the tree reads and writes
    and (PUCT) the select level once per search object, each as one graph (dynamo counts them);
    every search then equals the eager loop with the plain functions, noise and all."""
    from torch._dynamo.utils import counters
    game = c4 if which == "connect4" else chess
    roots = [c4_roots(game, seed=k) for k in range(2)] if which == "connect4" else \
        [chess_roots(game, seed=k) for k in range(2)]
    ev, log = net_eval(nb, game), []
    eager = nb.BatchedMCTS(game, ev, 24, search=search, considered=4)
    compiled = nb.BatchedMCTS(game, ev, 24, search=search, considered=4, graphs=True, compile_search=True,
                              log=log.append)
    torch._dynamo.reset()                       # nothing compiled by earlier tests: each function compiles here
    graphs = counters["stats"]["unique_graphs"]
    for k, root in enumerate(roots):
        torch.manual_seed(k)
        a = eager.search(root, add_noise=True)
        torch.manual_seed(k)
        same_result(a, compiled.search(root, add_noise=True), (which, k))
    names = ("step", "status", "encode", "fetch", "write") + ("level",) * (search == "puct")
    # one graph each (the select level: one for the root, one below it), no recompile
    assert counters["stats"]["unique_graphs"] - graphs == len(names) + (search == "puct")
    assert len(log) == 1 and f"the {which} rules, tree reads and writes" in log[0] and "compiled and checked" in log[0]
    assert ("and select level compiled" in log[0]) == (search == "puct"), log
    assert (search == "gumbel") == ("the select level stays plain (Gumbel's scores)" in log[0]), log
    fns = compiled.runner.compiler.fns
    assert compiled.compile_search and all(isinstance(getattr(fns, k), functools.partial) for k in names)
    assert fns.level == compiled._select_level or search == "puct"
    assert compiled._fns.step == game.step and compiled._fns.level == compiled._select_level  # plain between searches
    assert compiled._fns.encode is None


def test_a_failed_compile_keeps_the_plain_functions_and_says_so(nb, c4, monkeypatch):
    root = c4_roots(c4)
    ref = nb.BatchedMCTS(c4, hash_eval, 16).search(root)

    def no_compiler(fn, **kw):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
    monkeypatch.setattr(torch, "compile", no_compiler)
    log = []
    mcts = nb.BatchedMCTS(c4, hash_eval, 16, graphs=True, compile_search=True, log=log.append)
    same_result(ref, mcts.search(root), "compile failed")
    assert len(log) == 1 and "torch.compile failed" in log[0] and "InvalidCxxCompiler" in log[0], log
    assert "plain functions" in log[0] and mcts.compile_search is False
    same_result(ref, mcts.search(root), "the next search")
    assert len(log) == 1                                                  # said once


def counting_compiler(calls, options, known=EXACT):
    """A stand-in for torch.compile that counts the calls of each compiled function and keeps the
    inductor options it was given; options outside `known` are refused as torch refuses them."""
    def compile(fn, **kw):
        if any(k not in known for k in kw.get("options") or {}):
            raise RuntimeError(f"Unexpected optimization option {sorted(kw['options'])[0]}, known options are ...")
        options.append(kw)

        def compiled(*args):
            calls[fn.__name__] += 1
            return fn(*args)
        return compiled
    return compile


@pytest.mark.parametrize("search,planes", [("puct", True), ("gumbel", False)])
def test_the_simulations_call_the_compiled_functions(nb, c4, monkeypatch, search, planes):
    """Every simulation of the graph path goes through the compiled step, status, tree read and
    writes, select levels (PUCT) and encode (where the evaluator takes planes) (a stand-in compiler
    that counts calls); the check takes 4 of each rule and read, 2 levels, one write (and its child's
    encode); the eager loop calls none of them. Each is compiled as one graph, fixed shapes, eager division rounding."""
    calls, options = dict.fromkeys(COMPILED, 0), []
    ev = net_eval(nb, c4) if planes else hash_eval
    monkeypatch.setattr(torch, "compile", counting_compiler(calls, options))
    levels = []
    real_select = nb.BatchedMCTS._select

    def select(self, t, max_depth, path=None):
        if path is not None:                  # the graph path: max_depth + 1 levels
            levels.append(max_depth + 1)
        return real_select(self, t, max_depth, path)
    monkeypatch.setattr(nb.BatchedMCTS, "_select", select)
    roots = [c4_roots(c4, seed=k) for k in range(2)]
    mcts = nb.BatchedMCTS(c4, ev, 16, search=search, considered=4, graphs=True, compile_search=True,
                          log=[].append)
    eager = nb.BatchedMCTS(c4, ev, 16, search=search, considered=4)
    for root in roots:
        same_result(eager.search(root), mcts.search(root), "counted")
    sims = 2 * 16
    assert calls == {"step": 4 + sims, "status": 4 + sims, "encode": (5 + sims) * planes, "_fetch": 4 + sims,
                     "_write": 1 + sims, "_select_level": (2 + sum(levels)) * (search == "puct")}, calls
    assert len(levels) == sims
    assert options == [dict(dynamic=False, fullgraph=True, options=EXACT)] * (4 + planes + (search == "puct")), options


def test_compile_fixed_asks_each_torch_for_eager_rounding_by_its_names(nb, c4, monkeypatch):
    """Torch versions name the eager-rounding settings differently: compile_fixed takes the first set
    this torch knows, compiles without them where it knows none, except for float code (the PUCT
    select level), which then stays plain, and the log says why."""
    for known, expect in ((EXACT, EXACT), ({"eager_numerics.division_rounding": True}, {"eager_numerics.division_rounding": True}),
                          ({"emulate_division_rounding": True}, {"emulate_division_rounding": True}),
                          ({"emulate_divison_rounding": True}, {"emulate_divison_rounding": True}), ({}, None)):
        calls, options = dict.fromkeys(COMPILED, 0), []
        monkeypatch.setattr(torch, "compile", counting_compiler(calls, options, known))
        assert nb.compile_fixed(lambda x: x) is not None
        assert options[-1] == dict(dynamic=False, fullgraph=True, **({"options": expect} if expect else {}))
        assert (nb.compile_fixed(lambda x: x, exact_floats=True) is None) == (expect is None)
    root, log = c4_roots(c4), []                                  # a torch with none of them
    mcts = nb.BatchedMCTS(c4, hash_eval, 16, graphs=True, compile_search=True, log=log.append)
    same_result(nb.BatchedMCTS(c4, hash_eval, 16).search(root), mcts.search(root), "no rounding settings")
    assert calls["_select_level"] == 0 and calls["step"] > 0
    assert "the select level stays plain (this torch cannot round compiled divisions as eager does)" in log[0], log


@pytest.mark.parametrize("wrong", COMPILED + ("_write-depth",))
def test_compiled_functions_that_differ_are_not_used(nb, c4, monkeypatch, wrong):
    """A compiler that miscompiles (here: one of the functions returns the games in reverse order; or
    the tree writes store a wrong depth) is caught by the check on the first search's tree, before any
    simulation uses it."""
    root, ev = c4_roots(c4), net_eval(nb, c4)
    ref = nb.BatchedMCTS(c4, ev, 16).search(root)

    def miscompile(fn, **kw):
        def compiled(obj, *args):
            out = fn(obj, *args)
            if wrong == "_write-depth" and fn.__name__ == "_write":
                t, s = args[:2]
                t.depth.view(-1)[torch.arange(t.depth.shape[0]) * t.depth.shape[1] + s] += 1
            if fn.__name__ != wrong:
                return out
            if wrong == "step":                         # the games' states swapped around
                return type(out)(**{f: getattr(out, f).flip(0) for f in out.__dataclass_fields__})
            if wrong == "_fetch":                       # the parents' states
                return (type(out[0])(**{f: getattr(out[0], f).flip(0) for f in out[0].__dataclass_fields__}),) + out[1:]
            return out.flip(0) if wrong == "encode" else tuple(x.flip(0) for x in out)
        return compiled
    monkeypatch.setattr(torch, "compile", miscompile)
    log = []
    mcts = nb.BatchedMCTS(c4, ev, 16, graphs=True, compile_search=True, log=log.append)
    same_result(ref, mcts.search(root), "miscompiled")
    name = {"_select_level": "select level", "_fetch": "tree read", "_write": "tree writes",
            "_write-depth": "tree writes"}.get(wrong, wrong)
    assert len(log) == 1 and f"the compiled {name} differs from the plain one;" in log[0], log
    assert mcts.compile_search is False


def test_the_tree_write_check_leaves_the_tree_as_it_was(nb, chess, monkeypatch):
    """The tree writes are checked by writing the last node from the search's own tree (twice, plain and
    compiled: a stand-in compiler here): afterwards every tensor of the tree is what it was."""
    monkeypatch.setattr(torch, "compile", counting_compiler(dict.fromkeys(COMPILED, 0), []))
    root = chess_roots(chess)
    mcts = nb.BatchedMCTS(chess, net_eval(nb, chess), 16, graphs=True, compile_search=True, log=[].append)
    st = mcts.runner.persistent(mcts._init_tree(root, False))
    before = [x.clone() for x in mcts.runner.buffers(st)]
    fns = mcts.runner.compiler.functions(mcts, st)
    assert fns.write is not mcts._write
    assert all(torch.equal(x, y) for x, y in zip(before, mcts.runner.buffers(st)))


def test_warm_up_at_the_last_simulation_stays_in_the_tree(nb, c4):
    """A depth bucket first needed at the last simulation is captured then: its two warm-up simulations
    must not write node N (past the tree: on a GPU a device-side assert that ends the session)."""
    mcts = nb.BatchedMCTS(c4, hash_eval, 8, graphs=True, log=[].append)
    st = mcts.runner.persistent(mcts._init_tree(c4_roots(c4), False))
    c4.sync_free = True
    try:
        st.s.fill_(mcts.sims)                          # the last simulation's node
        mcts.runner.warm_up(st, 8)                           # IndexError (CPU) without the clamp
    finally:
        c4.sync_free = False
    assert int(st.s) == mcts.sims + 1


class ReplaysWith(Replays):
    """A stand-in graph that, like a real one, replays the functions it was captured with."""

    def __init__(self, mcts, st, bound):
        super().__init__(mcts, st, bound)
        self.fns = mcts._fns

    def replay(self):
        now, self.mcts._fns = self.mcts._fns, self.fns
        try:
            super().replay()
        finally:
            self.mcts._fns = now


def test_a_capture_failing_with_compiled_functions_retries_with_plain_ones(nb, c4, monkeypatch):
    """On a GPU: a capture that fails with the compiled functions (here the second depth bucket's) is
    tried again with the plain ones; every bucket's graph is then captured with the plain functions,
    and CUDA graphs are kept (stand-in capture and compiler on CPU)."""
    monkeypatch.setattr(torch, "compile", counting_compiler(dict.fromkeys(COMPILED, 0), []))
    root = c4_roots(c4)
    mcts, log, eager = as_on_a_gpu(nb, c4)
    mcts.runner.compiler.enabled = True
    ref = eager.search(root)

    def capture(st, bound):
        if mcts._fns.step != c4.step and st.graphs:
            raise RuntimeError("operation not permitted when stream is capturing")
        return ReplaysWith(mcts, st, bound)
    mcts.runner.capture = capture
    same_result(ref, mcts.search(root), "retried")
    assert "compiled and checked" in log[0], log
    assert "failed" in log[1] and "with the compiled functions" in log[1] and "plain functions" in log[1], log
    assert mcts.runner.cuda_graphs and "matches the eager loop" in log[-1], log
    assert len(mcts.runner.st.graphs) >= 2 and all(g.fns.step == c4.step for g in mcts.runner.st.graphs.values())


def test_a_first_search_that_differs_with_compiled_functions_keeps_the_graphs(nb, c4, monkeypatch):
    """On a GPU: compiled functions that pass the check on the fresh tree but make the first search
    differ from the eager loop (a select level that goes wrong once the tree has visits) are turned
    off; the graphs are recaptured with the plain functions and checked at the next search."""
    roots = [c4_roots(c4, seed=k) for k in range(2)]

    def late_miscompile(fn, **kw):
        def compiled(obj, *args):
            out = fn(obj, *args)
            if fn.__name__ == "_select_level" and bool((args[0].visits[:, 0] > 2).any()):
                return (out[0].flip(0),) + out[1:]        # right on the roots, wrong later
            return out
        return compiled
    monkeypatch.setattr(torch, "compile", late_miscompile)
    mcts, log, eager = as_on_a_gpu(nb, c4)
    mcts.runner.compiler.enabled = True
    mcts.runner.capture = lambda st, bound: Replays(mcts, st, bound)
    same_result(eager.search(roots[0]), mcts.search(roots[0]), "the eager loop's result")
    assert "compiled and checked" in log[0] and "differs from the eager loop" in log[1], log
    assert "with the compiled functions" in log[1] and "plain functions" in log[1], log
    assert mcts.runner.cuda_graphs and not mcts.compile_search and not mcts.runner.st.graphs and not mcts.runner.checked
    same_result(eager.search(roots[1]), mcts.search(roots[1]), "plain graphs")
    assert mcts.runner.checked and "matches the eager loop" in log[-1] and len(log) == 3, log


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
@pytest.mark.parametrize("which", ["connect4", "chess"])
@pytest.mark.parametrize("search", ["puct", "gumbel", "puct-compiled", "gumbel-compiled"])
def test_cuda_graphs_equal_the_eager_loop(nb, which, search):
    game = nb.make_game(which, "cuda")
    torch.manual_seed(0)
    ev = nb.make_evaluator(game, nb.build_network(game, 16, 2, "cuda"), nb.choose_precision(torch.device("cuda")))
    cpu_game = nb.make_game(which)
    roots = [c4_roots(cpu_game, n=64, seed=k) if which == "connect4" else chess_roots(cpu_game, n=32, seed=k)
             for k in range(2)]
    log, compiled = [], search.endswith("-compiled")
    search = search.split("-")[0]
    from torch._dynamo.utils import counters
    torch._dynamo.reset()
    graphs = counters["stats"]["unique_graphs"]
    eager = nb.BatchedMCTS(game, ev, 32, search=search, considered=4)
    graph = nb.BatchedMCTS(game, ev, 32, search=search, considered=4, graphs=True, compile_search=compiled,
                           log=log.append)
    for k, root in enumerate(roots):
        root = nb.state_map(lambda x: x.cuda(), root)
        torch.manual_seed(k)
        a = eager.search(root, add_noise=True)
        torch.manual_seed(k)
        b = graph.search(root, add_noise=True)
        assert graph.runner.cuda_graphs and graph.runner.st.graphs, log
        assert torch.equal(a.visits, b.visits) and torch.equal(a.root_value, b.root_value), (which, search, k)
        assert torch.equal(a.action, b.action) and torch.equal(a.policy, b.policy)
    assert "matches the eager loop" in log[-1], log
    assert len(log) == 1 + compiled and (not compiled or "compiled and checked" in log[0]), log
    # one graph per compiled function (step, status, encode, tree read and writes, PUCT's select level at
    # the root and below it): nothing recompiled, in a capture or elsewhere
    assert counters["stats"]["unique_graphs"] - graphs == compiled * (5 + 2 * (search == "puct")), log


class DeviceRecorder(TorchDispatchMode):
    """Records every op that takes or returns a tensor off the `meta` device."""

    def __init__(self):
        super().__init__()
        self.off = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.utils._pytree import tree_flatten
        out = func(*args, **(kwargs or {}))
        for x in tree_flatten((args, kwargs or {}, out))[0]:
            if isinstance(x, torch.Tensor) and x.device.type != "meta":
                self.off.add((func._schema.name, tuple(x.shape), str(x.device)))
        return out


@pytest.mark.parametrize("which", ["connect4", "chess"])
@pytest.mark.parametrize("search", ["puct", "gumbel"])
def test_one_simulation_runs_on_a_device_without_data(nb, which, search):
    """On the `meta` device tensors have shapes but no data: reading a value (.item(), bool(), a
    data-dependent shape) raises, and a CPU tensor in the simulation would show up. What runs here
    needs no host round trip on a GPU and no host-to-device copy, so CUDA can capture it."""
    game = nb.make_game(which, "meta")
    root = nb.state_map(lambda x: x.to("meta"), nb.make_game(which).initial_state(4))
    ev = nb.make_evaluator(game, nb.build_network(game, 8, 1, "meta"), nb.choose_precision("cpu"))
    # (the tree's set-up is not captured, but runs here too; not the root sweep: it gathers the roots'
    # legal moves, a data-dependent size, once before the simulations)
    mcts = nb.BatchedMCTS(game, ev, 16, search=search, considered=4, graphs=True, root_sweep=False)
    game.sync_free = True
    try:
        st = mcts.runner.persistent(mcts._init_tree(root, False))
        with DeviceRecorder() as rec:
            mcts.runner.simulate(st, 8)
    finally:
        game.sync_free = False
    assert rec.off == set(), sorted(rec.off)[:10]
