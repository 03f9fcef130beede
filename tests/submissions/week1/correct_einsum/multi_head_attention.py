"""CORRECT (written differently): heads split/merged with reshape + einsum; out_proj applied as an einsum over (head, dim)."""

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
        Lk = key.shape[1]
        H, D = self.num_heads, self.d_head
        q = torch.einsum("blhd->bhld", self.q_proj(query).reshape(B, Lq, H, D))
        k = torch.einsum("blhd->bhld", self.k_proj(key).reshape(B, Lk, H, D))
        v = torch.einsum("blhd->bhld", self.v_proj(value).reshape(B, Lk, H, D))
        heads, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, Lq, D)
        w_out = self.out_proj.weight.reshape(self.d_model, H, D)  # (out, head, dim)
        out = torch.einsum("bhld,ehd->ble", heads, w_out)
        if self.out_proj.bias is not None:
            out = out + self.out_proj.bias
        return out, weights
