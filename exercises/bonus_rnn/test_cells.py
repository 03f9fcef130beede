"""Visible tests for cells.py: run `pytest test_cells.py`. Each cell is compared with torch's, holding the same weights."""

import torch
from cells import GRUCell, LSTMCell, RNNCell, init_forget_bias, unroll
from torch import nn


def twin(ours_cls, theirs_cls, I=5, H=7, bias=True):
    """Our cell and torch's, in float64, with the same random weights (larger than the default init)."""
    theirs = theirs_cls(I, H, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.8)
    ours = ours_cls(I, H, bias=bias).double()
    ours.load_state_dict(theirs.state_dict())  # the same names and shapes: weight_ih (k·H, I), ...
    return ours, theirs


def test_rnn_cell_equals_torch():
    for bias in (True, False):
        ours, theirs = twin(RNNCell, nn.RNNCell, bias=bias)
        x, h = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)
        torch.testing.assert_close(ours(x, h), theirs(x, h))
        torch.testing.assert_close(ours(x), theirs(x)), "a missing state is zeros"


def test_gru_cell_equals_torch():
    ours, theirs = twin(GRUCell, nn.GRUCell)
    assert ours.weight_ih.shape == (3 * 7, 5) and ours.weight_hh.shape == (3 * 7, 7), "gates r, z, n stacked"
    x, h = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64)
    torch.testing.assert_close(ours(x, h), theirs(x, h), msg="r scales (W_hn h + b_hn); h' = (1 - z) n + z h")
    torch.testing.assert_close(ours(x), theirs(x))


def test_lstm_cell_equals_torch():
    ours, theirs = twin(LSTMCell, nn.LSTMCell)
    x = torch.randn(4, 5, dtype=torch.float64)
    state = (torch.randn(4, 7, dtype=torch.float64), torch.randn(4, 7, dtype=torch.float64))
    (h, c), (h_t, c_t) = ours(x, state), theirs(x, state)
    torch.testing.assert_close(c, c_t, msg="c' = f c + i g, gates stacked i, f, g, o")
    torch.testing.assert_close(h, h_t, msg="h' = o tanh(c')")


def test_unroll_equals_torch_gru_layer():
    cell, _ = twin(GRUCell, nn.GRUCell, I=3, H=4)
    layer = nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    outputs, h = unroll(cell, x)
    expected, h_n = layer(x)
    assert outputs.shape == (2, 6, 4)
    torch.testing.assert_close(outputs, expected)
    torch.testing.assert_close(h, h_n[0])


def test_unroll_mask_keeps_the_state_through_padding():
    cell, _ = twin(LSTMCell, nn.LSTMCell, I=3, H=4)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    _, (h, c) = unroll(cell, x, mask=mask)
    _, (h_short, c_short) = unroll(cell, x[:1, :3])  # row 0 without its padding
    torch.testing.assert_close(h[:1], h_short, msg="padding must not change the state")
    torch.testing.assert_close(c[:1], c_short)


def test_init_forget_bias():
    cell = LSTMCell(3, 4)
    before = {k: v.clone() for k, v in cell.state_dict().items()}
    init_forget_bias(cell, 1.0)
    assert (cell.bias_ih[4:8] == 1).all() and (cell.bias_hh[4:8] == 0).all(), "the forget gate is rows H to 2H"
    assert torch.equal(cell.bias_ih[:4], before["bias_ih"][:4]) and torch.equal(cell.weight_ih, before["weight_ih"])
