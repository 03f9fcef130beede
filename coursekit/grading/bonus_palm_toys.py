"""The PaLM unit's grader-side pieces: random reference models, the grader's own attention, probes.

`rope_angles`, `apply_rope` and `KVCache` are the grader's copies of the
finished code students get in palm.py (a test asserts they agree). The
grader's `KVCache` is the one handed to a submission's model in the cache
checks, so what a model stores in it is measured by the grader's code.

`mha` is plain multi-head attention with RoPE, written here from the
formulas: given n_head key and value heads that are all the same head, it
must equal multi-query attention.

The probes (`cached_forward`, `block_parts`) run in the submission's process
on its own objects and return plain data for the grader to judge.
"""

from __future__ import annotations

import math

import torch

# ---------------------------------------------------------------- as palm.py (given, finished)


def rope_angles(positions, d_head, base=10000.0):
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64, device=positions.device) / d_head)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class KVCache:
    """The API of palm.KVCache: length(layer), len(), update(layer, k, v), numel(); keys and values lists."""

    def __init__(self):
        self.keys = []
        self.values = []

    def length(self, layer=0):
        return self.keys[layer].size(2) if layer < len(self.keys) else 0

    def __len__(self):
        return self.length(0)

    def update(self, layer, k, v):
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]

    def numel(self):
        return sum(t.numel() for t in self.keys + self.values)


# ---------------------------------------------------------------- the grader's multi-head attention


def mha(x, w_q, w_k, w_v, w_o, n_head, rope_base=10000.0):
    """Causal multi-head attention with RoPE and no biases: x (B, T, d), w_k and w_v (n_head * d_head, d)."""
    B, T, d = x.shape
    hs = d // n_head
    cos, sin = rope_angles(torch.arange(T), hs, rope_base)

    def heads(w):
        return (x @ w.T).view(B, T, n_head, hs).transpose(1, 2)  # (B, nh, T, hs)

    q, k, v = apply_rope(heads(w_q), cos, sin), apply_rope(heads(w_k), cos, sin), heads(w_v)
    att = q @ k.transpose(-2, -1) / math.sqrt(hs)
    att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
    return (att @ v).transpose(1, 2).reshape(B, T, d) @ w_o.T


# ---------------------------------------------------------------- reference models with random weights


def random_state(module, generator):
    """Random float64 weights for a reference module (in place): N(0, 1) embeddings, N(0, 1/fan_in)
    matrices and LayerNorm gains spread around 1, so that each matters. Returns the module."""
    module.double().eval()
    with torch.no_grad():
        for name, p in module.named_parameters():  # a tied matrix once
            noise = torch.randn(p.shape, generator=generator, dtype=torch.float64)
            if p.dim() == 1:
                p.copy_(1.0 + 0.3 * noise)
            elif "wte" in name:
                p.copy_(noise)
            else:
                p.copy_(noise / p.shape[1] ** 0.5)
    return module


def state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def config_obj(student, fields: dict) -> dict:
    """The submission's PaLMConfig(**fields), to pass as an argument."""
    return student.obj("palm.PaLMConfig", **fields)


def model_obj(student, fields: dict, state_dict: dict, cls: str = "PaLM") -> dict:
    """The submission's palm.<cls>(config) holding `state_dict`, in float64 and eval mode."""
    return student.obj(
        f"palm.{cls}", config_obj(student, fields), state_dict=state_dict, dtype=torch.float64, mode="eval"
    )


# ---------------------------------------------------------------- probes: run in the submission's process


def cached_forward(model, idx, splits, layer=None):
    """model(idx) in one pass, and model run on the chunks of idx given by `splits` with one (grader's) KVCache.

    With `layer`, the model is one attention layer called as model(x, kv_cache, layer) on float inputs.
    Returns {"full", "chunks": [outputs of each chunk], "lengths": [[cache.length(l) for each layer]
    after each chunk], "numel": [numbers held after each chunk], "shapes": [shape of each layer's keys]}.
    """
    with torch.no_grad():
        full = model(idx) if layer is not None else model(idx)[0]
        cache = KVCache()
        chunks, lengths, numel, start = [], [], [], 0
        for size in splits:
            piece = idx[:, start : start + size]
            out = model(piece, cache, layer) if layer is not None else model(piece, kv_cache=cache)[0]
            chunks.append(out)
            lengths.append([cache.length(i) for i in range(len(cache.keys))])
            numel.append(cache.numel())
            start += size
    return {"full": full, "chunks": chunks, "lengths": lengths, "numel": numel,
            "shapes": [list(k.shape) for k in cache.keys]}  # fmt: skip


def block_parts(block, x):
    """A ParallelBlock's output and its parts, computed with its own submodules ln, attn and mlp:
    {"out": block(x), "x_attn": x + attn(ln(x)), "mlp": mlp(ln(x)), "serial_mlp": mlp(ln(x + attn(ln(x))))}."""
    with torch.no_grad():
        out = block(x)
        h = block.ln(x)
        x_attn = x + block.attn(h)
        return {"out": out, "x_attn": x_attn, "mlp": block.mlp(h), "serial_mlp": block.mlp(block.ln(x_attn))}
