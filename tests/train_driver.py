"""Train a tiny Connect Four run with the notebook's own training loop, `coord.run` (used by the kill tests).

    python tests/train_driver.py RUN_DIR STEPS [CHECKPOINT_INTERVAL [STOP_AT]]

STOP_AT ends the session early (like a user stopping the cell: the loop's finally saves).
With WRITE_MARKER=path set, every checkpoint file write creates that file while it runs and is
slowed down a little, so a test can kill the process in the middle of a write on purpose.
STEP_SLEEP=seconds slows every training step (a run that is still training when a test needs it),
TAKE_OVER=1 takes the run's lease from another process (the form's TAKE_OVER_RUN), LEASE_HEARTBEAT
sets the lease's heartbeat in seconds.

Prints 'resumed from step k ...' or 'fresh run ...' first, then 'done <step>' at the end, and
saves the final network's parameters to RUN_DIR/final_params.pt.
"""
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import load_notebook_module  # noqa: E402

TINY = dict(num_filters=8, num_blocks=1, games_per_actor=16, simulations=4, batch_size=32,
            min_buffer_size=64, buffer_size=400, log_interval=2, num_actors=2, warmup_steps=2)


def main():
    run_dir, steps = Path(sys.argv[1]), int(sys.argv[2])
    interval = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    stop_at = int(sys.argv[4]) if len(sys.argv) > 4 else steps
    torch.set_num_threads(1)
    nb = load_notebook_module()
    marker = os.environ.get("WRITE_MARKER")
    if marker:
        real_write = nb._fsync_write

        def marked_write(path, write):
            Path(marker).touch()
            time.sleep(0.05)
            real_write(path, write)
            time.sleep(0.05)
            Path(marker).unlink()
        nb._fsync_write = marked_write
    cfg = nb.build_config("connect4", "cpu", run_dir.name, seed=7, steps=steps, checkpoint_interval=interval,
                          lease_heartbeat_s=float(os.environ.get("LEASE_HEARTBEAT", 60)), **TINY)
    storage = nb.ColabStorage(run_dir, local_dir=run_dir.parent / "local")
    coord = nb.SingleProcessCoordinator.create_or_resume(cfg, storage, "cpu", log=lambda m: print(m, flush=True),
                                                         take_over=os.environ.get("TAKE_OVER") == "1")
    pause = float(os.environ.get("STEP_SLEEP", 0))
    coord.run(until_step=min(cfg.steps, stop_at), on_step=lambda c: time.sleep(pause))   # the notebook's loop
    torch.save(nb.unwrap(coord.net).state_dict(), run_dir / "final_params.pt")
    print(f"done {coord.step}", flush=True)


if __name__ == "__main__":
    main()
