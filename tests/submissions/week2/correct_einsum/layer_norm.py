"""Layer normalization with einsum."""

import torch
from torch import nn


def layer_norm(x, weight, bias, eps=1e-5):
    H = x.shape[-1]
    mean = torch.einsum("...h->...", x)[..., None] / H
    c = x - mean
    var = torch.einsum("...h,...h->...", c, c)[..., None] / H
    return torch.einsum("...h,h->...h", c / (var + eps).sqrt(), weight) + bias


class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5, device=None):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model, device=device))
        self.bias = nn.Parameter(torch.zeros(d_model, device=device))

    def forward(self, x):
        return layer_norm(x, self.weight, self.bias, self.eps)
