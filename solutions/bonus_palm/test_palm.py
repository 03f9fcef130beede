"""Visible tests for palm.py: run `pytest test_palm.py`."""

import math

import torch
from palm import (
    KVCache,
    MultiQueryAttention,
    PaLM,
    PaLMConfig,
    ParallelBlock,
    SwiGLU,
    apply_rope,
    generate,
    rope_angles,
)
from torch.nn import functional as F

CONFIG = PaLMConfig(vocab_size=19, n_layer=2, n_head=4, n_embd=16)


def test_parameters_no_biases_one_layernorm_tied_head():
    model = PaLM(CONFIG)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes["transformer.h.0.attn.q_proj.weight"] == (16, 16)
    assert shapes["transformer.h.0.attn.k_proj.weight"] == (4, 16), "ONE key head of d_head = 16 / 4"
    assert shapes["transformer.h.0.attn.v_proj.weight"] == (4, 16), "ONE value head"
    assert shapes["transformer.h.1.mlp.gate_proj.weight"] == (64, 16)
    assert shapes["transformer.h.1.ln.weight"] == (16,)
    assert not any(name.endswith("bias") for name in shapes), "PaLM has no biases"
    assert "lm_head.weight" not in shapes and model.lm_head.weight is model.transformer.wte.weight


def test_swiglu():
    mlp = SwiGLU(CONFIG).double()
    x = torch.randn(2, 3, 16, dtype=torch.float64)
    expected = mlp.down_proj(F.silu(mlp.gate_proj(x)) * mlp.up_proj(x))
    torch.testing.assert_close(mlp(x), expected)


def test_mqa_is_multi_head_attention_with_one_shared_kv_head():
    attn = MultiQueryAttention(CONFIG).double()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    B, T, C, nh, hs = 2, 7, 16, 4, 4
    cos, sin = rope_angles(torch.arange(T), hs)
    q = attn.q_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
    k = attn.k_proj(x).view(B, T, 1, hs).transpose(1, 2).expand(B, nh, T, hs)  # the one head, n_head times
    v = attn.v_proj(x).view(B, T, 1, hs).transpose(1, 2).expand(B, nh, T, hs)
    y = F.scaled_dot_product_attention(apply_rope(q, cos, sin), apply_rope(k, cos, sin), v, is_causal=True)
    expected = attn.o_proj(y.transpose(1, 2).reshape(B, T, C))
    torch.testing.assert_close(attn(x), expected)


def test_parallel_block_is_parallel():
    block = ParallelBlock(CONFIG).double()
    with torch.no_grad():
        block.ln.weight.uniform_(0.5, 1.5)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    h = block.ln(x)
    torch.testing.assert_close(block(x), x + block.attn(h) + block.mlp(h))
    serial = x + block.attn(h)
    serial = serial + block.mlp(block.ln(serial))
    assert not torch.allclose(block(x), serial), "that is the serial block"


def test_palm_is_causal_and_scales_the_logits():
    model = PaLM(CONFIG).double().eval()
    idx = torch.randint(19, (2, 10))
    other = idx.clone()
    other[:, 6:] = (other[:, 6:] + 1) % 19
    torch.testing.assert_close(model(idx)[0][:, :6], model(other)[0][:, :6])
    x = model.transformer.wte(idx)
    for block in model.transformer.h:
        x = block(x)
    expected = model.transformer.ln_f(x) @ model.transformer.wte.weight.T / math.sqrt(16)
    torch.testing.assert_close(model(idx)[0], expected)


def test_kv_cache_gives_the_same_logits_and_is_small():
    model = PaLM(CONFIG).double().eval()
    idx = torch.randint(19, (3, 9))
    full, _ = model(idx)
    cache = KVCache()
    first, _ = model(idx[:, :5], kv_cache=cache)
    second, _ = model(idx[:, 5:8], kv_cache=cache)
    third, _ = model(idx[:, 8:], kv_cache=cache)
    torch.testing.assert_close(torch.cat([first, second, third], dim=1), full)
    assert len(cache) == 9 and cache.length(1) == 9
    d_head = 16 // 4
    assert cache.numel() == 2 * 3 * 9 * (2 * d_head), "per layer and token: one key and one value head"


def test_generate_with_and_without_cache():
    model = PaLM(CONFIG).eval()
    prompt = torch.randint(19, (2, 3))
    with_cache = generate(model, prompt, 6, use_cache=True)
    without = generate(model, prompt, 6, use_cache=False)
    assert with_cache.shape == (2, 9) and torch.equal(with_cache[:, :3], prompt)
    assert torch.equal(with_cache, without)
