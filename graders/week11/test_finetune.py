"""Hidden check for finetune.py: LoRA fine-tuning in the submission's process, judged on the reference model.

The grader pretrains the toy classifier on the old task itself
(coursekit.grading.week11_toys, the task of finetune.py), hands those weights
to finetune_lora with the new task's training data, and gets back only the
returned model's weights. Every pretrained number must come back unchanged;
the LoRA matrices, loaded with them into the REFERENCE LoRA model, must solve
the grader's own held-out examples of the new task.
"""

import torch

from coursekit.grading import week11_toys as toys
from coursekit.grading.checks import expect_state_dict, fail

TARGETS, R, ALPHA = ["fc1", "fc2"], 4, 8.0
STEPS, LR = 200, 1e-2
TRAIN, HELD_OUT = 2000, 4000
TARGET = (
    0.85  # the pretrained model's accuracy on the OLD task; on the new one 0.49; the reference 0.92-0.94 (seeds 0-4)
)
MAX_FRACTION = 0.05


def test_finetune_lora(student, ref, device):
    pretrained = toys.pretrained_state()
    model = student.obj(toys.__name__ + ".ToyMLP", state_dict=pretrained)
    x, y = toys.sample_task(TRAIN, "new", torch.Generator().manual_seed(1111))
    answer = student.call("finetune.finetune_lora", model, x, y, target_modules=TARGETS, r=R, alpha=ALPHA,
                          steps=STEPS, lr=LR, seed=31, device=device, watch=False)  # fmt: skip
    reference = ref.lora.inject_lora(toys.ToyMLP(), TARGETS, R, ALPHA)
    state = expect_state_dict(answer["outputs"], reference.state_dict(), "finetune_lora's returned model")
    state = {k: v.float().cpu() for k, v in state.items()}
    for key, value in state.items():
        if "lora_" not in key and not torch.equal(value, pretrained[key.replace(".base.", ".")]):
            fail(f"{key} changed during fine-tuning: LoRA trains lora_A and lora_B only, every pretrained weight stays as it was")  # fmt: skip
    lora = sum(v.numel() for k, v in state.items() if "lora_" in k)
    fraction = lora / sum(v.numel() for v in state.values())
    if not fraction < MAX_FRACTION:
        fail(f"the LoRA matrices are {fraction:.1%} of the model, more than {MAX_FRACTION:.0%}")
    reference.load_state_dict(state)
    held_x, held_y = toys.sample_task(HELD_OUT, "new", torch.Generator().manual_seed(1112))
    accuracy = toys.accuracy(reference, held_x, held_y)
    if not accuracy >= TARGET:
        start = toys.ToyMLP()
        start.load_state_dict(pretrained)
        before = toys.accuracy(start, held_x, held_y)
        fail(
            f"after {STEPS} steps of LoRA fine-tuning, held-out accuracy on the new task is {accuracy:.1%} "
            f"(needs {TARGET:.0%}; the pretrained model: {before:.1%})"
        )
