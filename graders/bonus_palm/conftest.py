"""PaLM unit grading setup: the built-ins this unit asks students to write, and the probes.

Attention is the student's own here only as far as multi-query attention
goes: nn.MultiheadAttention (and its functional form) earns no points.
F.scaled_dot_product_attention, nn.Linear, nn.LayerNorm, nn.Embedding,
F.silu and F.cross_entropy are allowed.
"""

import pytest
import torch

from coursekit.grading.checks import fail, forbidden_names

BUILTINS = ["MultiheadAttention", "multi_head_attention_forward"]
PROBES = "coursekit.grading.bonus_palm_toys"


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": ["multi_head_attention_forward"],  # torch functions, seen through a TorchFunctionMode
        "kernels": ["_native_multi_head_attention"],  # aten ops, through a TorchDispatchMode
        "modules": ["torch.nn.modules.activation.MultiheadAttention"],  # module types constructed
        "names": BUILTINS,  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20220405)


@pytest.fixture(scope="session")
def probe(forbid):
    """probe(student, name, *args, **kwargs): run bonus_palm_toys.<name> in the process of the check's
    `student`, on palm.py, and return its plain outputs. Like student.call, it refuses a palm.py that
    names a forbidden built-in, and runs that reach one, and its answer joins the student's answers."""

    def run(student, name, *args, **kwargs):
        student.submission.require("palm.py")
        used = forbidden_names(student.submission.source("palm.py"), set(forbid["names"]))
        if used:
            fail(f"palm.py uses torch's built-in {', '.join(used)}, which this exercise asks you to "
                 "write yourself: no points for this part")  # fmt: skip
        request = {
            "op": "run", "target": f"{PROBES}.{name}", "args": list(args), "kwargs": kwargs,
            "seed": 0, "watch": True, "forbid": forbid, "device": student.device,
        }  # fmt: skip
        answer = student.submission.request(request, name.replace("_", " "))
        if getattr(student, "answers", None) is not None:
            student.answers.append(answer)
        if answer.get("forbidden"):
            fail(f"your code reached torch's built-in {', '.join(answer['forbidden'])}, which this exercise "
                 "asks you to write yourself: no points for this part")  # fmt: skip
        return answer["outputs"]

    return run
