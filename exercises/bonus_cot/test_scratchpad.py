"""Visible tests for scratchpad.py: run `pytest test_scratchpad.py`."""

import torch
from scratchpad import END, EQ, THINK, format_example, make_batch, parse_answer, sample_problems, show


def test_format_answer_only():
    prompt, completion = format_example([3, 5, 9], scratchpad=False)
    assert prompt == [3, 5, 9, EQ] and completion == [7, END]
    assert show(prompt + completion) == "3 5 9 = 7 ."


def test_format_scratchpad_running_totals():
    prompt, completion = format_example(torch.tensor([3, 5, 9]), scratchpad=True)
    assert prompt == [3, 5, 9, THINK]
    assert completion == [3, 8, 17, EQ, 7, END], show(completion)
    assert all(type(t) is int for t in prompt + completion), "plain ints, not tensors"
    assert format_example([0, 0], True) == ([0, 0, THINK], [0, 0, EQ, 0, END])
    assert format_example([9] * 8, True)[1] == [9, 18, 27, 36, 45, 54, 63, 72, EQ, 2, END]


def test_make_batch_masks_the_prompt():
    problems = sample_problems(4, torch.Generator().manual_seed(0))
    for scratchpad, n_completion in [(False, 2), (True, 11)]:
        idx, targets = make_batch(problems, scratchpad)
        assert idx.shape == targets.shape == (4, 8 + 1 + n_completion - 1)
        prompt, completion = format_example(problems[1], scratchpad)
        assert idx[1].tolist() == (prompt + completion)[:-1]
        labelled = targets[1][targets[1] != -100].tolist()
        assert labelled == completion, "exactly the completion tokens are targets"
        assert (targets[:, : len(prompt) - 1] == -100).all()


def test_parse_answer():
    assert parse_answer([3, 5, 9, EQ, 7, END]) == 7
    assert parse_answer([3, 5, 9, THINK, 3, 8, 17, EQ, 7, END, 4, 4]) == 7, "what follows END is ignored"
    assert parse_answer([3, 5, 9, THINK, 3, 8, 17, EQ, 7]) is None, "no END: cut off"
    assert parse_answer([3, 5, 9, THINK, 3, 8, 17, EQ, END]) is None, "no number after ="
    assert parse_answer([3, 5, 9, THINK, 3, 8, 17, 7, END]) is None, "no = before the answer"
    assert parse_answer([3, 5, 9, EQ, 1, 7, END]) is None, "two numbers after ="
    assert parse_answer(torch.tensor([3, 5, 9, THINK, 8, EQ, 23, END])) == 23
