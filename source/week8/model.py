"""A small GPT for the scaling sweep (finished: nothing to write in this file).

The decoder-only Transformer of GPT-2, at toy scale, the same design as
nanoGPT and Week 6:

    x_0 = wte[idx] + wpe[0..T-1]                                  (B, T, C)
    x_l = x + attn(ln_1(x));  x_l = x + mlp(ln_2(x))   l = 1..L    pre-norm blocks
    logits = ln_f(x_L) @ wte^T                                    (B, T, V), weights tied

`GPTConfig` fixes a model; the sweep varies n_layer and n_embd. Parameters
are initialised as in GPT-2: normal(0, 0.02) for every Linear and Embedding
weight, zero biases, and normal(0, 0.02 / sqrt(2 n_layer)) for the
projections that write into the residual stream (`*.c_proj.weight`).

Kaplan et al. count N without the embeddings: the token embedding wte (which
is also the output layer here) and the position embedding wpe. With
d = n_embd and L = n_layer, each block holds 12 d^2 + 13 d parameters
(attention 4 d^2 + 4 d, MLP 8 d^2 + 5 d, two LayerNorms 4 d), so

    N = L (12 d^2 + 13 d) + 2 d        (the 2 d: the final LayerNorm)

and N ~ 12 L d^2 for wide models, the approximation of Kaplan's Table 1.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    """The sizes of a GPT. n_embd must be divisible by n_head."""

    vocab_size: int = 65  # Tiny Shakespeare's characters
    block_size: int = 64  # longest context T
    n_layer: int = 2  # L
    n_head: int = 2
    n_embd: int = 32  # d
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: c_attn makes q, k, v at once, c_proj mixes the heads."""

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, h, T, C/h)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)  # (B, h, T, C/h)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward: C -> 4C -> C with an exact GELU."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-norm Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The language model: GPT(config)(idx, targets=None) -> (logits, loss)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),
                "wpe": nn.Embedding(config.block_size, config.n_embd),
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                "ln_f": nn.LayerNorm(config.n_embd),
            }
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying: one parameter
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):
        """idx: (B, T) int64 with T <= block_size; targets: (B, T) int64 or None.

        Returns logits (B, T, V) and the mean cross-entropy over all B*T
        positions (None without targets).
        """
        T = idx.size(1)
        assert T <= self.config.block_size, f"sequence of {T} tokens, block_size is {self.config.block_size}"
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss
