"""Week 6 grading setup: the built-ins this week's exercises ask students to write, and the probes.

F.scaled_dot_product_attention is allowed this week (Week 1 had students
write attention by hand), as are nn.Linear, nn.Embedding, nn.LayerNorm,
nn.GELU, F.cross_entropy, torch.topk, torch.sort, torch.multinomial and
torch.optim.AdamW. Gradient clipping is the student's own:
torch.nn.utils.clip_grad_norm_ (and its relatives) earns no points in optim.py.
"""

import pytest
import torch

from coursekit.grading.checks import fail, forbidden_names

CLIPPING = ["clip_grad_norm_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm"]
PROBES = "coursekit.grading.week6_toys"


@pytest.fixture(scope="session")
def forbid():
    return {"functions": [], "kernels": [], "modules": [], "names": CLIPPING}  # read from the source


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20190214)


@pytest.fixture(scope="session")
def probe(forbid):
    """probe(student, name, *args, files=[...], **kwargs): run week6_toys.<name> in the process of the
    check's `student`, on the submission's modules `files`, and return its plain outputs. Like
    student.call, it records the answer among the check's answers, and refuses files that name a
    forbidden built-in, and runs that reach one."""

    def run(student, name, *args, files=(), **kwargs):
        for filename in files:
            student.submission.require(filename)
            used = forbidden_names(student.submission.source(filename), set(forbid["names"]))
            if used:
                fail(f"{filename} uses torch's built-in {', '.join(used)}, which this exercise asks you to "
                     "write yourself: no points for this part")  # fmt: skip
        request = {
            "op": "run", "target": f"{PROBES}.{name}", "args": list(args), "kwargs": kwargs,
            "seed": 0, "watch": True, "forbid": forbid, "device": student.device,
        }  # fmt: skip
        answer = student.submission.request(request, name.replace("_", " "))
        if student.answers is not None:
            student.answers.append(answer)
        if answer.get("forbidden"):
            fail(f"your code reached torch's built-in {', '.join(answer['forbidden'])}, which this exercise "
                 "asks you to write yourself: no points for this part")  # fmt: skip
        return answer["outputs"]

    return run
