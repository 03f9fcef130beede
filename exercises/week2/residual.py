"""Residual learning (He et al., 2015, sections 3.1 and 3.2).

A residual block learns a change F(x) to its input instead of a whole new
representation, and adds it back through a skip connection:

    y = x + F(x)

Here F is a two-layer MLP on a normalized input, the "pre-norm" layout that
Transformers use (He et al., 2016, "Identity Mappings in Deep Residual
Networks"; the GPT-2 block):

    F(x) = W2 relu(W1 norm(x) + b1) + b2        # norm: none, LayerNorm or BatchNorm

Why it helps: the gradient of y with respect to x is I + dF/dx, so the
gradient reaching the first layers of a deep stack always has a direct path
back from the loss. Without the skip (y = F(x)) the gradient is a product of
one Jacobian per layer and, at the usual initialisation, shrinks
geometrically with depth: the first layers barely learn. You will measure
this with gradient_norms.
"""

import torch
from batch_norm import BatchNorm1d
from layer_norm import LayerNorm
from torch import nn
from torch.nn import functional as F


class ResidualBlock(nn.Module):
    """One block of width `width`: y = x + fc2(relu(fc1(norm(x)))), or without the skip.

    Args:
        width: number of features in and out.
        norm: None (no normalization), "layer" (your LayerNorm(width)) or
            "batch" (your BatchNorm1d(width)).
        residual: True for y = x + F(x), False for the plain block y = F(x).
        device: where to create the parameters.

    Attributes:
        norm: nn.Identity() when norm is None, else LayerNorm(width) or
            BatchNorm1d(width) from this week's modules.
        fc1, fc2: nn.Linear(width, width), with bias.
        residual: the flag given.

    The state dict names are therefore fc1.weight, fc1.bias, fc2.weight,
    fc2.bias, and norm.weight, norm.bias (+ norm.running_mean,
    norm.running_var for "batch").

    forward(x): (B, width) -> (B, width).
    """

    def __init__(self, width, norm=None, residual=True, device=None):
        super().__init__()
        if norm not in (None, "layer", "batch"):
            raise ValueError(f"norm must be None, 'layer' or 'batch', got {norm!r}")
        self.width = width
        self.residual = residual
        # TODO: your code here
        raise NotImplementedError('TODO: implement ResidualBlock.__init__ in residual.py')

    def forward(self, x):
        """x: (B, width) -> (B, width)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement ResidualBlock.forward in residual.py')


class DeepMLP(nn.Module):
    """A deep MLP: proj_in, then `depth` ResidualBlocks, then proj_out.

    Args:
        in_features: input features.
        width: width of every block.
        depth: number of blocks.
        out_features: output features.
        norm, residual: passed to every ResidualBlock.
        device: where to create the parameters.

    Attributes:
        proj_in: nn.Linear(in_features, width).
        blocks: nn.ModuleList of `depth` ResidualBlock(width, norm, residual).
        proj_out: nn.Linear(width, out_features).

    forward(x): (B, in_features) -> (B, out_features), i.e.
        proj_out(blocks[depth-1](... blocks[0](proj_in(x)))).
    """

    def __init__(self, in_features, width, depth, out_features, norm=None, residual=True, device=None):
        super().__init__()
        # TODO: your code here
        raise NotImplementedError('TODO: implement DeepMLP.__init__ in residual.py')

    def forward(self, x):
        """x: (B, in_features) -> (B, out_features)."""
        # TODO: your code here
        raise NotImplementedError('TODO: implement DeepMLP.forward in residual.py')


def gradient_norms(model, x, y, loss_fn=None):
    """The size of the gradient reaching each block of a DeepMLP.

    Runs one forward and backward pass of loss_fn(model(x), y) and returns,
    for each block i in order, the Frobenius norm of the gradient of that
    block's first weight, ||d loss / d blocks[i].fc1.weight||.

    Args:
        model: a DeepMLP (in whatever mode, train or eval, it is in).
        x: (B, in_features) inputs.  y: targets for loss_fn.
        loss_fn: callable (output, y) -> scalar loss; None means the mean
            squared error, torch.nn.functional.mse_loss.

    Returns:
        A list of `len(model.blocks)` Python floats.

    Clear the model's gradients first (model.zero_grad()), so that the
    result does not depend on earlier backward passes.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement gradient_norms in residual.py')


def plot_gradient_flow(path="gradient_flow.png", depth=30, width=64, seed=0, device=None):
    """Experiment (given, not graded): the gradient norm of each block, with and without skips and norms.

    Builds DeepMLPs of the same depth at PyTorch's default initialisation,
    runs gradient_norms on one random regression batch, and saves a
    log-scale plot to `path`. Returns {label: list of norms}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(128, 16, generator=gen).to(device)
    y = torch.randn(128, 4, generator=gen).to(device)
    results = {}
    for norm in (None, "layer", "batch"):
        for residual in (False, True):
            torch.manual_seed(seed)
            model = DeepMLP(16, width, depth, 4, norm=norm, residual=residual, device=device)
            label = f"{'residual' if residual else 'plain'}, {norm or 'no'} norm"
            results[label] = gradient_norms(model, x, y)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, norms in results.items():
        ax.semilogy(range(len(norms)), norms, "-" if label.startswith("residual") else "--", label=label)
    ax.set_xlabel("block")
    ax.set_ylabel("||d loss / d fc1.weight||")
    ax.set_title(f"Gradient reaching each of {depth} blocks at initialisation")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return results


def plot_norm_statistics(path="norm_statistics.png", batch=64, features=32, seed=0):
    """Experiment (given, not graded): which axis each normalization standardizes.

    Makes a batch whose features have very different scales and offsets,
    passes it through your LayerNorm and BatchNorm1d (training mode), and
    plots the mean and standard deviation of the output per example (over
    the features) and per feature (over the batch). LayerNorm makes each
    example zero-mean and unit-variance; BatchNorm1d does so for each
    feature. Saves the figure to `path` and returns the statistics.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gen = torch.Generator().manual_seed(seed)
    scale = torch.logspace(-1, 1, features)  # (C,), feature scales from 0.1 to 10
    offset = torch.linspace(-5, 5, features)  # (C,)
    x = torch.randn(batch, features, generator=gen) * scale + offset  # (N, C)
    with torch.no_grad():
        outputs = {"input": x, "LayerNorm": LayerNorm(features)(x), "BatchNorm1d": BatchNorm1d(features)(x)}
    stats = {}
    fig, axes = plt.subplots(2, 3, figsize=(11, 5.5), sharey="row")
    for col, (name, t) in enumerate(outputs.items()):
        stats[name] = {
            "per example": (t.mean(1), t.std(1, unbiased=False)),
            "per feature": (t.mean(0), t.std(0, unbiased=False)),
        }
        for row, axis in enumerate(("per example", "per feature")):
            mean, std = stats[name][axis]
            ax = axes[row, col]
            ax.plot(mean.numpy(), ".", label="mean")
            ax.plot(std.numpy(), ".", label="std")
            ax.set_title(f"{name}: {axis}", fontsize=9)
            ax.set_xlabel("example" if axis == "per example" else "feature")
            if col == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return stats
