"""Multi-head attention (Vaswani et al., 2017, section 3.2.2).

Instead of one attention over d_model-wide vectors, project the queries,
keys and values h times with different learned projections to d_k = d_v =
d_model / h dimensions, attend in each of these h subspaces in parallel, and
project the concatenation back:

    head_i   = Attention(Q W_i^Q, K W_i^K, V W_i^V)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O

In code the h projections are one d_model x d_model linear layer each for
Q, K and V: head i owns features [i * d_head, (i + 1) * d_head) of the
projected vectors, the same layout as torch.nn.MultiheadAttention.
"""

import torch
from torch import nn

from attention import scaled_dot_product_attention


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate query, key and value projections.

    Args:
        d_model: model width; must be divisible by num_heads.
        num_heads: number of heads h; each head has d_head = d_model // h.
        bias: whether the four projections have a bias.

    Attributes:
        q_proj, k_proj, v_proj, out_proj: nn.Linear(d_model, d_model, bias=bias).
    """

    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_head = d_model // num_heads
        ### BEGIN SOLUTION
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        ### END SOLUTION

    def forward(self, query, key, value, mask=None):
        """Attend from each query position to the key/value positions.

        Args:
            query: (B, Lq, d_model).
            key: (B, Lk, d_model).
            value: (B, Lk, d_model).
            mask: optional boolean tensor broadcastable to (B, num_heads,
                Lq, Lk), True where attending is allowed; e.g. (Lq, Lk) for a
                causal mask or (B, 1, 1, Lk) for key padding.

        Returns:
            out: (B, Lq, d_model).
            weights: (B, num_heads, Lq, Lk), each head's attention weights.
        """
        ### BEGIN SOLUTION
        B, Lq, _ = query.shape
        Lk = key.size(1)
        H, D = self.num_heads, self.d_head
        # Project, then split d_model into H heads of width D: (B, L, d_model) -> (B, H, L, D).
        q = self.q_proj(query).view(B, Lq, H, D).transpose(1, 2)  # (B, H, Lq, D)
        k = self.k_proj(key).view(B, Lk, H, D).transpose(1, 2)  # (B, H, Lk, D)
        v = self.v_proj(value).view(B, Lk, H, D).transpose(1, 2)  # (B, H, Lk, D)
        out, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, Lq, D), (B, H, Lq, Lk)
        # Concatenate the heads back: (B, H, Lq, D) -> (B, Lq, d_model).
        out = out.transpose(1, 2).reshape(B, Lq, H * D)
        return self.out_proj(out), weights
        ### END SOLUTION
