"""GPT-1 (Radford et al., 2018, section 3.1): a decoder-only Transformer trained to predict the next token.

Given tokens u_1 .. u_T, the model gives, at every position t, a
distribution over the token u_{t+1} that follows, reading u_1 .. u_t only:

    h_0 = U W_e + W_p                       token embeddings + LEARNED position embeddings   (B, T, d)
    h_l = block(h_{l-1}),  l = 1..n         n Transformer decoder blocks, no cross-attention
    P(u) = softmax(h_n W_e^T)               the output layer IS the token embedding matrix   (B, T, V)

Each block is the *post-norm* block of the original Transformer (the
paper's code), with masked (causal) self-attention and a GELU MLP:

    a = x + Dropout(Attention(x, x, x, causal mask))
    x = LayerNorm_1(a)                          -- normalise AFTER the residual sum
    m = W_2 GELU(W_1 x + b_1) + b_2             -- d -> 4d -> d
    x = LayerNorm_2(x + Dropout(m))

The causal mask lets position t attend to positions s <= t only: changing a
later token can never change an earlier position's output. The paper's
model has n = 12 blocks, d = 768, 12 heads, T = 512 and 40,000 BPE merges;
the defaults here are a tiny model for a CPU.

Notes on the paper's code: it uses the tanh approximation of GELU and
dropout on the attention weights; here GELU is the exact one
(torch.nn.functional.gelu), and the Week 1 MultiHeadAttention has no
attention dropout.
"""

import math
from dataclasses import dataclass

import torch
from multi_head_attention import MultiHeadAttention
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.1
    layer_norm_eps: float = 1e-5


def init_gpt_weights(module):
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def norm(x, ln):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        return F.linear(gelu(F.linear(x, self.c_fc.weight, self.c_fc.bias)), self.c_proj.weight, self.c_proj.bias)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn = MultiHeadAttention(config.n_embd, config.n_head)
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)
        self.n_head = config.n_head

    def self_attention(self, x):
        B, T, C = x.shape
        H = self.n_head
        q, k, v = (proj(x).view(B, T, H, C // H).permute(0, 2, 1, 3) for proj in (self.attn.q_proj, self.attn.k_proj, self.attn.v_proj))
        scores = torch.einsum("bhid,bhjd->bhij", q, k) / math.sqrt(C // H)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=1)
        weights = scores.masked_fill(future, float("-inf")).softmax(-1)
        out = torch.einsum("bhij,bhjd->bhid", weights, v).permute(0, 2, 1, 3).reshape(B, T, C)
        return self.attn.out_proj(out)

    def forward(self, x):
        x = norm(x + self.drop(self.self_attention(x)), self.ln_1)
        return norm(x + self.drop(self.mlp(x)), self.ln_2)


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(init_gpt_weights)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        T = idx.shape[1]
        if T > self.config.block_size:
            raise ValueError("too long")
        x = self.drop(self.wte.weight[idx] + self.wpe.weight[:T])
        for block in self.h:
            x = block(x)
        return x @ self.wte.weight.T


def lm_loss(logits, targets):
    logp = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    return -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean()
