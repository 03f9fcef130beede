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
    """Multi-query attention through F.scaled_dot_product_attention, the one K/V head expanded (a view)."""

    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.d_head = config.n_embd // config.n_head
        self.rope_base = config.rope_base
        self.q_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.k_proj = nn.Linear(config.n_embd, self.d_head, bias=False)
        self.v_proj = nn.Linear(config.n_embd, self.d_head, bias=False)
        self.o_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(self, x, kv_cache=None, layer=0):
        T = x.size(1)
        start = kv_cache.length(layer) if kv_cache is not None else 0
        positions = torch.arange(T, device=x.device) + start
        cos, sin = rope_angles(positions, self.d_head, self.rope_base)
        q = apply_rope(self.q_proj(x).unflatten(-1, (self.n_head, self.d_head)).transpose(1, 2), cos, sin)
        k = apply_rope(self.k_proj(x).unsqueeze(1), cos, sin)  # (B, 1, T, hs)
        v = self.v_proj(x).unsqueeze(1)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)
        L = k.size(2)
        rows = torch.arange(T, device=x.device)[:, None] + (L - T)
        cols = torch.arange(L, device=x.device)[None, :]
        mask = cols <= rows  # (T, L)
        k, v = k.expand(-1, self.n_head, -1, -1), v.expand(-1, self.n_head, -1, -1)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o_proj(y.transpose(1, 2).flatten(2))


class SwiGLU(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden = 4 * config.n_embd
        self.gate_proj = nn.Linear(config.n_embd, hidden, bias=False)
        self.up_proj = nn.Linear(config.n_embd, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, config.n_embd, bias=False)

    def forward(self, x):
        g = self.gate_proj(x)
        return self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))


class ParallelBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln = nn.LayerNorm(config.n_embd, bias=False)
        self.attn = MultiQueryAttention(config)
        self.mlp = SwiGLU(config)

    def forward(self, x, kv_cache=None, layer=0):
        normed = self.ln(x)
        branches = torch.stack([self.attn(normed, kv_cache=kv_cache, layer=layer), self.mlp(normed)])
        return x + branches.sum(0)


class PaLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "h": nn.ModuleList(ParallelBlock(config) for _ in range(config.n_layer)),
                "ln_f": nn.LayerNorm(config.n_embd, bias=False),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("wte.weight"):
                    p.normal_()
                elif p.dim() == 2:
                    p.normal_(0.0, 1.0 / math.sqrt(p.size(1)))
        self.lm_head.weight = self.transformer.wte.weight

    def forward(self, idx, targets=None, kv_cache=None):
        x = self.transformer.wte(idx)
        for i in range(len(self.transformer.h)):
            x = self.transformer.h[i](x, kv_cache=kv_cache, layer=i)
        x = self.transformer.ln_f(x) * self.config.n_embd**-0.5
        logits = self.lm_head(x)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def generate(model, idx, max_new_tokens, use_cache=True):
    model.eval()
    with torch.no_grad():
        if not use_cache:
            for _ in range(max_new_tokens):
                idx = torch.cat([idx, model(idx)[0][:, -1:].argmax(-1)], dim=1)
            return idx
        cache = KVCache()
        tokens = [idx]
        logits, _ = model(idx, kv_cache=cache)
        for _ in range(max_new_tokens):
            nxt = logits[:, -1:].argmax(-1)  # (B, 1)
            tokens.append(nxt)
            logits, _ = model(nxt, kv_cache=cache)
        return torch.cat(tokens, dim=1)
