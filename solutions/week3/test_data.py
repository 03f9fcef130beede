"""Visible tests for data.py: run `pytest test_data.py`."""

import torch
from data import BOS, EOS, PAD, make_batch, padding_mask, vocab_size


def test_batch_layout():
    src, tgt = make_batch("copy", 8, 2, 5, 10, torch.Generator().manual_seed(0))
    assert src.shape == (8, 6) and tgt.shape == (8, 7), f"got src {tuple(src.shape)}, tgt {tuple(tgt.shape)}"
    assert (tgt[:, 0] == BOS).all(), "every tgt row starts with BOS"
    assert ((src == EOS).sum(1) == 1).all() and ((tgt == EOS).sum(1) == 1).all(), "one EOS per row"
    n = (src == EOS).int().argmax(1)  # the lengths
    assert ((2 <= n) & (n <= 5)).all()
    assert ((tgt == EOS).int().argmax(1) == n + 1).all(), "tgt's EOS follows its n digits"
    assert ((src >= 3) & (src < vocab_size(10)) | (src <= EOS)).all(), "digit d is token d + 3"


def test_reverse_and_sort_by_hand():
    for task in ("reverse", "sort"):
        src, tgt = make_batch(task, 4, 3, 3, 10, torch.Generator().manual_seed(1))  # every row has 3 digits
        x = src[:, :3]
        expected = x.flip(1) if task == "reverse" else x.sort(1).values
        assert torch.equal(tgt[:, 1:4], expected), f"{task}: tgt digits should be the {task} of src's"
        if task == "sort":
            assert all(row.unique().numel() == 3 for row in x), "a sort example's digits are distinct"
        assert (src[:, 3] == EOS).all() and (tgt[:, 4] == EOS).all()


def test_same_generator_same_batch():
    a = make_batch("sort", 5, 1, 6, 8, torch.Generator().manual_seed(3))
    b = make_batch("sort", 5, 1, 6, 8, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_padding_mask():
    tokens = torch.tensor([[5, 6, EOS, PAD], [7, EOS, PAD, PAD]])
    mask = padding_mask(tokens)
    assert mask.shape == (2, 1, 1, 4) and mask.dtype == torch.bool
    assert mask[:, 0, 0].tolist() == [[True, True, True, False], [True, True, False, False]]
