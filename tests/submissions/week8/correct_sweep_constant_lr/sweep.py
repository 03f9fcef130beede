"""The scaling sweep, written differently: constant learning rate, plain Adam, log_softmax losses."""

import math
from pathlib import Path

import torch
from model import GPT, GPTConfig
from power_law import fit_power_law, power_law

SWEEP_SIZES = [(1, 1, 8), (1, 2, 16), (2, 2, 24), (2, 2, 32), (3, 4, 48), (4, 4, 64), (4, 4, 96), (5, 4, 128)]


def load_text(path=None) -> str:
    here = Path(globals().get("__file__", "tinyshakespeare.txt")).resolve().parent
    return Path(path or here / "tinyshakespeare.txt").read_text(encoding="utf-8")


def char_vocab(text):
    return "".join(sorted(set(text)))


def encode(text, vocab):
    index = {ch: i for i, ch in enumerate(vocab)}
    return torch.tensor([index[ch] for ch in text], dtype=torch.long)


def decode(ids, vocab):
    return "".join(vocab[int(i)] for i in ids)


def get_batch(data, block_size, batch_size, generator=None, device="cpu"):
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    offsets = torch.arange(block_size)
    x = data[starts.unsqueeze(1) + offsets]
    y = data[starts.unsqueeze(1) + offsets + 1]
    return x.to(device), y.to(device)


def count_parameters(model, non_embedding=True):
    skip = ("transformer.wte.weight", "transformer.wpe.weight") if non_embedding else ()
    return sum(p.numel() for name, p in model.named_parameters() if name not in skip)  # tied weights appear once


def evaluate_loss(model, data, batch_size=64):
    model.eval()
    T = model.config.block_size
    device = model.lm_head.weight.device
    windows = (len(data) - 1) // T
    nll, count = 0.0, 0
    with torch.no_grad():
        start = 0
        while start < windows:
            stop = min(start + batch_size, windows)
            x = torch.stack([data[i * T : (i + 1) * T] for i in range(start, stop)]).to(device)
            y = torch.stack([data[i * T + 1 : (i + 1) * T + 1] for i in range(start, stop)]).to(device)
            logits, _ = model(x)
            logp = torch.log_softmax(logits.double(), dim=-1)
            nll -= logp.gather(-1, y.unsqueeze(-1)).sum().item()
            count += y.numel()
            start = stop
    return nll / count


def train_model(config, train_data, steps=300, batch_size=16, lr=3e-3, seed=0, device="cpu"):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = GPT(config).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    T = config.block_size
    for _ in range(steps):
        starts = torch.randint(0, len(train_data) - T, (batch_size,), generator=generator).tolist()
        x = torch.stack([train_data[s : s + T] for s in starts]).to(device)
        y = torch.stack([train_data[s + 1 : s + T + 1] for s in starts]).to(device)
        logits, _ = model(x)
        loss = -torch.log_softmax(logits, dim=-1).gather(-1, y.unsqueeze(-1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def sweep(configs, train_data, val_data, steps=300, batch_size=16, lr=3e-3, seed=0, device="cpu"):
    models = [train_model(c, train_data, steps, batch_size, lr, seed, device) for c in configs]
    points = [(count_parameters(m), evaluate_loss(m, val_data)) for m in models]
    return points, models


def plot_scaling(points, fit=None, path="scaling.png", xlabel="non-embedding parameters N"):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    ax.loglog([p[0] for p in points], [p[1] for p in points], "o")
    if fit is not None:
        xs = torch.logspace(math.log10(points[0][0]), math.log10(points[-1][0]), 100, dtype=torch.float64)
        ax.loglog(xs, power_law(xs, *fit))
    ax.set_xlabel(xlabel)
    fig.savefig(path)
    return fig


def run_experiment(sizes=SWEEP_SIZES, steps=1000, batch_size=32, block_size=64, lr=3e-3, seed=0, device="cpu",
                   path="scaling.png"):  # fmt: skip
    text = load_text()
    vocab = char_vocab(text)
    data = encode(text, vocab)
    split = int(0.9 * len(data))
    configs = [GPTConfig(len(vocab), block_size, *size) for size in sizes]
    points, _ = sweep(configs, data[:split], data[split:], steps, batch_size, lr, seed, device)
    fit = fit_power_law([p[0] for p in points], [p[1] for p in points])
    plot_scaling(points, fit, path)
    return points, fit
