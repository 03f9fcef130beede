"""The capstone run, `course train gpt`, at toy size: what it writes, and what Ctrl-C keeps."""

import json
import shutil

import matplotlib.image
import pytest
import torch
from conftest import ROOT

from coursekit import cli, train

pytestmark = pytest.mark.xdist_group("test_train")  # one xdist worker runs the whole file

TEXT = (ROOT / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8")[:60_000]
TINY = dict(
    n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=8, max_iters=60, warmup_iters=5,
    eval_interval=20, eval_iters=4, sample_tokens=40, learning_rate=3e-3,
)  # fmt: skip


def tiny(**overrides):
    return train.config_from_args("cpu", {**TINY, **overrides})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    summary = train.train(tiny(), TEXT, out, ROOT / "solutions" / "week6", progress=False, log=lambda *a: None)
    return out, summary


def test_a_run_writes_checkpoint_history_plot_and_samples(run):
    out, summary = run
    assert {p.name for p in out.iterdir()} == {"ckpt.pt", "history.json", "loss.png", "samples.txt"}
    history = json.loads((out / "history.json").read_text())
    assert [e["step"] for e in history["evals"]] == [0, 20, 40, 60]
    assert history["steps"] == 60 and not history["interrupted"]
    assert history["best_val"] == min(e["val"] for e in history["evals"]) == summary["best_val"]
    assert history["evals"][0]["val"] > 4.0  # about ln(vocabulary) before training
    assert history["best_val"] < history["evals"][0]["val"] - 0.5
    image = matplotlib.image.imread(out / "loss.png")
    assert image.ndim == 3 and image.shape[0] > 100
    sample = (out / "samples.txt").read_text()
    assert len(sample) == 41 + 1 and set(sample) <= set(TEXT)  # the "\n" prompt, 40 new characters, a newline


def test_the_checkpoint_is_the_best_one_and_reloads(run):
    out, summary = run
    checkpoint = torch.load(out / "ckpt.pt")
    assert checkpoint["step"] == summary["best_step"] and checkpoint["best_val"] == summary["best_val"]
    week = train.load_modules(ROOT / "solutions" / "week6", train.WEEK6_MODULES, "_test_train")
    model = week.gpt.GPT(week.gpt.GPTConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    data = train.CharData(TEXT)
    assert checkpoint["chars"] == data.chars
    model.eval()
    assert train.evaluate_split(model, data, "val", 32) == pytest.approx(summary["best_val_full"], rel=1e-5)


def test_data_windows_are_the_next_characters():
    data = train.CharData("abcdefghij" * 20, val_fraction=0.1)
    assert data.vocab_size == 10 and data.decode(data.encode("jab")) == "jab"
    x, y = data.batch("train", 5, 7, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 7)
    assert torch.equal((x + 1) % 10, y)
    assert len(data.splits["val"]) == 20


def test_ctrl_c_stops_the_run_and_keeps_what_finished(tmp_path):
    code = tmp_path / "code"
    shutil.copytree(ROOT / "solutions" / "week6", code, ignore=shutil.ignore_patterns("test_*", "__pycache__"))
    with (code / "optim.py").open("a") as f:  # the learning-rate schedule is asked once per step
        f.write(
            "\n_schedule = cosine_lr\n\n\ndef cosine_lr(step, *args):\n"
            "    if step == 30:\n        raise KeyboardInterrupt\n    return _schedule(step, *args)\n"
        )
    out = tmp_path / "out"
    summary = train.train(tiny(), TEXT, out, code, progress=False, log=lambda *a: None)
    assert summary["interrupted"] and summary["steps"] == 30
    assert [e["step"] for e in summary["evals"]] == [0, 20]
    assert torch.load(out / "ckpt.pt")["step"] == summary["best_step"] == 20
    assert (out / "loss.png").is_file() and (out / "samples.txt").is_file()


def test_cli_settings_and_errors(tmp_path, capsys):
    cfg = train.config_from_args("gpu", {"max_iters": 7, "top_k": None})
    assert (cfg.n_layer, cfg.n_embd, cfg.block_size, cfg.max_iters) == (6, 384, 256, 7)
    with pytest.raises(ValueError, match="unknown setting"):
        train.config_from_args("cpu", {"n_layers": 3})
    assert cli._setting("n_layer", "3") == 3 and cli._setting("dropout", "0.1") == 0.1
    assert cli._setting("top_k", "none") is None and cli._setting("compile", "true") is True
    assert cli.main(["train", "gpt", "--set", "n_layers=3", "--out", str(tmp_path)]) == 2
    assert "unknown setting(s): n_layers" in capsys.readouterr().err
    assert cli.main(["train", "gpt", "--code", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "has no gpt.py" in capsys.readouterr().err
