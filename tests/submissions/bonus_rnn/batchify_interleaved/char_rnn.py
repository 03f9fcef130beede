"""A character-level recurrent language model (Karpathy, 2015, "The Unreasonable Effectiveness of RNNs").

The model reads one character at a time and predicts the next one:

    e_t = E[c_t]                                 embedding              (B, T, n_embd)
    h_t = cell(e_t, h_{t-1})                     your cell, unrolled    (B, T, H)
    logits_t = W_out h_t + b_out                 the head               (B, T, V)

and returns its final state with the logits, so that the next call can
go on where this one stopped: feeding a text in two pieces, the second
with the state the first returned, gives exactly the logits of one pass.

Training: truncated backpropagation through time (TBPTT). The training text
is cut into B long contiguous streams, one per row (`batchify`), and each
step reads the next window of T characters of every stream:

    streams (B, L),  n_windows = (L - 1) // T
    window k:  x = streams[:, kT : kT + T],  y = streams[:, kT + 1 : kT + T + 1]

The state at the end of window k is the state at the start of window k + 1,
so the model sees context far beyond T characters; but the gradient is cut
at the window's edge: the state is DETACHED before it is carried, otherwise
each backward pass would run back through every earlier window. After the
last window the streams start again from window 0, with a fresh state (None).

Sampling feeds the prompt once, then one character at a time, each drawn
from softmax(logits / temperature) and fed back with the carried state.

Tiny Shakespeare has 65 distinct characters: a uniform guess scores ln 65 =
4.17 nats per character, the best unigram model about 3.3, a bigram model
about 2.5; a 128-wide LSTM trained for 300 steps on one CPU core gets
about 2.1.
"""

from pathlib import Path

import torch
from cells import GRUCell, LSTMCell, RNNCell, init_forget_bias, unroll
from torch import nn
from torch.nn import functional as F

CELLS = {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}

# --- the text (finished) ---


def load_text(path=None):
    """Tiny Shakespeare (the unit's folder holds a copy), or the text file at `path`."""
    here = Path(globals().get("__file__", "tinyshakespeare.txt")).resolve().parent
    return Path(path or here / "tinyshakespeare.txt").read_text(encoding="utf-8")


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


# --- the model ---


class CharRNN(nn.Module):
    """Embedding, one recurrent cell unrolled over the characters, a linear head.

    Args:
        vocab_size: V. n_embd: the embedding width. hidden_size: H.
        cell: "rnn", "gru" or "lstm" (CELLS).

    Attributes (the names are the API: the grader loads weights by them):
        embedding: nn.Embedding(vocab_size, n_embd).
        cell: CELLS[cell](n_embd, hidden_size), with biases; an LSTM's forget
            gate starts open: init_forget_bias(cell, 1.0).
        head: nn.Linear(hidden_size, vocab_size).
    """

    def __init__(self, vocab_size, n_embd=32, hidden_size=128, cell="lstm"):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.cell = CELLS[cell](n_embd, hidden_size)
        if cell == "lstm":
            init_forget_bias(self.cell, 1.0)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None):
        """idx: (B, T) long; state: the cell's state before the first character, or None (zeros).

        Returns (logits, state): logits (B, T, V), and the cell's state after
        the last character ((B, H), or (h, c) for an LSTM).
        """
        e = self.embedding(idx)  # (B, T, n_embd)
        out, state = unroll(self.cell, e, state)  # (B, T, H)
        return self.head(out), state  # (B, T, V)


def lm_loss(logits, targets):
    """The mean cross-entropy over all B·T positions: logits (B, T, V), targets (B, T) long -> scalar."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


# --- truncated backpropagation through time ---


def batchify(data, batch_size):
    """Cut `data` (N,) into batch_size contiguous streams: (B, L) with L = N // B.

    Row b is data[b·L : (b + 1)·L]; the last N - B·L ids are dropped.
    """
    L = len(data) // batch_size
    return data[: batch_size * L].view(L, batch_size).T


def detach_state(state):
    """The state cut from the graph: a tensor's .detach(), a tuple of each one's; None stays None."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


