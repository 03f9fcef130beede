"""The chain-of-thought unit's grader-side pieces: the task, its formats, and toy language models.

The task and its tokens are the ones students get, finished, in
scratchpad.py (a test asserts they agree); `format_example`, `parse_answer`
and `solve` are the grader's own copies of the reference, used to make
expected outputs and to score trained models on held-out problems.

`ToyLM` stands in for a model in the decoding checks: its next-token logits
are a fixed function of the first token, the last token and its position,

    logits(next | x_0 .. x_t) = first[x_0] + table[x_t] + positions[t]      (float64)

so a decoder that drops the start of the sequence or gets the positions
wrong is seen. `ScriptedLM` writes, for each prompt, a completion the
grader chose (right, wrong or malformed: `scripted_completion`), and
refuses to run in training mode; with both, the interface is the GPT's
(`.config`, `forward(idx, targets=None, kv_cache=None) -> (logits, None)`,
positions after those already passed through a `kv_cache`).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

# ---------------------------------------------------------------- the task (as scratchpad.py)

N_TERMS = 8
MAX_NUMBER = 9 * N_TERMS
THINK, EQ, END = MAX_NUMBER + 1, MAX_NUMBER + 2, MAX_NUMBER + 3
VOCAB_SIZE = MAX_NUMBER + 4


def cot_fields() -> dict:
    """GPTConfig fields of the experiment's model (experiment.cot_config())."""
    return dict(vocab_size=VOCAB_SIZE, block_size=2 * N_TERMS + 4, n_layer=2, n_head=4, n_embd=64, dropout=0.0)


def sample_problems(n: int, generator: torch.Generator, n_terms: int = N_TERMS) -> torch.Tensor:
    return torch.randint(10, (n, n_terms), generator=generator)


def last_digit(terms) -> int:
    return int(sum(int(a) for a in terms)) % 10


def format_example(terms, scratchpad: bool) -> tuple[list[int], list[int]]:
    terms = [int(a) for a in terms]
    d = sum(terms) % 10
    if not scratchpad:
        return terms + [EQ], [d, END]
    totals = [sum(terms[: k + 1]) for k in range(len(terms))]
    return terms + [THINK], totals + [EQ, d, END]


def make_batch(problems: torch.Tensor, scratchpad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [format_example(terms, scratchpad) for terms in problems.tolist()]
    seqs = torch.tensor([p + c for p, c in pairs], dtype=torch.long)
    targets = seqs[:, 1:].clone()
    targets[:, : len(pairs[0][0]) - 1] = -100
    return seqs[:, :-1], targets


def parse_answer(tokens) -> int | None:
    tokens = [int(t) for t in tokens]
    if END not in tokens:
        return None
    body = tokens[: tokens.index(END)]
    if len(body) < 2 or body[-2] != EQ or not 0 <= body[-1] <= MAX_NUMBER:
        return None
    return body[-1]


@torch.no_grad()
def solve(model: nn.Module, problems: torch.Tensor, scratchpad: bool) -> list:
    """The reference's answers: greedy completions of each prompt, parsed (no cache)."""
    model.eval()
    pairs = [format_example(terms, scratchpad) for terms in problems.tolist()]
    idx = torch.tensor([p for p, _ in pairs], dtype=torch.long)
    for _ in range(len(pairs[0][1])):
        next_id = model(idx)[0][:, -1].argmax(-1, keepdim=True)
        idx = torch.cat([idx, next_id], 1)
    return [parse_answer(row) for row in idx.tolist()]


def scores(model: nn.Module, problems: torch.Tensor, scratchpad: bool) -> tuple[float, float]:
    """(exact-match accuracy, share of well-formed completions) of a model on problems."""
    answers = solve(model, problems, scratchpad)
    right = sum(a == last_digit(t) for a, t in zip(answers, problems.tolist()))
    return right / len(answers), sum(a is not None for a in answers) / len(answers)


# ---------------------------------------------------------------- toy language models


class _Positions:
    """Positions of each KV cache passed to a toy model (it keeps the cache's len right, as a GPT would)."""

    def __init__(self):
        self.seen: dict[int, tuple[object, torch.Tensor]] = {}  # id(cache) -> (cache, tokens passed through it)

    def prefix(self, idx, kv_cache):
        """The whole sequence so far (the cached tokens, then idx), and where idx starts in it."""
        if kv_cache is None:
            return idx, 0
        _, before = self.seen.get(id(kv_cache), (None, idx[:, :0]))
        full = torch.cat([before, idx], 1)
        kv = idx.to(torch.float64)[:, None, :, None]  # one "layer" of (B, 1, T, 1) keys and values
        kv_cache.update(0, kv, kv)
        self.seen[id(kv_cache)] = (kv_cache, full)
        return full, before.size(1)


class ToyLM(nn.Module):
    def __init__(self, vocab_size=VOCAB_SIZE, block_size=24, seed=0, scale=2.0):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab_size, block_size=block_size)
        g = torch.Generator().manual_seed(int(seed))
        self.register_buffer("first", torch.randn(vocab_size, vocab_size, generator=g, dtype=torch.float64) * scale)
        self.register_buffer("table", torch.randn(vocab_size, vocab_size, generator=g, dtype=torch.float64) * scale)
        self.register_buffer("positions", torch.randn(block_size, vocab_size, generator=g, dtype=torch.float64) * scale)
        self._positions = _Positions()

    def forward(self, idx, targets=None, kv_cache=None):
        full, t0 = self._positions.prefix(idx, kv_cache)
        T = idx.size(1)
        if t0 + T > self.config.block_size:
            raise ValueError(f"positions up to {t0 + T - 1}, but block_size is {self.config.block_size}")
        logits = self.first[full[:, :1]] + self.table[idx] + self.positions[t0 : t0 + T]  # (B, T, V)
        return logits, None


