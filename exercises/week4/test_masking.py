"""Visible tests for masking.py: run `pytest test_masking.py`."""

import torch
from masking import mask_tokens

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = [PAD, CLS, SEP, MASK]


def batch(B=64, T=32, V=40):
    ids = torch.randint(4, V, (B, T))
    ids[:, 0] = CLS
    ids[:, T // 2] = SEP
    ids[:, -6] = SEP
    ids[:, -5:] = PAD
    return ids


def test_shapes_and_dtypes():
    ids = batch()
    masked, labels = mask_tokens(ids, MASK, 40, SPECIAL, torch.Generator().manual_seed(0))
    assert masked.shape == ids.shape and masked.dtype == ids.dtype
    assert labels.shape == ids.shape and labels.dtype == torch.long


def test_labels_and_untouched_positions():
    ids = batch()
    masked, labels = mask_tokens(ids, MASK, 40, SPECIAL, torch.Generator().manual_seed(1))
    chosen = labels != -100
    assert chosen.any(), "some tokens should be chosen"
    assert torch.equal(labels[chosen], ids[chosen]), "labels are the original ids at chosen positions"
    assert torch.equal(masked[~chosen], ids[~chosen]), "unchosen tokens stay as they are"


def test_special_tokens_never_chosen():
    ids = batch()
    masked, labels = mask_tokens(ids, MASK, 40, SPECIAL, torch.Generator().manual_seed(2), mlm_probability=0.9)
    special = torch.isin(ids, torch.tensor(SPECIAL))
    assert (labels[special] == -100).all(), "special and padding tokens are never chosen"
    assert torch.equal(masked[special], ids[special])


def test_rate_and_split_roughly_right():
    ids = batch(B=512)
    masked, labels = mask_tokens(ids, MASK, 40, SPECIAL, torch.Generator().manual_seed(3))
    eligible = ~torch.isin(ids, torch.tensor(SPECIAL))
    chosen = labels != -100
    rate = chosen.sum() / eligible.sum()
    assert 0.13 < rate < 0.17, f"chose {rate:.3f} of the eligible tokens, expected about 0.15"
    share_mask = (masked[chosen] == MASK).float().mean()
    assert 0.75 < share_mask < 0.85, f"{share_mask:.3f} of the chosen tokens became [MASK], expected about 0.8"


def test_reproducible_and_input_unchanged():
    ids = batch()
    copy = ids.clone()
    a = mask_tokens(ids, MASK, 40, SPECIAL, torch.Generator().manual_seed(4))
    torch.manual_seed(123)  # the global RNG must not matter
    b = mask_tokens(ids, MASK, 40, SPECIAL, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), "same generator state, same result"
    assert torch.equal(ids, copy), "input_ids must not be modified"
