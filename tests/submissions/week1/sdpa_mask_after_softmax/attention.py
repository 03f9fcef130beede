"""BUG: the mask is applied after the softmax (weights * mask) with no renormalisation, so rows no longer sum to 1"""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v; mask is boolean, True = may attend. Returns (out, weights)."""
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights * mask  # zero the disallowed keys (but the row no longer sums to 1)
    out = weights @ v
    return out, weights


def causal_mask(seq_len, device=None):
    """Boolean (seq_len, seq_len) mask, True on and below the diagonal."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
