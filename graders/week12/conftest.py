"""Week 12 grading setup: the built-ins this week's exercises ask students to write, and the probes.

RMSNorm is the student's own: torch's nn.RMSNorm and F.rms_norm earn no points
in llama.py. Everything else is allowed: nn.Linear, nn.Embedding, F.silu,
F.scaled_dot_product_attention (Week 1 had students write attention by hand),
torch.repeat_interleave, torch.multinomial, F.cross_entropy and torch.optim.
"""

import pytest
import torch

from coursekit.grading.checks import fail, forbidden_names

PROBES = "coursekit.grading.week12_toys"


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": ["rms_norm"],  # torch functions, seen through a TorchFunctionMode
        "kernels": [],
        "modules": ["torch.nn.modules.normalization.RMSNorm"],
        "names": ["rms_norm", "RMSNorm"],  # read from the source: F.rms_norm, nn.RMSNorm, from torch.nn import RMSNorm
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20230227)


@pytest.fixture(scope="session")
def probe(student, forbid):
    """probe(name, *args, files=[...], **kwargs): run week12_toys.<name> in the submission's process, on
    the submission's modules `files`, and return its plain outputs. Like student.call, it refuses
    files that name a forbidden built-in, and runs that reach one."""

    def run(name, *args, files=(), **kwargs):
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
        if answer.get("forbidden"):
            fail(f"your code reached torch's built-in {', '.join(answer['forbidden'])}, which this exercise "
                 "asks you to write yourself: no points for this part")  # fmt: skip
        return answer["outputs"]

    return run
