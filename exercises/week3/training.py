"""Training the Transformer (Vaswani et al., 2017, section 5).

The learning-rate schedule (section 5.3, equation 3): a linear warmup,
then decay with the inverse square root of the step number,

    lrate(step) = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5),

for step = 1, 2, 3, ...; it peaks at step = warmup. The paper uses
factor = 1, warmup = 4000 and Adam with beta1 = 0.9, beta2 = 0.98,
eps = 1e-9.

Label smoothing (section 5.4, eps_ls = 0.1): the target distribution puts
1 - eps on the correct class and spreads eps uniformly over ALL V classes
(the correct one included), so the correct class gets 1 - eps + eps / V and
every other class eps / V. This is exactly what
`F.cross_entropy(logits, target, label_smoothing=eps, ignore_index=PAD)`
computes: per token,

    loss = (1 - eps) * (-log p[target]) + eps * mean_over_v(-log p[v]),

averaged over the tokens whose target is not PAD (padding contributes
nothing, to the sum or to the count).
"""

import torch
from data import PAD, make_batch, padding_mask, vocab_size
from transformer import Transformer


def rate(step, d_model, warmup, factor=1.0):
    """The paper's learning rate at `step` (an int >= 1), as a Python float."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement rate in training.py')


def label_smoothed_cross_entropy(logits, target, eps=0.1, ignore_index=PAD):
    """Cross-entropy with label smoothing, the mean over non-ignored tokens.

    Args:
        logits: (..., V) unnormalised scores, e.g. (B, T, V).
        target: (...) long class indices, e.g. (B, T).
        eps: the smoothing mass, spread as eps / V over every class.
        ignore_index: targets equal to it add nothing (padding).

    Returns:
        A scalar tensor, differentiable with respect to logits; equal to
        F.cross_entropy(logits.reshape(-1, V), target.reshape(-1),
        label_smoothing=eps, ignore_index=ignore_index). Do not call
        F.cross_entropy or F.nll_loss: write it with log_softmax.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement label_smoothed_cross_entropy in training.py')


def train_model(
    task,
    steps=400,
    batch_size=64,
    min_len=1,
    max_len=6,
    n_digits=8,
    d_model=32,
    n_heads=4,
    n_layers=2,
    d_ff=64,
    dropout=0.0,
    norm_first=False,
    warmup=100,
    factor=1.0,
    label_smoothing=0.1,
    seed=0,
    device=None,
    log=None,
):
    """Train a Transformer on one toy task of data.py and return it.

    Steps:
        - torch.manual_seed(seed) before building the model, and a
          torch.Generator seeded with `seed` for the batches;
        - model = Transformer(V, V, d_model, n_heads, n_layers, d_ff,
          dropout, max_len=max_len + 2, norm_first=norm_first) with
          V = vocab_size(n_digits), on `device`;
        - Adam(betas=(0.9, 0.98), eps=1e-9), the learning rate at step s
          (s = 1 .. steps) set to rate(s, d_model, warmup, factor);
        - each step: a fresh batch from make_batch, teacher forcing (the
          decoder reads tgt[:, :-1], the targets are tgt[:, 1:]), the source
          padding mask, label_smoothed_cross_entropy with eps =
          label_smoothing, one optimizer step.

    Args:
        task: "copy", "reverse" or "sort".
        log: None, or a list to which each step appends
            {"step": s, "loss": float, "lr": float}.

    Returns:
        The trained Transformer, in eval mode.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement train_model in training.py')


def plot_training_curves(log, path="training_curves.png"):
    """Plot the loss and the learning rate of a `log` from train_model; save a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [entry["step"] for entry in log]
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_loss.plot(steps, [entry["loss"] for entry in log])
    ax_loss.set(xlabel="step", ylabel="label-smoothed loss", yscale="log", title="training loss")
    ax_lr.plot(steps, [entry["lr"] for entry in log])
    ax_lr.set(xlabel="step", ylabel="learning rate", title="warmup, then 1/sqrt(step)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
