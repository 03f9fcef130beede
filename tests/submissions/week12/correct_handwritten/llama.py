"""LLaMA by hand: no fused attention, no repeat of the key/value heads, a cache that grows by doubling."""

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LlamaConfig:
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None
    d_hidden: int | None = None
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None
    norm_eps: float = 1e-6
    rope_theta: float = 10000.0


def ffn_hidden_dim(d_model, multiple_of=256, ffn_dim_multiplier=None):
    hidden = (8 * d_model) // 3
    if ffn_dim_multiplier:
        hidden = int(hidden * ffn_dim_multiplier)
    return -(-hidden // multiple_of) * multiple_of


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.d_model = d_model
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        ms = (x * x).sum(dim=-1, keepdim=True) / self.d_model
        return self.weight * (x / (ms + self.eps).sqrt())


def rope_angles(n_pairs, d_head, positions, theta):
    i = torch.arange(n_pairs, dtype=torch.float64, device=positions.device)
    inv_freq = torch.exp(-(2 * i / d_head) * math.log(theta))
    return torch.outer(positions.double(), inv_freq)


def apply_rope(x, positions, theta=10000.0):
    d_head = x.shape[-1]
    angles = rope_angles(d_head // 2, d_head, positions, theta)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    pairs = x.reshape(*x.shape[:-1], d_head // 2, 2)
    a, b = pairs.unbind(-1)
    rotated = torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1)
    return rotated.reshape(x.shape)


def repeat_kv(x, n_rep):
    return torch.repeat_interleave(x, n_rep, dim=1)


class KVCache:
    """Preallocated per layer; a layer's buffers double when full."""

    def __init__(self):
        self.k, self.v, self.lengths = [], [], []

    def __len__(self):
        return self.lengths[0] if self.lengths else 0

    @property
    def length(self):
        return len(self)

    def update(self, layer, k, v):
        t_new = k.shape[2]
        if layer == len(self.k):
            shape = list(k.shape)
            shape[2] = max(16, t_new)
            self.k.append(k.new_zeros(shape))
            self.v.append(v.new_zeros(shape))
            self.lengths.append(0)
        start = self.lengths[layer]
        end = start + t_new
        if end > self.k[layer].shape[2]:
            grow = max(end, 2 * self.k[layer].shape[2])
            for store in (self.k, self.v):
                old = store[layer]
                bigger = old.new_zeros(old.shape[0], old.shape[1], grow, old.shape[3])
                bigger[:, :, : old.shape[2]] = old
                store[layer] = bigger
        self.k[layer][:, :, start:end] = k
        self.v[layer][:, :, start:end] = v
        self.lengths[layer] = end
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]


class GroupedQueryAttention(nn.Module):
    def __init__(self, d_model, n_heads, n_kv_heads, rope_theta=10000.0):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.d_head = d_model // n_heads
        self.rope_theta = rope_theta
        self.wq = nn.Linear(d_model, d_model, bias=False)
        self.wk = nn.Linear(d_model, n_kv_heads * self.d_head, bias=False)
        self.wv = nn.Linear(d_model, n_kv_heads * self.d_head, bias=False)
        self.wo = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, positions, kv_cache=None, layer=0):
        B, T, C = x.shape
        G, R, D = self.n_kv_heads, self.n_heads // self.n_kv_heads, self.d_head
        q = self.wq(x).reshape(B, T, G, R, D).permute(0, 2, 3, 1, 4)  # (B, G, R, T, D): query head g*R + r
        k = self.wk(x).reshape(B, T, G, D).transpose(1, 2)  # (B, G, T, D)
        v = self.wv(x).reshape(B, T, G, D).transpose(1, 2)
        q = apply_rope(q.reshape(B, G * R, T, D), positions, self.rope_theta).reshape(B, G, R, T, D)
        k = apply_rope(k, positions, self.rope_theta)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)
        S = k.shape[2]
        scores = torch.einsum("bgrtd,bgsd->bgrts", q, k) / math.sqrt(D)
        key_pos = torch.arange(S, device=x.device)
        query_pos = torch.arange(S - T, S, device=x.device)
        allowed = key_pos[None, :] <= query_pos[:, None]  # (T, S)
        scores = scores.masked_fill(~allowed, float("-inf"))
        scores = scores - scores.amax(dim=-1, keepdim=True)
        weights = scores.exp()
        weights = weights / weights.sum(dim=-1, keepdim=True)
        y = torch.einsum("bgrts,bgsd->btgrd", weights, v).reshape(B, T, C)
        return self.wo(y)


class SwiGLU(nn.Module):
    def __init__(self, d_model, d_hidden):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_hidden, bias=False)
        self.w3 = nn.Linear(d_model, d_hidden, bias=False)
        self.w2 = nn.Linear(d_hidden, d_model, bias=False)

    def forward(self, x):
        gate = self.w1(x)
        return self.w2(gate * torch.sigmoid(gate) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        kv = config.n_kv_heads or config.n_heads
        hidden = (
            config.d_hidden
            if config.d_hidden is not None
            else ffn_hidden_dim(config.d_model, config.multiple_of, config.ffn_dim_multiplier)
        )
        self.attention_norm = RMSNorm(config.d_model, config.norm_eps)
        self.attention = GroupedQueryAttention(config.d_model, config.n_heads, kv, rope_theta=config.rope_theta)
        self.ffn_norm = RMSNorm(config.d_model, config.norm_eps)
        self.feed_forward = SwiGLU(config.d_model, hidden)

    def forward(self, x, positions, kv_cache=None, layer=0):
        x = x + self.attention(self.attention_norm(x), positions, kv_cache=kv_cache, layer=layer)
        x = x + self.feed_forward(self.ffn_norm(x))
        return x


class Llama(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList()
        for _ in range(config.n_layers):
            self.layers.append(TransformerBlock(config))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.output = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, 0.0, 0.02)

    def forward(self, tokens, kv_cache=None):
        start = len(kv_cache) if kv_cache is not None else 0
        positions = start + torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tok_embeddings(tokens)
        for i, block in enumerate(self.layers):
            x = block(x, positions, kv_cache, i)
        return self.output(self.norm(x))


def generate(model, tokens, max_new_tokens, temperature=1.0, generator=None, use_cache=True):
    seq = tokens.clone()
    cache = KVCache() if use_cache else None
    with torch.no_grad():
        if max_new_tokens > 0 and use_cache:
            logits = model(seq, kv_cache=cache)
        for step in range(max_new_tokens):
            if not use_cache:
                logits = model(seq)
            last = logits[:, -1, :]
            if temperature == 0:
                nxt = torch.argmax(last, dim=-1)[:, None]
            else:
                z = last / temperature
                p = torch.exp(z - z.max(dim=-1, keepdim=True).values)
                p = p / p.sum(dim=-1, keepdim=True)
                nxt = torch.multinomial(p, 1, generator=generator)
            seq = torch.cat([seq, nxt], dim=1)
            if use_cache and step < max_new_tokens - 1:
                logits = model(nxt, kv_cache=cache)
    return seq
