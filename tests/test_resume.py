"""Resume exactly after any interruption: exact continuation, SIGKILL at random moments (also
during checkpoint writes), and checkpoints that move between devices."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

DRIVER = Path(__file__).resolve().parent / "train_driver.py"


def run_driver(run_dir, steps, interval=2, stop_at=None, timeout=300):
    r = subprocess.run([sys.executable, str(DRIVER), str(run_dir), str(steps), str(interval), str(stop_at or steps)],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def metric_steps(run_dir):
    lines = (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(l)["step"] for l in lines if "loss/total" in json.loads(l)]


def params(run_dir):
    return torch.load(Path(run_dir) / "final_params.pt", weights_only=True)


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"parameter {k} differs"


def expected_start(run_dir, published):
    """What a restart must say first: the step the pointer published; without a pointer (killed before
    the first one), the newest checkpoint file that loads, from which the storage rebuilds its pointer
    (a process killed after a checkpoint file was complete but before the pointer named it), else a
    fresh run."""
    if published is not None:
        return f"resumed from step {published} "
    steps = []
    for f in Path(run_dir).glob("ckpt-*.pt"):
        try:
            steps.append(torch.load(f, map_location="cpu", weights_only=False)["counters"]["step"])
        except Exception:                       # cut off mid-write: the storage sets it aside
            pass
    return f"resumed from step {max(steps)} " if steps else "fresh run"


START = ("fresh run", "resumed from step")     # how the driver's start line begins


def start_line(lines):
    """The first 'fresh run ...' or 'resumed from step k ...' line (a rebuilt pointer logs lines before it)."""
    return next((l for l in lines if l.startswith(START)), "".join(lines))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run every interrupted run must reproduce exactly."""
    d = tmp_path_factory.mktemp("ref") / "run"
    out = run_driver(d, 12)
    assert "fresh run" in out and "done 12" in out
    return d


def test_exact_continuation_after_a_clean_stop(reference, tmp_path):
    d = tmp_path / "run"
    run_driver(d, 12, interval=4, stop_at=7)          # a session stopped at step 7 (saved by `finally`) ...
    out = run_driver(d, 12, interval=4)               # ... and the next one goes on to 12
    assert "resumed from step 7" in out
    assert_same_params(params(d), params(reference))
    assert metric_steps(d) == metric_steps(reference) == [2, 4, 6, 8, 10, 12]


def test_sigkill_at_random_moments_resumes_from_last_published_checkpoint(reference, tmp_path):
    """At least 20 SIGKILLs (a checkpoint every step, so many land mid-write); every restart resumes
    from the step the pointer had published when the process died, and the finished run ends with
    exactly the parameters and metrics step sequence of the uninterrupted run."""
    seed = int(os.environ.get("KILL_SEED", random.randrange(10**6)))
    print(f"KILL_SEED={seed}")
    rng = random.Random(seed)
    d = tmp_path / "run"
    kills = mid_write = 0
    published = None
    marker = tmp_path / "writing"
    env = {**os.environ, "WRITE_MARKER": str(marker)}
    while kills < 20:
        expected = expected_start(d, published)
        proc = subprocess.Popen([sys.executable, str(DRIVER), str(d), "12", "1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [proc.stdout.readline()]        # "fresh run ..." or "resumed from step k ..."
        while lines[-1] and not lines[-1].startswith(START):
            lines.append(proc.stdout.readline())
        assert start_line(lines).startswith(expected), (lines, published)
        # every other kill waits for a checkpoint write to be under way; the others hit at random
        deadline = time.time() + rng.uniform(0.2, 2.5)
        while proc.poll() is None and (time.time() < deadline if kills % 2 else not marker.exists()):
            time.sleep(0.005)
        if proc.poll() is not None:             # finished before the kill: continue in a new folder
            assert "done 12" in proc.stdout.read()
            d, published = tmp_path / f"run{kills}", None
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close(); proc.stderr.close()
        mid_write += marker.exists()
        marker.unlink(missing_ok=True)
        kills += 1
        pointer = d / "latest.json"
        published = json.loads(pointer.read_text())["generations"][0]["step"] if pointer.exists() else None
    expected = expected_start(d, published)
    out = run_driver(d, 12, interval=1)
    assert start_line(out.splitlines(keepends=True)).startswith(expected), (out[:2000], published)
    assert_same_params(params(d), params(reference))
    steps = metric_steps(d)
    assert steps == sorted(set(steps)) and steps[-1] == 12, steps
    print(f"{kills} kills, {mid_write} of them while a checkpoint file was being written")
    assert mid_write >= 8


def test_checkpoint_moves_between_devices(nb, tmp_path):
    """CPU -> GPU: a CPU checkpoint (disabled GradScaler saved as {}) resumes on this machine's best
    device (CUDA when present: an enabled scaler must not load {}). GPU -> CPU: a checkpoint carrying
    an fp16 GradScaler state and CUDA RNG states, as a T4 run saves it, resumes on CPU."""
    from train_driver import TINY
    d = tmp_path / "run"
    run_driver(d, 4)
    storage = nb.ColabStorage(d, local_dir=tmp_path / "local", log=lambda m: None)
    target = nb.pick_device()
    ck, _ = storage.load_latest(map_location=target)
    assert ck["scaler"] == {}
    cfg = nb.build_config("connect4", "cpu", "run", seed=7, steps=6, checkpoint_interval=2, **TINY)
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, target, log=lambda m: None)
    assert coord.step == 4 and next(coord.net.parameters()).device.type == target.type
    coord.self_play(); coord.train_step()
    assert coord.step == 5
    # a checkpoint as a CUDA fp16 run writes it, loaded on CPU
    ck, _ = storage.load_latest(map_location="cpu")
    ck["scaler"] = {"scale": 32768.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000,
                    "_growth_tracker": 7}
    ck["rng"]["cuda"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [torch.zeros(16, dtype=torch.uint8)]
    storage.save(ck, ck["counters"]["step"])
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: None)
    assert coord.step == 4 and not coord.scaler.is_enabled()
    coord.self_play(); coord.train_step()
    assert coord.step == 5
