"""Batch normalization: channels moved last, var_mean, lerp_ for the running statistics."""

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
        sequence = x.dim() == 3
        flat = x.transpose(1, 2).reshape(-1, x.size(1)) if sequence else x  # (M, C)
        if self.training:
            var, mean = torch.var_mean(flat, dim=0, unbiased=False)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(torch.var(flat.detach(), dim=0, unbiased=True), self.momentum)
        else:
            var, mean = self.running_var, self.running_mean
        y = (flat - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        if sequence:
            y = y.reshape(x.size(0), x.size(2), x.size(1)).transpose(1, 2)
        return y
