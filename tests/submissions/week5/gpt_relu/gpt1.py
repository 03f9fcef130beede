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

from dataclasses import dataclass

import torch
from attention import causal_mask
from multi_head_attention import MultiHeadAttention
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    """The sizes of a GPT-1 model (paper: vocab 40478, block_size 512, 12 layers, 12 heads, 768 wide)."""

    vocab_size: int = 65  # V: Tiny Shakespeare has 65 distinct characters
    block_size: int = 64  # T_max, the context length (the number of learned positions)
    n_layer: int = 2  # n
    n_head: int = 4  # heads; n_embd must be divisible by it
    n_embd: int = 64  # d
    dropout: float = 0.1  # on the embeddings and before each residual sum
    layer_norm_eps: float = 1e-5


def init_gpt_weights(module):
    """The paper's initialisation, N(0, 0.02) (section 4.1), zero biases, LayerNorm at identity.
    Use it with `model.apply(init_gpt_weights)`."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class MLP(nn.Module):
    """The position-wise feed-forward layer: c_proj(GELU(c_fc(x))).

    Attributes:
        c_fc: nn.Linear(n_embd, 4 * n_embd).
        c_proj: nn.Linear(4 * n_embd, n_embd).
    GELU is the exact one: torch.nn.functional.gelu (erf form).
    """

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)

    def forward(self, x):
        """x: (B, T, d) -> (B, T, d)."""
        return self.c_proj(F.relu(self.c_fc(x)))


class Block(nn.Module):
    """One post-norm decoder block with causal self-attention (see the module docstring).

    Attributes:
        attn: MultiHeadAttention(n_embd, n_head) from Week 1.
        ln_1: nn.LayerNorm(n_embd, eps=layer_norm_eps), after the attention's residual sum.
        mlp: MLP(config).
        ln_2: nn.LayerNorm(n_embd, eps=layer_norm_eps), after the MLP's residual sum.
        drop: nn.Dropout(dropout), on the attention and MLP outputs before each residual sum.
    """

    def __init__(self, config):
        super().__init__()
        self.attn = MultiHeadAttention(config.n_embd, config.n_head)
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.mlp = MLP(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x):
        """x: (B, T, d) -> (B, T, d). Position t attends to positions 0..t only (use Week 1's causal_mask)."""
        T = x.size(1)
        a, _ = self.attn(x, x, x, mask=causal_mask(T, device=x.device))  # (B, T, d)
        x = self.ln_1(x + self.drop(a))
        return self.ln_2(x + self.drop(self.mlp(x)))


class GPT(nn.Module):
    """GPT-1: embeddings, n_layer Blocks, and the tied output layer.

    Attributes:
        config: the GPTConfig.
        wte: nn.Embedding(vocab_size, n_embd), the token embeddings W_e.
        wpe: nn.Embedding(block_size, n_embd), the LEARNED position embeddings W_p.
        drop: nn.Dropout(dropout), on the summed embeddings.
        h: nn.ModuleList of n_layer Block(config).
        lm_head: nn.Linear(n_embd, vocab_size, bias=False) whose `weight` IS
            wte.weight (the same nn.Parameter: P(u) = softmax(h_n W_e^T)).
    No final LayerNorm: in a post-norm model each block already ends with one.
    Initialised with init_gpt_weights.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config) for _ in range(config.n_layer)])
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one Parameter, two uses
        self.apply(init_gpt_weights)

    def forward(self, idx):
        """idx: (B, T) token ids, T <= block_size -> logits (B, T, vocab_size).

        logits[:, t] scores the token that follows idx[:, t]. Position t gets
        position embedding t (0-based). Raise ValueError when T > block_size.
        """
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} is longer than block_size={self.config.block_size}")
        positions = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(positions))  # (B, T, d)
        for block in self.h:
            x = block(x)
        return self.lm_head(x)  # (B, T, V)


def lm_loss(logits, targets):
    """The language-modelling loss L_1 of the paper (equation 1), as a mean: the average over all B * T
    positions of -log P(targets[b, t] | tokens up to t).

    Args:
        logits: (B, T, V) float.
        targets: (B, T) long, targets[b, t] the token that follows position t
            (the input shifted left by one: see training.get_batch).

    Returns:
        A scalar, equal to F.cross_entropy(logits.view(-1, V), targets.view(-1)).
    """
    V = logits.size(-1)
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
