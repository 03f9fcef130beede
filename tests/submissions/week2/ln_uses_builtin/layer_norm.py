"""BUG: layer_norm calls F.layer_norm"""

import torch
from torch.nn import functional as F
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
    return F.layer_norm(x, (x.size(-1),), weight, bias, eps)
    mu = x.mean(dim=-1, keepdim=True)  # (..., 1)
    centred = x - mu  # (..., H)
    var = (centred * centred).mean(dim=-1, keepdim=True)  # (..., 1), biased
    x_hat = centred / torch.sqrt(var + eps)  # (..., H)
    return x_hat * weight + bias


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
        self.weight = nn.Parameter(torch.ones(d_model, device=device))
        self.bias = nn.Parameter(torch.zeros(d_model, device=device))

    def forward(self, x):
        """x: (..., d_model) -> (..., d_model), normalized over the last dimension."""
        return layer_norm(x, self.weight, self.bias, self.eps)
