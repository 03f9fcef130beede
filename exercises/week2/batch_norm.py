"""Batch normalization (Ioffe and Szegedy, 2015), the normalization that
residual networks were first trained with (He et al., 2015, section 3.4).

Batch normalization normalizes each feature (channel) over the batch: for
a channel c with values x_1..x_m across the batch (and, for sequences,
across positions),

    mu_c      = (1/m) sum_j x_j
    sigma_c^2 = (1/m) sum_j (x_j - mu_c)^2       # biased, to normalize
    y_j       = (x_j - mu_c) / sqrt(sigma_c^2 + eps) * weight_c + bias_c

The statistics depend on the other examples in the batch, so at test time
the layer uses running estimates instead, updated at each training step:

    running_mean = (1 - momentum) * running_mean + momentum * mu_c
    running_var  = (1 - momentum) * running_var  + momentum * sigma_c^2 * m / (m - 1)

(the running variance takes the unbiased estimate). Compare this with layer
normalization: same formula, statistics over the other axis.
"""

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
        # TODO: your code here
        raise NotImplementedError('TODO: implement BatchNorm1d.__init__ in batch_norm.py')

    def forward(self, x):
        """x: (N, C) or (N, C, L) -> the same shape, normalized per channel."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement BatchNorm1d.forward in batch_norm.py')
