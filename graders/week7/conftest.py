"""Week 7 grading setup: the built-ins this week's exercises ask students to write.

Students write the dynamic loss scaler themselves: torch.amp.GradScaler (and
its fused kernels) earns no points. torch.autocast, torch.optim and
torch.nn.utils.clip_grad_norm_ are allowed, and the given gpt.py uses
F.scaled_dot_product_attention.
"""

import pytest
import torch

KERNELS = ["_amp_foreach_non_finite_check_and_unscale", "_amp_update_scale"]


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": [f"{k}_" for k in KERNELS],  # torch functions, seen through a TorchFunctionMode
        "kernels": KERNELS,  # reached by any route
        "modules": [],
        "names": ["GradScaler", *(f"{k}_" for k in KERNELS)],  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20200528)
