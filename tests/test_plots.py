"""`course plot`: every figure, drawn by the reference code, is a readable PNG; stubs give one line."""

import json
from pathlib import Path

import matplotlib.image
import nbformat
import pytest
import torch
from conftest import ROOT

from coursekit import cli, plots
from coursekit.config import load_course
from coursekit.intake import extract_modules, read_notebook
from coursekit.train import load_modules

QUICK = ["attention", "positional-encoding", "norms", "gradient-flow"]
TRAINING = [kind for kind in plots.KINDS if kind not in QUICK]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models are tiny: one thread is as fast, and far faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def course_plot(kind, out, *args):
    week = plots.KINDS[kind].week
    return cli.main(
        ["plot", kind, "--code", str(ROOT / "solutions" / week), "--out", str(out), "--device", "cpu", *args]
    )


def assert_png(path: Path):
    image = matplotlib.image.imread(path)  # (H, W, 4)
    assert image.ndim == 3 and image.shape[2] in (3, 4), image.shape
    assert 300 <= image.shape[0] <= 2000 and 500 <= image.shape[1] <= 2000, image.shape
    assert image[..., :3].std() > 0.05, "the figure is blank"


@pytest.mark.parametrize("kind", QUICK)
def test_plot_writes_a_png(kind, tmp_path, capsys):
    out = tmp_path / "sub" / f"{kind}.png"
    assert course_plot(kind, out) == 0
    assert_png(out)
    assert capsys.readouterr().out.strip() == f"wrote {out}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", TRAINING)
def test_training_plot_writes_a_png(kind, tmp_path):
    out = tmp_path / f"{kind}.png"
    assert course_plot(kind, out, "--steps", "20") == 0
    assert_png(out)


def test_gpt_loss_of_a_capstone_run(tmp_path):
    evals = [{"step": s, "train": 4 - s / 100, "val": 4.1 - s / 100} for s in (0, 50, 100)]
    history = {"evals": evals, "train": [{"step": s, "loss": 4 - s / 90} for s in range(0, 100, 10)]}
    (tmp_path / "history.json").write_text(json.dumps({**history, "best_val": 3.1, "best_step": 100}))
    out = tmp_path / "gpt-loss.png"
    assert cli.main(["plot", "gpt-loss", "--run", str(tmp_path), "--out", str(out)]) == 0
    assert_png(out)


def test_a_stub_names_the_todo(tmp_path, capsys):
    out = tmp_path / "attention.png"
    rc = cli.main(["plot", "attention", "--code", str(ROOT / "exercises" / "week1"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert err == (
        "course: TODO: implement sinusoidal_positional_encoding in positional_encoding.py "
        "(the attention plot needs it)\n"
    )


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert cli.main(["plot", "norms", "--code", str(tmp_path)]) == 2
    assert cli.main(["plot", "norms", "--run", str(tmp_path)]) == 2
    assert cli.main(["plot", "gpt-loss", "--run", str(tmp_path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("course: ") for line in lines), lines
    assert "has no layer_norm.py" in lines[0] and "gpt-loss only" in lines[1] and "history.json" in lines[2]


def notebook_namespace(week: str) -> dict:
    """Every module's names side by side, as in the week's notebook."""
    names = load_course(ROOT).week(week).all_modules
    modules = load_modules(ROOT / "solutions" / week, names, "_test_plots")
    return {k: v for m in names for k, v in vars(getattr(modules, m)).items() if not k.startswith("__")}


def test_a_notebook_draws_with_its_own_definitions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = notebook_namespace("week1")
    fig = plots.attention(code=namespace)
    assert fig._repr_png_().startswith(b"\x89PNG"), "Jupyter shows the figure inline from its PNG"
    assert_png(tmp_path / "plots" / "attention.png")

    def sinusoidal_positional_encoding(max_len, d_model, device=None):
        raise NotImplementedError("TODO")  # an unfinished notebook cell

    namespace["sinusoidal_positional_encoding"] = sinusoidal_positional_encoding
    with pytest.raises(plots.TodoError, match=r"^TODO: implement .*sinusoidal_positional_encoding \(the"):
        plots.positional_encoding(code=namespace)


@pytest.mark.parametrize("week", [w for w, spec in load_course(ROOT).weeks.items() if spec.plots])
def test_notebook_ends_with_its_plots_which_grading_leaves_out(week):
    course = load_course(ROOT)
    nb = nbformat.read(ROOT / "release" / week / f"{week}.ipynb", as_version=4)
    markdown, code = nb.cells[-2:]
    assert markdown.id == "look-at-your-model" and code.id == "look-at-your-model-plots"
    assert not code.metadata.nbgrader["grade"] and not code.metadata.nbgrader["solution"]
    for kind in course.week(week).plots:
        assert f"display(plots.{kind.replace('-', '_')}(code=globals()))" in code.source
    cells, _ = read_notebook(ROOT / "release" / week / f"{week}.ipynb")
    modules, _ = extract_modules(cells, course.week(week))
    assert not any("coursekit" in text or "display(" in text for text in modules.values())


def test_week3_figures_share_one_training_run_of_the_same_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = notebook_namespace("week3")
    runs = []

    def counted(train_model):
        def train_model_counted(*args, **kwargs):
            runs.append(kwargs["steps"])
            return train_model(*args, **kwargs)

        return train_model_counted

    original = namespace["train_model"]
    namespace["train_model"] = counted(original)
    plots.transformer_training(code=namespace, steps=5)
    plots.transformer_attention(code=namespace, steps=5)
    assert runs == [5]
    namespace["train_model"] = counted(original)  # the cell was run again: new code, a new run
    plots.transformer_attention(code=namespace, steps=5)
    assert runs == [5, 5]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "transformer-attention.png",
        "transformer-training.png",
    ]
