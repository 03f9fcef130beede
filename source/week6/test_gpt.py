"""Visible tests for gpt.py: run `pytest test_gpt.py`."""

import math

import torch
from gpt import GPT, Block, GPTConfig, KVCache

CONFIG = GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=4, n_embd=32)


def tiny(**changes):
    """A small GPT in float64 and eval mode."""
    fields = {**CONFIG.__dict__, **changes}
    return GPT(GPTConfig(**fields)).double().eval()


def test_logits_and_loss():
    model = tiny()
    idx = torch.randint(20, (3, 10))
    logits, loss = model(idx)
    assert logits.shape == (3, 10, 20) and loss is None
    logits, loss = model(idx, targets=torch.randint(20, (3, 10)))
    assert loss.shape == ()
    # Small initial weights give nearly uniform predictions: a loss close to ln(vocab_size).
    assert abs(loss.item() - math.log(20)) < 0.1, f"initial loss {loss.item():.3f}, expected about {math.log(20):.3f}"


def test_lm_head_is_tied_to_the_token_embeddings():
    model = tiny()
    assert model.lm_head.weight is model.transformer.wte.weight, "one nn.Parameter, used twice"
    assert model.lm_head.bias is None
    names = [name for name, _ in model.named_parameters()]
    assert "lm_head.weight" not in names, "named_parameters lists the tied matrix once"
    assert model.num_parameters(non_embedding=False) == sum(p.numel() for p in model.parameters())


def test_block_is_pre_norm():
    # With both residual branches silenced, a pre-norm block passes x through untouched:
    # x + 0 + 0. A post-norm block would return LayerNorm(x) instead.
    block = Block(CONFIG).double().eval()
    with torch.no_grad():
        for proj in (block.attn.c_proj, block.mlp.c_proj):
            proj.weight.zero_()
            proj.bias.zero_()
    x = 3.0 + 2.0 * torch.randn(2, 5, 32, dtype=torch.float64)
    torch.testing.assert_close(block(x), x)


def test_initialisation():
    model = GPT(GPTConfig(vocab_size=256, block_size=64, n_layer=4, n_head=4, n_embd=128))
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert (p == 0).all(), f"{name} should start at zero"
        elif p.dim() == 2:
            expected = 0.02 / math.sqrt(2 * 4) if name.endswith("c_proj.weight") else 0.02
            std = p.std().item()
            assert abs(std / expected - 1) < 0.05, f"{name}: std {std:.5f}, expected {expected:.5f}"


def test_causal():
    model = tiny()
    idx = torch.randint(20, (2, 12))
    other = idx.clone()
    other[:, 7:] = (other[:, 7:] + 1) % 20
    torch.testing.assert_close(model(other)[0][:, :7], model(idx)[0][:, :7])


def test_kv_cache_gives_the_logits_of_one_pass():
    model = tiny()
    idx = torch.randint(20, (3, 13))
    full, _ = model(idx)
    cache = KVCache()
    start = 0
    for size in [4, 1, 1, 3, 4]:  # the prompt, single tokens, then several tokens on top of the cache
        logits, _ = model(idx[:, start : start + size], kv_cache=cache)
        torch.testing.assert_close(logits, full[:, start : start + size], msg=f"positions {start}..{start + size - 1}")
        start += size
        assert len(cache) == cache.length == start
