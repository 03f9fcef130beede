"""CORRECT (written differently): scores and output computed with torch.einsum, masking with masked_fill."""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v; mask is boolean, True = may attend. Returns (out, weights)."""
    scale = q.size(-1) ** -0.5
    scores = torch.einsum("...qd,...kd->...qk", q, k) * scale  # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
        allowed_any = mask.any(dim=-1, keepdim=True)  # (..., Lq, 1)
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = torch.where(allowed_any, weights, torch.zeros((), dtype=weights.dtype, device=weights.device))
    out = torch.einsum("...qk,...kd->...qd", weights, v)
    return out, weights


def causal_mask(seq_len, device=None):
    """Boolean (seq_len, seq_len) mask, True on and below the diagonal."""
    i = torch.arange(seq_len, device=device)
    return i.unsqueeze(1) >= i.unsqueeze(0)
