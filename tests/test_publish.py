"""Publishing checkpoints when the run folder misbehaves: a fault injected at every I/O step of a
save, a folder that refuses new files (chmod 555), a damaged pointer, clear run-folder messages,
metrics history across resumes, and the per-process staging folder."""
import errno
import json
import os
import shutil

import pytest
import torch

from test_storage import Log, assert_same, payload, small_cfg, train

ERRORS = [errno.ENOSPC, errno.EIO, errno.EACCES]


class Faults:
    """Wraps the I/O calls a save makes — opening a file for writing, torch.save, copying into the
    run folder, fsync, rename — counts them, and makes call number `at` fail with OSError(code).
    With partial=True a failing copy first writes half of the file, as a full disk does."""

    def __init__(self, nb, monkeypatch, at=None, code=errno.EIO, partial=False):
        self.calls, self.at, self.code, self.partial, self.failed = [], at, code, partial, None
        real_open, real_fsync, real_replace = open, os.fsync, os.replace
        real_copy, real_save = shutil.copyfileobj, torch.save

        def hit(what):
            self.calls.append(what)
            if len(self.calls) - 1 == self.at:
                self.failed = what
                return True
            return False

        def fake_open(path, mode="r", *args, **kwargs):
            if any(c in mode for c in "wa") and hit(f"open {os.path.basename(path)}"):
                raise OSError(self.code, os.strerror(self.code), str(path))
            return real_open(path, mode, *args, **kwargs)

        def fake_copy(src, dst, *args, **kwargs):
            if hit("copy"):
                if self.partial:
                    data = src.read()
                    dst.write(data[: len(data) // 2])
                raise OSError(self.code, os.strerror(self.code))
            return real_copy(src, dst, *args, **kwargs)

        def wrap(name, real):
            def fake(*args, **kwargs):
                if hit(name):
                    raise OSError(self.code, os.strerror(self.code))
                return real(*args, **kwargs)
            return fake

        monkeypatch.setattr(nb, "open", fake_open, raising=False)   # the notebook's own open() calls only
        monkeypatch.setattr(nb.shutil, "copyfileobj", fake_copy)
        monkeypatch.setattr(nb.os, "fsync", wrap("fsync", real_fsync))
        monkeypatch.setattr(nb.os, "replace", wrap("replace", real_replace))
        monkeypatch.setattr(nb.torch, "save", wrap("torch.save", real_save))


def two_generations(nb, tmp_path, log):
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=log)
    storage.save(payload(10), step=10)
    storage.save(payload(20), step=20)
    return storage


def io_steps_of_a_save(nb, tmp_path, monkeypatch):
    """The I/O calls one save makes when a folder already holds two generations."""
    storage = two_generations(nb, tmp_path / "count", Log())
    faults = Faults(nb, monkeypatch)
    assert storage.save(payload(30), step=30) is not None
    monkeypatch.undo()
    return faults.calls


def test_a_save_makes_the_io_calls_the_fault_tests_cover(nb, tmp_path, monkeypatch):
    calls = io_steps_of_a_save(nb, tmp_path, monkeypatch)
    for what in ("torch.save", "copy", "fsync", "replace", "open latest.json.tmp", "open ckpt-a.pt"):
        assert what in calls, calls
    assert calls.count("replace") == 2        # the un-naming pointer, then the new one


@pytest.mark.parametrize("code", ERRORS, ids=[errno.errorcode[c] for c in ERRORS])
@pytest.mark.parametrize("partial", [False, True], ids=["fail", "half-written"])
def test_a_fault_at_every_step_of_a_save_loses_only_unpublished_work(nb, tmp_path, monkeypatch, code, partial):
    n = len(io_steps_of_a_save(nb, tmp_path, monkeypatch))
    for at in range(n):
        root, log = tmp_path / f"at{at}", Log()
        storage = two_generations(nb, root, log)
        faults = Faults(nb, monkeypatch, at=at, code=code, partial=partial)
        assert storage.save(payload(30), step=30) is None, faults.failed      # reported, never raised
        monkeypatch.undo()
        where = f"fault at {faults.failed} ({at})"
        msg = log[-1]
        assert "step 30 NOT published" in msg and os.strerror(code) in msg and "Fix:" in msg, (where, msg)
        assert "still holds step 20" in msg, (where, msg)
        # every generation the pointer names still verifies: it never names a half-rewritten slot
        for g in storage.read_pointer()[0]:
            assert storage.load_generation(g)[1] is None, (where, g)
        # a new session (another process) resumes from the last published generation, verified
        ck, info = nb.ColabStorage(storage.run_dir, local_dir=root / "other", log=Log()).load_latest()
        assert ck is not None and info["step"] == 20, where
        assert_same(ck, payload(20))
        # the checkpoint that failed is kept locally (unless staging itself failed) and still loads
        if storage.pending["file"]:
            assert_same(torch.load(storage.pending["file"], weights_only=True), payload(30))
            assert storage.pending["file"] in msg
        # the fault is gone: the next checkpoint lands, keeps the previous newest, cleans its staging
        assert storage.save(payload(40), step=40) is not None, where
        assert [g["step"] for g in storage.read_pointer()[0]] == [40, 20], where
        assert "takes writes again" in log[-1]
        assert not list((root / "local").glob("alphazero-run-*")), "staging left behind"
        ck, _ = nb.ColabStorage(storage.run_dir, local_dir=root / "other", log=Log()).load_latest()
        assert_same(ck, payload(40))


def refuse_new_files(nb, monkeypatch, run_dir):
    """A run folder that behaves like chmod 555 for a non-root user: its files can be rewritten, but
    no file can be created or renamed in it."""
    real_open, real_replace = open, os.replace

    def fake_open(path, mode="r", *args, **kwargs):
        if os.path.dirname(os.path.abspath(path)) == str(run_dir) and "w" in mode and not os.path.exists(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, mode, *args, **kwargs)

    def fake_replace(src, dst, *args, **kwargs):
        if os.path.dirname(os.path.abspath(dst)) == str(run_dir):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(nb, "open", fake_open, raising=False)
    monkeypatch.setattr(nb.os, "replace", fake_replace)


def test_folder_that_refuses_new_files_keeps_both_generations(nb, tmp_path, monkeypatch):
    """The reported bug: ckpt-a.pt was overwritten with step-40 data while latest.json still named it."""
    log = Log()
    storage = two_generations(nb, tmp_path, log)
    before = {p.name: p.read_bytes() for p in storage.run_dir.iterdir()}
    refuse_new_files(nb, monkeypatch, storage.run_dir)
    assert storage.save(payload(30), step=30) is None
    assert storage.save(payload(40), step=40) is None
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in storage.run_dir.iterdir()}
    assert after == before, "a file in the run folder changed although nothing was published"
    assert "Permission denied" in log[-1] and "step 40" in log[-1]
    s2 = nb.ColabStorage(storage.run_dir, local_dir=tmp_path / "other", log=Log())
    assert [g["step"] for g in s2.generations()] == [20, 10]
    for g, k in zip(s2.generations(), (20, 10)):
        ck, why = s2.load_generation(g)
        assert why is None
        assert_same(ck, payload(k))


