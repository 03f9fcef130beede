"""Toy sequence tasks and the tiny transformer the grader trains on them.

The model is a small decoder-only transformer (pre-norm blocks, learned
positions) whose attention layer is supplied by the caller: the grader builds
it from a submission's MultiHeadAttention to train, and from the reference
one to evaluate the trained weights. Each example is

    x_1 ... x_n  SEP  y_1 ... y_n

with y = reversed(x) ("reverse") or y = x ("copy"), digits 0-9 and SEP = 10.
The model reads the sequence causally and is trained to predict y; every y_t
must be found by attending to the right source position.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

TASKS = ("reverse", "copy")


@dataclass(frozen=True)
class ToyConfig:
    task: str = "reverse"
    n_digits: int = 10
    seq_len: int = 8
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    steps: int = 160
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 50
    seed: int = 0

    @property
    def sep(self) -> int:
        return self.n_digits

    @property
    def vocab_size(self) -> int:
        return self.n_digits + 1

    def to_dict(self) -> dict:
        return asdict(self)


def make_batch(config: ToyConfig, batch_size: int, generator: torch.Generator, device=None) -> torch.Tensor:
    """Sequences (batch_size, 2n + 1): x, SEP, then the task's target for x."""
    n = config.seq_len
    x = torch.randint(0, config.n_digits, (batch_size, n), generator=generator)
    if config.task == "reverse":
        y = x.flip(1)
    elif config.task == "copy":
        y = x
    else:
        raise ValueError(f"unknown task {config.task!r}; expected one of {TASKS}")
    sep = torch.full((batch_size, 1), config.sep, dtype=torch.long)
    return torch.cat([x, sep, y], dim=1).to(device)


class Block(nn.Module):
    def __init__(self, attention: nn.Module, d_model: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = attention
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x, mask):  # x: (B, T, C), mask: (T, T)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class ToyTransformer(nn.Module):
    def __init__(self, attention_cls, config: ToyConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.tok_emb = nn.Embedding(config.vocab_size, d)
        self.pos_emb = nn.Embedding(2 * config.seq_len + 1, d)
        self.blocks = nn.ModuleList(Block(attention_cls(d, config.n_heads), d) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.vocab_size)

    def forward(self, idx):  # idx: (B, T) -> logits (B, T, vocab)
        T = idx.size(1)
        pos = torch.arange(T, device=idx.device)
        mask = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()  # (T, T), True = may attend
        x = self.tok_emb(idx) + self.pos_emb(pos)  # (B, T, C)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.ln_f(x))


def loss_on_targets(model: ToyTransformer, seq: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of predicting y_1..y_n (the positions after SEP)."""
    n = model.config.seq_len
    logits = model(seq[:, :-1])  # (B, 2n, vocab)
    return F.cross_entropy(logits[:, n:].reshape(-1, logits.size(-1)), seq[:, n + 1 :].reshape(-1))


def train(attention_cls, config: ToyConfig, device="cpu") -> tuple[ToyTransformer, list[float]]:
    """The grader's training loop: AdamW with linear warmup, a fixed step budget, seeded."""
    torch.manual_seed(config.seed)
    model = ToyTransformer(attention_cls, config).to(device)
    generator = torch.Generator().manual_seed(config.seed + 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / config.warmup))
    losses = []
    model.train()
    for _ in range(config.steps):
        loss = loss_on_targets(model, make_batch(config, config.batch_size, generator, device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return model, losses


@torch.no_grad()
def greedy_accuracy(model: ToyTransformer, seq: torch.Tensor) -> float:
    """Token accuracy of greedy decoding y from x and SEP on sequences `seq`."""
    n = model.config.seq_len
    model.eval()
    out = seq[:, : n + 1]
    for _ in range(n):
        next_token = model(out)[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        out = torch.cat([out, next_token], dim=1)
    return (out[:, n + 1 :] == seq[:, n + 1 :]).float().mean().item()
