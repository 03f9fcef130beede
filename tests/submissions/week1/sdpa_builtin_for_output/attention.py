"""BUG: computes the weights by hand but the output with torch.nn.functional.scaled_dot_product_attention (forbidden built-in)"""

import math

import torch
from torch.nn import functional as F


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d_k)) v; mask is boolean, True = may attend. Returns (out, weights)."""
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out, weights


def causal_mask(seq_len, device=None):
    """Boolean (seq_len, seq_len) mask, True on and below the diagonal."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
