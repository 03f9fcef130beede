"""Bonus: weight quantisation, and LoRA on a quantised base (QLoRA).

absmax int8 (Dettmers et al. 2022, LLM.int8(), section 3.1). Scale a vector
so that its largest magnitude lands on 127, round, keep the scale:

    s = max|w| / 127,     q = round(w / s)  in [-127, 127] (int8),     w ≈ q s

Each value is then off by at most s / 2. One scale per row ("vector-wise") keeps
an outlier in one row from costing precision in the others; inside its row
it still does (that is what LLM.int8()'s mixed-precision decomposition is for).

NF4, 4-bit NormalFloat (Dettmers et al. 2023, QLoRA, section 3). Pretrained
weights are roughly normal, so 16 levels placed at quantiles of N(0, 1)
(scaled to [-1, 1], with an exact 0) waste fewer codes than 16 evenly spaced
ones. Per block of `block_size` consecutive weights (64 in the paper):

    c = max|w| over the block,    code = the index of the level nearest to w / c,    w ≈ NF4_LEVELS[code] c

QLoRA freezes the base model in NF4 and trains LoRA matrices in 16 or 32
bits: the forward pass dequantises the weight, and the gradient flows
through it to the input and into A and B only.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

# The 16 NF4 levels, from the QLoRA paper's appendix E (bitsandbytes' table): code i means NF4_LEVELS[i].
NF4_LEVELS = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
])  # fmt: skip


# --- absmax int8 ---


def quantize_int8(W):
    """Vector-wise absmax int8: one scale per row (over the last dimension).

    Args:
        W: (..., n) float tensor.

    Returns:
        (q, scale): q (..., n) int8 with q = round(W / scale), all in [-127, 127];
        scale (..., 1), W's dtype, = max |W| over the row / 127. A row of
        zeros gets scale 0 and q 0 (never NaN).
    """
    ### BEGIN SOLUTION
    scale = W.abs().amax(dim=-1, keepdim=True) / 127  # (..., 1)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(W / safe).clamp(-127, 127).to(torch.int8)  # (..., n)
    return q, scale
    ### END SOLUTION


def dequantize_int8(q, scale):
    """q * scale as a float tensor of scale's dtype: (..., n) int8 and (..., 1) -> (..., n)."""
    ### BEGIN SOLUTION
    return q.to(scale.dtype) * scale
    ### END SOLUTION


# --- NF4, blockwise ---


def quantize_nf4(W, block_size=64):
    """Blockwise NF4: the flattened W cut into blocks of block_size, one absmax per block.

    Args:
        W: float tensor of any shape; its W.numel() values are taken in
            row-major order (W.flatten()) and cut into consecutive blocks of
            block_size; the last block may be shorter.
        block_size: values per block.

    Returns:
        (codes, absmax): codes (W.numel(),) uint8 in 0..15, the index of the
        NF4 level nearest to w / c for each w of the flattened W, c its block's
        absmax; absmax (n_blocks,) float32, n_blocks = ceil(W.numel() / block_size),
        max |w| over each block. A block of zeros has absmax 0 and codes 7 (level 0.0).
    """
    ### BEGIN SOLUTION
    w = W.detach().flatten().float()
    n = w.numel()
    n_blocks = math.ceil(n / block_size)
    blocks = F.pad(w, (0, n_blocks * block_size - n)).view(n_blocks, block_size)  # (n_blocks, block_size)
    absmax = blocks.abs().amax(dim=1)  # (n_blocks,)
    normed = blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]  # in [-1, 1]
    levels = NF4_LEVELS.to(w.device)
    codes = (normed[..., None] - levels).abs().argmin(dim=-1)  # (n_blocks, block_size): the nearest level
    return codes.flatten()[:n].to(torch.uint8), absmax
    ### END SOLUTION


def dequantize_nf4(codes, absmax, shape, block_size=64):
    """NF4_LEVELS[code] * absmax of its block, reshaped: (numel,) uint8 and (n_blocks,) -> `shape`, float32."""
    ### BEGIN SOLUTION
    values = NF4_LEVELS.to(codes.device)[codes.long()]  # (numel,)
    block = torch.arange(values.numel(), device=codes.device) // block_size  # each value's block
    return (values * absmax[block]).view(shape)
    ### END SOLUTION


# --- QLoRA: LoRA on a frozen NF4 base ---


class QLoRALinear(nn.Module):
    """A linear layer whose weight is frozen in NF4, plus a trainable LoRA update (QLoRA, equation 5).

        forward(x) = x @ W_nf4.T + bias + dropout(x) @ lora_A.T @ lora_B.T * scaling,     scaling = alpha / r

    with W_nf4 = dequantize_nf4(weight_codes, weight_absmax, (out_features, in_features), block_size)
    cast to x's dtype. No full-precision copy of the base weight is kept.

    Args:
        base: the pretrained nn.Linear; its weight is quantised with quantize_nf4
            (in float32), its bias copied; `base` itself is not kept.
        r, alpha, dropout: as in LoRALinear.
        block_size: NF4's block size.

    State (the names are fixed), all float32 except the codes:
        buffers weight_codes (out_features * in_features,) uint8 and
        weight_absmax (n_blocks,); bias (out_features,) as a buffer when base
        has one (frozen, like the weight);
        parameters lora_A (r, in_features), random as in LoRALinear, and
        lora_B (out_features, r), zeros: the only parameters of the layer.
    Attributes: in_features, out_features, block_size, r, alpha, scaling.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, block_size: int = 64):
        super().__init__()
        self.in_features, self.out_features, self.block_size = base.in_features, base.out_features, block_size
        ### BEGIN SOLUTION
        codes, absmax = quantize_nf4(base.weight.detach().float(), block_size)
        self.register_buffer("weight_codes", codes)
        self.register_buffer("weight_absmax", absmax)
        bias = base.bias.detach().float().clone() if base.bias is not None else None
        self.register_buffer("bias", bias)
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        device = base.weight.device
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, device=device))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, device=device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        ### END SOLUTION

    def dequantized_weight(self) -> torch.Tensor:
        """W_nf4: (out_features, in_features) float32, from the codes and the absmax."""
        ### BEGIN SOLUTION
        shape = (self.out_features, self.in_features)
        return dequantize_nf4(self.weight_codes, self.weight_absmax, shape, self.block_size)
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> (..., out_features): the NF4 base plus the LoRA update."""
        ### BEGIN SOLUTION
        W = self.dequantized_weight().to(x.dtype)  # (out, in), frozen: no gradient reaches the codes
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, W, bias) + (self.dropout(x) @ self.lora_A.T) @ self.lora_B.T * self.scaling
        ### END SOLUTION
