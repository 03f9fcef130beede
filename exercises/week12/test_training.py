"""Visible tests for training.py: run `pytest test_training.py` (the last one trains for a few seconds)."""

import torch
from llama import Llama
from training import N_COPY, copy_accuracy, copy_batch, copy_config, sample_copy, train_copy


def test_copy_batch_puts_the_loss_on_the_copy():
    seqs = sample_copy(3, torch.Generator().manual_seed(0))
    before = seqs.clone()
    tokens, targets = copy_batch(seqs)
    assert torch.equal(seqs, before), "copy_batch changed its input"
    assert torch.equal(tokens, seqs[:, :-1])
    assert (targets[:, :N_COPY] == -100).all(), "no loss on the random half, nor on the SEP"
    assert torch.equal(targets[:, N_COPY:], seqs[:, N_COPY + 1 :]), "the SEP and the copy predict the copy"


def test_copy_accuracy_of_an_untrained_model():
    torch.manual_seed(0)
    acc = copy_accuracy(Llama(copy_config()), sample_copy(50, torch.Generator().manual_seed(1)))
    assert isinstance(acc, float) and 0.0 <= acc < 0.3


def test_train_copy_learns_to_copy():
    data = sample_copy(4000, torch.Generator().manual_seed(0))
    model = train_copy(copy_config(), data, steps=100, seed=0)
    acc = copy_accuracy(model, sample_copy(500, torch.Generator().manual_seed(1)))
    assert acc > 0.9, f"copies {acc:.1%} of the symbols"
