"""Quantisation written differently: multiply by 127 / absmax, bucketize over midpoints, a loop over blocks."""

import math

import torch
from torch import nn

NF4_LEVELS = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
])  # fmt: skip


def quantize_int8(W):
    absmax = W.abs().max(dim=-1, keepdim=True).values
    inv = torch.zeros_like(absmax)
    inv[absmax > 0] = 127.0 / absmax[absmax > 0]
    q = torch.clamp(torch.round(W * inv), -127, 127).to(torch.int8)
    return q, absmax / 127.0


def dequantize_int8(q, scale):
    return scale * q.to(scale.dtype)


def quantize_nf4(W, block_size=64):
    w = W.reshape(-1).to(torch.float32)
    midpoints = (NF4_LEVELS[1:] + NF4_LEVELS[:-1]) / 2
    codes = torch.empty(w.numel(), dtype=torch.uint8, device=w.device)
    absmax = torch.empty(math.ceil(w.numel() / block_size), dtype=torch.float32, device=w.device)
    for i, start in enumerate(range(0, w.numel(), block_size)):
        block = w[start : start + block_size]
        c = block.abs().max()
        absmax[i] = c
        normed = block / c if c > 0 else torch.zeros_like(block)
        codes[start : start + block_size] = torch.bucketize(normed, midpoints.to(w.device)).to(torch.uint8)
    return codes, absmax


def dequantize_nf4(codes, absmax, shape, block_size=64):
    out = torch.empty(codes.numel(), dtype=torch.float32, device=codes.device)
    levels = NF4_LEVELS.to(codes.device)
    for i, start in enumerate(range(0, codes.numel(), block_size)):
        out[start : start + block_size] = levels[codes[start : start + block_size].long()] * absmax[i]
    return out.reshape(shape)


class QLoRALinear(nn.Module):
    def __init__(self, base, r, alpha, dropout=0.0, block_size=64):
        super().__init__()
        self.in_features, self.out_features, self.block_size = base.in_features, base.out_features, block_size
        codes, absmax = quantize_nf4(base.weight.detach(), block_size)
        self.register_buffer("weight_codes", codes)
        self.register_buffer("weight_absmax", absmax)
        if base.bias is not None:
            self.register_buffer("bias", base.bias.detach().clone().float())
        else:
            self.bias = None
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features))
        nn.init.normal_(self.lora_A, std=0.02)
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r))
        self.dropout = nn.Dropout(dropout)

    def dequantized_weight(self):
        shape = (self.out_features, self.in_features)
        return dequantize_nf4(self.weight_codes, self.weight_absmax, shape, self.block_size)

    def forward(self, x):
        y = x @ self.dequantized_weight().to(x.dtype).T
        if self.bias is not None:
            y = y + self.bias
        return y + self.scaling * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)
