"""ColabStorage: crash-safe checkpoints, corruption handling, I/O errors; coordinator save/resume."""
import json
import shutil

import pytest
import torch


class Log(list):
    """A `log` callable that keeps the messages."""

    def __call__(self, msg):
        self.append(str(msg))

    def text(self):
        return "\n".join(self)


@pytest.fixture
def log():
    return Log()


@pytest.fixture
def storage(nb, tmp_path, log):
    return nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=log)


def payload(k):
    g = torch.Generator().manual_seed(k)
    return {"step": k, "name": f"gen{k}", "weights": {"w": torch.randn(64, 64, generator=g), "b": torch.arange(k + 3)},
            "list": [1, 2.5, "x", None, True], "nested": {"t": (1, 2), "f": 0.25}, "flag": False}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            assert_same(a[k], b[k])
        elif isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def corrupt_files(run_dir):
    return sorted(p.name for p in run_dir.iterdir() if ".corrupt-" in p.name)


# --- round trip and generations ---
def test_save_load_round_trip(storage):
    entry = storage.save(payload(1), step=1)
    ck, info = storage.load_latest()
    assert_same(ck, payload(1))
    assert info["step"] == 1 and info["file"] == entry["file"]
    # the file itself loads with weights_only=True (tensors and plain types only)
    again = torch.load(storage.run_dir / entry["file"], weights_only=True)
    assert_same(again, payload(1))


def test_generations_alternate_slots_and_pointer_is_newest_first(nb, storage):
    files = []
    for k in range(1, 5):
        e = storage.save(payload(k), step=10 * k)
        files.append(e["file"])
        gens, problem = storage.read_pointer()
        assert problem is None
        assert [g["step"] for g in gens] == [10 * k, 10 * (k - 1)][:min(k, 2)]
        assert gens[0]["file"] == e["file"]
    assert set(files) == set(nb.ColabStorage.SLOTS)
    assert all(files[i] != files[i + 1] for i in range(3))
    slot_files = sorted(p.name for p in storage.run_dir.glob("ckpt-*.pt"))
    assert slot_files == sorted(nb.ColabStorage.SLOTS)            # never more than two checkpoint files
    pointer = json.loads((storage.run_dir / "latest.json").read_text())
    assert [g["gen"] for g in pointer["generations"]] == [4, 3]
    ck, info = storage.load_latest()
    assert_same(ck, payload(4))


# --- corruption ---
def truncate(p):
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def empty(p):
    p.write_bytes(b"")


def flip_byte(p):
    data = bytearray(p.read_bytes())
    i = len(data) * 2 // 3                                       # inside the tensor data
    data[i] ^= 0x01
    p.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, empty, flip_byte], ids=["truncated", "empty", "flipped-byte"])
def test_corrupt_newest_falls_back_to_previous(storage, log, damage):
    storage.save(payload(1), step=1)
    newest = storage.save(payload(2), step=2)
    path = storage.run_dir / newest["file"]
    damage(path)
    ck, info = storage.load_latest()
    assert_same(ck, payload(1))
    assert info["step"] == 1
    assert not path.exists()
    bad = corrupt_files(storage.run_dir)
    assert len(bad) == 1 and bad[0].startswith(newest["file"] + ".corrupt-")
    assert any(newest["file"] in m and "step 2" in m for m in log), log.text()


def test_flipped_byte_is_caught_by_the_checksum(storage, log):
    """torch.load would read a flipped byte in tensor data silently: only the sha256 catches it."""
    storage.save(payload(1), step=1)
    newest = storage.save(payload(2), step=2)
    flip_byte(storage.run_dir / newest["file"])
    ck, _ = storage.load_latest()
    assert ck["step"] == 1
    assert "checksum" in log.text().lower() or "corrupt" in log.text().lower()


def test_missing_pointer_loads_from_slot_files(storage, log):
    storage.save(payload(1), step=1)
    storage.save(payload(2), step=2)
    (storage.run_dir / "latest.json").unlink()
    ck, _ = storage.load_latest()
    assert_same(ck, payload(2))


def test_unreadable_pointer_loads_from_slot_files(storage, log):
    storage.save(payload(1), step=1)
    storage.save(payload(2), step=2)
    (storage.run_dir / "latest.json").write_text("{not json")
    ck, _ = storage.load_latest()
    assert_same(ck, payload(2))
    assert "latest.json" in log.text()


