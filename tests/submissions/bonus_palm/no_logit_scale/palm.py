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
    """Causal multi-query attention with RoPE, no biases (Shazeer 2019; PaLM section 2).

        q = q_proj(x)  -> (B, n_head, T, d_head)       n_head query heads
        k = k_proj(x)  -> (B, 1, T, d_head)            ONE key head
        v = v_proj(x)  -> (B, 1, T, d_head)            ONE value head
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)      at positions t0 .. t0+T-1
        y_h = softmax(q_h k^T / sqrt(d_head) + causal mask) v         for every head h, the same k and v
        out = o_proj(concat_h y_h)                                     (B, T, d)

    Attributes:
        q_proj: nn.Linear(n_embd, n_embd, bias=False).
        k_proj: nn.Linear(n_embd, d_head, bias=False).
        v_proj: nn.Linear(n_embd, d_head, bias=False).
        o_proj: nn.Linear(n_embd, n_embd, bias=False).
        n_head, d_head, rope_base: from the config.
    """

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = config.n_head
        self.d_head = config.n_embd // config.n_head
        self.rope_base = config.rope_base
        self.q_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.k_proj = nn.Linear(config.n_embd, self.d_head, bias=False)
        self.v_proj = nn.Linear(config.n_embd, self.d_head, bias=False)
        self.o_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)

    def forward(self, x, kv_cache=None, layer=0):
        """x: (B, T, d) -> (B, T, d).

        Without a cache the positions of x are 0 .. T-1 and position i attends
        to positions 0 .. i. With a KVCache holding t0 = kv_cache.length(layer)
        positions of this layer, x's positions are t0 .. t0+T-1 (rotate q and k
        by those), the new k and v go into the cache with
        kv_cache.update(layer, k, v) and come back with the cached ones before
        them, and new query i attends to every cached key and to new keys 0 .. i.
        Cache the one shared head, (B, 1, T, d_head): never n_head copies of it.
        """
        B, T, C = x.shape
        t0 = 0 if kv_cache is None else kv_cache.length(layer)
        cos, sin = rope_angles(torch.arange(t0, t0 + T, device=x.device), self.d_head, self.rope_base)
        q = self.q_proj(x).view(B, T, self.n_head, self.d_head).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, 1, self.d_head).transpose(1, 2)  # (B, 1, T, hs)
        v = self.v_proj(x).view(B, T, 1, self.d_head).transpose(1, 2)  # (B, 1, T, hs)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, 1, L, hs), L = t0 + T
        L = k.size(2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.d_head)  # (B, nh, T, L): k broadcast over the heads
        visible = torch.ones(T, L, dtype=torch.bool, device=x.device).tril(diagonal=L - T)  # key j <= t0 + i
        att = att.masked_fill(~visible, float("-inf")).softmax(dim=-1)
        y = att @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side
        return self.o_proj(y)


class SwiGLU(nn.Module):
    """PaLM's MLP (Shazeer 2020): down_proj(Swish(gate_proj(x)) * up_proj(x)), d -> 4d -> d, no biases.

    Swish(z) = z * sigmoid(z) (F.silu). Attributes:
        gate_proj: nn.Linear(n_embd, 4 * n_embd, bias=False)   (the paper's W)
        up_proj: nn.Linear(n_embd, 4 * n_embd, bias=False)     (the paper's V)
        down_proj: nn.Linear(4 * n_embd, n_embd, bias=False)   (W_2)
    """

    def __init__(self, config):
        super().__init__()
        self.gate_proj = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.up_proj = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.down_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x):
        """x: (..., d) -> (..., d)."""
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class ParallelBlock(nn.Module):
    """PaLM's parallel block: y = x + attn(ln(x)) + mlp(ln(x)), with ONE LayerNorm.

    Attributes:
        ln: nn.LayerNorm(n_embd, bias=False), applied once; both branches read its output.
        attn: MultiQueryAttention(config).
        mlp: SwiGLU(config).
    """

    def __init__(self, config):
        super().__init__()
        self.ln = nn.LayerNorm(config.n_embd, bias=False)
        self.attn = MultiQueryAttention(config)
        self.mlp = SwiGLU(config)

    def forward(self, x, kv_cache=None, layer=0):
        """x: (B, T, d) -> (B, T, d); kv_cache and layer go to the attention."""
        h = self.ln(x)  # (B, T, d), shared by both branches
        return x + self.attn(h, kv_cache, layer) + self.mlp(h)


class PaLM(nn.Module):
    """The PaLM language model.

    Attributes:
        config: the PaLMConfig.
        transformer: nn.ModuleDict with
            wte: nn.Embedding(vocab_size, n_embd);
            h: nn.ModuleList of n_layer ParallelBlocks;
            ln_f: nn.LayerNorm(n_embd, bias=False).
        lm_head: nn.Linear(n_embd, vocab_size, bias=False) whose weight IS transformer.wte.weight.
    Initialised as the module docstring says: every nn.Linear weight ~ N(0, 1/fan_in),
    the embedding ~ N(0, 1), LayerNorm gains 1.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                h=nn.ModuleList([ParallelBlock(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, bias=False),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one Parameter, two uses
        for module in self.modules():
            if isinstance(module, nn.Linear) and module is not self.lm_head:
                nn.init.normal_(module.weight, mean=0.0, std=module.in_features**-0.5)
        nn.init.normal_(self.transformer.wte.weight, mean=0.0, std=1.0)

    def forward(self, idx, targets=None, kv_cache=None):
        """idx: (B, T) token ids -> (logits (B, T, vocab_size), loss).

        logits = lm_head(ln_f(x_L)) / sqrt(n_embd). loss is the mean
        cross-entropy of targets (B, T) over all B*T positions (positions whose
        target is -100 left out), None without targets. With a KVCache, idx
        continues the tokens already passed through it.
        """
        x = self.transformer.wte(idx)  # (B, T, d)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, kv_cache, layer)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss


@torch.no_grad()
def generate(model, idx, max_new_tokens, use_cache=True):
    """Greedy decoding: append the argmax of the next-token logits, max_new_tokens times.

    Args:
        model: a PaLM (put it in eval mode).
        idx: (B, T0) prompt token ids.
        use_cache: True: pass the prompt through a fresh KVCache once, then
            only each new token; False: run the whole sequence every step.

    Returns:
        (B, T0 + max_new_tokens) long: the prompt, then the new tokens. Both
        ways give the same tokens; the cache makes each step O(T) instead of O(T^2).
    """
    model.eval()
    cache = KVCache() if use_cache else None
    out, step_input = idx, idx
    for _ in range(max_new_tokens):
        logits, _ = model(step_input if use_cache else out, kv_cache=cache)
        next_id = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
        out = torch.cat([out, next_id], dim=1)
        step_input = next_id
    return out
