"""Visible tests for gpt1.py: run `pytest test_gpt1.py`."""

import torch
from gpt1 import GPT, MLP, Block, GPTConfig, lm_loss
from torch.nn import functional as F

CONFIG = GPTConfig(vocab_size=20, block_size=10, n_layer=2, n_head=4, n_embd=16, dropout=0.1)


def test_shapes():
    assert MLP(CONFIG)(torch.randn(2, 5, 16)).shape == (2, 5, 16)
    assert Block(CONFIG)(torch.randn(2, 5, 16)).shape == (2, 5, 16)
    assert GPT(CONFIG)(torch.randint(20, (2, 7))).shape == (2, 7, 20)
    assert GPT(CONFIG)(torch.randint(20, (1, 10))).shape == (1, 10, 20), "T may equal block_size"


def test_parameters_and_tied_head():
    model = GPT(CONFIG)
    assert model.lm_head.weight is model.wte.weight, "the output layer IS the token embedding matrix"
    assert isinstance(model.wpe, torch.nn.Embedding) and model.wpe.weight.shape == (10, 16), "learned positions"
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names and "h.1.attn.q_proj.weight" in names and "h.0.mlp.c_fc.weight" in names
    assert model.h[0].mlp.c_fc.out_features == 64, "the MLP is 4 times wider"


def test_block_is_post_norm():
    block = Block(CONFIG).eval()
    y = block(torch.randn(3, 6, 16) * 5 + 2)
    # The block ends with LayerNorm_2 (weight 1, bias 0 at initialisation): every output vector is normalised.
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(3, 6), atol=1e-3, rtol=0)


def test_future_tokens_do_not_change_the_past():
    model = GPT(CONFIG).eval()
    idx = torch.randint(20, (2, 8))
    later = idx.clone()
    later[:, 5:] = (later[:, 5:] + 1) % 20
    a, b = model(idx), model(later)
    torch.testing.assert_close(a[:, :5], b[:, :5], atol=1e-6, rtol=0, msg="position t must not see t+1, t+2, ...")
    assert not torch.allclose(a[:, 5:], b[:, 5:]), "a changed token should change its own position's logits"


def test_positions_matter():
    model = GPT(CONFIG).eval()
    idx = torch.full((1, 6), 3)
    logits = model(idx)
    assert not torch.allclose(logits[0, 0], logits[0, 5]), "the same token at two positions should differ"


def test_lm_loss_is_mean_cross_entropy():
    logits, targets = torch.randn(3, 5, 20), torch.randint(20, (3, 5))
    torch.testing.assert_close(lm_loss(logits, targets), F.cross_entropy(logits.reshape(15, 20), targets.reshape(15)))
    uniform = torch.zeros(2, 4, 20)
    torch.testing.assert_close(lm_loss(uniform, torch.zeros(2, 4, dtype=torch.long)), torch.log(torch.tensor(20.0)))
