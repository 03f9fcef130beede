"""Compute-optimal training, with the parametric optimum found numerically."""

import math

import torch

CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
TABLE_3 = [
    (400e6, 1.92e19, 8.0e9),
    (1e9, 1.21e20, 20.2e9),
    (10e9, 1.23e22, 205.1e9),
    (67e9, 5.76e23, 1.5e12),
    (175e9, 3.85e24, 3.7e12),
    (280e9, 9.90e24, 5.9e12),
    (520e9, 3.43e25, 11.0e12),
    (1e12, 1.27e26, 21.2e12),
    (10e12, 1.30e28, 216.2e12),
]
PEAK_FLOPS = {
    "V100": {"fp32": 15.7e12, "fp16": 125e12},
    "A100": {"fp32": 19.5e12, "tf32": 156e12, "bf16": 312e12, "fp16": 312e12},
    "H100": {"fp32": 67e12, "tf32": 494.7e12, "bf16": 989.4e12, "fp16": 989.4e12},
}


def training_flops(n_params, n_tokens):
    forward, backward = 2 * n_params * n_tokens, 4 * n_params * n_tokens
    return forward + backward


def chinchilla_loss(n_params, n_tokens, E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    return E + A * n_params ** (-alpha) + B * n_tokens ** (-beta)


def optimal_allocation_rule(flops, tokens_per_param=20.0):
    n_opt = (flops / 6 / tokens_per_param) ** 0.5
    d_opt = flops / (6 * n_opt)
    return n_opt, d_opt


def _argmin_log_n(flops, A, B, alpha, beta):
    """Golden-section search for ln N minimising A N^-alpha + B (C / 6N)^-beta (one budget, a float)."""

    def f(log_n):
        n = math.exp(log_n)
        return A * n ** (-alpha) + B * (flops / (6 * n)) ** (-beta)

    lo, hi = 0.0, math.log(flops / 6)  # between N = 1 and D = 1
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(200):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = f(b)
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


def optimal_allocation_parametric(flops, A=406.4, B=410.7, alpha=0.34, beta=0.28):
    if isinstance(flops, torch.Tensor):
        log_n = torch.tensor([_argmin_log_n(c, A, B, alpha, beta) for c in flops.flatten().tolist()], dtype=flops.dtype)
        n_opt = torch.exp(log_n).reshape(flops.shape)
    else:
        n_opt = math.exp(_argmin_log_n(flops, A, B, alpha, beta))
    return n_opt, flops / (6 * n_opt)


def training_cost(flops, gpu="V100", precision="fp16", mfu=0.3, n_gpus=1):
    achieved = PEAK_FLOPS[gpu][precision] * mfu  # FLOP/s per GPU
    seconds = flops / achieved
    wall_seconds = seconds / n_gpus
    return {"gpu_hours": seconds / 3600, "days": wall_seconds / 86400}


def compute_optimal_gap(n_params, n_tokens, tokens_per_param=20.0):
    flops = training_flops(n_params, n_tokens)
    n_opt, d_opt = optimal_allocation_rule(flops, tokens_per_param)
    return dict(
        flops=flops,
        tokens_per_param=n_tokens / n_params,
        n_opt=n_opt,
        d_opt=d_opt,
        oversize=n_params / n_opt,
        loss=chinchilla_loss(n_params, n_tokens),
        loss_opt=chinchilla_loss(n_opt, d_opt),
    )
