"""Visible tests for sweep.py: run `pytest test_sweep.py` (the last ones train for a few seconds).

They use a sonnet instead of the whole of Tiny Shakespeare, so they run anywhere.
"""

import pytest
import torch
from model import GPT, GPTConfig
from sweep import char_vocab, count_parameters, encode, evaluate_loss, sweep, train_model

SONNET = """Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.
"""


def splits():
    vocab = char_vocab(SONNET)
    ids = encode(SONNET, vocab)
    return len(vocab), ids[:500], ids[500:]


def test_count_parameters_leaves_out_the_embeddings():
    model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=32))
    assert count_parameters(model) == 2 * (12 * 32**2 + 13 * 32) + 2 * 32  # 25 472
    assert count_parameters(model, non_embedding=False) == 25472 + (65 + 32) * 32  # wte counted once


def test_evaluate_loss_uses_every_window():
    V, _, val = splits()
    model = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=16))
    T, n = 16, (len(val) - 1) // 16
    with torch.no_grad():
        _, expected = model(val[: n * T].view(n, T), val[1 : n * T + 1].view(n, T))
    assert evaluate_loss(model, val, batch_size=3) == pytest.approx(expected.item(), abs=1e-5)
    assert evaluate_loss(model, val, batch_size=100) == pytest.approx(expected.item(), abs=1e-5)


def test_train_model_learns():
    V, train, val = splits()
    config = GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=24)
    torch.manual_seed(0)
    before = evaluate_loss(GPT(config), val)
    after = evaluate_loss(train_model(config, train, steps=80, lr=1e-2, seed=0), val)
    assert after < before - 0.8, f"held-out loss {before:.2f} -> {after:.2f}"


def test_sweep_returns_honest_points():
    V, train, val = splits()
    configs = [GPTConfig(V, 16, 1, 1, 4), GPTConfig(V, 16, 1, 2, 24)]
    points, models = sweep(configs, train, val, steps=80, lr=1e-2, seed=0)
    assert [n for n, _ in points] == [count_parameters(m) for m in models] == [12 * 4**2 + 13 * 4 + 2 * 4, 7272]
    for (n, loss), model in zip(points, models):
        assert loss == pytest.approx(evaluate_loss(model, val), abs=1e-6), "the loss of each model on val_data"
    assert points[1][1] < points[0][1], "the bigger model should do better"
