"""LoRA with a hand-made dropout and the update formed as one matrix."""

import torch
from torch import nn


class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad = False
        if self.base.bias is not None:
            self.base.bias.requires_grad = False
        self.r = r
        self.alpha = alpha
        self.scaling = float(alpha) / float(r)
        self.p = float(dropout)
        A = torch.empty(r, base.in_features)  # the default dtype: the model is cast as a whole later
        nn.init.orthogonal_(A)
        self.lora_A = nn.Parameter(A)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.merged = False

    def delta_weight(self):
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x):
        if self.merged:
            return self.base(x)
        h = x
        if self.training and self.p > 0:
            h = x * torch.empty_like(x).bernoulli_(1 - self.p) / (1 - self.p)
        return self.base(x) + h @ self.delta_weight().T

    @torch.no_grad()
    def merge(self):
        if not self.merged:
            self.base.weight.copy_(self.base.weight + self.delta_weight())
            self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if self.merged:
            self.base.weight.copy_(self.base.weight - self.delta_weight())
            self.merged = False


def matches(name, target_modules):
    return any(name.endswith(t) for t in target_modules)  # a plain suffix (PEFT also wants a "." before it)


def inject_lora(model, target_modules, r, alpha, dropout=0.0):
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and matches(n, target_modules)]
    for name in names:
        *path, last = name.split(".")
        parent = model
        for part in path:
            parent = getattr(parent, part)
        setattr(parent, last, LoRALinear(getattr(parent, last), r, alpha, dropout))
    for name, p in model.named_parameters():
        if "lora_" not in name:
            p.requires_grad = False
    return model


def count_trainable_parameters(model):
    return sum(p.numel() for p in set(model.parameters()) if p.requires_grad)
