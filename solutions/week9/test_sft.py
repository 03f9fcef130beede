"""Visible tests for sft.py: run `pytest test_sft.py` (the last one trains for a few seconds)."""

import torch
from sft import IGNORE, make_sft_batch, sft_loss, train_sft
from torch.nn import functional as F
from toy import PAD, LMConfig, TinyGPT, sample_demonstrations


def test_make_sft_batch_layout():
    ids, labels = make_sft_batch([[3, 1, 10], [2, 10]], [[5, 9], [7, 7, 7, 7]])
    assert torch.equal(ids, torch.tensor([[3, 1, 10, 5, 9, PAD], [2, 10, 7, 7, 7, 7]]))
    assert torch.equal(labels, torch.tensor([[IGNORE, IGNORE, IGNORE, 5, 9, IGNORE], [IGNORE, IGNORE, 7, 7, 7, 7]]))
    assert ids.dtype == labels.dtype == torch.long


def test_sft_loss_counts_only_the_response():
    _, labels = make_sft_batch([[3, 1, 10], [2, 10]], [[5, 9], [7, 7, 7, 7]])
    logits = torch.randn(2, 6, 12)
    loss = sft_loss(logits, labels)
    # by hand: position t predicts the token at t + 1; 2 + 4 response tokens, one mean over all six
    terms = [
        F.cross_entropy(logits[b, t - 1], labels[b, t]) for b in range(2) for t in range(6) if labels[b, t] != IGNORE
    ]
    assert len(terms) == 6
    assert torch.allclose(loss, torch.stack(terms).mean())
    # the logits that predict prompt tokens or padding do not matter
    changed = logits.clone()
    changed[0, :2] += 100.0  # predict the prompt's 2nd and 3rd tokens
    changed[0, 4:] += 100.0  # predict the padding (position 4 predicts position 5)
    assert torch.allclose(sft_loss(changed, labels), loss)


def test_train_sft_learns_the_demonstrations():
    torch.manual_seed(0)
    model = TinyGPT(LMConfig())
    ids, labels = make_sft_batch(*sample_demonstrations(2000, torch.Generator().manual_seed(0)))
    losses = train_sft(model, ids, labels, steps=60, generator=torch.Generator().manual_seed(1))
    assert len(losses) == 60 and losses[-1] < losses[0]
    held_ids, held_labels = make_sft_batch(*sample_demonstrations(500, torch.Generator().manual_seed(2)))
    model.eval()
    with torch.no_grad():
        predictions = model(held_ids)[:, :-1].argmax(-1)
    targets = held_labels[:, 1:]
    accuracy = (predictions == targets)[targets != IGNORE].float().mean().item()
    assert accuracy > 0.95, f"held-out response tokens right: {accuracy:.1%}"
