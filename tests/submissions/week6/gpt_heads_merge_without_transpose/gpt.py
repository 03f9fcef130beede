"""GPT-2 (Radford et al., 2019, section 2.3): a decoder-only Transformer language model.

    x_0 = E_token[idx] + E_position[t0 .. t0+T-1]                       (B, T, C), then dropout
    x_l = Block(x_{l-1}),  l = 1..n_layer
    logits = LayerNorm_f(x_L) @ E_token^T                               (B, T, vocab_size)

Each Block is *pre-norm*: LayerNorm comes first, inside each residual branch,
and the residual stream itself is never normalised:

    x = x + Attention(LayerNorm_1(x))          -- causal multi-head self-attention
    x = x + MLP(LayerNorm_2(x))                -- c_proj(GELU(c_fc(.))), C -> 4C -> C

so the final LayerNorm ln_f (added by GPT-2) normalises what the last block
leaves. The output layer has no weights of its own: lm_head's weight IS the
token embedding matrix (weight tying, Press & Wolf 2017).

Initialisation (GPT-2's, as nanoGPT writes it): every nn.Linear and
nn.Embedding weight ~ N(0, 0.02^2), every bias 0, LayerNorm at identity; then
each projection that writes into the residual stream (`*.c_proj.weight`, two
per block) ~ N(0, (0.02 / sqrt(2 * n_layer))^2), so that the sum of the
2 * n_layer residual branches keeps a variance that does not grow with depth.

The KV cache. Generating token by token, the keys and values of the positions
already seen never change (attention is causal), so they are kept in a
KVCache and only the new positions are computed:

    cache = KVCache()                             # empty: len(cache) == 0
    logits, _ = model(prompt, kv_cache=cache)      # (B, T0): positions 0..T0-1; len(cache) == T0
    logits, _ = model(next_ids, kv_cache=cache)    # (B, T1): positions T0..T0+T1-1; len(cache) == T0 + T1

With a cache, the new queries are at positions t0 .. t0+T-1 (t0 = len(cache)
before the call) and attend to all cached keys plus the new ones up to their
own position.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    """The sizes of a GPT. GPT-2 small is vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768."""

    vocab_size: int
    block_size: int  # the longest sequence: the number of learned positions
    n_layer: int
    n_head: int  # n_embd must be divisible by it
    n_embd: int
    dropout: float = 0.0
    bias: bool = True  # biases in the Linear layers and LayerNorms (lm_head never has one)


class KVCache:
    """The keys and values of every position seen so far, for each layer of a GPT.

    One object per generation: create it empty, `KVCache()`, and pass it to
    every call of `GPT.forward(..., kv_cache=cache)`; the model appends the
    new positions' keys and values to it, layer by layer.

    Attributes (a suggestion: the API is `update` and `len`):
        keys, values: lists with one tensor per layer that has been filled,
            each of shape (B, n_head, T_cached, head_size).
    `len(cache)` (or `cache.length`) is T_cached, the number of positions
    cached; 0 when empty.
    """

    def __init__(self):
        self.keys = []
        self.values = []

    def __len__(self):
        """T_cached: the number of positions held (0 when empty)."""
        return self.keys[0].size(2) if self.keys else 0

    @property
    def length(self):
        return len(self)

    def update(self, layer, k, v):
        """Append the keys and values of the new positions of `layer`; return all of that layer's.

        Args:
            layer: the block's index, 0 .. n_layer-1. Layers are filled in order:
                the first call for a layer (layer == the number of layers held) adds it.
            k, v: (B, n_head, T_new, head_size), the new positions, after the cached ones.

        Returns:
            (k_all, v_all), each (B, n_head, T_cached + T_new, head_size): the
            cached positions first, then the new ones (concatenated along the time axis).
        """
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, all heads in one batched computation.

        q, k, v = split(c_attn(x))                     (B, T, 3C) -> 3 x (B, n_head, T, head_size)
        y = softmax(q k^T / sqrt(head_size) + causal mask) v     per head
        out = dropout(c_proj(concat heads of y))       (B, T, C)

    Attributes:
        c_attn: nn.Linear(n_embd, 3 * n_embd, bias=config.bias), the query, key and value
            projections stacked in that order (q = first n_embd outputs, then k, then v).
        c_proj: nn.Linear(n_embd, n_embd, bias=config.bias), a residual projection.
        resid_dropout: nn.Dropout(config.dropout).
        n_head, n_embd, dropout: from the config (dropout also on the attention weights, in training).
    Use F.scaled_dot_product_attention (fused, no Python loop over heads).
    """

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x, kv_cache=None, layer=0):
        """x: (B, T, C) -> (B, T, C).

        Without a cache, position t attends to positions 0..t of x. With a
        KVCache holding T_past positions, this layer's new keys and values are
        appended to it (kv_cache.update(layer, k, v)), and the new query i
        (position T_past + i) attends to the cached keys and to new keys 0..i:
        a (T, T_past + T) mask that is True where key j <= T_past + i.
        """
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        dropout_p = self.dropout if self.training else 0.0
        if kv_cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            k, v = kv_cache.update(layer, k, v)  # (B, nh, L, hs), L = T_past + T
            L = k.size(2)
            # One new position sees every key; several need the causal mask shifted by T_past = L - T.
            mask = None if T == 1 else torch.ones(T, L, dtype=torch.bool, device=x.device).tril(diagonal=L - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        y = y.contiguous().view(B, T, C)  # (B, T, C): heads side by side again
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """The position-wise feed-forward layer: dropout(c_proj(GELU(c_fc(x)))), C -> 4C -> C.

    Attributes:
        c_fc: nn.Linear(n_embd, 4 * n_embd, bias=config.bias).
        gelu: nn.GELU(), the exact one (erf form, approximate="none").
        c_proj: nn.Linear(4 * n_embd, n_embd, bias=config.bias), a residual projection.
        dropout: nn.Dropout(config.dropout).
    """

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        """x: (B, T, C) -> (B, T, C)."""
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """One pre-norm Transformer block: x + attn(ln_1(x)), then + mlp(ln_2(.)).

    Attributes:
        ln_1: nn.LayerNorm(n_embd, bias=config.bias), attn: CausalSelfAttention(config),
        ln_2: nn.LayerNorm(n_embd, bias=config.bias), mlp: MLP(config).
    """

    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None, layer=0):
        """x: (B, T, C) -> (B, T, C); kv_cache and layer go to the attention."""
        x = x + self.attn(self.ln_1(x), kv_cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The GPT-2 language model.

    Attributes:
        config: the GPTConfig.
        transformer: nn.ModuleDict with
            wte: nn.Embedding(vocab_size, n_embd), the token embeddings;
            wpe: nn.Embedding(block_size, n_embd), the learned positions;
            drop: nn.Dropout(dropout);
            h: nn.ModuleList of n_layer Blocks;
            ln_f: nn.LayerNorm(n_embd, bias=config.bias), the final LayerNorm.
        lm_head: nn.Linear(n_embd, vocab_size, bias=False) whose weight IS
            transformer.wte.weight (one nn.Parameter, so named_parameters() lists it once).
    Initialised as the module docstring says (`_init_weights`, then the c_proj weights).
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
        self.transformer.wte.weight = self.lm_head.weight  # tied: one Parameter, two uses
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # the residual projections, scaled for depth
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        """N(0, 0.02^2) for Linear and Embedding weights, zero Linear biases (LayerNorm keeps ones and zeros)."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_parameters(self, non_embedding=True):
        """The number of parameters, the tied matrix counted once; without the position embeddings
        when non_embedding (the token embeddings stay: they are the output layer too)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, kv_cache=None):
        """idx: (B, T) token ids -> (logits (B, T, vocab_size), loss).

        loss is the mean cross-entropy of targets (B, T) over all B*T positions,
        None without targets. The positions of idx are t0 .. t0+T-1, with
        t0 = len(kv_cache) before the call (0 without a cache); t0 + T may not
        exceed block_size (raise a ValueError).
        """
        T = idx.size(1)
        t0 = 0 if kv_cache is None else len(kv_cache)
        if t0 + T > self.config.block_size:
            raise ValueError(f"positions up to {t0 + T - 1}, but block_size is {self.config.block_size}")
        pos = torch.arange(t0, t0 + T, dtype=torch.long, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        for layer, block in enumerate(self.transformer.h):
            x = block(x, kv_cache, layer)
        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss
