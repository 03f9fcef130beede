"""CORRECT (written differently): masked scores set to finfo(dtype).min with torch.where; fully masked rows zeroed afterwards."""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v; mask is boolean, True = may attend. Returns (out, weights)."""
    scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
    if mask is not None:
        lowest = torch.finfo(scores.dtype).min
        scores = torch.where(mask, scores, torch.full((), lowest, dtype=scores.dtype, device=scores.device))
    weights = torch.softmax(scores, dim=-1)  # a fully masked row is uniform here, zeroed below
    if mask is not None:
        has_key = mask.any(dim=-1, keepdim=True)
        weights = torch.where(has_key, weights, torch.zeros((), dtype=weights.dtype, device=weights.device))
    out = torch.matmul(weights, v)
    return out, weights


def causal_mask(seq_len, device=None):
    """Boolean (seq_len, seq_len) mask, True on and below the diagonal."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
