"""The README's two commands stay true: CI runs exactly the README's test command."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in readme_commands(), "the last line of .ci/run must be the README's test command"


def test_readme_main_command_runs_the_notebook_with_the_cpu_preset():
    main = [c for c in readme_commands() if "papermill" in c]
    assert len(main) == 1 and "train_alphazero.ipynb" in main[0] and "PRESET cpu" in main[0]
    assert "torch==2.13.0" in main[0] and "-r requirements.txt" in main[0]
