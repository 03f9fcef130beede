"""The generated notebooks, executed by a real Jupyter kernel."""

import shutil

import nbformat
import pytest
from conftest import ROOT, WEEKS
from nbclient import NotebookClient
from test_visible_tests import visible_tests

from coursekit.config import load_course

pytestmark = pytest.mark.slow


def copy_notebook(path, folder):
    """Run a copy in a scratch folder (notebooks that save plots write them there), with the
    week's data files beside it, as they are in the release folder."""
    shutil.copyfile(path, folder / path.name)
    for name in load_course(ROOT).week(path.stem).data:
        shutil.copyfile(ROOT / "data" / name, folder / name)
    return folder / path.name


def execute(path, allow_errors):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        kernel_name="python3",
        timeout=300,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    return nb


def errors(nb):
    return {
        c.id: o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    }


@pytest.mark.parametrize("week", WEEKS)
def test_source_notebook_runs_clean(week, tmp_path):
    nb = execute(copy_notebook(ROOT / "source" / week / f"{week}.ipynb", tmp_path), allow_errors=False)
    assert not errors(nb)


@pytest.mark.parametrize("week", WEEKS)
def test_release_notebook_fails_its_tests_until_filled_in(week, tmp_path):
    nb = execute(copy_notebook(ROOT / "release" / week / f"{week}.ipynb", tmp_path), allow_errors=True)
    failed = errors(nb)
    graded = [c.id for c in nb.cells if c.cell_type == "code" and c.id.startswith("test-") and "def test_" in c.source]
    assert len(graded) == visible_tests(week)
    assert set(graded) <= set(failed), "every visible test cell should fail on the stubs"
    assert all(failed[g].ename == "NotImplementedError" for g in graded)
