"""Week 1 grading setup: the built-ins this week's exercises ask students to write."""

import pytest
import torch

FORBIDDEN = ["scaled_dot_product_attention", "multi_head_attention_forward", "_native_multi_head_attention"]


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": FORBIDDEN,  # torch functions, seen through a TorchFunctionMode
        "kernels": ["scaled_dot_product", "_native_multi_head_attention"],  # aten ops, through a TorchDispatchMode
        "modules": ["torch.nn.modules.activation.MultiheadAttention"],  # module types constructed
        "names": [*FORBIDDEN, "MultiheadAttention"],  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20170612)