def test_unpublished_final_checkpoint_stops_the_session_loudly(nb, tmp_path, monkeypatch):
    log = Log()
    cfg = small_cfg(nb)
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=log)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=log)
    train(coord, 2)
    assert coord.save() is not None
    coord.check_published()                                   # published: nothing to say
    train(coord, 1)
    refuse_new_files(nb, monkeypatch, storage.run_dir)
    assert coord.save() is None and coord.last_saved_step == 2  # the training loop's `finally` retries
    monkeypatch.undo()
    with pytest.raises(nb.RunFolderError) as e:
        coord.check_published()
    msg = str(e.value)
    kept = storage.pending["file"]
    assert "step 3" in msg and str(storage.run_dir) in msg and kept in msg and "still holds step 2" in msg, msg
    assert torch.load(kept, weights_only=True)["counters"]["step"] == 3
    # one short red line in the notebook instead of a traceback
    lines = e.value._render_traceback_()
    assert len(lines) == 1 and "RunFolderError" in lines[0] and kept in lines[0]
    # re-running the training cell publishes it
    assert coord.save() is not None and coord.last_saved_step == 3
    coord.check_published()


# --- a damaged pointer ---
@pytest.mark.parametrize("garbage", [b"{not json", b"", b'{"generations": [{"file": "../x"}]}', b"\x00" * 64])
def test_damaged_pointer_is_rebuilt_and_the_older_generation_stays_reachable(nb, tmp_path, garbage):
    log = Log()
    storage = two_generations(nb, tmp_path, log)
    (storage.run_dir / "latest.json").write_bytes(garbage)
    s2 = nb.ColabStorage(storage.run_dir, local_dir=tmp_path / "other", log=log)
    ck, info = s2.load_latest()
    assert_same(ck, payload(20))
    assert "damaged" in log.text() and "rebuilt" in log.text(), log.text()
    gens, problem = s2.read_pointer()                      # the pointer on disk is whole again
    assert problem is None and [g["step"] for g in gens] == [20, 10]
    older, why = s2.load_generation(gens[1])                # what the vs-previous evaluation loads
    assert why is None
    assert_same(older, payload(10))
    assert list(storage.run_dir.glob("latest.json.corrupt-*")), "the damaged pointer must be kept"
    assert s2.save(payload(30), step=30)["gen"] == 3       # and the run goes on
    assert [g["step"] for g in s2.read_pointer()[0]] == [30, 20]


