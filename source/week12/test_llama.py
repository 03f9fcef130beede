"""Visible tests for llama.py: run `pytest test_llama.py`."""

import math

import torch
from llama import (
    GroupedQueryAttention,
    KVCache,
    Llama,
    LlamaConfig,
    RMSNorm,
    SwiGLU,
    TransformerBlock,
    apply_rope,
    ffn_hidden_dim,
    generate,
    repeat_kv,
)  # fmt: skip
from torch.nn import functional as F

CONFIG = LlamaConfig(vocab_size=20, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_hidden=48)


def tiny(**changes):
    """A small Llama in float64 and eval mode."""
    return Llama(LlamaConfig(**{**CONFIG.__dict__, **changes})).double().eval()


def test_rmsnorm_divides_by_the_root_mean_square():
    norm = RMSNorm(6, eps=0.5).double()
    assert torch.equal(norm.weight.data, torch.ones(6, dtype=torch.float64))
    x = 3.0 + torch.randn(4, 6, dtype=torch.float64)  # a mean of 3: RMSNorm keeps it, LayerNorm would not
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + 0.5)
    torch.testing.assert_close(norm(x), expected)
    with torch.no_grad():
        norm.weight.mul_(2.0)
    torch.testing.assert_close(norm(x), 2.0 * expected)
    assert RMSNorm(6).eps == 1e-6


def test_rope_rotates_adjacent_pairs():
    d, theta = 4, 100.0
    x = torch.randn(1, 1, 1, d, dtype=torch.float64)
    out = apply_rope(x, torch.tensor([3]), theta)
    for i in range(d // 2):
        angle = 3 * theta ** (-2 * i / d)  # pair i turns by position * theta^(-2i/d_head)
        a, b = x[0, 0, 0, 2 * i], x[0, 0, 0, 2 * i + 1]
        expected = torch.stack([a * math.cos(angle) - b * math.sin(angle), a * math.sin(angle) + b * math.cos(angle)])
        torch.testing.assert_close(out[0, 0, 0, 2 * i : 2 * i + 2], expected, msg=f"pair ({2 * i}, {2 * i + 1})")


def test_rope_position_zero_and_norms():
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)
    torch.testing.assert_close(apply_rope(x, torch.zeros(5, dtype=torch.long)), x)
    out = apply_rope(x, torch.arange(10, 15))
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))


def test_rope_dot_product_depends_on_the_offset_only():
    q, k = torch.randn(1, 1, 1, 16, dtype=torch.float64), torch.randn(1, 1, 1, 16, dtype=torch.float64)

    def score(m, n):
        return (apply_rope(q, torch.tensor([m])) * apply_rope(k, torch.tensor([n]))).sum()

    torch.testing.assert_close(score(7, 3), score(104, 100))
    torch.testing.assert_close(score(0, 5), score(20, 25))
    assert not torch.isclose(score(7, 3), score(7, 4))


def test_swiglu():
    ffn = SwiGLU(8, 12).double()
    assert all(layer.bias is None for layer in (ffn.w1, ffn.w2, ffn.w3))
    assert ffn.w1.weight.shape == ffn.w3.weight.shape == (12, 8) and ffn.w2.weight.shape == (8, 12)
    x = torch.randn(3, 8, dtype=torch.float64)
    torch.testing.assert_close(ffn(x), ffn.w2(F.silu(ffn.w1(x)) * ffn.w3(x)))


def test_ffn_hidden_dim_of_llama_7b():
    assert ffn_hidden_dim(4096) == 11008
    assert ffn_hidden_dim(8192, multiple_of=4096, ffn_dim_multiplier=1.3) == 28672  # LLaMA 2 70B


def test_repeat_kv_keeps_each_head_next_to_itself():
    x = torch.arange(2.0).view(1, 2, 1, 1)  # heads a = 0, b = 1
    assert repeat_kv(x, 3).flatten().tolist() == [0, 0, 0, 1, 1, 1]


def test_gqa_shapes_and_causality():
    attn = GroupedQueryAttention(16, n_heads=4, n_kv_heads=2).double()
    assert attn.wk.weight.shape == (8, 16) and attn.wq.weight.shape == (16, 16)
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    out = attn(x, torch.arange(6))
    assert out.shape == (2, 6, 16)
    other = x.clone()
    other[:, 3:] += 1.0
    torch.testing.assert_close(attn(other, torch.arange(6))[:, :3], out[:, :3])


def test_block_is_pre_norm():
    # With both residual branches silenced, a pre-norm block passes x through untouched.
    block = TransformerBlock(CONFIG).double()
    with torch.no_grad():
        block.attention.wo.weight.zero_()
        block.feed_forward.w2.weight.zero_()
    x = 3.0 + torch.randn(2, 5, 32, dtype=torch.float64)
    torch.testing.assert_close(block(x, torch.arange(5)), x)


def test_parameter_names_are_metas():
    names = set(tiny().state_dict())
    for name in ["tok_embeddings.weight", "norm.weight", "output.weight", "layers.1.attention.wq.weight",
                 "layers.1.attention.wo.weight", "layers.0.feed_forward.w3.weight", "layers.0.attention_norm.weight",
                 "layers.0.ffn_norm.weight"]:  # fmt: skip
        assert name in names, name
    assert not any(name.endswith("bias") for name in names)
    assert len(names) == 3 + 2 * 9


def test_llama_7b_has_6_7_billion_parameters():
    with torch.device("meta"):
        model = Llama(LlamaConfig(vocab_size=32000, d_model=4096, n_layers=32, n_heads=32))
    assert sum(p.numel() for p in model.parameters()) == 6_738_415_616


def test_initial_loss_is_near_uniform():
    model = Llama(CONFIG)
    tokens = torch.randint(20, (3, 10))
    logits = model(tokens)
    assert logits.shape == (3, 10, 20)
    loss = F.cross_entropy(logits.view(-1, 20), tokens.view(-1))
    assert abs(loss.item() - math.log(20)) < 0.1


def test_kv_cache_gives_the_logits_of_one_pass():
    model = tiny()
    tokens = torch.randint(20, (3, 13))
    full = model(tokens)
    cache = KVCache()
    start = 0
    for size in [4, 1, 1, 3, 4]:  # the prompt, single tokens, then several tokens on top of the cache
        logits = model(tokens[:, start : start + size], kv_cache=cache)
        torch.testing.assert_close(logits, full[:, start : start + size], msg=f"positions {start}..{start + size - 1}")
        start += size
        assert len(cache) == cache.length == start


def test_generate_with_and_without_the_cache():
    model = tiny()
    prompt = torch.randint(20, (2, 5))
    greedy = generate(model, prompt, 8, temperature=0)
    assert greedy.shape == (2, 13) and torch.equal(greedy[:, :5], prompt)
    assert torch.equal(greedy, generate(model, prompt, 8, temperature=0, use_cache=False))
    sampled = [generate(model, prompt, 8, generator=torch.Generator().manual_seed(1), use_cache=c) for c in (1, 0)]
    assert torch.equal(*sampled)