def test_missing_pointer_and_corrupt_newest_file(storage, log):
    storage.save(payload(1), step=1)
    newest = storage.save(payload(2), step=2)
    (storage.run_dir / "latest.json").unlink()
    truncate(storage.run_dir / newest["file"])
    ck, _ = storage.load_latest()
    assert_same(ck, payload(1))
    assert corrupt_files(storage.run_dir)[0].startswith(newest["file"])


def test_pointer_to_missing_file_falls_back(storage, log):
    storage.save(payload(1), step=1)
    newest = storage.save(payload(2), step=2)
    (storage.run_dir / newest["file"]).unlink()
    ck, info = storage.load_latest()
    assert_same(ck, payload(1))
    assert "missing" in log.text()


def test_nothing_verifies(storage, log):
    a = storage.save(payload(1), step=1)
    b = storage.save(payload(2), step=2)
    truncate(storage.run_dir / a["file"])
    flip_byte(storage.run_dir / b["file"])
    ck, reason = storage.load_latest()
    assert ck is None
    assert isinstance(reason, str) and reason
    bad = corrupt_files(storage.run_dir)
    assert len(bad) == 2 and {n.split(".corrupt-")[0] for n in bad} == {a["file"], b["file"]}
    assert len(log) >= 2


def test_empty_run_folder(storage):
    ck, reason = storage.load_latest()
    assert ck is None and "no checkpoint" in reason


# --- a crash (kill, disconnect) in the middle of writing a checkpoint ---
class Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


def crash_mid_copy(monkeypatch, nb):
    """The next copy into the run folder writes half the file, then the process 'dies'."""
    def copy(src, dst, *args, **kwargs):
        data = src.read()
        dst.write(data[: len(data) // 2])
        dst.flush()
        raise Killed()
    monkeypatch.setattr(nb.shutil, "copyfileobj", copy)


def test_crash_mid_write_keeps_the_previous_generation(nb, storage, tmp_path, monkeypatch):
    storage.save(payload(1), step=1)
    storage.save(payload(2), step=2)
    crash_mid_copy(monkeypatch, nb)
    with pytest.raises(Killed):
        storage.save(payload(3), step=3)
    monkeypatch.undo()
    restarted = nb.ColabStorage(storage.run_dir, local_dir=tmp_path / "local2", log=Log())
    ck, info = restarted.load_latest()
    assert ck is not None and ck["step"] == 2


def test_crash_mid_write_after_a_corruption_fallback(nb, storage, log, tmp_path, monkeypatch):
    """After the newest file was found corrupt and the run resumed from the older one, the next
    checkpoint must not be written over that only good file: a crash during that write would
    otherwise leave no checkpoint at all."""
    storage.save(payload(1), step=1)
    newest = storage.save(payload(2), step=2)
    flip_byte(storage.run_dir / newest["file"])
    ck, _ = storage.load_latest()
    assert ck["step"] == 1                                 # resumed from generation 1
    crash_mid_copy(monkeypatch, nb)
    with pytest.raises(Killed):
        storage.save(payload(3), step=3)                   # the resumed run's next checkpoint
    monkeypatch.undo()
    restarted = nb.ColabStorage(storage.run_dir, local_dir=tmp_path / "local2", log=Log())
    ck, info = restarted.load_latest()
    assert ck is not None, f"no checkpoint survived: {info}"
    assert ck["step"] == 1


# --- I/O errors in the run folder ---
def test_io_error_during_save_is_reported_not_raised(nb, storage, log, monkeypatch):
    storage.save(payload(1), step=1)
    real_copy = shutil.copyfileobj

    def broken_copy(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(nb.shutil, "copyfileobj", broken_copy)
    storage.save(payload(2), step=2)                      # must not raise
    assert any("Input/output error" in m and "step 2" in m for m in log), log.text()
    n_msgs = len(log)
    ck, info = storage.load_latest()                      # the previous checkpoint is intact
    assert_same(ck, payload(1))
    assert info["step"] == 1
    storage.save(payload(3), step=3)                      # still failing: still no exception
    assert len(log) > n_msgs

    monkeypatch.setattr(nb.shutil, "copyfileobj", real_copy)
    storage.save(payload(4), step=4)                      # the error is gone: this one lands
    ck, info = storage.load_latest()
    assert_same(ck, payload(4))
    assert info["step"] == 4
    gens, _ = storage.read_pointer()
    assert [g["step"] for g in gens] == [4, 1]


def test_io_error_writing_metrics_is_reported(nb, storage, log, monkeypatch):
    def broken_open(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("builtins.open", broken_open)
    storage.records.append_metrics([{"step": 1}])
    monkeypatch.undo()
    assert "No space left" in log.text()
    storage.records.append_metrics([{"step": 2}])
    assert storage.records.read_metrics() == [{"step": 2}]


# --- coordinator: fresh run, resume, config changes ---
def small_cfg(nb, **kw):
    args = dict(steps=8, num_filters=8, num_blocks=1, games_per_actor=16, simulations=4, batch_size=32,
                min_buffer_size=32, checkpoint_interval=4)
    args.update(kw)
    return nb.build_config("connect4", "cpu", "test-run", **args)


def train(coord, n):
    for _ in range(n):
        coord.self_play()
        coord.train_step()


@pytest.fixture(scope="module")
def trained_run(nb, tmp_path_factory):
    """A run folder with a checkpoint after 3 training steps, plus what the coordinator held."""
    root = tmp_path_factory.mktemp("coord")
    log = Log()
    cfg = small_cfg(nb)
    storage = nb.ColabStorage(root / "run", local_dir=root / "local", log=log)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=log)
    fresh_log = list(log)
    train(coord, 3)
    coord.log_record()
    coord.save()
    snapshot = {"params": {k: v.clone() for k, v in coord.net.state_dict().items()},
                "step": coord.step, "positions": coord.positions, "buffer": coord.buffer.size,
                "games": coord.games, "ready": coord.buffer.counts()[0]}
    return root, fresh_log, snapshot


def test_fresh_run_says_so(trained_run):
    _, fresh_log, _ = trained_run
    assert any("fresh run" in m for m in fresh_log), fresh_log


def test_resume_restores_everything(nb, trained_run):
    root, _, snap = trained_run
    log = Log()
    storage = nb.ColabStorage(root / "run", local_dir=root / "local", log=log)
    coord = nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb), storage, "cpu", log=log)
    assert snap["step"] == 3
    assert any(f"resumed from step {snap['step']}" in m for m in log), log.text()
    assert (coord.step, coord.positions, coord.buffer.size, coord.games) == \
        (snap["step"], snap["positions"], snap["buffer"], snap["games"])
    assert coord.buffer.counts()[0] == snap["ready"]
    params = coord.net.state_dict()
    assert params.keys() == snap["params"].keys()
    for k, v in snap["params"].items():
        assert torch.equal(params[k], v), k
    # it trains on from there
    train(coord, 1)
    assert coord.step == snap["step"] + 1


def test_architecture_change_on_resume_is_refused(nb, trained_run):
    root, _, _ = trained_run
    storage = nb.ColabStorage(root / "run", local_dir=root / "local", log=Log())
    with pytest.raises(ValueError) as e:
        nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb, num_filters=16), storage, "cpu", log=Log())
    msg = str(e.value)
    assert "NUM_FILTERS" in msg and "8" in msg and "16" in msg and "RUN_NAME" in msg, msg


