"""The notebook file itself: nbformat validity, hygiene, structure, allowed imports, and a headless
papermill run of the whole notebook with the cpu preset (run twice: the second run resumes)."""
import ast
import json
import os
import re
import subprocess
import sys

import nbformat

from conftest import NOTEBOOK, export_cells

ALLOWED = {"torch", "numpy", "tqdm", "ipywidgets", "matplotlib", "IPython", "google"}


def cells():
    return json.loads(NOTEBOOK.read_text())["cells"]


def test_nbformat_valid_and_clean():
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    nbformat.validate(nb)
    for i, c in enumerate(cells()):
        lines = c["source"]
        assert isinstance(lines, list), f"cell {i}: source must be a list of lines"
        assert all(l.endswith("\n") for l in lines[:-1]), f"cell {i}: a source line lacks its newline"
        assert not (lines and lines[-1].endswith("\n")), f"cell {i}: trailing newline on the last line"
        if c["cell_type"] == "code":
            assert c["outputs"] == [] and c["execution_count"] is None, f"cell {i}: outputs committed"


def test_sections_in_order():
    heads = [l for c in cells() if c["cell_type"] == "markdown" for l in c["source"] if l.startswith("## ")]
    numbers = [int(m.group(1)) for h in heads if (m := re.match(r"## (\d)\. ", h))]
    assert numbers == list(range(1, 10)), heads


def test_every_code_cell_has_a_purpose_comment():
    for i, c in enumerate(cells()):
        if c["cell_type"] != "code":
            continue
        lines = [l for l in c["source"] if l.strip() and not l.startswith("#| export")]
        assert lines and lines[0].startswith("# "), f"cell {i} starts without a one-line purpose comment"


def test_parameters_cell_has_form_and_tag():
    params = [c for c in cells() if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1
    src = "".join(params[0]["source"])
    for name in ("GAME", "PRESET", "RUN_NAME", "RUNS_DIR", "STEPS", "NUM_ACTORS", "NUM_FILTERS", "NUM_BLOCKS",
                 "BATCH_SIZE", "SIMULATIONS", "CHECKPOINT_INTERVAL", "MIN_BUFFER_SIZE"):
        assert re.search(rf"^{name} = .*#@param", src, re.M), f"{name} missing from the form"


def test_imports_limited_to_allowed_packages():
    stdlib = set(sys.stdlib_module_names)
    for i, c in enumerate(cells()):
        if c["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(c["source"]))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) else []
            for n in names:
                top = n.split(".")[0]
                assert top in stdlib or top in ALLOWED, f"cell {i} imports {n}"
                if top == "google":
                    assert n.startswith("google.colab"), n
    code = "".join("".join(c["source"]) for c in cells() if c["cell_type"] == "code")
    assert not re.search(r"multiprocessing|threading|DataLoader|pip install|git clone", code)


def test_export_cells_only_define_things():
    for i, src in enumerate(export_cells()):
        tree = ast.parse(src)
        for node in tree.body:
            ok = isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.Assign,
                                   ast.AnnAssign)) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            assert ok, f"export cell {i} line {node.lineno}: {ast.dump(node)[:80]} is not a definition"
        assert "drive.mount" not in src and not re.search(r"(?<![\w.])input\(", src)


