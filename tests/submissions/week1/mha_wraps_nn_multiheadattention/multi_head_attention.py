"""BUG: wraps torch.nn.MultiheadAttention instead of writing multi-head attention (forbidden built-in)"""

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
        self.attn = nn.MultiheadAttention(d_model, num_heads, bias=bias, batch_first=True)

    def forward(self, query, key, value, mask=None):
        """query (B, Lq, d_model), key/value (B, Lk, d_model) -> out (B, Lq, d_model), weights (B, H, Lq, Lk)."""
        B, Lq, _ = query.shape
        Lk = key.size(1)
        attn_mask = None
        if mask is not None:
            # nn.MultiheadAttention's boolean mask means True = NOT allowed, one (Lq, Lk) per batch*head.
            full = torch.broadcast_to(mask, (B, self.num_heads, Lq, Lk))
            attn_mask = ~full.reshape(B * self.num_heads, Lq, Lk)
        out, weights = self.attn(query, key, value, attn_mask=attn_mask, need_weights=True,
                                 average_attn_weights=False)
        return out, weights
