"""Visible tests for training.py: run `pytest test_training.py` (the last one trains for a few seconds)."""

import os
import tempfile

import torch
from bpe import load_text
from gpt1 import GPTConfig
from training import CharVocab, estimate_loss, generate, get_batch, plot_loss_curve, split_text, train_lm


def test_get_batch_windows_and_targets():
    data = torch.arange(100, 150)
    x, y = get_batch(data, block_size=8, batch_size=64, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (64, 8) and x.dtype == torch.long
    starts = x[:, 0] - 100
    assert torch.equal(x, data[starts[:, None] + torch.arange(8)]), "x[b] = data[i : i + T]"
    assert torch.equal(y, x + 1), "y is x shifted by one: the next token at every position"
    assert 0 <= starts.min() and starts.max() <= 50 - 8 - 1


def test_get_batch_uses_the_generator():
    data = torch.arange(1000)
    a, _ = get_batch(data, 16, 4, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(123)  # the global RNG must not matter
    b, _ = get_batch(data, 16, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    # Every start, the last one included, can come up.
    x, _ = get_batch(torch.arange(12), 10, 300, generator=torch.Generator().manual_seed(1))
    assert set(x[:, 0].tolist()) == {0, 1}


def test_short_training_run_learns_characters():
    text = load_text()
    vocab = CharVocab(text)
    train, val = split_text(text)
    train_ids, val_ids = vocab.encode(train), vocab.encode(val)
    config = GPTConfig(vocab_size=vocab.vocab_size, block_size=32, n_layer=1, n_head=4, n_embd=32, dropout=0.0)
    log = []
    model = train_lm(train_ids, config, steps=100, batch_size=32, lr=1e-2, log=log, val_data=val_ids)
    assert [e["step"] for e in log] == list(range(1, 101)) and "val_loss" in log[-1]
    loss = estimate_loss(model, val_ids, 32, generator=torch.Generator().manual_seed(0))
    assert loss < 2.9, f"held-out loss {loss:.2f} after 100 steps (a unigram model gets about 3.3)"
    assert not model.training, "train_lm returns the model in eval mode"
    sample = vocab.decode(
        generate(model, vocab.encode("ROMEO:")[None], 50, generator=torch.Generator().manual_seed(0))[0]
    )
    assert sample.startswith("ROMEO:") and len(sample) == 56
    with tempfile.TemporaryDirectory() as tmp:
        path = plot_loss_curve(log, os.path.join(tmp, "loss.png"))
        assert os.path.getsize(path) > 0
