"""Toy sequence-to-sequence tasks: reversal, copying and sorting.

Each example maps a source sequence of n digits (1 <= min_len <= n <=
max_len) to a target sequence of n digits:

    copy:     y = x
    reverse:  y = x read backwards
    sort:     y = the digits of x in ascending order

Token ids (fixed for the whole week):

    PAD = 0, BOS = 1, EOS = 2, and digit d (0 <= d < n_digits) is token d + 3,

so the vocabulary has n_digits + 3 tokens and is shared by source and target.
A batch is a pair of padded tensors:

    src: (B, max_len + 1)   x_1 ... x_n EOS PAD ... PAD
    tgt: (B, max_len + 2)   BOS y_1 ... y_n EOS PAD ... PAD

The decoder reads tgt[:, :-1] and is trained to predict tgt[:, 1:] (teacher
forcing); PAD targets are ignored by the loss.

Masks are boolean and True where attending is allowed (the Week 1
convention): the source padding mask hides PAD keys from every query. The
decoder's self-attention is causal (see transformer.py): a real target
position never sees the PAD positions after it.
"""

import torch

PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3
TASKS = ("copy", "reverse", "sort")


def vocab_size(n_digits):
    """Number of token ids: the specials plus one per digit."""
    return n_digits + N_SPECIAL


def make_batch(task, batch_size, min_len, max_len, n_digits, generator=None, device=None):
    """A random batch of one task.

    Draws each example's length n uniformly from [min_len, max_len] and its
    digits uniformly from [0, n_digits), using only `generator` for
    randomness (so the same seeded generator gives the same batch).

    Args:
        task: "copy", "reverse" or "sort".
        batch_size: B.
        min_len, max_len: the range of lengths n (inclusive).
        n_digits: digits are 0 .. n_digits - 1, tokens 3 .. n_digits + 2.
        generator: a torch.Generator (None: torch's global one).
        device: where to put the tensors.

    Returns:
        src: (B, max_len + 1) long, x_1..x_n EOS then PAD.
        tgt: (B, max_len + 2) long, BOS y_1..y_n EOS then PAD.
    """
    lengths = torch.randint(min_len, max_len + 1, (batch_size, 1), generator=generator)  # (B, 1)
    if task == "sort":  # distinct digits: the first max_len of a random permutation
        if n_digits < max_len:
            raise ValueError(f"sort draws distinct digits: n_digits ({n_digits}) must be >= max_len ({max_len})")
        digits = torch.rand(batch_size, n_digits, generator=generator).argsort(dim=1)[:, :max_len]  # (B, max_len)
    else:
        digits = torch.randint(0, n_digits, (batch_size, max_len), generator=generator)  # (B, max_len)
    pos = torch.arange(max_len).expand(batch_size, max_len)  # (B, max_len)
    real = pos < lengths  # (B, max_len), True at the n real digits
    if task == "copy":
        y = digits
    elif task == "reverse":
        y = digits.flip(1)
    elif task == "sort":
        y = digits.masked_fill(~real, n_digits).sort(dim=1).values  # padding sorts last
    else:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    x = torch.where(real, digits + N_SPECIAL, PAD)
    y = torch.where(real, y + N_SPECIAL, PAD)
    src = torch.cat([x, torch.full((batch_size, 1), PAD)], dim=1)  # (B, max_len + 1)
    src.scatter_(1, lengths, EOS)
    tgt = torch.cat([torch.full((batch_size, 1), BOS), y, torch.full((batch_size, 1), PAD)], dim=1)  # (B, max_len + 2)
    tgt.scatter_(1, lengths + 1, EOS)
    return src.to(device), tgt.to(device)


def padding_mask(tokens, pad_id=PAD):
    """The key padding mask of a batch of token ids.

    Args:
        tokens: (B, L) long.
        pad_id: the padding token.

    Returns:
        (B, 1, 1, L) bool, True at real (non-PAD) tokens: broadcasts over
        heads and queries in MultiHeadAttention.
    """
    return (tokens != pad_id)[:, None, None, :]

