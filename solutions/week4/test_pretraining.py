"""Visible tests for pretraining.py: run `pytest test_pretraining.py` (the last one trains for a few seconds)."""

import torch
from pretraining import (
    classification_accuracy,
    finetune_classifier,
    language_config,
    masked_accuracy,
    mlm_loss,
    pretrain_mlm,
    sample_classification,
    sample_corpus,
)  # fmt: skip
from torch.nn import functional as F


def test_mlm_loss_ignores_unlabelled_positions():
    logits = torch.randn(2, 5, 9)
    labels = torch.full((2, 5), -100)
    labels[0, 1], labels[1, 3] = 4, 7
    expected = (F.cross_entropy(logits[0, 1], torch.tensor(4)) + F.cross_entropy(logits[1, 3], torch.tensor(7))) / 2
    torch.testing.assert_close(mlm_loss(logits, labels), expected)


def test_pretraining_learns_the_language():
    config = language_config()
    model = pretrain_mlm(config, sample_corpus(2000, torch.Generator().manual_seed(0)), steps=300, seed=0)
    accuracy = masked_accuracy(model, sample_corpus(500, torch.Generator().manual_seed(1)), torch.Generator().manual_seed(2))
    assert accuracy > 0.6, f"recovered {accuracy:.1%} of held-out masked tokens"
    assert model.mlm.decoder.weight is model.bert.embeddings.word_embeddings.weight


def test_finetuning_learns_the_task():
    config = language_config()
    torch.manual_seed(0)
    start = pretrain_mlm(config, sample_corpus(200, torch.Generator().manual_seed(0)), steps=5, seed=0)
    classifier = finetune_classifier(start, sample_classification(1000, torch.Generator().manual_seed(3)), steps=100, seed=0)
    accuracy = classification_accuracy(classifier, sample_classification(500, torch.Generator().manual_seed(4)))
    assert accuracy > 0.9, f"held-out accuracy {accuracy:.1%}"
