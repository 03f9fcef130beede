"""Week 7's grader-side pieces: the GPT the checks build, the in-context learning task, small factories.

The GPT here is the same model as the week's gpt.py (the same parameter
names, initialisation and forward pass; a test asserts it), so the grader
never depends on a submission's copy of it. `GraderGPT` adds what the checks
need when it runs in the submission's process:

- max_rows: the model refuses a call with more rows than that, so gradient
  accumulation must run its micro-batches one at a time;
- stale_grads: every parameter starts with a random .grad, so code that
  forgets to clear gradients first is seen;
- overflow_token: a micro-batch holding this token has infinite logits, so
  its loss and gradients overflow (the loss scaler must skip the step);
- autocast: the model refuses to run outside torch.autocast in that dtype.

The in-context learning task is the one students get, finished, in icl.py
(`sample_icl`, `icl_config`): N_WORDS words, each with N_ANSWERS possible
answers (token FIRST_ANSWER + N_ANSWERS x + j); every sequence draws its own
function f (one answer per word) and shows N_PAIRS pairs x_1 f(x_1) ...
x_K f(x_K).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

# ---------------------------------------------------------------- the model (as gpt.py)


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True


class CausalSelfAttention(nn.Module):
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
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
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

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
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
        self.lm_head.weight = self.transformer.wte.weight
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
        T = idx.size(1)
        assert T <= self.config.block_size, f"sequence of {T} tokens, block_size is {self.config.block_size}"
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss


class GraderGPT(GPT):
    """GPT(GPTConfig(**fields)) with the grader's instruments (see the module docstring)."""

    def __init__(self, max_rows=None, stale_grads=False, overflow_token=None, autocast=None, **fields):
        super().__init__(GPTConfig(**fields))
        self.max_rows = max_rows
        self.overflow_token = overflow_token
        self.autocast = autocast
        if stale_grads:
            generator = torch.Generator().manual_seed(12345)
            for p in self.parameters():
                p.grad = torch.randn(p.shape, generator=generator)

    def forward(self, idx, targets=None):
        if self.max_rows is not None and idx.size(0) > self.max_rows:
            raise ValueError(
                f"this model takes at most {self.max_rows} rows at a time, got {idx.size(0)}: "
                "run the micro-batches one by one"
            )
        if self.autocast is not None:
            device_type = idx.device.type
            if not torch.is_autocast_enabled(device_type):
                raise RuntimeError(
                    f"the forward pass should run under torch.autocast({device_type!r}, {self.autocast})"
                )
            if torch.get_autocast_dtype(device_type) != getattr(torch, self.autocast):
                raise RuntimeError(f"the forward pass should autocast to {self.autocast}")
        if self.overflow_token is None or not bool((idx == self.overflow_token).any()):
            return super().forward(idx, targets)
        logits, _ = super().forward(idx)
        logits = logits * float("inf")  # an overflow: the loss and every gradient of this micro-batch are inf or NaN
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)


def config_fields(gpt: GPTConfig) -> dict:
    return {k: getattr(gpt, k) for k in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "dropout", "bias")}


# ---------------------------------------------------------------- small factories for the submission's process


def sgd(lr: float):
    """A make_optimizer: params -> plain SGD (no momentum, no weight decay): the update is -lr * grad."""
    return lambda params: torch.optim.SGD(params, lr=lr)


def adamw(lr: float, betas=(0.9, 0.95), weight_decay: float = 0.1, eps: float = 1e-8):
    """A make_optimizer: params -> torch.optim.AdamW."""
    return lambda params: torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, eps=eps)


def parameters_with_grads(grads: list) -> list:
    """Parameters (zeros) whose .grad are the given tensors; None leaves a parameter without a gradient."""
    params = []
    for g in grads:
        like = g if g is not None else torch.zeros(3)
        p = nn.Parameter(torch.zeros_like(like))
        p.grad = None if g is None else g.clone()
        params.append(p)
    return params


# ---------------------------------------------------------------- the in-context learning task (as icl.py)

N_WORDS, N_ANSWERS, N_PAIRS = 6, 4, 12
FIRST_ANSWER = N_WORDS
VOCAB_SIZE = N_WORDS + N_WORDS * N_ANSWERS  # 30
SEQ_LEN = 2 * N_PAIRS  # 24


def icl_fields() -> dict:
    """GPTConfig fields of the model the grader has trained: plain values, sent to the submission."""
    return dict(vocab_size=VOCAB_SIZE, block_size=SEQ_LEN, n_layer=2, n_head=2, n_embd=32, dropout=0.0, bias=True)


def sample_icl(n: int, generator: torch.Generator) -> torch.Tensor:
    """n sequences x_1 f(x_1) ... x_K f(x_K), each with its own random f: (n, SEQ_LEN) long."""
    choice = torch.randint(N_ANSWERS, (n, N_WORDS), generator=generator)
    x = torch.randint(N_WORDS, (n, N_PAIRS), generator=generator)
    y = FIRST_ANSWER + N_ANSWERS * x + choice.gather(1, x)
    return torch.stack([x, y], dim=2).view(n, SEQ_LEN)


def best_accuracy(k: int) -> float:
    """The best possible accuracy on the k-th answer: the word was shown before, or a guess."""
    return 1 - (1 - 1 / N_ANSWERS) * (1 - 1 / N_WORDS) ** (k - 1)


@torch.no_grad()
def answer_accuracy(model: nn.Module, seqs: torch.Tensor) -> torch.Tensor:
    """(N_PAIRS,): the share of sequences whose top prediction after x_k is f(x_k)."""
    model.eval()
    logits, _ = model(seqs[:, :-1])
    predictions = logits[:, 0::2].argmax(-1)
    return (predictions == seqs[:, 1::2]).float().mean(0)
