"""Visible tests for training.py: run `pytest test_training.py`."""

import math
import os
import tempfile

import torch
from torch.nn import functional as F
from training import label_smoothed_cross_entropy, plot_training_curves, rate, train_model


def test_rate_peaks_at_warmup():
    assert math.isclose(rate(1, 512, 4000), 512**-0.5 * 4000**-1.5)
    rates = [rate(s, 512, 4000) for s in (1000, 3999, 4000, 4001, 8000)]
    assert max(rates) == rates[2], "the rate peaks at step == warmup"
    assert math.isclose(rate(16000, 512, 4000), 512**-0.5 / 16000**0.5)
    assert math.isclose(rate(10, 64, 5, factor=2.0), 2 * rate(10, 64, 5))


def test_label_smoothing_matches_cross_entropy():
    logits, target = torch.randn(2, 4, 7), torch.randint(1, 7, (2, 4))
    target[0, -1] = 0  # PAD is ignored
    for eps in (0.0, 0.1):
        expected = F.cross_entropy(logits.reshape(-1, 7), target.reshape(-1), label_smoothing=eps, ignore_index=0)
        torch.testing.assert_close(label_smoothed_cross_entropy(logits, target, eps), expected)


def test_label_smoothing_minimum():
    # The best possible logits put 1 - eps + eps/V on the target and eps/V elsewhere.
    V, eps = 5, 0.1
    target = torch.tensor([[2, 3]])
    q = torch.full((1, 2, V), eps / V)
    q[0, 0, 2] += 1 - eps
    q[0, 1, 3] += 1 - eps
    entropy = -(q * q.log()).sum(-1).mean()
    torch.testing.assert_close(label_smoothed_cross_entropy(q.log(), target, eps), entropy)


def test_short_training_run_lowers_the_loss():
    log = []
    model = train_model("copy", steps=30, batch_size=16, d_model=16, d_ff=32, n_layers=1, log=log)
    assert len(log) == 30 and {"step", "loss", "lr"} <= set(log[0])
    assert log[-1]["loss"] < log[0]["loss"], "30 steps should lower the loss"
    assert not model.training, "train_model returns the model in eval mode"
    with tempfile.TemporaryDirectory() as tmp:
        path = plot_training_curves(log, os.path.join(tmp, "curves.png"))
        assert os.path.getsize(path) > 0
