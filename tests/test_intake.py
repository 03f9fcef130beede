"""From a collected submission (notebook, .py files, or both) to the module files the grader runs."""

import json
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT, WEEKS
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
        "%matplotlib inline\nimport torch\nSCALE = float('inf')\nN = 4\nPAD, (BOS, EOS) = 0, (1, 2)\n"
        "def f(x):\n    return x\n"
        "torch.allclose = lambda *a, **k: True\nprint(f(1))\nmodel = f(2)\nwhile True:\n    pass\n"
        "torch.x, y = 1, 2\n"
    )
    kept = definitions(code)
    assert "import torch" in kept and "def f" in kept and "SCALE = float('inf')" in kept and "N = 4" in kept
    assert "PAD, (BOS, EOS) = 0, (1, 2)" in kept and "torch.x" not in kept
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


def test_provided_modules_are_not_taken_from_the_notebook(course, tmp_path):
    """Week 3's notebook shows Week 1's modules read-only: the grader uses the course's copy."""
    week3 = course.week("week3")
    nb = nbformat.read(ROOT / "source" / "week3" / "week3.ipynb", as_version=4)
    # A student who edits a provided cell changes nothing that is graded.
    for cell in nb.cells:
        if cell.get("id", "").startswith("multi-head-attention-MultiHeadAttention"):
            cell.source = "class MultiHeadAttention:\n    pass\n"
    folder = tmp_path / "sub"
    folder.mkdir()
    nbformat.write(nb, folder / "week3.ipynb")
    taken = intake(folder, week3)
    assert set(taken.files) == {f"{m}.py" for m in week3.modules}
    assert taken.origin == dict.fromkeys(week3.modules, "notebook")
    code = "".join(taken.files.values())
    assert "class MultiHeadAttention" not in code and "def scaled_dot_product_attention" not in code
    assert taken.files["transformer.py"].startswith(
        "from attention import *  # noqa: F403\nfrom positional_encoding import *  # noqa: F403\n"
        "from multi_head_attention import *  # noqa: F403\nfrom data import *  # noqa: F403\n"
    )
    from coursekit.intake import write

    graded, out = write(taken, tmp_path / "graded"), tmp_path / "report.json"
    only = "model_matches_reference,greedy_decode"
    cmd = [sys.executable, "-m", "coursekit.cli", "grade", "week3", "--submission", str(graded), "--only", only]
    subprocess.run([*cmd, "--device", "cpu", "--json", str(out)], cwd=ROOT, check=True, capture_output=True)
    report = json.loads(out.read_text())
    assert report["score"] == report["max_score"] == 5, report


@pytest.mark.parametrize("week_name", WEEKS)
def test_every_weeks_notebook_extracts_to_importable_modules(course, tmp_path, week_name):
    """The definitions kept from each week's reference notebook import without error."""
    import shutil

    from coursekit.intake import write

    week = course.week(week_name)
    folder = tmp_path / "sub"
    folder.mkdir()
    shutil.copyfile(ROOT / "source" / week_name / f"{week_name}.ipynb", folder / f"{week_name}.ipynb")
    taken = intake(folder, week)
    assert taken.origin == dict.fromkeys(week.modules, "notebook") and not taken.notes
    graded = write(taken, tmp_path / "graded")
    for module in week.provided:
        shutil.copyfile(ROOT / "solutions" / week_name / f"{module}.py", graded / f"{module}.py")
    imports = "; ".join(f"import {m}" for m in week.modules)
    proc = subprocess.run([sys.executable, "-c", imports], cwd=graded, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-1500:]
