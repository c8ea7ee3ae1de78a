"""One run, one trainer: the run folder's lease, with real processes (tests/train_driver.py runs the
training loop): a second trainer refuses, a takeover stops the first without publishing and resumes
exactly, a SIGKILLed run's lease is taken at once on the same machine, an expired or damaged lease is
taken with a message, and a reader works beside a trainer without touching the lease."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from test_resume import DRIVER, assert_same_params, metric_steps, params, run_driver


def start(run_dir, steps, interval=2, **env):
    return subprocess.Popen([sys.executable, str(DRIVER), str(run_dir), str(steps), str(interval)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **{k: str(v) for k, v in env.items()}})


def wait_for(cond, timeout=120, what="condition"):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def published_step(run_dir):
    try:
        gens = json.loads((Path(run_dir) / "latest.json").read_text())["generations"]
        return gens[0]["step"] if gens else None
    except (OSError, ValueError, KeyError):
        return None


def lease(run_dir):
    return json.loads((Path(run_dir) / "lease.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted 24-step run a taken-over run must reproduce exactly."""
    d = tmp_path_factory.mktemp("ref") / "run"
    run_driver(d, 24)
    return d


def test_a_second_trainer_refuses_and_the_first_finishes_clean(tmp_path):
    d = tmp_path / "run"
    first = start(d, 24, STEP_SLEEP=0.5)                             # still training when the second starts
    wait_for(lambda: published_step(d) is not None, what="the first checkpoint")
    second = subprocess.run([sys.executable, str(DRIVER), str(d), "24"], capture_output=True, text=True, timeout=120)
    assert second.returncode != 0
    assert "LeaseHeldError" in second.stderr and "is being trained by another process" in second.stderr
    assert "TAKE_OVER_RUN" in second.stderr and "expires at" in second.stderr, second.stderr[-1500:]
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0 and "done 24" in out, err[-2000:]
    assert metric_steps(d) == list(range(2, 25, 2))                 # one clean step sequence


def test_a_takeover_stops_the_first_trainer_and_resumes_exactly(reference, tmp_path):
    d = tmp_path / "run"
    first = start(d, 24, STEP_SLEEP=0.5)
    wait_for(lambda: (published_step(d) or 0) >= 6, what="step 6 published")
    second = start(d, 24, TAKE_OVER=1)
    out2, err2 = second.communicate(timeout=300)
    out1, err1 = first.communicate(timeout=120)
    assert second.returncode == 0 and "TAKE_OVER_RUN: taking the run over from" in out2, err2[-2000:]
    resumed = int(out2.split("resumed from step ")[1].split()[0])
    assert first.returncode != 0 and "LeaseLostError" in err1 and "was taken over by another process" in err1, \
        err1[-2000:]
    assert "checkpoint is kept locally at" in err1                   # its newest checkpoint is not lost
    assert resumed >= 6
    assert_same_params(params(d), params(reference))                 # the new owner's resume is exact
    assert metric_steps(d) == list(range(2, 25, 2))
    assert published_step(d) == 24 and lease(d)["owner"]["pid"] == second.pid


def test_a_sigkilled_runs_lease_is_taken_at_once_on_the_same_machine(reference, tmp_path):
    d = tmp_path / "run"
    first = start(d, 24, STEP_SLEEP=0.2)
    wait_for(lambda: (published_step(d) or 0) >= 4, what="step 4 published")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert lease(d)["owner"]["pid"] == first.pid and not lease(d)["released"]   # a live-looking lease
    t0 = time.time()
    out = run_driver(d, 24)
    assert f"previous trainer on this machine (pid {first.pid}) is gone: taking the run over" in out
    assert "resumed from step" in out and time.time() - t0 < 120
    assert_same_params(params(d), params(reference))


