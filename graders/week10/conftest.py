"""Week 10 grading setup.

Nothing of torch is off limits this week: the policy and the sampler are
given, DPO is Week 9's (provided), and the exercises are plain Python over
lists of tokens. The training check calls the submission with watch=False
(no per-op watch for built-ins).
"""

import pytest
import torch


@pytest.fixture(scope="session")
def forbid():
    return {}


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20221215)
