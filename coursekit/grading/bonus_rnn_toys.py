"""The recurrent unit's grader-side pieces: the models the checks hand to a submission, Tiny Shakespeare, the task.

The models here are the unit's reference models (the same parameter names,
the same computation; tests/test_bonus_rnn_grading.py asserts it), written
again so that the grader never depends on a submission's copy of them, and
with no torch RNN built-in, so the checks' watch for built-ins sees only the
student's code:

- `GraderCharRNN`: char_rnn.CharRNN, with an optional dropout on the
  embeddings (on in training mode only), so that code which forgets
  model.eval() gives other numbers;
- `ProbeCharRNN`: GraderCharRNN that records every call made in training
  mode: the window it read, whether the state it was given was None,
  carried from the call before, or still attached to the graph; and the
  mode it was left in. The records live in buffers, so they come back with
  the state dict of the trained model;
- `GraderSeq2Seq`: seq2seq.Seq2Seq, for the decoding checks.

The data is the students' own: Tiny Shakespeare's characters and split (as
char_rnn.py's CharVocab and split_text), and the reversal task (as
seq2seq.py's make_reversal_batch), read or made here, in the grader.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

DATA = Path(__file__).resolve().parents[2] / "data" / "tinyshakespeare.txt"

# ---------------------------------------------------------------- the cells (as cells.py)


class Cell(nn.Module):
    n_gates = 1

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        k = self.n_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(k, input_size))
        self.weight_hh = nn.Parameter(torch.empty(k, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(k)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(k)) if bias else None
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def gates(self, x, h):
        g = x @ self.weight_ih.T, h @ self.weight_hh.T
        return g if self.bias_ih is None else (g[0] + self.bias_ih, g[1] + self.bias_hh)


class TanhCell(Cell):
    n_gates = 1

    def forward(self, x, h=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h is None else h
        gi, gh = self.gates(x, h)
        return torch.tanh(gi + gh)


class GatedCell(Cell):
    n_gates = 3

    def forward(self, x, h=None):
        h = x.new_zeros(x.shape[0], self.hidden_size) if h is None else h
        gi, gh = self.gates(x, h)
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        return (1 - z) * torch.tanh(i_n + r * h_n) + z * h


class MemoryCell(Cell):
    n_gates = 4

    def forward(self, x, state=None):
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        h, c = (zeros, zeros) if state is None else state
        gi, gh = self.gates(x, h)
        i, f, g, o = (gi + gh).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


CELLS = {"rnn": TanhCell, "gru": GatedCell, "lstm": MemoryCell}


def run_cell(cell, x, state=None, mask=None):
    """cells.unroll: outputs (B, T, H) and the final state; masked steps carry the state unchanged."""
    outputs = []
    for t in range(x.shape[1]):
        new = cell(x[:, t], state)
        if mask is not None:
            keep = mask[:, t, None]
            if isinstance(new, tuple):
                old = state if state is not None else tuple(torch.zeros_like(n) for n in new)
                new = tuple(torch.where(keep, n, o) for n, o in zip(new, old))
            else:
                new = torch.where(keep, new, state if state is not None else torch.zeros_like(new))
        state = new
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(outputs, dim=1), state


# ---------------------------------------------------------------- the character model (as char_rnn.py)


class GraderCharRNN(nn.Module):
    def __init__(self, vocab_size, n_embd=32, hidden_size=128, cell="lstm", dropout=0.0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_embd)
        self.cell = CELLS[cell](n_embd, hidden_size)
        if cell == "lstm":
            with torch.no_grad():
                self.cell.bias_ih[hidden_size : 2 * hidden_size] = 1.0
                self.cell.bias_hh[hidden_size : 2 * hidden_size] = 0.0
        self.head = nn.Linear(hidden_size, vocab_size)
        self.drop = nn.Dropout(dropout)

    def forward(self, idx, state=None):
        out, state = run_cell(self.cell, self.drop(self.embedding(idx)), state)
        return self.head(out), state


def _as_tuple(state):
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


class ProbeCharRNN(GraderCharRNN):
    """Records each training-mode call: buffers `seen_x` (K, B, T) and `seen_info` (K, 4), rows
    [state was None, state requires grad, max |state - the previous call's returned state|, 1];
    `last_mode` holds 1 while in training mode, 0 in eval mode."""

    INFO = 4

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.register_buffer("seen_x", torch.zeros(0, 0, 0, dtype=torch.long))
        self.register_buffer("seen_info", torch.zeros(0, self.INFO, dtype=torch.float64))
        self.register_buffer("last_mode", torch.ones((), dtype=torch.float64))
        self._previous = None

    def train(self, mode=True):
        super().train(mode)
        if hasattr(self, "last_mode"):
            self.last_mode.fill_(1.0 if mode else 0.0)
        return self

    def forward(self, idx, state=None):
        logits, new_state = super().forward(idx, state)
        if self.training:
            none = state is None
            grad = not none and any(s.requires_grad for s in _as_tuple(state))
            if none or self._previous is None:
                carry = -1.0
            else:
                given, previous = _as_tuple(state), self._previous
                same = len(given) == len(previous) and all(g.shape == p.shape for g, p in zip(given, previous))
                carry = max((g.detach() - p).abs().max().item() for g, p in zip(given, previous)) if same else 1e9
            row = torch.tensor([[float(none), float(grad), carry, 1.0]], dtype=torch.float64, device=idx.device)
            x = idx.detach()[None]
            if self.seen_x.numel() and self.seen_x.shape[1:] != x.shape[1:]:
                x = torch.full(self.seen_x.shape[1:], -1, dtype=torch.long, device=idx.device)[None]
            self.seen_x = torch.cat([self.seen_x.to(idx.device), x]) if self.seen_x.numel() else x
            self.seen_info = torch.cat([self.seen_info.to(idx.device), row])
            self._previous = tuple(s.detach().clone() for s in _as_tuple(new_state))
        return logits, new_state


# ---------------------------------------------------------------- the seq2seq model (as seq2seq.py)

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3


class GraderEncoder(nn.Module):
    def __init__(self, vocab_size, emb_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.cell = GatedCell(emb_size, hidden_size)

    def forward(self, src):
        return run_cell(self.cell, self.embedding(src), mask=src != PAD)


class GraderAttention(nn.Module):
    def __init__(self, query_size, key_size, attn_size):
        super().__init__()
        self.W = nn.Linear(query_size, attn_size, bias=False)
        self.U = nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, s, h, mask):
        e = self.v(torch.tanh(self.W(s)[:, None] + self.U(h))).squeeze(-1).masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, dim=-1)
        return (alpha[:, :, None] * h).sum(1), alpha


class GraderDecoder(nn.Module):
    def __init__(self, vocab_size, emb_size, hidden_size, attn_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.attention = GraderAttention(hidden_size, hidden_size, attn_size)
        self.cell = GatedCell(emb_size + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size + emb_size, vocab_size)

    def forward(self, y_prev, s_prev, annotations, mask):
        e = self.embedding(y_prev)
        c, alpha = self.attention(s_prev, annotations, mask)
        s = self.cell(torch.cat([e, c], -1), s_prev)
        return self.out(torch.cat([s, c, e], -1)), s, alpha


class GraderSeq2Seq(nn.Module):
    def __init__(self, vocab_size, emb_size=32, hidden_size=64, attn_size=64):
        super().__init__()
        self.encoder = GraderEncoder(vocab_size, emb_size, hidden_size)
        self.bridge = nn.Linear(hidden_size, hidden_size)
        self.decoder = GraderDecoder(vocab_size, emb_size, hidden_size, attn_size)

    def encode(self, src):
        annotations, final = self.encoder(src)
        return annotations, src != PAD, torch.tanh(self.bridge(final))

    def forward(self, src, tgt_in):
        annotations, mask, s = self.encode(src)
        logits, alphas = [], []
        for i in range(tgt_in.shape[1]):
            out, s, alpha = self.decoder(tgt_in[:, i], s, annotations, mask)
            logits.append(out)
            alphas.append(alpha)
        return torch.stack(logits, 1), torch.stack(alphas, 1)


# ---------------------------------------------------------------- the data


def tiny_shakespeare(path: str | Path | None = None) -> str:
    return Path(path or DATA).read_text(encoding="utf-8")


def split_text(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    n = int(len(text) * train_fraction)
    return text[:n], text[n:]


def char_vocab(text: str) -> list[str]:
    """The characters of `text`, sorted by code point: character chars[i] has id i."""
    return sorted(set(text))


def encode_chars(text: str, chars: list[str]) -> torch.Tensor:
    stoi = {c: i for i, c in enumerate(chars)}
    return torch.tensor([stoi[c] for c in text], dtype=torch.long)


def streams(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """char_rnn.batchify: (B, N // B), row b = data[b L : (b + 1) L]."""
    L = len(data) // batch_size
    return data[: batch_size * L].view(batch_size, L)


def make_reversal_batch(batch_size, min_len, max_len, n_digits=10, generator=None):
    """seq2seq.make_reversal_batch: src (B, max_len + 1) = x EOS PAD..., tgt (B, max_len + 2) = BOS reversed EOS PAD..."""
    lengths = torch.randint(min_len, max_len + 1, (batch_size, 1), generator=generator)
    digits = torch.randint(0, n_digits, (batch_size, max_len), generator=generator)
    pos = torch.arange(max_len).expand(batch_size, max_len)
    real = pos < lengths
    y = digits.gather(1, (lengths - 1 - pos).clamp(min=0))
    x = torch.where(real, digits + N_SPECIAL, PAD)
    y = torch.where(real, y + N_SPECIAL, PAD)
    src = torch.cat([x, torch.full((batch_size, 1), PAD)], dim=1)
    src.scatter_(1, lengths, EOS)
    tgt = torch.cat([torch.full((batch_size, 1), BOS), y, torch.full((batch_size, 1), PAD)], dim=1)
    tgt.scatter_(1, lengths + 1, EOS)
    return src, tgt


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator in the state manual_seed(seed) gives (built in the submission's process)."""
    return torch.Generator().manual_seed(seed)
