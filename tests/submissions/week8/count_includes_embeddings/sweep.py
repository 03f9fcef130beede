"""Your own scaling law: a sweep of tiny GPTs on Tiny Shakespeare (Kaplan et al., 2020, sections 2 and 3).

Kaplan et al. trained models from 768 to 1.5 billion non-embedding
parameters and found the test loss fell as a power law in N. Here the same
experiment runs on a laptop: character-level GPTs (model.py) from a few
hundred to a few hundred thousand parameters, each trained for the same
number of steps on the same batches, each measured on held-out text, and
L(N) = a · N^(-α) + c fitted to the points with your fit_power_law.

What you write:
- count_parameters: N as Kaplan counts it, without the embeddings;
- evaluate_loss: the held-out loss, the same every time it is measured;
- train_model: one training run;
- sweep: one run per model size, returning (N, validation loss) pairs.

Given, finished: the character vocabulary (load_text, char_vocab, encode,
decode), get_batch, plot_scaling (the log-log plot, as a PNG) and
run_experiment (the whole sweep, the fit and the plot).

The data are 1-D int64 tensors of character ids. Training batches come from
the training split only; every loss you report is measured on the split you
are given as validation data, which the model never trained on.
"""

import math
from pathlib import Path

import torch
from model import GPT, GPTConfig
from power_law import fit_power_law, power_law

# (n_layer, n_head, n_embd) of the experiment's models, smallest first: N from 888 to 991 616.
SWEEP_SIZES = [(1, 1, 8), (1, 2, 16), (2, 2, 24), (2, 2, 32), (3, 4, 48), (4, 4, 64), (4, 4, 96), (5, 4, 128)]


def load_text(path=None) -> str:
    """Tiny Shakespeare (the week's folder holds a copy), or the text file at `path`."""
    here = Path(globals().get("__file__", "tinyshakespeare.txt")).resolve().parent
    return Path(path or here / "tinyshakespeare.txt").read_text(encoding="utf-8")


def char_vocab(text):
    """The sorted distinct characters of `text`, as one string (65 for Tiny Shakespeare)."""
    return "".join(sorted(set(text)))


def encode(text, vocab):
    """The ids of text's characters in `vocab`: a (len(text),) int64 tensor."""
    index = {ch: i for i, ch in enumerate(vocab)}
    return torch.tensor([index[ch] for ch in text], dtype=torch.long)


def decode(ids, vocab):
    """The text of a 1-D sequence of ids."""
    return "".join(vocab[int(i)] for i in ids)


def get_batch(data, block_size, batch_size, generator=None, device="cpu"):
    """batch_size random windows of `data`: x = data[i : i+T], y = data[i+1 : i+T+1], both (B, T) on device.

    The starts i are drawn uniformly from [0, len(data) - T - 1] with `generator`.
    """
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = torch.arange(block_size)  # (T,)
    x = data[starts.unsqueeze(1) + offsets]  # (B, T)
    y = data[starts.unsqueeze(1) + offsets + 1]  # (B, T)
    return x.to(device), y.to(device)


def count_parameters(model, non_embedding=True):
    """The number of parameters of a GPT (model.py), each counted once.

    Args:
        model: a GPT. Its output layer lm_head shares its weight with the token
            embedding wte (one parameter under two names: count it once).
        non_embedding: True for Kaplan's N, which leaves out the token
            embedding transformer.wte and the position embedding
            transformer.wpe; False for every parameter.

    Returns:
        An int. Non-embedding: L (12 d^2 + 13 d) + 2 d for n_layer L and n_embd d
        (see model.py); all: that plus (vocab_size + block_size) · d.
    """
    embeddings = {id(model.transformer.wte.weight), id(model.transformer.wpe.weight)}
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def evaluate_loss(model, data, batch_size=64):
    """The mean next-character cross-entropy (nats) of `model` over all of `data`, deterministically.

    With T = model.config.block_size, cut data into n = (len(data) - 1) // T
    consecutive windows: window i predicts y = data[iT+1 : (i+1)T+1] from
    x = data[iT : (i+1)T]. The result is the mean over all n·T predictions,
    computed in batches of at most batch_size windows (so it does not depend
    on batch_size, even when the last batch is smaller), on the model's
    device, in eval mode (model.eval(): no dropout).

    Args:
        model: a GPT.
        data: (M,) int64 character ids, M > T.
        batch_size: windows per forward pass.

    Returns:
        A Python float.
    """
    model.eval()
    device = next(model.parameters()).device
    T = model.config.block_size
    n = (len(data) - 1) // T
    x = data[: n * T].view(n, T)  # (n, T)
    y = data[1 : n * T + 1].view(n, T)  # (n, T)
    total = 0.0
    for i in range(0, n, batch_size):
        logits, _ = model(x[i : i + batch_size].to(device))  # (b, T, V)
        targets = y[i : i + batch_size].to(device)  # (b, T)
        total += torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="sum").item()
    return total / (n * T)


