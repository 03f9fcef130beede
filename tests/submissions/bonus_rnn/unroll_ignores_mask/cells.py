"""Recurrent cells from scratch: the Elman RNN, the GRU (Cho et al., 2014) and the LSTM (Hochreiter and Schmidhuber, 1997).

A recurrent cell reads one input x_t (B, I) and the previous state, and
returns the next state; the same weights serve every time step. The three
cells here compute exactly what torch's nn.RNNCell, nn.GRUCell and
nn.LSTMCell compute, with their weights laid out the same way, so a cell
loaded with the weights of torch's gives the same numbers:

    weight_ih (k·H, I), weight_hh (k·H, H), bias_ih (k·H,), bias_hh (k·H,)

with k = 1 (RNN), 3 (GRU: rows r, z, n) or 4 (LSTM: rows i, f, g, o), the
gates stacked in that order along the first dimension. Each gate has two
biases (one on the input side, one on the hidden side, as cuDNN does); with
bias=False there are none (bias_ih and bias_hh are None).

Elman RNN:
    h' = tanh(W_ih x + b_ih + W_hh h + b_hh)

GRU (torch's form, the one cuDNN computes):
    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)            reset gate
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)            update gate
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))         candidate: r scales W_hn h + b_hn, bias included
    h' = (1 - z) * n + z * h                               z = 1 keeps the old state

Cho et al.'s equation (8) applies r to h BEFORE the matrix, U (r * h); the
two forms are different functions. Here, as in torch, r multiplies
(W_hn h + b_hn).

LSTM (the forget gate is Gers et al. 2000's addition to the 1997 cell):
    i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)            input gate
    f  = sigmoid(W_if x + b_if + W_hf h + b_hf)            forget gate
    g  = tanh(W_ig x + b_ig + W_hg h + b_hg)               candidate cell
    o  = sigmoid(W_io x + b_io + W_ho h + b_ho)            output gate
    c' = f * c + i * g                                     the cell state: a sum, so gradients flow along it
    h' = o * tanh(c')

Initialisation, as torch: every parameter ~ U(-1/sqrt(H), 1/sqrt(H)).
A missing state (None) is zeros of the input's dtype and device.
"""

import math

import torch
from torch import nn


class RecurrentCell(nn.Module):
    """What the three cells share: the sizes, the stacked weights, torch's initialisation.

    Subclasses set `n_gates` (k) and write `forward`.

    Attributes:
        input_size (I), hidden_size (H), bias (bool).
        weight_ih: nn.Parameter (k·H, I); weight_hh: nn.Parameter (k·H, H).
        bias_ih, bias_hh: nn.Parameter (k·H,) each, or None when bias=False
            (register them with `self.register_parameter(name, None)`, as torch does).
    """

    n_gates = 1

    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        k = self.n_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(k, input_size))
        self.weight_hh = nn.Parameter(torch.empty(k, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(k))
            self.bias_hh = nn.Parameter(torch.empty(k))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Every parameter ~ U(-1/sqrt(H), 1/sqrt(H)), in place (torch's initialisation)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def zero_state(self, x):
        """Zeros (B, H) of x's dtype and device: the state before the first step."""
        return x.new_zeros(x.shape[0], self.hidden_size)

    def projections(self, x, h):
        """The two affine maps every cell needs: (W_ih x + b_ih, W_hh h + b_hh), each (B, k·H).

        x: (B, I), h: (B, H). Without biases, just the two products.
        """
        gi = x @ self.weight_ih.T  # (B, kH)
        gh = h @ self.weight_hh.T  # (B, kH)
        if self.bias_ih is not None:
            gi, gh = gi + self.bias_ih, gh + self.bias_hh
        return gi, gh


class RNNCell(RecurrentCell):
    """The Elman cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh). Equals nn.RNNCell (nonlinearity='tanh')."""

    n_gates = 1

    def forward(self, x, h=None):
        """x: (B, I), h: (B, H) or None (zeros) -> h' (B, H)."""
        h = self.zero_state(x) if h is None else h
        gi, gh = self.projections(x, h)
        return torch.tanh(gi + gh)


class GRUCell(RecurrentCell):
    """The gated recurrent unit, gates stacked r, z, n. Equals nn.GRUCell (see the module docstring)."""

    n_gates = 3

    def forward(self, x, h=None):
        """x: (B, I), h: (B, H) or None (zeros) -> h' (B, H).

        r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r * gh_n),
        h' = (1 - z) * n + z * h, where (gi, gh) = projections(x, h), split in three along dim 1.
        """
        h = self.zero_state(x) if h is None else h
        gi, gh = self.projections(x, h)
        i_r, i_z, i_n = gi.chunk(3, dim=1)  # (B, H) each
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return (1 - z) * n + z * h


class LSTMCell(RecurrentCell):
    """The long short-term memory cell, gates stacked i, f, g, o. Equals nn.LSTMCell (see the module docstring)."""

    n_gates = 4

    def forward(self, x, state=None):
        """x: (B, I), state: a pair (h, c) of (B, H) tensors, or None (both zeros) -> (h', c').

        i, f, o = sigmoid(...), g = tanh(...) from gi + gh split in four along dim 1;
        c' = f * c + i * g, h' = o * tanh(c').
        """
        if state is None:
            state = (self.zero_state(x), self.zero_state(x))
        h, c = state
        gi, gh = self.projections(x, h)
        i, f, g, o = (gi + gh).chunk(4, dim=1)  # (B, H) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


def unroll(cell, x, state=None, mask=None):
    """Run `cell` over a sequence, one step at a time, carrying the state.

    Args:
        cell: an RNNCell, GRUCell or LSTMCell.
        x: (B, T, I), the inputs, batch first.
        state: the state before the first step: (B, H), or (h, c) for an LSTM, or None (zeros).
        mask: None, or (B, T) bool, True at the real steps. At a masked step
            (False) the state is carried unchanged: the cell's new state is
            discarded, for h and c alike. Padding at the end of a row then
            leaves that row's state as it was after its last real step.

    Returns:
        outputs: (B, T, H), outputs[:, t] = h after step t (the carried h at a masked step);
        state: the final state, (B, H), or (h, c) for an LSTM.
    With mask=None this equals torch's nn.RNN / nn.GRU / nn.LSTM (one layer,
    batch_first=True) holding the same weights.
    """
    outputs = []
    for t in range(x.shape[1]):
        new = cell(x[:, t], state)
        if False:
            keep = mask[:, t, None]  # (B, 1)
            if isinstance(new, tuple):
                old = state if state is not None else tuple(torch.zeros_like(n) for n in new)
                new = tuple(torch.where(keep, n, o) for n, o in zip(new, old))
            else:
                old = state if state is not None else torch.zeros_like(new)
                new = torch.where(keep, new, old)
        state = new
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(outputs, dim=1), state  # (B, T, H)


def init_forget_bias(cell, value=1.0):
    """Start an LSTMCell's forget gate open: its bias sums to `value` (Gers et al. 2000; Jozefowicz et al. 2015).

    Sets the forget gate's rows (H .. 2H-1) of bias_ih to `value` and of
    bias_hh to 0, in place, so that b_if + b_hf = value and the forget gate
    starts near sigmoid(value) = 0.73 for value 1: the cell remembers by
    default. Every other parameter is left as it was. Returns the cell.
    """
    H = cell.hidden_size
    with torch.no_grad():
        cell.bias_ih[H : 2 * H] = value
        cell.bias_hh[H : 2 * H] = 0.0
    return cell
