"""Load the notebook's `#| export` cells, in order, into one module `nb` that the tests use."""
import json
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "Google Colab" / "train_alphazero.ipynb"


def export_cells(path=NOTEBOOK):
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"]
            if c["cell_type"] == "code" and "".join(c["source"]).lstrip().startswith("#| export")]


def load_notebook_module(path=NOTEBOOK, name="nb"):
    mod = types.ModuleType(name)
    mod.__file__ = str(path)
    sys.modules[name] = mod          # dataclasses need the module registered
    for i, src in enumerate(export_cells(path)):
        exec(compile(src, f"{path.name}:export[{i}]", "exec"), mod.__dict__)
    return mod


@pytest.fixture(scope="session")
def nb():
    return load_notebook_module()


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """The tests run many small tensor ops: on a 2-core machine intra-op threads only add contention
    (a descheduled OpenMP thread stalls every op), so the whole session uses one thread."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
