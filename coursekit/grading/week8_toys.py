"""Week 8's data, made on the grader's side: synthetic scaling-law runs and Tiny Shakespeare.

Synthetic runs. A law L(x) = a · x^(-α) + c is drawn at random, measured at
n sizes x spread log-uniformly over some decades (like N, D or C of a sweep:
the grader uses ranges from 10^2 up to 10^22), and each loss is multiplied by
exp(σ ε), ε ~ N(0, 1): noise of about σ relative to L, the same on every
point, as seeds of real runs are. The coefficient is set through r, the ratio
of the reducible part a · x^(-α) to c at the smallest x, so that every law
has the curvature that makes c matter.

Tiny Shakespeare. The same character vocabulary and encoding as the
students' sweep.py (`char_vocab`, `encode`), read by the grader from the
course's own data/ folder, never from a submission.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[2] / "data" / "tinyshakespeare.txt"


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


def random_law(
    generator: torch.Generator,
    alpha=(0.05, 0.8),
    c=(0.5, 3.0),
    ratio=(1.5, 20.0),
    start=(2.0, 14.0),
    decades=(2.0, 6.0),
    n=(5, 15),
    zero_c: bool = False,
    end_ratio=None,
) -> dict:
    """A random law and the sizes it is measured at: {"x": (n,) float64, "a", "alpha", "c"}.

    Each argument is the (low, high) range a value is drawn from, uniformly
    (ratio and the number of points n log-uniformly and uniformly); x runs
    from 10^start over `decades` decades, log-spaced with a small jitter.
    zero_c: a pure power law (c = 0), with a reducible part of `ratio` at the smallest x.
    end_ratio: instead of `decades`, the range of the reducible part's ratio to c at the
        largest x: the sizes then reach the flat end of the curve, where c shows.
    """
    k = int(torch.randint(n[0], n[1] + 1, (), generator=generator))
    a_exp = _uniform(generator, *alpha)
    c_val = 0.0 if zero_c else _uniform(generator, *c)
    r = 10 ** _uniform(generator, math.log10(ratio[0]), math.log10(ratio[1]))
    lo, span = _uniform(generator, *start), _uniform(generator, *decades)
    if end_ratio is not None:
        q = 10 ** _uniform(generator, math.log10(end_ratio[0]), math.log10(end_ratio[1]))
        span = math.log10(r / q) / a_exp
    steps = torch.linspace(lo, lo + span, k, dtype=torch.float64)
    jitter = (torch.rand(k, generator=generator, dtype=torch.float64) - 0.5) * (0.3 * span / max(k - 1, 1))
    jitter[0] = jitter[-1] = 0.0
    x = 10 ** (steps + jitter)
    a = r * (c_val or 1.0) * float(x[0]) ** a_exp
    return {"x": x, "a": a, "alpha": a_exp, "c": c_val}


def measure(law: dict, generator: torch.Generator | None = None, sigma: float = 0.0) -> torch.Tensor:
    """The losses of `law` at law["x"], each times exp(sigma · N(0, 1)): (n,) float64."""
    x = law["x"]
    loss = law["a"] * torch.exp(-law["alpha"] * torch.log(x)) + law["c"]
    if sigma:
        loss = loss * torch.exp(sigma * torch.randn(x.shape, generator=generator, dtype=torch.float64))
    return loss


def log_squared_error(x, loss, a, alpha, c) -> float:
    """S(a, alpha, c) = Σ (ln loss - ln(a x^-alpha + c))^2 in float64 (the grader's own)."""
    x, loss = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(loss, dtype=torch.float64)
    prediction = a * torch.exp(-alpha * torch.log(x)) + c
    return float(((torch.log(loss) - torch.log(prediction)) ** 2).sum())


# --- Tiny Shakespeare, as the students' sweep.py encodes it ---


def char_vocab(text: str) -> str:
    """The sorted distinct characters of text."""
    return "".join(sorted(set(text)))


def encode(text: str, vocab: str) -> torch.Tensor:
    """(len(text),) int64 ids of text's characters in vocab."""
    index = {ch: i for i, ch in enumerate(vocab)}
    return torch.tensor([index[ch] for ch in text], dtype=torch.long)


def shakespeare(path: Path = DATA) -> tuple[str, torch.Tensor]:
    """(vocab, ids) of the whole of Tiny Shakespeare."""
    text = path.read_text(encoding="utf-8")
    vocab = char_vocab(text)
    return vocab, encode(text, vocab)


def non_embedding_parameters(n_layer: int, n_embd: int) -> int:
    """N of model.py's GPT: L (12 d^2 + 13 d) + 2 d."""
    return n_layer * (12 * n_embd**2 + 13 * n_embd) + 2 * n_embd