def test_rebuild_leaves_out_a_file_that_does_not_load(nb, tmp_path):
    log = Log()
    storage = two_generations(nb, tmp_path, log)
    newest = storage.read_pointer()[0][0]["file"]
    (storage.run_dir / "latest.json").unlink()
    p = storage.run_dir / newest
    p.write_bytes(p.read_bytes()[:1000])
    assert [g["step"] for g in storage.generations()] == [10]
    assert "missing" in log.text() and f"{newest} does not load" in log.text()


# --- run-folder problems: one line, naming the path and the fix ---
def test_runs_dir_that_is_a_file(nb, tmp_path):
    f = tmp_path / "runs"
    f.write_text("not a folder")
    with pytest.raises(nb.RunFolderError) as e:
        nb.ColabStorage(f / "my-run")
    assert str(f) in str(e.value) and "is a file" in str(e.value) and "RUNS_DIR" in str(e.value)


@pytest.mark.parametrize("code, words", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only"),
                                         (errno.ENOSPC, "full"), (errno.EDQUOT, "full")])
def test_run_folder_that_cannot_be_written(nb, tmp_path, monkeypatch, code, words):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(nb, "open", refuse, raising=False)
    with pytest.raises(nb.RunFolderError) as e:
        nb.ColabStorage(tmp_path / "runs" / "my-run")
    msg = str(e.value)
    assert str(tmp_path / "runs" / "my-run") in msg and words in msg.lower() and "\n" not in msg, msg


def test_drive_problems_are_named(nb):
    path = "/content/drive/MyDrive/alphazero/run"
    assert "not mounted" in nb.os_error_advice(OSError(errno.ENOTCONN, "x"), path)
    assert "not mounted" in nb.os_error_advice(OSError(errno.EIO, "x"), path)   # no /content/drive here
    assert "full" in nb.os_error_advice(OSError(errno.ENOSPC, "x"), "/tmp/x")
    assert "Trash" in nb.os_error_advice(OSError(errno.EDQUOT, "x"), "/tmp/x")


def test_load_player_on_a_missing_run_says_which(nb, tmp_path):
    with pytest.raises(nb.MissingRunError) as e:
        nb.load_player(tmp_path / "no-such-run", device="cpu")
    assert "PLAY_RUN" in str(e.value) and isinstance(e.value, FileNotFoundError)
    assert not (tmp_path / "no-such-run").exists()


# --- metrics history and staging ---
def test_evaluation_records_survive_a_resume(nb, tmp_path):
    log = Log()
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=log)
    coord = nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb, log_interval=1), storage, "cpu", log=log)
    train(coord, 2)
    coord.log_record()
    coord.save()
    train(coord, 1)
    coord.log_record()                                    # a training record past the checkpoint
    coord.add_event("eval", {"eval/random_score": 0.75})   # written after the last checkpoint
    s2 = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=log)
    resumed = nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb, log_interval=1), s2, "cpu", log=log)
    on_file = s2.records.read_metrics()
    assert [r["step"] for r in on_file if "loss/total" in r] == [2]          # step 3 is trained again
    evals = [r for r in on_file if r.get("event") == "eval"]
    assert len(evals) == 1 and evals[0]["eval/random_score"] == 0.75 and evals[0]["step"] == 3
    assert resumed.metrics == on_file


def test_fresh_run_keeps_an_old_metrics_file(nb, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 5, "event": "eval"}\n')
    log = Log()
    storage = nb.ColabStorage(run, local_dir=tmp_path / "local", log=log)
    nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb), storage, "cpu", log=log)
    kept = list(run.glob("metrics.jsonl.old-*"))
    assert len(kept) == 1 and kept[0].read_text() == '{"step": 5, "event": "eval"}\n'
    assert kept[0].name in log.text()


