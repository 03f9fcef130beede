"""BUG: keys and values are projected with q_proj (one shared projection); k_proj and v_proj are never used"""

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
        q = self.q_proj(query).view(B, Lq, H, D).transpose(1, 2)  # (B, H, Lq, D)
        k = self.q_proj(key).view(B, Lk, H, D).transpose(1, 2)  # (B, H, Lk, D)
        v = self.q_proj(value).view(B, Lk, H, D).transpose(1, 2)  # (B, H, Lk, D)
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        out = out.transpose(1, 2).reshape(B, Lq, H * D)
        return self.out_proj(out), weights
