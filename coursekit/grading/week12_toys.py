"""Week 12's grader-side pieces: the copy task, language models with known logits, and probes.

The copy task is the one students get, finished, in training.py (`sample_copy`,
`copy_config`; a test asserts they are the same): N_COPY random symbols, a
separator, and the same symbols again.

`ToyLM` stands in for a Llama in the generation checks, so that they judge
`generate` alone: its next-token logits are a fixed function of the last token
and its position, logits = table[x_t] + positions[t] (float64). `ToyCopier`
stands in for a trained copier in the copy_accuracy check: the token it
predicts is the one N_COPY + 1 positions before it, except that it slips (the
next symbol) when that token and the one it has just read add up to a multiple
of `slip`, and that it writes garbage (the symbol + 3) once the token it has
just read is not a copy. Teacher forcing never shows it a wrong token; its own
greedy generation does, after its first slip, so the two accuracies differ.
Both keep their own
count of the positions passed through each KV cache, and append one "layer" of
(B, 1, T, 1) keys and values to it, as a Llama would.

`random_llama` gives the reference Llama with random float64 weights for the
equivalence checks, and `model_obj` the submission's Llama holding them. The
probes (`cached_forward`, `parameter_count`) run in the submission's process on
its own code and return plain data.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

# ---------------------------------------------------------------- the copy task (as training.py)

N_SYMBOLS, N_COPY = 16, 8
SEP = N_SYMBOLS
VOCAB_SIZE = N_SYMBOLS + 1
SEQ_LEN = 2 * N_COPY + 1


def copy_fields() -> dict:
    """The LlamaConfig fields of training.copy_config()."""
    return dict(vocab_size=VOCAB_SIZE, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_hidden=64)


def sample_copy(n: int, generator: torch.Generator) -> torch.Tensor:
    x = torch.randint(N_SYMBOLS, (n, N_COPY), generator=generator)
    sep = torch.full((n, 1), SEP, dtype=torch.long)
    return torch.cat([x, sep, x], dim=1)


# ---------------------------------------------------------------- models with known logits


class _Tracked(nn.Module):
    """Keeps, for each KV cache it is given, the tokens that went through it."""

    def __init__(self):
        super().__init__()
        self._seen: dict[int, tuple[object, torch.Tensor | None]] = {}

    def _history(self, tokens, kv_cache):
        """(all tokens so far, the position of tokens[:, 0])."""
        if kv_cache is None:
            return tokens, 0
        past = self._seen.get(id(kv_cache), (None, None))[1]
        full = tokens if past is None else torch.cat([past, tokens], dim=1)
        kv = tokens.to(torch.float64)[:, None, :, None]  # (B, 1, T, 1)
        kv_cache.update(0, kv, kv)
        self._seen[id(kv_cache)] = (kv_cache, full)
        return full, full.size(1) - tokens.size(1)


class ToyLM(_Tracked):
    def __init__(self, vocab_size=12, max_len=40, seed=0, scale=1.5):
        super().__init__()
        generator = torch.Generator().manual_seed(int(seed))
        table = torch.randn(vocab_size, vocab_size, generator=generator, dtype=torch.float64) * scale
        positions = torch.randn(max_len, vocab_size, generator=generator, dtype=torch.float64) * scale / 2
        self.register_buffer("table", table)
        self.register_buffer("positions", positions)

    def forward(self, tokens, kv_cache=None):
        _, t0 = self._history(tokens, kv_cache)
        T = tokens.size(1)
        if t0 + T > self.positions.size(0):
            raise ValueError(f"positions up to {t0 + T - 1}, but this model knows {self.positions.size(0)}")
        return self.table[tokens] + self.positions[t0 : t0 + T]  # (B, T, V)


class ToyCopier(_Tracked):
    def __init__(self, slip=5):
        super().__init__()
        self.slip = slip
        self.register_buffer("eye", torch.eye(VOCAB_SIZE, dtype=torch.float64))

    def forward(self, tokens, kv_cache=None):
        full, t0 = self._history(tokens, kv_cache)
        T = tokens.size(1)
        pos = torch.arange(t0, t0 + T, device=tokens.device)  # (T,)
        back = full[:, (pos - N_COPY).clamp(min=0)]  # (B, T): the symbol to copy
        read = full[:, pos]  # (B, T): the token just read
        slipped = (back + read) % self.slip == 0
        guess = torch.where(slipped, (back + 1) % N_SYMBOLS, back)
        derailed = (pos > N_COPY) & (read != full[:, (pos - N_COPY - 1).clamp(min=0)])  # it read a wrong copy
        guess = torch.where(derailed, (back + 3) % N_SYMBOLS, guess)
        guess = torch.where(pos >= N_COPY, guess, torch.full_like(guess, SEP))
        return 5.0 * self.eye[guess]  # (B, T, V)


def seeded_generator(seed: int, device: str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` in the state manual_seed(seed) gives (built in the submission's process)."""
    return torch.Generator(device=device).manual_seed(int(seed))


# ---------------------------------------------------------------- the grader's side: reference models


def randomise(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Random float64 weights: N(0, 1) embeddings, N(0, 1/fan_in) matrices, norm gains 1 + N(0, 0.3^2)."""
    module.double().eval()
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float64)
            if p.dim() == 1:
                p.copy_(1.0 + 0.3 * noise)
            elif "tok_embeddings" in name:
                p.copy_(noise)
            else:
                p.copy_(noise / p.shape[1] ** 0.5)
    return module


def random_llama(ref, generator, **fields):
    """The reference Llama (ref.llama) in float64 and eval mode, with random weights."""
    return randomise(ref.llama.Llama(ref.llama.LlamaConfig(**fields)), generator)


def state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def config_obj(student, fields: dict) -> dict:
    """The submission's LlamaConfig(**fields), to pass as an argument."""
    return student.obj("llama.LlamaConfig", **fields)


def model_obj(student, fields: dict, state_dict: dict) -> dict:
    """The submission's Llama holding `state_dict`, in float64 and eval mode, to pass as an argument."""
    return student.obj("llama.Llama", config_obj(student, fields), state_dict=state_dict, dtype=torch.float64,
                       mode="eval")  # fmt: skip


# ---------------------------------------------------------------- probes: run in the submission's process


def _submission(module: str):
    return importlib.import_module(module)


def cached_forward(model, tokens, splits):
    """model(tokens) in one pass, and model run on the chunks of tokens given by `splits` with one KVCache.

    Returns {"full": logits (B, T, V), "chunks": [logits of each chunk], "lengths": [len(cache) after each]}.
    """
    with torch.no_grad():
        full = model(tokens)
        cache = _submission(type(model).__module__).KVCache()
        chunks, lengths, start = [], [], 0
        for size in splits:
            chunks.append(model(tokens[:, start : start + size], kv_cache=cache))
            lengths.append(len(cache))
            start += size
    return {"full": full, "chunks": chunks, "lengths": lengths}


def parameter_count(fields: dict) -> dict:
    """The submission's Llama(LlamaConfig(**fields)) built on the meta device: its parameter count
    (each parameter once) and whether `output.weight` is a parameter of its own."""
    llama = _submission("llama")
    with torch.device("meta"):
        model = llama.Llama(llama.LlamaConfig(**fields))
    names = dict(model.named_parameters())
    return {"count": sum(p.numel() for p in names.values()), "has_output": "output.weight" in names}
