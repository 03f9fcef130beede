"""Chain-of-thought unit grading setup.

Nothing this unit asks for has a torch built-in to forbid: Week 6's GPT (and
its KVCache), torch.optim and F.cross_entropy are the student's to use.
"""

import pytest
import torch


@pytest.fixture(scope="session")
def forbid():
    return {"functions": [], "kernels": [], "modules": [], "names": []}


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20220128)
