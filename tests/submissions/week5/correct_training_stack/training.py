"""Training GPT-1 as a character-level language model on Tiny Shakespeare (Radford et al., 2018, section 3.1).

Unsupervised pre-training maximises the likelihood of each token given the
ones before it. With a corpus of token ids u_1 .. u_N, one training example
is a window of T + 1 consecutive ids starting at a random position i:

    x = u_i     .. u_{i+T-1}        the model's input            (T,)
    y = u_{i+1} .. u_{i+T}          the token that follows each   (T,)

so a single forward pass gives T predictions, one per prefix of the window.
The loss is `lm_loss(model(x), y)`.

Tiny Shakespeare is 1.1 MB of plays; at the character level its vocabulary
is 65 symbols. The first 90% of the text is for training, the last 10% for
validation (`split_text`). A uniform guess scores ln 65 = 4.17 nats per
character, the best unigram model about 3.3, a bigram model about 2.5; a
tiny GPT trained for a minute on a CPU gets below 2.2.
"""

import torch
from gpt1 import GPT, lm_loss

# --- the character vocabulary and the data (finished) ---


class CharVocab:
    """Characters <-> ids: the distinct characters of `text`, sorted by code point, get ids 0, 1, 2, ...

    Attributes: chars (the sorted list), stoi (dict char -> id), vocab_size.
    """

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.vocab_size = len(self.chars)

    def encode(self, text):
        """str -> torch.long tensor of ids (T,)."""
        return torch.tensor([self.stoi[c] for c in text], dtype=torch.long)

    def decode(self, ids):
        """Sequence of ids (list or tensor) -> str."""
        return "".join(self.chars[int(i)] for i in ids)


def split_text(text, train_fraction=0.9):
    """(train, validation): the first `train_fraction` of the text, and the rest."""
    n = int(len(text) * train_fraction)
    return text[:n], text[n:]


@torch.no_grad()
def estimate_loss(model, data, block_size, batch_size=32, iters=20, generator=None, device="cpu"):
    """Mean lm_loss of `model` on `iters` random batches of `data` (1-D long tensor), in eval mode."""
    was_training = model.training
    model.eval()
    losses = []
    for _ in range(iters):
        x, y = get_batch(data, block_size, batch_size, generator, device)
        losses.append(lm_loss(model(x), y).item())
    model.train(was_training)
    return sum(losses) / len(losses)


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature=1.0, generator=None):
    """Sample `max_new_tokens` tokens after the context idx (B, T0), one at a time; returns (B, T0 + max_new_tokens).

    Each step feeds the model the last block_size tokens at most, and samples
    the next token from softmax(logits[:, -1] / temperature).
    """
    model.eval()
    block_size = model.config.block_size
    for _ in range(max_new_tokens):
        logits = model(idx[:, -block_size:])[:, -1] / temperature  # (B, V)
        probs = torch.softmax(logits, dim=-1)
        next_id = torch.multinomial(probs.cpu(), 1, generator=generator).to(idx.device)  # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)
    return idx


def plot_loss_curve(log, path="loss_curve.png"):
    """Plot the training loss of a `log` from train_lm (and the validation loss where it has one); save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([e["step"] for e in log], [e["loss"] for e in log], label="training batch", alpha=0.6)
    val = [e for e in log if "val_loss" in e]
    if val:
        ax.plot([e["step"] for e in val], [e["val_loss"] for e in val], "o-", label="validation")
    ax.set(xlabel="step", ylabel="loss (nats per token)", title="GPT-1 language model")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# --- what you write ---


def get_batch(data, block_size, batch_size, generator=None, device="cpu"):
    """x: (B, T) windows of data, y: the same windows one token later."""
    n_starts = data.numel() - block_size
    starts = torch.randint(0, n_starts, (batch_size,), generator=generator).tolist()
    x = torch.stack([data[i : i + block_size] for i in starts])
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in starts])
    return x.to(device), y.to(device)


def train_lm(data, config, steps=600, batch_size=32, lr=3e-3, seed=0, device="cpu", log=None, val_data=None):
    """Train a GPT on `data` with Adam and a cosine decay to lr / 2."""
    import math

    torch.manual_seed(seed)
    rng = torch.Generator()
    rng.manual_seed(seed)
    model = GPT(config)
    model.to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * (0.5 + 0.25 * (1 + math.cos(math.pi * step / steps)))
        x, y = get_batch(data, config.block_size, batch_size, rng, device)
        model.zero_grad()
        loss = lm_loss(model(x), y)
        loss.backward()
        opt.step()
        if log is not None:
            log.append({"step": step + 1, "loss": float(loss)})
            if val_data is not None and ((step + 1) % 100 == 0 or step + 1 == steps):
                log[-1]["val_loss"] = estimate_loss(model, val_data, config.block_size, device=device)
    model.eval()
    return model
