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


def autocast(device_type, amp_dtype):
    """Given: the autocast context for "cpu" or "cuda" in amp_dtype (torch.bfloat16, torch.float16,
    or their names "bfloat16", "float16"), or a context that does nothing when amp_dtype is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    dtype = getattr(torch, amp_dtype) if isinstance(amp_dtype, str) else amp_dtype
    return torch.autocast(device_type=device_type, dtype=dtype)


def accumulate_gradients(model, micro_batches, loss_scale=1.0, amp_dtype=None):
    """Backward passes over micro-batches that leave in .grad the gradient of the whole batch's mean loss.

    Args:
        model: a GPT, or any module with model(idx, targets) -> (logits, loss)
            where loss is the mean cross-entropy over the positions whose
            target is not -100.
        micro_batches: a list of (idx, targets) pairs of (b_i, T) long
            tensors; the b_i may differ, and targets may hold -100.
        loss_scale: S: backward runs on S times the loss (see DynamicLossScaler);
            the gradients left in .grad are then S times the true ones.
        amp_dtype: None, or the autocast dtype of the forward passes (see autocast()).

    Returns:
        The full batch's mean loss sum_i (n_i / n) l_i, unscaled, as a 0-dim
        tensor without grad. Afterwards every parameter's .grad holds
        S * sum_i (n_i / n) grad l_i, n_i the labelled tokens of micro-batch
        i, n their sum. Clear the old gradients first (set them to None):
        the result must not depend on what .grad held before. A micro-batch
        with no labelled token carries no loss: skip it. Run one micro-batch
        at a time: the model may refuse more rows than the largest micro-batch.
    """
    device = next(model.parameters()).device
    model.zero_grad(set_to_none=True)
    counts = [int((targets != -100).sum()) for _, targets in micro_batches]
    n = sum(counts)
    total = torch.zeros((), device=device)
    for (idx, targets), n_i in zip(micro_batches, counts):
        if n_i == 0:
            continue
        with autocast(device.type, amp_dtype):
            _, loss = model(idx.to(device), targets.to(device))
        (loss * (loss_scale * n_i / n)).backward()
        total = total + loss.detach() * (n_i / n)
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
        inv_scale = 1.0 / self.scale
        found_inf = False
        for p in parameters:
            if p.grad is None:
                continue
            p.grad.mul_(inv_scale)
            found_inf = found_inf or not bool(torch.isfinite(p.grad).all())
        return found_inf

    def update(self, found_inf):
        """Adjust the scale after a step.

        On an overflow (found_inf True): scale *= backoff_factor and the count
        of good steps starts again from 0. Otherwise count the good step, and
        when growth_interval good steps in a row are reached, scale *=
        growth_factor and the count starts again from 0.
        """
        if found_inf:
            self.scale *= self.backoff_factor
            self.good_steps = 0
            return
        self.good_steps += 1
        if self.good_steps >= self.growth_interval:
            self.scale *= self.growth_factor
            self.good_steps = 0

    def state_dict(self):
        """Given: {"scale": float, "good_steps": int}."""
        return {"scale": float(self.scale), "good_steps": int(self.good_steps)}


def train_step(model, optimizer, micro_batches, scaler=None, amp_dtype=None, max_norm=None):
    """One optimizer step on a batch given as micro-batches, in mixed precision if asked.

    Args:
        model: a float32 (or float64) model as in accumulate_gradients. Its
            parameters are the master weights: never cast them to half.
        optimizer: a torch optimizer over model.parameters().
        micro_batches: as in accumulate_gradients.
        scaler: a DynamicLossScaler, or None for no loss scaling.
        amp_dtype: None (no autocast), torch.bfloat16 / torch.float16 or their names.
        max_norm: None, or clip the total 2-norm of the gradients to it
            (torch.nn.utils.clip_grad_norm_ is allowed).

    Returns:
        {"loss": float, the full batch's mean loss (unscaled);
         "grad_norm": float, the total 2-norm of the true (unscaled) gradients
             before clipping; float("inf") on a skipped step;
         "skipped": bool, True when an overflow skipped the step;
         "scale": float, the scaler's scale after its update (1.0 without a scaler)}.

    In order: accumulate_gradients with loss_scale = the scaler's scale;
    unscale the gradients (scaler.unscale_) BEFORE clipping or measuring them;
    on an overflow, leave the parameters and the optimizer untouched (no
    optimizer.step(), so Adam's state and step count do not move); else clip
    and step. Then scaler.update(found_inf), and clear the gradients.
    """
    scale = scaler.scale if scaler is not None else 1.0
    loss = accumulate_gradients(model, micro_batches, loss_scale=scale, amp_dtype=amp_dtype)
    params = [p for p in model.parameters() if p.grad is not None]
    found_inf = scaler.unscale_(params) if scaler is not None else False
    grad_norm = float("inf")
    if found_inf:
        for p in params:
            p.grad.zero_()
        optimizer.step()
    else:
        limit = float("inf") if max_norm is None else max_norm
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, limit))
        optimizer.step()
    if scaler is not None:
        scaler.update(found_inf)
    optimizer.zero_grad(set_to_none=True)
    return {
        "loss": float(loss),
        "grad_norm": grad_norm,
        "skipped": bool(found_inf),
        "scale": scaler.scale if scaler is not None else 1.0,
    }


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
