"""From a collected submission (notebook, .py files, or both) to the module files the grader runs."""

import json
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT
from nbformat.v4 import new_code_cell

from coursekit.intake import IntakeError, definitions, intake

SOURCE_NB = ROOT / "source" / "week1" / "week1.ipynb"


@pytest.fixture
def week(course):
    return course.week("week1")


def notebook(folder, nb):
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "week1.ipynb")
    return folder


def runs_like_the_reference(folder, files):
    """Import the extracted modules in a fresh interpreter and compare one output with the reference."""
    for name, code in files.items():
        (folder / name).write_text(code)
    probe = (
        "import torch; torch.manual_seed(0); q = torch.randn(2, 3, 4)\n"
        "from multi_head_attention import MultiHeadAttention\n"
        "from attention import scaled_dot_product_attention as f\n"
        "from positional_encoding import sinusoidal_positional_encoding as pe\n"
        "print(float(f(q, q, q)[0].sum()), float(pe(5, 4).sum()), MultiHeadAttention(8, 2).num_heads)"
    )
    run = lambda cwd: (
        subprocess.run(
            [sys.executable, "-c", probe],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return run(folder) == run(ROOT / "solutions" / "week1")


def test_reference_notebook_extracts_to_working_modules(week, tmp_path):
    taken = intake(notebook(tmp_path / "sub", nbformat.read(SOURCE_NB, as_version=4)), week)
    assert taken.origin == dict.fromkeys(week.modules, "notebook")
    assert runs_like_the_reference(tmp_path, taken.files)
    assert "def test_" not in "".join(taken.files.values()), "visible tests are not graded code"


def test_py_files_win_over_the_notebook(week, tmp_path):
    folder = notebook(tmp_path / "sub", nbformat.read(SOURCE_NB, as_version=4))
    (folder / "attention.py").write_text("# mine\n")
    taken = intake(folder, week)
    assert taken.origin["attention"] == "file" and taken.files["attention.py"] == "# mine\n"
    assert taken.origin["multi_head_attention"] == "notebook"


def test_experiments_and_patches_in_cells_are_not_graded_code():
    code = (
        "%matplotlib inline\nimport torch\nSCALE = float('inf')\nN = 4\n"
        "def f(x):\n    return x\n"
        "torch.allclose = lambda *a, **k: True\nprint(f(1))\nmodel = f(2)\nwhile True:\n    pass\n"
    )
    kept = definitions(code)
    assert "import torch" in kept and "def f" in kept and "SCALE = float('inf')" in kept and "N = 4" in kept
    assert "allclose" not in kept and "print" not in kept and "model" not in kept and "while" not in kept


def test_duplicated_and_missing_cell_ids_are_repaired_with_a_note(week, tmp_path):
    nb = nbformat.read(SOURCE_NB, as_version=4)
    sdpa = next(c for c in nb.cells if c.id == "attention-scaled-dot-product-attention")
    at = nb.cells.index(sdpa) + 1
    nb.cells.insert(at, new_code_cell(sdpa.source, metadata=json.loads(json.dumps(sdpa.metadata))))
    folder = tmp_path / "sub"
    folder.mkdir()
    data = json.loads(nbformat.writes(nb))
    data["cells"][at]["id"] = sdpa.id  # a copied cell: nbformat itself would renumber it
    del data["cells"][0]["id"]
    (folder / "week1.ipynb").write_text(json.dumps(data))
    taken = intake(folder, week)
    assert any("duplicated cell id" in n for n in taken.notes)
    assert any("without an id" in n for n in taken.notes)
    assert runs_like_the_reference(tmp_path, taken.files)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"cells": [', "invalid JSON at line 1"),
        ("\xff\xfe garbage", "not UTF-8"),
        ('{"metadata": {}}', "has no list of cells"),
        (
            '{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
            "empty submission",
        ),
    ],
)
def test_unreadable_or_empty_notebooks_get_a_one_line_reason(week, tmp_path, content, reason):
    (tmp_path / "week1.ipynb").write_bytes(content.encode("latin-1"))
    with pytest.raises(IntakeError, match=reason) as info:
        intake(tmp_path, week)
    assert "\n" not in str(info.value)


def test_an_empty_folder_is_an_empty_submission(week, tmp_path):
    with pytest.raises(IntakeError, match="empty submission"):
        intake(tmp_path, week)


def test_a_syntax_error_in_a_solution_cell_reaches_the_grader(week, tmp_path):
    nb = nbformat.read(SOURCE_NB, as_version=4)
    next(c for c in nb.cells if c.id == "attention-causal-mask").source = "def causal_mask(n:\n    pass"
    taken = intake(notebook(tmp_path, nb), week)
    assert "def causal_mask(n:" in taken.files["attention.py"]
