"""The GPT-2 training recipe: AdamW with selective weight decay, warmup + cosine learning rate, gradient clipping.

AdamW (Loshchilov & Hutter, 2019) *decouples* weight decay from the
gradient: after Adam's update, every decayed parameter shrinks by
lr * weight_decay * theta, whatever its gradient history, instead of adding
weight_decay * theta to the gradient (L2), which Adam would rescale per
parameter. Only the matrices decay (Linear weights, the embeddings): biases
and LayerNorm gains are 1-D, few, and pulling a gain towards 0 only hurts.

The learning rate at optimizer step `step` (0-based):

    step <  warmup_steps:              max_lr * (step + 1) / warmup_steps           (linear warmup)
    warmup_steps <= step <= max_steps: min_lr + (max_lr - min_lr) * (1 + cos(pi * r)) / 2,
                                       r = (step - warmup_steps) / (max_steps - warmup_steps)
    step >  max_steps:                 min_lr

so it is max_lr at step warmup_steps (and at step warmup_steps - 1, the last
warmup step), min_lr at max_steps and after. When max_steps == warmup_steps
there is no cosine part: min_lr from step warmup_steps on.

Gradient clipping rescales all gradients together, by one factor, when
their global L2 norm ||g|| = sqrt(sum over every gradient entry of g^2)
exceeds max_norm:

    g <- g * min(1, max_norm / (||g|| + 1e-6))
"""

import math

import torch


def configure_optimizer(model, weight_decay, learning_rate, betas=(0.9, 0.95), eps=1e-8):
    """torch.optim.AdamW over model's parameters, in two groups.

    Args:
        model: an nn.Module (a GPT: its tied lm_head/wte weight is one parameter).
        weight_decay: the decoupled decay of the first group.
        learning_rate, betas, eps: AdamW's, the same for both groups.

    Returns:
        AdamW with param_groups[0] = every parameter with dim >= 2 (weight_decay),
        param_groups[1] = every parameter with dim < 2, biases and LayerNorm
        weights (weight_decay 0.0). Each parameter appears exactly once, and
        only those with requires_grad. On CUDA, use fused=True (one kernel for all parameters).
    """
    params = [p for p in model.parameters() if p.requires_grad]  # parameters() lists a tied one once
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = bool(params) and params[0].device.type == "cuda"
    return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, fused=fused)


def cosine_lr(step, max_lr, min_lr, warmup_steps, max_steps):
    """The learning rate at optimizer step `step` (0-based), as a float: see the module docstring."""
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    ratio = (step - warmup_steps) / (max_steps - warmup_steps)  # 0 -> 1
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)


def clip_grad_norm(parameters, max_norm):
    """Clip the gradients of `parameters` in place to a global L2 norm of at most max_norm.

    Args:
        parameters: an iterable of tensors (model.parameters(): a generator,
            so read it once) or a single tensor; those whose .grad is None are skipped.
        max_norm: the largest global norm allowed.

    Returns:
        The global norm of the gradients BEFORE clipping, a 0-d tensor
        (tensor(0.) when no parameter has a gradient). Every gradient is
        multiplied by clamp(max_norm / (norm + 1e-6), max=1), computed as a
        tensor: nothing changes when the norm is below max_norm. As
        torch.nn.utils.clip_grad_norm_ does by default, an inf or NaN norm is
        returned as it is and the gradients are multiplied all the same (by 0
        for inf, giving NaN where a gradient was inf; by NaN for NaN): a
        training loop should skip the step when the norm is not finite.
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g) for g in grads])  # (n,): one per tensor
    total_norm = torch.linalg.vector_norm(norms)  # sqrt of the sum of every squared entry
    clip_coef = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)
    for g, n in zip(grads, norms):
        g.mul_((max_norm / (n + 1e-6)).clamp(max=1.0))
    return total_norm
