"""Hidden checks for decoding.py, on a table-driven toy model (coursekit.grading.week3_toys).

The toy's next-token log-probabilities are known exactly in the grader's
process, so the best sequence under the length-normalised score is found by
enumerating every hypothesis.
"""

import math

import torch

from coursekit.grading.checks import expect_tensor, fail
from coursekit.grading.week3_toys import TableModel

TOY = "coursekit.grading.week3_toys.TableModel"
PAD, BOS, EOS = 0, 1, 2
V = 6  # PAD, BOS, EOS and tokens 3, 4, 5

# The greedy choice (3, then EOS) is worse than 4 then EOS.
GREEDY_TRAP = {
    "": [0, 0, 0.0, 0.55, 0.45, 0.0],
    "3": [0, 0, 0.34, 0.33, 0.33, 0.0],
    "4": [0, 0, 0.98, 0.01, 0.01, 0.0],
}
# The raw sum of log-probabilities prefers stopping at once (EOS); the normalised score prefers 3, 3, EOS.
LENGTH_TRAP = {
    "": [0, 0, 0.3, 0.7, 0.0, 0.0],
    "3": [0, 0, 0.4, 0.6, 0.0, 0.0],
    "3,3": [0, 0, 0.6, 0.4, 0.0, 0.0],
}


def toy_kwargs(seed, table=None, scale=1.5, eos_bias=0.5):
    return {"vocab_size": V, "seed": seed, "table": table or {}, "scale": scale, "eos_bias": eos_bias}


def enumerate_best(model, source, max_len, alpha):
    """(tokens with BOS, score) of the best finished hypothesis, and the runner-up's score."""
    scored = []

    def walk(prefix, total):
        for token in range(EOS, V):
            logp = total + model.log_probs(source, tuple(prefix))[token].item()
            seq = prefix + [token]
            if token == EOS or len(seq) == max_len:
                scored.append((logp / len(seq) ** alpha, seq))
            else:
                walk(seq, logp)

    walk([], 0.0)
    scored.sort(key=lambda s: -s[0])
    (best, seq), (second, _) = scored[0], scored[1]
    return torch.tensor([BOS, *seq]), best, second


def student_beam(student, kwargs, src, beam_size, max_len, alpha=None):
    extra = {} if alpha is None else {"alpha": alpha}
    answer = student.call("decoding.beam_search", student.obj(TOY, **kwargs), src, beam_size, max_len, **extra)
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail("beam_search should return a pair (tokens, score)")
    tokens = expect_tensor(out[0], "beam_search tokens", dtype=torch.long)
    if tokens.dim() != 1:
        fail(f"beam_search tokens should be 1-D (m + 1,), got shape {tuple(tokens.shape)}")
    score = out[1]
    if isinstance(score, torch.Tensor) and score.numel() == 1:
        score = float(score)
    if type(score) not in (int, float):
        fail(f"beam_search score should be a number, got {type(score).__name__}")
    return tokens.cpu(), float(score)


def expect_hypothesis(tokens, score, exp_tokens, exp_score, case):
    if not torch.equal(tokens, exp_tokens):
        fail(f"beam_search returned {tokens.tolist()}, expected {exp_tokens.tolist()} [{case}]")
    if not math.isclose(score, exp_score, rel_tol=1e-7, abs_tol=1e-9):
        fail(f"beam_search's score is {score:.6g}, expected the length-normalised {exp_score:.6g} [{case}]")


def sources(gen, B, S):
    src = torch.randint(3, V, (B, S), generator=gen)
    src[:, 0] = torch.randperm(B, generator=gen) + 3  # distinct first tokens: distinct tables per row
    for b in range(B):
        n = int(torch.randint(1, S, (1,), generator=gen))
        src[b, n], src[b, n + 1 :] = EOS, PAD
    return src


