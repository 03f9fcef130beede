"""Visible tests for icl.py: run `pytest test_icl.py` (the last one trains for a few seconds)."""

import os
import tempfile

import torch
from gpt import GPT
from icl import N_PAIRS, answer_accuracy, best_accuracy, icl_batch, icl_config, plot_icl_accuracy, sample_icl, train_icl


def test_icl_batch_puts_the_loss_on_the_answers():
    seqs = sample_icl(3, torch.Generator().manual_seed(0))
    before = seqs.clone()
    idx, targets = icl_batch(seqs)
    assert torch.equal(seqs, before), "icl_batch changed its input"
    assert torch.equal(idx, seqs[:, :-1])
    assert torch.equal(targets[:, 0::2], seqs[:, 1::2]), "the position of x_k predicts f(x_k)"
    assert (targets[:, 1::2] == -100).all(), "no loss where the next token is a word"


def test_answer_accuracy_per_answer():
    torch.manual_seed(0)
    model = GPT(icl_config())
    seqs = sample_icl(50, torch.Generator().manual_seed(1))
    acc = answer_accuracy(model, seqs)
    assert acc.shape == (N_PAIRS,) and acc.dtype == torch.float32
    logits, _ = model(seqs[:, :-1])
    first = (logits[:, 0].argmax(-1) == seqs[:, 1]).float().mean()
    assert torch.isclose(acc[0], first), "entry 0: the prediction at x_1 against f(x_1)"


def test_train_icl_learns_in_context():
    data = sample_icl(4000, torch.Generator().manual_seed(0))
    model = train_icl(icl_config(), data, steps=200, seed=0)
    acc = answer_accuracy(model, sample_icl(1000, torch.Generator().manual_seed(1)))
    few, many = acc[:2].mean().item(), acc[8:].mean().item()
    best = sum(best_accuracy(k) for k in range(9, 13)) / 4
    assert many > 0.75, f"answers 9-12: {many:.1%} (best possible {best:.1%})"
    assert many - few > 0.35, f"answers 1-2: {few:.1%}, answers 9-12: {many:.1%}"
    path = plot_icl_accuracy({"trained": acc}, os.path.join(tempfile.mkdtemp(), "icl.png"))
    assert os.path.getsize(path) > 0
