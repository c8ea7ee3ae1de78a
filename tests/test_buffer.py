"""Replay buffer: ring wrap-around, pending results, z from the player to move, sampling, exact resume."""
import random

import pytest
import torch


@pytest.fixture(scope="module")
def game(nb):
    return nb.make_game("connect4")


def add_ids(buf, ids, slots, uids, first=None, P=7, proven=None, q=None):
    """Add positions tagged by id: cur = id (a distinct bitboard per id), opp = 0; policy: all on column id % 7."""
    ids = torch.as_tensor(ids, dtype=torch.int64)
    B = ids.shape[0]
    pi_action = torch.full((B, P), -1, dtype=torch.int64)
    pi_action[:, 0] = ids % 7
    pi_prob = torch.zeros(B, P)
    pi_prob[:, 0] = 1.0
    first = torch.ones(B, dtype=torch.bool) if first is None else torch.as_tensor(first)
    buf.add({"cur": ids, "opp": torch.zeros(B, dtype=torch.int64)}, pi_action, pi_prob,
            torch.as_tensor(uids, dtype=torch.int64), torch.as_tensor(slots, dtype=torch.int64), first,
            None if proven is None else torch.as_tensor(proven, dtype=torch.int8),
            None if q is None else torch.as_tensor(q, dtype=torch.float32))


def stored_ids(buf):
    return sorted(buf.fields["cur"][:buf.size].tolist())


def finish_all(buf, total_slots, uids, outcome=1.0):
    """Finish every slot's game (uids[s] in slot s) with `outcome` for the first player."""
    buf.finish(torch.arange(total_slots), torch.as_tensor(uids, dtype=torch.int64),
               torch.ones(total_slots, dtype=torch.bool), torch.full((total_slots,), outcome))


# --- ring ---
def test_wrap_around_keeps_the_newest(nb, game):
    buf = nb.ReplayBuffer(game, 10, "cpu")
    for k in range(4):                                   # 4 adds of 4 = 16 positions > capacity 10
        ids = [1 + 4 * k + j for j in range(4)]
        add_ids(buf, ids, slots=[0, 1, 2, 3], uids=[0, 1, 2, 3])
        assert buf.size == min(4 * (k + 1), 10)
    assert buf.size == 10
    assert stored_ids(buf) == list(range(7, 17))          # ids 1..6 (the oldest) were overwritten
    finish_all(buf, 4, [0, 1, 2, 3])
    assert buf.counts()[0] == 10
    planes, _, _ = buf.sample(500, generator=torch.Generator().manual_seed(0))
    ids = torch.arange(1, 17)
    enc = game.encode(nb.Connect4State(ids, torch.zeros_like(ids), torch.zeros_like(ids)))    # (16, 3, 6, 7)
    match = (planes.unsqueeze(1) == enc.unsqueeze(0)).flatten(2).all(2)                       # (500, 16)
    assert (match.sum(1) == 1).all()
    seen = set((ids[match.float().argmax(1)]).tolist())
    assert seen == set(range(7, 17))


def test_positions_wait_for_their_game_to_finish(nb, game):
    buf = nb.ReplayBuffer(game, 64, "cpu")
    # slot 0 plays game uid 0, slot 1 plays uid 1; three plies each, first player to move alternates
    for ply in range(3):
        add_ids(buf, [10 + ply, 20 + ply], slots=[0, 1], uids=[0, 1], first=[ply % 2 == 0] * 2)
    assert buf.counts()[0] == 0
    # game in slot 0 ends: the first player won (+1 for the first player)
    buf.finish(torch.arange(2), torch.tensor([0, 1]), torch.tensor([True, False]), torch.tensor([1.0, 0.0]))
    assert buf.counts()[0] == 3
    ready_ids = sorted(buf.fields["cur"][buf.ready].tolist())
    assert ready_ids == [10, 11, 12]
    z = {int(c): float(v) for c, v in zip(buf.fields["cur"][:buf.size], buf.z[:buf.size])}
    assert (z[10], z[11], z[12]) == (1.0, -1.0, 1.0)     # +1 where the winner (first player) was to move
    planes, _, value = buf.sample(200, generator=torch.Generator().manual_seed(1))
    assert set(value.tolist()) == {1.0, -1.0}
    # game in slot 1 ends in a loss for the first player
    buf.finish(torch.arange(2), torch.tensor([2, 1]), torch.tensor([False, True]), torch.tensor([0.0, -1.0]))
    z = {int(c): float(v) for c, v in zip(buf.fields["cur"][:buf.size], buf.z[:buf.size])}
    assert (z[20], z[21], z[22]) == (-1.0, 1.0, -1.0)    # second player won: +1 where it was to move
    assert (z[10], z[11], z[12]) == (1.0, -1.0, 1.0)     # the earlier game is untouched
    assert buf.counts()[0] == 6


