"""BUG: disallowed scores are filled with -1e4 instead of -inf (and no fix-up), so fully masked rows come out uniform, not zero"""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v; mask is boolean, True = may attend. Returns (out, weights)."""
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e4)  # "minus a lot" instead of -inf
    weights = torch.softmax(scores, dim=-1)
    out = weights @ v
    return out, weights


def causal_mask(seq_len, device=None):
    """Boolean (seq_len, seq_len) mask, True on and below the diagonal."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