def train_model(config, train_data, steps=300, batch_size=16, lr=3e-3, seed=0, device="cpu"):
    """Train a GPT(config) on `train_data` for `steps` optimizer steps.

    Args:
        config: a GPTConfig.
        train_data: (M,) int64 character ids (on the CPU or on `device`).
        steps: optimizer steps, each on get_batch(train_data, config.block_size, batch_size, generator, device).
        batch_size, lr: batch size and peak learning rate.
        seed: torch.manual_seed(seed) before building the model, and
            generator = torch.Generator().manual_seed(seed) for the batches.
        device: where to train.

    Returns:
        The trained GPT, on `device`. The reference uses AdamW (betas 0.9 and
        0.99, no weight decay) and Chinchilla's schedule, whose length matches
        the run: a linear warm-up over the first max(1, steps // 10) steps,
        then a cosine decay to lr / 10 at the last step. With the defaults a
        2-layer, 32-wide model gets well below the bigram loss (about 2.5
        nats) of held-out text.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = GPT(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=0.0)
    warmup = max(1, steps // 10)
    model.train()
    for step in range(steps):
        if step < warmup:
            scale = (step + 1) / warmup
        else:
            progress = (step - warmup) / max(1, steps - 1 - warmup)
            scale = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr * scale
        x, y = get_batch(train_data, config.block_size, batch_size, generator, device)  # (B, T) each
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model


def sweep(configs, train_data, val_data, steps=300, batch_size=16, lr=3e-3, seed=0, device="cpu"):
    """Train one GPT per config with the same budget and measure each on held-out data.

    Args:
        configs: GPTConfigs, smallest model first.
        train_data, val_data: (M,) int64 character ids; train on train_data only.
        steps, batch_size, lr, seed, device: as in train_model, the same for every config
            (so every model sees the same number of tokens, steps · batch_size · block_size).

    Returns:
        (points, models): points[i] = (count_parameters(model_i), evaluate_loss(model_i, val_data)),
        an (int, float) pair per config in the order of `configs`, and models[i] the trained GPT.
    """
    points, models = [], []
    for config in configs:
        model = train_model(config, train_data, steps, batch_size, lr, seed, device)
        points.append((count_parameters(model), evaluate_loss(model, val_data)))
        models.append(model)
    return points, models


def plot_scaling(points, fit=None, path="scaling.png", xlabel="non-embedding parameters N"):
    """The log-log plot of (x, loss) points and, given fit = (a, alpha, c), the fitted law; saved as a PNG.

    Returns the matplotlib Figure (a notebook shows it).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter

    x = torch.tensor([float(p[0]) for p in points], dtype=torch.float64)
    loss = torch.tensor([float(p[1]) for p in points], dtype=torch.float64)
    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    ax.loglog(x, loss, "o", label="measured")
    if fit is not None:
        a, alpha, c = fit
        grid = torch.logspace(math.log10(x.min()) - 0.3, math.log10(x.max()) + 0.7, 200, dtype=torch.float64)
        ax.loglog(grid, power_law(grid, a, alpha, c), "-", label=f"{a:.3g}·x^(-{alpha:.3f}) + {c:.3g}")
        ax.axhline(c, ls=":", color="gray", label="irreducible c")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.1f"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.1f"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation loss (nats per character)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return fig


def run_experiment(sizes=SWEEP_SIZES, steps=1000, batch_size=32, block_size=64, lr=3e-3, seed=0, device="cpu",
                   path="scaling.png"):  # fmt: skip
    """The whole experiment: Tiny Shakespeare (90% train, 10% validation), a sweep over `sizes`, the fit, the plot.

    Returns (points, (a, alpha, c)). With the defaults the largest model (1M parameters) dominates the time:
    about 40 minutes on one CPU core, much less with a laptop's cores or a GPU (device="cuda").
    """
    text = load_text()
    vocab = char_vocab(text)
    data = encode(text, vocab)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    configs = [GPTConfig(len(vocab), block_size, n_layer, n_head, n_embd) for n_layer, n_head, n_embd in sizes]
    points, _ = sweep(configs, train_data, val_data, steps, batch_size, lr, seed, device)
    fit = fit_power_law([p[0] for p in points], [p[1] for p in points])
    plot_scaling(points, fit, path)
    return points, fit