def test_draw_gives_zero(nb, game):
    buf = nb.ReplayBuffer(game, 16, "cpu")
    add_ids(buf, [1, 2, 3, 4], slots=[0, 0, 0, 0], uids=[5, 5, 5, 5], first=[True, False, True, False])
    buf.z.fill_(0.5)                                       # make sure finish really writes
    buf.finish(torch.arange(1), torch.tensor([5]), torch.tensor([True]), torch.tensor([0.0]))
    assert buf.counts()[0] == 4
    assert buf.z[:4].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_a_proven_position_trains_toward_its_proven_value(nb, game):
    """The game's result is the target, except where the search proved the position: there the proof
    (player to move's view) wins, even against a result that a later blunder or the ply cap gave."""
    buf = nb.ReplayBuffer(game, 16, "cpu")
    U = nb.UNPROVEN
    add_ids(buf, [1, 2, 3, 4], slots=[0] * 4, uids=[5] * 4, first=[True, False, True, False], proven=[U, 1, U, 0])
    buf.finish(torch.arange(1), torch.tensor([5]), torch.tensor([True]), torch.tensor([1.0]))   # first player won
    assert buf.z[:4].tolist() == [1.0, 1.0, 1.0, 0.0]      # 2: proven win; 4: proven draw (result said -1)
    d = buf.state_dict()
    assert d["proven"].tolist() == [U, 1, U, 0]
    old = {k: v for k, v in d.items() if k != "proven"}     # a checkpoint from before the solver
    fresh = nb.ReplayBuffer(game, 16, "cpu")
    fresh.load_state_dict(old)
    assert fresh.proven[:4].tolist() == [U] * 4 and fresh.z[:4].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_z_plus_q_blends_the_result_with_the_search_value(nb, game):
    """q_mix m: target = (1 - m) * result + m * root value (player to move's view); a proof still wins;
    m = 0 leaves the result alone; the stored root values survive a checkpoint."""
    U = nb.UNPROVEN
    for m in (0.0, 0.25):
        buf = nb.ReplayBuffer(game, 16, "cpu")
        add_ids(buf, [1, 2, 3], slots=[0] * 3, uids=[5] * 3, first=[True, False, True], proven=[U, U, 1],
                q=[0.5, -0.25, -1.0])
        buf.finish(torch.arange(1), torch.tensor([5]), torch.tensor([True]), torch.tensor([1.0]), m)
        want = [(1 - m) * 1 + m * 0.5, (1 - m) * -1 + m * -0.25, 1.0]
        assert buf.z[:3].tolist() == pytest.approx(want), m
    fresh = nb.ReplayBuffer(game, 16, "cpu")
    fresh.load_state_dict(buf.state_dict())
    assert fresh.q[:3].tolist() == [0.5, -0.25, -1.0]


def test_finish_only_touches_the_matching_game(nb, game):
    """A slot's old game that never finished (e.g. dropped) and the slot's new game are kept apart by uid."""
    buf = nb.ReplayBuffer(game, 32, "cpu")
    total = 3                                              # slots 0..2; the k-th game of slot s has uid s + k*3
    add_ids(buf, [1, 2], slots=[1, 1], uids=[1, 1], first=[True, False])        # old game in slot 1
    add_ids(buf, [3, 4], slots=[1, 1], uids=[4, 4], first=[True, False])        # new game in slot 1
    add_ids(buf, [5], slots=[2], uids=[2], first=[True])                         # another slot
    buf.finish(torch.arange(total), torch.tensor([0, 4, 2]), torch.tensor([False, True, False]),
               torch.tensor([0.0, -1.0, 0.0]))
    ready = {int(c) for c in buf.fields["cur"][buf.ready]}
    assert ready == {3, 4}
    z = {int(c): float(v) for c, v in zip(buf.fields["cur"][:buf.size], buf.z[:buf.size])}
    assert (z[3], z[4]) == (-1.0, 1.0)
    # finishing the new game again with another result must not rewrite finished positions
    buf.finish(torch.arange(total), torch.tensor([0, 4, 2]), torch.tensor([False, True, False]),
               torch.tensor([0.0, 1.0, 0.0]))
    z = {int(c): float(v) for c, v in zip(buf.fields["cur"][:buf.size], buf.z[:buf.size])}
    assert (z[3], z[4]) == (-1.0, 1.0)
    # now the old game: only its positions change
    buf.finish(torch.arange(total), torch.tensor([0, 1, 2]), torch.tensor([False, True, False]),
               torch.tensor([0.0, 1.0, 0.0]))
    z = {int(c): float(v) for c, v in zip(buf.fields["cur"][:buf.size], buf.z[:buf.size])}
    assert (z[1], z[2], z[3], z[4]) == (1.0, -1.0, -1.0, 1.0)
    assert {int(c) for c in buf.fields["cur"][buf.ready]} == {1, 2, 3, 4}


