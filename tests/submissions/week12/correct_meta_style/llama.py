"""LLaMA written the way Meta's reference code writes it."""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


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
    hidden_dim = 4 * d_model
    hidden_dim = int(2 * hidden_dim / 3)
    if ffn_dim_multiplier is not None:
        hidden_dim = int(ffn_dim_multiplier * hidden_dim)
    return multiple_of * ((hidden_dim + multiple_of - 1) // multiple_of)


class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        output = self._norm(x.float()).type_as(x)
        return output * self.weight


def precompute_freqs_cis(dim, positions, theta=10000.0):
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, device=positions.device)[: (dim // 2)].float() / dim))
    freqs = torch.outer(positions.float(), freqs)
    return torch.polar(torch.ones_like(freqs), freqs)  # complex64


def apply_rope(x, positions, theta=10000.0):
    freqs_cis = precompute_freqs_cis(x.shape[-1], positions, theta)  # (L, d/2)
    x_ = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    out = torch.view_as_real(x_ * freqs_cis).flatten(-2)
    return out.type_as(x)


def repeat_kv(x, n_rep):
    bs, n_kv_heads, slen, head_dim = x.shape
    if n_rep == 1:
        return x
    return (
        x[:, :, None, :, :]
        .expand(bs, n_kv_heads, n_rep, slen, head_dim)
        .reshape(bs, n_kv_heads * n_rep, slen, head_dim)
    )


class KVCache:
    def __init__(self):
        self.cache_k = {}
        self.cache_v = {}

    def __len__(self):
        return self.cache_k[0].shape[2] if 0 in self.cache_k else 0

    @property
    def length(self):
        return len(self)

    def update(self, layer, k, v):
        if layer in self.cache_k:
            k = torch.cat([self.cache_k[layer], k], dim=2)
            v = torch.cat([self.cache_v[layer], v], dim=2)
        self.cache_k[layer], self.cache_v[layer] = k, v
        return k, v


class GroupedQueryAttention(nn.Module):
    def __init__(self, d_model, n_heads, n_kv_heads, rope_theta=10000.0):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.n_rep = n_heads // n_kv_heads
        self.d_head = self.head_dim = d_model // n_heads
        self.rope_theta = rope_theta
        self.wq = nn.Linear(d_model, n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(d_model, n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(n_heads * self.head_dim, d_model, bias=False)

    def forward(self, x, positions, kv_cache=None, layer=0):
        bsz, seqlen, _ = x.shape
        xq = self.wq(x).view(bsz, seqlen, self.n_heads, self.head_dim).transpose(1, 2)
        xk = self.wk(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim).transpose(1, 2)
        xv = self.wv(x).view(bsz, seqlen, self.n_kv_heads, self.head_dim).transpose(1, 2)
        xq = apply_rope(xq, positions, self.rope_theta)
        xk = apply_rope(xk, positions, self.rope_theta)
        if kv_cache is not None:
            xk, xv = kv_cache.update(layer, xk, xv)
        keys = repeat_kv(xk, self.n_rep)
        values = repeat_kv(xv, self.n_rep)
        start_pos = keys.shape[2] - seqlen
        mask = None
        if seqlen > 1:
            mask = torch.full((seqlen, seqlen), float("-inf"), device=x.device)
            mask = torch.triu(mask, diagonal=1)
            mask = torch.hstack([torch.zeros((seqlen, start_pos), device=x.device), mask]).type_as(xq)
        scores = torch.matmul(xq, keys.transpose(2, 3)) / math.sqrt(self.head_dim)
        if mask is not None:
            scores = scores + mask
        scores = F.softmax(scores.float(), dim=-1).type_as(xq)
        output = torch.matmul(scores, values)
        output = output.transpose(1, 2).contiguous().view(bsz, seqlen, -1)
        return self.wo(output)


class SwiGLU(nn.Module):
    def __init__(self, d_model, d_hidden):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_hidden, bias=False)
        self.w2 = nn.Linear(d_hidden, d_model, bias=False)
        self.w3 = nn.Linear(d_model, d_hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        n_kv_heads = config.n_heads if config.n_kv_heads is None else config.n_kv_heads
        hidden = config.d_hidden or ffn_hidden_dim(config.d_model, config.multiple_of, config.ffn_dim_multiplier)
        self.attention = GroupedQueryAttention(config.d_model, config.n_heads, n_kv_heads, config.rope_theta)
        self.feed_forward = SwiGLU(config.d_model, hidden)
        self.attention_norm = RMSNorm(config.d_model, eps=config.norm_eps)
        self.ffn_norm = RMSNorm(config.d_model, eps=config.norm_eps)

    def forward(self, x, positions, kv_cache=None, layer=0):
        h = x + self.attention(self.attention_norm(x), positions, kv_cache, layer)
        out = h + self.feed_forward(self.ffn_norm(h))
        return out


class Llama(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, eps=config.norm_eps)
        self.output = nn.Linear(config.d_model, config.vocab_size, bias=False)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens, kv_cache=None):
        _bsz, seqlen = tokens.shape
        start_pos = 0 if kv_cache is None else len(kv_cache)
        positions = torch.arange(start_pos, start_pos + seqlen, device=tokens.device)
        h = self.tok_embeddings(tokens)
        for i, layer in enumerate(self.layers):
            h = layer(h, positions, kv_cache, i)
        h = self.norm(h)
        return self.output(h)


@torch.no_grad()
def generate(model, tokens, max_new_tokens, temperature=1.0, generator=None, use_cache=True):
    cache = KVCache() if use_cache else None
    prev_pos = 0
    out = tokens.clone()
    for _ in range(max_new_tokens):
        logits = model(out[:, prev_pos:], kv_cache=cache)
        if use_cache:
            prev_pos = out.shape[1]
        if temperature > 0:
            probs = torch.softmax(logits[:, -1] / temperature, dim=-1)
            next_token = torch.multinomial(probs, num_samples=1, generator=generator)
        else:
            next_token = torch.argmax(logits[:, -1], dim=-1, keepdim=True)
        out = torch.cat([out, next_token], dim=-1)
    return out
