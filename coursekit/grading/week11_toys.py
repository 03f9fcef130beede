"""Week 11's grader-side pieces: the models the LoRA checks build, the fine-tuning task, NF4's levels.

- `InjectToy`: a small model whose linear layers have names that tell a
  suffix match from a substring match ("q" and "qk", "wi" and "wi_gate",
  "attn.o" and "mlp.o", "o" inside "blocks"), with a LayerNorm, biases and
  layers without bias, so inject_lora's choice of layers and its freezing
  can be seen from the state dict and the gradients.
- The fine-tuning task is the one students get, finished, in finetune.py
  (ToyMLP, teacher, rotate, sample_task, the pretraining loop); a test
  asserts the copies agree. `pretrained_state()` makes the grader's
  pretrained model once per grading run, deterministically and cheaply.
- NF4_LEVELS: the 16 levels of QLoRA's appendix E (quantize.py's table).
"""

from __future__ import annotations

from functools import cache

import torch
from torch import nn
from torch.nn import functional as F

# ---------------------------------------------------------------- a model for inject_lora


class Attention(nn.Module):
    """Not attention: four named projections mixed elementwise, so every one of them matters."""

    def __init__(self, d: int):
        super().__init__()
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d)
        self.qk = nn.Linear(d, d)  # "q" is a substring of "qk", not a suffix
        self.o = nn.Linear(d, d)

    def forward(self, x):
        return self.o(self.q(x) * torch.sigmoid(self.k(x)) + self.v(x) + torch.tanh(self.qk(x)))


class MLP(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.wi = nn.Linear(d, 2 * d)
        self.wi_gate = nn.Linear(d, 2 * d, bias=False)  # "wi" is a substring of "wi_gate"
        self.o = nn.Linear(2 * d, d)  # "o" as in "attn.o"

    def forward(self, x):
        return self.o(F.gelu(self.wi(x)) * self.wi_gate(x))


class Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attn = Attention(d)
        self.mlp = MLP(d)

    def forward(self, x):
        x = x + self.attn(self.norm(x))
        return x + self.mlp(x)


class InjectToy(nn.Module):
    """x (..., d_in) -> (..., n_out): embed, n_blocks Blocks, head. Linear layers, by qualified name:
    embed, blocks.i.attn.{q,k,v,qk,o}, blocks.i.mlp.{wi,wi_gate,o}, head; plus blocks.i.norm (a LayerNorm)."""

    def __init__(self, d_in: int = 5, d: int = 8, n_out: int = 3, n_blocks: int = 2):
        super().__init__()
        self.embed = nn.Linear(d_in, d)
        self.blocks = nn.ModuleList([Block(d) for _ in range(n_blocks)])
        self.head = nn.Linear(d, n_out)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def linear_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]


def matches(name: str, targets) -> bool:
    """The spec's rule: name == t or name ends with "." + t."""
    return any(name == t or name.endswith("." + t) for t in targets)


def frozen_model(pattern: list[bool], shared: bool = False) -> nn.Module:
    """An InjectToy whose parameters, in named_parameters() order, have requires_grad = pattern[i % len];
    with `shared`, head.weight is also registered as extra.weight (one parameter, two names)."""
    model = InjectToy()
    for i, p in enumerate(model.parameters()):
        p.requires_grad_(pattern[i % len(pattern)])
    if shared:
        model.extra = nn.Linear(model.head.in_features, model.head.out_features, bias=False)
        model.extra.weight = model.head.weight
    return model


# ---------------------------------------------------------------- the fine-tuning task (as finetune.py)

D_IN, HIDDEN, N_CLASSES = 16, 256, 4
TEACHER_SEED = 1106


class ToyMLP(nn.Module):
    def __init__(self, d_in=D_IN, hidden=HIDDEN, n_classes=N_CLASSES):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.head(F.relu(self.fc2(F.relu(self.fc1(x)))))


def teacher() -> torch.Tensor:
    T = torch.randn(N_CLASSES, D_IN, generator=torch.Generator().manual_seed(TEACHER_SEED))
    T[:, :2] *= 3
    return T


def rotate(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([-x[:, 1:2], x[:, 0:1], x[:, 2:]], dim=1)


def sample_task(n: int, task: str, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, D_IN, generator=generator)
    seen = x if task == "old" else rotate(x)
    return x, (seen @ teacher().T).argmax(-1)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(-1) == y).float().mean().item()


def pretrain(seed: int = 0, n: int = 8000, ridge: float = 1e-3) -> ToyMLP:
    """The same model as finetune.pretrain: random fc1 and fc2, the head fitted by ridge regression (no training
    loop, so the grader's process does almost no work)."""
    torch.manual_seed(seed)
    model = ToyMLP()
    x, y = sample_task(n, "old", torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        h = F.relu(model.fc2(F.relu(model.fc1(x)))).double()
        H = torch.cat([h, torch.ones(n, 1, dtype=torch.float64)], dim=1)
        Y = F.one_hot(y, N_CLASSES).double()
        eye = torch.eye(HIDDEN + 1, dtype=torch.float64)
        beta = torch.linalg.solve(H.T @ H + ridge * n * eye, H.T @ Y)
        model.head.weight.copy_(beta[:-1].T)
        model.head.bias.copy_(beta[-1])
    return model.eval()


@cache
def _pretrained() -> dict:
    return {k: v.detach().clone() for k, v in pretrain().state_dict().items()}


def pretrained_state() -> dict:
    """The grader's pretrained ToyMLP weights (trained once per process; a fresh copy each call)."""
    return {k: v.clone() for k, v in _pretrained().items()}


# ---------------------------------------------------------------- NF4 (as quantize.py)

NF4_LEVELS = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
])  # fmt: skip
