"""CORRECT (written differently): a Python loop over heads, slicing features [h*D, (h+1)*D) of each projection."""

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
        q_all, k_all, v_all = self.q_proj(query), self.k_proj(key), self.v_proj(value)  # (B, L, d_model)
        if mask is not None:
            mask = torch.broadcast_to(mask, (B, H, Lq, Lk))
        outs, weights = [], []
        for h in range(H):
            cols = slice(h * D, (h + 1) * D)
            head_mask = None if mask is None else mask[:, h]  # (B, Lq, Lk)
            o, w = scaled_dot_product_attention(q_all[..., cols], k_all[..., cols], v_all[..., cols], head_mask)
            outs.append(o)  # (B, Lq, D)
            weights.append(w)  # (B, Lq, Lk)
        out = torch.cat(outs, dim=-1)  # (B, Lq, d_model), head h in features [h*D, (h+1)*D)
        return self.out_proj(out), torch.stack(weights, dim=1)
