"""Hostile: asks for 50 GB, 1 GiB at a time, then returns the right table.

bytes(n) is calloc'd, so the pages are never touched: without a memory limit
this succeeds (and would earn full marks) without using the machine's RAM;
with one it ends in MemoryError.
"""

import math

import torch


def sinusoidal_positional_encoding(max_len, d_model, device=None):
    hog = [bytes(2**30) for _ in range(50)]
    pos = torch.arange(max_len, dtype=torch.float64, device=device).unsqueeze(1)
    inv_freq = torch.exp(
        -math.log(10000.0)
        * torch.arange(0, d_model, 2, dtype=torch.float64, device=device)
        / d_model
    )
    pe = torch.zeros(max_len, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(pos * inv_freq)
    pe[:, 1::2] = torch.cos(pos * inv_freq)
    del hog
    return pe.to(torch.get_default_dtype())
