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
2-layer, 64-wide GPT trained for 400 steps on one CPU core (10 to 30
seconds) gets about 2.25.
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
    """A batch of random windows of `data` and the tokens that follow them.

    Args:
        data: (N,) long tensor of token ids, N > block_size.
        block_size: T, the window length.
        batch_size: B.
        generator: a torch.Generator for the random start positions (None:
            torch's global RNG). Draw with it on the CPU.
        device: where to put x and y.

    Returns:
        x: (B, T) long, x[b] = data[i_b : i_b + T];
        y: (B, T) long, y[b] = data[i_b + 1 : i_b + T + 1], the input shifted by one;
        each start i_b uniform over every possible window, 0 <= i_b <= N - T - 1.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement get_batch in training.py')


def train_lm(data, config, steps=600, batch_size=32, lr=3e-3, seed=0, device="cpu", log=None, val_data=None):
    """Train a GPT(config) to predict the next token of `data` and return it.

    Args:
        data: (N,) long tensor of token ids (on the CPU or on `device`).
        config: a GPTConfig (its vocab_size covers every id in data).
        steps: optimizer steps, each on a fresh get_batch of batch_size
            windows of config.block_size tokens.
        lr: AdamW's learning rate (weight decay 0.01, the paper's value).
        seed: torch.manual_seed(seed) before building the model, and a
            torch.Generator seeded with `seed` for the batches.
        device: where to train.
        log: None, or a list to which each step appends {"step": s, "loss": float}
            (s = 1 .. steps); with `val_data`, every 100th step and the last
            one also carry "val_loss" (estimate_loss on val_data).

    Returns:
        The trained GPT, on `device`, in eval mode. Train with dropout on
        (model.train()): zero the gradients, lm_loss(model(x), y), backward,
        step. The graded run (2 layers, 64 wide, block_size 32, no
        dropout, 400 steps of 32 windows at lr 3e-3) reaches a held-out
        loss of about 2.25 nats per character on Tiny Shakespeare.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement train_lm in training.py')
