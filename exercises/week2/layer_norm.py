"""Layer normalization (Ba, Kiros and Hinton, 2016, section 3).

Layer normalization normalizes each example over its features, with
statistics computed from that one example alone: for a vector x of H
features (the last dimension),

    mu      = (1/H) sum_i x_i
    sigma^2 = (1/H) sum_i (x_i - mu)^2          # biased: divide by H, not H - 1
    y_i     = (x_i - mu) / sqrt(sigma^2 + eps) * weight_i + bias_i

weight (the paper's gain g) and bias (b) are learned, one per feature. No
statistic is shared across the batch, so the layer computes the same thing
at training and test time and for a batch of one: this is why Transformers
use it. Shapes: x is (..., H), e.g. (B, T, C); every leading position is
normalized on its own.
"""

import torch
from torch import nn


def layer_norm(x, weight, bias, eps=1e-5):
    """Normalize x over its last dimension, then scale and shift.

    Args:
        x: (..., H).
        weight: (H,), the gain applied after normalizing.
        bias: (H,), the shift applied after scaling.
        eps: added to the variance inside the square root.

    Returns:
        (..., H), the same shape, dtype and device as x; equal to
        torch.nn.functional.layer_norm(x, (H,), weight, bias, eps).

    Details:
        - The variance is the biased one (mean of squared deviations).
        - eps goes inside the square root: sqrt(var + eps).
        - Compute the variance from the centred values x - mu, not as
          E[x^2] - E[x]^2: the latter loses every digit when the mean is
          large compared with the spread (try x = 10_000 + noise in float32).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement layer_norm in layer_norm.py')


class LayerNorm(nn.Module):
    """Layer normalization over the last dimension, with a learned gain and bias.

    Args:
        d_model: H, the size of the normalized (last) dimension.
        eps: added to the variance inside the square root.
        device: where to create the parameters.

    Attributes:
        weight: nn.Parameter (d_model,), initialised to ones.
        bias: nn.Parameter (d_model,), initialised to zeros.
        eps: the eps given.

    The state dict holds exactly `weight` and `bias`, as nn.LayerNorm's.
    forward(x): (..., d_model) -> (..., d_model), using layer_norm above.
    """

    def __init__(self, d_model, eps=1e-5, device=None):
        super().__init__()
        self.d_model = d_model
        self.eps = eps
        # TODO: your code here
        raise NotImplementedError('TODO: implement LayerNorm.__init__ in layer_norm.py')

    def forward(self, x):
        """x: (..., d_model) -> (..., d_model), normalized over the last dimension."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement LayerNorm.forward in layer_norm.py')