@torch.no_grad()
def evaluate_lm(model, streams, seq_len):
    """The mean loss per character of `model` over every window of `streams`, carrying the state.

    Args:
        model: a CharRNN (or anything with its forward).
        streams: (B, L) long, from batchify (on the model's device).
        seq_len: T, the window length.

    Returns:
        A float: the mean lm_loss over windows k = 0 .. n_windows - 1
        (n_windows = (L - 1) // T), read in order from a fresh state (None),
        each window starting from the state the one before it ended with.
        Measured in eval mode; the model's mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    T, state, losses = seq_len, None, []
    for k in range((streams.shape[1] - 1) // T):
        x, y = streams[:, k * T : k * T + T], streams[:, k * T + 1 : k * T + T + 1]
        logits, state = model(x, state)
        losses.append(lm_loss(logits, y).item())
    model.train(was_training)
    return sum(losses) / len(losses)


def train_char_rnn(model, data, steps=300, batch_size=32, seq_len=32, lr=3e-3, clip=1.0, device="cpu", log=None):
    """Train `model` on `data` with truncated BPTT; return it, on `device`, in eval mode.

    Args:
        model: a CharRNN (already initialised; train it as it is).
        data: (N,) long tensor of character ids (on the CPU or on `device`).
        steps: optimizer steps, one per window.
        batch_size: B, the number of streams (batchify(data, B)).
        seq_len: T, the window length.
        lr: Adam's learning rate.
        clip: the gradient norm is clipped to this (torch.nn.utils.clip_grad_norm_) before each step.
        device: where to train.
        log: None, or a list to which each step appends {"step": s, "loss": float} (s = 1 .. steps).

    Step s (0-based) reads window k = s % n_windows, in train mode: the state
    is None when k == 0 (each pass over the streams starts afresh), and
    otherwise the state the previous step ended with, detached. Then:
    zero the gradients, lm_loss(model(x, state)), backward, clip, step.
    """
    model.to(device).train()
    streams = batchify(data, batch_size).to(device)  # (B, L)
    n_windows = (streams.shape[1] - 1) // seq_len
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state = None
    for s in range(steps):
        k = s % n_windows
        if k == 0:
            state = None
        x = streams[:, k * seq_len : (k + 1) * seq_len]  # (B, T)
        y = streams[:, k * seq_len + 1 : (k + 1) * seq_len + 1]  # (B, T)
        logits, state = model(x, state)
        loss = lm_loss(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        state = detach_state(state)
        if log is not None:
            log.append({"step": s + 1, "loss": loss.item()})
    return model.eval()


# --- sampling ---


@torch.no_grad()
def sample(model, prompt, n_new, temperature=1.0, generator=None):
    """Continue each row of `prompt` by n_new characters; returns (B, T0 + n_new) long: the prompt, then them.

    Args:
        model: a CharRNN; put it in eval mode.
        prompt: (B, T0) long, T0 >= 1.
        n_new: how many characters to add.
        temperature: > 0 divides the logits before the softmax; 0 takes the
            argmax (greedy).
        generator: a CPU torch.Generator (None: torch's global one).

    Feed the whole prompt once; then, n_new times: take the logits of the last
    position, draw the next id with
    torch.multinomial(probs.cpu(), 1, generator=generator) (one draw per row,
    rows in order), and feed that id alone with the carried state.
    """
    model.eval()
    logits, state = model(prompt)
    out = [prompt]
    for i in range(n_new):
        last = logits[:, -1]  # (B, V)
        if temperature == 0:
            next_id = last.argmax(dim=-1, keepdim=True)  # (B, 1)
        else:
            probs = torch.softmax(last / temperature, dim=-1)
            next_id = torch.multinomial(probs.cpu(), 1, generator=generator).to(prompt.device)  # (B, 1)
        out.append(next_id)
        if i + 1 < n_new:
            logits, state = model(next_id, state)
    return torch.cat(out, dim=1)


def generate_text(model, vocab, prompt="ROMEO:\n", n_new=300, temperature=0.8, seed=0):
    """Finished: a string of n_new characters after `prompt`, sampled from `model` with a seeded generator."""
    device = next(model.parameters()).device
    ids = sample(model, vocab.encode(prompt)[None].to(device), n_new, temperature, torch.Generator().manual_seed(seed))
    return vocab.decode(ids[0])
