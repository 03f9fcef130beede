"""CORRECT (written differently): hand-written softmax exp(x - logsumexp(x)) after subtracting the row max."""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v; mask is boolean, True = may attend. Returns (out, weights)."""
    d_k = q.shape[-1]
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(d_k)
    empty = None
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        empty = ~mask.any(dim=-1, keepdim=True)  # rows with no allowed key
        scores = scores.masked_fill(empty, 0.0)  # keep them finite; zeroed below
    shifted = scores - scores.amax(dim=-1, keepdim=True).detach()
    weights = torch.exp(shifted - torch.logsumexp(shifted, dim=-1, keepdim=True))
    if empty is not None:
        weights = weights.masked_fill(empty, 0.0)
    return weights @ v, weights


def causal_mask(seq_len, device=None):
    """Boolean (seq_len, seq_len) mask, True on and below the diagonal."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
