"""Week 6's grader-side helpers: a language model with known next-token logits, and probes.

`ToyLM` stands in for a GPT in the generation checks, so that they judge
sampling.py alone: its next-token logits are a fixed function of the last
token and its position,

    logits(next | ..., x_t at position t) = table[x_t] + positions[t]      (float64)

with the interface `generate` relies on (`.config.block_size`,
`forward(idx, targets=None, kv_cache=None) -> (logits, None)`, positions
starting at the number of positions already passed through `kv_cache`). It is
built in the submission's process by `student.obj(...)`, and in the grader's
process to compute the expected tokens and probabilities.

`random_gpt` gives the reference GPT with random float64 weights for the
equivalence checks, and `model_obj` the submission's GPT holding them.

The probes (`cached_forward`, `describe_optimizer`, `clip`) run in the
submission's process on the submission's own objects, and return plain data
that the grader then judges: they drive code that keeps state between calls
(a KV cache over several forward passes) or returns objects that cannot
cross to the grader (an optimizer, gradients changed in place).
"""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import torch
from torch import nn


class ToyLM(nn.Module):
    def __init__(self, vocab_size=12, block_size=10, seed=0, scale=1.5):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=vocab_size, block_size=block_size)
        generator = torch.Generator().manual_seed(int(seed))
        table = torch.randn(vocab_size, vocab_size, generator=generator, dtype=torch.float64) * scale
        positions = torch.randn(block_size, vocab_size, generator=generator, dtype=torch.float64) * scale / 2
        self.register_buffer("table", table)
        self.register_buffer("positions", positions)
        self._seen: dict[int, tuple[object, int]] = {}  # id(cache) -> (cache, positions passed through it)

    def forward(self, idx, targets=None, kv_cache=None):
        T = idx.size(1)
        t0 = 0
        if kv_cache is not None:
            t0 = self._seen.get(id(kv_cache), (None, 0))[1]
            # Keep the cache's own length right, as a GPT would: one "layer" of (B, 1, T, 1) keys and values.
            kv = idx.to(torch.float64)[:, None, :, None]
            kv_cache.update(0, kv, kv)
            self._seen[id(kv_cache)] = (kv_cache, t0 + T)
        if t0 + T > self.config.block_size:
            raise ValueError(f"positions up to {t0 + T - 1}, but block_size is {self.config.block_size}")
        logits = self.table[idx] + self.positions[t0 : t0 + T]  # (B, T, V)
        return logits, None


def seeded_generator(seed: int, device: str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` in the state manual_seed(seed) gives (built in the submission's process)."""
    return torch.Generator(device=device).manual_seed(int(seed))


class OptimToy(nn.Module):
    """Parameters of every kind a GPT has, and more: a tied embedding/output matrix, LayerNorm gain and
    bias, Linear weights with and without bias, a 3-D tensor and a 0-d scalar."""

    def __init__(self, vocab_size=11, n_embd=6, bias=True):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.ln = nn.LayerNorm(n_embd, bias=bias)
        self.fc = nn.Linear(n_embd, 2 * n_embd, bias=bias)
        self.proj = nn.Linear(2 * n_embd, n_embd, bias=False)
        self.extra = nn.Module()
        self.extra.kernel = nn.Parameter(torch.randn(2, 3, 4))
        self.extra.scale = nn.Parameter(torch.tensor(1.0))
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.head.weight = self.wte.weight


# --- the grader's side: reference models with random weights, and the submission's copies of them ---


def random_gpt(ref, generator, **fields):
    """The reference GPT (ref.gpt) in float64 and eval mode, with random weights: N(0, 1) embeddings,
    N(0, 1/fan_in) matrices, and biases and LayerNorm gains spread around 0 and 1, so that each matters."""
    model = ref.gpt.GPT(ref.gpt.GPTConfig(**fields)).double().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():  # the tied matrix once, as transformer.wte.weight
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float64)
            if p.dim() == 1:
                p.copy_((1.0 if ".ln_" in name and name.endswith("weight") else 0.0) + 0.3 * noise)
            elif "wte" in name or "wpe" in name:
                p.copy_(noise)
            else:
                p.copy_(noise / p.shape[1] ** 0.5)
    return model


def state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def config_obj(student, fields: dict) -> dict:
    """The submission's GPTConfig(**fields), to pass as an argument."""
    return student.obj("gpt.GPTConfig", **fields)


def model_obj(student, fields: dict, state_dict: dict) -> dict:
    """The submission's GPT holding `state_dict`, in float64 and eval mode, to pass as an argument."""
    return student.obj("gpt.GPT", config_obj(student, fields), state_dict=state_dict, dtype=torch.float64, mode="eval")


# --- probes: run in the submission's process, on its own code ---


def _submission(module: str):
    return importlib.import_module(module)


def cached_forward(model, idx, splits):
    """model(idx) in one pass, and model run on the chunks of idx given by `splits` with one KVCache.

    Returns {"full": logits (B, T, V), "chunks": [logits of each chunk], "lengths": [len(cache) after each]}.
    """
    with torch.no_grad():
        full, _ = model(idx)
        cache = _submission(type(model).__module__).KVCache()
        chunks, lengths, start = [], [], 0
        for size in splits:
            logits, _ = model(idx[:, start : start + size], kv_cache=cache)
            chunks.append(logits)
            lengths.append(len(cache))
            start += size
    return {"full": full, "chunks": chunks, "lengths": lengths}


def describe_optimizer(model, weight_decay, learning_rate, betas, eps):
    """What optim.configure_optimizer builds for `model`: its type and, per group, the names of its
    parameters (by identity, "?" for a tensor that is not one of model's parameters) and settings."""
    configure = _submission("optim").configure_optimizer
    optimizer = configure(model, weight_decay, learning_rate, betas=tuple(betas), eps=eps)
    names = {id(p): name for name, p in model.named_parameters()}
    if not isinstance(optimizer, torch.optim.Optimizer):
        return {"type": type(optimizer).__name__, "adamw": False, "groups": []}
    groups = []
    for group in optimizer.param_groups:
        groups.append({
            "names": [names.get(id(p), "?") for p in group["params"]],
            "weight_decay": float(group.get("weight_decay", float("nan"))),
            "lr": float(group.get("lr", float("nan"))),
            "betas": [float(b) for b in group.get("betas", ())],
            "eps": float(group.get("eps", float("nan"))),
        })  # fmt: skip
    return {"type": type(optimizer).__name__, "adamw": isinstance(optimizer, torch.optim.AdamW), "groups": groups}


def clip(grads, max_norm, how="list"):
    """optim.clip_grad_norm on parameters holding `grads` (plus one without a gradient), passed as a
    list, a generator or (how="tensor") a single tensor.

    Returns {"norm": what it returned, "grads": the gradients after}."""
    params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    if how == "tensor":
        argument = params[0]  # with one gradient
    else:
        params.insert(len(params) // 2, nn.Parameter(torch.zeros(3, dtype=grads[0].dtype, device=grads[0].device)))
        argument = (p for p in params) if how == "generator" else params
    norm = _submission("optim").clip_grad_norm(argument, max_norm)
    return {"norm": norm, "grads": [p.grad for p in params if p.grad is not None]}
