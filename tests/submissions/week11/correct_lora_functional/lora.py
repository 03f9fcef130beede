"""LoRA written with F.linear: a Gaussian lora_A, scaling as a property, a recursive inject_lora."""

import torch
from torch import nn
from torch.nn import functional as F


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        base.requires_grad_(False)
        self.base = base
        self.r, self.alpha, self.p = r, alpha, dropout
        like = base.weight
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features, dtype=like.dtype, device=like.device) / r)
        self.lora_B = nn.Parameter(like.new_zeros(base.out_features, r))
        self.merged = False

    @property
    def scaling(self):
        return self.alpha / self.r

    def delta_weight(self):
        return torch.einsum("or,ri->oi", self.lora_B, self.lora_A) * self.scaling

    def forward(self, x):
        y = F.linear(x, self.base.weight, self.base.bias)
        if self.merged:
            return y
        h = F.dropout(x, self.p, self.training)
        return y + self.scaling * F.linear(F.linear(h, self.lora_A), self.lora_B)

    def merge(self):
        if self.merged:
            return
        with torch.no_grad():
            self.base.weight.add_(self.delta_weight())
        self.merged = True

    def unmerge(self):
        if not self.merged:
            return
        with torch.no_grad():
            self.base.weight.sub_(self.delta_weight())
        self.merged = False


def matches(name, target_modules):
    parts = name.split(".")
    return any(parts[-len(t.split(".")) :] == t.split(".") for t in target_modules)


def inject_lora(model, target_modules, r, alpha, dropout=0.0):
    def visit(module, prefix):
        for child_name, child in list(module.named_children()):
            full = f"{prefix}.{child_name}" if prefix else child_name
            if isinstance(child, nn.Linear) and matches(full, target_modules):
                setattr(module, child_name, LoRALinear(child, r, alpha, dropout))
            else:
                visit(child, full)

    visit(model, "")
    for name, p in model.named_parameters():
        p.requires_grad_(name.rsplit(".", 1)[-1] in ("lora_A", "lora_B"))
    return model


def count_trainable_parameters(model):
    unique = {id(p): p for p in model.parameters() if p.requires_grad}
    return sum(p.numel() for p in unique.values())
