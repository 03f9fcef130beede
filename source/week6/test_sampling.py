"""Visible tests for sampling.py: run `pytest test_sampling.py`."""

import math

import torch
from gpt import GPT, GPTConfig
from sampling import generate, sampling_probs, top_k_filter, top_p_filter

INF = float("inf")


def small_model(block_size=16):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=11, block_size=block_size, n_layer=2, n_head=2, n_embd=16)
    model = GPT(config).double().eval()
    with torch.no_grad():  # larger weights than the initial ones, so that the predictions are far from uniform
        for p in model.parameters():
            p.mul_(20.0 if p.dim() == 2 else 1.0)
    return model


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 3.0, 2.0, 5.0, 4.0], [0.5, -1.0, 2.5, 0.0, 1.5]])
    expected = torch.tensor([[-INF, -INF, -INF, 5.0, 4.0], [-INF, -INF, 2.5, -INF, 1.5]])
    assert torch.equal(top_k_filter(logits, 2), expected)
    assert torch.equal(top_k_filter(logits, 10), logits), "k >= vocabulary size keeps everything"


def test_top_p_keeps_the_token_that_crosses_p():
    probs = torch.tensor([0.15, 0.5, 0.05, 0.3])
    logits = probs.log()
    for p, kept in [(0.4, [1]), (0.6, [1, 3]), (0.9, [0, 1, 3]), (0.99, [0, 1, 2, 3])]:
        out = top_p_filter(logits, p)
        assert torch.isfinite(out).nonzero().flatten().tolist() == kept, f"p={p}"
        assert torch.equal(out[kept], logits[kept]), "kept logits stay as they are"


def test_temperature_then_filters():
    logits = torch.randn(4, 9, dtype=torch.float64)
    torch.testing.assert_close(sampling_probs(logits, temperature=0.5), torch.softmax(logits / 0.5, dim=-1))
    greedy = sampling_probs(logits, temperature=0)
    assert torch.equal(greedy.argmax(-1), logits.argmax(-1)), "temperature 0: all the mass on the argmax"
    assert torch.equal(greedy.sum(-1), torch.ones(4, dtype=torch.float64))
    probs = sampling_probs(logits, temperature=2.0, top_k=3)
    assert ((probs > 0).sum(-1) == 3).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(4, dtype=torch.float64))


def test_generated_tokens_follow_the_filtered_distribution():
    model = small_model()
    prompt = torch.tensor([[3, 1, 4]]).repeat(4000, 1)
    out = generate(model, prompt, 1, temperature=0.8, top_k=4, generator=torch.Generator().manual_seed(0))
    expected = sampling_probs(model(prompt[:1])[0][0, -1], temperature=0.8, top_k=4)
    counts = torch.bincount(out[:, -1], minlength=11).double()
    assert (counts[expected == 0] == 0).all(), "never a token outside the top-k"
    # Each frequency within 5 standard deviations of its probability.
    sd = (expected * (1 - expected) / 4000).sqrt()
    assert ((counts / 4000 - expected).abs() <= 5 * sd + 1e-9).all(), (counts / 4000, expected)


def test_generate_is_reproducible():
    model = small_model()
    prompt = torch.randint(11, (2, 3))
    a = generate(model, prompt, 10, top_p=0.9, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(123)  # the global random state plays no part
    b = generate(model, prompt, 10, top_p=0.9, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 13) and torch.equal(a[:, :3], prompt)
    assert torch.equal(a, b)


def test_kv_cache_generation_equals_uncached():
    model = small_model(block_size=12)
    prompt = torch.randint(11, (3, 4))
    for kwargs in [dict(temperature=0), dict(temperature=1.0, top_k=5), dict(temperature=0.7, top_p=0.8)]:
        # 4 + 10 tokens: past block_size, generate falls back to recomputing; both must agree throughout.
        cached = generate(model, prompt, 10, generator=torch.Generator().manual_seed(2), use_cache=True, **kwargs)
        plain = generate(model, prompt, 10, generator=torch.Generator().manual_seed(2), use_cache=False, **kwargs)
        assert torch.equal(cached, plain), kwargs
    assert math.isfinite(model(prompt)[0].sum().item())