def test_greedy_decode(student, ref, gen):
    for seed, eos_bias, max_len in [(1, 0.0, 6), (2, 1.0, 5), (3, 4.0, 7)]:
        kwargs = toy_kwargs(seed, eos_bias=eos_bias)
        src = sources(gen, 5, 5)
        expected = ref.decoding.greedy_decode(TableModel(**kwargs), src, max_len)
        answer = student.call("decoding.greedy_decode", student.obj(TOY, **kwargs), src, max_len, BOS, EOS)
        got = expect_tensor(answer["outputs"], "greedy_decode output", shape=(5, max_len + 1), dtype=torch.long).cpu()
        case = f"table {seed}, max_len={max_len}"
        if (got[:, 0] != BOS).any():
            fail(f"greedy_decode rows should start with BOS [{case}]")
        for b in range(got.size(0)):
            eos = (got[b] == EOS).nonzero().flatten()
            if eos.numel() and (got[b, eos[0] + 1 :] != PAD).any():
                fail(f"after EOS a row should hold only PAD [{case}]")
        if not torch.equal(got, expected):
            fail(f"greedy_decode's tokens differ from the argmax sequence [{case}]")


def test_beam_one_is_greedy(student, ref, gen):
    for seed, table in [(4, None), (5, None), (6, GREEDY_TRAP)]:
        kwargs = toy_kwargs(seed, table)
        src = sources(gen, 3, 4)
        greedy = ref.decoding.greedy_decode(TableModel(**kwargs), src, 5)
        model = TableModel(**kwargs)
        for b in range(src.size(0)):
            row = greedy[b]
            eos = (row == EOS).nonzero().flatten()
            row = row[: int(eos[0]) + 1] if eos.numel() else row
            logp = sum(model.log_probs(int(src[b, 0]), tuple(row[1 : t + 1].tolist()))[row[t + 1]].item() for t in range(len(row) - 1))
            exp_score = logp / (len(row) - 1) ** 0.6
            tokens, score = student_beam(student, kwargs, src[b], 1, 5)
            expect_hypothesis(tokens, score, row, exp_score, f"beam_size=1, table {seed}, source {b}")


def test_beam_search_exact(student, gen):
    cases = [  # seed, table, max_len, alpha
        (10, GREEDY_TRAP, 3, 0.6),
        (11, LENGTH_TRAP, 3, 0.6),
        (11, LENGTH_TRAP, 3, 0.0),
        (12, None, 4, 0.6),
        (13, None, 4, 1.0),
        (14, None, 3, 0.6),
    ]
    for seed, table, max_len, alpha in cases:
        kwargs = toy_kwargs(seed, table, eos_bias=0.0)
        src = torch.tensor([3 + seed % 3, 4, EOS, PAD])
        exp_tokens, exp_score, second = enumerate_best(TableModel(**kwargs), int(src[0]), max_len, alpha)
        assert exp_score - second > 1e-6, "grader: the toy's best sequence should be unique"
        tokens, score = student_beam(student, kwargs, src, 1000, max_len, alpha=alpha)
        name = "greedy-trap table" if table is GREEDY_TRAP else "length-trap table" if table is LENGTH_TRAP else f"random table {seed}"
        expect_hypothesis(tokens, score, exp_tokens, exp_score, f"wide beam, {name}, max_len={max_len}, alpha={alpha}")


def test_beam_search_matches_reference(student, ref, gen):
    cases = [(20, 2, 5, 0.6), (21, 3, 5, 0.6), (22, 2, 6, 1.0), (23, 4, 4, 0.6), (24, 3, 6, 0.3)]
    for seed, beam_size, max_len, alpha in cases:
        kwargs = toy_kwargs(seed, eos_bias=0.3)
        src = torch.tensor([3 + seed % 3, 5, 4, EOS])
        exp_tokens, exp_score = ref.decoding.beam_search(TableModel(**kwargs), src, beam_size, max_len, alpha=alpha)
        tokens, score = student_beam(student, kwargs, src, beam_size, max_len, alpha=alpha)
        expect_hypothesis(tokens, score, exp_tokens, exp_score, f"beam_size={beam_size}, random table {seed}, max_len={max_len}, alpha={alpha}")
