"""Visible tests for transformer.py: run `pytest test_transformer.py`."""

import torch
from attention import causal_mask
from transformer import DecoderLayer, EncoderLayer, FeedForward, Transformer


def test_feed_forward_shapes():
    ff = FeedForward(8, 32)
    assert ff.linear1.weight.shape == (32, 8) and ff.linear2.weight.shape == (8, 32)
    assert ff(torch.randn(2, 5, 8)).shape == (2, 5, 8)


def test_layer_shapes():
    enc = EncoderLayer(16, 4, 32, dropout=0.0)
    dec = DecoderLayer(16, 4, 32, dropout=0.0)
    x, y = torch.randn(2, 7, 16), torch.randn(2, 5, 16)
    memory = enc(x)
    assert memory.shape == (2, 7, 16)
    assert dec(y, memory, tgt_mask=causal_mask(5)).shape == (2, 5, 16)


def test_post_norm_output_is_normalised():
    # In post-norm the last operation is a LayerNorm (weight 1, bias 0 at init): every position has mean 0, variance 1.
    enc = EncoderLayer(16, 4, 32, dropout=0.0, norm_first=False)
    out = enc(torch.randn(2, 7, 16) * 5)
    torch.testing.assert_close(out.mean(-1), torch.zeros(2, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(2, 7), atol=1e-3, rtol=0)


def test_model_shapes_and_causality():
    model = Transformer(11, 9, d_model=16, n_heads=4, n_layers=2, d_ff=32, dropout=0.0).eval()
    src, tgt = torch.randint(3, 11, (2, 6)), torch.randint(1, 9, (2, 5))
    logits = model(src, tgt)
    assert logits.shape == (2, 5, 9), f"got {tuple(logits.shape)}, expected (B, T, tgt_vocab)"
    changed = tgt.clone()
    changed[:, 3:] = 1
    torch.testing.assert_close(model(src, changed)[:, :3], logits[:, :3])  # the past does not see the future


def test_positional_table_not_in_state_dict():
    model = Transformer(11, 9, d_model=16, n_heads=4, n_layers=1, d_ff=32)
    assert not any("pe" == k.split(".")[-1] for k in model.state_dict()), "register pe with persistent=False"
    assert "norm_first" not in model.state_dict() and "encoder_norm.weight" not in model.state_dict()
