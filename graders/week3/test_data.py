"""Hidden checks for data.py: the toy tasks' batches and the padding mask."""

import torch

from coursekit.grading.checks import expect_tensor, fail

PAD, BOS, EOS, N_SPECIAL = 0, 1, 2, 3
GENERATOR = "coursekit.grading.week3_toys.generator"
TARGETS = {
    "copy": lambda x: x,
    "reverse": lambda x: x.flip(0),
    "sort": lambda x: x.sort().values,
}


def batch(student, task, B, min_len, max_len, n_digits, seed):
    answer = student.call("data.make_batch", task, B, min_len, max_len, n_digits, student.obj(GENERATOR, seed))
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail("make_batch should return a pair (src, tgt)")
    src = expect_tensor(out[0], "src", shape=(B, max_len + 1), dtype=torch.long)
    tgt = expect_tensor(out[1], "tgt", shape=(B, max_len + 2), dtype=torch.long)
    return src, tgt


def test_data_batches(student):
    for task, (min_len, max_len, n_digits) in {"copy": (1, 6, 8), "reverse": (2, 5, 10), "sort": (1, 7, 9)}.items():
        case = f"task={task}, lengths {min_len}..{max_len}, {n_digits} digits"
        src, tgt = batch(student, task, 300, min_len, max_len, n_digits, seed=7)
        lengths = []
        for b in range(src.size(0)):
            eos = (src[b] == EOS).nonzero().flatten().tolist()
            if len(eos) != 1:
                fail(f"each src row should hold exactly one EOS, a row holds {len(eos)} [{case}]")
            n = eos[0]
            lengths.append(n)
            x = src[b, :n]
            if not (min_len <= n <= max_len):
                fail(f"a src row has {n} digits, outside {min_len}..{max_len} [{case}]")
            if ((x < N_SPECIAL) | (x >= N_SPECIAL + n_digits)).any():
                fail(f"src digits should be tokens {N_SPECIAL}..{N_SPECIAL + n_digits - 1} before EOS [{case}]")
            if (src[b, n + 1 :] != PAD).any():
                fail(f"src should hold PAD after EOS [{case}]")
            if tgt[b, 0] != BOS:
                fail(f"tgt rows should start with BOS [{case}]")
            if task == "sort" and x.unique().numel() != n:
                fail(f"the digits of a sort example should be distinct [{case}]")
            if not torch.equal(tgt[b, 1 : n + 1], TARGETS[task](x)):
                fail(f"tgt's digits are not the {task} of src's digits [{case}]")
            if tgt[b, n + 1] != EOS or (tgt[b, n + 2 :] != PAD).any():
                fail(f"tgt should be BOS, the n target digits, EOS, then PAD [{case}]")
        if set(lengths) != set(range(min_len, max_len + 1)):
            fail(f"over 300 examples the lengths {sorted(set(lengths))} do not cover {min_len}..{max_len} [{case}]")
        digits = src[(src >= N_SPECIAL)] - N_SPECIAL
        counts = torch.bincount(digits, minlength=n_digits).double()
        if counts.min() < 0.5 * counts.mean():
            fail(f"the digits are not drawn uniformly from 0..{n_digits - 1} [{case}]")
        again = batch(student, task, 300, min_len, max_len, n_digits, seed=7)
        if not (torch.equal(again[0], src) and torch.equal(again[1], tgt)):
            fail(f"the same seeded generator should give the same batch [{case}]")
        other = batch(student, task, 300, min_len, max_len, n_digits, seed=8)
        if torch.equal(other[0], src):
            fail(f"different seeds gave the same batch: draw the randomness from `generator` [{case}]")


def test_data_padding_mask(student, ref, gen):
    for B, L, pad_id in [(3, 7, 0), (2, 5, 4), (1, 1, 0)]:
        tokens = torch.randint(0, 6, (B, L), generator=gen)
        kwargs = {} if pad_id == 0 else {"pad_id": pad_id}
        got = student.call("data.padding_mask", tokens, **kwargs)["outputs"]
        expected = ref.data.padding_mask(tokens, pad_id)
        expect_tensor(got, "padding_mask", shape=(B, 1, 1, L), dtype=torch.bool)
        if not torch.equal(got.cpu(), expected):
            fail(f"padding_mask should be True exactly at the non-PAD tokens [pad_id={pad_id}]")
