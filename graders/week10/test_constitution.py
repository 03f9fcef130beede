"""Hidden checks for constitution.py: each principle, the violations, task success, the critique-and-revision loop.

Every answer is compared with the reference solution's on edge cases (empty
responses, no EOS, several EOS, runs of every length, forbidden words after
the EOS, responses already clean, several violations at once) and on random
responses. The loop and the violations are also run with constitutions the
grader makes in the submission's process (coursekit.grading.week10_toys.
grader_constitution): other orders, subsets, principles the submission has
never seen, one that never stops critiquing.
"""

import torch

from coursekit.grading import week10_toys as toys
from coursekit.grading.checks import fail
from coursekit.grading.wire import Unsendable

EOS, REDACT = toys.EOS, toys.REDACT
W = [4, 5, 6, 7]  # some allowed words

EDGE = [
    [],
    [EOS],
    [EOS, EOS],
    [EOS, EOS, EOS],
    [14],
    [15, 15, 15, EOS],
    [4, 4, EOS],
    [4, 4, 4],
    [REDACT, REDACT, REDACT, EOS],
    [4, 14, 5, 15, EOS],
    [4, 5, EOS, 14, 14, 14],
    [4, EOS, 5, EOS],
    [EOS, 4],
    [4, 5, 6, 7, 4, 5, 6, EOS],  # MAX_LEN tokens exactly
    [4, 5, 6, 7, 4, 5, 6, 7, EOS],  # one more
    [4, 5, 6, 7, 4, 5, 6, 7, 4],  # too long, no EOS
    [4, 5, 6, 7, 4, 5, 6, 7, 6, 5, 4, EOS],
    [14, 14, 14, 14, 4, 4, 4, 4, 4, EOS, EOS, EOS],  # everything at once
    [5, 5, 6, 6, 7, 7, EOS],
    [7, 7, 7, 7, 7, 7, 7, 7, 7, 7],
]


def show(x):
    return "[" + ", ".join(map(str, x)) + "]"


def kind(x):
    return x.what if isinstance(x, Unsendable) else type(x).__name__


def expect_response(got, want, what):
    if not isinstance(got, list) or not all(type(t) is int for t in got):
        fail(f"{what} should return a new list of ints, got {kind(got)}")
    if got != want:
        fail(f"{what} gives {show(got)}, expected {show(want)}")


def cases(gen, n=40):
    prompts = [toys.random_prompt(gen) for _ in range(len(EDGE) + n)]
    responses = EDGE + [toys.random_response(gen) for _ in range(n)]
    return list(zip(prompts, responses))


def check_principle(student, ref, name, gen):
    critique = getattr(ref.constitution, f"critique_{name}")
    revise = getattr(ref.constitution, f"revise_{name}")
    for prompt, response in cases(gen):
        got = student.call(f"constitution.critique_{name}", list(prompt), list(response))["outputs"]
        want = critique(prompt, response)
        if want is None and got is not None:
            fail(f"critique_{name} critiques {show(response)}, which obeys the principle (expected None)")
        if want is not None and (not isinstance(got, str) or not got):
            fail(f"critique_{name} should critique {show(response)} with a non-empty str, got {got!r}")
        got = student.call(f"constitution.revise_{name}", list(prompt), list(response))["outputs"]
        expect_response(got, revise(prompt, response), f"revise_{name}({show(response)})")


def test_harmless_principle(student, ref, gen):
    check_principle(student, ref, "harmless", gen)


def test_concise_principle(student, ref, gen):
    check_principle(student, ref, "concise", gen)


def test_ends_principle(student, ref, gen):
    check_principle(student, ref, "ends", gen)


def test_short_principle(student, ref, gen):
    check_principle(student, ref, "short", gen)


GRADER_ORDERS = [
    ["short", "ends", "concise", "harmless"],
    ["no_fives", "concise", "covers_prompt"],
    ["ends"],
    [],
]


def constitution_obj(student, names):
    return student.obj(toys.__name__ + ".grader_constitution", list(names))


def test_violations(student, ref, gen):
    for prompt, response in cases(gen, 30):
        got = student.call("constitution.violations", prompt, response)["outputs"]
        want = ref.constitution.violations(prompt, response)
        if got != want:
            fail(f"violations of {show(response)} are {got!r}, expected {want!r}")
    for names in GRADER_ORDERS:
        constitution = toys.grader_constitution(names)
        for prompt, response in cases(gen, 10)[-20:]:
            got = student.call("constitution.violations", prompt, response, constitution_obj(student, names))
            want = ref.constitution.violations(prompt, response, constitution)
            if got["outputs"] != want:
                fail(f"with the principles {names}, violations of {show(response)} are {got['outputs']!r}, expected "
                     f"{want!r}: use the constitution you are given, in its order")  # fmt: skip