def scripted_completion(terms, scratchpad: bool) -> list[int]:
    """What ScriptedLM writes after the prompt of `terms`: right for most problems, and wrong or
    malformed for some, chosen by (3 a_1 + a_2) mod 8. It has the length of a right completion."""
    completion = format_example(terms, scratchpad)[1]
    d = completion[-2]
    kind = (3 * int(terms[0]) + int(terms[1] if len(terms) > 1 else 0)) % 8
    if not scratchpad:
        return {1: [(d + 1) % 10, END], 2: [EQ, d], 3: [END, d], 5: [THINK, END]}.get(kind, completion)
    totals = completion[:-3]
    if kind == 1:
        return totals + [EQ, (d + 1) % 10, END]  # a wrong answer
    if kind == 2:
        return totals + [THINK, EQ, d]  # cut off right before its END
    if kind == 3:
        return totals + [d, END, END]  # no EQ
    if kind == 4:
        return totals[:-1] + [EQ, d, END, 5]  # ends early: what follows END is ignored
    if kind == 5:
        return totals + [EQ, END, d]  # nothing after EQ
    return completion


class ScriptedLM(nn.Module):
    """Writes the prompt's scripted_completion after a prompt of n_terms digits, then END for ever: a
    decoder that generates more or fewer tokens than a right completion has reads other answers."""

    def __init__(self, n_terms=N_TERMS, scratchpad=True, block_size=40):
        super().__init__()
        self.n_terms, self.scratchpad = n_terms, scratchpad
        self.config = SimpleNamespace(vocab_size=VOCAB_SIZE, block_size=block_size)
        self._positions = _Positions()

    def forward(self, idx, targets=None, kv_cache=None):
        if self.training:
            raise RuntimeError("this model answers in eval mode only: call model.eval() before decoding")
        full, t0 = self._positions.prefix(idx, kv_cache)
        B, T = idx.shape
        logits = torch.zeros(B, T, VOCAB_SIZE, dtype=torch.float64)
        for b in range(B):
            terms = full[b, : self.n_terms].tolist()
            prompt = format_example(terms, self.scratchpad)[0]
            script = prompt + scripted_completion(terms, self.scratchpad) + [END] * self.config.block_size
            for t in range(T):
                logits[b, t, script[t0 + t + 1]] = 10.0
        return logits, None
