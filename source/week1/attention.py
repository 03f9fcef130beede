"""Scaled dot-product attention (Vaswani et al., 2017, section 3.2.1).

Attention maps a query and a set of key-value pairs to an output. For
queries Q (Lq, d_k), keys K (Lk, d_k) and values V (Lk, d_v):

    scores  = Q K^T / sqrt(d_k)                      # (Lq, Lk)
    weights = softmax(scores, over the keys axis)    # (Lq, Lk), rows sum to 1
    out     = weights V                              # (Lq, d_v)

Any number of leading batch dimensions ("...") may come before these.
Dividing by sqrt(d_k) keeps the dot products at unit variance when the
entries of q and k do, so the softmax does not saturate as d_k grows.
"""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V.

    Args:
        q: queries, (..., Lq, d_k).
        k: keys, (..., Lk, d_k).
        v: values, (..., Lk, d_v).
        mask: optional boolean tensor broadcastable to (..., Lq, Lk). True
            where query i may attend to key j, False where it may not (the
            convention of torch.nn.functional.scaled_dot_product_attention).

    Returns:
        out: (..., Lq, d_v), the weighted sum of the values.
        weights: (..., Lq, Lk), the attention weights; each row sums to 1.

    Details:
        - A disallowed key gets weight exactly 0: set its score to -inf
          before the softmax, never multiply after it.
        - A query row whose mask allows no key at all gets zero weights and
          a zero output, not NaN (softmax of an all -inf row is NaN).
        - The result keeps the dtype and device of q; the inputs are not
          modified in place.
    """
    ### BEGIN SOLUTION
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., Lq, Lk)
    if mask is not None:
        # Rows with no allowed key are all -inf, so softmax gave NaN there.
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    out = weights @ v  # (..., Lq, d_v)
    return out, weights
    ### END SOLUTION


def causal_mask(seq_len, device=None):
    """The decoder's mask: position i may attend to positions j <= i.

    Args:
        seq_len: sequence length L.
        device: where to create the mask (None means the default device).

    Returns:
        A boolean tensor (L, L), True on and below the diagonal.

    Example:
        causal_mask(3) ->
            [[ True, False, False],
             [ True,  True, False],
             [ True,  True,  True]]
    """
    ### BEGIN SOLUTION
    return torch.ones(seq_len, seq_len, dtype=torch.bool, device=device).tril()
    ### END SOLUTION
