"""Recurrent cells, each written on its own."""

import math

import torch
from torch import nn
from torch.nn import functional as F


def _uniform_(tensor, bound):
    with torch.no_grad():
        tensor.copy_(torch.rand(tensor.shape) * (2 * bound) - bound)


class _Base(nn.Module):
    def _make(self, gates, input_size, hidden_size, bias):
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.zeros(gates * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.zeros(gates * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.zeros(gates * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.zeros(gates * hidden_size)) if bias else None
        for p in (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh):
            if p is not None:
                _uniform_(p, 1 / math.sqrt(hidden_size))


class RNNCell(_Base):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self._make(1, input_size, hidden_size, bias)

    def forward(self, x, h=None):
        if h is None:
            h = torch.zeros(x.size(0), self.hidden_size, dtype=x.dtype, device=x.device)
        return torch.tanh(F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh))


class GRUCell(_Base):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self._make(3, input_size, hidden_size, bias)

    def forward(self, x, h=None):
        H = self.hidden_size
        if h is None:
            h = torch.zeros(x.size(0), H, dtype=x.dtype, device=x.device)
        a = F.linear(x, self.weight_ih, self.bias_ih)
        b = F.linear(h, self.weight_hh, self.bias_hh)
        reset = torch.sigmoid(a[:, :H] + b[:, :H])
        update = torch.sigmoid(a[:, H : 2 * H] + b[:, H : 2 * H])
        candidate = torch.tanh(a[:, 2 * H :] + reset * b[:, 2 * H :])
        return candidate + update * (h - candidate)


class LSTMCell(_Base):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self._make(4, input_size, hidden_size, bias)

    def forward(self, x, state=None):
        if state is None:
            zeros = torch.zeros(x.size(0), self.hidden_size, dtype=x.dtype, device=x.device)
            state = (zeros, zeros)
        h, c = state
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        i, f, g, o = torch.split(pre, self.hidden_size, dim=1)
        c_next = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c_next.tanh(), c_next


def unroll(cell, x, state=None, mask=None):
    B, T, _ = x.shape
    outputs = None
    for t in range(T):
        new = cell(x[:, t], state)
        is_pair = isinstance(new, tuple)
        parts = list(new) if is_pair else [new]
        if mask is not None:
            m = mask[:, t].to(x.dtype).unsqueeze(1)
            if state is None:
                old = [torch.zeros_like(p) for p in parts]
            else:
                old = list(state) if is_pair else [state]
            parts = [m * p + (1 - m) * o for p, o in zip(parts, old)]
        state = tuple(parts) if is_pair else parts[0]
        if outputs is None:
            outputs = x.new_empty(B, T, parts[0].shape[1])
        outputs[:, t] = parts[0]
    return outputs, state


def init_forget_bias(cell, value=1.0):
    H = cell.hidden_size
    cell.bias_ih.data[H : 2 * H].fill_(value)
    cell.bias_hh.data[H : 2 * H].zero_()
    return cell
