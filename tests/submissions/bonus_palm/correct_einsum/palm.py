"""PaLM (Chowdhery et al., 2022, section 2): parallel blocks, multi-query attention, SwiGLU, no biases.

    x_0 = wte[idx]                                                   (B, T, d), no position embedding
    x_l = x + MQA(LayerNorm(x)) + SwiGLU(LayerNorm(x))                 n_layer parallel blocks, ONE LayerNorm each
    logits = LayerNorm_f(x_L) @ wte^T / sqrt(d)                       the output layer IS the token embedding

The block is *parallel* (Wang & Komatsuzaki 2021): attention and MLP both
read the same normalised input, and their outputs are added to the residual
stream together. The standard *serial* block would feed the MLP the stream
after attention, through a second LayerNorm:

    serial:    y = x + MLP(LayerNorm(x + Attention(LayerNorm(x))))
    parallel:  y = x + MLP(LayerNorm(x)) + Attention(LayerNorm(x))

Attention is *multi-query* (Shazeer 2019): n_head query heads of size
d_head = d / n_head, but ONE key head and ONE value head, shared by every
query head. The keys and values a KV cache keeps per token shrink from
2 * n_head * d_head numbers (multi-head) to 2 * d_head, n_head times fewer.

Positions are rotary (RoPE, Su et al. 2021): queries and keys are rotated by
an angle proportional to their position, so q_i . k_j depends on i - j only.
`rope_angles` and `apply_rope` below are given, finished.

No biases anywhere: no Linear has one, and no LayerNorm has one (a gain only).

Every parameter, with d = n_embd, V = vocab_size, d_head = d / n_head, d_ff = 4d:

    transformer.wte.weight        V x d          token embedding, shared with lm_head.weight
    per block (transformer.h.{l}):
      ln.weight                   d              the one LayerNorm of the block
      attn.q_proj.weight          d x d          n_head query heads, side by side
      attn.k_proj.weight          d_head x d     the one key head
      attn.v_proj.weight          d_head x d     the one value head
      attn.o_proj.weight          d x d          output projection
      mlp.gate_proj.weight        d_ff x d       W of Swish(xW) * xV
      mlp.up_proj.weight          d_ff x d       V
      mlp.down_proj.weight        d x d_ff       W_2, back to d
    transformer.ln_f.weight       d              final LayerNorm
    lm_head.weight                (tied: the same tensor as wte)

Initialisation (section 5, "Weight initialization"): every Linear weight
~ N(0, 1/fan_in) (std 1/sqrt(fan_in)), the token embedding ~ N(0, 1) (no
LayerNorm comes before it; hence the 1/sqrt(d) on the logits), LayerNorm
gains 1.

The KV cache. Generating token by token, the keys and values of the
positions already seen never change, so a KVCache keeps them and each call
computes only the new positions:

    cache = KVCache()
    logits, _ = model(prompt, kv_cache=cache)       # positions 0 .. T0-1
    logits, _ = model(next_ids, kv_cache=cache)     # positions T0 .. T0+T1-1, attending to all before
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class PaLMConfig:
    """The sizes of a PaLM. PaLM 8B: vocab_size=256000, n_layer=32, n_head=16, n_embd=4096."""

    vocab_size: int
    n_layer: int
    n_head: int  # n_embd must be divisible by it
    n_embd: int
    rope_base: float = 10000.0


# --- given, finished: rotary position embeddings and the KV cache ---


def rope_angles(positions, d_head, base=10000.0):
    """cos and sin of RoPE's angles for the given positions: two (T, d_head) float64 tensors.

    Channel pair (c, c + d_head/2) of position t is rotated by t * base^(-2c/d_head), c = 0 .. d_head/2 - 1.
    """
    inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64, device=positions.device) / d_head)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # (T, d_head/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, d_head)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """Rotate x (..., T, d_head) by the angles of rope_angles (T, d_head); same shape and dtype as x."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)  # (..., T, d_head)
    return x * cos.to(x.dtype) + rotated * sin.to(x.dtype)


