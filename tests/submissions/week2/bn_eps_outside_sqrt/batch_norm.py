"""BUG: eps added after the square root: (x - mu) / (sqrt(var) + eps)"""

import torch
from torch import nn


class BatchNorm1d(nn.Module):
    """Batch normalization of (N, C) or (N, C, L) inputs, as torch.nn.BatchNorm1d.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance inside the square root.
        momentum: the weight of the new batch in the running statistics.
        device: where to create the parameters and buffers.

    Attributes:
        weight: nn.Parameter (C,), ones.  bias: nn.Parameter (C,), zeros.
        running_mean: buffer (C,), zeros.  running_var: buffer (C,), ones.
        (Register the two with register_buffer: they are saved in the state
        dict and moved by .to(), but are not parameters. The state dict holds
        exactly these four entries: no num_batches_tracked.)

    forward(x), x of shape (N, C) or (N, C, L), returns the same shape:
        - training mode (self.training, set by .train()): normalize with the
          batch statistics over N (and L), biased variance; then update the
          running statistics as above with m = N (or N * L) values per
          channel. The update is bookkeeping, not part of the computation
          graph: no gradient flows into the buffers.
        - eval mode (.eval()): normalize with running_mean and running_var;
          the buffers are left unchanged.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, device=None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features, device=device))
        self.bias = nn.Parameter(torch.zeros(num_features, device=device))
        self.register_buffer("running_mean", torch.zeros(num_features, device=device))
        self.register_buffer("running_var", torch.ones(num_features, device=device))

    def forward(self, x):
        """x: (N, C) or (N, C, L) -> the same shape, normalized per channel."""
        if x.dim() not in (2, 3):
            raise ValueError(f"expected (N, C) or (N, C, L) input, got shape {tuple(x.shape)}")
        dims = (0,) if x.dim() == 2 else (0, 2)  # every axis but the channels
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1)  # per-channel values, broadcastable to x
        if self.training:
            mean = x.mean(dim=dims)  # (C,)
            var = ((x - mean.view(shape)) ** 2).mean(dim=dims)  # (C,), biased
            m = x.numel() // x.size(1)  # values per channel
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
                self.running_var.mul_(1 - self.momentum).add_(self.momentum * var * m / (m - 1))
        else:
            mean, var = self.running_mean, self.running_var
        x_hat = (x - mean.view(shape)) / (torch.sqrt(var.view(shape)) + self.eps)
        return x_hat * self.weight.view(shape) + self.bias.view(shape)
