"""The recipe, written differently."""

import math

import torch


def configure_optimizer(model, weight_decay, learning_rate, betas=(0.9, 0.95), eps=1e-8):
    decay, no_decay, seen = [], [], set()
    for _, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 else no_decay).append(p)
    return torch.optim.AdamW(
        [dict(params=decay, weight_decay=weight_decay), dict(params=no_decay, weight_decay=0.0)],
        lr=learning_rate, betas=betas, eps=eps,
    )  # fmt: skip


def cosine_lr(step, max_lr, min_lr, warmup_steps, max_steps):
    if step < warmup_steps:
        return (step + 1) / warmup_steps * max_lr
    if step > max_steps or max_steps == warmup_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return max_lr - (max_lr - min_lr) * (1 - math.cos(math.pi * progress)) / 2


def clip_grad_norm(parameters, max_norm):
    params = [parameters] if torch.is_tensor(parameters) else list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    if len(grads) == 0:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g *= scale
    return total
