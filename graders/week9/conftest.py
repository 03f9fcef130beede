"""Week 9 grading setup.

Nothing of torch is forbidden this week: F.cross_entropy, F.logsigmoid,
torch.clamp and torch.optim are the building blocks the exercises use. The
work is in what they are applied to (which tokens, which terms, which signs).
"""

import pytest
import torch


@pytest.fixture(scope="session")
def forbid():
    return {"functions": [], "kernels": [], "modules": [], "names": []}


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20220304)
