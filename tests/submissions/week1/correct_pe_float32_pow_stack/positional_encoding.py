"""CORRECT (written differently): float32 torch.pow frequencies, sin/cos interleaved via stack + flatten."""

import math

import torch


def sinusoidal_positional_encoding(max_len, d_model, device=None):
    """(max_len, d_model) table: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    pos = torch.arange(max_len, dtype=torch.float32, device=device)[:, None]  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32, device=device)  # (d_model / 2,)
    denom = torch.pow(torch.tensor(10000.0, dtype=torch.float32, device=device), two_i / d_model)
    angles = pos / denom  # (max_len, d_model / 2)
    pe = torch.stack((torch.sin(angles), torch.cos(angles)), dim=-1).flatten(start_dim=-2)
    return pe.to(torch.get_default_dtype())