class KVCache:
    """The keys and values of every position seen so far, for each layer of a model.

    One object per generation: create it empty and pass it to every call of
    `PaLM.forward(..., kv_cache=cache)`. Each attention layer reads how many of
    its positions are cached (`length(layer)`) and appends its new keys and
    values with `update(layer, k, v)`.
    """

    def __init__(self):
        self.keys = []  # one tensor per layer, (B, kv_heads, T_cached, d_head)
        self.values = []

    def length(self, layer=0):
        """The number of positions cached for `layer` (0 before its first update)."""
        return self.keys[layer].size(2) if layer < len(self.keys) else 0

    def __len__(self):
        return self.length(0)

    def update(self, layer, k, v):
        """Append k, v (B, kv_heads, T_new, d_head) to layer's cache; return all of it, (B, kv_heads, L, d_head).

        Layers are filled in order: the first call for a layer (layer == the number of layers held) adds it.
        """
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]

    def numel(self):
        """The numbers held, all layers together."""
        return sum(t.numel() for t in self.keys + self.values)


# --- what you write ---


class MultiQueryAttention(nn.Module):
    """Multi-query attention with einsum over a head-less key and value, and an additive -inf mask."""

    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.n_head, self.d_head, self.rope_base = config.n_head, d // config.n_head, config.rope_base
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d // config.n_head, bias=False)
        self.v_proj = nn.Linear(d, d // config.n_head, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, kv_cache=None, layer=0):
        B, T, _ = x.shape
        past = 0
        if kv_cache is not None and layer < len(kv_cache.keys):
            past = kv_cache.keys[layer].shape[2]
        cos, sin = rope_angles(torch.arange(past, past + T, device=x.device), self.d_head, self.rope_base)
        q = self.q_proj(x).reshape(B, T, self.n_head, self.d_head).permute(0, 2, 1, 3)
        q = apply_rope(q, cos, sin)
        k = apply_rope(self.k_proj(x), cos, sin)[:, None]  # (B, 1, T, hs)
        v = self.v_proj(x)[:, None]
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)
        k, v = k[:, 0], v[:, 0]  # (B, L, hs): the one head
        L = k.shape[1]
        scores = torch.einsum("bhtd,bld->bhtl", q, k) * self.d_head**-0.5
        bias = torch.full((T, L), float("-inf"), dtype=scores.dtype, device=x.device).triu(L - T + 1)
        weights = torch.softmax(scores + bias, dim=-1)
        y = torch.einsum("bhtl,bld->bthd", weights, v).reshape(B, T, -1)
        return self.o_proj(y)


class SwiGLU(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, config.n_embd * 4, bias=False)
        self.up_proj = nn.Linear(config.n_embd, config.n_embd * 4, bias=False)
        self.down_proj = nn.Linear(config.n_embd * 4, config.n_embd, bias=False)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class ParallelBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln = nn.LayerNorm(config.n_embd, bias=False)
        self.attn = MultiQueryAttention(config)
        self.mlp = SwiGLU(config)

    def forward(self, x, kv_cache=None, layer=0):
        y = self.ln(x)
        out = self.mlp(y)
        out = out + self.attn(y, kv_cache, layer)
        return out + x


class PaLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        wte = nn.Embedding(config.vocab_size, config.n_embd)
        blocks = nn.ModuleList()
        for _ in range(config.n_layer):
            blocks.append(ParallelBlock(config))
        self.transformer = nn.ModuleDict(dict(wte=wte, h=blocks, ln_f=nn.LayerNorm(config.n_embd, bias=False)))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = wte.weight
        self.apply(self._init)

    def _init(self, m):
        if isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight)
        elif isinstance(m, nn.Linear) and m is not self.lm_head:
            std = 1.0 / math.sqrt(m.in_features)
            nn.init.trunc_normal_(m.weight, std=std, a=-100 * std, b=100 * std)

    def forward(self, idx, targets=None, kv_cache=None):
        h = self.transformer.wte(idx)
        for layer, block in enumerate(self.transformer.h):
            h = block(h, kv_cache, layer)
        logits = self.transformer.ln_f(h) @ self.transformer.wte.weight.t()
        logits = logits / math.sqrt(h.size(-1))
        loss = None if targets is None else F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100)
        return logits, loss


@torch.no_grad()
def generate(model, idx, max_new_tokens, use_cache=True):
    model.eval()
    cache = KVCache() if use_cache else None
    seq = idx.clone()
    fed = 0
    while seq.size(1) < idx.size(1) + max_new_tokens:
        inp = seq[:, fed:] if use_cache else seq
        logits, _ = model(inp, kv_cache=cache)
        if use_cache:
            fed = seq.size(1)
        seq = torch.cat([seq, torch.argmax(logits[:, -1, :], dim=-1).unsqueeze(-1)], dim=-1)
    return seq
