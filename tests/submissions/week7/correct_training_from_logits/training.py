"""The training step of a large model, at toy size: gradient accumulation, loss scaling, mixed precision.

GPT-3 175B was trained with batches of 3.2M tokens (Brown et al. 2020,
Table 2.1), far more than fit on one device at once. Three tricks make such
a step possible, and this module writes each of them:

1. Gradient accumulation. Split the batch into micro-batches, run forward
   and backward on each, and let the gradients add up in .grad before one
   optimizer step. The full batch's loss is the mean over ALL its labelled
   tokens, so micro-batch i, with n_i labelled tokens (targets != -100) and
   mean loss l_i, is weighted by its share of the tokens:

       loss = sum_i (n_i / n) l_i,   n = sum_i n_i,    grad = sum_i (n_i / n) grad l_i

   With k equal micro-batches the weights are 1/k; with unequal ones, 1/k is wrong.

2. Dynamic loss scaling (Micikevicius et al. 2018, section 3.2). fp16
   gradients below 2^-24 flush to zero. Multiply the loss by a scale S before
   backward (every gradient is then S times larger), divide the gradients by
   S before using them, and pick S by trial: when a gradient overflows to
   inf or NaN, skip the step and halve S; after growth_interval good steps
   in a row, double it.

3. Mixed precision with fp32 master weights. The parameters stay float32
   (they ARE the master weights); torch.autocast runs the matrix products of
   the forward pass in bfloat16 or float16, and the gradients come back
   float32. bfloat16 has float32's range and needs no scaling; float16 does.

train_step puts the three together: accumulate (with the scaled loss, under
autocast), unscale, check for overflow, clip, step, update the scale.
"""

import contextlib

import torch
from torch.nn import functional as F


def autocast(device_type, amp_dtype):
    """Given: the autocast context for "cpu" or "cuda" in amp_dtype (torch.bfloat16, torch.float16,
    or their names "bfloat16", "float16"), or a context that does nothing when amp_dtype is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    dtype = getattr(torch, amp_dtype) if isinstance(amp_dtype, str) else amp_dtype
    return torch.autocast(device_type=device_type, dtype=dtype)


def accumulate_gradients(model, micro_batches, loss_scale=1.0, amp_dtype=None):
    """Token-sum losses over the batch's labelled-token count, from the logits."""
    for p in model.parameters():
        p.grad = None
    device = next(model.parameters()).device
    n = sum(int(targets.ne(-100).sum()) for _, targets in micro_batches)
    total = None
    for idx, targets in micro_batches:
        idx, targets = idx.to(device), targets.to(device)
        if not targets.ne(-100).any():
            continue
        with autocast(device.type, amp_dtype):
            logits, _ = model(idx)
        summed = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")
        part = summed / n
        torch.autograd.backward(part * loss_scale)
        total = part.detach() if total is None else total + part.detach()
    return total


def accumulated_gradients(model, micro_batches, loss_scale=1.0, amp_dtype=None):
    """Given: accumulate_gradients, then the gradients it left in the model, by parameter name.

    Returns (loss, {name: a copy of p.grad, or None}) over model.named_parameters()
    (a tied weight appears once). The visible tests and the grader read your gradients this way.
    """
    loss = accumulate_gradients(model, micro_batches, loss_scale=loss_scale, amp_dtype=amp_dtype)
    grads = {name: None if p.grad is None else p.grad.detach().clone() for name, p in model.named_parameters()}
    return loss, grads


class DynamicLossScaler:
    """The dynamic loss scale of Micikevicius et al. (2018), section 3.2 (torch.amp.GradScaler's rule).

    scale: the current S (a Python float). good_steps: the steps in a row
    without an overflow since the scale last changed.

        backward(S * loss)  ->  found_inf = unscale_(parameters)  ->  step unless found_inf  ->  update(found_inf)
    """

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        self.scale = float(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0

    def unscale_(self, parameters):
        """Divide every gradient by the scale, in place; report an overflow.

        Args:
            parameters: an iterable of parameters; those whose .grad is None are skipped.

        Returns:
            True when any gradient holds an inf or a NaN (after unscaling), else
            False (a Python bool). The scale itself does not change here.
        """
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return False
        torch._foreach_mul_(grads, 1.0 / self.scale)
        finite = torch.stack([torch.isfinite(g).all() for g in grads]).all()
        return not bool(finite)

    def update(self, found_inf):
        """Adjust the scale after a step.

        On an overflow (found_inf True): scale *= backoff_factor and the count
        of good steps starts again from 0. Otherwise count the good step, and
        when growth_interval good steps in a row are reached, scale *=
        growth_factor and the count starts again from 0.
        """
        if found_inf:
            self.scale, self.good_steps = self.scale * self.backoff_factor, 0
        elif self.good_steps + 1 == self.growth_interval:
            self.scale, self.good_steps = self.scale * self.growth_factor, 0
        else:
            self.good_steps = self.good_steps + 1

    def state_dict(self):
        """Given: {"scale": float, "good_steps": int}."""
        return {"scale": float(self.scale), "good_steps": int(self.good_steps)}


def train_step(model, optimizer, micro_batches, scaler=None, amp_dtype=None, max_norm=None):
    """The norm and the clipping written out; the step skipped with an early return."""
    loss = accumulate_gradients(model, micro_batches, 1.0 if scaler is None else scaler.scale, amp_dtype)
    params = [p for p in model.parameters() if p.grad is not None]
    overflow = False if scaler is None else scaler.unscale_(params)
    info = {"loss": loss.item(), "grad_norm": float("inf"), "skipped": overflow}
    if not overflow:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        if max_norm is not None and norm > max_norm:
            for p in params:
                p.grad.mul_(max_norm / (norm + 1e-6))
        optimizer.step()
        info["grad_norm"] = norm.item()
    for p in params:
        p.grad = None
    if scaler is not None:
        scaler.update(overflow)
    info["scale"] = 1.0 if scaler is None else scaler.scale
    return info


def adamw(lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1):
    """Given: a make_optimizer for fit(): params -> torch.optim.AdamW(params, lr, betas, weight_decay)."""
    return lambda params: torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay)


def fit(model, batches, make_optimizer=None, scaler=None, amp_dtype=None, max_norm=None):
    """Given: a training loop, one train_step per batch.

    Args:
        model: the model to train (on its device, in its dtype).
        batches: a list of batches, each a list of micro-batches (idx, targets).
        make_optimizer: params -> optimizer (default adamw()).
        scaler, amp_dtype, max_norm: passed to every train_step.

    Returns:
        (model, history): the trained model and the list of train_step's results.
    """
    optimizer = (make_optimizer or adamw())(model.parameters())
    model.train()
    history = [train_step(model, optimizer, micro_batches, scaler, amp_dtype, max_norm) for micro_batches in batches]
    return model, history
