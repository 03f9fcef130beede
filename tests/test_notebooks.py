"""The generated notebooks, executed by a real Jupyter kernel."""

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT

pytestmark = pytest.mark.slow


def execute(path, allow_errors):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, allow_errors=allow_errors, resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def errors(nb):
    return {c.id: o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"}


def test_source_notebook_runs_clean():
    nb = execute(ROOT / "source" / "week1" / "week1.ipynb", allow_errors=False)
    assert not errors(nb)


def test_release_notebook_fails_its_tests_until_filled_in():
    nb = execute(ROOT / "release" / "week1" / "week1.ipynb", allow_errors=True)
    failed = errors(nb)
    graded = [c.id for c in nb.cells if c.cell_type == "code" and c.id.startswith("test-") and "def test_" in c.source]
    assert len(graded) == 13
    assert set(graded) <= set(failed), "every visible test cell should fail on the stubs"
    assert all(failed[g].ename == "NotImplementedError" for g in graded)
