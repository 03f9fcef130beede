"""Hidden checks for scratchpad.py: the two formats, the loss mask, and the answer parser.

Expected values come from the grader's own copy of the task
(coursekit.grading.bonus_cot_toys), on random problems of every length and
on the edge cases: one term, all zeros, all nines, totals past 9.
"""

import torch

from coursekit.grading import bonus_cot_toys as toys
from coursekit.grading.checks import expect_tensor, fail

EQ, END, THINK = toys.EQ, toys.END, toys.THINK
EDGE = [[0], [7], [0] * 8, [9] * 8, [9, 1], [5, 5, 0], [1, 2, 3, 4], [0, 0, 0, 9, 9, 9, 9, 9]]


def problems(gen):
    """Edge cases, then random problems of each length 1 .. N_TERMS."""
    cases = [list(p) for p in EDGE]
    for k in range(1, toys.N_TERMS + 1):
        cases += toys.sample_problems(2, gen, k).tolist()
    return cases


def check_format(student, gen, scratchpad):
    what = "scratchpad" if scratchpad else "answer-only"
    for i, terms in enumerate(problems(gen)):
        arg = torch.tensor(terms) if i % 2 else terms  # a list or a 1-D tensor
        out = student.call("scratchpad.format_example", arg, scratchpad)["outputs"]
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail("format_example should return (prompt, completion)")
        prompt, completion = out
        for name, part in (("prompt", prompt), ("completion", completion)):
            if not isinstance(part, list) or not all(type(t) is int for t in part):
                fail(f"the {name} should be a list of ints, got {type(part).__name__}")
        expected = toys.format_example(terms, scratchpad)
        if prompt != expected[0]:
            fail(f"{what} prompt of {toys_show(terms)}: got {toys_show(prompt)}, expected {toys_show(expected[0])}")
        if completion != expected[1]:
            fail(
                f"{what} completion of {toys_show(terms)}: got {toys_show(completion)}, "
                f"expected {toys_show(expected[1])}"
            )


def toys_show(tokens):
    names = {THINK: ":", EQ: "=", END: "."}
    return "'" + " ".join(names.get(t, str(t)) for t in tokens) + "'"


def test_format_answer_only(student, gen):
    check_format(student, gen, scratchpad=False)


def test_format_scratchpad(student, gen):
    check_format(student, gen, scratchpad=True)


def test_make_batch_mask(student, gen):
    for scratchpad in (False, True):
        for n, k in [(5, toys.N_TERMS), (3, 3), (2, 1)]:
            batch = toys.sample_problems(n, gen, k)
            answer = student.call("scratchpad.make_batch", batch, scratchpad, return_inputs=True)
            if answer.get("inputs_changed"):
                fail("make_batch changed the problems it was given")
            out = answer["outputs"]
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                fail("make_batch should return (idx, targets)")
            exp_idx, exp_targets = toys.make_batch(batch, scratchpad)
            case = f"{'scratchpad' if scratchpad else 'answer-only'}, {k} term{'s' if k > 1 else ''}"
            idx = expect_tensor(out[0], "idx", shape=exp_idx.shape, dtype=torch.long)
            targets = expect_tensor(out[1], "targets", shape=exp_targets.shape, dtype=torch.long)
            if not torch.equal(idx, exp_idx):
                fail(f"idx should be each row's prompt and completion without its last token [{case}]")
            if not torch.equal(targets != -100, exp_targets != -100):
                got = (targets[0] != -100).nonzero().flatten().tolist()
                want = (exp_targets[0] != -100).nonzero().flatten().tolist()
                fail(f"the targets at positions {got} are trained on; expected exactly {want}: the completion [{case}]")
            if not torch.equal(targets, exp_targets):
                fail(f"each target should be the next token of the sequence [{case}]")


PARSE_CASES = [  # (tokens, expected answer)
    ([3, 5, 9, EQ, 7, END], 7),
    ([3, 5, 9, THINK, 3, 8, 17, EQ, 7, END], 7),
    ([3, 5, 9, THINK, 3, 8, 17, EQ, 7, END, 4, EQ, 2, END], 7),  # after the first END: ignored
    ([3, 5, 9, THINK, 3, 8, 17, EQ, 7], None),  # cut off
    ([3, 5, 9, THINK, 3, 8, 17, EQ, END], None),
    ([3, 5, 9, THINK, 3, 8, 17, 7, END], None),  # no EQ
    ([3, 5, 9, EQ, 1, 7, END], None),  # two numbers
    ([3, 5, 9, EQ, THINK, END], None),
    ([3, 5, 9, EQ, EQ, END], None),
    ([3, 5, 9, THINK, END, EQ, 7, END], None),  # the first END comes first
    ([END], None),
    ([], None),
    ([EQ, 0, END], 0),
    ([3, 5, THINK, 3, EQ, 6, EQ, 8, END], 8),  # the EQ right before the number counts
    ([2, 2, EQ, 72, END, END], 72),
    ([9, EQ, 4, END, 3, END], 4),
]


def test_parse_answer(student, gen):
    for i, (tokens, expected) in enumerate(PARSE_CASES):
        arg = torch.tensor(tokens, dtype=torch.long) if i % 3 == 1 else tokens
        got = student.call("scratchpad.parse_answer", arg)["outputs"]
        if got is not None and type(got) is not int:
            fail(f"parse_answer should return an int or None, got {type(got).__name__}")
        if got != expected:
            fail(f"parse_answer({toys_show(tokens)}) returned {got}, expected {expected}")
