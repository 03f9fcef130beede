"""Sinusoidal positional encoding (Vaswani et al., 2017, section 3.5).

Attention is permutation-invariant, so the model is told where each token is
by adding a position-dependent vector to its embedding:

    PE[pos, 2i]     = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model))

Each pair of dimensions (2i, 2i + 1) is a sinusoid whose wavelength grows
geometrically from 2*pi (i = 0) to 10000 * 2*pi. For any fixed offset k,
PE[pos + k] is a linear function (a rotation of each pair) of PE[pos].
"""

import math

import torch


def sinusoidal_positional_encoding(max_len, d_model, device=None):
    """The table of sinusoidal positional encodings.

    Args:
        max_len: number of positions, pos = 0 .. max_len - 1.
        d_model: encoding width; even.
        device: where to create the table (None means the default device).

    Returns:
        A float tensor (max_len, d_model) in the default dtype with
        PE[pos, 2i] = sin(pos / 10000^(2i/d_model)) and
        PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement sinusoidal_positional_encoding in positional_encoding.py')
