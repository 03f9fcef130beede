"""Week 8 grading setup.

Nothing of torch is off limits this week: the model is given, and
torch.optim, torch.linalg and F.cross_entropy are tools for the sweep and the
fit. So the checks call the submission with watch=False (no per-op watch for
built-ins). The fit must not come from a fitting library
(scipy.optimize.curve_fit and friends): test_power_law.py refuses a
power_law.py that imports one.
"""

import pytest
import torch


@pytest.fixture(scope="session")
def forbid():
    return {}


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20200123)