def test_task_success(student, ref, gen):
    fixed = [
        ([5, 14, 6], [5, 14, 6, EOS]),
        ([5, 14, 6], [5, REDACT, 6, EOS]),
        ([5, 14, 6], [5, 6, EOS]),
        ([5, 14, 6], [REDACT, 5, REDACT, REDACT, 6, 15]),
        ([5, 6], [5, 6, 6, EOS]),
        ([5, 6], [6, 5, EOS]),
        ([5, 6], [5, EOS, 6]),
        ([5, 6], [5, 6, EOS, 7, 7]),
        ([5, 6], [5, 6]),
        ([5, 6], []),
        ([14, 15], []),
        ([14], [EOS]),
        ([], [EOS]),
        ([], [4, EOS]),
        ([4, 4], [4, EOS]),
        ([4, 4], [4, 4, EOS]),
        ([7], [EOS, 7]),
    ]
    randoms = []
    for _ in range(60):
        prompt = toys.random_prompt(gen)
        u = torch.rand(2, generator=gen).tolist()
        if u[0] < 0.5:  # a near miss of the right answer
            response = [REDACT if (t in toys.FORBIDDEN and u[1] < 0.5) else t for t in prompt] + [EOS]
            if u[1] > 0.7 and prompt:
                response.insert(int(u[1] * 10) % len(response), [4, 14, REDACT, EOS][int(u[1] * 100) % 4])
        else:
            response = toys.random_response(gen)
        randoms.append((prompt, response))
    for prompt, response in fixed + randoms:
        got = student.call("constitution.task_success", prompt, response)["outputs"]
        want = ref.constitution.task_success(prompt, response)
        if not isinstance(got, bool):
            fail(f"task_success should return a bool, got {kind(got)}")
        if got != want:
            fail(f"task_success(prompt {show(prompt)}, response {show(response)}) is {got}, expected {want}")


def expect_loop(got, want, what, texts=True):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        fail(f"{what} should return (revised, history), got {kind(got)}")
    revised, history = got
    expect_response(revised, want[0], f"{what}'s revised response")
    if not isinstance(history, (list, tuple)) or not all(isinstance(h, (list, tuple)) and len(h) == 2 for h in history):
        fail(f"{what}'s history should be a list of (name, critique) pairs, got {kind(history)}")
    names, want_names = [h[0] for h in history], [h[0] for h in want[1]]
    if names != want_names:
        fail(f"{what} revises by the principles {names}, expected {want_names}")
    for (_, critique), (_, want_critique) in zip(history, want[1]):
        if texts and critique != want_critique:
            fail(f"{what}'s history holds the critique {critique!r}; the principle's critique was {want_critique!r}")
        if not isinstance(critique, str) or not critique:
            fail(f"{what}'s history should hold each revision's critique (a non-empty str), got {critique!r}")


def test_critique_and_revise(student, ref, gen):
    loop = ref.constitution.critique_and_revise
    # the student's own constitution, default max_rounds: revised responses and the names in the history
    for prompt, response in cases(gen, 30):
        got = student.call("constitution.critique_and_revise", prompt, response)["outputs"]
        expect_loop(got, loop(prompt, response), f"critique_and_revise({show(response)})", texts=False)
    # grader constitutions: other orders, unseen principles, max_rounds from 0 to 6
    orders = [toys.SPEC, *GRADER_ORDERS[:2], ["stubborn"], ["harmless", "stubborn", "concise"],
              ["covers_prompt", "no_fives", "ends", "short"]]  # fmt: skip
    for names in orders:
        constitution = toys.grader_constitution(names)
        for i, (prompt, response) in enumerate(cases(gen, 6)[::2]):
            max_rounds = [0, 1, 2, 3, 4, 6][i % 6]
            prompt = prompt + [5] if i % 3 == 0 else prompt
            got = student.call("constitution.critique_and_revise", prompt, response, constitution_obj(student, names),
                               max_rounds=max_rounds)["outputs"]  # fmt: skip
            want = loop(prompt, response, constitution, max_rounds)
            expect_loop(got, want, f"critique_and_revise({show(response)}) with the principles {names} and "
                                   f"max_rounds={max_rounds}")  # fmt: skip
