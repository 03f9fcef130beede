"""Hidden checks for icl.py: the batch layout, the accuracy per answer, and training judged on the reference model.

train_icl trains in the submission's process on sequences the grader makes
(coursekit.grading.week7_toys.sample_icl, the task of icl.py); only the
trained weights come back. They are loaded into the REFERENCE GPT and
scored here on the grader's own held-out sequences, answer by answer: the
accuracy must rise with the number of examples in the context.
"""

import torch

from coursekit.grading import week7_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

ICL_STEPS = 200
HELD_OUT = 2000
FEW = slice(0, 2)  # answers 1 and 2: no example, or one, before them (best possible: 25% and 37.5%)
MANY = slice(8, 12)  # answers 9-12: 8 to 11 examples before them (best possible: 86.5% on average)
MANY_TARGET = 0.75  # the reference reaches 0.86 (seeds 0-4)
MARGIN = 0.35  # accuracy on answers 9-12 minus answers 1-2; the reference: 0.54-0.57


def test_icl_batch(student, gen):
    for n in (1, 5):
        seqs = toys.sample_icl(n, gen)
        answer = student.call("icl.icl_batch", seqs, return_inputs=True)
        if answer.get("inputs_changed"):
            fail("icl_batch changed its input: clone before writing -100")
        out = answer["outputs"]
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail("icl_batch should return (idx, targets)")
        idx = expect_tensor(out[0], "idx", shape=(n, toys.SEQ_LEN - 1), dtype=torch.long)
        targets = expect_tensor(out[1], "targets", shape=(n, toys.SEQ_LEN - 1), dtype=torch.long)
        if not torch.equal(idx, seqs[:, :-1]):
            fail("idx should be the sequences without their last token")
        expected = seqs[:, 1:].clone()
        expected[:, 1::2] = -100
        if not torch.equal(targets, expected):
            labelled = (targets != -100)[0].nonzero().flatten().tolist()
            fail(
                f"targets should hold f(x_k) at the positions of x_k (0, "
                f"2, ..., 22) and -100 elsewhere; labelled: {labelled}"
            )


def test_answer_accuracy(student, ref, gen):
    fields = dict(toys.icl_fields(), dropout=0.2)
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = ref.gpt.GPT(ref.gpt.GPTConfig(**fields)).double()  # float64: no near-ties between devices
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(20.0)  # sharp, varied predictions (from a random model)
        state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        seqs = toys.sample_icl(300, gen)
        expected = toys.answer_accuracy(model, seqs)
        obj = student.obj(toys.__name__ + ".GraderGPT", **fields, state_dict=state, dtype=torch.float64, mode="train")
        got = student.call("icl.answer_accuracy", obj, seqs)["outputs"]
        got = expect_tensor(got, "answer_accuracy", shape=(toys.N_PAIRS,))
        if not got.is_floating_point():
            fail(f"answer_accuracy should return a float tensor, got {got.dtype}")
        expect_close(got, expected, "answer_accuracy", atol=1e-6, rtol=0, case="a model in training mode, with dropout")


def test_train_icl(student, ref, device):
    data = toys.sample_icl(4000, torch.Generator().manual_seed(7101))
    config = student.obj("gpt.GPTConfig", **toys.icl_fields())
    answer = student.call("icl.train_icl", config, data, steps=ICL_STEPS, seed=29, device=device, watch=False)
    model = ref.gpt.GPT(ref.gpt.GPTConfig(**toys.icl_fields()))
    state = expect_state_dict(answer["outputs"], model.state_dict(), "train_icl's returned model")
    model.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    held = toys.sample_icl(HELD_OUT, torch.Generator().manual_seed(7102))
    accuracy = toys.answer_accuracy(model, held)
    few, many = accuracy[FEW].mean().item(), accuracy[MANY].mean().item()
    if not many >= MANY_TARGET:
        fail(
            f"after {ICL_STEPS} steps the accuracy on answers 9-12 is "
            f"{many:.1%} (needs {MANY_TARGET:.0%}; answers 1-2: {few:.1%})"
        )
    if not many - few >= MARGIN:
        fail(f"accuracy rises from {few:.1%} (answers 1-2) to {many:.1%} (answers 9-12): needs a rise of {MARGIN:.0%}")