def run_notebook(tmp_path, name, **params):
    args = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(tmp_path / name), "--cwd", str(tmp_path),
            "-k", "python3", "--no-progress-bar"]
    for k, v in params.items():
        args += ["-p", k, str(v)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads((tmp_path / name).read_text())
    text = ""
    for c in out["cells"]:
        for o in c.get("outputs", []):
            if o.get("output_type") == "stream":
                text += "".join(o["text"])
    return text


def test_library_cells_are_at_most_250_lines():
    """Cells are cut by concept, and none grows past what reads in one sitting."""
    sizes = {i: len(src.splitlines()) for i, src in enumerate(export_cells())}
    assert max(sizes.values()) <= 250, {i: n for i, n in sizes.items() if n > 250}


def test_papermill_cpu_preset_runs_and_resumes(tmp_path):
    common = dict(GAME="connect4", PRESET="cpu", RUNS_DIR=tmp_path / "runs", RUN_NAME="pm", EVAL_GAMES=20,
                  CHECKPOINT_INTERVAL=5)
    first = run_notebook(tmp_path, "first.ipynb", STEPS=12, **common)
    assert "fresh run" in first and "training done: step 12" in first, first[-2000:]
    assert re.search(r"vs random: 20 games\s+W \d+ / D \d+ / L \d+", first)
    assert re.search(r"solved positions \(300, perfect-solver labels\): keeps the solved outcome in \d+\.\d% "
                     r"\(raw policy\) / \d+\.\d% \(search, 32 simulations\)", first), first[-2000:]
    second = run_notebook(tmp_path, "second.ipynb", STEPS=24, **common)
    assert "resumed from step 12" in second, second[-2000:]
    assert "training done: step 24" in second
    assert "vs previous checkpoint (step 20)" in second
    metrics = [json.loads(l) for l in (tmp_path / "runs" / "pm" / "metrics.jsonl").read_text().splitlines()]
    steps = [m["step"] for m in metrics if "loss/total" in m]
    assert steps == [10, 12, 20, 24], steps
    for key in ("step", "games", "positions", "loss/total", "loss/policy", "loss/value",
                "selfplay/games_per_hour", "buffer/size"):
        assert all(key in m for m in metrics if "loss/total" in m), key
    assert any("eval/random_score" in m for m in metrics)
    solved = [m for m in metrics if "eval/solved_keeps_raw" in m]
    assert len(solved) == 2 and all(0 <= m["eval/solved_keeps_search"] <= 1 for m in solved)   # both sessions kept
    assert re.search(r"tactics on those positions: a four at once made in \d+\.\d% / 100\.0% of \d+, a threat "
                     r"blocked in \d+\.\d% / \d+\.\d% of \d+", second), second[-2000:]   # the root sweep: every win
    tactics = [m for m in metrics if "eval/tactics_wins_search" in m]
    assert len(tactics) == 2 and all(m["eval/tactics_wins_search"] == 1.0 for m in tactics)
    curve = [m for m in metrics if m.get("event") == "curve"]          # the strength curve, across the resume
    assert [m["step"] for m in curve] == [5, 10, 15, 20], curve
    assert all(0 <= m["curve/solved_keeps_raw"] <= 1 and 0 <= m["curve/tactics_blocks_raw"] <= 1 for m in curve)
    assert all(a["train_min"] < b["train_min"] for a, b in zip(curve, curve[1:]))   # training time carried on
    assert re.search(r"section 8 plan: vs random, vs previous checkpoint \(step 20\): 20 games each, up to 42 "
                     r"plies, 32 simulations \(puct\) a move", second), second[-3000:]
    assert re.search(r"estimate: ~[\d,]+ searched positions ≈ \d+\.\d min at self-play's \d+ positions/s; "
                     r"budget 1\.0 min", second), second[-3000:]
    assert re.search(r"evaluation took \d+\.\d min", second)
    before = (tmp_path / "runs" / "pm" / "metrics.jsonl").read_text()
    ck = (tmp_path / "runs" / "pm" / "latest.json").read_text()
    third = run_notebook(tmp_path, "third.ipynb", PLAY_RUN="pm", STEPS=40, **common)   # play only: trains nothing
    assert "PLAY_RUN = 'pm': nothing is trained or evaluated" in third, third[-2000:]
    assert "training done" not in third and "section 8 plan" not in third and "resumed" not in third
    assert (tmp_path / "runs" / "pm" / "metrics.jsonl").read_text() == before
    assert (tmp_path / "runs" / "pm" / "latest.json").read_text() == ck


def test_papermill_chess_short_session(tmp_path):
    """Chess end to end on CPU: self-play, training, checkpoint, evaluation and the play widget."""
    out = run_notebook(tmp_path, "chess.ipynb", GAME="chess", PRESET="cpu", RUNS_DIR=tmp_path / "runs",
                       STEPS=3, SIMULATIONS=4, GAMES_PER_ACTOR=16, MIN_BUFFER_SIZE=64, BATCH_SIZE=32,
                       MAX_PLIES=16, EVAL_GAMES=4, CHECKPOINT_INTERVAL=3)
    assert "fresh run" in out and "training done: step 3" in out, out[-2000:]
    assert re.search(r"vs random: 4 games\s+W \d+ / D \d+ / L \d+", out)
    assert re.search(r"mate in one \(100 positions\): mates in \d+\.\d% \(raw policy\) / 100\.0% \(search", out)
    assert re.search(r"vs 1-ply greedy \(mate if it can, else the most material\): 4 games\s+W \d+ / D \d+ / L \d+", out)
    metrics = [json.loads(l) for l in (tmp_path / "runs" / "chess-cpu" / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/greedy_score" in m for m in metrics) and any(m.get("eval/mate1_search") == 1.0 for m in metrics)
    curve = [m for m in metrics if m.get("event") == "curve"]
    assert [m["step"] for m in curve] == [3] and curve[0]["curve/mate1_search"] == 1.0, curve
    assert 0 <= curve[0]["curve/greedy_agree_raw"] <= 1 and 0 <= curve[0]["curve/greedy_score"] <= 1
    assert (tmp_path / "runs" / "chess-cpu" / "latest.json").exists()


def run_notebook_expecting_error(tmp_path, name, env=None, **params):
    """Run the notebook headless where it must stop: -> (exit code, the failed cell's error output,
    the text the notebook printed before it)."""
    args = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(tmp_path / name), "--cwd", str(tmp_path),
            "-k", "python3", "--no-progress-bar"]
    for k, v in params.items():
        args += ["-p", k, str(v)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    out = json.loads((tmp_path / name).read_text())
    outputs = [o for c in out["cells"] for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert len(errors) == 1, r.stderr[-3000:]
    text = "".join("".join(o["text"]) for o in outputs if o.get("output_type") == "stream")
    return r.returncode, errors[0], text


def test_misspelled_parameter_stops_the_run(tmp_path):
    code, err, _ = run_notebook_expecting_error(tmp_path, "typo.ipynb", GAME="connect4", PRESET="cpu",
                                             RUNS_DIR=tmp_path / "runs", STEPZ=5)
    assert code != 0 and err["ename"] == "ConfigError" and "STEPZ" in err["evalue"], err
    assert len(err["traceback"]) == 1, err["traceback"]            # the message alone, no traceback
    assert not (tmp_path / "runs").exists()                        # stopped before anything was written


def test_runs_dir_that_is_a_file_stops_with_one_line(tmp_path):
    (tmp_path / "runs").write_text("a file")
    code, err, _ = run_notebook_expecting_error(tmp_path, "file.ipynb", GAME="connect4", PRESET="cpu",
                                             RUNS_DIR=tmp_path / "runs")
    assert code != 0 and err["ename"] == "RunFolderError", err
    assert str(tmp_path / "runs") in err["evalue"] and "RUNS_DIR" in err["evalue"]
    assert len(err["traceback"]) == 1, err["traceback"]


DISK_FULL_FOR_CHECKPOINTS = """
import errno, shutil
_copy = shutil.copyfileobj
def _full(src, dst, *args, **kwargs):   # the run folder takes small files but no checkpoint
    if "ckpt-" in str(getattr(dst, "name", "")):
        raise OSError(errno.ENOSPC, "No space left on device")
    return _copy(src, dst, *args, **kwargs)
shutil.copyfileobj = _full
"""


def test_unpublished_final_checkpoint_fails_the_headless_run(tmp_path):
    """A run folder that refuses every checkpoint (a full Drive): training goes on with a message per
    checkpoint, and the run ends non-zero with one line naming the local copy of the last one."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(DISK_FULL_FOR_CHECKPOINTS)   # imported by the kernel at start
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "PYTHONPATH": str(inject), "TMPDIR": str(tmp_path / "tmp")}
    code, err, text = run_notebook_expecting_error(
        tmp_path, "full.ipynb", env=env, GAME="connect4", PRESET="cpu", RUNS_DIR=tmp_path / "runs", STEPS=6,
        CHECKPOINT_INTERVAL=3, EVAL_GAMES=2, MIN_BUFFER_SIZE=64, GAMES_PER_ACTOR=16, SIMULATIONS=4, BATCH_SIZE=32)
    assert code != 0 and err["ename"] == "RunFolderError" and len(err["traceback"]) == 1, err
    assert "checkpoint step 3 NOT published" in text and "No space left" in text, text[-2000:]
    msg = err["evalue"]
    assert "step 6" in msg and "still holds no checkpoint" in msg and "kept locally at" in msg, msg
    kept = msg.split("kept locally at ")[1].split(".pt")[0] + ".pt"
    assert os.path.exists(kept) and str(tmp_path / "tmp") in kept, kept
    assert "training done" not in text


def plot_metrics_source(notebook_text):
    """The imports and `def plot_metrics` of the training cell (section 7), as source."""
    cell = next("".join(c["source"]) for c in json.loads(notebook_text)["cells"] if "def plot_metrics" in "".join(c["source"]))
    tree = ast.parse(cell)
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
            or (isinstance(n, ast.FunctionDef) and n.name == "plot_metrics")]
    return "\n".join(ast.get_source_segment(cell, n) for n in keep)


LIVE_PLOT_PROBE = '''
import json, os
def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
records = [{"step": s, "loss/total": 1.0, "loss/policy": 0.9, "loss/value": 0.1,
            "selfplay/games_per_hour": 4e4} for s in range(10, 30010, 10)]
records += [{"step": s, "event": "curve", "curve/solved_keeps_raw": 0.8, "train_min": s / 300}
            for s in range(50, 30050, 50)]
handle = None
for i in range(45):
    handle = plot_metrics(records, handle)
    if i == 4:
        before = rss_mib()
print("LIVE_PLOT_GROWTH_MIB", json.dumps(rss_mib() - before))
'''


def test_live_plot_does_not_grow_the_kernel(tmp_path):
    """The live plot is redrawn every log interval inside one long-running cell. In a real kernel with the
    inline backend, 40 redraws of a 30,000-step run's metrics keep the kernel's memory flat (a pyplot figure
    per redraw was kept until the cell ended: 4-17 MB each, 23 GB after a 90-minute run), and the display
    carries a PNG."""
    probe = nbformat.v4.new_notebook()
    probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    probe.cells = [nbformat.v4.new_code_cell(plot_metrics_source(NOTEBOOK.read_text()) + "\n" + LIVE_PLOT_PROBE)]
    nbformat.write(probe, tmp_path / "probe.ipynb")
    r = subprocess.run([sys.executable, "-m", "papermill", str(tmp_path / "probe.ipynb"), str(tmp_path / "out.ipynb"),
                        "-k", "python3", "--no-progress-bar"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    outputs = json.loads((tmp_path / "out.ipynb").read_text())["cells"][0]["outputs"]
    text = "".join("".join(o["text"]) for o in outputs if o.get("output_type") == "stream")
    growth = json.loads(re.search(r"LIVE_PLOT_GROWTH_MIB (\S+)", text).group(1))
    assert growth < 60, f"the kernel grew {growth:.0f} MiB over 40 redraws of the live plot"
    assert any("image/png" in o.get("data", {}) for o in outputs), outputs
