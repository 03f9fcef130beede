"""GPT-2, written without F.scaled_dot_product_attention."""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True


class KVCache:
    """One tensor per layer: keys and values stacked, (2, B, n_head, T, head_size)."""

    def __init__(self):
        self.kv = {}

    def __len__(self):
        return self.kv[0].shape[3] if 0 in self.kv else 0

    @property
    def length(self):
        return len(self)

    def update(self, layer, k, v):
        new = torch.stack((k, v))
        self.kv[layer] = new if layer not in self.kv else torch.cat([self.kv[layer], new], dim=3)
        return self.kv[layer][0], self.kv[layer][1]


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, kv_cache=None, layer=0):
        B, T, C = x.shape
        hs = C // self.n_head
        qkv = self.c_attn(x).view(B, T, 3, self.n_head, hs).permute(2, 0, 3, 1, 4)  # (3, B, nh, T, hs)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if kv_cache is not None:
            k, v = kv_cache.update(layer, k, v)
        L = k.shape[2]
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, L)
        query_pos = torch.arange(L - T, L, device=x.device)
        key_pos = torch.arange(L, device=x.device)
        att = att.masked_fill(key_pos[None, :] > query_pos[:, None], float("-inf"))
        att = F.dropout(att.softmax(dim=-1), self.dropout, self.training)
        y = (att @ v).permute(0, 2, 1, 3).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None, layer=0):
        h = x + self.attn(self.ln_1(x), kv_cache=kv_cache, layer=layer)
        return h + self.mlp(self.ln_2(h))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict()
        self.transformer["wte"] = nn.Embedding(config.vocab_size, config.n_embd)
        self.transformer["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        self.transformer["drop"] = nn.Dropout(config.dropout)
        self.transformer["h"] = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.transformer["ln_f"] = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        residual_std = 0.02 * (2 * config.n_layer) ** -0.5
        for block in self.transformer.h:
            nn.init.normal_(block.attn.c_proj.weight, std=residual_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=residual_std)

    def num_parameters(self, non_embedding=True):
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, kv_cache=None):
        B, T = idx.shape
        offset = len(kv_cache) if kv_cache is not None else 0
        if offset + T > self.config.block_size:
            raise ValueError("sequence longer than block_size")
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T, device=idx.device) + offset)
        x = self.transformer.drop(x)
        for i, block in enumerate(self.transformer.h):
            x = block(x, kv_cache=kv_cache, layer=i)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        logp = logits.log_softmax(dim=-1)
        return logits, -logp.gather(-1, targets.unsqueeze(-1)).mean()
