"""A GPT-2 / GPT-3 style decoder (given, finished): the model this week counts, trains and evaluates.

Brown et al. (2020), section 2.1: "We use the same model and architecture as
GPT-2 [...] with the exception that we use alternating dense and locally
banded sparse attention patterns". The sparse pattern changes which keys a
query sees, not the parameters, so the counts of this week hold for it.

    x_0 = wte[idx] + wpe[0..T-1]                       token + learned position embeddings   (B, T, d)
    x_l = x + attn(ln_1(x));  x_l = x + mlp(ln_2(x))   n_layer pre-norm blocks, l = 1..n_layer
    logits = ln_f(x_L) @ wte^T                         the output layer IS the token embedding (tied)

Every parameter, with d = n_embd, V = vocab_size, n_ctx = block_size
("+ bias" only when config.bias is True):

    transformer.wte.weight            V x d            token embedding, shared with lm_head.weight
    transformer.wpe.weight            n_ctx x d        learned positions
    per block:
      ln_1.weight (+ ln_1.bias)       d (+ d)
      attn.c_attn.weight (+ bias)     3d x d (+ 3d)    queries, keys and values of all heads at once
      attn.c_proj.weight (+ bias)     d x d (+ d)      output projection
      ln_2.weight (+ ln_2.bias)       d (+ d)
      mlp.c_fc.weight (+ bias)        4d x d (+ 4d)    d_ff = 4d
      mlp.c_proj.weight (+ bias)      d x 4d (+ d)
    transformer.ln_f.weight (+ bias)  d (+ d)
    lm_head.weight                    (tied: the same tensor as wte, counted once)

The number of heads splits d into n_head heads of d / n_head; it changes no
count. The names and the initialisation are nanoGPT's (and Week 6's).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    """The sizes of a GPT. GPT-3 175B is GPTConfig(50257, 2048, 96, 96, 12288); GPT-2 small (124M)
    is GPTConfig(50257, 1024, 12, 12, 768). Kaplan et al. call these n_vocab, n_ctx, n_layer, d_model."""

    vocab_size: int = 50257  # V (n_vocab)
    block_size: int = 1024  # n_ctx, the longest context
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768  # d_model (= d_attn: all heads together)
    dropout: float = 0.0
    bias: bool = True  # biases in the Linear layers and LayerNorms


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: c_attn makes q, k, v of all heads, c_proj mixes the heads."""

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): the heads side by side
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """d -> 4d -> d with the exact GELU."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    """A pre-norm Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The decoder: GPT(config)(idx, targets=None) -> (logits, loss).

    idx: (B, T) long token ids, T <= config.block_size. logits: (B, T, V).
    loss: None without targets; with targets (B, T) long, the mean
    cross-entropy over the positions whose target is not -100 (so a batch
    can mark positions that carry no loss), as
    F.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-100).
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # weight tying: one parameter, two uses
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # residual projections, GPT-2's 1/sqrt(2 n_layer) scaling
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx, targets=None):
        T = idx.size(1)
        assert T <= self.config.block_size, f"sequence of {T} tokens, block_size is {self.config.block_size}"
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, d)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss
