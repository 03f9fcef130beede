"""Visible tests for decoding.py: run `pytest test_decoding.py`."""

import math

import torch
from data import BOS, EOS, PAD
from decoding import beam_search, greedy_decode
from torch import nn


class Bigram(nn.Module):
    """A toy model: the next token depends only on the last one, by a fixed table of probabilities."""

    def __init__(self, probs):
        super().__init__()
        self.logp = torch.tensor(probs).clamp_min(1e-9).log()  # (V, V): row = last token

    def encode(self, src, src_mask=None):
        return torch.zeros(src.size(0), src.size(1), 1)

    def decode(self, tgt, memory, src_mask=None):
        return self.logp[tgt]  # (B, T, V)


# tokens: PAD 0, BOS 1, EOS 2, a 3, b 4
PROBS = [
    [0, 0, 1.0, 0, 0],  # after PAD (never used)
    [0, 0, 0.0, 0.6, 0.4],  # after BOS: a is the greedy choice
    [0, 0, 0.1, 0.5, 0.4],  # after EOS: a greedy decoder that does not stop would go on
    [0, 0, 0.4, 0.3, 0.3],  # after a
    [0, 0, 0.9, 0.05, 0.05],  # after b
]


def test_greedy_stops_and_pads_after_eos():
    out = greedy_decode(Bigram(PROBS), torch.tensor([[5, 6, EOS], [5, EOS, PAD]]), max_len=5)
    assert out.shape == (2, 6)
    assert out[0].tolist() == [BOS, 3, EOS, PAD, PAD, PAD]


def test_beam_one_is_greedy():
    tokens, score = beam_search(Bigram(PROBS), torch.tensor([5, 6, EOS]), beam_size=1, max_len=5)
    assert tokens.tolist() == [BOS, 3, EOS]
    assert math.isclose(score, math.log(0.6 * 0.4) / 2**0.6, rel_tol=1e-5)


def test_wider_beam_beats_greedy():
    # BOS b EOS has probability 0.4 * 0.9 = 0.36 > 0.6 * 0.4 = 0.24 for BOS a EOS.
    tokens, score = beam_search(Bigram(PROBS), torch.tensor([5, 6, EOS]), beam_size=2, max_len=5)
    assert tokens.tolist() == [BOS, 4, EOS]
    assert math.isclose(score, math.log(0.4 * 0.9) / 2**0.6, rel_tol=1e-5)