def test_staging_is_per_process_and_cleaned(nb, tmp_path):
    a = nb.ColabStorage(tmp_path / "x" / "same-name", local_dir=tmp_path / "local", log=Log())
    b = nb.ColabStorage(tmp_path / "y" / "same-name", local_dir=tmp_path / "local", log=Log())
    a._stage(payload(1), 1)
    b._stage(payload(1), 1)
    assert a.staging != b.staging and a.staging.parent == b.staging.parent == tmp_path / "local"
    a.save(payload(2), 2)
    assert a.staging is None and list((tmp_path / "local").iterdir()) == [b.staging]


def test_half_written_metrics_line_is_skipped(nb, tmp_path):
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=Log())
    (storage.run_dir / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, "lo')
    assert storage.records.read_metrics() == [{"step": 1}]


# --- papermill parameters ---
def test_unknown_parameter_names_are_refused(nb):
    before = {"GAME", "STEPS"}
    ns = {"GAME": "chess", "STEPS": 3, "STEPZ": 10, "PRESETS": {}, "_private": 1, "PLAY_RUN": "x"}
    with pytest.raises(nb.ConfigError) as e:
        nb.check_parameter_names(ns, before)
    msg = str(e.value)
    assert "STEPZ (did you mean STEPS?)" in msg and "PRESETS" not in msg and "_private" not in msg, msg
    nb.check_parameter_names({"GAME": "chess", "PLAY_RUN": "r", "EVAL_GAMES": 4, "_x": 1, "f": print}, set())


def test_rerunning_the_config_cell_after_the_later_cells_passes(nb):
    """Run all, then the configuration cell again: every name the later cells define (library constants
    such as C4_SOLVED, the cells' own globals: set here to strings, the worst case) is the notebook's, not
    papermill's; a misspelled injected name is still refused on the first run."""
    import ast
    from conftest import NOTEBOOK
    cells = [("".join(c["source"]), c) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    form = next(i for i, (_, c) in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    check = next(i for i, (s, _) in enumerate(cells) if "check_parameter_names(globals()" in s)
    ns = {k: getattr(nb, k) for k in dir(nb) if not k.startswith("__")}
    exec(cells[form][0], ns)
    ns["STEPZ"] = 10                                        # papermill's injected cell, misspelled
    with pytest.raises(nb.ConfigError, match="STEPZ"):
        exec(cells[check][0], ns)
    del ns["STEPZ"]
    ns["STEPS"] = 3
    exec(cells[check][0], ns)
    later = {t.id for s, _ in cells[check + 1:] for node in ast.parse(s).body
             for t in getattr(node, "targets", [getattr(node, "target", None)]) if isinstance(t, ast.Name)}
    assert {"C4_SOLVED", "coord", "device"} <= later
    ns.update({n: "a string" for n in later})
    exec(cells[check][0], ns)                                # the re-run: no "unknown setting(s)"
    assert ns["cfg"].steps == 3


def test_pure_alphazero_in_the_form_trains_chess_on_the_result_alone(nb):
    """The form's PURE_ALPHAZERO box turns off both chess hints: the capped games' material value and
    the material target (the paper's targets: the result alone, every draw 0)."""
    from conftest import NOTEBOOK
    cells = [("".join(c["source"]), c) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    form = next(s for s, c in cells if "parameters" in c["metadata"].get("tags", []))
    check = next(s for s, _ in cells if "check_parameter_names(globals()" in s)
    for pure, want in ((False, (0.5, 0.5)), (True, (0.0, 0.0))):
        ns = {k: getattr(nb, k) for k in dir(nb) if not k.startswith("__")}
        exec(form, ns)
        ns.update(PRESET="cpu", PURE_ALPHAZERO=pure)
        exec(check, ns)
        assert (ns["cfg"].material_value, ns["cfg"].material_mix) == want


@pytest.mark.parametrize("name, hint", [("steps", "STEPS"), ("eval_games", "EVAL_GAMES"), ("Game", "GAME"),
                                        ("learning_rate", None)])
def test_lower_case_parameter_names_are_refused_with_a_hint(nb, name, hint):
    """papermill names are case-sensitive: `-p steps 10` would otherwise be silently ignored."""
    with pytest.raises(nb.ConfigError) as e:
        nb.check_parameter_names({"GAME": "chess", name: 10}, {"GAME"})
    msg = str(e.value)
    assert name in msg and "case-sensitive" in msg, msg
    assert (f"{name} (did you mean {hint}?)" in msg) if hint else "did you mean" not in msg, msg


def test_self_play_is_never_silent_for_long(nb, tmp_path):
    """Filling the buffer before the first gradient step logs a heartbeat (headless runs show it)."""
    log = Log()
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=log)
    coord = nb.SingleProcessCoordinator.create_or_resume(small_cfg(nb), storage, "cpu", log=log)
    n = len(log)
    coord.self_play(heartbeat_s=0.0)
    beats = [m for m in log[n:] if m.startswith("self-play before step 1:")]
    assert beats and "positions ready" in beats[-1] and "training starts at 32" in beats[-1], log[n:]


def step30_kept_locally(nb, tmp_path, monkeypatch, log):
    """Two published generations (10, 20), then step 30 refused by the run folder and kept locally."""
    storage = two_generations(nb, tmp_path, log)
    refuse_new_files(nb, monkeypatch, storage.run_dir)
    assert storage.save(payload(30), step=30) is None
    monkeypatch.undo()
    return storage, storage.pending["file"]


def test_staging_failure_after_a_refused_publish_names_the_older_local_copy(nb, tmp_path, monkeypatch):
    log = Log()
    storage, kept30 = step30_kept_locally(nb, tmp_path, monkeypatch, log)
    Faults(nb, monkeypatch, at=0, code=errno.ENOSPC)          # the local disk is full too: staging fails
    assert storage.save(payload(40), step=40) is None
    monkeypatch.undo()
    assert f"step 30 is kept locally at {kept30}" in log[-1] and "still holds step 20" in log[-1], log[-1]
    assert_same(torch.load(kept30, weights_only=True), payload(30))


def test_a_corrupt_file_in_a_read_only_run_is_skipped_not_fatal(nb, tmp_path, monkeypatch):
    storage = two_generations(nb, tmp_path, Log())
    newest = storage.read_pointer()[0][0]["file"]
    p = storage.run_dir / newest
    p.write_bytes(p.read_bytes()[:500])
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(nb.Path, "rename", refuse)          # a shared, read-only run: nothing can be renamed
    log = Log()
    ck, info = nb.ColabStorage(storage.run_dir, log=log, writable=False).load_latest()   # what load_player does
    assert info["step"] == 10 and "skipped" in log.text()
    assert_same(ck, payload(10))
    assert p.exists()


# --- a run folder that cannot be read (a stale Drive mount) is not a corrupt one ---
def read_fails_for(monkeypatch, nb, names, code=errno.EIO):
    """Reading any of `names` raises OSError(code), as a stale mount does; writing still works."""
    real_open, real_read_bytes = open, nb.Path.read_bytes

    def fake_open(path, mode="r", *args, **kwargs):
        if os.path.basename(str(path)) in names and "r" in mode:
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, mode, *args, **kwargs)

    def fake_read_bytes(self):
        if self.name in names:
            raise OSError(code, os.strerror(code), str(self))
        return real_read_bytes(self)

    monkeypatch.setattr(nb, "open", fake_open, raising=False)
    monkeypatch.setattr(nb.Path, "read_bytes", fake_read_bytes)
    real_load = torch.load
    monkeypatch.setattr(nb.torch, "load", lambda f, *a, **k: (
        (_ for _ in ()).throw(OSError(code, os.strerror(code), str(f))) if os.path.basename(str(f)) in names
        else real_load(f, *a, **k)))


def snapshot(run_dir):
    return {p.name: p.read_bytes() for p in run_dir.iterdir()}


@pytest.mark.parametrize("what", ["pointer", "newest checkpoint", "both checkpoints"])
def test_a_read_error_stops_the_resume_and_renames_nothing(nb, tmp_path, monkeypatch, what):
    storage = two_generations(nb, tmp_path, Log())
    gens = storage.read_pointer()[0]
    names = {"pointer": {"latest.json"}, "newest checkpoint": {gens[0]["file"]},
             "both checkpoints": {g["file"] for g in gens}}[what]
    before = snapshot(storage.run_dir)
    log = Log()
    s2 = nb.ColabStorage(storage.run_dir, local_dir=tmp_path / "other", log=log)
    read_fails_for(monkeypatch, nb, names)
    with pytest.raises(nb.RunFolderError) as e:       # not "no checkpoint": the run must not start over
        s2.load_latest()
    monkeypatch.undo()
    msg = str(e.value)
    assert str(storage.run_dir) in msg and "cannot read" in msg and "nothing was changed" in msg, msg
    assert snapshot(storage.run_dir) == before, "a read error renamed or rewrote a file"
    assert "corrupt" not in log.text(), log.text()
    ck, info = s2.load_latest()                        # the mount is back: the newest generation loads
    assert info["step"] == 20


def test_a_read_error_while_rebuilding_the_pointer_renames_nothing(nb, tmp_path, monkeypatch):
    storage = two_generations(nb, tmp_path, Log())
    (storage.run_dir / "latest.json").unlink()
    before = snapshot(storage.run_dir)
    read_fails_for(monkeypatch, nb, {"ckpt-a.pt"})
    with pytest.raises(nb.RunFolderError):
        nb.ColabStorage(storage.run_dir, local_dir=tmp_path / "other", log=Log()).load_latest()
    monkeypatch.undo()
    assert snapshot(storage.run_dir) == before


def test_a_read_error_before_a_save_is_reported_and_loses_nothing(nb, tmp_path, monkeypatch):
    log = Log()
    storage = two_generations(nb, tmp_path, log)
    before = snapshot(storage.run_dir)
    read_fails_for(monkeypatch, nb, {"latest.json"})
    assert storage.save(payload(30), step=30) is None
    monkeypatch.undo()
    assert snapshot(storage.run_dir) == before
    assert "step 30 NOT published" in log[-1] and os.strerror(errno.EIO) in log[-1], log[-1]
    assert storage.save(payload(30), step=30) is not None      # the retry publishes it
    assert [g["step"] for g in storage.read_pointer()[0]] == [30, 20]


def test_rebuild_reads_the_plain_way_where_mmap_is_refused(nb, tmp_path, monkeypatch):
    """Some FUSE mounts refuse mmap: the pointer rebuild must not call such files corrupt."""
    storage = two_generations(nb, tmp_path, Log())
    (storage.run_dir / "latest.json").unlink()
    real_load = torch.load

    def no_mmap(f, *args, **kwargs):
        if kwargs.get("mmap"):
            raise RuntimeError("unable to mmap the file")
        return real_load(f, *args, **kwargs)
    monkeypatch.setattr(nb.torch, "load", no_mmap)
    assert [g["step"] for g in storage.generations()] == [20, 10]
    assert not list(storage.run_dir.glob("*.corrupt-*"))


def test_a_read_only_storage_renames_and_writes_nothing(nb, tmp_path):
    """load_player opens another run read-only: a damaged pointer and a truncated newest checkpoint are
    worked around in memory; the run folder is left exactly as it was."""
    storage = two_generations(nb, tmp_path, Log())
    newest = storage.read_pointer()[0][0]["file"]
    p = storage.run_dir / newest
    p.write_bytes(p.read_bytes()[:500])
    (storage.run_dir / "latest.json").write_bytes(b"{not json")
    before = snapshot(storage.run_dir)
    log = Log()
    ck, info = nb.ColabStorage(storage.run_dir, log=log, writable=False).load_latest()
    assert info["step"] == 10 and "damaged" in log.text() and f"{newest} does not load" in log.text(), log.text()
    assert_same(ck, payload(10))
    assert snapshot(storage.run_dir) == before


def test_retrying_the_same_step_publishes_the_kept_local_copy(nb, tmp_path, monkeypatch):
    """The final save is retried with the same step: the pending local copy is published as it is,
    never staged over (a second failure while staging would destroy the only copy)."""
    storage, kept = step30_kept_locally(nb, tmp_path, monkeypatch, Log())
    calls = []
    monkeypatch.setattr(nb.torch, "save", lambda *a, **k: calls.append("torch.save") or (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))   # staging again would fail: the local disk is full
    assert storage.save(payload(30), step=30) is not None
    monkeypatch.undo()
    assert calls == [] and [g["step"] for g in storage.read_pointer()[0]] == [30, 20]
    ck, _ = nb.ColabStorage(storage.run_dir, local_dir=tmp_path / "other", log=Log()).load_latest()
    assert_same(ck, payload(30))
    assert not os.path.exists(kept), "the published local copy is cleaned up"