def foreign_lease(run_dir, age, expires_after_s=420.0):
    """A lease as another machine's trainer would have left it, `age` seconds after its last heartbeat."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    (Path(run_dir) / "lease.json").write_text(json.dumps({
        "format": 1, "owner": {"host": "colab-vm-42", "boot": "deadbeef", "pid": 4242, "since": time.time() - 3600,
                               "token": "0123456789abcdef"},
        "step": 350, "heartbeat": time.time() - age, "heartbeat_s": 60.0, "expires_after_s": expires_after_s,
        "released": False}))


def test_a_fresh_lease_of_another_machine_refuses_with_who_when_and_the_fixes(nb, tmp_path):
    d = tmp_path / "run"
    foreign_lease(d, age=30)
    with pytest.raises(nb.LeaseHeldError) as e:
        nb.RunLease(d, 60).acquire()
    msg = str(e.value)
    for part in ("colab-vm-42 (pid 4242)", "at step 350", "last heartbeat 30 s ago", "wait for it to finish",
                 "new RUN_NAME", "TAKE_OVER_RUN = True", "its lease expires at"):
        assert part in msg, (part, msg)
    assert lease(d)["owner"]["token"] == "0123456789abcdef"          # refused: nothing written
    note = nb.RunLease(d, 60).acquire(take_over=True)
    assert note.startswith("TAKE_OVER_RUN: taking the run over from colab-vm-42"), note
    assert lease(d)["owner"]["pid"] == os.getpid()


def test_an_expired_lease_is_taken_over_with_a_line(nb, tmp_path):
    d = tmp_path / "run"
    foreign_lease(d, age=500)
    note = nb.RunLease(d, 60).acquire()
    assert "has expired (after 420 s): taking the run over" in note, note
    assert lease(d)["owner"]["token"] == nb.this_owner()["token"]


def test_a_damaged_lease_is_reported_and_rebuilt(nb, tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    (d / "lease.json").write_text('{"owner": {"tok')
    note = nb.RunLease(d, 60).acquire(step=3)
    assert note == (f"the lease file {d / 'lease.json'} is damaged (JSONDecodeError): it is rebuilt, this process "
                    "takes the run.")
    assert lease(d)["step"] == 3 and lease(d)["owner"]["token"] == nb.this_owner()["token"]


def test_a_released_lease_is_free_at_once_and_expiry_counts_drive_lag(nb, tmp_path):
    d = tmp_path / "run"
    foreign_lease(d, age=5)
    data = lease(d)
    data["released"] = True                                          # that trainer finished cleanly
    (d / "lease.json").write_text(json.dumps(data))
    assert nb.RunLease(d, 60).acquire() is None                     # taken silently
    assert lease(d)["owner"]["pid"] == os.getpid()
    assert nb.RunLease(d, 60).expiry_s == 240                        # a local folder: no upload lag
    drive = nb.RunLease(nb.DRIVE_MOUNT + "/MyDrive/alphazero/x", 60)
    assert drive.expiry_s == 240 + nb.RunLease.DRIVE_LAG_S


def test_a_reader_works_beside_a_trainer_and_takes_no_lease(nb, tmp_path):
    d = tmp_path / "run"
    first = start(d, 24, STEP_SLEEP=0.15)
    wait_for(lambda: (published_step(d) or 0) >= 4, what="step 4 published")
    owner = lease(d)["owner"]
    player = nb.load_player(d, simulations=4, device="cpu")          # what PLAY_RUN and the benches do
    assert player.act(player.game.initial_state(2)).shape == (2,)
    assert lease(d)["owner"] == owner
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0 and "done 24" in out, err[-2000:]
    assert metric_steps(d) == list(range(2, 25, 2))


def test_a_lost_lease_stops_in_process_before_any_write(nb, tmp_path):
    """In-process: once another owner holds the lease, the next write (a metrics line, a checkpoint)
    raises LeaseLostError, the checkpoint stays local, and the pointer is the other owner's."""
    cfg = nb.build_config("connect4", "cpu", "run", num_filters=8, num_blocks=1, games_per_actor=8, simulations=2,
                          batch_size=16, min_buffer_size=16, steps=4)
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=lambda m: None)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None)
    coord.self_play()
    coord.train_step()
    assert coord.save() is not None
    pointer = (tmp_path / "run" / "latest.json").read_bytes()
    foreign_lease(tmp_path / "run", age=0)
    with pytest.raises(nb.LeaseLostError, match="was taken over"):
        coord.log_record()
    with pytest.raises(nb.LeaseLostError, match="checkpoint is kept locally at"):
        coord.save()
    assert (tmp_path / "run" / "latest.json").read_bytes() == pointer
    assert Path(storage.pending["file"]).exists()
    with pytest.raises(nb.LeaseLostError):
        coord.lease.renew(coord.step, force=True)                    # a heartbeat says it too


def test_a_lease_that_cannot_be_written_does_not_stop_training(nb, tmp_path, monkeypatch):
    """A full or stale Drive fails the lease's small write too: training goes on (the checkpoint and
    metrics writes report the problem themselves); at start the same failure is one clear error."""
    cfg = nb.build_config("connect4", "cpu", "run", num_filters=8, num_blocks=1, games_per_actor=8, simulations=2,
                          batch_size=16, min_buffer_size=16, steps=4, lease_heartbeat_s=0.1)
    storage = nb.ColabStorage(tmp_path / "run", local_dir=tmp_path / "local", log=lambda m: None)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None)
    real = nb._fsync_write

    def full_disk(path, write):
        if "lease" in Path(path).name:
            raise OSError(28, "No space left on device")
        real(path, write)
    monkeypatch.setattr(nb, "_fsync_write", full_disk)
    time.sleep(0.2)
    coord.self_play()
    coord.train_step()                      # a heartbeat was due: its write failed quietly
    assert coord.save() is not None
    (tmp_path / "other").mkdir()
    with pytest.raises(nb.RunFolderError, match="cannot write the lease .*disk is full"):
        nb.RunLease(tmp_path / "other", 60).acquire()
