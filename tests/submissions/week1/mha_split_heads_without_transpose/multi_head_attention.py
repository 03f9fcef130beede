"""BUG: heads are split with .view(B, H, L, D) directly instead of .view(B, L, H, D).transpose(1, 2), mixing positions"""

import torch
from torch import nn

from attention import scaled_dot_product_attention


class MultiHeadAttention(nn.Module):
    """Multi-head attention with q_proj, k_proj, v_proj, out_proj = nn.Linear(d_model, d_model, bias=bias)."""

    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        """query (B, Lq, d_model), key/value (B, Lk, d_model) -> out (B, Lq, d_model), weights (B, H, Lq, Lk)."""
        B, Lq, _ = query.shape
        Lk = key.size(1)
        H, D = self.num_heads, self.d_head
        q = self.q_proj(query).view(B, H, Lq, D)  # wrong: no transpose
        k = self.k_proj(key).view(B, H, Lk, D)
        v = self.v_proj(value).view(B, H, Lk, D)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        out = out.transpose(1, 2).reshape(B, Lq, H * D)
        return self.out_proj(out), weights
