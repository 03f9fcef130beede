"""Hidden checks for experiment.py: greedy decoding, solving, and the experiment judged on the reference model.

greedy_generate and solve run on the grader's toy models (bonus_cot_toys):
one with known random logits, one that writes scripted completions (right,
wrong and malformed). compare trains in the submission's process; only the
two models' weights come back, are loaded into the REFERENCE GPT, and answer
the grader's own held-out problems with the grader's own decoding.
"""

import torch

from coursekit.grading import bonus_cot_toys as toys
from coursekit.grading.checks import expect_state_dict, expect_tensor, fail

TOYS = toys.__name__
STEPS = 500
HELD_OUT = 1000
SCRATCHPAD_TARGET = 0.80  # exact-match accuracy of the scratchpad model; the reference: see the lesson
MARGIN = 0.50  # scratchpad minus answer-only accuracy
WELL_FORMED = 0.90  # share of the answer-only model's completions that parse: it learned its own format


def toy_greedy(model, idx, n):
    with torch.no_grad():
        for _ in range(n):
            idx = torch.cat([idx, model(idx)[0][:, -1].argmax(-1, keepdim=True)], 1)
    return idx


def test_greedy_generate(student, gen):
    for seed, B, T, n in [(1, 3, 4, 6), (2, 1, 1, 10), (3, 5, 9, 3), (4, 2, 12, 1)]:
        idx = torch.randint(toys.VOCAB_SIZE, (B, T), generator=gen)
        expected = toy_greedy(toys.ToyLM(seed=seed), idx, n)
        model = student.obj(f"{TOYS}.ToyLM", seed=seed)
        out = student.call("experiment.greedy_generate", model, idx, n)["outputs"]
        out = expect_tensor(out, "greedy_generate's output", shape=(B, T + n))
        if out.dtype != torch.long:
            fail(f"greedy_generate should return token ids (torch.long), got {out.dtype}")
        if not torch.equal(out[:, :T], idx):
            fail("greedy_generate's output should start with the prompts")
        if not torch.equal(out, expected):
            step = int((out != expected).any(0).nonzero()[0]) - T + 1
            fail(f"new token {step} is not the argmax of the logits given the whole sequence before it "
                 f"[batch {B}, prompt of {T}, {n} new tokens]")  # fmt: skip


def test_solve(student, gen):
    cases = [(True, toys.N_TERMS, 48), (True, 3, 24), (False, toys.N_TERMS, 40), (False, 2, 24)]
    for scratchpad, k, n in cases:
        problems = toys.sample_problems(n, gen, k)
        expected = []
        for terms in problems.tolist():
            prompt = toys.format_example(terms, scratchpad)[0]
            expected.append(toys.parse_answer(prompt + toys.scripted_completion(terms, scratchpad)))
        model = student.obj(f"{TOYS}.ScriptedLM", n_terms=k, scratchpad=scratchpad, mode="train")
        got = student.call("experiment.solve", model, problems, scratchpad)["outputs"]
        what = "scratchpad" if scratchpad else "answer-only"
        check_answers(got, expected, f"{what}, {k} terms, a model that writes right, wrong and malformed answers")


def check_answers(got, expected, case):
    if not isinstance(got, list) or len(got) != len(expected):
        fail(f"solve should return a list of {len(expected)} answers, got {type(got).__name__}")
    if any(a is not None and type(a) is not int for a in got):
        fail("solve's answers should be ints or None")
    wrong = [i for i, (a, e) in enumerate(zip(got, expected)) if a != e]
    if wrong:
        i = wrong[0]
        fail(f"solve gave {len(wrong)} of {len(expected)} answers that differ from the parsed greedy completions, "
             f"e.g. {got[i]} instead of {expected[i]} [{case}]")  # fmt: skip


def test_scratchpad_beats_answer_only(student, ref, device):
    answer = student.call("experiment.compare", steps=STEPS, seed=11, device=device, watch=False)
    out = answer["outputs"]
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail("compare should return (answer_only_model, scratchpad_model)")
    held = toys.sample_problems(HELD_OUT, torch.Generator().manual_seed(4242))
    results = {}
    for name, trained, scratchpad in (("answer-only", out[0], False), ("scratchpad", out[1], True)):
        model = ref.gpt.GPT(ref.gpt.GPTConfig(**toys.cot_fields()))
        state = expect_state_dict(trained, model.state_dict(), f"compare's {name} model")
        model.load_state_dict({k: v.float().cpu() for k, v in state.items()})
        results[name] = toys.scores(model, held, scratchpad)
    (plain, plain_formed), (scratch, _) = results["answer-only"], results["scratchpad"]
    if plain_formed < WELL_FORMED:
        fail(f"only {plain_formed:.0%} of the answer-only model's completions are '= d .': was it trained on the "
             f"answer-only format? (needs {WELL_FORMED:.0%})")  # fmt: skip
    if scratch < SCRATCHPAD_TARGET:
        fail(f"after {STEPS} steps the scratchpad model solves {scratch:.1%} of new problems "
             f"(needs {SCRATCHPAD_TARGET:.0%}; answer-only: {plain:.1%})")  # fmt: skip
    if scratch - plain < MARGIN:
        fail(f"the scratchpad model solves {scratch:.1%}, the answer-only one {plain:.1%}: needs a lead of "
             f"{MARGIN:.0%}")  # fmt: skip
