"""Week 11 grading setup: the built-ins this week's exercises ask students to write.

LoRA has no torch built-in; the bonus part's quantisers are the student's to
write, so torch's own quantisation functions earn no points there. nn.Linear,
nn.Dropout, nn.init, torch.optim and F.linear are allowed.
"""

import pytest
import torch

FORBIDDEN = ["quantize_per_tensor", "quantize_per_channel", "quantize_per_tensor_dynamic"]


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": FORBIDDEN,  # torch functions, seen through a TorchFunctionMode
        "kernels": FORBIDDEN,  # reached by any route
        "modules": [],
        "names": FORBIDDEN,  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20210617)