def test_finish_with_actor_offset(nb, game):
    """The second actor's slots start at games_per_actor: finish must map its slot ids correctly."""
    buf = nb.ReplayBuffer(game, 32, "cpu")
    add_ids(buf, [1, 2], slots=[0, 1], uids=[0, 1])           # actor 0 (slots 0, 1)
    add_ids(buf, [3, 4], slots=[2, 3], uids=[2, 3])           # actor 1 (slots 2, 3)
    buf.finish(torch.tensor([2, 3]), torch.tensor([2, 3]), torch.tensor([True, False]), torch.tensor([1.0, 0.0]))
    assert {int(c) for c in buf.fields["cur"][buf.ready]} == {3}
    buf.finish(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([False, True]), torch.tensor([0.0, -1.0]))
    assert {int(c) for c in buf.fields["cur"][buf.ready]} == {2, 3}


# --- sampling real positions ---
def play_random_games(nb, game, buf, num_slots, plies, seed):
    """Random self-play into the buffer (lockstep, finished slots restart), like SelfPlayActor.
    Returns the expected records: list of (cur, opp, policy[7], z or None while pending)."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    state = game.initial_state(num_slots)
    uid = torch.arange(num_slots)
    records, pending = [], {s: [] for s in range(num_slots)}
    for _ in range(plies):
        legal = game.legal_mask(state)
        logits = torch.rand(num_slots, 7, generator=gen)
        probs = torch.where(legal, logits, 0.0)
        probs = probs / probs.sum(1, keepdim=True)
        pi_action = torch.where(probs > 0, torch.arange(7).expand(num_slots, 7), -1)
        first = game.to_move_is_first(state)
        buf.add({"cur": state.cur, "opp": state.opp}, pi_action, probs, uid, torch.arange(num_slots), first)
        for s in range(num_slots):
            rec = [int(state.cur[s]), int(state.opp[s]), probs[s].clone(), None, bool(first[s])]
            records.append(rec)
            pending[s].append(rec)
        actions = torch.tensor([rng.choice(legal[s].nonzero().flatten().tolist()) for s in range(num_slots)])
        nxt = game.step(state, actions)
        done, value = game.terminal(nxt)
        outcome_first = torch.where(game.to_move_is_first(nxt), value, -value)
        buf.finish(torch.arange(num_slots), uid, done, outcome_first)
        for s in range(num_slots):
            if done[s]:
                for rec in pending[s]:
                    rec[3] = float(outcome_first[s]) if rec[4] else -float(outcome_first[s])
                pending[s] = []
        state = nb.state_where(done, game.initial_state(num_slots), nxt)
        uid = torch.where(done, uid + num_slots, uid)
    return records


def test_sample_planes_policy_and_value(nb, game):
    buf = nb.ReplayBuffer(game, 4096, "cpu")
    records = play_random_games(nb, game, buf, 8, 60, seed=0)
    finished = [r for r in records if r[3] is not None]
    assert buf.counts()[0] == len(finished) > 0
    assert buf.size == len(records)
    planes, policy, value = buf.sample(256, generator=torch.Generator().manual_seed(2))
    assert planes.shape == (256, *game.obs_shape) and policy.shape == (256, 7) and value.shape == (256,)
    torch.testing.assert_close(policy.sum(1), torch.ones(256), atol=5e-3, rtol=0)
    assert (policy >= 0).all()
    by_planes = {}
    for r in finished:
        key = game.encode(nb.Connect4State(torch.tensor([r[0]]), torch.tensor([r[1]]), torch.tensor([0])))
        by_planes.setdefault(key.numpy().tobytes(), []).append(r)
    for i in range(256):
        cands = by_planes.get(planes[i:i + 1].numpy().tobytes())
        assert cands, "sampled planes are not game.encode of any finished stored position"
        assert any(torch.allclose(policy[i], r[2], atol=2e-3) and float(value[i]) == r[3] for r in cands), i
    # legal moves only in the policy targets: the sampled position's illegal columns get 0
    cur_stones = planes[:, 0] + planes[:, 1]
    full = cur_stones[:, 0, :] > 0                          # top row occupied = full column
    assert (policy[full] == 0).all()


# --- exact resume ---
@pytest.mark.parametrize("plies,capacity", [(10, 256), (60, 100)])   # no wrap-around / wrap-around
def test_state_dict_round_trip_gives_identical_samples(nb, game, tmp_path, plies, capacity):
    buf = nb.ReplayBuffer(game, capacity, "cpu")
    play_random_games(nb, game, buf, 8, plies, seed=3)
    if plies * 8 > capacity:
        assert buf.size == capacity and buf.ptr == (plies * 8) % capacity
    path = tmp_path / "buf.pt"
    torch.save(buf.state_dict(), path)
    loaded = nb.ReplayBuffer(game, capacity, "cpu")
    loaded.load_state_dict(torch.load(path, weights_only=True))
    assert (loaded.size, loaded.ptr, loaded.counts()) == (buf.size, buf.ptr, buf.counts())
    for a, b in zip(buf.sample(128, torch.Generator().manual_seed(7)),
                    loaded.sample(128, torch.Generator().manual_seed(7))):
        assert torch.equal(a, b)
    # both continue the same way: the next positions overwrite the same ring entries
    for b in (buf, loaded):
        add_ids(b, [41, 42, 43], slots=[0, 1, 2], uids=[999, 999, 999])
    assert torch.equal(buf.fields["cur"], loaded.fields["cur"]) and torch.equal(buf.uid, loaded.uid)
    assert torch.equal(buf.ready, loaded.ready) and torch.equal(buf.z, loaded.z)


def test_load_into_smaller_capacity_keeps_the_newest(nb, game, tmp_path):
    buf = nb.ReplayBuffer(game, 10, "cpu")
    for k in range(4):
        add_ids(buf, [1 + 4 * k + j for j in range(4)], slots=[0, 1, 2, 3], uids=[0, 1, 2, 3])
    finish_all(buf, 4, [0, 1, 2, 3])
    path = tmp_path / "buf.pt"
    torch.save(buf.state_dict(), path)
    d = torch.load(path, weights_only=True)
    small = nb.ReplayBuffer(game, 4, "cpu")
    small.load_state_dict(d)
    assert small.size == 4 and stored_ids(small) == [13, 14, 15, 16]
    assert small.counts()[0] == 4
    # the next add overwrites the oldest kept position first
    add_ids(small, [99], slots=[0], uids=[7])
    assert stored_ids(small) == [14, 15, 16, 99]


def test_load_into_larger_capacity_keeps_everything_in_age_order(nb, game):
    buf = nb.ReplayBuffer(game, 10, "cpu")
    for k in range(4):
        add_ids(buf, [1 + 4 * k + j for j in range(4)], slots=[0, 1, 2, 3], uids=[0, 1, 2, 3])
    big = nb.ReplayBuffer(game, 12, "cpu")
    big.load_state_dict(buf.state_dict())
    assert big.size == 10 and stored_ids(big) == list(range(7, 17))
    add_ids(big, [101, 102, 103, 104], slots=[0, 1, 2, 3], uids=[9, 9, 9, 9])   # 2 free entries, then the 2 oldest
    assert big.size == 12
    assert stored_ids(big) == list(range(9, 17)) + [101, 102, 103, 104]


def test_partially_filled_buffer_into_smaller_capacity(nb, game):
    buf = nb.ReplayBuffer(game, 20, "cpu")
    add_ids(buf, list(range(1, 8)), slots=[0] * 7, uids=[0] * 7)
    small = nb.ReplayBuffer(game, 5, "cpu")
    small.load_state_dict(buf.state_dict())
    assert stored_ids(small) == [3, 4, 5, 6, 7]


def test_material_target_looks_ahead_in_the_same_game(nb, game):
    """material = (plies x slots, mix): each position's target blends in the material score stored for
    the same game's position that many plies later, seen from its own mover (the sign flips with an odd
    horizon); positions with no such ply (the game ended first) keep the result; mix 0 changes nothing.
    The ring wraps (capacity 9, 2 slots x 5 plies) so the lookup must wrap with it; `mat` survives a resume."""
    def play(horizon, mix):
        buf = nb.ReplayBuffer(game, 9, "cpu")
        add_ids(buf, [90, 91], slots=[0, 1], uids=[7, 8])         # an old game pair: overwritten below
        for t in range(5):                                         # slot 0: game 0 (5 plies), slot 1: game 1 (4)
            ids, slots, uids = ([10 + t, 20 + t], [0, 1], [0, 1]) if t < 4 else ([14, 30], [0, 1], [0, 3])
            buf.add({"cur": torch.tensor(ids), "opp": torch.zeros(2, dtype=torch.int64)},
                    torch.zeros(2, 7, dtype=torch.int64), torch.full((2, 7), 1 / 7), torch.tensor(uids),
                    torch.tensor(slots), torch.tensor([t % 2 == 0] * 2), mat=torch.tensor([0.1 * t, -0.2 * t]))
        buf.finish(torch.arange(2), torch.tensor([0, 1]), torch.tensor([True, True]), torch.tensor([1.0, -1.0]),
                   material=(horizon * 2, mix))
        return buf, {int(c): float(z) for c, z, r in zip(buf.fields["cur"], buf.z, buf.ready) if r}
    _, plain = play(2, 0.0)
    assert plain == {11: -1.0, 12: 1.0, 13: -1.0, 14: 1.0, 20: -1.0, 21: 1.0, 22: -1.0, 23: 1.0}   # 10: overwritten
    buf, two = play(2, 0.5)
    want = dict(plain)
    want.update({11: 0.5 * -1 + 0.5 * 0.3, 12: 0.5 * 1 + 0.5 * 0.4,       # same mover two plies on
                 20: 0.5 * -1 + 0.5 * -0.4, 21: 0.5 * 1 + 0.5 * -0.6})
    assert two == pytest.approx(want, abs=1e-3)
    _, one = play(1, 0.5)
    want = dict(plain)
    want.update({11: 0.5 * -1 - 0.5 * 0.2, 12: 0.5 * 1 - 0.5 * 0.3, 13: 0.5 * -1 - 0.5 * 0.4,   # the other mover
                 20: 0.5 * -1 + 0.5 * 0.2, 21: 0.5 * 1 + 0.5 * 0.4, 22: 0.5 * -1 + 0.5 * 0.6})
    assert one == pytest.approx(want, abs=1e-3)
    fresh = nb.ReplayBuffer(game, 9, "cpu")
    fresh.load_state_dict(buf.state_dict())
    assert torch.equal(fresh.mat, buf.mat)


def test_material_target_never_reads_an_older_ply_of_the_same_game(nb, game):
    """One slot, capacity 8, horizon 2, a 9-ply game: the ring's row two ahead of plies 7 and 8 holds
    plies 1 and 2 of the same game (written before them, overwritten by nothing since): those two keep
    the result alone; plies 1..6 (the ring kept 1..8) read the material two plies on."""
    buf = nb.ReplayBuffer(game, 8, "cpu")
    for t in range(9):
        buf.add({"cur": torch.tensor([t]), "opp": torch.zeros(1, dtype=torch.int64)},
                torch.zeros(1, 7, dtype=torch.int64), torch.full((1, 7), 1 / 7), torch.tensor([0]),
                torch.tensor([0]), torch.tensor([t % 2 == 0]), mat=torch.tensor([t / 10]))
    buf.finish(torch.arange(1), torch.tensor([0]), torch.tensor([True]), torch.tensor([1.0]), material=(2, 0.5))
    z = {int(c): float(v) for c, v in zip(buf.fields["cur"], buf.z)}
    result = {t: 1.0 if t % 2 == 0 else -1.0 for t in range(1, 9)}
    want = {t: 0.5 * result[t] + 0.5 * (t + 2) / 10 for t in range(1, 7)} | {7: result[7], 8: result[8]}
    assert z == pytest.approx(want, abs=1e-3)
