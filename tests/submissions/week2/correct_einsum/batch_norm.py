"""Batch normalization with einsum; new buffer tensors each step."""

import torch
from torch import nn


class BatchNorm1d(nn.Module):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, device=None):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features, device=device))
        self.bias = nn.Parameter(torch.zeros(num_features, device=device))
        self.register_buffer("running_mean", torch.zeros(num_features, device=device))
        self.register_buffer("running_var", torch.ones(num_features, device=device))

    def forward(self, x):
        x3 = x if x.dim() == 3 else x[:, :, None]  # (N, C, L)
        m = x3.shape[0] * x3.shape[2]
        if self.training:
            mean = torch.einsum("ncl->c", x3) / m
            c = x3 - mean[None, :, None]
            var = torch.einsum("ncl,ncl->c", c, c) / m
            k = self.momentum
            self.running_mean = (1 - k) * self.running_mean + k * mean.detach()
            self.running_var = (1 - k) * self.running_var + k * var.detach() * (m / (m - 1))
        else:
            mean, var = self.running_mean, self.running_var
        y = (x3 - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        y = torch.einsum("ncl,c->ncl", y, self.weight) + self.bias[None, :, None]
        return y if x.dim() == 3 else y[:, :, 0]
