"""Visible tests for optim.py: run `pytest test_optim.py`."""

import torch
from gpt import GPT, GPTConfig
from optim import clip_grad_norm, configure_optimizer, cosine_lr


def test_only_matrices_decay():
    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=2, n_head=2, n_embd=16))
    optimizer = configure_optimizer(model, weight_decay=0.1, learning_rate=1e-3)
    assert isinstance(optimizer, torch.optim.AdamW)
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in no_decay["params"])
    held = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert len(held) == len(set(held)), "each parameter once (the tied matrix too)"
    assert set(held) == {id(p) for p in model.parameters()}


def test_cosine_schedule_shape():
    kw = dict(max_lr=1.0, min_lr=0.1, warmup_steps=10, max_steps=100)
    assert cosine_lr(0, **kw) == 0.1  # max_lr * 1 / 10
    assert cosine_lr(9, **kw) == 1.0  # the end of the warmup
    assert cosine_lr(10, **kw) == 1.0  # the start of the cosine
    assert abs(cosine_lr(55, **kw) - 0.55) < 1e-12  # half-way: the mean of max_lr and min_lr
    assert abs(cosine_lr(100, **kw) - 0.1) < 1e-12 and cosine_lr(500, **kw) == 0.1
    rates = [cosine_lr(s, **kw) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(rates, rates[1:])), "the cosine part never increases"


def test_clip_grad_norm_matches_torch():
    for max_norm in (0.5, 100.0):  # below, then above the norm
        grads = [torch.randn(4, 3), 10 * torch.randn(5), torch.randn(2, 2, 2)]
        mine = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        theirs = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for a, b, g in zip(mine, theirs, grads):
            a.grad, b.grad = g.clone(), g.clone()
        norm = clip_grad_norm((p for p in mine), max_norm)  # a generator, as model.parameters() is
        expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
        torch.testing.assert_close(torch.as_tensor(norm), expected)
        for a, b in zip(mine, theirs):
            torch.testing.assert_close(a.grad, b.grad)
