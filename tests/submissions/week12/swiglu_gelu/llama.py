"""LLaMA (Touvron et al., 2023, section 2.2): a decoder-only Transformer, GPT's block with new parts.

    h_0 = E[tokens]                                                  (B, T, d_model), no position embedding
    h_l = TransformerBlock(h_{l-1}),  l = 1..n_layers
    logits = output(RMSNorm(h_L))                                    (B, T, vocab_size), output NOT tied to E

Each block is pre-norm, with RMSNorm instead of LayerNorm:

    h   = x + attention(attention_norm(x))     -- causal grouped-query attention, RoPE on q and k
    out = h + feed_forward(ffn_norm(h))        -- SwiGLU: w2(silu(w1 h) * w3 h)

- RMSNorm (Zhang and Sennrich 2019): x / sqrt(mean(x^2) + eps) * weight. No mean is
  subtracted and there is no bias.
- SwiGLU (Shazeer 2020): a gated feed-forward layer. Its hidden size is 2/3 of 4 d_model,
  rounded up to a multiple of `multiple_of`, so it costs what a 4 d_model GELU MLP costs.
- RoPE (Su et al. 2021): positions enter as rotations of q and k, not as vectors added to the input.
  Each adjacent pair (x_2i, x_2i+1) of a head is rotated by the angle position * theta^(-2i / d_head),
  so q_m . k_n depends only on the offset m - n.
- Grouped-query attention (Ainslie et al. 2023, used by LLaMA 2 and 3): n_heads query heads
  share n_kv_heads key/value heads. Query head h reads key/value head h // (n_heads // n_kv_heads).
  n_kv_heads == n_heads is ordinary multi-head attention; n_kv_heads == 1 is multi-query attention.

The parameter names are those of Meta's reference code, so that a state dict moves between the two:
tok_embeddings, layers.{l}.attention.{wq,wk,wv,wo}, layers.{l}.feed_forward.{w1,w2,w3},
layers.{l}.attention_norm, layers.{l}.ffn_norm, norm, output. No Linear layer has a bias.

The KV cache works as in Week 6: the model appends each layer's new keys and values, and the new
tokens sit at positions len(cache) .. len(cache) + T - 1:

    cache = KVCache()
    logits = model(prompt, kv_cache=cache)      # (B, T0): positions 0..T0-1
    logits = model(next_ids, kv_cache=cache)    # (B, T1): positions T0..T0+T1-1
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class LlamaConfig:
    """The sizes of a LLaMA. LLaMA-7B: vocab_size=32000, d_model=4096, n_layers=32, n_heads=32."""

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int  # d_model must be divisible by it: d_head = d_model // n_heads
    n_kv_heads: int | None = None  # key/value heads; None means n_heads (multi-head attention)
    d_hidden: int | None = None  # SwiGLU's hidden size; None means ffn_hidden_dim(d_model, multiple_of, ...)
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None  # LLaMA 2 70B: 1.3
    norm_eps: float = 1e-6
    rope_theta: float = 10000.0


def ffn_hidden_dim(d_model, multiple_of=256, ffn_dim_multiplier=None):
    """SwiGLU's hidden size, as Meta's code computes it.

        hidden = int(2 * (4 * d_model) / 3)              -- three matrices cost what a 4 d_model MLP's two do
        hidden = int(ffn_dim_multiplier * hidden)         -- only when a multiplier is given
        return the smallest multiple of multiple_of that is >= hidden

    LLaMA-7B: ffn_hidden_dim(4096) == 11008.
    """
    hidden = int(2 * (4 * d_model) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


class RMSNorm(nn.Module):
    """Root-mean-square normalisation over the last dimension (Zhang and Sennrich 2019, section 4).

        y = x / sqrt(mean(x^2) + eps) * weight          mean over the last dimension; eps inside the sqrt

    Unlike LayerNorm it subtracts no mean and has no bias.

    Attributes:
        weight: nn.Parameter of shape (d_model,), initialised to ones.
        eps: the float added to the mean square.
    """

    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x):
        """x: (..., d_model) -> (..., d_model)."""
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def apply_rope(x, positions, theta=10000.0):
    """Rotary position embedding (Su et al. 2021, eq. 34): rotate each adjacent pair of x by its angle.

    For i = 0 .. d_head/2 - 1 and a row at position p:

        angle = p * theta^(-2i / d_head)
        y[2i]   = x[2i] cos(angle) - x[2i+1] sin(angle)
        y[2i+1] = x[2i] sin(angle) + x[2i+1] cos(angle)

    The pairs are ADJACENT elements (0, 1), (2, 3), ..., as in the paper and Meta's code (which
    views them as complex numbers), not the two halves of the head.

    Args:
        x: (B, H, L, d_head), d_head even.
        positions: (L,) integer tensor, the position of each of the L rows (e.g. arange(t0, t0 + L)).
        theta: the base of the frequencies.

    Returns:
        A new tensor like x, of x's dtype (x itself is left unchanged). Angles in float64 are the
        most exact; float32 angles, as in Meta's code, are fine at the positions the grader uses.
    """
    d_head = x.size(-1)
    exponent = torch.arange(0, d_head, 2, dtype=torch.float64, device=x.device) / d_head  # (d_head/2,): 2i/d_head
    freqs = theta**-exponent  # (d_head/2,)
    angles = positions.to(torch.float64)[:, None] * freqs  # (L, d_head/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (B, H, L, d_head/2) each
    y_even = x_even * cos - x_odd * sin
    y_odd = x_even * sin + x_odd * cos
    return torch.stack((y_even, y_odd), dim=-1).flatten(-2)  # interleave back: (B, H, L, d_head)


def repeat_kv(x, n_rep):
    """Repeat each key/value head n_rep times, in place next to itself: heads (a, b) -> (a, a, b, b) for n_rep = 2.

    Args:
        x: (B, n_kv_heads, L, d_head).
        n_rep: n_heads // n_kv_heads.

    Returns:
        (B, n_kv_heads * n_rep, L, d_head) whose head h is x's head h // n_rep (torch.repeat_interleave
        along dim 1, not torch.repeat, which would give (a, b, a, b)).
    """
    if n_rep == 1:
        return x
    B, n_kv, L, d_head = x.shape
    return x[:, :, None].expand(B, n_kv, n_rep, L, d_head).reshape(B, n_kv * n_rep, L, d_head)


class KVCache:
    """The keys and values of every position seen so far, for each layer of a Llama.

    One object per generation: create it empty, `KVCache()`, and pass it to every call of
    `Llama.forward(..., kv_cache=cache)`. The attention of each layer appends its new keys and
    values, after RoPE and BEFORE repeat_kv: the cache holds n_kv_heads heads, which is the point
    of grouped-query attention (a cache n_heads / n_kv_heads times smaller).

    Attributes (a suggestion: the API is `update` and `len`):
        keys, values: lists with one tensor per layer that has been filled,
            each of shape (B, n_kv_heads, T_cached, d_head).
    `len(cache)` (or `cache.length`) is T_cached, the number of positions cached; 0 when empty.
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
            layer: the block's index, 0 .. n_layers-1. Layers are filled in order: the first call
                for a layer (layer == the number of layers held) adds it.
            k, v: (B, n_kv_heads, T_new, d_head), the new positions, after the cached ones.

        Returns:
            (k_all, v_all), each (B, n_kv_heads, T_cached + T_new, d_head): the cached positions
            first, then the new ones.
        """
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]


class GroupedQueryAttention(nn.Module):
    """Causal grouped-query self-attention with RoPE (Ainslie et al. 2023; Touvron et al. 2023).

        q = wq(x)  -> (B, n_heads, T, d_head),   k = wk(x), v = wv(x) -> (B, n_kv_heads, T, d_head)
        q, k = apply_rope(q, positions), apply_rope(k, positions)
        with a cache: k, v = all cached keys and values of this layer, then the new ones
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)              n_rep = n_heads // n_kv_heads
        y = softmax(q k^T / sqrt(d_head) + causal mask) v             per query head
        out = wo(concat heads of y)                                   (B, T, d_model)

    Attributes:
        wq: nn.Linear(d_model, n_heads * d_head, bias=False)
        wk: nn.Linear(d_model, n_kv_heads * d_head, bias=False)
        wv: nn.Linear(d_model, n_kv_heads * d_head, bias=False)
        wo: nn.Linear(n_heads * d_head, d_model, bias=False)
        n_heads, n_kv_heads, d_head (= d_model // n_heads), rope_theta.
    The head h of q is its outputs h * d_head .. (h + 1) * d_head - 1 (and likewise for k, v and
    the input of wo). F.scaled_dot_product_attention is yours to use.
    """

    def __init__(self, d_model, n_heads, n_kv_heads, rope_theta=10000.0):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        assert n_heads % n_kv_heads == 0, "n_heads must be divisible by n_kv_heads"
        self.n_heads, self.n_kv_heads, self.d_head = n_heads, n_kv_heads, d_model // n_heads
        self.rope_theta = rope_theta
        self.wq = nn.Linear(d_model, n_heads * self.d_head, bias=False)
        self.wk = nn.Linear(d_model, n_kv_heads * self.d_head, bias=False)
        self.wv = nn.Linear(d_model, n_kv_heads * self.d_head, bias=False)
        self.wo = nn.Linear(n_heads * self.d_head, d_model, bias=False)

    def forward(self, x, positions, kv_cache=None, layer=0):
        """x: (B, T, d_model), positions: (T,) the positions of x's rows -> (B, T, d_model).

        Without a cache, row t attends to rows 0..t of x. With a KVCache holding T_past positions,
        this layer's new keys and values (after RoPE) are appended to it (kv_cache.update(layer, k, v)),
        and new row i attends to every cached key and to new keys 0..i: a (T, T_past + T) mask
        that is True where key j <= T_past + i.
        """
        B, T, _ = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, T, dh)
        k = self.wk(x).view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)  # (B, KV, T, dh)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.d_head).transpose(1, 2)  # (B, KV, T, dh)
        q, k = apply_rope(q, positions, self.rope_theta), apply_rope(k, positions, self.rope_theta)
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)  # (B, KV, L, dh), L = T_past + T
        n_rep = self.n_heads // self.n_kv_heads
        k, v = repeat_kv(k, n_rep), repeat_kv(v, n_rep)  # (B, H, L, dh)
        L = k.size(2)
        if L == T:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # new rows after cached ones: the causal mask shifted by T_past = L - T
            mask = torch.ones(T, L, dtype=torch.bool, device=x.device).tril(diagonal=L - T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, self.n_heads * self.d_head)  # (B, T, H * dh)
        return self.wo(y)


class SwiGLU(nn.Module):
    """The gated feed-forward layer (Shazeer 2020, section 2: FFN_SwiGLU, without biases).

        out = w2(silu(w1(x)) * w3(x))        silu(z) = z * sigmoid(z)

    Attributes:
        w1: nn.Linear(d_model, d_hidden, bias=False), the gate (goes through silu)
        w3: nn.Linear(d_model, d_hidden, bias=False), the value it multiplies
        w2: nn.Linear(d_hidden, d_model, bias=False), back to d_model
    """

    def __init__(self, d_model, d_hidden):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_hidden, bias=False)
        self.w2 = nn.Linear(d_hidden, d_model, bias=False)
        self.w3 = nn.Linear(d_model, d_hidden, bias=False)

    def forward(self, x):
        """x: (..., d_model) -> (..., d_model)."""
        return self.w2(F.gelu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """One pre-norm LLaMA block: h = x + attention(attention_norm(x)); out = h + feed_forward(ffn_norm(h)).

    Attributes:
        attention: GroupedQueryAttention(d_model, n_heads, n_kv_heads or n_heads, rope_theta)
        feed_forward: SwiGLU(d_model, d_hidden), d_hidden = config.d_hidden, or
            ffn_hidden_dim(d_model, multiple_of, ffn_dim_multiplier) when it is None
        attention_norm, ffn_norm: RMSNorm(d_model, eps=config.norm_eps)
    """

    def __init__(self, config):
        super().__init__()
        d_hidden = config.d_hidden
        if d_hidden is None:
            d_hidden = ffn_hidden_dim(config.d_model, config.multiple_of, config.ffn_dim_multiplier)
        n_kv_heads = config.n_kv_heads if config.n_kv_heads is not None else config.n_heads
        self.attention = GroupedQueryAttention(config.d_model, config.n_heads, n_kv_heads, config.rope_theta)
        self.feed_forward = SwiGLU(config.d_model, d_hidden)
        self.attention_norm = RMSNorm(config.d_model, eps=config.norm_eps)
        self.ffn_norm = RMSNorm(config.d_model, eps=config.norm_eps)

    def forward(self, x, positions, kv_cache=None, layer=0):
        """x: (B, T, d_model), positions: (T,) -> (B, T, d_model); kv_cache and layer go to the attention."""
        h = x + self.attention(self.attention_norm(x), positions, kv_cache, layer)
        return h + self.feed_forward(self.ffn_norm(h))


class Llama(nn.Module):
    """The LLaMA language model.

    Attributes:
        config: the LlamaConfig.
        tok_embeddings: nn.Embedding(vocab_size, d_model)
        layers: nn.ModuleList of n_layers TransformerBlocks
        norm: RMSNorm(d_model, eps=config.norm_eps), the final norm
        output: nn.Linear(d_model, vocab_size, bias=False), its own matrix (not tied to tok_embeddings)
    The state dict holds these parameters and nothing else (keep any table of cos and sin out of
    it: a plain attribute or a buffer with persistent=False).
    Initialisation: every Linear and Embedding weight ~ N(0, 0.02^2); RMSNorm weights are ones.
    """

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList([TransformerBlock(config) for _ in range(config.n_layers)])
        self.norm = RMSNorm(config.d_model, eps=config.norm_eps)
        self.output = nn.Linear(config.d_model, config.vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, tokens, kv_cache=None):
        """tokens: (B, T) token ids -> logits (B, T, vocab_size).

        The positions of tokens are t0 .. t0 + T - 1, with t0 = len(kv_cache) before the call
        (0 without a cache). There is no longest sequence: RoPE has no table of positions to run out of.
        """
        T = tokens.size(1)
        t0 = 0 if kv_cache is None else len(kv_cache)
        positions = torch.arange(t0, t0 + T, device=tokens.device)  # (T,)
        h = self.tok_embeddings(tokens)  # (B, T, d_model)
        for layer, block in enumerate(self.layers):
            h = block(h, positions, kv_cache, layer)
        return self.output(self.norm(h))  # (B, T, V)


@torch.no_grad()
def generate(model, tokens, max_new_tokens, temperature=1.0, generator=None, use_cache=True):
    """Continue each row of tokens by max_new_tokens tokens, one at a time.

    At each step the next token comes from the logits of the last position, l = logits[:, -1, :]:
    temperature == 0: the argmax of l (greedy); otherwise one call
    torch.multinomial(softmax(l / temperature), 1, generator=generator) for the whole batch.

    With use_cache, the prompt goes through the model once with a new KVCache (the prefill), then
    each new token alone; without it, the whole sequence so far goes through the model at every step.
    Both give the same tokens.

    Args:
        model: a Llama (or anything with its forward(tokens, kv_cache=None) -> logits).
        tokens: (B, T) long, the prompts (left unchanged).
        max_new_tokens: how many tokens to add.
        temperature: 0 for greedy, else the softmax temperature.
        generator: the torch.Generator of the draws (None: torch's global one).
        use_cache: whether to use a KVCache.

    Returns:
        (B, T + max_new_tokens) long: the prompts, then the new tokens.
    """
    out = tokens
    cache = KVCache() if use_cache else None
    step_input = tokens
    for _ in range(max_new_tokens):
        logits = model(step_input if use_cache else out, kv_cache=cache)[:, -1, :]  # (B, V)
        if temperature == 0:
            next_token = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
        else:
            probs = F.softmax(logits / temperature, dim=-1)
            next_token = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
        out = torch.cat((out, next_token), dim=1)
        step_input = next_token
    return out
