"""CORRECT (written differently): the table is built with numpy, then converted with torch.from_numpy."""

import math

import numpy as np
import torch


def sinusoidal_positional_encoding(max_len, d_model, device=None):
    """(max_len, d_model) table: PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    two_i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
    angles = pos / np.power(10000.0, two_i / d_model)
    table = np.zeros((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    return torch.from_numpy(table).to(device=device, dtype=torch.get_default_dtype())
