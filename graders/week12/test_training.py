"""Hidden checks for training.py: the batch layout, the copy accuracy, and training judged on the reference model.

train_copy trains in the submission's process on sequences the grader makes
(coursekit.grading.week12_toys.sample_copy, the task of training.py); only the
trained weights come back. They are loaded into the REFERENCE Llama and scored
here on the grader's own held-out sequences by greedy generation.
"""

import torch

from coursekit.grading import week12_toys as toys
from coursekit.grading.checks import expect_state_dict, expect_tensor, fail

COPY_STEPS = 150
HELD_OUT = 1000
TARGET = 0.80  # the reference copies 100% after 100 or 150 steps (seeds 0-7); chance is 1/16


def test_copy_batch(student, gen):
    for n in (1, 6):
        seqs = toys.sample_copy(n, gen)
        answer = student.call("training.copy_batch", seqs, return_inputs=True)
        if answer.get("inputs_changed"):
            fail("copy_batch changed its input: clone before writing -100")
        out = answer["outputs"]
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            fail("copy_batch should return (tokens, targets)")
        tokens = expect_tensor(out[0], "tokens", shape=(n, toys.SEQ_LEN - 1), dtype=torch.long)
        targets = expect_tensor(out[1], "targets", shape=(n, toys.SEQ_LEN - 1), dtype=torch.long)
        if not torch.equal(tokens.cpu(), seqs[:, :-1]):
            fail("tokens should be the sequences without their last token")
        expected = seqs[:, 1:].clone()
        expected[:, : toys.N_COPY] = -100
        if not torch.equal(targets.cpu(), expected):
            labelled = (targets.cpu() != -100)[0].nonzero().flatten().tolist()
            fail(f"targets should hold the next token at positions 8-15 (the SEP and the copy predict the copy) and "
                 f"-100 elsewhere; labelled: {labelled}")  # fmt: skip


def test_copy_accuracy(student, ref, gen):
    for slip, n in ((5, 200), (3, 150), (7, 1)):
        seqs = toys.sample_copy(n, gen)
        expected = ref.training.copy_accuracy(toys.ToyCopier(slip), seqs)
        obj = student.obj(toys.__name__ + ".ToyCopier", slip, mode="train")
        got = student.call("training.copy_accuracy", obj, seqs)["outputs"]
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            fail(f"copy_accuracy should return a float, got {type(got).__name__}")
        if abs(got - expected) > 1e-6:
            fail(f"copy_accuracy gives {got:.4f} for a model whose greedy copies are {expected:.4f} right "
                 f"[{n} sequences]")  # fmt: skip


def test_train_copy(student, ref, device):
    data = toys.sample_copy(4000, torch.Generator().manual_seed(7201))
    config = student.obj("llama.LlamaConfig", **toys.copy_fields())
    answer = student.call("training.train_copy", config, data, steps=COPY_STEPS, seed=31, device=device, watch=False)
    model = ref.llama.Llama(ref.llama.LlamaConfig(**toys.copy_fields()))
    state = expect_state_dict(answer["outputs"], model.state_dict(), "train_copy's returned model")
    model.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    held = toys.sample_copy(HELD_OUT, torch.Generator().manual_seed(7202))
    accuracy = ref.training.copy_accuracy(model, held)
    if not accuracy >= TARGET:
        fail(f"after {COPY_STEPS} steps your model copies {accuracy:.1%} of the held-out symbols by greedy "
             f"generation (needs {TARGET:.0%})")  # fmt: skip
