"""Visible tests for positional_encoding.py: run `pytest test_positional_encoding.py`."""

import math

import torch

from positional_encoding import sinusoidal_positional_encoding


def test_pe_shape():
    pe = sinusoidal_positional_encoding(max_len=50, d_model=16)
    assert pe.shape == (50, 16), f"got shape {tuple(pe.shape)}, expected (max_len, d_model)"


def test_pe_position_zero():
    # sin(0) = 0 in the even columns, cos(0) = 1 in the odd ones.
    pe = sinusoidal_positional_encoding(max_len=4, d_model=8)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))


def test_pe_small_case_by_hand():
    pe = sinusoidal_positional_encoding(max_len=3, d_model=4)
    # Column pair i = 1 has frequency 1 / 10000^(2/4) = 1/100.
    expected_pos2 = torch.tensor([math.sin(2.0), math.cos(2.0), math.sin(0.02), math.cos(0.02)])
    torch.testing.assert_close(pe[2], expected_pos2)
