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
    """Two notebook commands: the main job (Connect Four) and chess, both the cpu preset, both from scratch."""
    runs = [c for c in readme_commands() if "papermill" in c]
    assert sorted(re.search(r"-p GAME (\w+)", c).group(1) for c in runs) == ["chess", "connect4"]
    for command in runs:
        assert "train_alphazero.ipynb" in command and "PRESET cpu" in command
        assert "torch==2.13.0" in command and "-r requirements.txt" in command