def test_non_architecture_change_is_allowed_and_recorded(nb, trained_run, tmp_path):
    root, _, snap = trained_run
    run = tmp_path / "copy"
    shutil.copytree(root / "run", run)                   # keep the shared run folder as it was
    log = Log()
    storage = nb.ColabStorage(run, local_dir=tmp_path / "local", log=log)
    coord = nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb, simulations=6), storage, "cpu", log=log)
    assert coord.step == snap["step"] and coord.cfg.simulations == 6
    events = [r for r in storage.records.read_metrics() if r.get("event") == "config_change"]
    assert len(events) == 1
    assert events[0]["changes"]["simulations"] == [4, 6]
    assert "simulations" in log.text()
    assert json.loads((run / "config.json").read_text())["simulations"] == 6


def test_load_player_plays_legal_moves(nb, trained_run):
    root, _, snap = trained_run
    player = nb.load_player(root / "run", simulations=4, device="cpu")
    g = player.game
    assert g.name == "connect4"
    for k, v in snap["params"].items():
        assert torch.equal(player.net.state_dict()[k], v), k
    s = g.from_moves(["", "4", "333333", "1111112222223"])
    a = player.act(s)
    assert a.shape == (4,)
    assert g.legal_mask(s)[torch.arange(4), a].all()


def test_load_player_without_checkpoint(nb, tmp_path):
    with pytest.raises(FileNotFoundError):
        nb.load_player(tmp_path / "nothing", device="cpu")
